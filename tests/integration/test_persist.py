"""Integration tests of imgcap-persist against a real redis-server and PostgreSQL
(services/persist/README.md, Write path): exactly one row per id whatever the redeliveries,
the file at the row's path with the payload's bytes, acks only after both are
durable, transient PostgreSQL and disk failures retried, never dead-lettered.

Messages are put on q:persist directly (as render's handoff would), so these
tests need only the persist binary."""
import datetime
import glob
import json
import os
import random
import signal
import subprocess
import time
import unittest

from harness import BIN_DIR, ROOT, Stack, read_data, wait_until

JPEG = read_data("camera_674x480.jpg")
P = "imgcap:"


def make_id(ms=None):
    """A UUIDv7 string (time-ordered, as the API makes them)."""
    ms = int(time.time() * 1000) if ms is None else ms
    rand = random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0x2 << 62) | (rand & ((1 << 62) - 1))
    h = "%032x" % value
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def payload(id_, received_at, description, jpeg=JPEG, width=674, height=498):
    header = {"id": id_, "received_at": received_at, "description": description,
              "content_length": len(jpeg), "width": width, "height": height}
    return b"IMGCAP1\n" + json.dumps(header).encode() + b"\n" + jpeg


def enqueue(stack, id_, body):
    """What render's handoff does: payload key, id on the work list, status."""
    stack.redis("SET", P + "msg:persist:" + id_, body)
    stack.redis("HSET", P + "status:" + id_, "stage", "rendered")
    stack.redis("LPUSH", P + "q:persist", id_)


def text(value):
    """Bulk replies come back as bytes; None stays None."""
    return value.decode() if isinstance(value, bytes) else value


def stage(stack, id_):
    return text(stack.redis("HGET", P + "status:" + id_, "stage"))


def read_file(stack, rel):
    with open(os.path.join(stack.storage_dir, rel), "rb") as f:
        return f.read()


def temp_files(root):
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if f.startswith(".")]


def check_persist(stack):
    """Runs imgcap-persist --check with the stack's environment; returns its exit code."""
    env = dict(os.environ)
    env.update(stack.env)
    return subprocess.run([os.path.join(BIN_DIR, "imgcap-persist"), "--check"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


class PersistStoresOnce(unittest.TestCase):
    def test_row_file_and_ack(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            at = datetime.datetime(2026, 11, 28, 23, 59, 58, 789000)
            enqueue(s, id_, payload(id_, rfc3339(at), "Stau auf der A1 \u2014 K\u00f6ln"))
            paths = s.wait_stored([id_])
            self.assertEqual(paths[id_], "2026/11/28/%s.jpg" % id_)
            row = s.psql("SELECT description, width, height, bytes, "
                         "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') "
                         "FROM images WHERE id = '%s'" % id_)
            self.assertEqual(row, "Stau auf der A1 \u2014 K\u00f6ln|674|498|%d|"
                                  "2026-11-28T23:59:58.789" % len(JPEG))
            self.assertEqual(read_file(s, paths[id_]), JPEG)
            wait_until(lambda: stage(s, id_) == "stored", 10, what="status stored")
            wait_until(s.queues_at_rest, 10, what="queues at rest")
            self.assertEqual(s.redis("EXISTS", P + "msg:persist:" + id_), 0)
            self.assertEqual(temp_files(s.storage_dir), [])

    def test_redelivered_message_inserts_nothing(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            body = payload(id_, rfc3339(datetime.datetime.utcnow()), "first delivery")
            enqueue(s, id_, body)
            path = s.wait_stored([id_])[id_]
            wait_until(s.queues_at_rest, 10, what="first ack")
            stored_at = s.psql("SELECT stored_at FROM images WHERE id = '%s'" % id_)
            # The same message again (a redelivery), then twice on the list at
            # once so two workers race on the same file and row.
            enqueue(s, id_, body)
            wait_until(s.queues_at_rest, 20, what="redelivery acked")
            enqueue(s, id_, body)
            s.redis("LPUSH", P + "q:persist", id_)
            wait_until(s.queues_at_rest, 20, what="double delivery acked")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "1")
            self.assertEqual(s.psql("SELECT stored_at FROM images WHERE id = '%s'" % id_),
                             stored_at)
            self.assertEqual(read_file(s, path), JPEG)
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            self.assertEqual(stage(s, id_), "stored")
            self.assertEqual(temp_files(s.storage_dir), [])

    def test_committed_but_not_acked(self):
        # The state a SIGKILL between COMMIT and ack leaves: the row exists, the
        # message is still queued. Redelivery must keep the row and ack.
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            at = rfc3339(datetime.datetime.utcnow())
            day = at[:10].replace("-", "/")
            s.psql("INSERT INTO images (id, received_at, description, path, bytes, stored_at) "
                   "VALUES ('%s', '%s', 'committed before the crash', '%s/%s.jpg', %d, "
                   "'2020-01-01T00:00:00Z')" % (id_, at, day, id_, len(JPEG)))
            enqueue(s, id_, payload(id_, at, "committed before the crash"))
            wait_until(lambda: stage(s, id_) == "stored", 20, what="redelivery acked")
            self.assertEqual(s.psql("SELECT count(*), min(stored_at) FROM images"),
                             "1|2020-01-01 00:00:00+00")
            self.assertEqual(read_file(s, "%s/%s.jpg" % (day, id_)), JPEG)

    def test_sigkill_after_commit_before_ack(self):
        # Rows committed while Redis is down cannot be acked; SIGKILL persist
        # then, bring Redis back (its AOF has every message) and restart: the
        # reaper hands the killed consumer's ids to the new one, which rewrites
        # the same files and inserts nothing.
        with Stack(services=("persist",)) as s:
            ids = [make_id() for _ in range(20)]
            now = rfc3339(datetime.datetime.utcnow())
            # Persist prepares the schema before it consumes: stopping
            # PostgreSQL earlier would keep it from ever taking a message.
            s.wait_log("persist", "persist started as consumer")
            s.stop_pg_server()
            for i, id_ in enumerate(ids):
                enqueue(s, id_, payload(id_, now, "image %d" % i))
            # Every file written means every message is in persist's memory (an
            # empty work list alone does not: a taken batch may still be loading).
            # Written, not yet renamed: the committer renames a batch's files
            # once it has synced them, and waits on PostgreSQL with the first
            # batch, so the later ones are still temp files.
            day = os.path.join(s.storage_dir, now[:4], now[5:7], now[8:10])
            wait_until(lambda: len(glob.glob(os.path.join(day, "*.jpg")) +
                                   glob.glob(os.path.join(day, ".*.jpg.*"))) == 20, 20,
                       what="all taken by persist and written")
            s.kill_redis()
            s.start_pg_server()
            wait_until(lambda: s.psql("SELECT count(*) FROM images") == "20", 30,
                       what="rows committed while Redis is down")
            stored_at = s.psql("SELECT string_agg(stored_at::text, ',' ORDER BY id) FROM images")
            s.kill_service("persist")
            s.start_redis()
            self.assertEqual(s.redis("LLEN", P + "q:persist"), 0)
            self.assertEqual({stage(s, i) for i in ids}, {"persisting"})
            s.start_service("persist")
            wait_until(lambda: all(stage(s, i) == "stored" for i in ids), 60,
                       what="redelivered ids acked")
            wait_until(s.queues_at_rest, 30, what="queues at rest")
            self.assertIn("redelivered", s.log("persist"))
            self.assertEqual(s.psql("SELECT count(*), count(DISTINCT id) FROM images"), "20|20")
            self.assertEqual(
                s.psql("SELECT string_agg(stored_at::text, ',' ORDER BY id) FROM images"),
                stored_at)
            for id_, path in s.wait_stored(ids).items():
                self.assertEqual(read_file(s, path), JPEG)
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            self.assertEqual(temp_files(s.storage_dir), [])

    def test_sigkill_under_load_then_restart(self):
        with Stack(services=("persist",)) as s:
            ids = [make_id() for _ in range(150)]
            now = rfc3339(datetime.datetime.utcnow())
            for i, id_ in enumerate(ids):
                enqueue(s, id_, payload(id_, now, "image %d" % i))
            wait_until(lambda: int(s.psql("SELECT count(*) FROM images")) >= 10, 30,
                       what="some rows")
            s.kill_service("persist")
            s.start_service("persist")
            paths = s.wait_stored(ids, timeout=90)
            wait_until(s.queues_at_rest, 30, what="queues at rest")
            self.assertEqual(s.psql("SELECT count(*), count(DISTINCT id) FROM images"),
                             "150|150")
            for id_ in ids:
                self.assertEqual(read_file(s, paths[id_]), JPEG)
                self.assertEqual(stage(s, id_), "stored")
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)

    def test_storage_sync_filesystem_kill_and_restart(self):
        """STORAGE_SYNC=filesystem: the workers leave their temp files open,
        the committer makes a batch's files durable with one syncfs, renames
        them and fsyncs the directory. Exactly one row and one whole file per
        id across a SIGKILL, and no temp file left once all are stored."""
        with Stack(services=("persist",), env={"STORAGE_SYNC": "filesystem"}) as s:
            s.wait_log("persist", "(one syncfs per batch)")
            ids = [make_id() for _ in range(60)]
            now = rfc3339(datetime.datetime.utcnow())
            for i, id_ in enumerate(ids):
                enqueue(s, id_, payload(id_, now, "image %d" % i))
            wait_until(lambda: int(s.psql("SELECT count(*) FROM images")) >= 5, 30,
                       what="some rows")
            s.kill_service("persist")
            interrupted = set(temp_files(s.storage_dir))
            s.start_service("persist")
            paths = s.wait_stored(ids, timeout=90)
            wait_until(s.queues_at_rest, 30, what="queues at rest")
            self.assertEqual(s.psql("SELECT count(*), count(DISTINCT id) FROM images"), "60|60")
            for id_ in ids:
                self.assertEqual(read_file(s, paths[id_]), JPEG)
            # The kill may leave the temp files of writes it interrupted (the
            # sweep removes them once old); the restarted persist leaves none.
            self.assertEqual(set(temp_files(s.storage_dir)) - interrupted, set())

    def test_old_temp_files_swept_at_start(self):
        """A write interrupted by a crash leaves its temp file; the next start
        removes it once it is old enough, and keeps a young one (another
        persist's write in progress on the same volume)."""
        with Stack(services=()) as s:
            day = os.path.join(s.storage_dir, "2026", "11", "28")
            os.makedirs(day)
            old = os.path.join(day, ".%s.jpg.Ab12Cd" % make_id())
            young = os.path.join(day, ".%s.jpg.Zz34Yx" % make_id())
            for path in (old, young):
                with open(path, "wb") as f:
                    f.write(JPEG[:1000])
            an_hour_ago = time.time() - 3600
            os.utime(old, (an_hour_ago, an_hour_ago))
            s.start_service("persist")
            wait_until(lambda: not os.path.exists(old), 30, what="the old temp file swept")
            self.assertTrue(os.path.exists(young))
            wait_until(lambda: "sweep: removed 1 temp files" in s.log("persist"), 10,
                       what="the sweep logged")
            self.assertEqual(s.stop_service("persist"), 0)


class PersistSurvivesFailures(unittest.TestCase):
    def test_postgres_down_then_back(self):
        with Stack(services=("persist",)) as s:
            before = [make_id() for _ in range(5)]
            now = rfc3339(datetime.datetime.utcnow())
            for id_ in before:
                enqueue(s, id_, payload(id_, now, "before"))
            s.wait_stored(before)
            s.stop_pg_server()
            during = [make_id() for _ in range(20)]
            for id_ in during:
                enqueue(s, id_, payload(id_, now, "while postgres is down"))
            wait_until(lambda: "commit of" in s.log("persist") and "failed" in s.log("persist"),
                       20, what="a logged commit failure")
            # Nothing is acked while its row cannot be committed.
            self.assertTrue(all(stage(s, i) != "stored" for i in during))
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            time.sleep(3)
            s.start_pg_server()
            s.wait_stored(during, timeout=60)
            wait_until(s.queues_at_rest, 30, what="queues at rest")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "25")
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            for id_ in during:
                self.assertEqual(stage(s, id_), "stored")

    def test_unwritable_storage_retried(self):
        with Stack(services=("persist",)) as s:
            id_ = make_id()
            at = rfc3339(datetime.datetime.utcnow())
            # A file where the year directory should be: mkdir fails even as root.
            blocker = os.path.join(s.storage_dir, at[:4])
            with open(blocker, "w") as f:
                f.write("not a directory")
            enqueue(s, id_, payload(id_, at, "disk trouble"))
            wait_until(lambda: s.log("persist").count("id=%s writing" % id_) >= 2, 20,
                       what="logged write retries")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), "0")
            self.assertNotEqual(stage(s, id_), "failed")
            os.unlink(blocker)
            path = s.wait_stored([id_], timeout=30)[id_]
            self.assertEqual(read_file(s, path), JPEG)
            wait_until(s.queues_at_rest, 10, what="ack")
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)

    def test_undecodable_payload_dead_lettered(self):
        with Stack(services=("persist",)) as s:
            bad, good = make_id(), make_id()
            enqueue(s, bad, b"IMGCAP1\n{not json}\n\xff\xd8")
            enqueue(s, good, payload(good, rfc3339(datetime.datetime.utcnow()), "fine"))
            s.wait_stored([good])
            wait_until(lambda: stage(s, bad) == "failed", 10, what="dead letter")
            self.assertIn(bad, [text(v) for v in s.redis("LRANGE", P + "q:persist:dead", 0, -1)])
            self.assertIn("undecodable", text(s.redis("HGET", P + "status:" + bad, "error")))
            self.assertEqual(s.psql("SELECT count(*) FROM images WHERE id = '%s'" % bad), "0")
            # logged once (the log file alone: stderr has a copy), at WARN, with the reason
            with open(os.path.join(s.log_dir, "persist.log"), errors="replace") as f:
                lines = [l for l in f.read().splitlines() if "id=%s " % bad in l
                         and " DEBUG " not in l]
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(" WARN ", lines[0])
            self.assertIn("dead-lettered from persist: undecodable payload", lines[0])


class PersistLifecycle(unittest.TestCase):
    def test_check_sigterm_and_existing_schema(self):
        with Stack(services=()) as s:
            # A database set up by the postgres image's initdb scripts: the
            # schema exists but schema_migrations does not.
            s.apply_schema()
            self.assertEqual(check_persist(s), 1)
            s.start_service("persist")
            wait_until(lambda: check_persist(s) == 0, 20, what="--check healthy")
            scripts = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "deploy", "sql"))
                             if f.endswith(".sql"))
            self.assertEqual(s.psql("SELECT string_agg(version, ',' ORDER BY version) "
                                    "FROM schema_migrations"), ",".join(scripts))
            id_ = make_id()
            enqueue(s, id_, payload(id_, rfc3339(datetime.datetime.utcnow()), "x"))
            s.wait_stored([id_])
            self.assertEqual(s.stop_service("persist", signal.SIGTERM), 0)
            self.assertIn("persist stopped", s.log("persist"))
            # The schema scripts' NOTICEs ("already exists, skipping") are not
            # printed raw (they go to the log at DEBUG), and the image has
            # its INFO line.
            self.assertNotIn("NOTICE:", s.log("persist"))
            self.assertIn("id=%s stored at " % id_, s.log("persist"))
            # Graceful stop removed this consumer's heartbeat.
            self.assertEqual(check_persist(s), 1)
            # A second start finds nothing to migrate.
            s.start_service("persist")
            wait_until(lambda: check_persist(s) == 0, 20, what="--check healthy again")
            self.assertEqual(s.psql("SELECT count(*) FROM schema_migrations"), str(len(scripts)))

    def test_sigterm_while_postgres_down_returns_work(self):
        with Stack(services=("persist",)) as s:
            s.wait_log("persist", "persist started as consumer")
            s.stop_pg_server()
            ids = [make_id() for _ in range(8)]
            now = rfc3339(datetime.datetime.utcnow())
            for id_ in ids:
                enqueue(s, id_, payload(id_, now, "held while postgres is down"))
            wait_until(lambda: s.redis("LLEN", P + "q:persist") == 0, 20,
                       what="all taken by persist")
            # SHUTDOWN_SECONDS=5: the committer gives up its retries at the
            # deadline and the consumer returns the ids to the work list.
            self.assertEqual(s.stop_service("persist", signal.SIGTERM), 0)
            self.assertEqual(s.redis("LLEN", P + "q:persist"), len(ids))
            self.assertEqual(s.redis("KEYS", P + "q:persist:processing:*"), [])
            self.assertEqual(s.redis("LLEN", P + "q:persist:dead"), 0)
            s.start_pg_server()
            s.start_service("persist")
            s.wait_stored(ids)
            wait_until(s.queues_at_rest, 20, what="queues at rest")
            self.assertEqual(s.psql("SELECT count(*) FROM images"), str(len(ids)))


if __name__ == "__main__":
    unittest.main()
