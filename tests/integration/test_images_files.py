"""GET and DELETE /api/images/{id} against what the api finds on disk and in its
dependencies, with rows written straight into PostgreSQL (no render, no
persist): a file over the in-memory cache's limit (streamed from disk, HEAD
answered from its size), a stored path that is a directory, a stored file
that is gone, Redis or PostgreSQL down while a lookup or a deletion needs
it, and a STORAGE_DIR whose free space cannot be measured."""
import os
import unittest
import uuid

from harness import Stack, read_data

TOKEN = "coverage-token"


def new_id():
    # A UUIDv7-shaped id (version 7, variant 10): what the api hands out.
    h = uuid.uuid4().hex
    return "%s-%s-7%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


class ImageFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=("api",), env={"API_TOKEN": TOKEN}).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def add_row(self, data=None, directory=False):
        """A row for a new id whose path is a file holding data, a directory,
        or (data None) nothing at all."""
        s = self.stack
        id_ = new_id()
        rel = "2026/01/02/%s.jpg" % id_
        full = os.path.join(s.storage_dir, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if directory:
            os.mkdir(full)
        elif data is not None:
            with open(full, "wb") as f:
                f.write(data)
        s.psql("INSERT INTO images (id, received_at, description, path, width, height, bytes) "
               "VALUES ('%s', '2026-01-02T03:04:05Z', 'row', '%s', 10, 10, %d)"
               % (id_, rel, len(data or b"")))
        return id_

    def test_large_file_is_streamed(self):
        s = self.stack
        data = b"\xff\xd8" + bytes(range(256)) * 6000 + b"\xff\xd9"  # 1.5 MiB: over the cache
        id_ = self.add_row(data)
        r = s.request("GET", "/api/images/" + id_)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertEqual(r.body, data)
        r = s.request("HEAD", "/api/images/" + id_)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertEqual(r.body, b"")

    def test_head_of_a_small_file(self):
        s = self.stack
        data = b"\xff\xd8small\xff\xd9"
        id_ = self.add_row(data)
        r = s.request("HEAD", "/api/images/" + id_)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertEqual(r.body, b"")
        # Now from the api's memory: HEAD and GET agree with the file.
        r = s.request("HEAD", "/api/images/" + id_)
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(len(data))))
        self.assertEqual(s.request("GET", "/api/images/" + id_).body, data)

    def test_stored_path_that_is_not_a_file(self):
        s = self.stack
        id_ = self.add_row(directory=True)
        r = s.request("GET", "/api/images/" + id_)
        self.assertEqual(r.status, 500)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        self.assertIn("Invalid argument", s.log("api"))

    def test_stored_file_gone(self):
        s = self.stack
        id_ = self.add_row()
        r = s.request("GET", "/api/images/" + id_)
        self.assertEqual(r.status, 500, r.body)
        self.assertIn("No such file or directory", s.log("api"))

    def test_redis_down_for_a_lookup_and_a_deletion(self):
        s = self.stack
        stored = self.add_row(b"\xff\xd8\xff\xd9")
        s.stop_redis()
        try:
            # No row: only Redis could say where the id is in the pipeline.
            r = s.request("GET", "/api/images/" + new_id())
            self.assertEqual(r.status, 503)
            self.assertTrue(r.header("Retry-After"))
            # A deletion needs only PostgreSQL and the files; telling the
            # other apis is best effort.
            r = s.request("DELETE", "/api/images/" + stored,
                          headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(r.status, 204, r.body)
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % stored), "0")
            log = s.log("api")
            self.assertIn("id=%s deleted, but the deleted status was not published: "
                          "cannot connect to Redis" % stored, log)
            self.assertIn("id=%s deleted, but not counted" % stored, log)
        finally:
            s.start_redis()


if __name__ == "__main__":
    unittest.main()


class PostgresDown(unittest.TestCase):
    def test_postgres_down_for_a_read_and_a_deletion(self):
        with Stack(services=("api",), env={"API_TOKEN": TOKEN}) as s:
            id_ = new_id()
            s.stop_pg_server()
            r = s.request("GET", "/api/images/" + id_)
            self.assertEqual(r.status, 503, r.body)
            self.assertTrue(r.header("Retry-After"))
            r = s.request("DELETE", "/api/images/" + id_,
                          headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(r.status, 503, r.body)
            self.assertEqual(r.json()["type"], "urn:imgcap:problem:dependency-unavailable")



class StorageUnmeasurable(unittest.TestCase):
    def test_free_space_that_cannot_be_measured(self):
        """STORAGE_DIR under a regular file: its free space cannot be measured.
        /health says so (storage "unknown", with the reason), /metrics still
        answers, and uploads are not refused for it (persist fails on its own
        when it cannot write)."""
        with Stack(services=("api",)) as s:
            blocker = os.path.join(s.tmp, "a-file")
            open(blocker, "w").close()
            s.stop_service("api")
            s.start_service("api", extra_env={"STORAGE_DIR": os.path.join(blocker, "images")})
            h = s.request("GET", "/health")
            storage = h.json()["storage"]
            self.assertEqual(storage["status"], "unknown")
            self.assertIn("Not a directory", storage["reason"])
            self.assertEqual(s.request("GET", "/metrics").status, 200)
            self.assertIn("metrics: ", s.log("api"))
            r = s.upload(read_data("camera_674x480.jpg"), "accepted")
            self.assertEqual(r.status, 202, r.body)
            self.assertIn("upload: cannot measure STORAGE_DIR's free space", s.log("api"))
