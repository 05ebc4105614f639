"""Nothing lost, nothing twice: fault injection on the real pipeline.

Every test checks the same invariant at rest: each upload that got a 202 is
stored exactly once (one row, one file) or dead-lettered with a reason, and the
work and processing lists are empty."""
import glob
import os
import re
import signal
import subprocess
import threading
import time
import unittest

from harness import BIN_DIR as BIN, Stack, read_data, wait_until

JPEGS = [read_data(n) for n in ("camera_674x480.jpg", "camera_640x480_progressive.jpg",
                                "camera_674x480_gray.jpg")]

# A fresh pid namespace (the service is its pid 1) with its own /proc, as in a
# container; the service dies with unshare.
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]


def namespace_init(proc):
    """The pid (outside) of the first child of an `unshare --fork` process."""
    def child():
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    return wait_until(child, 10, what="the namespace's first process")


class Burst:
    """Uploads n images from `threads` threads; records the ids that got 202."""

    def __init__(self, stack, n, threads=6, pause=0.0):
        self.stack, self.n, self.threads, self.pause = stack, n, threads, pause
        self.accepted, self.refused, self.errors = [], 0, 0
        self.refusals = {}  # (status, problem type) -> count
        self.lock = threading.Lock()
        self.next = 0
        self.workers = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        while True:
            with self.lock:
                if self.next >= self.n:
                    return
                i = self.next
                self.next += 1
            try:
                r = self.stack.upload(JPEGS[i % len(JPEGS)], "снимок %d" % i)
                with self.lock:
                    if r.status == 202:
                        self.accepted.append(r.json()["id"])
                    else:
                        self.refused += 1
                        kind = r.json().get("type") if r.body else None
                        self.refusals[(r.status, kind)] = self.refusals.get((r.status, kind), 0) + 1
            except OSError:
                with self.lock:
                    self.errors += 1
            if self.pause:
                time.sleep(self.pause)

    def start(self):
        for t in self.workers:
            t.start()
        return self

    def join(self):
        for t in self.workers:
            t.join()
        return self

    def running(self):
        return any(t.is_alive() for t in self.workers)


def reclaimed(s):
    """How many in-flight ids render's new incarnation says it reclaimed from
    dead predecessors (0 before it says so). At least what the test counted
    when it killed the old one: a take the dead process had sent (a BLMOVE
    waiting at Redis, a script in its socket) can still move an id into its
    list after the count, and that id comes back the same way."""
    found = re.findall(r"reclaimed (\d+) in-flight ids", s.log("render"))
    return max((int(n) for n in found), default=0)


class ReliabilityTest(unittest.TestCase):
    def assert_exactly_once(self, s, accepted, timeout=120):
        self.assertTrue(accepted, "no upload was accepted")
        dead = set()

        def settled():
            rows = s.psql("SELECT id FROM images")
            stored = set(rows.split()) if rows else set()
            dead.clear()
            for q in ("render", "persist"):
                dead.update(x.decode() for x in s.redis("LRANGE", "imgcap:q:%s:dead" % q, 0, -1))
            return all(i in stored or i in dead for i in accepted) and s.queues_at_rest()
        wait_until(settled, timeout, interval=0.5, what="every accepted upload settled")
        counts = s.psql("SELECT id, count(*) FROM images GROUP BY id HAVING count(*) > 1")
        self.assertEqual(counts, "", "duplicate rows")
        # One query for every path: a psql per id is slow on a loaded machine.
        rows = s.psql("SELECT id, path FROM images")
        paths = dict(line.split("|", 1) for line in rows.splitlines() if line)
        for i in accepted:
            if i in dead:
                st = s.redis("HGET", "imgcap:status:" + i, "error")
                self.assertTrue(st, "dead-lettered %s without a reason" % i)
                continue
            files = glob.glob(os.path.join(s.storage_dir, "*", "*", "*", i + ".jpg"))
            self.assertEqual(len(files), 1, "id %s has %d files" % (i, len(files)))
            self.assertTrue(os.path.samefile(os.path.join(s.storage_dir, paths[i]), files[0]))
            with open(files[0], "rb") as f:
                self.assertEqual(f.read(2), b"\xff\xd8")
        return dead

    def test_kill9_render_persist_and_redis_mid_burst(self):
        with Stack() as s:
            burst = Burst(s, 300, pause=0.005).start()
            plan = [("render", 0.8), ("persist", 1.6), ("redis", 2.4), ("render", 3.2),
                    ("persist", 4.0)]
            t0 = time.monotonic()
            for what, at in plan:
                time.sleep(max(0, t0 + at - time.monotonic()))
                if what == "redis":
                    s.kill_redis()
                    time.sleep(0.5)
                    s.start_redis()
                else:
                    self.assertEqual(s.kill_service(what), -signal.SIGKILL)
                    s.start_service(what)
            burst.join()
            dead = self.assert_exactly_once(s, burst.accepted)
            self.assertEqual(dead, set(), "healthy images were dead-lettered")
            print("\n  kill -9 burst: accepted %d, refused %d, errors %d, stored %d, dead %d"
                  % (len(burst.accepted), burst.refused, burst.errors,
                     len(burst.accepted) - len(dead), len(dead)))

    def test_postgres_outage_mid_burst(self):
        with Stack() as s:
            burst = Burst(s, 200, pause=0.06).start()  # about 2 s of uploads
            time.sleep(0.5)
            s.stop_pg_server()
            time.sleep(4)
            during = len(burst.accepted)
            s.start_pg_server()
            burst.join()
            self.assertGreater(during, 20, "the burst did not overlap the outage")
            dead = self.assert_exactly_once(s, burst.accepted)
            self.assertEqual(dead, set(), "a database outage must not dead-letter anything")
            self.assertIn("retry", s.log("persist").lower())

    def report(self, what, s, burst, dead):
        """The figures of a fault test (printed: the run's output keeps them)."""
        stored = int(s.psql("SELECT count(*) FROM images"))
        print("\n  %s: accepted %d, refused %d %s, stored %d, duplicates 0, dead-lettered %d"
              % (what, len(burst.accepted), burst.refused, burst.refusals or "", stored, len(dead)))

    def test_redis_at_maxmemory_mid_burst(self):
        """Redis at maxmemory with noeviction refuses every write that would
        grow it: the api answers 503 queue-memory-full (nothing queued),
        /health says so, and everything accepted is stored once memory frees."""
        with Stack() as s:
            self.assertEqual(s.redis("CONFIG", "GET", "maxmemory-policy")[1], b"noeviction")
            burst = Burst(s, 150, pause=0.02).start()
            try:
                wait_until(lambda: len(burst.accepted) >= 20, 60, what="uploads before the fault")
                s.redis("CONFIG", "SET", "maxmemory", "1")  # under any used memory: full
                r = s.upload(JPEGS[0], "while Redis is full")
                self.assertEqual(r.status, 503, r.body)
                doc = r.json()
                self.assertEqual(doc["type"], "urn:imgcap:problem:queue-memory-full")
                self.assertIn("memory", doc["detail"])
                self.assertIn("retry later", doc["detail"])
                self.assertEqual(r.header("Retry-After"), "10")
                h = s.request("GET", "/health")
                self.assertEqual(h.status, 200, h.body)  # reads still work
                self.assertEqual(h.json()["status"], "degraded")
                self.assertEqual(h.json()["redis_memory"]["status"], "full")
                self.assertIn("maxmemory", h.json()["redis_memory"]["reason"])
                # The burst meets the full Redis too, then memory is freed.
                wait_until(lambda: burst.refused >= 5 or not burst.running(), 60,
                           what="refusals in the burst")
            finally:
                s.redis("CONFIG", "SET", "maxmemory", "0")
            burst.join()
            self.assertIn("OOM command not allowed", s.log("api"))
            after = s.upload(JPEGS[1], "after Redis had room again")
            self.assertEqual(after.status, 202, after.body)
            h = s.request("GET", "/health").json()
            self.assertEqual((h["status"], h["redis_memory"]["status"]), ("ok", "ok"))
            refused = {k: v for k, v in burst.refusals.items()}
            self.assertEqual(set(refused), {(503, "urn:imgcap:problem:queue-memory-full")},
                             "every refusal says why")
            dead = self.assert_exactly_once(s, burst.accepted + [after.json()["id"]])
            self.assertEqual(dead, set(), "a full Redis must not dead-letter anything")
            self.report("Redis at maxmemory", s, burst, dead)

    def test_postgres_read_only_mid_burst(self):
        """PostgreSQL refusing writes (default_transaction_read_only, as on a
        replica not yet promoted) for a stretch mid-burst: persist retries
        with a message that says why and stores everything afterwards. The
        stretch is IMGCAP_TEST_READ_ONLY_SECONDS (default 10)."""
        seconds = float(os.environ.get("IMGCAP_TEST_READ_ONLY_SECONDS", "10"))
        with Stack() as s:
            burst = Burst(s, 300, pause=0.05).start()
            try:
                wait_until(lambda: len(burst.accepted) >= 20, 60, what="uploads before the fault")
                s.psql("ALTER SYSTEM SET default_transaction_read_only = on")
                s.psql("SELECT pg_reload_conf()")
                wait_until(lambda: "read-only transaction" in s.log("persist"), 30,
                           what="persist's refused insert")
                before = int(s.psql("SELECT count(*) FROM images"))
                time.sleep(seconds)  # the outage, not a threshold: nothing is timed
                during = len(burst.accepted)
                self.assertEqual(int(s.psql("SELECT count(*) FROM images")), before,
                                 "rows were inserted into a read-only database")
            finally:
                s.psql("ALTER SYSTEM RESET default_transaction_read_only")
                s.psql("SELECT pg_reload_conf()")
            burst.join()
            self.assertGreater(during, 20, "the burst did not overlap the read-only stretch")
            dead = self.assert_exactly_once(s, burst.accepted)
            self.assertEqual(dead, set(), "a read-only database must not dead-letter anything")
            self.assertIn("retrying", s.log("persist"))
            self.report("PostgreSQL read-only %gs" % seconds, s, burst, dead)

    def test_storage_unwritable_mid_burst(self):
        """STORAGE_DIR unwritable mid-burst, then writable again: persist
        retries each write with the reason, stores everything afterwards.
        Tests may run as root, whom permissions do not stop, so the year
        directory is moved aside and a file takes its name (as
        test_persist's test_unwritable_storage_retried does): every mkdir and
        open under it fails (ENOTDIR) whoever runs persist."""
        with Stack() as s:
            burst = Burst(s, 150, pause=0.03).start()
            try:
                wait_until(lambda: s.psql("SELECT count(*) FROM images") not in ("", "0"), 60,
                           what="a stored image (the year directory exists)")
                year = s.psql("SELECT split_part(path, '/', 1) FROM images LIMIT 1")
                ydir = os.path.join(s.storage_dir, year)
                os.rename(ydir, ydir + ".aside")
                with open(ydir, "w") as f:
                    f.write("not a directory")
                try:
                    wait_until(lambda: s.log("persist").count("Not a directory") >= 3, 60,
                               what="persist's failed writes")
                    during = len(burst.accepted)
                finally:
                    os.unlink(ydir)
                    os.rename(ydir + ".aside", ydir)
            finally:
                burst.join()
            self.assertGreater(during, 20, "the burst did not overlap the fault")
            dead = self.assert_exactly_once(s, burst.accepted)
            self.assertEqual(dead, set(), "an unwritable disk must not dead-letter anything")
            self.assertRegex(s.log("persist"), r"writing \S+ failed \(attempt \d+\), retrying")
            self.report("storage unwritable", s, burst, dead)

    def test_poison_messages_go_to_dead_list(self):
        with Stack() as s:
            # Not a wire payload at all, injected behind the api's back.
            bad_id = "0192f0c8-1234-7abc-8def-0123456789ab"
            s.redis("SET", "imgcap:msg:render:" + bad_id, b"\x00garbage")
            s.redis("LPUSH", "imgcap:q:render", bad_id)
            # A JPEG that passes the api's signature check but cannot be decoded.
            r = s.upload(read_data("truncated.jpg"), "обрезанный файл")
            self.assertEqual(r.status, 202)
            corrupt = r.json()["id"]
            good = s.upload(JPEGS[0], "после яда").json()["id"]
            s.wait_stored([good])
            wait_until(lambda: s.redis("LLEN", "imgcap:q:render:dead") == 2, 20,
                       what="two dead-lettered messages")
            for i in (bad_id, corrupt):
                self.assertEqual(s.redis("HGET", "imgcap:status:" + i, "stage"), b"failed")
                self.assertTrue(s.redis("HGET", "imgcap:status:" + i, "error"))
                self.assertIn(i, s.log("render"))
            r = s.request("GET", "/api/images/" + corrupt)
            self.assertEqual(r.status, 422)
            self.assertEqual((r.json()["status"], r.json()["state"]), (422, "failed"))
            self.assertTrue(s.queues_at_rest())

    def test_delivery_cap_dead_letters_a_message_that_never_finishes(self):
        with Stack(env={"MAX_ATTEMPTS": "3"}) as s:
            s.stop_service("render")
            r = s.upload(JPEGS[0], "крах")
            i = r.json()["id"]
            # As if three workers had taken it and died before finishing.
            s.redis("HSET", "imgcap:attempts:render", i, 3)
            s.start_service("render")
            wait_until(lambda: s.redis("HGET", "imgcap:status:" + i, "stage") == b"failed", 20,
                       what="dead-letter after MAX_ATTEMPTS")
            self.assertIn(b"deliveries", s.redis("HGET", "imgcap:status:" + i, "error"))
            self.assertEqual(s.redis("LRANGE", "imgcap:q:render:dead", 0, -1), [i.encode()])
            # No worker ever saw it: the take that dead-lettered it logs it, once.
            line = "id=%s dead-lettered from render: gave up after 3 deliveries" % i
            wait_until(lambda: line in s.log("render"), 10, what="the dead letter's log line")
            with open(os.path.join(s.log_dir, "render.log"), errors="replace") as f:
                lines = [l for l in f.read().splitlines() if "id=%s dead-lettered" % i in l]
            self.assertEqual(len(lines), 1, lines)  # the log file alone: stderr has a copy
            self.assertIn(" WARN ", lines[0])

    def test_stalled_consumer_past_its_lease(self):
        with Stack(env={"LEASE_SECONDS": "2"}) as s:
            render = s.procs["render"]
            s.stop_service("persist")
            burst = Burst(s, 40, pause=0.005).start()

            # Hung while it holds work (checked while it is stopped, so the
            # list cannot change under us); its heartbeat stops too.
            def stopped_holding():
                render.send_signal(signal.SIGSTOP)
                lists = s.redis("KEYS", "imgcap:q:render:processing:*")
                held = [i.decode() for k in lists for i in s.redis("LRANGE", k, 0, -1)]
                if not held:
                    render.send_signal(signal.SIGCONT)
                    time.sleep(0.02)
                return held
            held = wait_until(stopped_holding, 60, interval=0, what="render holding ids")
            burst.join()
            more = [s.upload(JPEGS[k % 3], "stall %d" % k).json()["id"] for k in range(10)]
            s.start_service("render", extra_env={"CONSUMER_NAME": "second"})
            s.procs["render-2"] = s.procs.pop("render")
            s.procs["render"] = render
            s.start_service("persist")
            # The reaper gave the stalled render's ids to the second one, which
            # got them stored while the first is still stopped: without a
            # reaper they would wait for the first to resume.
            s.wait_stored(held + more, timeout=60)
            self.assertEqual(render.poll(), None, "the stalled render is still there")
            render.send_signal(signal.SIGCONT)
            self.assert_exactly_once(s, burst.accepted + more)

    # -- a crashed consumer restarted under the same identity (container restart) --

    def in_flight(self, s):
        return sum(s.redis("LLEN", k) for k in s.redis("KEYS", "imgcap:q:render:processing:*"))

    def crash_holding_work(self, s, pid):
        """SIGKILLs render process `pid` at a moment it holds ids in flight (checked
        while it is stopped, so the count cannot change under us); returns them."""
        def stopped_holding():
            os.kill(pid, signal.SIGSTOP)
            n = self.in_flight(s)
            if n == 0:
                os.kill(pid, signal.SIGCONT)
                time.sleep(0.02)
            return n
        n = wait_until(stopped_holding, 60, interval=0, what="render to hold ids in flight")
        os.kill(pid, signal.SIGKILL)
        return n

    def restart_mid_burst(self, s, kill, start):
        """An upload burst during which render dies holding work and is started
        again at once. LEASE_SECONDS is longer than the test: the lease reaper
        cannot be what brings the stranded ids back, only the new incarnation."""
        burst = Burst(s, 80, pause=0.005).start()
        try:
            stranded = kill()
            start()
        finally:
            burst.join()
        self.assertGreater(stranded, 0)
        self.assert_exactly_once(s, burst.accepted)
        return stranded

    def test_restarted_consumer_gets_its_predecessors_work_back(self):
        env = {"LEASE_SECONDS": "3600", "RENDER_WORKERS": "1"}
        with Stack(env=env) as s:
            # A supervisor (deploy/local.sh, systemd) restarts it on this host: a new
            # pid, the dead one's pid no longer running here.
            def kill():
                n = self.crash_holding_work(s, s.procs["render"].pid)
                s.procs.pop("render").wait()
                return n
            stranded = self.restart_mid_burst(s, kill, lambda: s.start_service("render"))
            wait_until(lambda: reclaimed(s) >= stranded, 10, what="the reclaim logged")
            # The same with CONSUMER_NAME, which used to be the whole consumer name: the
            # restarted process took over the dead one's heartbeat and never saw its
            # processing list again.
            named = {"CONSUMER_NAME": "camera-7-render"}
            self.assertEqual(s.stop_service("render"), 0)
            s.start_service("render", extra_env=named)
            self.restart_mid_burst(s, kill, lambda: s.start_service("render", extra_env=named))
            # --check still finds the live consumer of that name, and only it.
            live = [n.decode() for n in s.redis("ZRANGE", "imgcap:consumers:render", 0, -1)]
            self.assertEqual(len(live), 1, live)
            self.assertTrue(live[0].startswith("camera-7-render-"), live)
            check = [os.path.join(BIN, "imgcap-render"), "--check"]
            p = subprocess.run(check, env=dict(os.environ, **s.env, **named),
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_restarted_container_gets_its_predecessors_work_back(self):
        """What `restart: unless-stopped` and `init: true` do: the same hostname, a
        fresh pid namespace in which the service has the same pid as before."""
        probe = subprocess.run(UNSHARE + ["true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("cannot create a pid namespace here: %s" % probe.stderr.decode())
        with Stack(env={"LEASE_SECONDS": "3600", "RENDER_WORKERS": "1"}) as s:
            s.stop_service("render")
            first = s.start_service("render", wrap=UNSHARE)
            stranded = self.restart_mid_burst(
                s, lambda: self.crash_holding_work(s, namespace_init(first)),
                lambda: s.start_service("render", wrap=UNSHARE))
            first.wait()
            names = [n.decode() for n in s.redis("ZRANGE", "imgcap:consumers:render", 0, -1)]
            self.assertEqual(len(names), 1, names)
            self.assertGreaterEqual(reclaimed(s), stranded, s.log("render"))
            # Stop the namespace's init (unshare itself ignores SIGTERM).
            os.kill(namespace_init(s.procs["render"]), signal.SIGTERM)
            self.assertEqual(s.stop_service("render"), 0)

    def test_sigterm_returns_in_flight_work(self):
        with Stack(env={"RENDER_WORKERS": "1"}) as s:
            s.stop_service("persist")
            ids = [s.upload(JPEGS[k % 3], "term %d" % k).json()["id"] for k in range(40)]
            t0 = time.monotonic()
            self.assertEqual(s.stop_service("render"), 0)
            self.assertLess(time.monotonic() - t0, 5 + 2)  # SHUTDOWN_SECONDS + slack
            s.start_service("render")
            s.start_service("persist")
            self.assert_exactly_once(s, ids)


if __name__ == "__main__":
    unittest.main()
