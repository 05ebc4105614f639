"""Redis through Sentinel on one host: a real redis-sentinel watching the stack's
redis-server, the api configured with REDIS_SENTINELS. The several-hosts tests
(tests/hosts/) cover failover across hosts; these cover, in seconds, how the
api finds the primary: a dead sentinel skipped for the next one, a sentinel
that does not know the master name, a primary that was demoted under the api
(READONLY, then ROLE says replica), and REDIS_WAIT_REPLICAS with a replica
attached."""
import os
import subprocess
import unittest

from harness import Redis, Stack, free_port, read_data, wait_until

JPEG = read_data("camera_640x480_progressive.jpg")


def answers(r, *cmd):
    try:
        return r(*cmd)
    except (OSError, ConnectionError, RuntimeError):
        return None


class SentinelOnOneHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=()).__enter__()
        cls.procs = []
        try:
            s = cls.stack
            cls.sentinel_port = free_port()
            d = os.path.join(s.tmp, "sentinel")
            os.makedirs(d)
            conf = os.path.join(d, "sentinel.conf")
            # down-after is long: no failover starts while a test demotes the
            # primary on purpose.
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                        "sentinel monitor imgcap 127.0.0.1 %d 1\n"
                        "sentinel down-after-milliseconds imgcap 60000\n"
                        % (cls.sentinel_port, d, os.path.join(s.log_dir, "sentinel.log"),
                           s.redis_port))
            cls.procs.append(subprocess.Popen(["redis-sentinel", conf],
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            cls.sentinel = Redis(cls.sentinel_port)
            wait_until(lambda: answers(cls.sentinel, "SENTINEL", "get-master-addr-by-name",
                                       "imgcap"), 20, what="redis-sentinel")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.terminate()
            p.wait(20)
        cls.stack.close()

    def start_api(self, **env):
        s = self.stack
        s.stop_service("api")
        open(os.path.join(s.log_dir, "api.log"), "w").close()
        base = {"REDIS_SENTINELS": "127.0.0.1:%d" % self.sentinel_port,
                "REDIS_MASTER_NAME": "imgcap"}
        base.update(env)
        s.start_service("api", extra_env=base)

    def start_redis(self, *args):
        port = free_port()
        d = os.path.join(self.stack.tmp, "redis-%d" % port)
        os.makedirs(d)
        p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--dir", d, "--save", ""] + list(args),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        r = Redis(port)
        wait_until(lambda: answers(r, "PING") == "PONG", 20, what="redis-server")
        return port, r

    def test_dead_sentinel_is_skipped_for_the_next(self):
        dead = free_port()
        self.start_api(REDIS_SENTINELS="127.0.0.1:%d,127.0.0.1:%d" % (dead, self.sentinel_port))
        s = self.stack
        self.assertEqual(s.request("GET", "/health").status, 200, s.log("api"))
        before = s.redis("LLEN", "imgcap:q:render")
        self.assertEqual(s.upload(JPEG, "through sentinel").status, 202)
        self.assertEqual(s.redis("LLEN", "imgcap:q:render"), before + 1)
        log = s.log("api")
        self.assertIn("redis: sentinel 127.0.0.1:%d: Connection refused" % dead, log)
        self.assertIn("redis: primary 'imgcap' is 127.0.0.1:%d (sentinel 127.0.0.1:%d)"
                      % (s.redis_port, self.sentinel_port), log)

    def test_unknown_master_name_is_a_redis_outage(self):
        self.start_api(REDIS_MASTER_NAME="nosuch")
        s = self.stack
        h = s.request("GET", "/health")
        self.assertEqual(h.status, 503)
        self.assertEqual(h.json()["redis"], "down")
        self.assertEqual(s.upload(JPEG, "no primary").status, 503)
        self.assertIn("sentinel 127.0.0.1:%d does not know 'nosuch'" % self.sentinel_port,
                      s.log("api"))

    def test_demoted_primary_is_left_until_it_is_primary_again(self):
        """The primary turned into a replica under the api: the next write gets
        READONLY, the api asks the sentinel again, is sent to the same server,
        sees from ROLE that it is a replica and refuses it; once the server is
        a primary again, uploads go through."""
        self.start_api()
        s = self.stack
        self.assertEqual(s.upload(JPEG, "before").status, 202)
        other_port, other = self.start_redis()
        self.assertEqual(s.redis("REPLICAOF", "127.0.0.1", str(other_port)), "OK")
        try:
            r = s.upload(JPEG, "while a replica")
            self.assertEqual(r.status, 503, r.body)
            self.assertIn("READONLY", s.log("api"))
            self.assertIn("looking for the primary again", s.log("api"))
            r = s.upload(JPEG, "still a replica")
            self.assertEqual(r.status, 503, r.body)
            wait_until(lambda: "the server is a slave, not the primary" in s.log("api"), 10,
                       what="the api to refuse the replica")
        finally:
            s.redis("REPLICAOF", "NO", "ONE")
            other.close()

        def accepted():
            return s.upload(JPEG, "after").status == 202
        wait_until(accepted, 20, interval=0.3, what="uploads accepted again")

    def test_wait_replicas_with_a_replica_attached(self):
        port, replica = self.start_redis("--replicaof", "127.0.0.1", str(self.stack.redis_port))
        try:
            wait_until(lambda: answers(self.stack.redis, "WAIT", "1", "100") == 1, 20,
                       what="the replica to attach")
            self.start_api(REDIS_WAIT_REPLICAS="1", REDIS_WAIT_TIMEOUT_MS="1000")
            s = self.stack
            r = s.upload(JPEG, "replicated")
            self.assertEqual(r.status, 202, r.body)
            image_id = r.json()["id"]
            # Acknowledged by the replica before the api answered: the job is there.
            jobs = replica("LRANGE", "imgcap:q:render", "0", "-1")
            self.assertTrue(any(image_id.encode() in j for j in jobs), jobs)
        finally:
            replica.close()


if __name__ == "__main__":
    unittest.main()
