"""`make run` and deploy/local.sh as a new user meets them: a checkout inside a
private home directory (mode 0700, as root's is), started from a non-interactive
shell, stopped with the SIGINT a terminal's Ctrl-C sends to its foreground
process group.

Each test copies the files local.sh needs (deploy/, fonts/, .env) into a fresh
directory and runs the binaries of IMGCAP_BIN_DIR, on free ports."""
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import contract
from harness import BIN_DIR, ROOT, Redis, free_port, multipart, read_data, wait_until

CAPTION = "С начала фазы запрещающего сигнала прошло: 7 секунд"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (reaped by nobody yet) is not running.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class LocalRun(unittest.TestCase):
    def setUp(self):
        # mkdtemp makes the directory 0700: the postgres user cannot enter it.
        self.home = tempfile.mkdtemp(prefix="imgcap-home-")
        os.chmod(self.home, 0o700)
        self.root = os.path.join(self.home, "imgcap")
        os.mkdir(self.root)
        for d in ("deploy", "fonts"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(self.root, d))
        shutil.copy(os.path.join(ROOT, ".env"), self.root)
        self.var = os.path.join(self.root, "var")
        self.ports = {"LOCAL_REDIS_PORT": free_port(), "LOCAL_PG_PORT": free_port(),
                      "API_PORT": free_port()}
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("REDIS_", "DATABASE_", "STORAGE_", "LOG_", "VAR_",
                                    "IMGCAP_", "API_", "LOCAL_"))}
        env.update({k: str(v) for k, v in self.ports.items()})
        env["IMGCAP_BIN_DIR"] = BIN_DIR
        env["SHUTDOWN_SECONDS"] = "5"
        self.env = env
        self.procs = []

    def tearDown(self):
        # Whatever a failed test left behind is stopped, and the relocated
        # cluster (root in a private home) removed.
        subprocess.run([self.script("local.sh"), "stop"], env=self.env, cwd=self.root,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        pgdir = os.path.join(self.var, "pgdir")
        if os.path.exists(pgdir):
            with open(pgdir) as f:
                shutil.rmtree(f.read().strip(), ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def script(self, name):
        return os.path.join(self.root, "deploy", name)

    def pids(self):
        out = {}
        for f in glob.glob(os.path.join(self.var, "run", "*.pid")):
            with open(f) as fh:
                out[os.path.basename(f)[:-4]] = int(fh.read().split()[0])
        return out

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["API_PORT"], timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            contract.check(method, path, r.status, r.getheaders(), data)
            return r.status, data
        finally:
            conn.close()

    def health_ok(self):
        try:
            return self.request("GET", "/health", timeout=2)[0] == 200
        except OSError:
            return False

    def logs(self):
        text = {}
        for f in glob.glob(os.path.join(self.var, "log", "*")):
            with open(f, errors="replace") as fh:
                text[os.path.basename(f)] = fh.read()
        return text

    def test_make_run_in_a_private_home_starts_and_ctrl_c_stops_everything(self):
        # A non-interactive shell's background job ignores SIGINT; its own
        # session stands for the terminal's foreground process group.
        def as_background_job():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        run = subprocess.Popen([self.script("run.sh")], cwd=self.root, env=self.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=as_background_job)
        self.procs.append(run)
        try:
            wait_until(lambda: self.health_ok() or run.poll() is not None, 180, interval=0.3,
                       what="/health of make run")
        except TimeoutError:
            pass
        if not self.health_ok():
            run.kill()
            self.fail("make run did not come up:\n%s\n%s" % (run.stdout.read().decode(),
                                                             self.logs().get("local.log")))

        st = subprocess.run([self.script("local.sh"), "status"], cwd=self.root, env=self.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(st.returncode, 0, st.stdout)
        for c in ("redis", "postgres", "persist", "render", "api", "supervisor"):
            self.assertRegex(st.stdout, r"(?m)^%s\s+running" % c)

        # status from another VAR_DIR says what it sees, not "stopped" beside
        # a healthy /health with no word of explanation.
        other = dict(self.env, VAR_DIR=os.path.join(self.home, "other-var"))
        st2 = subprocess.run([self.script("local.sh"), "status"], cwd=self.root, env=other,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(st2.returncode, 0)
        self.assertIn("not one started from VAR_DIR=%s" % other["VAR_DIR"], st2.stdout)

        body, ctype = multipart([("image", read_data("camera_674x480.jpg"), "a.jpg", "image/jpeg"),
                                 ("description", CAPTION.encode(), None, None)])
        status, reply = self.request("POST", "/api/images", body, {"Content-Type": ctype})
        self.assertEqual(status, 202, reply)
        image_id = json.loads(reply)["id"]
        status, img = self.request("GET", "/api/images/%s?wait=30" % image_id, timeout=40)
        self.assertEqual(status, 200)
        self.assertEqual(img[:3], b"\xff\xd8\xff")

        pids = self.pids()
        self.assertEqual(set(pids), {"redis", "postgres", "persist", "render", "api",
                                     "supervisor"})
        if os.getuid() == 0:
            # The postgres user cannot enter the 0700 home: the cluster moved.
            with open(os.path.join(self.var, "pgdir")) as f:
                self.assertTrue(f.read().startswith("/var/lib/imgcap/local-"))

        # Ctrl-C: SIGINT to the foreground process group.
        os.killpg(run.pid, signal.SIGINT)
        try:
            out = run.communicate(timeout=90)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            self.fail("make run did not stop within 90 s of SIGINT")
        self.assertEqual(run.returncode, 0, out)
        still = [name for name, pid in pids.items() if alive(pid)]
        self.assertEqual(still, [], "left running after Ctrl-C")
        self.assertFalse(self.health_ok())

        logs = self.logs()
        everything = out + "".join(logs.values())
        self.assertNotIn("could not change directory", everything)
        self.assertNotIn("Permission denied", everything)
        # Services stopped before Redis: every in-flight id went back.
        self.assertNotIn("could not return", everything)
        # One copy of each line: no <service>.stderr files, and the access
        # log's lines are in api.log only.
        self.assertEqual(sorted(n for n in logs if n.endswith(".stderr")), [])
        for name in ("api.log", "render.log", "persist.log", "redis.log", "postgres.log",
                     "local.log"):
            self.assertIn(name, logs)
        self.assertIn("POST /api/images 202", logs["api.log"])
        self.assertNotIn("POST /api/images 202", logs["local.log"])
        # The log directory stays the user's (it was chowned to postgres).
        self.assertEqual(os.stat(os.path.join(self.var, "log")).st_uid, os.getuid())
        self.assertIn("local.sh: redis stopped", logs["local.log"])
        order = [logs["local.log"].index("local.sh: %s stopped" % n) for n in
                 ("api", "render", "persist")]
        self.assertLess(max(order), logs["local.log"].index("local.sh: redis stopped"))

    def test_a_failed_start_leaves_nothing_running(self):
        # PostgreSQL cannot bind its port: start must stop the redis-server it
        # had already started, say so and fail.
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", self.ports["LOCAL_PG_PORT"]))
        blocker.listen(1)
        try:
            r = subprocess.run([self.script("local.sh"), "start"], cwd=self.root, env=self.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=180)
        finally:
            blocker.close()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("postgres did not start", r.stdout)
        self.assertIn("start failed; stopping what was started", r.stdout)
        self.assertIn("redis stopped", r.stdout)
        with self.assertRaises(OSError):
            Redis(self.ports["LOCAL_REDIS_PORT"])("PING")
        self.assertEqual([n for n, p in self.pids().items() if alive(p)], [])


if __name__ == "__main__":
    unittest.main()
