"""Integration tests of the api's side of the frame store against real
redis-server, PostgreSQL and services (docs/api.md; services/api/README.md,
Thumbnails, Deletion, Storage pressure): GET /api/images/{id}/thumbnail,
DELETE /api/images/{id} with its token rules, reads racing a deletion, the
deleted event, and uploads refused while STORAGE_DIR is low on space.

Files of stored images are written here by hand where the test needs them
(rows inserted by SQL, a thumbnail beside an uploaded image), and removed by
hand where persist's janitor would remove them, so that each test checks the
api alone.
"""
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import contract
from harness import (BIN_DIR, Stack, StackTestCase, decode_jpeg, free_port, read_data,
                     wait_until)
from test_events import EventStream

JPEG = read_data("camera_640x480_progressive.jpg")
THUMB = read_data("camera_674x480_gray.jpg")  # served byte for byte: any JPEG will do
TOKEN = "del-s3cret"
AUTH = {"Authorization": "Bearer " + TOKEN}
THUMB_CACHE = "public, max-age=31536000, immutable"


def uuid7():
    """A fresh UUIDv7 (the api's ids): 48 bits of unix ms, version 7, random rest."""
    ms = int(time.time() * 1000)
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64 | (0b10 << 62) | \
        (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def is_problem(test, r, status):
    test.assertEqual(r.status, status, r.body[:500])
    test.assertEqual(r.header("Content-Type"), "application/problem+json")
    doc = r.json()
    test.assertEqual(doc["status"], status)
    for key in ("type", "title", "detail"):
        test.assertIn(key, doc)
    return doc


def metrics(stack):
    values = {}
    for line in stack.request("GET", "/metrics").body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def insert_stored(stack, thumb=True, image=JPEG, camera=None):
    """A stored image made by hand: its file (and thumbnail) under STORAGE_DIR
    and its row, as persist would leave them. Returns (id, image path,
    thumbnail path)."""
    image_id = uuid7()
    rel = time.strftime("%Y/%m/%d/", time.gmtime()) + image_id + ".jpg"
    path = os.path.join(stack.storage_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(image)
    tpath = path[:-4] + ".thumb.jpg"
    if thumb:
        with open(tpath, "wb") as f:
            f.write(THUMB)
    stack.psql("INSERT INTO images (id, received_at, description, path, bytes, camera, "
               "thumb_bytes) VALUES ('%s', now(), 'by hand', '%s', %d, %s, %s)" %
               (image_id, rel, len(image), "'%s'" % camera if camera else "NULL",
                len(THUMB) if thumb else "NULL"))
    return image_id, path, tpath


def add_thumbnail(stack, image_id):
    """A thumbnail beside an uploaded, stored image (as render and persist
    make it once they do): the file and the row's thumb_bytes."""
    rel = stack.psql("SELECT path FROM images WHERE id = '%s'" % image_id)
    tpath = os.path.join(stack.storage_dir, rel[:-4] + ".thumb.jpg")
    with open(tpath, "wb") as f:
        f.write(THUMB)
    stack.psql("UPDATE images SET thumb_bytes = %d WHERE id = '%s'" % (len(THUMB), image_id))
    return tpath


class Thumbnails(StackTestCase):
    """Only the api: rows and files are made by hand, statuses set in Redis."""

    STACK_SERVICES = ("api",)

    def test_served_like_the_image(self):
        image_id, _, _ = insert_stored(self.stack)
        url = "/api/images/%s/thumbnail" % image_id
        etag = '"%s.thumb"' % image_id
        for attempt in ("from disk", "from memory"):
            with self.subTest(attempt=attempt):
                r = self.stack.request("GET", url)
                self.assertEqual(r.status, 200, r.body[:300])
                self.assertEqual(r.body, THUMB)
                self.assertEqual(r.header("Content-Type"), "image/jpeg")
                self.assertEqual(r.header("Content-Length"), str(len(THUMB)))
                self.assertEqual(r.header("ETag"), etag)
                self.assertEqual(r.header("Cache-Control"), THUMB_CACHE)
        head = self.stack.request("HEAD", url)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.header("Content-Length"), str(len(THUMB)))
        self.assertEqual(head.header("ETag"), etag)
        for inm in (etag, "W/" + etag, '"x", ' + etag, "*"):
            with self.subTest(if_none_match=inm):
                nm = self.stack.request("GET", url, headers={"If-None-Match": inm})
                self.assertEqual(nm.status, 304)
                self.assertEqual(nm.body, b"")
                self.assertEqual(nm.header("ETag"), etag)
                self.assertEqual(nm.header("Cache-Control"), THUMB_CACHE)
        # The image's own tag is another resource's: no 304 for it.
        other = self.stack.request("GET", url, headers={"If-None-Match": '"%s"' % image_id})
        self.assertEqual(other.status, 200)
        # The image and its thumbnail are cached apart: each keeps its bytes.
        img = self.stack.request("GET", "/api/images/" + image_id)
        self.assertEqual((img.status, img.body, img.header("ETag")),
                         (200, JPEG, '"%s"' % image_id))
        self.assertEqual(self.stack.request("GET", url).body, THUMB)
        self.assertEqual(self.stack.request("GET", "/api/images/" + image_id).body, JPEG)

    def test_no_thumbnail_is_404(self):
        image_id, _, _ = insert_stored(self.stack, thumb=False)
        self.assertEqual(self.stack.request("GET", "/api/images/" + image_id).status, 200)
        doc = is_problem(self, self.stack.request("GET", "/api/images/%s/thumbnail" % image_id),
                         404)
        self.assertIn("no thumbnail", doc["detail"])

    def test_pending_failed_unknown_malformed(self):
        pending = self.stack.upload(JPEG, "stays queued").json()["id"]  # no render here
        r = self.stack.request("GET", "/api/images/%s/thumbnail" % pending)
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json(), {"id": pending, "status": "queued"})
        self.assertEqual(r.header("Retry-After"), "1")
        t0 = time.monotonic()
        r = self.stack.request("GET", "/api/images/%s/thumbnail?wait=1" % pending)
        self.assertEqual(r.status, 202)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

        failed = uuid7()
        self.stack.redis("HSET", "imgcap:status:" + failed, "stage", "failed", "error",
                         "corrupt JPEG")
        doc = is_problem(self, self.stack.request("GET", "/api/images/%s/thumbnail" % failed),
                         422)
        self.assertEqual((doc["state"], doc["reason"], doc["id"]),
                         ("failed", "corrupt JPEG", failed))

        is_problem(self, self.stack.request("GET", "/api/images/%s/thumbnail" % uuid7()), 404)
        doc = is_problem(self, self.stack.request("GET", "/api/images/nope/thumbnail"), 422)
        self.assertEqual(doc["errors"][0]["field"], "id")
        doc = is_problem(self, self.stack.request("GET", "/api/images/%s/thumbnail?wait=31" %
                                                  pending), 422)
        self.assertEqual(doc["errors"][0]["field"], "wait")
        r = self.stack.request("POST", "/api/images/%s/thumbnail" % pending, body=b"x")
        is_problem(self, r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")

    def test_vanished_thumbnail_with_its_row_is_500(self):
        # A row whose file is missing is a broken store, not a deletion: the
        # api says so (and logs it) rather than pretending the image is gone.
        image_id, _, tpath = insert_stored(self.stack)
        url = "/api/images/%s/thumbnail" % image_id
        self.assertEqual(self.stack.request("GET", url).status, 200)
        os.unlink(tpath)
        is_problem(self, self.stack.request("GET", url), 500)
        self.assertIn("id=%s cached file (thumbnail) is gone" % image_id, self.stack.log("api"))


class DeletionDisabled(unittest.TestCase):
    def test_no_token_configured_is_403(self):
        with Stack(services=("api",)) as s:
            image_id, _, _ = insert_stored(s)
            for headers in ({}, AUTH, {"Authorization": "Bearer "}):
                with self.subTest(headers=headers):
                    doc = is_problem(self, s.request("DELETE", "/api/images/" + image_id,
                                                     headers=headers), 403)
                    self.assertIn("API_TOKEN", doc["detail"])
            # Nothing was deleted.
            self.assertEqual(s.request("GET", "/api/images/" + image_id).status, 200)
            self.assertEqual(s.psql("SELECT count(*) FROM image_deletions"), "0")
            # Everything else stays open without a token.
            self.assertEqual(s.upload(JPEG, "open").status, 202)


class Deletion(StackTestCase):
    STACK_ENV = {"API_TOKEN": TOKEN}

    @contextlib.contextmanager
    def janitor_paused(self):
        """persist stopped, so its janitor removes no file meanwhile: what the
        api does alone can be told apart from what the janitor does."""
        self.stack.stop_service("persist")
        try:
            yield
        finally:
            self.stack.start_service("persist")
            wait_until(self.stack._schema_ready, 30, what="persist")

    def files_gone(self, *paths):
        wait_until(lambda: not any(os.path.exists(p) for p in paths), 20,
                   what="persist's janitor to remove the files")

    def upload_stored(self, text="to delete"):
        r = self.stack.upload(JPEG, text, headers=AUTH)
        self.assertEqual(r.status, 202, r.body)
        image_id = r.json()["id"]
        got = self.stack.request("GET", "/api/images/%s?wait=20" % image_id)
        self.assertEqual(got.status, 200, got.body[:300])
        return image_id, got.body

    def test_token_rules_then_gone(self):
        image_id, body = self.upload_stored()
        tpath = add_thumbnail(self.stack, image_id)
        url = "/api/images/" + image_id
        # Both are read (and cached) before the deletion.
        self.assertEqual(self.stack.request("GET", url).body, body)
        self.assertEqual(self.stack.request("GET", url + "/thumbnail").body, THUMB)
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic " + TOKEN},
                        {"Authorization": TOKEN}):
            with self.subTest(headers=headers):
                r = self.stack.request("DELETE", url, headers=headers)
                is_problem(self, r, 401)
                self.assertTrue(r.header("WWW-Authenticate").startswith("Bearer"))
        self.assertEqual(self.stack.request("GET", url).status, 200, "still there")
        before = metrics(self.stack).get('imgcap_images_deleted_total{reason="delete"}', 0)
        path = os.path.join(self.stack.storage_dir, self.stack.psql(
            "SELECT path FROM images WHERE id = '%s'" % image_id))

        with self.janitor_paused():
            r = self.stack.request("DELETE", url, headers=AUTH)
            self.assertEqual(r.status, 204, r.body)
            self.assertEqual(r.body, b"")
            # Gone at once, though its files are still on disk (persist's
            # janitor removes them): the caches were evicted and the row is gone.
            self.assertTrue(os.path.exists(tpath))
            is_problem(self, self.stack.request("GET", url), 404)
            is_problem(self, self.stack.request("GET", url + "/thumbnail"), 404)
            self.assertEqual(self.stack.psql("SELECT purged_at IS NULL FROM image_deletions "
                                             "WHERE id = '%s'" % image_id), "t")
        # The janitor, back, removes both files and marks the deletion purged.
        self.files_gone(path, tpath)
        wait_until(lambda: self.stack.psql("SELECT purged_at IS NOT NULL FROM image_deletions "
                                           "WHERE id = '%s'" % image_id) == "t", 10,
                   what="the deletion marked purged")
        doc = is_problem(self, self.stack.request("GET", url), 404)
        self.assertEqual(self.stack.request("HEAD", url).status, 404)
        is_problem(self, self.stack.request("GET", url + "/thumbnail"), 404)
        is_problem(self, self.stack.request("GET", url + "?wait=2"), 404)
        self.assertEqual(doc["detail"], "no image with this id")
        # Conditional requests are no shortcut around a deletion.
        is_problem(self, self.stack.request("GET", url, headers={"If-None-Match": "*"}), 404)
        self.assertEqual(self.stack.psql("SELECT count(*) FROM images WHERE id = '%s'" %
                                         image_id), "0")
        self.assertEqual(self.stack.psql("SELECT reason, path <> '' FROM "
                                         "image_deletions WHERE id = '%s'" % image_id), "delete|t")
        self.assertEqual(self.stack.redis("HGET", "imgcap:status:" + image_id, "stage"), b"deleted")
        self.assertNotIn(image_id, self.stack.request("GET", "/api/images?limit=1000").body.decode())
        # A second DELETE: gone already.
        is_problem(self, self.stack.request("DELETE", url, headers=AUTH), 404)
        after = metrics(self.stack)
        self.assertEqual(after['imgcap_images_deleted_total{reason="delete"}'], before + 1)
        self.assertIn("imgcap_image_files_purged_total", after)
        self.assertGreaterEqual(after['imgcap_http_requests_total{route="/api/images/{id}",'
                                      'method="DELETE",status="204"}'], 1)
        line = "DELETE /api/images/%s 204" % image_id
        wait_until(lambda: line in self.stack.log("api"), 10, what="the access log line")

    def test_unknown_and_malformed(self):
        is_problem(self, self.stack.request("DELETE", "/api/images/" + uuid7(), headers=AUTH), 404)
        doc = is_problem(self, self.stack.request("DELETE", "/api/images/not-an-id", headers=AUTH),
                         422)
        self.assertEqual(doc["errors"][0]["field"], "id")
        # Without the token the id is not even looked at.
        is_problem(self, self.stack.request("DELETE", "/api/images/not-an-id"), 401)
        r = self.stack.request("DELETE", "/api/images/%s/thumbnail" % uuid7(), headers=AUTH)
        is_problem(self, r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertEqual(self.stack.psql("SELECT count(*) FROM image_deletions WHERE path = ''"),
                         "0", "an unknown id leaves no tombstone")

    def test_deleted_by_another_process_without_an_event(self):
        # Retention (persist's janitor) deletes rows in PostgreSQL and then the
        # files; an api that cached the image finds the file gone, looks again,
        # finds the tombstone: 404, not 500.
        image_id, path, tpath = insert_stored(self.stack)
        url = "/api/images/" + image_id
        self.assertEqual(self.stack.request("GET", url).status, 200)
        self.assertEqual(self.stack.request("GET", url + "/thumbnail").status, 200)
        self.assertEqual(self.stack.psql("SELECT imgcap_delete_image('%s', false)" % image_id),
                         "deleted")
        self.files_gone(path, tpath)  # the janitor, woken by the NOTIFY
        is_problem(self, self.stack.request("GET", url), 404)
        is_problem(self, self.stack.request("GET", url + "/thumbnail"), 404)
        # The same for one whose file was never read (nothing cached): the
        # row lookup already says it was deleted, whether the file is there.
        with self.janitor_paused():
            other, path, _ = insert_stored(self.stack)
            self.stack.psql("SELECT imgcap_delete_image('%s', false)" % other)
            is_problem(self, self.stack.request("GET", "/api/images/" + other), 404)
            is_problem(self, self.stack.request("GET", "/api/images/%s/thumbnail" % other), 404)
            self.assertTrue(os.path.exists(path), "the api removes no file")

    def test_reads_racing_a_deletion_get_the_whole_file_or_404(self):
        big = JPEG + b"\0" * (1536 * 1024)  # over the 1 MiB blob cache limit: streamed
        for label, image in (("cached", JPEG), ("streamed", big)):
            with self.subTest(label=label):
                image_id, path, tpath = insert_stored(self.stack, image=image)
                url = "/api/images/" + image_id
                expected = {url: image, url + "/thumbnail": THUMB}
                stop = threading.Event()
                results, errors = [], []

                def reader(u):
                    while not stop.is_set():
                        try:
                            r = self.stack.request("GET", u, timeout=20)
                        except Exception as e:  # pylint: disable=broad-except
                            errors.append(repr(e))
                            continue
                        results.append((u, r.status, r.body, r.header("Content-Length")))

                threads = [threading.Thread(target=reader, args=(u,), daemon=True)
                           for u in (url, url, url + "/thumbnail", url + "/thumbnail")]
                for t in threads:
                    t.start()
                try:
                    wait_until(lambda: sum(1 for r in results if r[1] == 200) >= 8, 20,
                               what="reads before the deletion")
                    r = self.stack.request("DELETE", url, headers=AUTH)
                    self.assertEqual(r.status, 204, r.body)
                    self.files_gone(path, tpath)  # persist's janitor, after the row
                    n = len(results)
                    wait_until(lambda: len(results) >= n + 8, 20, what="reads after the deletion")
                finally:
                    # Whatever failed, the readers stop (they would spin on).
                    stop.set()
                    for t in threads:
                        t.join(30)
                self.assertEqual(errors, [])
                statuses = {}
                for u, status, body, length in results:
                    statuses[status] = statuses.get(status, 0) + 1
                    self.assertIn(status, (200, 404), (u, status, body[:200]))
                    if status == 200:
                        self.assertEqual(length, str(len(expected[u])))
                        self.assertTrue(body == expected[u], "a 200 with other bytes (%d of %d)" %
                                        (len(body), len(expected[u])))
                self.assertGreater(statuses.get(200, 0), 0)
                self.assertGreater(statuses.get(404, 0), 0)
                self.assertEqual(results[-1][1], 404)
                self.assertEqual(self.stack.request("GET", url).status, 404)
                self.assertNotIn("stored file %s" % path, self.stack.log("api"))

    def test_deleted_event_and_other_apis_forget(self):
        # A second api on the same Redis and PostgreSQL, which has the image
        # in memory: the deleted status makes it forget it at once, though the
        # file is still on disk (its blob would still be "current").
        image_id, path, _ = insert_stored(self.stack)
        other = OtherApi(self.stack)
        self.stack.stop_service("persist")  # its janitor would remove the file
        try:
            self.assertEqual(other.get("/api/images/" + image_id)[0], 200)
            self.assertEqual(other.get("/api/images/%s/thumbnail" % image_id)[0], 200)
            es = EventStream(other.port)
            try:
                self.assertEqual(es.next_block()["retry"], "3000")
                r = self.stack.request("DELETE", "/api/images/" + image_id, headers=AUTH)
                self.assertEqual(r.status, 204)
                kind, data = es.next_event("deleted")
                self.assertEqual(data, {"id": image_id})
            finally:
                es.close()
            wait_until(lambda: other.get("/api/images/" + image_id)[0] == 404, 5,
                       what="the other api to forget the image")
            self.assertEqual(other.get("/api/images/%s/thumbnail" % image_id)[0], 404)
            self.assertTrue(os.path.exists(path))
        finally:
            other.close()
            self.stack.start_service("persist")
            wait_until(self.stack._schema_ready, 30, what="persist")

    def test_stored_event_has_camera_and_thumbnail_url(self):
        es = EventStream(self.stack.api_port)
        try:
            self.assertEqual(es.next_block()["retry"], "3000")
            with_both, _, _ = insert_stored(self.stack, camera="north-3")
            without, _, _ = insert_stored(self.stack, thumb=False)
            # The feed turns persist's "stored" status events into stream
            # events from the row; these rows were made by hand, so is the event.
            for image_id in (with_both, without):
                self.stack.redis("PUBLISH", "imgcap:events", json.dumps(
                    {"id": image_id, "status": "stored", "at": int(time.time() * 1000)}))
            seen = {}
            while len(seen) < 2:
                kind, data = es.next_event("stored")
                seen[data["id"]] = data
            self.assertEqual(seen[with_both]["camera"], "north-3")
            self.assertEqual(seen[with_both]["thumbnail_url"],
                             "/api/images/%s/thumbnail" % with_both)
            self.assertIsNone(seen[without]["camera"])
            self.assertIsNone(seen[without]["thumbnail_url"])
            self.assertEqual(seen[without]["url"], "/api/images/" + without)
        finally:
            es.close()

    def test_uploaded_image_gets_thumbnail(self):
        image_id, body = self.upload_stored("thumbnail end to end")
        r = self.stack.request("GET", "/api/images/%s/thumbnail" % image_id)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("ETag"), '"%s.thumb"' % image_id)
        w, h, _, _ = decode_jpeg(r.body)
        iw, ih, _, _ = decode_jpeg(body)
        self.assertEqual(max(w, h), 320)  # THUMBNAIL_SIZE, the longer side
        self.assertAlmostEqual(w / h, iw / ih, delta=0.02)
        self.assertEqual(self.stack.psql("SELECT thumb_bytes FROM images WHERE id = '%s'" %
                                         image_id), str(len(r.body)))


class OtherApi:
    """A second imgcap-api process on the stack's Redis and PostgreSQL."""

    def __init__(self, stack):
        self.port = free_port()
        self.log_dir = tempfile.mkdtemp(prefix="imgcap-api2-")
        env = dict(os.environ)
        env.update(stack.env)
        env.update({"API_PORT": str(self.port), "LOG_DIR": self.log_dir})
        self.stack = stack
        self.proc = subprocess.Popen([os.path.join(BIN_DIR, "imgcap-api")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, 30, what="the second api")

    def _up(self):
        try:
            return self.get("/health")[0] == 200
        except OSError:
            return False

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            contract.check("GET", path, r.status, r.getheaders(), body)
            return r.status, body
        finally:
            conn.close()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)


class DeleteInPipeline(unittest.TestCase):
    def test_deleted_while_queued_is_never_served(self):
        with Stack(env={"API_TOKEN": TOKEN}) as s:
            s.stop_service("render")
            s.stop_service("persist")
            r = s.upload(JPEG, "deleted before render", headers=AUTH)
            self.assertEqual(r.status, 202, r.body)
            image_id = r.json()["id"]
            self.assertEqual(s.request("GET", "/api/images/" + image_id).status, 202)
            r = s.request("DELETE", "/api/images/" + image_id, headers=AUTH)
            self.assertEqual(r.status, 204, r.body)
            self.assertEqual(s.psql("SELECT reason, path FROM image_deletions WHERE id = '%s'" %
                                    image_id), "delete|")
            is_problem(self, s.request("GET", "/api/images/" + image_id), 404)
            is_problem(self, s.request("DELETE", "/api/images/" + image_id, headers=AUTH), 404)
            # The pipeline runs it to its end; it never becomes readable.
            s.start_service("persist")
            wait_until(s._schema_ready, 30, what="persist")
            s.start_service("render")
            wait_until(s.queues_at_rest, 60, interval=0.2, what="the pipeline to finish")
            is_problem(self, s.request("GET", "/api/images/" + image_id), 404)
            is_problem(self, s.request("GET", "/api/images/%s/thumbnail" % image_id), 404)
            is_problem(self, s.request("GET", "/api/images/%s?wait=1" % image_id), 404)
            # persist's imgcap_claim_ids saw the tombstone: no row, ever.
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % image_id),
                             "0")
            self.assertNotIn(image_id, s.request("GET", "/api/images").body.decode())


STORAGE_TMPFS_SIZE = "8m"


@unittest.skipUnless(os.geteuid() == 0, "mounts a tmpfs: needs root")
class StoragePressure(unittest.TestCase):
    """STORAGE_DIR on a small tmpfs that the uploads fill up to STORAGE_MIN_FREE."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="imgcap-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + STORAGE_TMPFS_SIZE, "tmpfs",
                        self.mnt], check=True)
        self.addCleanup(self._unmount)

    def _unmount(self):
        subprocess.run(["umount", "-l", self.mnt], check=False)
        os.rmdir(self.mnt)

    def test_low_storage_refuses_uploads_until_space_comes_back(self):
        # 94 % of the 8 MiB must stay free: about 500 KB of images fill it.
        env = {"STORAGE_DIR": self.mnt, "STORAGE_MIN_FREE": "94%"}
        with Stack(env=env) as s:
            s.storage_dir = self.mnt
            h = s.request("GET", "/health").json()
            self.assertEqual(h["status"], "ok")
            self.assertEqual(h["storage"]["status"], "ok")
            self.assertEqual(h["storage"]["total_bytes"], 8 * 1024 * 1024)
            self.assertEqual(h["storage"]["min_free_bytes"], int(8 * 1024 * 1024 * 0.94))
            self.assertNotIn("reason", h["storage"])
            accepted, refused = [], None
            for i in range(200):
                r = s.upload(JPEG, "filling %d" % i)
                if r.status == 503:
                    refused = r
                    break
                self.assertEqual(r.status, 202, r.body)
                accepted.append(r.json()["id"])
                s.wait_stored([accepted[-1]], timeout=30)
            self.assertIsNotNone(refused, "uploads were never refused")
            self.assertGreater(len(accepted), 3)
            doc = is_problem(self, refused, 503)
            self.assertEqual(doc["type"], "urn:imgcap:problem:storage-full")
            self.assertEqual(doc["title"], "Storage full")
            self.assertEqual(refused.header("Retry-After"), "30")
            free = int(re.search(r"has (\d+) bytes free", doc["detail"]).group(1))
            self.assertLess(free, int(8 * 1024 * 1024 * 0.94))
            self.assertIn("STORAGE_MIN_FREE (%d bytes)" % int(8 * 1024 * 1024 * 0.94), doc["detail"])
            for _ in range(3):  # it stays refused while nothing changes
                is_problem(self, s.upload(JPEG, "still full"), 503)

            h = s.request("GET", "/health")
            self.assertEqual(h.status, 200)
            doc = h.json()
            self.assertEqual(doc["status"], "degraded")
            self.assertEqual(doc["storage"]["status"], "low")
            self.assertLess(doc["storage"]["free_bytes"], doc["storage"]["min_free_bytes"])
            self.assertIn("STORAGE_MIN_FREE", doc["storage"]["reason"])
            m = metrics(s)
            self.assertGreaterEqual(m["imgcap_uploads_refused_storage_total"], 4)
            self.assertLess(m["imgcap_storage_free_bytes"], m["imgcap_storage_min_free_bytes"])
            # Reads still work while storage is low.
            self.assertEqual(s.request("GET", "/api/images/" + accepted[0]).status, 200)

            # Room again: the filesystem grows; nobody restarts anything.
            subprocess.run(["mount", "-o", "remount,size=64m", self.mnt], check=True)
            wait_until(lambda: s.request("GET", "/health").json()["status"] == "ok", 5,
                       what="/health to see the space")
            doc = s.request("GET", "/health").json()
            self.assertEqual(doc["storage"]["status"], "ok")
            self.assertNotIn("reason", doc["storage"])
            for i in range(3):
                r = s.upload(JPEG, "room again %d" % i)
                self.assertEqual(r.status, 202, r.body)
                accepted.append(r.json()["id"])

            # Every 202 is stored, exactly once, with its file.
            rows = s.wait_stored(accepted, timeout=60)
            wait_until(s.queues_at_rest, 30, what="queues at rest")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), str(len(accepted)))
            for image_id, rel in rows.items():
                self.assertTrue(os.path.isfile(os.path.join(self.mnt, rel)), rel)
            for q in ("render", "persist"):
                self.assertEqual(s.redis("LLEN", "imgcap:q:%s:dead" % q), 0)


if __name__ == "__main__":
    unittest.main()
