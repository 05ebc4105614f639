"""The Docker deployment run as users run it: `docker compose up` in the
repository root with the project's own docker-compose.yml, compose.override.yml
(Compose always loads it) and deploy/Dockerfile, driven through the Docker API
(tests/deploy/engine.py). One stack, scenarios in order:

  01 five containers healthy, only the api published
  02 an upload stored and fetched
  03 each service's log file written, read and rotated with docs/operations.md's commands
  04-07 render, persist, redis, postgres crashed during a burst (every process
        but the container's init SIGKILLed) and restarted by their restart policy
  08 --scale render=3 --scale persist=2: every replica takes part
  09 `compose stop` during a burst, then `up`: graceful exits, nothing lost
  10 `down` then `up`: every image and row kept
  11 DELETE with API_TOKEN set: 401 without the token, 204 with it; the row,
     the image and its thumbnail gone (the files removed by persist's janitor)
  12 RETENTION=12s: every image older than that deleted (row, file, thumbnail),
     a new one kept until it is 12 s old, then deleted too

After each burst every 202 id must be stored exactly once: one row in PostgreSQL,
one file in the images volume, listed once by GET /api/images, nothing
dead-lettered. Burst clients send an Idempotency-Key with each upload and retry
it with that key until answered (a lost answer, 503, 409): every key is stored
exactly once, and no row exists that no key accounts for. Environment overrides only (API_PORT, LEASE_SECONDS, LOG_LEVEL,
IMGCAP_IMAGE); the compose files are used unchanged.

The engine: DOCKER_HOST, else /var/run/docker.sock, else the podman socket of
../shared/containers/setup.sh (tests/deploy/engine.py). IMGCAP_KEEP_STACK=1
leaves the stack up for inspection."""
import collections
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import engine  # noqa: E402
import harness  # noqa: E402

ROOT = engine.ROOT
OWN = ("api", "render", "persist")
SERVICES = OWN + ("redis", "postgres")
IMAGE = os.environ.get("IMGCAP_TEST_IMAGE", "imgcap:compose-test")
LEASE = 5
SCALE = ["--scale", "render=3", "--scale", "persist=2"]
JPEG = harness.read_data("camera_674x480.jpg")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def log(msg):
    print("[compose %6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


T0 = time.monotonic()


class Burst:
    """Uploads from a few threads until stopped; keeps every 202 id. Each upload
    has its own Idempotency-Key and is retried with it (same description, same
    key) after a request that failed in transport, a 503 or a 409, until it is
    answered: an upload whose answer was lost is then answered by its retry,
    never stored twice. One still unanswered when the burst stops is retried by
    resolve()."""

    def __init__(self, port, tag, threads=4, pause=0.1):
        self.port = port
        self.tag = tag
        self.pause = pause  # per thread, between uploads: about 40 a second in all
        self.ids = []
        self.keys = {}  # description -> key of every upload tried
        self.codes = collections.Counter()
        self.unknown = 0  # requests sent whose answer never came (each retried)
        self.replayed = 0  # 202s with Idempotent-Replayed: a retry of a try that was stored
        self.pending = []  # (description, key) unanswered when the burst stopped
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)

    def accepted(self):
        with self.lock:
            return len(self.ids)

    def wait_accepted(self, n, timeout=120):
        try:
            harness.wait_until(lambda: self.accepted() >= n, timeout, interval=0.1)
        except TimeoutError:
            raise AssertionError("burst %s: %d of %d uploads accepted in %d s, answers %s, "
                                 "%d without answer" % (self.tag, self.accepted(), n, timeout,
                                                        dict(self.codes), self.unknown))

    def _try(self, description, key):
        """One request: True once the upload is answered for good."""
        body, ctype = harness.multipart([
            ("image", JPEG, "photo.jpg", "image/jpeg"),
            ("description", description.encode(), None, None)])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/api/images", body=body,
                         headers={"Content-Type": ctype, "Idempotency-Key": key})
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            # Sent or not, the key makes the retry safe.
            with self.lock:
                self.unknown += 1
            return False
        finally:
            conn.close()
        with self.lock:
            self.codes[r.status] += 1
            if r.status == 202:
                self.ids.append(json.loads(data)["id"])
                self.replayed += r.getheader("Idempotent-Replayed") == "true"
        return r.status not in (503, 409)

    def _run(self, worker):
        seq = 0
        while not self.stopping.is_set():
            seq += 1
            description = "%s %d.%d" % (self.tag, worker, seq)
            key = str(uuid.uuid4())
            with self.lock:
                self.keys[description] = key
            while not self._try(description, key):
                if self.stopping.is_set():
                    with self.lock:
                        self.pending.append((description, key))
                    return
                time.sleep(0.2)
            time.sleep(self.pause)

    def resolve(self, timeout=120):
        """Retries the uploads left unanswered at stop() until answered."""
        for description, key in self.pending:
            harness.wait_until(lambda d=description, k=key: self._try(d, k), timeout,
                               interval=0.2, what="an answer for %s" % description)
        self.pending = []


class ComposeStack(unittest.TestCase):
    """Scenarios share one stack and run in name order."""

    @classmethod
    def setUpClass(cls):
        cls.engine = engine.find_engine()
        cls.project = "imgcaptest%s" % uuid.uuid4().hex[:8]
        cls.port = harness.free_port()
        cls.env = dict(os.environ)
        cls.env.update({"DOCKER_HOST": cls.engine.host, "API_PORT": str(cls.port),
                        "IMGCAP_IMAGE": IMAGE, "LEASE_SECONDS": str(LEASE),
                        # debug: per-id lines in each container's output show
                        # which replica did the work (scenario 08).
                        "LOG_LEVEL": "debug"})
        cls.compose_argv = engine.compose_command(cls.env) + ["-p", cls.project]
        cls.accepted = set()    # every 202 id of the run
        cls.stored = set()      # ids proven stored, for the final checks
        cls.scale = []
        log("engine %s, compose %s, project %s, api port %d"
            % (cls.engine.host, " ".join(cls.compose_argv[:-2]), cls.project, cls.port))
        t = time.monotonic()
        cls.compose("build", "api")
        log("image %s built in %.0f s" % (IMAGE, time.monotonic() - t))
        t = time.monotonic()
        try:
            cls.compose("up", "-d", "--no-build")
            cls.wait_healthy({s: 1 for s in SERVICES})
        except BaseException:
            cls.tearDownClass()
            raise
        log("five containers healthy %.0f s after up" % (time.monotonic() - t))

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("IMGCAP_KEEP_STACK"):
            log("kept: %s -p %s" % (" ".join(cls.compose_argv[:-2]), cls.project))
            return
        cls.compose("down", "-v", "--remove-orphans", "-t", "20", check=False)
        left = cls.engine.containers(cls.project)
        if left:
            raise AssertionError("containers left after down: %s" % [c["Names"] for c in left])

    # ---- compose and engine helpers ----

    @classmethod
    def compose(cls, *args, check=True, timeout=900):
        r = subprocess.run(cls.compose_argv + list(args), cwd=ROOT, env=cls.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("compose %s failed (%d):\n%s"
                                 % (" ".join(args), r.returncode, r.stdout[-4000:]))
        return r.stdout

    @classmethod
    def running(cls, service):
        return [c for c in cls.engine.containers(cls.project, service) if c["State"] == "running"]

    @classmethod
    def one(cls, service):
        found = cls.running(service)
        if not found:
            raise AssertionError("no running %s container" % service)
        return found[0]["Id"]

    @classmethod
    def wait_healthy(cls, want, timeout=240):
        """Every service has exactly want[service] containers, all running and
        healthy, and no other container of the project is running."""
        def state():
            by = collections.defaultdict(list)
            for c in cls.engine.containers(cls.project):
                if c["State"] != "running":
                    continue
                health = cls.engine.inspect(c["Id"])["State"].get("Health") or {}
                by[c["service"]].append(health.get("Status"))
            return {s: by.get(s, []) for s in set(want) | set(by)}

        last = {}

        def ok():
            last.update(state())
            return all(len(last[s]) == want.get(s, 0) and
                       all(h == "healthy" for h in last[s]) for s in last)
        try:
            harness.wait_until(ok, timeout, interval=0.5, what="healthy containers")
        except TimeoutError:
            raise AssertionError("containers not healthy after %d s: %s" % (timeout, dict(last)))

    def exec(self, service, cmd, check=True):
        code, out, err = self.engine.exec(self.one(service), cmd)
        if check and code != 0:
            self.fail("exec %s in %s: exit %s\n%s%s" % (cmd, service, code, out, err))
        return out

    def psql(self, sql):
        return self.exec("postgres", ["sh", "-c", 'psql -v ON_ERROR_STOP=1 -At -U "$POSTGRES_USER" '
                                      '-d "$POSTGRES_DB" -c "$1"', "psql", sql])

    def redis(self, *args):
        return self.exec("redis", ["redis-cli"] + list(args)).strip()

    def request(self, method, path, timeout=30, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return harness.Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    # ---- what "stored exactly once" means ----

    def rows(self):
        return collections.Counter(self.psql("SELECT id FROM images").split())

    def files(self, suffix=".jpg"):
        """Stored files by id: images (suffix .jpg), or thumbnails (.thumb.jpg)."""
        out = self.exec("persist", ["find", "/data/images", "-type", "f", "-name", "*.jpg"])
        names = [os.path.basename(p) for p in out.split()]
        return collections.Counter(n[:-len(suffix)] for n in names if n.endswith(suffix) and
                                   (suffix != ".jpg" or not n.endswith(".thumb.jpg")))

    def listed(self):
        ids, path = collections.Counter(), "/api/images?limit=1000"
        while path:
            r = self.request("GET", path)
            self.assertEqual(r.status, 200, r.body[:300])
            page = r.json()
            ids.update(item["id"] for item in page["items"])
            path = page.get("next")
        return ids

    def queue_report(self):
        script = ("for k in $(redis-cli --scan --pattern 'imgcap:q:*'); do "
                  "echo \"$k $(redis-cli LLEN $k)\"; done")
        return self.exec("redis", ["sh", "-c", script])

    def where_are(self, ids):
        """For a failure message: which list holds each missing id."""
        script = ("for k in $(redis-cli --scan --pattern 'imgcap:q:*'); do "
                  "for id in $(redis-cli LRANGE $k 0 -1); do echo \"$id $k\"; done; done")
        held = {}
        for line in self.exec("redis", ["sh", "-c", script]).splitlines():
            i, _, k = line.partition(" ")
            held.setdefault(i, []).append(k)
        return {i: held.get(i, ["nowhere in Redis"]) for i in ids}

    def assert_stored_once(self, ids, timeout=90):
        """Every id gets one row, one file and one entry in the API's list;
        nothing is dead-lettered. Returns once all are stored."""
        ids = set(ids)
        self.assertTrue(all(UUID_RE.match(i) for i in ids))
        self.accepted.update(ids)
        t = time.monotonic()
        try:
            harness.wait_until(lambda: ids <= set(self.rows()), timeout, interval=1,
                               what="rows of %d accepted uploads" % len(ids))
        except TimeoutError:
            missing = sorted(ids - set(self.rows()))
            self.fail("%d of %d accepted uploads not stored after %d s; where they are: %s\n"
                      "queues: %s\ncontainer logs: %s"
                      % (len(missing), len(ids), timeout, self.where_are(missing[:10]),
                         self.queue_report(), self.save_logs()))
        log("%d rows present %.1f s after the burst" % (len(ids), time.monotonic() - t))
        rows, files, listed = self.rows(), self.files(), self.listed()
        thumbs = self.files(".thumb.jpg")
        for what, counts in (("rows", rows), ("files", files), ("listed", listed),
                             ("thumbnails", thumbs)):
            wrong = {i: counts[i] for i in ids if counts[i] != 1}
            self.assertEqual(wrong, {}, "ids not exactly once in %s" % what)
        for q in ("render", "persist"):
            self.assertEqual(self.redis("LLEN", "imgcap:q:%s:dead" % q), "0", "dead letters")
        self.stored.update(ids)

    def save_logs(self):
        """Every container's output in a directory that outlives `down -v`."""
        out = os.path.join(tempfile.gettempdir(), self.project + "-logs")
        os.makedirs(out, exist_ok=True)
        for c in self.engine.containers(self.project):
            with open(os.path.join(out, c["Names"][0].strip("/") + ".log"), "w") as f:
                f.write(self.engine.logs(c["Id"]))
        return out

    def assert_no_strays(self):
        """No row, file or list entry beyond the accepted uploads: every burst
        retries an upload whose answer it never received with its key until
        it is answered, so even those are accepted ids."""
        rows = set(self.rows())
        extra = rows - self.accepted
        self.assertEqual(extra, set(), "rows of uploads never accepted")
        self.assertEqual(set(self.files()), rows)
        self.assertEqual(set(self.listed()), rows)

    def run_burst(self, tag, during, before=30, after=30):
        """Uploads while `during()` runs after `before` accepted ones, then
        `after` more; returns the burst, every upload answered."""
        with Burst(self.port, tag) as b:
            b.wait_accepted(before)
            during()
            n = b.accepted()
            b.wait_accepted(n + after)
        b.resolve()
        self.log_burst(b)
        return b

    def log_burst(self, b, extra=""):
        log("burst %s: %d keys, %d accepted (%d replays of a stored try), answers %s, "
            "%d without answer (retried)%s" % (b.tag, len(b.keys), len(b.ids), b.replayed,
                                               dict(b.codes), b.unknown, extra))

    def assert_keys_once(self, b):
        """Every key of the burst answered with one id, stored once, and no
        row of the burst's descriptions that no key accounts for."""
        self.assertEqual(len(b.ids), len(set(b.ids)), "two keys answered with one id")
        self.assertEqual(len(b.ids), len(b.keys), "keys without a 202")
        rows = self.psql("SELECT description, id FROM images WHERE description LIKE '%s %%'"
                         % b.tag)
        by_desc = collections.defaultdict(list)
        for line in rows.splitlines():
            if line:
                d, i = line.split("|")
                by_desc[d].append(i)
        dupes = {d: v for d, v in by_desc.items() if len(v) > 1}
        unkeyed = sorted(set(by_desc) - set(b.keys))
        log("burst %s: keys %d, stored %d, duplicates %d, rows without a key %d"
            % (b.tag, len(b.keys), len(by_desc), len(dupes), len(unkeyed)))
        self.assertEqual(dupes, {}, "uploads stored twice")
        self.assertEqual(unkeyed, [], "rows no key accounts for")
        self.assertEqual(set(by_desc), set(b.keys))
        self.assertEqual(sorted(i for v in by_desc.values() for i in v), sorted(b.ids))

    def crash(self, service):
        """SIGKILL every process of one container but its init (a crash of
        the service), then wait until its restart policy has it healthy."""
        c = self.running(service)[0]
        before = self.engine.inspect(c["Id"])["RestartCount"]
        try:
            self.engine.exec(c["Id"], ["sh", "-c", "kill -9 -1"])
        except (OSError, RuntimeError, http.client.HTTPException):
            pass  # the exec may be cut short by the container's end
        t = time.monotonic()
        harness.wait_until(lambda: self.engine.inspect(c["Id"])["RestartCount"] > before, 60,
                           interval=0.2, what="%s restarted by its policy" % service)
        self.wait_healthy(self.want())
        log("%s crashed, restarted and healthy in %.1f s" % (service, time.monotonic() - t))

    def want(self):
        n = {s: 1 for s in SERVICES}
        if self.scale:
            n.update(render=3, persist=2)
        return n

    # ---- scenarios ----

    def test_01_five_healthy_only_api_published(self):
        containers = self.engine.containers(self.project)
        self.assertEqual(sorted(c["service"] for c in containers), sorted(SERVICES))
        for c in containers:
            ports = self.engine.inspect(c["Id"])["HostConfig"].get("PortBindings") or {}
            bound = {k: v for k, v in ports.items() if v}
            if c["service"] == "api":
                self.assertEqual(list(bound), ["8000/tcp"])
                self.assertEqual(bound["8000/tcp"][0]["HostPort"], str(self.port))
            else:
                self.assertEqual(bound, {}, "%s publishes a port" % c["service"])
            if c["service"] in ("render", "persist"):
                # ...nor claim one: they listen on nothing.
                exposed = self.engine.inspect(c["Id"])["Config"].get("ExposedPorts") or {}
                self.assertEqual(exposed, {}, "%s exposes a port" % c["service"])
        r = self.request("GET", "/health")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["workers"], {"render": 1, "persist": 1})

    def test_02_upload_stored_and_fetched(self):
        desc = "С начала фазы запрещающего сигнала прошло: 7 секунд"
        body, ctype = harness.multipart([("image", JPEG, "a.jpg", "image/jpeg"),
                                         ("description", desc.encode(), None, None)])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", "/api/images", body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        self.assertEqual(r.status, 202, data)
        image_id = json.loads(data)["id"]
        r = self.request("GET", "/api/images/%s?wait=20" % image_id)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        w, h, _, _ = harness.decode_jpeg(r.body)
        self.assertEqual((w, h), (674, 503))
        self.assertEqual(self.psql("SELECT description FROM images WHERE id = '%s'" % image_id)
                         .strip(), desc)
        self.assert_stored_once([image_id])

    def test_03_log_files_written(self):
        # docs/operations.md's command, through Compose as a user types it (once: each
        # Compose command takes seconds), then every file through the API.
        text = self.compose("exec", "-T", "api", "tail", "-n", "1000",
                            "/var/log/imgcap/render.log")
        self.assertIn(" INFO render[", text)
        for name in OWN:
            text = self.exec("api", ["cat", "/var/log/imgcap/%s.log" % name])
            self.assertIn(" INFO %s[" % name, text, "%s.log" % name)
        listing = self.exec("api", ["ls", "-ln", "/var/log/imgcap"])
        for name in OWN:
            self.assertRegex(listing, r"10001 +10001 +[1-9]\d* .* %s\.log" % name)
        for c in self.engine.containers(self.project):
            out = self.engine.logs(c["Id"])
            self.assertNotIn("Permission denied", out, c["Names"])
            self.assertNotIn("cannot open log file", out, c["Names"])

    def test_03b_log_rotation(self):
        # docs/operations.md's rotation: rename the file, then SIGHUP through Compose;
        # the next line goes to a new render.log.
        self.exec("render", ["mv", "/var/log/imgcap/render.log", "/var/log/imgcap/render.log.1"])
        self.compose("kill", "-s", "HUP", "render")
        b = self.run_burst("rotate", lambda: None, before=1, after=0)
        self.assert_stored_once(b.ids)
        text = self.exec("api", ["cat", "/var/log/imgcap/render.log"])
        self.assertIn("id=%s rendered" % b.ids[0], text)
        self.assertEqual(self.engine.inspect(self.one("render"))["RestartCount"], 0)

    def crash_scenario(self, service):
        b = self.run_burst("crash-" + service, lambda: self.crash(service))
        self.assert_stored_once(b.ids)
        self.assert_keys_once(b)
        # How much work the crash caught in flight (0 is possible: the kill
        # may fall between two batches); for the log only.
        again = collections.Counter()
        for name in ("render", "persist"):
            for c in self.running(name):
                again[name] += len(set(re.findall(r"id=(\S+) redelivered", self.engine.logs(c["Id"])))
                                   & set(b.ids))
        log("crash-%s: ids delivered again: %s" % (service, dict(again)))

    def test_04_render_crash(self):
        self.crash_scenario("render")

    def test_05_persist_crash(self):
        self.crash_scenario("persist")

    def test_06_redis_crash(self):
        self.crash_scenario("redis")

    def test_07_postgres_crash(self):
        self.crash_scenario("postgres")

    def test_08_scale_shares_work(self):
        type(self).scale = SCALE
        self.compose("up", "-d", "--no-build", *SCALE)
        self.wait_healthy(self.want())
        r = self.request("GET", "/health")
        self.assertEqual(r.json()["workers"], {"render": 3, "persist": 2}, r.body)
        b = self.run_burst("scale", lambda: None, before=100, after=100)
        self.assert_stored_once(b.ids)
        self.assert_keys_once(b)
        ids = set(b.ids)
        for service, pattern in (("render", r"id=(\S+) rendered "),
                                 ("persist", r"id=(\S+) file \S+ written")):
            shares = {}
            for c in self.running(service):
                done = set(re.findall(pattern, self.engine.logs(c["Id"]))) & ids
                shares[c["Names"][0]] = len(done)
            log("%s shares of %d: %s" % (service, len(ids), shares))
            self.assertEqual(len(shares), 3 if service == "render" else 2)
            for name, n in shares.items():
                self.assertGreater(n, 0, "%s took none of the work: %s" % (name, shares))

    def test_09_stop_during_burst(self):
        stopped = {}

        def stop():
            self.compose("stop")
            for c in self.engine.containers(self.project):
                stopped[c["Names"][0]] = self.engine.inspect(c["Id"])["State"]["ExitCode"]
        with Burst(self.port, "stop") as b:
            b.wait_accepted(50)
            stop()
        log("burst stop: exit codes %s, %d uploads unanswered at the stop"
            % (stopped, len(b.pending)))
        for name, code in stopped.items():
            # Graceful exits: the services return their in-flight work and
            # exit 0, redis 0, PostgreSQL's fast shutdown 0.
            self.assertEqual(code, 0, "%s exit code after stop: %s" % (name, stopped))
        self.compose("up", "-d", "--no-build", *self.scale)
        self.wait_healthy(self.want())
        b.resolve()  # the uploads cut off by the stop, retried with their keys
        self.log_burst(b)
        self.assert_stored_once(b.ids)
        self.assert_keys_once(b)

    def test_10_down_up_keeps_everything(self):
        self.assertTrue(self.stored)
        before = self.rows()
        self.compose("down")
        self.assertEqual(self.engine.containers(self.project), [])
        self.compose("up", "-d", "--no-build", *self.scale)
        self.wait_healthy(self.want())
        after = self.rows()
        self.assertEqual({i: after[i] for i in before}, before)
        self.assert_stored_once(self.stored, timeout=10)
        self.assert_no_strays()
        r = self.request("GET", "/api/images/%s" % sorted(self.stored)[0])
        self.assertEqual(r.status, 200)

    def recreate(self, **env):
        """Sets environment variables of the stack and lets Compose recreate
        the containers whose configuration changed, as an operator would."""
        self.env.update(env)
        self.compose("up", "-d", "--no-build", *self.scale)
        self.wait_healthy(self.want())

    def upload(self, desc, token=None):
        body, ctype = harness.multipart([("image", JPEG, "a.jpg", "image/jpeg"),
                                         ("description", desc.encode(), None, None),
                                         ("camera", b"compose-cam", None, None)])
        headers = {"Content-Type": ctype}
        if token:
            headers["Authorization"] = "Bearer " + token
        r = self.request("POST", "/api/images", body=body, headers=headers)
        self.assertEqual(r.status, 202, r.body[:300])
        image_id = r.json()["id"]
        r = self.request("GET", "/api/images/%s?wait=30" % image_id)
        self.assertEqual(r.status, 200, r.body[:300])
        return image_id

    def gone(self, image_id):
        """No row, no image file, no thumbnail, and 404 for both through the API."""
        return (self.psql("SELECT count(*) FROM images WHERE id = '%s'" % image_id).strip() == "0"
                and image_id not in self.files() and image_id not in self.files(".thumb.jpg")
                and self.request("GET", "/api/images/%s" % image_id).status == 404
                and self.request("GET", "/api/images/%s/thumbnail" % image_id).status == 404)

    def test_11_delete(self):
        token = "compose-test-token-%s" % uuid.uuid4().hex[:8]
        self.recreate(API_TOKEN=token)
        image_id = self.upload("to be deleted", token)
        self.assertEqual(self.files(".thumb.jpg")[image_id], 1)
        r = self.request("DELETE", "/api/images/%s" % image_id)
        self.assertEqual(r.status, 401, r.body[:300])
        r = self.request("DELETE", "/api/images/%s" % image_id,
                         headers={"Authorization": "Bearer " + token})
        self.assertEqual(r.status, 204, r.body[:300])
        harness.wait_until(lambda: self.gone(image_id), 30, interval=0.5,
                           what="deleted image gone: row, files, API")
        self.assertEqual(self.psql("SELECT reason, purged_at IS NOT NULL FROM image_deletions "
                                   "WHERE id = '%s'" % image_id).strip(), "delete|t")
        r = self.request("DELETE", "/api/images/%s" % image_id,
                         headers={"Authorization": "Bearer " + token})
        self.assertEqual(r.status, 404, r.body[:300])
        type(self).token = token

    def test_12_retention(self):
        before = set(self.rows())
        self.assertTrue(before)
        retention = 12
        t0 = time.time()
        self.recreate(RETENTION="%ds" % retention)
        young = self.upload("young", getattr(self, "token", None))
        received = self.psql("SELECT extract(epoch FROM received_at) FROM images "
                             "WHERE id = '%s'" % young).strip()
        received = float(received)
        # Every image of the earlier scenarios is older than the retention by
        # now: gone within min(60, RETENTION/2) s of expiring, with some slack
        # for the recreated containers.
        harness.wait_until(lambda: not (set(self.rows()) & before), 60, interval=1,
                           what="images older than RETENTION deleted")
        log("%d old images deleted %.1f s after RETENTION was set" % (len(before),
                                                                      time.time() - t0))
        self.assertEqual(set(self.files()) & before, set())
        self.assertEqual(set(self.files(".thumb.jpg")) & before, set())
        # The young one is kept while it is younger than the retention...
        while time.time() < received + retention - 2:
            self.assertEqual(self.request("GET", "/api/images/%s" % young).status, 200,
                             "an image younger than RETENTION was deleted")
            time.sleep(1)
        # ...and deleted once it is not.
        harness.wait_until(lambda: self.gone(young), retention / 2 + 20, interval=1,
                           what="the young image deleted once expired")
        deleted = int(self.redis("HGET", "imgcap:counters", "images_deleted_retention") or 0)
        self.assertGreaterEqual(deleted, len(before) + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
