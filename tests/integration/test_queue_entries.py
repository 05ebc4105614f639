"""What a consumer does with work-list entries nobody should have written: an
entry that is not an id (left for a human in the consumer's processing list,
and said so), and an id whose payload is missing (not rendered, not retried
forever). render alone on a real redis-server, idle, so each entry reaches it
through its blocking take. And a consumer started before Redis is up."""
import os
import signal
import subprocess
import unittest

from harness import BIN_DIR, ROOT, Stack, free_port, wait_until
from test_render_cli import uuid7

P = "imgcap:"


def text(v):
    return v.decode() if isinstance(v, bytes) else v


class WorkListEntries(unittest.TestCase):
    def test_junk_and_a_missing_payload(self):
        with Stack(services=("render",), with_pg=False) as s:
            s.wait_log("render", "render started as consumer")
            junk = "x" * 60  # longer than any id
            s.redis("LPUSH", P + "q:render", junk)
            wait_until(lambda: "unexpected entry in work list" in s.log("render"), 20,
                       what="the junk to be seen")
            processing = s.redis("KEYS", P + "q:render:processing:*")
            held = [text(v) for k in processing for v in s.redis("LRANGE", k, 0, -1)]
            self.assertIn(junk, held)

            orphan = uuid7()  # an id with no msg: key
            s.redis("LPUSH", P + "q:render", orphan)
            wait_until(lambda: "id=%s queue render: taken without its payload, dropped"
                       % orphan in s.log("render"), 20, what="the orphan id")
            self.assertNotIn("id=%s dead-lettered" % orphan, s.log("render"))
            self.assertEqual(s.redis("LLEN", P + "q:persist"), 0)


class NoRedisYet(unittest.TestCase):
    def test_waits_for_redis_and_stops_on_sigterm(self):
        """A consumer started before Redis keeps trying (it must not crash-loop
        in a deployment that starts everything at once) and a SIGTERM while it
        waits ends it cleanly."""
        env = dict(os.environ, IMGCAP_ENV_FILE="/dev/null", LOG_DIR="",
                   FONTS_DIR=os.path.join(ROOT, "fonts"),
                   REDIS_URL="redis://127.0.0.1:%d" % free_port())
        p = subprocess.Popen([os.path.join(BIN_DIR, "imgcap-render")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines = []
        try:
            for raw in p.stderr:
                lines.append(raw.decode(errors="replace"))
                if "(attempt 2); retrying" in lines[-1]:
                    break
        finally:
            p.send_signal(signal.SIGTERM)
            rest = p.communicate(timeout=30)[1].decode(errors="replace")
        log = "".join(lines) + rest
        self.assertEqual(p.returncode, 0, log)
        self.assertIn("cannot connect to Redis", log)
        self.assertIn("(attempt 2); retrying", log)
        self.assertNotIn("render: consumer ", log)
