"""Finding frames (docs/api.md, Finding frames: GET /api/images?from=&to=&q=&camera=,
the upload's camera part) against real redis-server and PostgreSQL.

Images are uploaded through the API with cameras and descriptions in several
scripts; every filter and several combinations are checked by following
`next` to the end with a small limit and comparing the ids with a reference
computed here from what was uploaded. A second stack fills the table with
20 000 rows by SQL and reads the plans PostgreSQL chose for the api's own
queries (auto_explain): the trigram index for q, the camera index for camera,
the primary key for a time window.
"""
import datetime
import os
import re
import time
import unittest
import urllib.parse

from harness import Stack, StackTestCase, multipart, read_data, wait_until

JPEG = read_data("camera_640x480_progressive.jpg")

# (description, camera). Lower-casing agrees between Python and PostgreSQL's
# lower() for every one of them (checked in test_reference_lowercasing): no
# final sigma, no dotted capital I.
UPLOADS = [
    ("Камера у ВОКЗАЛА: красный свет 7 секунд", "gate-3"),
    ("ΑΘΗΝΑ κέντρο, πλατεία ΟΜΟΝΟΙΑ", "gate-30"),
    ("محطة القطار الرئيسية مرحبا", "CAM.1"),
    ("東京駅 北口 カメラ 三番", "cam.1"),
    ("Gate 3 NORTH entrance", "gate-3"),
    ("50% off at gate_3", None),
    ("100%_sure: вокзал", "gate-30"),
    ("back\\slash C:\\cam\\7", "cam.1"),
    ("under_score only", None),
    ("GATE 30 north, вокзал", "gate-30"),
    ("Ǆemal Šunjić, ÀÉÎÕÜ", "CAM.1"),
    ("красный ΚΟΚΚΙΝΟ 赤 أحمر RED", "gate-3"),
    ("plain words", None),
    ("Вокзал вокзал ВОКЗАЛ", "cam.1"),
    ("a", "gate-3"),
    ("ka 東京 mix", None),
]

# q values, each checked alone and with others: 1 and 2 characters, every
# script, mixed case, and LIKE's metacharacters (which must match literally).
QUERIES = ["к", "ка", "вокзал", "ВОКЗАЛ", "Вок", "αθηνα", "ΑΘ", "κ", "東京", "京", "駅 北",
           "مرحبا", "أحمر", "gate 3", "GATE", "e_3", "%", "_", "50%", "%_", "\\", "\\c", "ǆ",
           "àéîõü", "a", "RED", "zzz-none"]

CAMERAS = ["gate-3", "gate-30", "CAM.1", "cam.1", "gate", "nobody"]


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def fmt_z(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fmt_offset(t, hours, minutes):
    """t in the time zone UTC+hours:minutes, written with that offset."""
    tz = datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))
    s = t.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    return s[:-2] + ":" + s[-2:]


class FindFrames(StackTestCase):
    """The full pipeline: uploads through the API are rendered and stored,
    then found with every filter."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uploaded = []  # dicts: id, received_at (datetime), description, camera
        for desc, camera in UPLOADS:
            fields = [("image", JPEG, "f.jpg", "image/jpeg"),
                      ("description", desc.encode(), None, None)]
            if camera is not None:
                fields.append(("camera", camera.encode(), None, None))
            body, ctype = multipart(fields)
            r = cls.stack.request("POST", "/api/images", body=body,
                                  headers={"Content-Type": ctype})
            if r.status != 202:
                raise AssertionError("upload refused: %d %r" % (r.status, r.body))
            doc = r.json()
            if doc["camera"] != camera:
                raise AssertionError("202 camera %r, sent %r" % (doc["camera"], camera))
            cls.uploaded.append({"id": doc["id"], "received_at": parse_ts(doc["received_at"]),
                                 "description": desc, "camera": camera})
            time.sleep(0.01)  # distinct milliseconds, so windows can fall between uploads
        cls.stack.wait_stored([u["id"] for u in cls.uploaded])

    # -- helpers --

    def fetch_all(self, params, limit):
        """Follows `next` from the first page to the end; returns the items
        and checks every page's next URL and Link header."""
        query = dict(params, limit=str(limit))
        url = "/api/images?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        items, pages = [], 0
        while url is not None:
            r = self.stack.request("GET", url)
            self.assertEqual(r.status, 200, (url, r.body[:300]))
            doc = r.json()
            self.assertLessEqual(len(doc["items"]), limit)
            items += doc["items"]
            nxt = doc["next"]
            if nxt is None:
                self.assertIsNone(r.header("Link"))
            else:
                self.assertEqual(r.header("Link"), '<%s>; rel="next"' % nxt)
                self.assertEqual(len(doc["items"]), limit)
                self.assert_next_keeps_filters(nxt, query, doc["items"][-1]["id"])
            url = nxt
            pages += 1
            self.assertLess(pages, 200)
        return items

    def assert_next_keeps_filters(self, nxt, query, last_id):
        path, _, qs = nxt.partition("?")
        self.assertEqual(path, "/api/images")
        # Every value percent-encoded: nothing outside unreserved, % and the separators.
        self.assertRegex(qs, r"^[A-Za-z0-9\-._~%&=]*$")
        got = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True, strict_parsing=True))
        self.assertEqual(got.pop("before"), last_id)
        want = {k: v for k, v in query.items() if k != "before"}
        self.assertEqual(set(got), set(want))
        for k, v in want.items():
            if k in ("from", "to"):  # the same instant, written in UTC
                self.assertEqual(self.instant(got[k]), self.instant(v), k)
                self.assertTrue(got[k].endswith("Z"), got[k])
            else:
                self.assertEqual(got[k], v, k)

    @staticmethod
    def instant(s):
        m = re.match(r"^(.{19})(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
        frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
        tz = "+00:00" if m.group(3) == "Z" else m.group(3)
        return datetime.datetime.fromisoformat(m.group(1) + "." + frac + tz)

    def reference(self, q=None, camera=None, start=None, end=None):
        """The ids the API must answer, newest first."""
        out = []
        for u in self.uploaded:
            if q is not None and q.lower() not in u["description"].lower():
                continue
            if camera is not None and u["camera"] != camera:
                continue
            if start is not None and u["received_at"] < start:
                continue
            if end is not None and u["received_at"] >= end:
                continue
            out.append(u["id"])
        return sorted(out, reverse=True)

    def check(self, params, expect, limits=(2, 5)):
        for limit in limits:
            items = self.fetch_all(params, limit)
            self.assertEqual([i["id"] for i in items], expect, (params, limit))
        return items

    # -- the tests --

    def test_reference_lowercasing(self):
        """The test strings are ones where Python's lower() is PostgreSQL's
        (the reference below relies on it)."""
        texts = [d for d, _ in UPLOADS] + QUERIES
        sql = " UNION ALL ".join("SELECT %d, lower('%s')" % (i, t.replace("'", "''"))
                                 for i, t in enumerate(texts))
        rows = self.stack.psql("SELECT * FROM (%s) s ORDER BY 1" % sql).split("\n")
        self.assertEqual(len(rows), len(texts))
        for t, row in zip(texts, rows):
            self.assertEqual(row.split("|", 1)[1], t.lower(), t)
        # Case-insensitive in every script that has case: the database's own
        # lower() folds Cyrillic, Greek and Latin with diacritics.
        self.assertEqual(self.stack.psql("SELECT lower('ВОКЗАЛ ΑΘΗΝΑ ÀÉÎ Ǆ')"),
                         "вокзал αθηνα àéî ǆ")

    def test_camera_is_stored(self):
        """The upload's camera reaches the row (through render and persist),
        NULL without one: what the camera filter reads."""
        stored = dict(line.split("|") for line in self.stack.psql(
            "SELECT id, coalesce(camera, '<null>') FROM images").splitlines())
        for u in self.uploaded:
            self.assertEqual(stored[u["id"]], u["camera"] or "<null>",
                             "images.camera of %s (%r)" % (u["id"], u["description"]))

    def test_items_carry_camera_and_thumbnail_url(self):
        items = self.fetch_all({}, 1000)
        self.assertEqual([i["id"] for i in items], self.reference())
        thumbs = dict(line.split("|") for line in self.stack.psql(
            "SELECT id, thumb_bytes IS NOT NULL FROM images").splitlines())
        by_id = {u["id"]: u for u in self.uploaded}
        for item in items:
            self.assertEqual(set(item), {"id", "received_at", "description", "camera", "url",
                                         "thumbnail_url"})
            u = by_id[item["id"]]
            self.assertEqual(item["camera"], u["camera"])
            self.assertEqual(item["description"], u["description"])
            self.assertEqual(parse_ts(item["received_at"]), u["received_at"])
            self.assertEqual(item["url"], "/api/images/" + item["id"])
            if thumbs[item["id"]] == "t":
                self.assertEqual(item["thumbnail_url"], "/api/images/%s/thumbnail" % item["id"])
            else:
                self.assertIsNone(item["thumbnail_url"])

    def test_q(self):
        for q in QUERIES:
            with self.subTest(q=q):
                self.check({"q": q}, self.reference(q=q))
        # Sanity of the reference itself: the interesting cases do select.
        self.assertEqual(len(self.reference(q="вокзал")), 4)
        self.assertEqual(len(self.reference(q="e_3")), 1)  # "gate_3", not "Gate 3"
        self.assertEqual(len(self.reference(q="%")), 2)
        self.assertEqual(len(self.reference(q="_")), 3)
        self.assertEqual(len(self.reference(q="\\")), 1)
        self.assertEqual(len(self.reference(q="京")), 2)
        self.assertEqual(self.reference(q="zzz-none"), [])

    def test_camera(self):
        for camera in CAMERAS:
            with self.subTest(camera=camera):
                self.check({"camera": camera}, self.reference(camera=camera))
        self.assertEqual(len(self.reference(camera="cam.1")), 3)
        self.assertEqual(len(self.reference(camera="CAM.1")), 2)  # exact: case counts

    def test_time_windows(self):
        times = [u["received_at"] for u in self.uploaded]
        self.assertEqual(len(set(times)), len(times))
        ms = datetime.timedelta(milliseconds=1)
        half = datetime.timedelta(microseconds=500)
        cases = [
            {"from": times[3]},                                   # inclusive
            {"to": times[3]},                                     # exclusive
            {"from": times[2], "to": times[9]},
            {"from": times[2] + half, "to": times[9] + half},     # inside a millisecond
            {"from": times[5] - ms, "to": times[5] + ms},         # one upload
            {"from": times[5], "to": times[5] + datetime.timedelta(microseconds=1)},
            {"from": times[0] - datetime.timedelta(days=3650)},
            {"to": times[-1] + ms},
            {"to": times[0]},                                     # nothing before the first
            {"from": times[-1] + ms},                             # nothing after the last
            {"from": datetime.datetime(1960, 1, 1, tzinfo=datetime.timezone.utc)},
        ]
        for i, case in enumerate(cases):
            start, end = case.get("from"), case.get("to")
            expect = self.reference(start=start, end=end)
            # In UTC, and the same instants written with offsets.
            for fmt in (fmt_z, lambda t: fmt_offset(t, 5, 30), lambda t: fmt_offset(t, -3, 0)):
                params = {k: fmt(v) for k, v in case.items()}
                with self.subTest(case=i, params=params):
                    self.check(params, expect, limits=(2,))
        self.assertEqual(len(self.reference(start=times[2], end=times[9])), 7)
        self.assertEqual(len(self.reference(start=times[2] + half, end=times[9] + half)), 7)
        self.assertEqual(len(self.reference(start=times[5], end=times[5] + half)), 1)
        self.assertEqual(self.reference(end=times[0]), [])

    def test_unencoded_plus_of_an_offset(self):
        """A client that writes the offset's '+' unencoded gets it decoded as
        a space: it is still the offset."""
        t = self.uploaded[4]["received_at"]
        raw = fmt_offset(t, 2, 0)
        r = self.stack.request("GET", "/api/images?limit=1000&from=" + raw)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([i["id"] for i in r.json()["items"]], self.reference(start=t))

    def test_combinations(self):
        times = [u["received_at"] for u in self.uploaded]
        cases = [
            ({"q": "вокзал", "camera": "gate-30"}, dict(q="вокзал", camera="gate-30")),
            ({"q": "gate", "camera": "gate-3"}, dict(q="gate", camera="gate-3")),
            ({"q": "к", "from": fmt_z(times[1]), "to": fmt_z(times[12])},
             dict(q="к", start=times[1], end=times[12])),
            ({"camera": "cam.1", "from": fmt_offset(times[3], 9, 0)},
             dict(camera="cam.1", start=times[3])),
            ({"q": "_", "camera": "cam.1"}, dict(q="_", camera="cam.1")),
            ({"q": "a", "camera": "gate-3", "from": fmt_z(times[0]),
              "to": fmt_offset(times[14], -7, 0)},
             dict(q="a", camera="gate-3", start=times[0], end=times[14])),
            ({"q": "%", "to": fmt_z(times[6])}, dict(q="%", end=times[6])),
        ]
        for params, ref in cases:
            with self.subTest(params=params):
                expect = self.reference(**ref)
                self.check(params, expect, limits=(1, 2, 100))
        self.assertEqual(len(self.reference(q="вокзал", camera="gate-30")), 2)
        self.assertEqual(len(self.reference(q="a", camera="gate-3", start=times[0],
                                            end=times[14])), 1)  # Latin a: not Cyrillic а

    def test_before_with_filters(self):
        """A `before` given by the client combines with the filters like the
        one of a next URL."""
        ref = self.reference(q="вокзал")
        r = self.stack.request("GET", "/api/images?" + urllib.parse.urlencode(
            {"q": "вокзал", "before": ref[1]}))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([i["id"] for i in r.json()["items"]], ref[2:])

    def test_bad_parameters_name_the_field(self):
        t = fmt_z(self.uploaded[3]["received_at"])
        cases = [
            ("from=yesterday", "from"),
            ("from=", "from"),
            ("from=2026-12-06", "from"),
            ("from=2026-12-06T09:30:00", "from"),
            ("from=2026-02-30T09:30:00Z", "from"),
            ("to=2026-12-06T09:30:00%2B24:00", "to"),
            ("from=%s&to=%s" % (t, t), "to"),
            ("from=2026-12-06T10:00:00Z&to=2026-12-06T10:30:00%2B01:00", "to"),
            ("q=", "q"),
            ("q=" + "x" * 201, "q"),
            ("q=" + urllib.parse.quote("Ж" * 201), "q"),
            ("q=%FF", "q"),
            ("q=%D0", "q"),
            ("camera=", "camera"),
            ("camera=gate%203", "camera"),
            ("camera=" + "x" * 65, "camera"),
            ("camera=%D0%96", "camera"),
            ("limit=0&q=a", "limit"),
            ("before=nope&camera=a", "before"),
        ]
        for qs, field in cases:
            with self.subTest(qs=qs):
                r = self.stack.request("GET", "/api/images?" + qs)
                self.assertEqual(r.status, 422, r.body)
                self.assertEqual(r.header("Content-Type"), "application/problem+json")
                doc = r.json()
                self.assertEqual(doc["status"], 422)
                self.assertEqual([e["field"] for e in doc["errors"]], [field])
        # The bounds themselves are fine.
        for qs in ("q=" + "x" * 200, "q=" + urllib.parse.quote("Ж" * 200), "camera=" + "x" * 64):
            self.assertEqual(self.stack.request("GET", "/api/images?" + qs).status, 200, qs)

    def test_upload_camera_validation(self):
        def post(*cameras):
            fields = [("image", JPEG, "f.jpg", "image/jpeg"), ("description", b"cam", None, None)]
            fields += [("camera", c, None, None) for c in cameras]
            body, ctype = multipart(fields)
            return self.stack.request("POST", "/api/images", body=body,
                                      headers={"Content-Type": ctype})
        for bad in (b"", b"gate 3", b"gate/3", "Камера".encode(), b"x" * 65, b"a\x00b"):
            with self.subTest(camera=bad):
                r = post(bad)
                self.assertEqual(r.status, 422, r.body)
                self.assertEqual([e["field"] for e in r.json()["errors"]], ["camera"])
        r = post(b"a", b"b")
        self.assertEqual(r.status, 422, r.body)
        self.assertEqual([e["field"] for e in r.json()["errors"]], ["camera"])
        r = post(b"x" * 64)
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["camera"], "x" * 64)
        # It travels with the message: in the wire header queued for render.
        payload = self.stack.redis("GET", "imgcap:msg:render:" + r.json()["id"])
        if payload is not None:  # render may have taken it already
            self.assertIn(b'"camera":"' + b"x" * 64 + b'"', payload.split(b"\n")[1])
        self.stack.wait_stored([r.json()["id"]])
        self.assertEqual(self.stack.psql("SELECT camera FROM images WHERE id = '%s'" %
                                         r.json()["id"]), "x" * 64)
        # Stored: from now on the other tests' references include it.
        type(self).uploaded.append({"id": r.json()["id"], "description": "cam",
                                    "camera": "x" * 64,
                                    "received_at": parse_ts(r.json()["received_at"])})


class FindFramesPlans(unittest.TestCase):
    """With 20 000 rows, the api's filtered queries use the indexes made for
    them: PostgreSQL logs the plan of every query the api runs (auto_explain),
    so what is checked is the plan of the real query with its real values."""

    ROWS = 20000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = s = Stack(services=("api",)).__enter__()
        try:
            cls.fill(s)
        except BaseException:
            s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        super().tearDownClass()

    @classmethod
    def fill(cls, s):
        # Ids carry their received_at's millisecond like the api's UUIDv7s;
        # one row a second from 2026-01-01; 40 cameras taking turns, and one
        # that sent only the oldest 1000 frames; a rare word every 2000 rows;
        # a thumbnail on every other row.
        s.psql("""
            INSERT INTO images (id, received_at, description, path, camera, thumb_bytes)
            SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(g %% 4096), 3, '0') || '8'
                    || lpad(to_hex(g), 15, '0'))::uuid,
                   to_timestamp(ms / 1000.0),
                   'кадр ' || g || ' ' || (ARRAY['Красный свет', 'ΑΘΗΝΑ κέντρο', 'Gate NORTH',
                                                 '東京駅 北口', 'محطة القطار', 'queue lane'])[g %% 6 + 1]
                   || CASE WHEN g %% 2000 = 7 THEN ' Зебра-переход' ELSE '' END,
                   'x/' || g || '.jpg',
                   CASE WHEN g <= 1000 THEN 'old-cam' ELSE 'cam-' || lpad((g %% 40)::text, 2, '0') END,
                   CASE WHEN g %% 2 = 0 THEN 1000 END
            FROM generate_series(1, %d) AS g,
                 LATERAL (SELECT 1767225600000::bigint + g * 1000 AS ms) t;
            ANALYZE images;
            ALTER DATABASE imgcap SET session_preload_libraries = 'auto_explain';
            ALTER DATABASE imgcap SET auto_explain.log_min_duration = 0;
        """ % cls.ROWS)
        # New connections load auto_explain: restart the api so that its
        # pool connects again.
        s.stop_service("api")
        s.start_service("api")
        cls.pg_log = os.path.join(s.pg_data, "pg.log")

    def plan_of(self, query):
        """The api's answer to GET /api/images?<query> and the plans logged
        while it ran."""
        start = os.path.getsize(self.pg_log)
        r = self.stack.request("GET", "/api/images?" + query)
        self.assertEqual(r.status, 200, r.body)

        def logged():
            with open(self.pg_log, errors="replace") as f:
                f.seek(start)
                text = f.read()
            return text if "FROM images" in text and "Limit" in text else None
        return r.json(), wait_until(logged, 10, what="auto_explain's plan in pg.log")

    def test_trigram_index_for_q(self):
        q = urllib.parse.urlencode({"q": "зебра"})
        doc, plan = self.plan_of(q)
        self.assertEqual(len(doc["items"]), self.ROWS // 2000)
        for item in doc["items"]:
            self.assertIn("Зебра", item["description"])
        self.assertIn("Bitmap Index Scan on images_description_trgm_idx", plan)
        # A longer, mixed-case, non-Latin q too.
        doc, plan = self.plan_of(urllib.parse.urlencode({"q": "ЗЕБРА-ПЕРЕХОД", "limit": "3"}))
        self.assertEqual(len(doc["items"]), 3)
        self.assertIsNotNone(doc["next"])
        self.assertIn("Bitmap Index Scan on images_description_trgm_idx", plan)

    def test_camera_index(self):
        doc, plan = self.plan_of("camera=cam-07&limit=50")
        self.assertEqual(len(doc["items"]), 50)
        self.assertTrue(all(i["camera"] == "cam-07" for i in doc["items"]))
        self.assertRegex(plan, r"Index (Only )?Scan Backward using images_camera_id_idx")
        # Its next page too (camera and before).
        _, plan = self.plan_of(doc["next"].split("?", 1)[1])
        self.assertRegex(plan, r"Index (Only )?Scan Backward using images_camera_id_idx")
        # A camera whose frames are all old: read from its own index entries,
        # not by walking the primary key back through every newer row.
        doc, plan = self.plan_of("camera=old-cam&limit=20")
        self.assertEqual(len(doc["items"]), 20)
        self.assertTrue(all(i["camera"] == "old-cam" for i in doc["items"]))
        self.assertEqual(doc["items"][0]["received_at"], "2026-01-01T00:16:40.000Z")  # row 1000
        self.assertRegex(plan, r"Index (Only )?Scan Backward using images_camera_id_idx")
        self.assertNotIn("Rows Removed by Filter", plan)

    def test_filtered_query_after_a_postgres_restart(self):
        """A filtered query that finds its connection dead reconnects once
        and is answered, like the prepared statements."""
        path = "/api/images?" + urllib.parse.urlencode({"q": "зебра", "camera": "cam-07"})
        first = self.stack.request("GET", path)
        self.assertEqual(first.status, 200, first.body)
        self.stack.stop_pg_server()
        self.stack.start_pg_server()
        again = self.stack.request("GET", path)
        self.assertEqual(again.status, 200, again.body)
        self.assertEqual(again.json(), first.json())
        self.assertIn("reconnecting", self.stack.log("api"))

    def test_primary_key_for_a_time_window(self):
        # One hour of rows, by id range: 3600 of them.
        doc, plan = self.plan_of("from=2026-01-01T03:00:00Z&to=2026-01-01T04:00:00%2B00:00"
                                 "&limit=1000")
        self.assertEqual(len(doc["items"]), 1000)
        self.assertEqual(doc["items"][0]["received_at"], "2026-01-01T03:59:59.000Z")
        self.assertRegex(plan, r"Index Scan Backward using images_pkey")
        self.assertRegex(plan, r"Index Cond: \(\(id >= '[0-9a-f-]+'::uuid\) AND "
                               r"\(id < '[0-9a-f-]+'::uuid\)\)")


if __name__ == "__main__":
    unittest.main()
