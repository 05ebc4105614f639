"""make bench, part "find": GET /api/images with filters on a million rows.

The local stack's PostgreSQL gets FIND_ROWS rows (default 1,000,000) by one
COPY (no files: listing never opens one), shaped like a month of traffic
camera frames: UUIDv7 ids whose milliseconds are their received_at, spread
evenly over 30 days, 50 cameras, Cyrillic captions with a number plate each.
Then each query kind is asked FIND_REQUESTS times in turn through the api (one
keep-alive connection, values varied from request to request so no single
row set stays cached) and its latency percentiles are printed beside the
unfiltered first page. Figures only: nothing passes or fails on time.
"""
import datetime
import http.client
import json
import os
import random
import subprocess
import time
import urllib.parse
import uuid

ROWS = int(os.environ.get("FIND_ROWS", "1000000"))
REQUESTS = int(os.environ.get("FIND_REQUESTS", "200"))
LIMIT = 50
CAMERAS = ["cam-%03d" % i for i in range(1, 51)]
PLATE_LETTERS = "АВЕКМНОРСТУХ"
SPAN_MS = 30 * 86400 * 1000


def uuid7(ms, rnd):
    """A UUIDv7 string for unix millisecond ms (the layout the api makes)."""
    r = rnd.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def plate(rnd):
    return "%s%03d%s%s%d" % (rnd.choice(PLATE_LETTERS), rnd.randrange(1000),
                             rnd.choice(PLATE_LETTERS), rnd.choice(PLATE_LETTERS),
                             rnd.choice((77, 97, 99, 177, 197, 199, 777, 50, 90, 150)))


def rows(start_ms, n, rnd):
    """COPY text lines: id, received_at, description, path, camera, width,
    height, bytes, thumb_bytes."""
    step = SPAN_MS / n
    for i in range(n):
        ms = start_ms + int(i * step)
        id_ = uuid7(ms, rnd)
        t = time.gmtime(ms // 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % (ms % 1000)
        desc = ("С начала фазы запрещающего сигнала прошло: %d секунд. ТС %s, полоса %d" %
                (rnd.randrange(1, 60), plate(rnd), rnd.randrange(1, 5)))
        path = time.strftime("%Y/%m/%d/", t) + id_ + ".jpg"
        yield "%s\t%s\t%s\t%s\t%s\t674\t503\t%d\t%d\n" % (
            id_, stamp, desc, path, rnd.choice(CAMERAS), rnd.randrange(40000, 60000),
            rnd.randrange(9000, 12000))


def psql_cmd(stack, sql):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
            str(stack.pg_port), "-U", "imgcap", "-d", "imgcap", "-c", sql]


def fill(stack, psql, start_ms):
    """COPY ROWS rows in, with the secondary indexes built after the load as a
    bulk load does (the same definitions, read back from pg_indexes)."""
    defs = psql.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'images' "
                      "AND indexname <> 'images_pkey'")
    for d in defs:
        name = d.split(" INDEX ", 1)[1].split(" ON ", 1)[0].replace("IF NOT EXISTS ", "")
        psql.query("DROP INDEX IF EXISTS %s" % name)
    t0 = time.monotonic()
    p = subprocess.Popen(psql_cmd(stack, "COPY images (id, received_at, description, path, camera, "
                                  "width, height, bytes, thumb_bytes) FROM STDIN"),
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    rnd = random.Random(20261206)
    batch = []
    for line in rows(start_ms, ROWS, rnd):
        batch.append(line)
        if len(batch) == 10000:
            p.stdin.write("".join(batch))
            batch = []
    p.stdin.write("".join(batch))
    p.stdin.close()
    err = p.stderr.read()
    if p.wait() != 0:
        raise RuntimeError("COPY failed: %s" % err[-500:])
    copy_s = time.monotonic() - t0
    t0 = time.monotonic()
    psql.query("SET maintenance_work_mem = '256MB'")
    for d in defs:
        psql.query(d)
    psql.query("ANALYZE images")
    return {"rows": ROWS, "copy_s": round(copy_s, 1), "index_s": round(time.monotonic() - t0, 1)}


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def get(self, path):
        t0 = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise RuntimeError("GET %s answered %d: %s" % (path, r.status, body[:300]))
        return ms, body


def check_items(params, items):
    """Every item answered must match the filters asked for: a filter that
    were ignored would look fast."""
    for it in items:
        if "q" in params and params["q"].lower() not in it["description"].lower():
            raise RuntimeError("q=%r answered %r" % (params["q"], it["description"]))
        if "camera" in params and it.get("camera") != params["camera"]:
            raise RuntimeError("camera=%s answered %s" % (params["camera"], it.get("camera")))
        if "from" in params:
            t = datetime.datetime.fromisoformat(it["received_at"].replace("Z", "+00:00"))
            lo = datetime.datetime.fromisoformat(params["from"].replace("Z", "+00:00"))
            hi = datetime.datetime.fromisoformat(params["to"].replace("Z", "+00:00"))
            if not lo <= t < hi:
                raise RuntimeError("from/to %s..%s answered %s" % (lo, hi, t))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def bench_find(tmp, stack, psql):
    end_ms = int(time.time() * 1000) - 60000
    start_ms = end_ms - SPAN_MS
    res = fill(stack, psql, start_ms)
    rnd = random.Random(7)
    # Plates and plate fragments of the loaded rows, read back so every q finds rows.
    plates = [r.split("ТС ", 1)[1].split(",", 1)[0] for r in psql.query(
        "SELECT description FROM images TABLESAMPLE SYSTEM (0.1) LIMIT 400")]

    def window():
        a = rnd.randrange(start_ms, end_ms - 3600 * 1000)
        return {"from": iso(a), "to": iso(a + 3600 * 1000)}

    kinds = [
        ("unfiltered first page", lambda: {}),
        ("q = a whole plate (rare)", lambda: {"q": rnd.choice(plates).lower()}),
        ("q = 3 characters of a plate", lambda: {"q": rnd.choice(plates)[1:4]}),
        ("q = a word in every row", lambda: {"q": rnd.choice(["секунд", "полоса", "СИГНАЛА"])}),
        ("one-hour from/to window", window),
        ("camera", lambda: {"camera": rnd.choice(CAMERAS)}),
        ("q (3 chars) + window + camera", lambda: dict(window(), q=rnd.choice(plates)[1:4],
                                                        camera=rnd.choice(CAMERAS))),
        ("q = 2 characters", lambda: {"q": rnd.choice(plates)[1:3]}),
    ]
    c = Client(stack.api_url)
    c.get("/api/images?limit=%d" % LIMIT)  # connection and plan caches warm
    res["limit"] = LIMIT
    res["requests"] = REQUESTS
    res["kinds"] = []
    for name, params in kinds:
        times, items = [], 0
        for _ in range(REQUESTS):
            q = dict(params(), limit=LIMIT)
            ms, body = c.get("/api/images?" + urllib.parse.urlencode(q))
            times.append(ms)
            page = json.loads(body)["items"]
            check_items(q, page)
            items += len(page)
        res["kinds"].append({"name": name, "p50_ms": round(pct(times, 50), 2),
                             "p95_ms": round(pct(times, 95), 2),
                             "max_ms": round(max(times), 2),
                             "items_per_page": round(items / REQUESTS, 1)})
    base = res["kinds"][0]["p50_ms"]
    for k in res["kinds"]:
        k["vs_unfiltered"] = round(k["p50_ms"] / base, 2) if base else None
    return res


def print_find(f):
    print("4. find  GET /api/images?limit=%d on %d rows (COPY %.1f s, indexes %.1f s), "
          "%d requests each, one keep-alive connection" % (
              f["limit"], f["rows"], f["copy_s"], f["index_s"], f["requests"]))
    for k in f["kinds"]:
        print("   %-34s p50 %7.2f ms  p95 %7.2f ms  max %7.2f ms  x%-6s items/page %5.1f" % (
            k["name"], k["p50_ms"], k["p95_ms"], k["max_ms"], k["vs_unfiltered"],
            k["items_per_page"]))
