"""The api's event subscription when Redis stops answering without closing the
connection (redis-server stopped with SIGSTOP: what a cut link or a frozen
host looks like, no RST, no error): the subscriber's PING goes unanswered,
the subscription is declared lost, and once Redis answers again the api
subscribes again and ends the open streams, so that clients reconnect and
catch up."""
import os
import signal
import unittest

from harness import Stack, wait_until
from test_events import EventStream


class SilentRedis(unittest.TestCase):
    def test_unanswered_ping_ends_the_streams(self):
        with Stack(services=("api",), with_pg=False) as s:
            es = EventStream(s.api_port)
            self.assertEqual(es.status, 200)
            es.next_block()
            pid = s.redis_proc.pid
            os.kill(pid, signal.SIGSTOP)
            try:
                # A PING after 2 s of silence, 2 s more for its answer.
                wait_until(lambda: "events: subscription lost: events: no answer to PING"
                           in s.log("api"), 20, what="the subscription to be declared lost")
            finally:
                os.kill(pid, signal.SIGCONT)
            # Events published meanwhile were missed: the stream ends once the
            # api has subscribed again.
            es.sock.settimeout(30)
            es.drain_to_end()
            self.assertTrue(es.ended)
            es.close()
            with open(os.path.join(s.log_dir, "api.log")) as f:
                self.assertEqual(f.read().count("events: events: subscribed"), 2,
                                 "subscribed at start and again")
            again = EventStream(s.api_port)
            self.assertEqual(again.status, 200)
            again.close()


if __name__ == "__main__":
    unittest.main()
