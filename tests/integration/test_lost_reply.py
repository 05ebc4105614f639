"""A take whose reply never reaches the consumer (a cut link, a failover) must
not strand the ids it moved.

Redis is held busy by a script for longer than the consumer's command timeout
while an id waits: the consumer gives up on its take and reconnects, and when
the script ends Redis still runs the take it had already received, moving the
id into the consumer's processing list for a client that is gone. The consumer
is alive and heartbeating, so no reaper will ever return that id: only the
consumer itself can, by handing it out again after a lost take reply."""
import unittest

from harness import Stack, read_data, wait_until

# Pushes the id, then keeps Redis busy past the consumer's REDIS_TIMEOUT_MS
# (under lua-time-limit, so other clients are queued, not answered BUSY).
BUSY = """
redis.call('LPUSH', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
while true do
  t = redis.call('TIME')
  if t[1] * 1000000 + t[2] - start > tonumber(ARGV[2]) then break end
end
return 1
"""


class LostTakeReplyTest(unittest.TestCase):
    def test_id_taken_for_a_timed_out_client_is_still_stored(self):
        env = {"REDIS_TIMEOUT_MS": "1500", "LEASE_SECONDS": "60",
               "CONSUMER_NAME": "lost-reply-render"}
        with Stack(env=env) as s:
            first = s.upload(read_data("camera_674x480.jpg"), "прогрев").json()["id"]
            s.wait_stored([first])
            # An upload the render has not seen: render stopped, id taken back.
            s.stop_service("render")
            r = s.upload(read_data("camera_674x480.jpg"), "потерянный ответ")
            self.assertEqual(r.status, 202)
            lost = r.json()["id"]
            self.assertEqual(s.redis("LREM", "imgcap:q:render", 0, lost), 1)
            s.start_service("render")
            # "started" is logged once the consumer has heartbeated and looked
            # for dead predecessors, when its takes begin: Redis must be busy
            # during a take, not during that start-up work.
            # (s.log() holds the log file and stderr: count distinct lines.)
            wait_until(lambda: len({ln for ln in s.log("render").splitlines()
                                    if "of queue render started" in ln}) == 2,
                       20, what="the restarted render to take")
            s.redis("EVAL", BUSY, 1, "imgcap:q:render", lost, 2500000)
            # Redis ran render's take after render had given up on it.
            s.wait_stored([lost], timeout=30)
            self.assertIn("a take's reply was lost", s.log("render"))
            wait_until(s.queues_at_rest, 20, what="queues at rest")


if __name__ == "__main__":
    unittest.main()
