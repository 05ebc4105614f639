"""persist's janitor purging files of deleted images (the image_deletions list)
when a listed path is not what persist writes: a path that would leave
STORAGE_DIR is never followed (nothing removed, the entry closed), and a file
that cannot be removed keeps its entry open until a later purge succeeds.
Tombstones are written straight into PostgreSQL, then NOTIFY imgcap_purge
wakes the janitor as a deletion does."""
import os
import unittest

from harness import Stack, wait_until
from test_persist import make_id


class PurgeOddPaths(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=("persist",)).__enter__()
        cls.stack.wait_log("persist", "persist started as consumer")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def tombstone(self, id_, path):
        self.stack.psql("INSERT INTO image_deletions (id, path, reason) VALUES ('%s', '%s', "
                        "'delete'); NOTIFY imgcap_purge" % (id_, path))

    def purged(self, id_):
        return self.stack.psql("SELECT purged_at IS NOT NULL FROM image_deletions "
                               "WHERE id = '%s'" % id_) == "t"

    def test_path_outside_storage_is_not_followed(self):
        s = self.stack
        outside = os.path.join(s.tmp, "outside.jpg")  # STORAGE_DIR/../outside.jpg
        with open(outside, "wb") as f:
            f.write(b"not an image of the store")
        id_ = make_id()
        self.tombstone(id_, "../outside.jpg")
        wait_until(lambda: self.purged(id_), 20, what="the entry closed")
        self.assertIn('purge: id=%s has the unexpected path "../outside.jpg": nothing removed'
                      % id_, s.log("persist"))
        self.assertTrue(os.path.exists(outside))

    def test_file_that_cannot_be_removed_is_retried(self):
        s = self.stack
        id_ = make_id()
        rel = "2026/01/03/%s.jpg" % id_
        # A non-empty directory under the image's name: unlink fails.
        blocker = os.path.join(s.storage_dir, rel)
        os.makedirs(os.path.join(blocker, "inside"))
        self.tombstone(id_, rel)
        wait_until(lambda: "purge: id=%s: " % id_ in s.log("persist"), 20,
                   what="the failed removal")
        self.assertIn("(retried later)", s.log("persist"))
        self.assertFalse(self.purged(id_))
        os.rmdir(os.path.join(blocker, "inside"))
        os.rmdir(blocker)
        s.psql("NOTIFY imgcap_purge")
        wait_until(lambda: self.purged(id_), 30, what="the entry closed by a later purge")


if __name__ == "__main__":
    unittest.main()
