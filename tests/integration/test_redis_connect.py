"""How a service sets up its Redis connection from REDIS_URL: a database number is
selected on every connection (and a wrong one refused), a password Redis does
not expect is refused, and a WAIT for a replica that is not there refuses
the upload; a unix:// URL reaches a server on a socket file. Each refusal is a Redis outage for the api (/health
503, uploads 503, the reason in its log), never a crash."""
import os
import subprocess
import unittest

from harness import Redis, Stack, read_data, wait_until

JPEG = read_data("camera_640x480_progressive.jpg")


class RedisUrl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=()).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def start_api(self, url):
        s = self.stack
        s.stop_service("api")
        s.start_service("api", extra_env={"REDIS_URL": url})

    def assert_redis_down(self, reason):
        s = self.stack
        h = s.request("GET", "/health")
        self.assertEqual(h.status, 503)
        self.assertEqual(h.json()["redis"], "down")
        self.assertEqual(s.upload(JPEG, "refused").status, 503)
        self.assertIn(reason, s.log("api"))

    def test_database_number_is_selected(self):
        s = self.stack
        self.start_api("redis://127.0.0.1:%d/5" % s.redis_port)
        self.assertEqual(s.request("GET", "/health").status, 200)
        r = s.upload(JPEG, "in database 5")
        self.assertEqual(r.status, 202, r.body)
        db5 = Redis(s.redis_port)
        try:
            self.assertEqual(db5("SELECT", "5"), "OK")
            self.assertEqual(db5("LLEN", "imgcap:q:render"), 1)
        finally:
            db5.close()
        self.assertEqual(s.redis("LLEN", "imgcap:q:render"), 0, "nothing in database 0")

    def test_database_out_of_range_is_refused(self):
        self.start_api("redis://127.0.0.1:%d/999" % self.stack.redis_port)
        self.assert_redis_down("Redis SELECT failed: ERR DB index is out of range")

    def test_wait_for_a_replica_that_is_not_there(self):
        """REDIS_WAIT_REPLICAS=1 with no replica: no replica acknowledges the
        enqueue in time, so the upload is refused (503) rather than accepted
        without its copy."""
        s = self.stack
        s.stop_service("api")
        s.start_service("api", extra_env={"REDIS_WAIT_REPLICAS": "1",
                                          "REDIS_WAIT_TIMEOUT_MS": "100"})
        r = s.upload(JPEG, "unreplicated")
        self.assertEqual(r.status, 503, r.body)
        self.assertIn("Redis replication: 0 of 1 replicas acknowledged within 100 ms",
                      s.log("api"))

    def test_unix_socket(self):
        """REDIS_URL unix:///path: a redis-server listening on a socket file
        only; the api queues through it."""
        s = self.stack
        sock = os.path.join(s.tmp, "redis.sock")
        d = os.path.join(s.tmp, "redis-unix")
        os.makedirs(d)
        p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                              "--unixsocketperm", "700", "--dir", d, "--save", ""],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: os.path.exists(sock), 20, what="the socket file")
            self.start_api("unix://" + sock)
            self.assertEqual(s.request("GET", "/health").status, 200, s.log("api"))
            r = s.upload(JPEG, "through a unix socket")
            self.assertEqual(r.status, 202, r.body)
            out = subprocess.run(["redis-cli", "-s", sock, "LLEN", "imgcap:q:render"],
                                 stdout=subprocess.PIPE, check=True).stdout
            self.assertEqual(out.strip(), b"1")
        finally:
            s.stop_service("api")
            p.terminate()
            p.wait(20)

    def test_unexpected_password_is_refused(self):
        self.start_api("redis://:secret@127.0.0.1:%d" % self.stack.redis_port)
        self.assert_redis_down("Redis AUTH failed: ")


if __name__ == "__main__":
    unittest.main()
