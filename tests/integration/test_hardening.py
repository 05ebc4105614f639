"""Hardening tests: crash backtraces, log reopening, hostile clients
and limits, against the real services, redis-server and PostgreSQL.

Every test bounds what it does by count and by a generous timeout; none passes
or fails on how fast something is.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
import uuid

from harness import BIN_DIR, ROOT, Stack, StackTestCase, multipart, read_data, wait_until

JPEG = read_data("camera_674x480.jpg")
SERVICES = ("api", "render", "persist")
# A frame of one of our binaries named by its symbol, e.g.
# "/.../imgcap-api(main+0x18e)[0x55...]" (exported thanks to -rdynamic).
SYMBOL_FRAME = r"imgcap-%s\([A-Za-z_][A-Za-z0-9_]*\+0x[0-9a-f]+\)\[0x[0-9a-f]+\]"


def log_file(stack, service):
    """The service's own log file (LOG_DIR/<service>.log), not its stderr."""
    path = os.path.join(stack.log_dir, service + ".log")
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def all_log_bytes(stack):
    """Every byte the services wrote: log files, rotated ones, stderr."""
    out = b""
    for name in sorted(os.listdir(stack.log_dir)):
        if name.startswith(SERVICES):
            with open(os.path.join(stack.log_dir, name), "rb") as f:
                out += f.read()
    return out


def problem(test, r, status):
    test.assertEqual(r.status, status, r.body[:300])
    test.assertEqual(r.header("Content-Type"), "application/problem+json")
    doc = r.json()
    test.assertEqual(doc["status"], status)
    return doc


def with_comment(jpeg, text):
    """The JPEG with a COM segment holding text right after the SOI."""
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


class ExitCodes(unittest.TestCase):
    """The exit codes of shared/service.h (docs/operations.md, Exit codes) are
    the same in every binary for the same cause. None of these runs reaches
    Redis or PostgreSQL."""

    def setUp(self):
        self.log_dir = tempfile.mkdtemp(prefix="imgcap-exit-")
        self.addCleanup(shutil.rmtree, self.log_dir, True)

    def run_bin(self, name, *args, env=None):
        # Should a run not fail at once, it must not take a port or a Redis
        # anyone uses: a closed port for the api, no Redis at all.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        e = dict(os.environ, IMGCAP_ENV_FILE="/dev/null", FONTS_DIR=os.path.join(ROOT, "fonts"),
                 LOG_DIR=self.log_dir, API_HOST="127.0.0.1", API_PORT=str(port),
                 REDIS_URL="unix:///nonexistent/redis.sock")
        e.update(env or {})
        return subprocess.run([os.path.join(BIN_DIR, "imgcap-" + name)] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=30)

    def test_usage_and_configuration_errors(self):
        for name in SERVICES:
            p = self.run_bin(name, "--bogus")
            self.assertEqual(p.returncode, 2, (name, p.stderr))
            p = self.run_bin(name, "--help")
            self.assertEqual(p.returncode, 0, (name, p.stderr))
            p = self.run_bin(name, env={"LOG_LEVEL": "loud"})
            self.assertEqual(p.returncode, 3, (name, p.stderr))
            self.assertIn(b"imgcap-%s: configuration: " % name.encode(), p.stderr)
            self.assertIn(b"LOG_LEVEL", p.stderr)
            # a WAIT that could outlast the command timeout: rqha's check
            p = self.run_bin(name, env={"REDIS_WAIT_REPLICAS": "1", "REDIS_TIMEOUT_MS": "1000",
                                        "REDIS_WAIT_TIMEOUT_MS": "900"})
            self.assertEqual(p.returncode, 3, (name, p.stderr))

    def test_start_failure_and_unwritable_log_dir(self):
        # render's preparation (the font) fails before it connects anywhere;
        # the log directory it cannot open is said once on stderr, which
        # carries on as the log
        p = self.run_bin("render", env={"FONT_PATH": "/nonexistent.ttf",
                                        "LOG_DIR": "/proc/imgcap-no-such-dir"})
        self.assertEqual(p.returncode, 1, p.stderr)
        err = p.stderr.decode()
        self.assertEqual(err.count("cannot open the log file in /proc/imgcap-no-such-dir"), 1, err)
        self.assertIn("FONT_PATH", err)
        self.assertIn("render stopped (exit 1)", err)


class CrashBacktrace(unittest.TestCase):
    """A crash writes a symbolized backtrace to the log file."""

    def test_sigsegv_leaves_symbolized_backtrace_in_each_log(self):
        with Stack(services=SERVICES) as stack:
            # One good upload first, so every worker thread has run.
            r = stack.upload(JPEG, "before the crash")
            self.assertEqual(r.status, 202, r.body)
            stack.wait_stored([r.json()["id"]])
            for name in SERVICES:
                with self.subTest(service=name):
                    proc = stack.procs[name]
                    os.kill(proc.pid, signal.SIGSEGV)
                    self.assertEqual(proc.wait(30), -signal.SIGSEGV,
                                     "the handler re-raises: the process dies of the signal")
                    log = log_file(stack, name)
                    self.assertIn("%s FATAL crash: signal %d" % (name, signal.SIGSEGV), log)
                    trace = log[log.index("FATAL crash"):]
                    self.assertIn("backtrace:", trace)
                    self.assertRegex(trace, SYMBOL_FRAME % name, trace[:2000])


class LogFiles(StackTestCase):
    """Log rotation, log injection and what never reaches a log."""

    STACK_SERVICES = SERVICES

    def test_sighup_reopens_log_file(self):
        stack = self.stack
        path = os.path.join(stack.log_dir, "api.log")
        rotated = path + ".1"
        wait_until(lambda: os.path.exists(path), 10, what="api.log")
        os.rename(path, rotated)
        os.kill(stack.procs["api"].pid, signal.SIGHUP)
        # The signal is asynchronous and the api reopens at its next line, so
        # ask until a request line lands in a new api.log.
        markers = []

        def logged_in_new_file():
            markers.append("/api/images/sighup-" + uuid.uuid4().hex)
            r = stack.request("GET", markers[-1])
            self.assertIn(r.status, (404, 422))
            return markers[-1] in log_file(stack, "api")
        wait_until(logged_in_new_file, 10, interval=0.1, what="a line in the new api.log")
        with open(rotated, errors="replace") as f:
            self.assertNotIn(markers[-1], f.read(), "a line went to both files")
        self.assertEqual(stack.procs["api"].poll(), None, "SIGHUP does not stop the service")

    def raw_get(self, target):
        """Sends target as the request-target byte for byte (http.client would
        refuse control characters) and returns the status line."""
        sock = socket.create_connection(("127.0.0.1", self.stack.api_port), timeout=30)
        try:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(4096).split(b"\r\n", 1)[0]
        finally:
            sock.close()

    def test_control_characters_are_escaped(self):
        stack = self.stack
        tag = uuid.uuid4().hex
        forged = "2026-01-01T00:00:00.000Z ERROR api[1] main: forged-" + tag
        # The request-target is logged. A raw ESC, CR, DEL or BS in it must
        # reach the log as \xNN: a CR would let a terminal overprint the line
        # with a forged one, an ESC would drive the terminal.
        target = b"/api/images/x\x1b[31m\r" + forged.replace(" ", "_").encode() + b"\x7f\x08"
        self.assertIn(b" 422 ", self.raw_get(target))
        # The description (newline, ESC) travels through render and persist.
        desc = "caption\n" + forged + "\x1b[31m red \r\x7f"
        r = stack.upload(JPEG, desc)
        self.assertEqual(r.status, 202, r.body)
        stack.wait_stored([r.json()["id"]])
        wait_until(lambda: "forged-" + tag in log_file(stack, "api"), 10, what="the request line")
        raw = all_log_bytes(stack)
        for line in raw.split(b"\n"):
            self.assertFalse(line.startswith(forged.encode()), "a forged line in the logs")
        for c in (b"\x1b", b"\r", b"\x7f", b"\x08"):
            self.assertNotIn(c, raw, "raw control byte %r in the logs" % c)
        api = log_file(stack, "api")
        self.assertIn("/api/images/x\\x1b[31m\\x0d2026-01-01T00:00:00.000Z_ERROR", api)
        self.assertIn("forged-%s\\x7f\\x08 422" % tag, api)

    def test_image_bytes_never_logged(self):
        stack = self.stack
        secret = b"IMGCAP-SECRET-" + uuid.uuid4().hex.encode()
        jpeg = with_comment(JPEG, secret)
        r = stack.upload(jpeg, "image bytes stay out of logs")
        self.assertEqual(r.status, 202, r.body)
        stack.wait_stored([r.json()["id"]])
        # A corrupt image fails in render, whose error path logs the reason.
        bad = with_comment(JPEG[:3000], secret)
        r = stack.upload(bad, "truncated on purpose")
        self.assertEqual(r.status, 202, r.body)
        bad_id = r.json()["id"]
        r = stack.request("GET", "/api/images/%s?wait=30" % bad_id)
        self.assertEqual(r.status, 422, r.body)
        logs = all_log_bytes(stack)
        self.assertNotIn(secret, logs)
        middle = len(JPEG) // 2
        self.assertNotIn(JPEG[middle:middle + 32], logs)  # entropy-coded data
        self.assertNotIn(b"\xff\xd8\xff", logs)

    def test_sql_text_is_data(self):
        stack = self.stack
        desc = "'); DROP TABLE images; -- \" \\ $1 %s"
        r = stack.upload(JPEG, desc)
        self.assertEqual(r.status, 202, r.body)
        image_id = r.json()["id"]
        stack.wait_stored([image_id])
        self.assertEqual(stack.psql("SELECT description FROM images WHERE id = '%s'" % image_id),
                         desc)
        self.assertEqual(stack.psql("SELECT to_regclass('public.images') IS NOT NULL"), "t")


class StoredPaths(unittest.TestCase):
    """The API refuses any stored path that escapes STORAGE_DIR."""

    def test_paths_outside_storage_are_refused(self):
        with Stack(services=("api",)) as stack:
            os.symlink("/etc/passwd", os.path.join(stack.storage_dir, "link.jpg"))
            os.makedirs(os.path.join(stack.storage_dir, "2026", "11"))
            for path in ("../../etc/passwd", "/etc/passwd", "2026/11/../../../../etc/passwd",
                         "link.jpg"):
                with self.subTest(path=path):
                    image_id = str(uuid.uuid4())
                    stack.psql("INSERT INTO images (id, received_at, description, path) "
                               "VALUES ('%s', now(), 'evil', '%s')" % (image_id, path))
                    for method in ("GET", "HEAD"):
                        r = stack.request(method, "/api/images/" + image_id)
                        self.assertNotEqual(r.status, 200, (method, path))
                        self.assertNotIn(b"root:", r.body)
            self.assertIn("escapes STORAGE_DIR", stack.log("api"))


class BearerToken(unittest.TestCase):
    """Optional API_TOKEN: uploads need it; reads only with API_TOKEN_READS=1."""

    def test_token_guards_uploads_then_reads(self):
        token = "t0k-" + uuid.uuid4().hex
        with Stack(services=("api",), env={"API_TOKEN": token}) as stack:
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "Basic " + token},
                            {"Authorization": "Bearer " + token + "x"},
                            {"Authorization": "Bearer " + token[:-1]}):
                with self.subTest(headers=headers):
                    r = stack.upload(JPEG, "no entry", headers=headers)
                    problem(self, r, 401)
                    self.assertTrue(r.header("WWW-Authenticate").startswith("Bearer"))
            r = stack.upload(JPEG, "with token", headers={"Authorization": "Bearer " + token})
            self.assertEqual(r.status, 202, r.body)
            self.assertEqual(stack.request("GET", "/api/images").status, 200)

            stack.stop_service("api")
            stack.start_service("api", extra_env={"API_TOKEN_READS": "1"})
            problem(self, stack.request("GET", "/api/images"), 401)
            r = stack.request("GET", "/api/images",
                              headers={"Authorization": "Bearer " + token})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(stack.request("GET", "/health").status, 200,
                             "health stays open for orchestrators")


class Limits(StackTestCase):
    """Body, part count, header size, description and pixels have documented
    limits; after each refusal the next good upload still works."""

    STACK_SERVICES = ("api",)

    def assert_next_upload_works(self):
        r = self.stack.upload(JPEG, "the next good upload")
        self.assertEqual(r.status, 202, r.body)

    def post(self, body, ctype):
        return self.stack.request("POST", "/api/images", body=body,
                                  headers={"Content-Type": ctype}, timeout=60)

    def sized_body(self, total):
        """A valid upload whose body is exactly `total` bytes (padding in the image)."""
        fields = [("image", JPEG, "a.jpg", "image/jpeg"), ("description", b"sized", None, None)]
        body, ctype = multipart(fields)
        pad = total - len(body)
        self.assertGreaterEqual(pad, 0)
        fields[0] = ("image", JPEG + b"\0" * pad, "a.jpg", "image/jpeg")
        body, ctype = multipart(fields)
        self.assertEqual(len(body), total)
        return body, ctype

    def test_body_limit_is_exact(self):
        limit = 10 * 1024 * 1024  # MAX_UPLOAD_BYTES default
        body, ctype = self.sized_body(limit)
        self.assertEqual(self.post(body, ctype).status, 202)
        body, ctype = self.sized_body(limit + 1)
        try:
            r = self.post(body, ctype)
            problem(self, r, 413)
        except (BrokenPipeError, ConnectionResetError):
            # Refusing before the whole body is read is allowed too.
            pass
        self.assert_next_upload_works()

    def test_too_many_parts(self):
        fields = [("image", JPEG, "a.jpg", "image/jpeg"), ("description", b"x", None, None)]
        fields += [("extra%d" % i, b"x", None, None) for i in range(15)]  # 17 parts
        body, ctype = multipart(fields)
        doc = problem(self, self.post(body, ctype), 422)
        self.assertIn("parts", str(doc))
        many = [("p%d" % i, b"", None, None) for i in range(5000)]
        body, ctype = multipart(many)
        problem(self, self.post(body, ctype), 422)
        self.assert_next_upload_works()

    def raw_exchange(self, data):
        """Sends data on a new connection; returns every byte until the server
        closes it (a refusal may also reset the connection)."""
        sock = socket.create_connection(("127.0.0.1", self.stack.api_port), timeout=30)
        reply = b""
        try:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            sock.close()
        return reply

    def test_oversized_request_line_and_headers(self):
        # libmicrohttpd answers these itself, before the api sees the request
        # (docs/api.md, "Serving model and limits"): its own HTML page, no
        # Content-Type, the connection closed; no access-log line, a WARN line.
        big = b"a" * 40960
        cases = ((b"GET /api/images?q=" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                  b"HTTP/1.1 414 URI Too Long\r\n", "414"),
                 (b"POST /api/images HTTP/1.1\r\nHost: x\r\nX-Big: " + big +
                  b"\r\nContent-Length: 0\r\n\r\n",
                  b"HTTP/1.1 431 Request Header Fields Too Large\r\n", "431"))
        for request, status_line, code in cases:
            with self.subTest(status=code):
                reply = self.raw_exchange(request)
                self.assertTrue(reply.startswith(status_line), reply[:100])
                head, _, body = reply.partition(b"\r\n\r\n")
                headers = head.decode("latin-1").lower()
                self.assertNotIn("content-type:", headers)
                self.assertIn("connection: close", headers)
                self.assertTrue(body.startswith(b"<html><head><title>Request too big</title>"),
                                body[:100])
                wait_until(lambda: "microhttpd: Error processing request (HTTP response code "
                           "is %s" % code in log_file(self.stack, "api"), 10,
                           what="the WARN line of the %s" % code)
        r = self.stack.request("GET", "/api/images?limit=1&after=oversized")
        self.assertEqual(r.status, 200, r.body)
        # Access-log lines keep their order: once this one is written, a line
        # for either refusal would be there too.
        wait_until(lambda: "GET /api/images?limit=1&after=oversized 200" in
                   log_file(self.stack, "api"), 10, what="the next request's access-log line")
        log = log_file(self.stack, "api")
        self.assertNotIn("http: GET /api/images?q=aaaa", log)
        self.assertNotIn("http: POST /api/images 431", log)
        self.assertEqual(self.stack.request("GET", "/health").status, 200)
        self.assert_next_upload_works()

    def test_description_limit(self):
        self.assertEqual(self.stack.upload(JPEG, "Ж" * 200).status, 202)
        problem(self, self.stack.upload(JPEG, "Ж" * 201), 422)
        problem(self, self.stack.upload(JPEG, "x" * 100000), 422)
        self.assert_next_upload_works()


class PixelLimit(unittest.TestCase):
    def test_image_over_max_pixels_fails_with_reason(self):
        with Stack(services=SERVICES, env={"MAX_PIXELS": "100000"}) as stack:
            r = stack.upload(JPEG, "too many pixels")
            self.assertEqual(r.status, 202, r.body)
            r = stack.request("GET", "/api/images/%s?wait=30" % r.json()["id"])
            self.assertEqual(r.status, 422, r.body)
            self.assertEqual(r.header("Content-Type"), "application/problem+json")
            doc = r.json()
            self.assertEqual(doc["type"], "urn:imgcap:problem:image-failed")
            self.assertIn("MAX_PIXELS", doc["detail"])


if __name__ == "__main__":
    unittest.main()
