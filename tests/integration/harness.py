"""Integration test harness: a private redis-server and PostgreSQL cluster on free
ports in a temp dir, plus the imgcap binaries from $IMGCAP_BIN_DIR.

Nothing is mocked. Everything started here is stopped and removed by Stack.close(),
and a service that wrote a sanitizer report fails the test that ran it.
"""
import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import contract

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("IMGCAP_BIN_DIR", os.path.join(ROOT, "build"))
DATA_DIR = os.path.join(ROOT, "tests", "data")
PG_BIN = "/usr/lib/postgresql/15/bin"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- a minimal RESP client (so tests need no redis-cli subprocess per call) ----

class Redis:
    def __init__(self, port, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def _readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._readline()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._readn(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad RESP reply %r" % line)

    def __call__(self, *args):
        if self.sock is None:
            self._connect()
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        try:
            self.sock.sendall(b"".join(parts))
            return self._reply()
        except (OSError, ConnectionError):
            self.close()
            raise


# ---- JPEG decoding for assertions (djpeg from libjpeg-turbo-progs) ----

def decode_jpeg(data, nosmooth=False):
    """Returns (width, height, channels, pixel bytes) of a JPEG."""
    args = ["djpeg", "-pnm"] + (["-nosmooth"] if nosmooth else [])
    out = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True).stdout
    magic, rest = out[:2], out[2:]
    fields = []
    pos = 0
    while len(fields) < 3:
        while rest[pos:pos + 1].isspace():
            pos += 1
        if rest[pos:pos + 1] == b"#":
            pos = rest.index(b"\n", pos)
            continue
        end = pos
        while not rest[end:end + 1].isspace():
            end += 1
        fields.append(int(rest[pos:end]))
        pos = end
    pos += 1
    w, h, _ = fields
    channels = 3 if magic == b"P6" else 1
    return w, h, channels, rest[pos:pos + w * h * channels]


def multipart(fields):
    """fields: list of (name, value bytes, filename or None, content type or None)."""
    boundary = "----imgcap" + uuid.uuid4().hex
    out = []
    for name, value, filename, ctype in fields:
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        head = "--%s\r\nContent-Disposition: %s\r\n" % (boundary, disp)
        if ctype:
            head += "Content-Type: %s\r\n" % ctype
        out.append(head.encode() + b"\r\n" + value + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


class Stack:
    """A private imgcap system. Use as a context manager.

    host is the address everything binds to and is reached at; prefix is put
    before every command that starts a server (e.g. ["ip", "netns", "exec",
    "ns"] runs them on another host); with_redis/with_pg False leave Redis or
    PostgreSQL to another Stack (pass REDIS_URL/DATABASE_URL in env)."""

    def __init__(self, services=("api", "render", "persist"), env=None, pg_fsync=False,
                 host="127.0.0.1", prefix=(), with_redis=True, with_pg=True):
        self.services = tuple(services)
        self.host = host
        self.prefix = list(prefix)
        self.with_redis = with_redis
        self.with_pg = with_pg
        self.extra_env = dict(env or {})
        self.pg_fsync = pg_fsync
        self.procs = {}
        self.exit_codes = {}
        self.contract_failures = []
        self.redis_proc = None
        self.pg_started = False
        self.tmp = tempfile.mkdtemp(prefix="imgcap-it-")
        os.chmod(self.tmp, 0o755)
        self.redis_port = free_port()
        self.pg_port = free_port()
        self.api_port = free_port()
        self.api_url = "http://%s:%d" % (host, self.api_port)
        self.storage_dir = os.path.join(self.tmp, "images")
        self.log_dir = os.path.join(self.tmp, "log")
        os.makedirs(self.storage_dir)
        os.makedirs(self.log_dir)
        self.env = {
            "IMGCAP_ENV_FILE": "/dev/null",
            "REDIS_URL": "redis://%s:%d" % (host, self.redis_port),
            "REDIS_PREFIX": "imgcap:",
            "DATABASE_URL": "postgresql://imgcap@%s:%d/imgcap" % (host, self.pg_port),
            "STORAGE_DIR": self.storage_dir,
            "LOG_DIR": self.log_dir,
            "FONTS_DIR": os.path.join(ROOT, "fonts"),
            "SQL_DIR": os.path.join(ROOT, "deploy", "sql"),
            "API_HOST": host,
            "API_PORT": str(self.api_port),
            "LEASE_SECONDS": "3",
            "SHUTDOWN_SECONDS": "5",
            "LOG_LEVEL": os.environ.get("IMGCAP_TEST_LOG_LEVEL", "info"),
            "RENDER_WORKERS": "2",
            "PERSIST_WORKERS": "2",
            "API_WORKERS": "4",
            # The default (1GB) would make the api refuse every upload on a
            # machine with less free space in /tmp; tests of the storage gate
            # set their own.
            "STORAGE_MIN_FREE": "1MB",
        }
        self.env.update(self.extra_env)
        self.redis = Redis(self.redis_port, host)

    # -- lifecycle --

    def __enter__(self):
        try:
            if self.with_redis:
                self.start_redis()
            if self.with_pg:
                self.start_postgres()
            if "persist" in self.services:
                self.start_service("persist")
                if self.with_pg:
                    wait_until(self._schema_ready, 30, what="schema migration by persist")
            elif self.with_pg:
                self.apply_schema()
            for name in self.services:
                if name != "persist":
                    self.start_service(name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        reports = []
        for name in list(self.procs):
            self.stop_service(name)
        for path in glob.glob(os.path.join(self.log_dir, "*.stderr")):
            with open(path, errors="replace") as f:
                text = f.read()
            if any(m in text for m in SANITIZER_MARKERS):
                reports.append("%s:\n%s" % (os.path.basename(path), text[-4000:]))
        self.redis.close()
        if self.redis_proc:
            self.stop_redis()
        if self.pg_started:
            self._pg_ctl("stop", "-m", "immediate")
            self.pg_started = False
        if os.environ.get("IMGCAP_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report from a service:\n" + "\n".join(reports))
        if self.contract_failures:
            failures, self.contract_failures = self.contract_failures, []
            raise contract.ContractError("answers on other threads did not match the document:\n"
                                         + "\n".join(failures[:10]))

    # -- redis --

    def start_redis(self):
        rdir = os.path.join(self.tmp, "redis")
        os.makedirs(rdir, exist_ok=True)
        self.redis_proc = subprocess.Popen(
            self.prefix + ["redis-server", "--port", str(self.redis_port), "--bind", self.host,
             "--dir", rdir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--maxmemory-policy", "noeviction", "--daemonize", "no",
             "--logfile", os.path.join(self.log_dir, "redis.log")] +
            # Clients on other hosts: no password, so protected mode would refuse them.
            (["--protected-mode", "no"] if self.host != "127.0.0.1" else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._redis_up, 20, what="redis-server")

    def _redis_up(self):
        try:
            return self.redis("PING") == "PONG"
        except (OSError, ConnectionError, RuntimeError):
            return False

    def stop_redis(self, sig=signal.SIGTERM):
        self.redis.close()
        self.redis_proc.send_signal(sig)
        self.redis_proc.wait(20)
        self.redis_proc = None

    def kill_redis(self):
        self.stop_redis(signal.SIGKILL)

    # -- postgres --

    def _as_postgres(self):
        if os.geteuid() != 0:
            return self.prefix
        return self.prefix + ["runuser", "-u", "postgres", "--"]

    def _pg_ctl(self, *args):
        return subprocess.run(self._as_postgres() + [os.path.join(PG_BIN, "pg_ctl"), "-D",
                                                     self.pg_data, "-w", "-t", "60"] + list(args),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start_postgres(self):
        self.pg_data = os.path.join(self.tmp, "pg")
        os.makedirs(self.pg_data)
        self.pg_sock = os.path.join(self.tmp, "pgsock")
        os.makedirs(self.pg_sock)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for d in (self.pg_data, self.pg_sock):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_postgres() + [os.path.join(PG_BIN, "initdb"), "-D", self.pg_data,
                                              "-U", "imgcap", "--auth=trust", "-E", "UTF8",
                                              "--locale=C.UTF-8"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if self.host != "127.0.0.1":
            # Clients on the other hosts of the test's private subnet.
            with open(os.path.join(self.pg_data, "pg_hba.conf"), "a") as f:
                f.write("host all all samenet trust\n")
        opts = ("-c listen_addresses=%s -p %d -k %s -c fsync=%s "
                "-c synchronous_commit=%s -c full_page_writes=%s" %
                (self.host, self.pg_port, self.pg_sock, "on" if self.pg_fsync else "off",
                 "on" if self.pg_fsync else "off", "on" if self.pg_fsync else "off"))
        self.pg_opts = opts
        self.start_pg_server()
        self.psql("CREATE DATABASE imgcap", db="postgres")

    def start_pg_server(self):
        r = self._pg_ctl("start", "-o", self.pg_opts, "-l", os.path.join(self.pg_data, "pg.log"))
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: " + r.stderr.decode(errors="replace"))
        self.pg_started = True

    def stop_pg_server(self):
        self._pg_ctl("stop", "-m", "fast")
        self.pg_started = False

    def psql(self, sql, db="imgcap"):
        r = subprocess.run(["psql", "-h", self.host, "-p", str(self.pg_port), "-U", "imgcap",
                            "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("psql failed: " + r.stderr.decode(errors="replace"))
        return r.stdout.decode().strip()

    def apply_schema(self):
        for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "sql", "*.sql"))):
            subprocess.run(["psql", "-h", self.host, "-p", str(self.pg_port), "-U", "imgcap",
                            "-d", "imgcap", "-v", "ON_ERROR_STOP=1", "-q", "-f", path],
                           check=True, stdout=subprocess.DEVNULL)

    def _schema_ready(self):
        try:
            return self.psql("SELECT to_regclass('public.images') IS NOT NULL") == "t"
        except RuntimeError:
            return False

    # -- services --

    def start_service(self, name, extra_env=None, wrap=()):
        """wrap: a command prefix, e.g. ("unshare", "--pid", "--fork") to run the
        service the way a container would."""
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra_env or {})
        err = open(os.path.join(self.log_dir, "%s.stderr" % name), "ab")
        proc = subprocess.Popen(self.prefix + list(wrap) + [os.path.join(BIN_DIR, "imgcap-" + name)],
                                env=env,
                                stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        err.close()
        self.procs[name] = proc
        if name == "api":
            wait_until(self._api_up, 30, what="api to answer")
        return proc

    def _api_up(self):
        proc = self.procs.get("api")
        if proc and proc.poll() is not None:
            raise RuntimeError("api exited with %s:\n%s" % (proc.returncode, self.log("api")))
        try:
            self.request("GET", "/health", timeout=2)
            return True
        except OSError:
            return False

    def stop_service(self, name, sig=signal.SIGTERM, timeout=30):
        proc = self.procs.pop(name, None)
        if not proc:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.exit_codes[name] = proc.returncode
        return proc.returncode

    def kill_service(self, name):
        return self.stop_service(name, signal.SIGKILL)

    def log(self, name):
        text = ""
        for suffix in (".log", ".stderr"):
            path = os.path.join(self.log_dir, name + suffix)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def wait_log(self, name, text, timeout=30):
        """Waits until the service's log holds text: a service other than the
        api answers nothing to poll, its log says when it is ready."""
        wait_until(lambda: text in self.log(name), timeout,
                   what="%r in the %s log" % (text, name))

    # -- HTTP --

    def request(self, method, path, body=None, headers=None, timeout=30, check_contract=True):
        """One request on a new connection. The answer is checked against
        services/api/openapi.json (contract.py): a mismatch raises in the test
        that made the request. check_contract=False exempts a request that
        deliberately breaks the protocol; say why where it is used."""
        conn = http.client.HTTPConnection(self.host, self.api_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            resp = Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()
        if check_contract:
            self.check_contract(method, path, resp)
        return resp

    def check_contract(self, method, path, resp):
        """Raises contract.ContractError when resp departs from the document.
        One raised on another thread than the test's (a burst's uploader) is
        also kept, and close() raises it, so it still fails the test."""
        try:
            contract.check(method, path, resp.status, resp.headers, resp.body)
        except contract.ContractError as e:
            if threading.current_thread() is not threading.main_thread():
                self.contract_failures.append(str(e))
            raise

    def upload(self, jpeg, description, headers=None):
        fields = []
        if jpeg is not None:
            fields.append(("image", jpeg, "photo.jpg", "image/jpeg"))
        if description is not None:
            d = description if isinstance(description, bytes) else description.encode()
            fields.append(("description", d, None, None))
        body, ctype = multipart(fields)
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.request("POST", "/api/images", body=body, headers=h)

    def wait_stored(self, ids, timeout=60):
        """Waits until every id has a row; returns {id: path}."""
        ids = list(ids)

        def done():
            if not ids:
                return {}
            rows = self.psql("SELECT id, path FROM images WHERE id IN (%s)" %
                             ",".join("'%s'" % i for i in ids))
            found = dict(line.split("|", 1) for line in rows.splitlines() if line)
            return found if len(found) == len(ids) else None
        if not ids:
            return {}
        return wait_until(done, timeout, interval=0.2, what="%d images stored" % len(ids))

    def queues_at_rest(self):
        """True when both work lists and every processing list are empty."""
        for q in ("render", "persist"):
            if self.redis("LLEN", "imgcap:q:" + q) != 0:
                return False
        for key in self.redis("KEYS", "imgcap:q:*:processing:*"):
            if self.redis("LLEN", key) != 0:
                return False
        return True


def read_data(name):
    with open(os.path.join(DATA_DIR, name), "rb") as f:
        return f.read()


class StackTestCase(unittest.TestCase):
    """Tests that share one private Stack: started before the class's first
    test (as cls.stack / self.stack) and closed after its last. A subclass
    sets STACK_SERVICES and STACK_ENV."""

    STACK_SERVICES = ("api", "render", "persist")
    STACK_ENV = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack(services=cls.STACK_SERVICES, env=cls.STACK_ENV).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        super().tearDownClass()
