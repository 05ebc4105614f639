"""Integration tests of persist's part of the frame store against a real
redis-server and PostgreSQL (services/persist/README.md, Janitor; Tombstones):
camera and thumbnail stored with the row, RETENTION deleting exactly the rows
older than it (never a younger one), two persists expiring at once without
deleting a row twice, an id deleted while in the pipeline never stored, the
002 migration over a database of 001's schema, and STORAGE_RECYCLE on a small
tmpfs.

Messages are put on q:persist directly (as render's handoff would), so these
tests need only the persist binary."""
import datetime
import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import BIN_DIR, ROOT, Stack, read_data, wait_until
from test_persist import enqueue, make_id, rfc3339, stage

JPEG = read_data("camera_674x480.jpg")
THUMB = read_data("camera_640x480_progressive.jpg")[:4000]
P = "imgcap:"


def payload(id_, received_at, description, camera=None, thumb=THUMB, jpeg=JPEG):
    """The wire format render hands to persist, with the thumbnail after the JPEG."""
    header = {"id": id_, "received_at": received_at, "description": description,
              "content_length": len(jpeg), "width": 674, "height": 498}
    if camera is not None:
        header["camera"] = camera
    if thumb:
        header["thumbnail_length"] = len(thumb)
    return b"IMGCAP1\n" + json.dumps(header).encode() + b"\n" + jpeg + (thumb or b"")


def id_ms(id_):
    """The millisecond a UUIDv7 was made at (its received_at)."""
    return int(id_.replace("-", "")[:12], 16)


def at_ms(ms):
    return rfc3339(datetime.datetime.utcfromtimestamp(ms / 1000.0))


def image_path(id_):
    t = datetime.datetime.utcfromtimestamp(id_ms(id_) / 1000.0)
    return "%04d/%02d/%02d/%s.jpg" % (t.year, t.month, t.day, id_)


def thumb_path(id_):
    return image_path(id_)[:-4] + ".thumb.jpg"


def files_of(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def counter(stack, name):
    v = stack.redis("HGET", P + "counters", name)
    return int(v) if v is not None else 0


def psql_file(stack, sql):
    """Runs a long SQL text through psql's standard input."""
    subprocess.run(["psql", "-h", stack.host, "-p", str(stack.pg_port), "-U", "imgcap",
                    "-d", "imgcap", "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"],
                   input=sql.encode(), check=True, stdout=subprocess.DEVNULL)


def insert_stored(stack, ids, root):
    """Rows as persist stores them (001's columns), with their image and
    thumbnail files under root."""
    values = []
    for i, id_ in enumerate(ids):
        rel = image_path(id_)
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(JPEG[:2000])
        with open(os.path.join(root, thumb_path(id_)), "wb") as f:
            f.write(THUMB[:500])
        values.append("('%s', '%s', 'old %d', '%s', 2000)" % (id_, at_ms(id_ms(id_)), i, rel))
    psql_file(stack, "INSERT INTO images (id, received_at, description, path, bytes) VALUES %s;"
              % ",".join(values))


def log_file(stack, name="persist"):
    """The service's log file alone (stderr has a copy of each line)."""
    with open(os.path.join(stack.log_dir, name + ".log"), errors="replace") as f:
        return f.read()


def errors_in(log):
    return [line for line in log.splitlines() if " ERROR " in line]


class CameraAndThumbnail(unittest.TestCase):
    def test_row_and_both_files(self):
        with Stack(services=("persist",)) as s:
            with_all, bare = make_id(), make_id()
            now = rfc3339(datetime.datetime.utcnow())
            enqueue(s, with_all, payload(with_all, now, "both", camera="north-7.A_b"))
            enqueue(s, bare, payload(bare, now, "neither", thumb=None))
            paths = s.wait_stored([with_all, bare])
            wait_until(s.queues_at_rest, 20, what="acks")
            self.assertEqual(s.psql("SELECT camera, thumb_bytes FROM images WHERE id = '%s'"
                                    % with_all), "north-7.A_b|%d" % len(THUMB))
            self.assertEqual(s.psql("SELECT camera IS NULL, thumb_bytes IS NULL FROM images "
                                    "WHERE id = '%s'" % bare), "t|t")
            root = s.storage_dir
            with open(os.path.join(root, paths[with_all]), "rb") as f:
                self.assertEqual(f.read(), JPEG)
            with open(os.path.join(root, thumb_path(with_all)), "rb") as f:
                self.assertEqual(f.read(), THUMB)
            self.assertFalse(os.path.exists(os.path.join(root, thumb_path(bare))))
            self.assertEqual(files_of(root), sorted([image_path(with_all), thumb_path(with_all),
                                                     image_path(bare)]))


class Retention(unittest.TestCase):
    def test_older_deleted_younger_never(self):
        retention_ms = 3000
        with Stack(services=("persist",), env={"RETENTION": "3s"}) as s:
            now = int(time.time() * 1000)
            old = [make_id(now - 3600 * 1000 - i) for i in range(10)] + \
                  [make_id(now - 10 * 1000 - i) for i in range(10)]
            for id_ in old:
                enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "old"))
            # Young images arrive while the janitor runs; until 3 s old none
            # may be deleted. Their stored rows are checked every 100 ms.
            young = []
            seen_stored = set()
            t_end = time.time() + 8
            next_enqueue = 0
            while time.time() < t_end:
                if time.time() >= next_enqueue and len(young) < 25:
                    id_ = make_id()
                    enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "young"))
                    young.append(id_)
                    next_enqueue = time.time() + 0.25
                rows = s.psql("SELECT id FROM images WHERE id IN (%s)" %
                              ",".join("'%s'" % i for i in young)) if young else ""
                seen_stored.update(r for r in rows.splitlines() if r)
                gone = s.psql("SELECT id FROM image_deletions")
                now = int(time.time() * 1000)
                for id_ in gone.splitlines():
                    if id_ in young:
                        self.assertGreaterEqual(now - id_ms(id_), retention_ms,
                                                "%s deleted younger than RETENTION" % id_)
                time.sleep(0.1)
            self.assertGreaterEqual(len(young), 10)
            self.assertGreater(len(seen_stored), 10, "young images were stored before expiring")
            # In the end everything has aged past RETENTION and is gone.
            every = old + young
            wait_until(lambda: s.psql("SELECT count(*) FROM images") == "0", 30,
                       what="every row expired")
            wait_until(lambda: s.psql("SELECT count(*) FROM image_deletions WHERE purged_at "
                                      "IS NOT NULL") == str(len(every)), 30,
                       what="every deletion purged")
            wait_until(s.queues_at_rest, 20, what="acks")
            # Each deletion happened at least RETENTION after the image's
            # received_at, on the database's own clock.
            for line in s.psql("SELECT id, (extract(epoch FROM deleted_at) * 1000)::bigint, "
                               "reason, path FROM image_deletions").splitlines():
                id_, deleted_ms, reason, path = line.split("|")
                self.assertIn(id_, every)
                self.assertEqual(reason, "retention")
                self.assertEqual(path, image_path(id_))
                self.assertGreaterEqual(int(deleted_ms) - id_ms(id_), retention_ms, id_)
            self.assertEqual(files_of(s.storage_dir), [])
            wait_until(lambda: counter(s, "images_deleted_retention") == len(every), 10,
                       what="retention counter")
            self.assertEqual(counter(s, "image_files_purged"), 2 * len(every))
            self.assertEqual(errors_in(s.log("persist")), [])
            self.assertIn("retention: deleted", s.log("persist"))

    def test_two_persists_delete_each_row_once(self):
        n = 3000
        with Stack(services=()) as s:
            base = int(time.time() * 1000) - 2 * 86400 * 1000
            ids = [make_id(base + i * 10) for i in range(n)]
            insert_stored(s, ids, s.storage_dir)
            env = dict(os.environ)
            env.update(s.env)
            env.update({"RETENTION": "1h", "LOG_DIR": os.path.join(s.tmp, "log2")})
            os.makedirs(env["LOG_DIR"])
            s.env["RETENTION"] = "1h"
            s.start_service("persist")
            second = subprocess.Popen([os.path.join(BIN_DIR, "imgcap-persist")], env=env,
                                      cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                wait_until(lambda: s.psql("SELECT count(*) FROM images") == "0", 60,
                           what="every old row expired")
                wait_until(lambda: s.psql("SELECT count(*) FROM image_deletions WHERE "
                                          "purged_at IS NULL") == "0", 30, what="all purged")
                self.assertEqual(s.psql("SELECT count(*), count(DISTINCT id), "
                                        "min(reason), max(reason) FROM image_deletions"),
                                 "%d|%d|retention|retention" % (n, n))
                wait_until(lambda: counter(s, "images_deleted_retention") == n, 10,
                           what="the counters of both")
                time.sleep(1.5)  # a count added twice would show now
                self.assertEqual(counter(s, "images_deleted_retention"), n)
                self.assertEqual(counter(s, "image_files_purged"), 2 * n)
                self.assertEqual(files_of(s.storage_dir), [])
            finally:
                second.terminate()
                t0 = time.time()
                self.assertEqual(second.wait(30), 0)
            self.assertLess(time.time() - t0, 5, "SIGTERM stops persist and its janitor promptly")
            self.assertEqual(s.stop_service("persist"), 0)
            with open(os.path.join(env["LOG_DIR"], "persist.log")) as f:
                log2 = f.read()
            self.assertEqual(errors_in(s.log("persist")), [])
            self.assertEqual(errors_in(log2), [])


class Tombstones(unittest.TestCase):
    def test_deleted_in_pipeline_never_stored(self):
        with Stack(services=("persist",)) as s:
            gone, kept = make_id(), make_id()
            self.assertEqual(s.psql("SELECT imgcap_delete_image('%s', true)" % gone), "deleted")
            # The janitor purges the tombstone (path '': nothing to unlink)
            # before the files exist; persist's claim removes them.
            wait_until(lambda: s.psql("SELECT purged_at IS NOT NULL FROM image_deletions "
                                      "WHERE id = '%s'" % gone) == "t", 20,
                       what="the tombstone purged")
            now = rfc3339(datetime.datetime.utcnow())
            enqueue(s, gone, payload(gone, now, "deleted before it arrived", camera="c1"))
            enqueue(s, kept, payload(kept, now, "kept", camera="c1"))
            s.wait_stored([kept])
            wait_until(s.queues_at_rest, 20, what="both acked")
            self.assertEqual(stage(s, gone), "deleted")
            self.assertEqual(stage(s, kept), "stored")
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % gone), "0")
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            self.assertEqual(s.redis("EXISTS", P + "msg:persist:" + gone), 0)
            self.assertEqual(files_of(s.storage_dir), sorted([image_path(kept),
                                                              thumb_path(kept)]))
            self.assertIn("id=%s deleted while in the pipeline" % gone, s.log("persist"))
            # A late redelivery changes nothing either.
            enqueue(s, gone, payload(gone, now, "again"))
            wait_until(s.queues_at_rest, 20, what="redelivery acked")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "1")
            self.assertEqual(files_of(s.storage_dir), sorted([image_path(kept),
                                                              thumb_path(kept)]))

    def test_api_delete_of_a_stored_image_purges_its_files(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "to delete"))
            s.wait_stored([id_])
            wait_until(s.queues_at_rest, 20, what="ack")
            self.assertEqual(len(files_of(s.storage_dir)), 2)
            t0 = time.time()
            self.assertEqual(s.psql("SELECT imgcap_delete_image('%s', false)" % id_), "deleted")
            # NOTIFY imgcap_purge wakes the janitor at once (its fallback is 10 s).
            wait_until(lambda: files_of(s.storage_dir) == [], 5, what="files purged")
            self.assertLess(time.time() - t0, 5)
            wait_until(lambda: counter(s, "image_files_purged") == 2, 10, what="counter")
            self.assertEqual(s.psql("SELECT reason, purged_at IS NOT NULL FROM image_deletions"),
                             "delete|t")


    def test_redis_down_does_not_stop_deletion(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "deleted while Redis is down"))
            s.wait_stored([id_])
            wait_until(s.queues_at_rest, 20, what="ack")
            s.stop_redis()
            self.assertEqual(s.psql("SELECT imgcap_delete_image('%s', false)" % id_), "deleted")
            wait_until(lambda: files_of(s.storage_dir) == [], 10, what="files purged")
            self.assertEqual(s.psql("SELECT purged_at IS NOT NULL FROM image_deletions"), "t")
            s.start_redis()
            # The count kept meanwhile is added once Redis answers.
            wait_until(lambda: counter(s, "image_files_purged") == 2, 20, what="counter")
            self.assertIn("counters: Redis unavailable", log_file(s))


    def test_start_resumes_purge_and_prunes_tombstones(self):
        """The purge list is durable: deletions whose files were not removed yet
        (a persist killed in between) are finished by the next start. Purged
        retention/recycle tombstones go after 8 days, 'delete' ones never."""
        with Stack(services=()) as s:
            pending = [make_id() for _ in range(3)]
            insert_stored(s, pending, s.storage_dir)
            s.psql("DELETE FROM images")
            s.psql("INSERT INTO image_deletions (id, path, reason) VALUES %s" % ",".join(
                "('%s', '%s', 'delete')" % (i, image_path(i)) for i in pending))
            old_r, old_d, recent_r = make_id(), make_id(), make_id()
            s.psql("INSERT INTO image_deletions (id, path, reason, deleted_at, purged_at) VALUES "
                   "('%s', '', 'retention', now() - interval '9 days', now() - interval '9 days'),"
                   "('%s', '', 'delete', now() - interval '9 days', now() - interval '9 days'),"
                   "('%s', '', 'recycle', now() - interval '7 days', now() - interval '7 days')"
                   % (old_r, old_d, recent_r))
            self.assertEqual(len(files_of(s.storage_dir)), 6)
            s.start_service("persist")
            wait_until(lambda: files_of(s.storage_dir) == [], 20, what="pending files purged")
            wait_until(lambda: s.psql("SELECT count(*) FROM image_deletions WHERE purged_at IS "
                                      "NULL") == "0", 10, what="marked purged")
            wait_until(lambda: s.psql("SELECT count(*) FROM image_deletions WHERE id = '%s'"
                                      % old_r) == "0", 10, what="old retention tombstone pruned")
            self.assertEqual(s.psql("SELECT count(*) FROM image_deletions WHERE id IN "
                                    "('%s', '%s')" % (old_d, recent_r)), "2")
            self.assertEqual(s.psql("SELECT count(*) FROM image_deletions"), "5")
            wait_until(lambda: counter(s, "image_files_purged") == 6, 10, what="counter")


    def test_postgres_restart_retried_and_listen_renewed(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "survives a PostgreSQL restart"))
            s.wait_stored([id_])
            wait_until(s.queues_at_rest, 20, what="ack")
            s.stop_pg_server()
            time.sleep(3)
            s.start_pg_server()
            wait_until(lambda: "working again after" in log_file(s), 60,
                       what="the janitor reconnected")
            self.assertIn("janitor: ", log_file(s))
            t0 = time.time()
            self.assertEqual(s.psql("SELECT imgcap_delete_image('%s', false)" % id_), "deleted")
            # Woken by the NOTIFY on its new session, not by the 10 s fallback.
            wait_until(lambda: files_of(s.storage_dir) == [], 8, what="files purged")
            self.assertLess(time.time() - t0, 5)


class Migration(unittest.TestCase):
    def test_002_over_rows_of_001(self):
        with Stack(services=()) as s:
            s.psql("DROP DATABASE imgcap", db="postgres")
            s.psql("CREATE DATABASE imgcap", db="postgres")
            subprocess.run(["psql", "-h", s.host, "-p", str(s.pg_port), "-U", "imgcap", "-d",
                            "imgcap", "-v", "ON_ERROR_STOP=1", "-q", "-f",
                            os.path.join(ROOT, "deploy", "sql", "001_images.sql")],
                           check=True, stdout=subprocess.DEVNULL)
            self.assertEqual(s.psql("SELECT to_regclass('public.image_deletions') IS NULL"), "t")
            old = [make_id() for _ in range(3)]
            insert_stored(s, old, s.storage_dir)
            before = s.psql("SELECT id, received_at, description, path, bytes, stored_at "
                            "FROM images ORDER BY id")
            s.start_service("persist")
            wait_until(lambda: s.psql("SELECT to_regclass('public.schema_migrations') IS NOT "
                                      "NULL") == "t" and
                       s.psql("SELECT count(*) FROM schema_migrations") == "2", 30,
                       what="both scripts applied")
            self.assertEqual(s.psql("SELECT id, received_at, description, path, bytes, stored_at "
                                    "FROM images ORDER BY id"), before)
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE camera IS NULL AND "
                                    "thumb_bytes IS NULL"), "3")
            new = make_id()
            enqueue(s, new, payload(new, at_ms(id_ms(new)), "after the migration", camera="x"))
            s.wait_stored([new])
            self.assertEqual(s.psql("SELECT camera, thumb_bytes FROM images WHERE id = '%s'"
                                    % new), "x|%d" % len(THUMB))
            self.assertEqual(errors_in(s.log("persist")), [])

    def test_fresh_database(self):
        with Stack(services=("persist",)) as s:
            self.assertEqual(s.psql("SELECT string_agg(version, ',' ORDER BY version) FROM "
                                    "schema_migrations"), "001_images,002_frame_store")
            self.assertEqual(s.psql("SELECT count(*) FROM information_schema.columns WHERE "
                                    "table_name = 'images' AND column_name IN "
                                    "('camera', 'thumb_bytes')"), "2")
            id_ = make_id()
            enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "fresh", camera="cam"))
            s.wait_stored([id_])
            self.assertEqual(s.psql("SELECT camera, thumb_bytes FROM images"),
                             "cam|%d" % len(THUMB))


class Recycle(unittest.TestCase):
    def test_oldest_recycled_until_free(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mnt = tempfile.mkdtemp(prefix="imgcap-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
        try:
            with Stack(services=()) as s:
                env = {"STORAGE_DIR": mnt, "STORAGE_RECYCLE": "1", "STORAGE_MIN_FREE": "1KB"}
                s.start_service("persist", extra_env=env)
                base = int(time.time() * 1000) - 3600 * 1000
                ids = [make_id(base + i * 1000) for i in range(120)]
                for id_ in ids:
                    enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "fill"))
                s.wait_stored(ids, timeout=90)
                wait_until(s.queues_at_rest, 20, what="acks")
                st = os.statvfs(mnt)
                free = st.f_bavail * st.f_frsize
                min_free = free + 2500 * 1000
                self.assertLess(min_free, st.f_blocks * st.f_frsize)
                self.assertEqual(s.stop_service("persist"), 0)
                env["STORAGE_MIN_FREE"] = str(min_free)
                s.start_service("persist", extra_env=env)

                def freed():
                    st = os.statvfs(mnt)
                    return st.f_bavail * st.f_frsize >= min_free
                wait_until(freed, 60, what="free space back above STORAGE_MIN_FREE")
                wait_until(lambda: s.psql("SELECT count(*) FROM image_deletions WHERE "
                                          "purged_at IS NULL") == "0", 20, what="purged")
                deleted = s.psql("SELECT id FROM image_deletions WHERE reason = 'recycle' "
                                 "ORDER BY id").splitlines()
                self.assertGreater(len(deleted), 0)
                self.assertLess(len(deleted), len(ids))
                # Exactly the oldest ones went; the younger are all kept.
                self.assertEqual(deleted, ids[:len(deleted)])
                kept = ids[len(deleted):]
                self.assertEqual(s.psql("SELECT count(*) FROM images"), str(len(kept)))
                on_disk = files_of(mnt)
                for id_ in kept:
                    self.assertIn(image_path(id_), on_disk)
                    self.assertIn(thumb_path(id_), on_disk)
                for id_ in deleted:
                    self.assertNotIn(image_path(id_), on_disk)
                    self.assertNotIn(thumb_path(id_), on_disk)
                wait_until(lambda: counter(s, "images_deleted_recycle") == len(deleted), 10,
                           what="recycle counter")
                log = s.log("persist")
                self.assertIn("recycled the", log)
                self.assertEqual(errors_in(log), [])
                self.assertEqual(s.stop_service("persist"), 0)
        finally:
            subprocess.run(["umount", mnt], check=True)
            os.rmdir(mnt)

    def test_low_without_recycle_only_warns(self):
        with Stack(services=("persist",), env={"STORAGE_MIN_FREE": "100%"}) as s:
            id_ = make_id(int(time.time() * 1000) - 86400 * 1000)
            enqueue(s, id_, payload(id_, at_ms(id_ms(id_)), "kept"))
            s.wait_stored([id_])
            wait_until(lambda: "storage low" in s.log("persist"), 10, what="the warning")
            time.sleep(2.5)
            log = log_file(s)
            self.assertEqual(log.count("storage low"), 1, "logged once per transition")
            self.assertIn("STORAGE_RECYCLE is off", log)
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "1")
            self.assertEqual(s.psql("SELECT count(*) FROM image_deletions"), "0")


if __name__ == "__main__":
    unittest.main()
