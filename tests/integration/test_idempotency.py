"""Idempotency-Key on POST /api/images (docs/api.md, Idempotent uploads).

A retry with the key of an earlier upload gets that upload's answer (the same
id, the same 202 body), never a second copy; the same key with another upload
is a 422. The key is stored in the enqueue's own MULTI/EXEC, so under faults
(the api killed, Redis restarted mid-burst) clients that retry with their key
until they get an answer end with every key stored exactly once and no row
that no key accounts for."""
import signal
import threading
import time
import unittest
import uuid

from harness import Stack, StackTestCase, multipart, read_data, wait_until

JPEG = read_data("camera_674x480.jpg")
OTHER_JPEG = read_data("camera_674x480_gray.jpg")
KEY_PROBLEM = "urn:imgcap:problem:idempotency-key-"


def key_names(s):
    return [k.decode() for k in s.redis("KEYS", "imgcap:idem:*")]


def rows_by_description(s, like):
    """{description: [ids]} of the rows whose description starts with like."""
    out = {}
    rows = s.psql("SELECT description, id FROM images WHERE description LIKE '%s%%'" % like)
    for line in rows.splitlines():
        if line:
            d, i = line.split("|")
            out.setdefault(d, []).append(i)
    return out


class IdempotencyKey(StackTestCase):
    def upload(self, key, description, jpeg=JPEG, headers=None):
        h = {"Idempotency-Key": key} if key is not None else {}
        h.update(headers or {})
        return self.stack.upload(jpeg, description, headers=h)

    def restart_api(self, **env):
        self.stack.stop_service("api")
        self.stack.start_service("api", extra_env=env)

    def test_same_key_twice_is_one_upload(self):
        s = self.stack
        key = str(uuid.uuid4())
        first = self.upload(key, "один ключ")
        self.assertEqual(first.status, 202, first.body)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        again = self.upload(key, "один ключ")
        self.assertEqual(again.status, 202, again.body)
        self.assertEqual(again.json(), first.json())  # the same body, the same id
        self.assertEqual(again.header("Location"), first.header("Location"))
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        ident = first.json()["id"]
        s.wait_stored([ident])
        # Stored by now: the answer stays the same, quoted key or not.
        stored = self.upload('"%s"' % key, "один ключ")
        self.assertEqual(stored.status, 202, stored.body)
        self.assertEqual(stored.json(), first.json())
        self.assertEqual(rows_by_description(s, "один ключ"), {"один ключ": [ident]})
        # The key, with its TTL (IDEMPOTENCY_TTL's default, a day); the
        # replays counted apart from the accepted uploads.
        name = "imgcap:idem:open:" + key
        self.assertIn(name, key_names(s))
        self.assertIn(ident, s.redis("GET", name).decode())
        self.assertGreater(s.redis("TTL", name), 86000)
        metrics = s.request("GET", "/metrics").body.decode()
        self.assertRegex(metrics, r"imgcap_uploads_replayed_total [2-9]")

    def test_same_key_another_upload_is_422(self):
        s = self.stack
        key = str(uuid.uuid4())
        first = self.upload(key, "первый")
        self.assertEqual(first.status, 202, first.body)
        others = [self.upload(key, "второй"), self.upload(key, "первый", jpeg=OTHER_JPEG),
                  self.upload(key, "первый", headers={})]
        # The same description and image with a camera: another upload.
        body, ctype = multipart([("image", JPEG, "photo.jpg", "image/jpeg"),
                                 ("description", "первый".encode(), None, None),
                                 ("camera", b"cam-1", None, None)])
        others.append(s.request("POST", "/api/images", body=body,
                                headers={"Content-Type": ctype, "Idempotency-Key": key}))
        self.assertEqual(others[2].status, 202)  # the same upload: a replay
        for r in others[:2] + others[3:]:
            self.assertEqual(r.status, 422, r.body)
            p = r.json()
            self.assertEqual(p["type"], KEY_PROBLEM + "reused")
            self.assertEqual(p["id"], first.json()["id"])
            self.assertIn("Idempotency-Key", p["detail"])
        s.wait_stored([first.json()["id"]])
        self.assertEqual(rows_by_description(s, "второй"), {})
        self.assertEqual(len(rows_by_description(s, "первый")["первый"]), 1)

    def test_concurrent_requests_with_one_key_store_one_upload(self):
        s = self.stack
        key = str(uuid.uuid4())
        answers, lock = [], threading.Lock()
        go = threading.Barrier(8)

        def send():
            go.wait()
            r = self.upload(key, "одновременно")
            with lock:
                answers.append(r)
        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {r.json()["id"] for r in answers if r.status == 202}
        self.assertEqual(len(ids), 1, [(r.status, r.body) for r in answers])
        # One request stored it; every other 202 is a replay of its answer.
        first = [r for r in answers if r.status == 202 and not r.header("Idempotent-Replayed")]
        self.assertEqual(len(first), 1)
        for r in answers:
            self.assertIn(r.status, (202, 409), r.body)
            if r.status == 409:
                self.assertEqual(r.json()["type"], KEY_PROBLEM + "in-use")
                self.assertEqual(r.header("Retry-After"), "1")
        s.wait_stored(ids)
        self.assertEqual(rows_by_description(s, "одновременно"), {"одновременно": list(ids)})

    def test_bad_keys_are_400(self):
        s = self.stack
        before = s.redis("LLEN", "imgcap:q:render")
        for bad in ("a b", '"unterminated', "", "é".encode().decode("latin-1"), "k" * 256,
                    '"%s"' % ("k" * 256)):
            r = self.upload(bad, "плохой ключ")
            self.assertEqual(r.status, 400, (bad, r.body))
            p = r.json()
            self.assertEqual(p["type"], KEY_PROBLEM + "invalid")
            self.assertIn("Idempotency-Key", p["detail"])
        self.assertEqual(s.redis("LLEN", "imgcap:q:render"), before)
        longest = self.upload("k" * 255, "самый длинный ключ")
        self.assertEqual(longest.status, 202, longest.body)
        s.wait_stored([longest.json()["id"]])
        self.assertEqual(rows_by_description(s, "плохой ключ"), {})

    def test_keys_expire_after_idempotency_ttl(self):
        s = self.stack
        self.restart_api(IDEMPOTENCY_TTL="1")
        try:
            key = str(uuid.uuid4())
            first = self.upload(key, "истекает")
            self.assertEqual(first.status, 202, first.body)
            name = "imgcap:idem:open:" + key
            self.assertIn(s.redis("PTTL", name), range(1, 1001))
            self.assertEqual(self.upload(key, "истекает").json()["id"], first.json()["id"])
            wait_until(lambda: s.redis("EXISTS", name) == 0, 10, what="the key to expire")
            later = self.upload(key, "истекает")
            self.assertEqual(later.status, 202, later.body)
            self.assertNotEqual(later.json()["id"], first.json()["id"])
            ids = [first.json()["id"], later.json()["id"]]
            s.wait_stored(ids)
            self.assertEqual(sorted(rows_by_description(s, "истекает")["истекает"]), sorted(ids))
        finally:
            self.restart_api()

    def test_keys_are_scoped_per_token(self):
        s = self.stack
        key = str(uuid.uuid4())
        try:
            self.restart_api(API_TOKEN="token-one-secret")
            one = {"Authorization": "Bearer token-one-secret"}
            a = self.upload(key, "жетон один", headers=one)
            self.assertEqual(a.status, 202, a.body)
            self.restart_api(API_TOKEN="token-two-secret")
            two = {"Authorization": "Bearer token-two-secret"}
            # Another scope: neither a replay of a nor a conflict with it.
            b = self.upload(key, "жетон два", headers=two)
            self.assertEqual(b.status, 202, b.body)
            c = self.upload(key, "жетон один", headers=two)
            self.assertEqual(c.status, 422, c.body)  # b's key in scope two
            self.restart_api(API_TOKEN="token-one-secret")
            again = self.upload(key, "жетон один", headers=one)
            self.assertEqual(again.status, 202, again.body)
            self.assertEqual(again.json()["id"], a.json()["id"])
            names = [n for n in key_names(s) if n.endswith(":" + key)]
            self.assertEqual(len(names), 2, names)
            for n in names:
                self.assertNotIn("secret", n)
                self.assertNotIn("open", n)
            s.wait_stored([a.json()["id"], b.json()["id"]])
        finally:
            self.restart_api()
        # Without a token, a third scope.
        d = self.upload(key, "без жетона")
        self.assertEqual(d.status, 202, d.body)
        self.assertNotIn(d.json()["id"], (a.json()["id"], b.json()["id"]))
        s.wait_stored([d.json()["id"]])


class Outcomes(unittest.TestCase):
    def test_a_503_says_whether_the_upload_may_exist(self):
        # No replica to WAIT for: the enqueue reaches the primary, the WAIT is
        # short, so the outcome is unknown; the retry with the key never makes
        # a second copy and says the same.
        env = {"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "50"}
        with Stack(services=("api",), env=env) as s:
            key = str(uuid.uuid4())
            for _ in range(2):
                r = s.upload(JPEG, "неизвестно", headers={"Idempotency-Key": key})
                self.assertEqual(r.status, 503, r.body)
                p = r.json()
                self.assertEqual(p["outcome"], "unknown")
                self.assertIn("Idempotency-Key", p["detail"])
            self.assertEqual(s.redis("LLEN", "imgcap:q:render"), 1)
            self.assertEqual(len(key_names(s)), 1)
            r = s.upload(JPEG, "без ключа")
            self.assertEqual(r.json()["outcome"], "unknown")
            self.assertIn("twice", r.json()["detail"])
            # Nothing reached Redis: the upload was not accepted.
            s.stop_redis()
            r = s.upload(JPEG, "не принято", headers={"Idempotency-Key": key})
            self.assertEqual(r.status, 503, r.body)
            self.assertEqual(r.json()["outcome"], "not-accepted")


class KeyedClients:
    """n uploads from `threads` threads, each with its own key, each retried
    with that key (on 503, 409 and connection errors) until it gets an
    answer. Records every 202's id per key. stack needs only
    upload(jpeg, description, headers): tests/hosts spreads it over apis."""

    TRIES = 1200  # 0.05 s apart: a key still unanswered after a minute is a failure

    def __init__(self, stack, n, prefix, threads=6):
        self.stack, self.prefix = stack, prefix
        self.keys = [str(uuid.uuid4()) for _ in range(n)]
        self.ids = {k: [] for k in self.keys}
        self.retries = 0
        self.unknown = 0  # 503s whose upload may exist (outcome "unknown")
        self.replayed = 0  # keys whose 202 came from a retry of a try that was stored
        self.failures = []  # (key, what): answers that are no 202 and no reason to retry
        self.lock = threading.Lock()
        self.todo = list(range(n))
        self.workers = [threading.Thread(target=self._run) for _ in range(threads)]

    def answered(self):
        with self.lock:
            return sum(1 for ids in self.ids.values() if ids)

    def accepted(self):
        """The id each answered key got."""
        with self.lock:
            return [ids[0] for ids in self.ids.values() if ids]

    def description(self, i):
        return "%s %d" % (self.prefix, i)

    def _run(self):
        while True:
            with self.lock:
                if not self.todo:
                    return
                i = self.todo.pop(0)
            key = self.keys[i]
            for _ in range(self.TRIES):
                try:
                    r = self.stack.upload(JPEG, self.description(i),
                                          headers={"Idempotency-Key": key})
                except OSError:
                    r = None
                if r is not None and r.status == 202:
                    with self.lock:
                        self.ids[key].append(r.json()["id"])
                        self.replayed += r.header("Idempotent-Replayed") == "true"
                    break
                if r is not None and r.status not in (503, 409):
                    with self.lock:
                        self.failures.append((key, "%d %r" % (r.status, r.body[:200])))
                    break
                with self.lock:
                    self.retries += 1
                    if r is not None and r.status == 503:
                        self.unknown += r.json().get("outcome") == "unknown"
                time.sleep(0.05)
            else:
                with self.lock:
                    self.failures.append((key, "no answer after %d tries" % self.TRIES))

    def start(self):
        for t in self.workers:
            t.start()
        return self

    def join(self):
        for t in self.workers:
            t.join()
        return self


def assert_each_key_once(test, s, clients, what, timeout=120):
    """Every key got a 202, its id is stored once, and every row whose
    description is one of the clients' is the id of its key. s needs psql and
    queues_at_rest. Returns the figures line."""
    test.assertEqual(clients.failures, [])
    want = {clients.description(i): clients.ids[k][0] for i, k in enumerate(clients.keys)}

    def stored():
        return set(want.values()) <= set(s.psql("SELECT id FROM images").split())
    wait_until(stored, timeout, interval=0.3, what="every key's upload stored")
    wait_until(s.queues_at_rest, 60, what="queues at rest")
    rows = rows_by_description(s, clients.prefix + " ")
    dupes = {d: ids for d, ids in rows.items() if len(ids) > 1}
    unkeyed = {d: ids for d, ids in rows.items() if ids != [want.get(d)]}
    line = ("%s: keys %d, accepted %d (%d of them replays of a stored try), retries %d "
            "(%d after a 503 outcome unknown), stored %d, duplicates %d, rows without a key %d"
            % (what, len(clients.keys), len(want), clients.replayed, clients.retries,
               clients.unknown, len(rows), len(dupes), len(unkeyed)))
    test.assertEqual(dupes, {}, "an upload stored twice: " + line)
    test.assertEqual(unkeyed, {}, "rows no key accounts for: " + line)
    test.assertEqual(len(rows), len(clients.keys), line)
    return line


class KeyedRetriesUnderFaults(unittest.TestCase):
    def assert_each_key_once(self, s, clients, what):
        print("\n  " + assert_each_key_once(self, s, clients, what))

    def test_api_killed_mid_burst(self):
        with Stack() as s:
            clients = KeyedClients(s, 80, "апи убит").start()
            for at in (15, 40):
                wait_until(lambda: clients.answered() >= at, 60, what="uploads before the kill")
                self.assertEqual(s.kill_service("api"), -signal.SIGKILL)
                s.start_service("api")
            clients.join()
            self.assertGreater(clients.retries, 0, "the kill overlapped no request")
            self.assert_each_key_once(s, clients, "api kill -9 mid-burst")

    def test_redis_restarted_mid_burst(self):
        with Stack() as s:
            clients = KeyedClients(s, 80, "редис перезапущен").start()
            wait_until(lambda: clients.answered() >= 20, 60, what="uploads before the restart")
            s.kill_redis()
            time.sleep(0.3)
            s.start_redis()
            clients.join()
            self.assertGreater(clients.retries, 0, "the restart overlapped no request")
            self.assert_each_key_once(s, clients, "Redis kill -9 and restart mid-burst")


if __name__ == "__main__":
    unittest.main()
