"""imgcap-api's command line and the ways it refuses to start: --help, an unknown
argument, a configuration error, a port another process holds, a log file it
cannot open; and --check (the Docker healthcheck) against no server, a server
that does not speak HTTP, and a server that answers a status. None of these
needs Redis or PostgreSQL: each test runs in well under a second."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

from harness import BIN_DIR, free_port, wait_until

API = os.path.join(BIN_DIR, "imgcap-api")


def run_api(*args, env=None, timeout=30):
    e = dict(os.environ)
    # Nothing listens on these: the api must not need either to start or to fail.
    e.update({"IMGCAP_ENV_FILE": "/dev/null", "API_HOST": "127.0.0.1",
              "REDIS_URL": "redis://127.0.0.1:%d" % free_port(),
              "DATABASE_URL": "postgresql://imgcap@127.0.0.1:%d/imgcap" % free_port(),
              "LOG_DIR": ""})
    e.update(env or {})
    return subprocess.run([API] + list(args), env=e, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


class OneShotServer:
    """A TCP server on 127.0.0.1 that answers each connection with `reply`
    (after reading the request's first bytes) and closes it."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(4096))
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class CommandLine(unittest.TestCase):
    def test_help_lists_the_routes_and_check(self):
        p = run_api("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("usage: imgcap-api"), p.stdout)
        for word in ("--check", "POST /api/images", "API_PORT"):
            self.assertIn(word, p.stdout)

    def test_unknown_argument_is_exit_2_with_usage(self):
        p = run_api("--bogus")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown argument --bogus", p.stderr)
        self.assertIn("usage: imgcap-api", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_configuration_errors_are_exit_3(self):
        p = run_api(env={"API_PORT": "70000"})
        self.assertEqual(p.returncode, 3)
        self.assertIn("configuration: ", p.stderr)
        self.assertIn("API_PORT", p.stderr)
        # Accepted by the parser, refused by the Redis settings' own check:
        # WAIT may not take more than half of a command's timeout.
        p = run_api(env={"REDIS_WAIT_REPLICAS": "1", "REDIS_TIMEOUT_MS": "1000",
                         "REDIS_WAIT_TIMEOUT_MS": "600"})
        self.assertEqual(p.returncode, 3)
        self.assertIn("REDIS_WAIT_TIMEOUT_MS: 600 ms must be at most half", p.stderr)
        p = run_api(env={"REDIS_SENTINELS": "127.0.0.1:notaport"})
        self.assertEqual(p.returncode, 3)
        self.assertIn("configuration", p.stderr)


class StartFailures(unittest.TestCase):
    def test_port_taken_and_log_file_unopenable(self):
        """A port another process listens on ends the start with exit 1 and the
        reason; a log file that cannot be opened (here a directory holds its
        name) leaves the api logging to stderr, which still says why."""
        with tempfile.TemporaryDirectory() as logs, socket.socket() as taken:
            os.mkdir(os.path.join(logs, "api.log"))
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            p = run_api(env={"API_PORT": str(taken.getsockname()[1]), "LOG_DIR": logs,
                             "SHUTDOWN_SECONDS": "1"})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot open log file %s/api.log" % logs, p.stderr)
        self.assertIn("logging to stderr only", p.stderr)
        self.assertIn("cannot start the HTTP server", p.stderr)
        self.assertNotIn("imgcap-api started", p.stderr)

    def test_listen_address_that_does_not_resolve(self):
        p = run_api(env={"API_HOST": "fe80::1%nosuchif", "API_PORT": str(free_port())})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot start the HTTP server: API_HOST fe80::1%nosuchif: ", p.stderr)

    def test_log_directory_that_cannot_be_created(self):
        with tempfile.NamedTemporaryFile() as f, socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            # A directory under a regular file: mkdir fails (ENOTDIR).
            p = run_api(env={"API_PORT": str(taken.getsockname()[1]),
                             "LOG_DIR": os.path.join(f.name, "logs")})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot create log directory %s/logs" % f.name, p.stderr)


class Ipv6(unittest.TestCase):
    def test_serves_and_is_checked_on_ipv6_loopback(self):
        """API_HOST ::1: the api listens on IPv6 and --check reaches it there.
        Without Redis or PostgreSQL /health is 503, which --check prints and
        turns into exit 1; SIGTERM then stops the api cleanly."""
        port = free_port()
        e = dict(os.environ)
        e.update({"IMGCAP_ENV_FILE": "/dev/null", "API_HOST": "::1", "API_PORT": str(port),
                  "LOG_DIR": "", "SHUTDOWN_SECONDS": "1",
                  "REDIS_URL": "redis://127.0.0.1:%d" % free_port(),
                  "DATABASE_URL": "postgresql://imgcap@127.0.0.1:%d/imgcap" % free_port()})
        api = subprocess.Popen([API], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def answered():
                p = run_api("--check", env={"API_HOST": "::1", "API_PORT": str(port)})
                return p if p.stdout.startswith("503 ") else None
            p = wait_until(answered, 30, interval=0.2, what="the api on ::1")
            self.assertEqual(p.returncode, 1)
            self.assertIn('"redis"', p.stdout)
        finally:
            api.send_signal(signal.SIGTERM)
            _, err = api.communicate(timeout=30)
        self.assertEqual(api.returncode, 0, err)
        self.assertIn(b"listening on ::1:%d" % port, err)
        self.assertIn(b"imgcap-api stopped", err)


class Check(unittest.TestCase):
    def check(self, port, host="127.0.0.1"):
        return run_api("--check", env={"API_HOST": host, "API_PORT": str(port)})

    def test_nothing_listening(self):
        port = free_port()
        p = self.check(port)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout.strip(),
                         "-1 connect 127.0.0.1:%d: Connection refused" % port)

    def test_address_that_does_not_resolve(self):
        # An IPv6 literal with an interface that does not exist: refused by
        # getaddrinfo itself, no name server asked.
        p = self.check(8000, host="fe80::1%nosuchif")
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("-1 fe80::1%nosuchif:8000: "), p.stdout)

    def test_ipv6_wildcard_is_checked_on_ipv6_loopback(self):
        port = free_port()
        p = self.check(port, host="::")
        self.assertEqual(p.returncode, 1)
        # Refused, or no IPv6 on this machine: either way ::1 was asked.
        self.assertTrue(p.stdout.startswith("-1 connect ::1:%d: " % port), p.stdout)

    def test_a_server_that_is_not_http(self):
        srv = OneShotServer(b"+PONG\r\n")
        try:
            p = self.check(srv.port)
        finally:
            srv.close()
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout.strip(), "-1 no HTTP answer from 127.0.0.1:%d" % srv.port)

    def test_status_and_body_are_printed(self):
        """200 is healthy (exit 0), any other status is not (exit 1); the body
        follows the status. API_HOST 0.0.0.0 (listen everywhere) is checked
        through the loopback address."""
        for reply, code in ((b"HTTP/1.1 200 OK\r\nX: y\r\n\r\n{\"status\":\"ok\"}", 0),
                            (b"HTTP/1.0 503 Service Unavailable\r\n\r\ndown", 1)):
            srv = OneShotServer(reply)
            try:
                p = self.check(srv.port, host="0.0.0.0")
            finally:
                srv.close()
            self.assertEqual(p.returncode, code, p.stdout)
            status, _, body = reply.decode().partition("\r\n\r\n")
            self.assertEqual(p.stdout.strip(), "%s %s" % (status.split()[1], body))
            self.assertTrue(srv.requests[0].startswith(
                b"GET /health HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n" % srv.port), srv.requests)

    def test_status_line_that_is_not_a_status(self):
        # Each byte of "HTTP/1.x NNN" checked: the version, the space, three
        # digits of a status from 100 to 599.
        for reply in (b"HTTP/1.1 2xx OK\r\n\r\n", b"HTTP/1.1 99", b"HTTP/2 200 OK\r\n\r\n",
                      b"HTTP/1.1-200 OK\r\n\r\n", b"HTTP/1.1 099 Low\r\n\r\n",
                      b"HTTP/1.1 600 High\r\n\r\n", b"HTTP/1.1 2/0 X\r\n\r\n",
                      b"HTTP/1.1 2:0 X\r\n\r\n", b"HTTP/1.1 20/ X\r\n\r\n",
                      b"HTTP/1.1 20: X\r\n\r\n", b""):
            srv = OneShotServer(reply)
            try:
                p = self.check(srv.port)
            finally:
                srv.close()
            self.assertEqual(p.returncode, 1, reply)
            self.assertIn("no HTTP answer", p.stdout, reply)

    def test_answer_without_a_body_or_too_long(self):
        # No blank line after the headers: the status counts, the body is empty.
        srv = OneShotServer(b"HTTP/1.1 200 OK\r\nX: y")
        try:
            p = self.check(srv.port)
        finally:
            srv.close()
        self.assertEqual((p.returncode, p.stdout), (0, "200 \n"))
        # An answer longer than the check reads: the first 8 KiB are enough.
        srv = OneShotServer(b"HTTP/1.1 503 Busy\r\n\r\n" + b"x" * 20000)
        try:
            p = self.check(srv.port)
        finally:
            srv.close()
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stdout.startswith("503 xxxx"), p.stdout[:40])
        self.assertLess(len(p.stdout), 8192 + 8)

if __name__ == "__main__":
    unittest.main()
