"""Integration tests of GET /api/events (Server-Sent Events) against real
redis-server, PostgreSQL and services: stored and failed events with their
data, the heartbeat, the EVENTS_MAX_CLIENTS bound, a client that stops
reading, and a stop of the api with streams open."""
import json
import os
import re
import signal
import socket
import threading
import time
import unittest
import uuid

import contract
from harness import Stack, StackTestCase, read_data, wait_until

JPEG = read_data("camera_640x480_progressive.jpg")


class EventStream:
    """A raw HTTP/1.1 client of one event stream (chunked transfer decoded)."""

    def __init__(self, port, headers=None, rcvbuf=None, timeout=30):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n%s\r\n" % extra).encode())
        self.f = self.sock.makefile("rb")
        line = self.f.readline().decode()
        self.status = int(line.split()[1])
        self.headers = {}
        while True:
            line = self.f.readline().decode()
            if line in ("\r\n", ""):
                break
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        self.buf = b""
        self.ended = False
        if self.status == 200:  # another status is checked with its body (body())
            contract.check("GET", "/api/events", self.status, list(self.headers.items()), b"")

    def close(self):
        self.f.close()
        self.sock.close()

    def body(self):
        """The rest of a non-stream answer."""
        data = self.f.read(int(self.headers.get("content-length", "0")))
        contract.check("GET", "/api/events", self.status, list(self.headers.items()), data)
        return data

    def _more(self):
        if not self.chunked:
            data = self.f.read1(65536)
        else:
            size = int(self.f.readline().split(b";")[0], 16)
            data = self.f.read(size) if size else b""
            self.f.readline()
        if not data:
            self.ended = True
        self.buf += data

    def next_block(self):
        """The next block (up to a blank line) as a dict: event, data, retry,
        comments; None when the stream ended."""
        while b"\n\n" not in self.buf:
            if self.ended:
                return None
            self._more()
        block, self.buf = self.buf.split(b"\n\n", 1)
        out = {"event": None, "data": None, "retry": None, "comments": []}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                out["comments"].append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                out["data"] = value if out["data"] is None else out["data"] + "\n" + value
            elif field in ("event", "retry"):
                out[field] = value
        return out

    def next_event(self, want=None):
        """The next block with an event (of type want if given)."""
        while True:
            b = self.next_block()
            if b is None:
                raise AssertionError("the stream ended before a %s event" % (want or "any"))
            if b["event"] and (want is None or b["event"] == want):
                data = json.loads(b["data"])
                contract.check_event(b["event"], data)
                return b["event"], data

    def drain_to_end(self):
        while not self.ended:
            self._more()
            self.buf = b""


def metric(stack, name):
    text = stack.request("GET", "/metrics").body.decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class Events(StackTestCase):
    def test_stored_and_failed_events(self):
        es = EventStream(self.stack.api_port)
        try:
            self.assertEqual(es.status, 200)
            self.assertEqual(es.headers["content-type"], "text/event-stream; charset=utf-8")
            self.assertEqual(es.headers["cache-control"], "no-cache")
            # The first block sets the reconnection delay; once it is read
            # the stream is registered.
            first = es.next_block()
            self.assertEqual(first["retry"], "3000")

            caption = "Перекрёсток: <камера 3> & \"север\""
            r = self.stack.upload(JPEG, caption)
            self.assertEqual(r.status, 202, r.body)
            accepted = r.json()
            kind, data = es.next_event("stored")
            self.assertEqual(data["id"], accepted["id"])
            self.assertEqual(data["url"], "/api/images/" + accepted["id"])
            self.assertEqual(data["description"], caption)
            self.assertEqual(data["received_at"], accepted["received_at"])
            self.assertRegex(data["stored_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertGreaterEqual(data["stored_at"], data["received_at"])
            self.assertEqual(sorted(data), ["camera", "description", "id", "received_at",
                                            "stored_at", "thumbnail_url", "url"])
            # As the row says: no camera was given; a thumbnail when render made one.
            self.assertIsNone(data["camera"])
            has_thumb = self.stack.psql("SELECT thumb_bytes IS NOT NULL FROM images "
                                        "WHERE id = '%s'" % accepted["id"]) == "t"
            self.assertEqual(data["thumbnail_url"],
                             "/api/images/%s/thumbnail" % accepted["id"] if has_thumb else None)

            bad = self.stack.upload(read_data("truncated.jpg"), "broken").json()["id"]
            kind, data = es.next_event("failed")
            self.assertEqual(data["id"], bad)
            self.assertTrue(data["reason"])
            status = self.stack.redis("HGET", "imgcap:status:" + bad, "error").decode()
            self.assertEqual(data["reason"], status)
        finally:
            es.close()

    def test_list_page_follows_stored_and_deleted_events(self):
        # The newest page is answered from the api's cache; once the event of
        # a stored or deleted image has reached the api (the stream relays
        # it after the cache saw it), no page may miss or show that image.
        es = EventStream(self.stack.api_port)
        try:
            es.next_block()

            def newest():
                r = self.stack.request("GET", "/api/images?limit=5")
                self.assertEqual(r.status, 200)
                return [it["id"] for it in r.json()["items"]]

            before = newest()
            self.assertEqual(newest(), before)  # the second from the cache
            new_id = self.stack.upload(JPEG, "list cache").json()["id"]
            while es.next_event("stored")[1]["id"] != new_id:
                pass
            self.assertEqual(newest()[0], new_id)
            self.assertEqual(newest()[0], new_id)
            # Deleted by another api: its row goes, then its event arrives.
            self.assertEqual(self.stack.psql("SELECT imgcap_delete_image('%s', false)" % new_id),
                             "deleted")
            self.stack.redis("PUBLISH", "imgcap:events",
                             json.dumps({"id": new_id, "status": "deleted", "at": 0}))
            while es.next_event("deleted")[1]["id"] != new_id:
                pass
            self.assertNotIn(new_id, newest())
            self.assertEqual(newest(), before[:5])
        finally:
            es.close()

    def test_heartbeat_comment_when_idle(self):
        es = EventStream(self.stack.api_port)
        try:
            es.next_block()  # retry
            started = time.monotonic()
            b = es.next_block()
            # An idle stream carries a comment line at least every 15 s.
            self.assertEqual(b["event"], None)
            self.assertEqual(b["comments"], ["keep-alive"])
            self.assertLess(time.monotonic() - started, 15)
        finally:
            es.close()

    def test_events_are_best_effort_hints(self):
        # An event for an id without a row (deleted, or a stray publish) is
        # not streamed; the next real one is.
        es = EventStream(self.stack.api_port)
        try:
            es.next_block()
            self.stack.redis("PUBLISH", "imgcap:events",
                             json.dumps({"id": str(uuid.uuid4()), "status": "stored", "at": 1}))
            self.stack.redis("PUBLISH", "imgcap:events", "not json")
            accepted = self.stack.upload(JPEG, "after the stray events").json()
            kind, data = es.next_event()
            self.assertEqual((kind, data["id"]), ("stored", accepted["id"]))
        finally:
            es.close()


class Limits(unittest.TestCase):
    def test_client_limit_is_503_with_retry_after(self):
        with Stack(services=("api",), env={"EVENTS_MAX_CLIENTS": "2"}) as s:
            a, b = EventStream(s.api_port), EventStream(s.api_port)
            self.assertEqual((a.status, b.status), (200, 200))
            c = EventStream(s.api_port)
            self.assertEqual(c.status, 503)
            self.assertEqual(c.headers["retry-after"], "5")
            self.assertEqual(c.headers["content-type"], "application/problem+json")
            doc = json.loads(c.body())
            self.assertIn("EVENTS_MAX_CLIENTS", doc["detail"])
            c.close()
            # Other routes are not affected.
            self.assertEqual(s.request("GET", "/health").status, 200)
            # A closed stream frees its place (noticed at its next write, the
            # heartbeat at the latest).
            a.close()

            def reopened():
                d = EventStream(s.api_port)
                if d.status == 200:
                    return d
                d.close()
                return None
            d = wait_until(reopened, 30, interval=0.5, what="a place to free up")
            d.close()
            b.close()

    def test_token_for_reads(self):
        with Stack(services=("api",), env={"API_TOKEN": "s3cret", "API_TOKEN_READS": "1"}) as s:
            es = EventStream(s.api_port)
            self.assertEqual(es.status, 401)
            es.close()
            es = EventStream(s.api_port, headers={"Authorization": "Bearer s3cret"})
            self.assertEqual(es.status, 200)
            es.close()

    def test_client_that_stops_reading_is_cut_off_alone(self):
        """A client that reads nothing cannot stall the others or make the api
        buffer without bound: past its buffer its stream is cut off."""
        with Stack(services=("api",)) as s:
            slow = EventStream(s.api_port, rcvbuf=4096)
            self.assertEqual(slow.status, 200)
            got = []
            done = threading.Event()
            fast = [None]

            def read_fast():
                # A client that keeps reading, and reconnects as EventSource
                # does should it fall behind too.
                while not done.is_set():
                    try:
                        fast[0] = EventStream(s.api_port)
                        while not done.is_set():
                            got.append(fast[0].next_event()[1]["id"])
                    except (AssertionError, OSError, ValueError):  # cut off, or closed
                        pass
            reader = threading.Thread(target=read_fast, daemon=True)
            reader.start()
            wait_until(lambda: metric(s, "imgcap_api_event_streams") == 2, 10,
                       what="both streams counted")
            # Failed events carry their reason from status:<id>: 5000 of
            # about 560 bytes is 2.8 MB, more than the stream's bound and
            # the kernel's socket buffers of a client that reads nothing.
            reason = "r" * 500
            ids = [str(uuid.uuid4()) for _ in range(5000)]
            s.redis._connect()
            for i in range(0, len(ids), 250):
                cmds = []
                for id_ in ids[i:i + 250]:
                    cmds.append(["HSET", "imgcap:status:" + id_, "stage", "failed", "error",
                                 reason])
                    cmds.append(["PUBLISH", "imgcap:events",
                                 json.dumps({"id": id_, "status": "failed", "at": 1})])
                pipeline(s.redis, cmds)
            wait_until(lambda: metric(s, "imgcap_api_event_streams_cut_total") >= 1, 60,
                       what="the slow stream to be cut off")
            # The fast client still gets events published afterwards.
            marker = str(uuid.uuid4())
            s.redis("HSET", "imgcap:status:" + marker, "stage", "failed", "error", "marker")

            def marker_seen():
                if marker in got:
                    return True
                s.redis("PUBLISH", "imgcap:events",
                        json.dumps({"id": marker, "status": "failed", "at": 1}))
                return False
            wait_until(marker_seen, 60, interval=1, what="the fast client to see the marker")
            self.assertGreater(len(got), 100)
            # The slow stream ends once its client reads what was sent.
            slow.sock.settimeout(30)
            slow.drain_to_end()
            self.assertTrue(slow.ended)
            wait_until(lambda: metric(s, "imgcap_api_event_streams") == 1, 30,
                       what="the cut stream to be closed")
            done.set()
            fast[0].close()
            slow.close()
            reader.join(10)


def pipeline(redis, cmds):
    """Sends cmds in one write and reads every reply."""
    parts = []
    for args in cmds:
        parts.append(b"*%d\r\n" % len(args))
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    redis.sock.sendall(b"".join(parts))
    for _ in cmds:
        redis._reply()


class RedisRestart(unittest.TestCase):
    def test_streams_end_when_events_may_have_been_missed(self):
        """Events published while the api was not subscribed are lost: its
        streams end once it subscribes again, so clients reconnect and catch
        up from the list."""
        with Stack(services=("api",)) as s:
            es = EventStream(s.api_port)
            self.assertEqual(es.status, 200)
            es.next_block()
            s.stop_redis()
            s.start_redis()
            es.sock.settimeout(60)
            es.drain_to_end()
            self.assertTrue(es.ended)
            es.close()
            wait_until(lambda: "events: subscribed after" in s.log("api"), 30,
                       what="the api to subscribe again")
            again = EventStream(s.api_port)
            self.assertEqual(again.status, 200)
            again.close()


class Shutdown(unittest.TestCase):
    def test_sigterm_ends_open_streams(self):
        with Stack(services=("api",), env={"SHUTDOWN_SECONDS": "5"}) as s:
            streams = [EventStream(s.api_port) for _ in range(3)]
            stalled = EventStream(s.api_port, rcvbuf=4096)  # never read
            for es in streams:
                self.assertEqual(es.status, 200)
                es.next_block()
            wait_until(lambda: metric(s, "imgcap_api_event_streams") == 4, 10,
                       what="the streams to be counted")
            proc = s.procs["api"]
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            for es in streams:
                es.drain_to_end()  # the stream ends with its last chunk
                self.assertTrue(es.ended)
            self.assertEqual(proc.wait(30), 0)
            self.assertLess(time.monotonic() - started, 15)
            for es in streams + [stalled]:
                es.close()
            log = s.log("api")
            self.assertIn("imgcap-api stopped", log)


if __name__ == "__main__":
    unittest.main()
