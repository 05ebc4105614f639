"""imgcap-persist's committer when PostgreSQL refuses part of a batch: the claim
of the batch's ids failing (retried until it works, nothing dead-lettered),
and a row PostgreSQL refuses as data (SQLSTATE class 22: dead-lettered alone,
its files removed, the rest of its batch stored). Both are made with the
schema itself: the claim function renamed away, a column narrowed."""
import datetime
import os
import unittest

from harness import Stack, wait_until
from test_persist import P, enqueue, make_id, payload, rfc3339, stage, text


class CommitterFailures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=("persist",)).__enter__()
        cls.stack.wait_log("persist", "persist started as consumer")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def dead(self):
        return [text(v) for v in self.stack.redis("LRANGE", P + "q:persist:dead", 0, -1)]

    def test_claim_failure_is_retried(self):
        s = self.stack
        s.psql("ALTER FUNCTION imgcap_claim_ids(uuid[]) RENAME TO imgcap_claim_ids_away")
        renamed = True
        try:
            id_ = make_id()
            enqueue(s, id_, payload(id_, rfc3339(datetime.datetime.utcnow()), "claim fails"))
            wait_until(lambda: "failed (attempt 2)" in s.log("persist"), 20,
                       what="two failed commit attempts")
            log = s.log("persist")
            self.assertIn("postgres: commit of 1 rows (first id=%s) failed (attempt 1)" % id_, log)
            self.assertIn("imgcap_claim_ids: ERROR:  function imgcap_claim_ids", log)
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % id_), "0")
            s.psql("ALTER FUNCTION imgcap_claim_ids_away(uuid[]) RENAME TO imgcap_claim_ids")
            renamed = False
            s.wait_stored([id_], timeout=30)
            wait_until(lambda: "committed after" in s.log("persist"), 10, what="the retry's line")
            self.assertNotIn(id_, self.dead())
            self.assertEqual(stage(s, id_), "stored")
        finally:
            if renamed:
                s.psql("ALTER FUNCTION imgcap_claim_ids_away(uuid[]) RENAME TO imgcap_claim_ids")

    def test_row_refused_as_data_is_dead_lettered_alone(self):
        s = self.stack
        s.psql("ALTER TABLE images ALTER COLUMN width TYPE smallint")
        try:
            now = rfc3339(datetime.datetime.utcnow())
            bad, good = make_id(), make_id()
            # 40000 does not fit a smallint: "value out of range" (22003).
            enqueue(s, bad, payload(bad, now, "too wide for the column", width=40000))
            enqueue(s, good, payload(good, now, "fits"))
            s.wait_stored([good])
            wait_until(lambda: stage(s, bad) == "failed", 20, what="the dead letter")
            self.assertIn(bad, self.dead())
            self.assertNotIn(good, self.dead())
            reason = text(s.redis("HGET", P + "status:" + bad, "error"))
            self.assertIn("database refused the row", reason)
            self.assertIn("out of range", reason)
            # The batch's one INSERT is refused first; row by row then finds the row.
            self.assertIn("refused as data, inserting row by row", s.log("persist"))
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % bad), "0")
            # Its file, written before the insert, is removed: no orphan.
            day = os.path.join(s.storage_dir, now[:4], now[5:7], now[8:10])
            self.assertFalse(os.path.exists(os.path.join(day, bad + ".jpg")))
            self.assertTrue(os.path.exists(os.path.join(day, good + ".jpg")))
        finally:
            s.psql("ALTER TABLE images ALTER COLUMN width TYPE int")


if __name__ == "__main__":
    unittest.main()
