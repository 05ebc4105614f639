"""imgcap-persist on messages and shutdowns test_persist does not reach: a payload
whose header names another id than the one it was queued under (dead-lettered,
never stored under either), and SIGTERM while an image's file cannot be
written (the id goes back to the work list at the deadline, not to the dead
letters), and a batch whose files cannot be renamed into place by the
committer (its temp files removed, the files written again once the way is
clear). SHUTDOWN_SECONDS=1 keeps the shutdown short."""
import datetime
import os
import signal
import unittest

from harness import Stack, wait_until
from test_persist import JPEG, P, enqueue, make_id, payload, read_file, rfc3339, stage, text


class PersistEdges(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=("persist",), env={"SHUTDOWN_SECONDS": "1",
                                                         "STORAGE_SYNC": "filesystem"}).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def test_payload_naming_another_id_is_dead_lettered(self):
        s = self.stack
        s.wait_log("persist", "persist started as consumer")
        queued, inside = make_id(), make_id()
        enqueue(s, queued, payload(inside, rfc3339(datetime.datetime.utcnow()), "swapped"))
        wait_until(lambda: stage(s, queued) == "failed", 20, what="dead letter")
        self.assertIn(queued, [text(v) for v in s.redis("LRANGE", P + "q:persist:dead", 0, -1)])
        self.assertIn("payload carries another id (%s)" % inside,
                      text(s.redis("HGET", P + "status:" + queued, "error")))
        self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id IN ('%s', '%s')"
                                % (queued, inside)), "0")

    def test_sigterm_while_the_file_cannot_be_written(self):
        s = self.stack
        s.wait_log("persist", "persist started as consumer")
        id_ = make_id()
        at = rfc3339(datetime.datetime.utcnow())
        # A file where the year directory should be: mkdir fails even as root.
        blocker = os.path.join(s.storage_dir, at[:4])
        with open(blocker, "w") as f:
            f.write("not a directory")
        try:
            enqueue(s, id_, payload(id_, at, "disk trouble at shutdown"))
            wait_until(lambda: "id=%s writing" % id_ in s.log("persist"), 20,
                       what="a failed write")
            self.assertEqual(s.stop_service("persist", signal.SIGTERM), 0)
            self.assertIn("id=%s left for redelivery: shutdown deadline passed while the file "
                          "could not be written" % id_, s.log("persist"))
            # Back on the work list, not dead-lettered, nothing stored.
            self.assertEqual([text(v) for v in s.redis("LRANGE", P + "q:persist", 0, -1)], [id_])
            self.assertNotIn(id_, [text(v) for v in
                                   s.redis("LRANGE", P + "q:persist:dead", 0, -1)])
            self.assertNotEqual(stage(s, id_), "failed")
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % id_), "0")
        finally:
            os.unlink(blocker)
        # The next persist stores it.
        s.start_service("persist")
        s.wait_stored([id_], timeout=30)

    def test_batch_rename_failure_writes_the_files_again(self):
        s = self.stack
        s.wait_log("persist", "persist started as consumer")
        id_ = make_id()
        # A day of its own: the test above blocks the current year's directory.
        at = rfc3339(datetime.datetime(2001, 2, 3, 4, 5, 6))
        day = os.path.join(s.storage_dir, "2001", "02", "03")
        # A non-empty directory under the image's final name: the worker's temp
        # file is written, the committer's rename onto that name fails.
        blocker = os.path.join(day, id_ + ".jpg")
        os.makedirs(os.path.join(blocker, "x"))
        try:
            enqueue(s, id_, payload(id_, at, "renamed late"))
            wait_until(lambda: "failed (attempt 2)" in s.log("persist"), 20,
                       what="two failed file syncs")
            self.assertIn("storage: file sync of 1 rows (first id=%s) failed (attempt 1)" % id_,
                          s.log("persist"))
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % id_), "0")
        finally:
            os.rmdir(os.path.join(blocker, "x"))
            os.rmdir(blocker)
        s.wait_stored([id_], timeout=30)
        self.assertEqual(read_file(s, os.path.relpath(blocker, s.storage_dir)), JPEG)
        wait_until(lambda: "committed after" in s.log("persist"), 10, what="the retry's line")
        # The temp file of the first attempt and those of the failed rewrites are gone.
        self.assertEqual([n for n in os.listdir(day) if n.startswith(".")], [])


if __name__ == "__main__":
    unittest.main()
