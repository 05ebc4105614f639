"""imgcap-persist on a full disk: STORAGE_DIR is a small tmpfs, filled up but
for a few KiB, in a mount namespace of persist's own (unshare; as a user
other than root, with a user namespace too). The image's write fails with
ENOSPC: persist retries (never dead-letters, stores no row), and once space
is freed the same job is stored, its file byte for byte."""
import datetime
import os
import subprocess
import unittest

from harness import Stack, wait_until
from test_persist import JPEG, P, enqueue, make_id, payload, rfc3339, stage, text

ROOT_USER = os.geteuid() == 0
# Only the mount namespace is private; as a user other than root a user
# namespace (mapped to root) is what allows mounting.
UNSHARE = ["unshare", "--mount", "--propagation", "private"] + ([] if ROOT_USER else
                                                               ["--map-root-user"])
NSENTER_NS = ["--mount"] + ([] if ROOT_USER else ["--user", "--preserve-credentials"])


class FullDisk(unittest.TestCase):
    def test_write_retried_until_space_is_freed(self):
        with Stack(services=()) as s:
            # 256 KiB, 240 of them taken: the 38 KiB image does not fit.
            script = ('mount -t tmpfs -o size=256k imgcap-full "$0" && '
                      'dd if=/dev/zero of="$0/filler" bs=1k count=240 2>/dev/null && exec "$@"')
            proc = s.start_service("persist", wrap=UNSHARE + ["sh", "-c", script, s.storage_dir])
            s.wait_log("persist", "persist started as consumer")

            def inside(*cmd):
                return subprocess.run(["nsenter", "--target", str(proc.pid)] + NSENTER_NS +
                                      list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      check=True).stdout

            id_ = make_id()
            enqueue(s, id_, payload(id_, rfc3339(datetime.datetime.utcnow()), "disk full"))
            wait_until(lambda: s.log("persist").count("id=%s writing" % id_) >= 2, 30,
                       what="two failed writes")
            self.assertIn("No space left on device", s.log("persist"))
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "0")
            self.assertNotEqual(stage(s, id_), "failed")
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            # No temp file left behind by the failed writes.
            listing = inside("find", s.storage_dir, "-name", ".*.jpg.*").decode()
            self.assertEqual(listing, "")

            inside("rm", os.path.join(s.storage_dir, "filler"))
            path = s.wait_stored([id_], timeout=30)[id_]
            self.assertEqual(inside("cat", os.path.join(s.storage_dir, path)), JPEG)
            wait_until(s.queues_at_rest, 10, what="the ack")
            self.assertEqual([text(v) for v in s.redis("LRANGE", P + "q:persist:dead", 0, -1)],
                             [])


if __name__ == "__main__":
    unittest.main()
