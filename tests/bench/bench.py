"""imgcap benchmark: prints a table and, as its last line, one line of
JSON. Figures only: nothing here passes or fails on time. The exit status is
non-zero only when a part could not be measured at all, or when uploads were
lost or duplicated (a correctness failure, not a timing one).

Parts, all in one run on this machine:
  1. render: imgcap-render --repeat beside two libjpeg-turbo floors (floors.c),
     a third figure below them (the picture's entropy-coded bytes spliced
     unchanged, only the band encoded: what the lossless route could cost), and
     Pillow doing the same captioning job (pillow_caption.py);
  2. end to end: the local stack (deploy/local.sh) in a temp VAR_DIR on private
     loopback ports, loaded by loadgen.c: accepted/s, stored/s, received_at ->
     stored_at latency, CPU per image per process, peak RSS, lost/duplicates;
     then latency again at half the measured stored rate;
  3. reads: wrk against GET /api/images/{id} and GET /api/images?limit=100,
     beside an nginx of our own serving the same stored file;
  4. find: a million rows COPYed into the same PostgreSQL, then the list's
     filters (q, from/to, camera, all three) beside the unfiltered first page
     (find_bench.py; FIND_ROWS, FIND_REQUESTS).

Environment: BENCH_N (uploads, 2000), BENCH_C (concurrency, 64: the peak-RSS
target is stated at 64 concurrent uploads),
BENCH_READ_SECONDS (per wrk run, 5), BENCH_PARTS (comma list of
render,e2e,reads,find; default all), BENCH_KEEP=1 keeps the temp dir,
IMGCAP_BIN_DIR (build/), BENCH_BIN_DIR (build/bench).
"""
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (decode_jpeg, free_port)
from find_bench import bench_find, print_find  # noqa: E402

BIN_DIR = os.environ.get("IMGCAP_BIN_DIR", os.path.join(ROOT, "build"))
BENCH_BIN = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "build", "bench"))
LOCAL_SH = os.environ.get("BENCH_LOCAL_SH", os.path.join(ROOT, "deploy", "local.sh"))
IMAGE = os.path.join(ROOT, "tests", "data", "camera_674x480.jpg")
FONT = os.path.join(ROOT, "fonts", "DejaVuSans.ttf")
# 150 code points of Cyrillic, the caption size the render figures are measured with.
CAPTION = ("Камера 17 на перекрёстке Садовой и Гороховой улиц: плотный поток машин, "
           "мокрый асфальт после дождя, пешеходы ждут зелёного сигнала у ограждения. Утро.")
assert len(CAPTION) == 150

N = int(os.environ.get("BENCH_N", "2000"))
C = int(os.environ.get("BENCH_C", "64"))
READ_SECONDS = int(os.environ.get("BENCH_READ_SECONDS", "5"))
PACED_RATE = float(os.environ.get("BENCH_PACED_RATE", "0"))
PARTS = set(os.environ.get("BENCH_PARTS", "render,e2e,reads,find").split(","))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def run(args, timeout, env=None, cwd=ROOT):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env, cwd=cwd, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (os.path.basename(args[0]), r.returncode,
                                                 (r.stderr or r.stdout)[-2000:]))
    return r.stdout


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in %r" % text[-500:])


def filesystem(path):
    """The filesystem the stack's files go to: its type, and for ext4 whether
    it has a journal. Without one (a root filesystem made without it), ext4
    gives no new file an inode freed in the last one to six minutes (the
    kernel's recently_deleted()): every file persist or Redis creates then
    scans past every file deleted that recently in its block group, and their
    CPU figures grow with whatever the machine deleted before the run (a
    previous run's stack, a build, a test suite)."""
    st = os.stat(path)
    dev = "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    fstype = "unknown"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[2] == dev:
                fstype = right.split()[0]
    name = None
    try:
        with open("/sys/dev/block/%s/uevent" % dev) as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    name = line.strip().split("=", 1)[1]
    except OSError:
        pass
    res = {"type": fstype, "device": name}
    if fstype == "ext4" and name:
        # jbd2 lists every journal it runs as <device>-8
        res["journal"] = os.path.exists("/proc/fs/jbd2/%s-8" % name)
    return res


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    # load1 at the start says whether something else was using the cores.
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "load1_at_start": load1,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}


# ---------------------------------------------------------------- 1. render

THUMB_LINE = re.compile(r"renders \+ thumbnails, mean ([0-9]+(?:\.[0-9]+)?) ms per image")
RENDER_LINE = re.compile(r"renders, mean ([0-9]+(?:\.[0-9]+)?) ms per image")


def parse_render_figures(text):
    """imgcap-render --repeat prints two lines: "N renders, mean X ms per image
    (...)", the caption alone, then "N renders + thumbnails, mean Y ms per image
    (...)", the service's whole job. Returns (X, Y); Y is None for a binary
    without thumbnails, whose one line parse_render_ms() reads."""
    render = thumb = None
    for line in text.splitlines():
        m = THUMB_LINE.search(line)
        if m:
            thumb = float(m.group(1))
            continue
        m = RENDER_LINE.search(line)
        if m:
            render = float(m.group(1))
    if render is None:
        return parse_render_ms(text), None
    return render, thumb


def parse_render_ms(text):
    """imgcap-render --repeat prints the mean ms per image; accept JSON with a
    key ending in "ms", or a number followed by "ms", or a bare number."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            for k, v in obj.items():
                if k.endswith("ms") and isinstance(v, (int, float)):
                    return float(v)
        m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*ms", line)
        if m:
            return float(m.group(1))
        m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)", line)
        if m:
            return float(m.group(1))
    raise ValueError("no timing in imgcap-render output %r" % text[-300:])


def render_is_lossless(out_path):
    """True when the output's picture rows decode exactly to the input's
    (without fancy upsampling, see stack-notes), i.e. the lossless route ran."""
    with open(IMAGE, "rb") as f:
        w, h, ch, src = harness.decode_jpeg(f.read(), nosmooth=True)
    with open(out_path, "rb") as f:
        w2, h2, ch2, out = harness.decode_jpeg(f.read(), nosmooth=True)
    return (w2 == w and ch2 == ch and h2 > h and out[:w * h * ch] == src), h2 - h


ROUNDS = 3


def bench_render(tmp):
    """Rounds interleave the floors, imgcap-render and Pillow, so that a busy
    moment of the machine hits all of them alike; each keeps its lowest mean."""
    res = {"image": os.path.basename(IMAGE), "caption_chars": len(CAPTION), "rounds": ROUNDS}
    render = os.path.join(BIN_DIR, "imgcap-render")
    out = os.path.join(tmp, "render-out.jpg")
    best = {}

    def keep(key, value):
        if value is not None and (key not in best or value < best[key]):
            best[key] = value

    for _ in range(ROUNDS):
        fl = last_json(run([os.path.join(BENCH_BIN, "floors"), IMAGE, "300", "1"], 120))
        keep("coef", fl["coef_ms"])
        keep("tj", fl["tj_ms"])
        keep("splice", fl["splice_ms"])
        res["splice_exact"] = fl["splice_exact"]
        pil = last_json(run(["/usr/bin/python3", os.path.join(HERE, "pillow_caption.py"), IMAGE,
                             FONT, CAPTION, "40", "1"], 120))
        keep("pillow", pil["pillow_ms"])
        res["pillow_version"] = pil["version"]
        if "render_error" not in res:
            try:
                r, rt = parse_render_figures(run([render, "--once", IMAGE, out, "--text",
                                                  CAPTION, "--repeat", "300"], 120))
                keep("render", r)
                keep("render_thumb", rt)
            except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as e:
                res["render_error"] = str(e)[:300]
                log("render: " + res["render_error"])
    res["coef_floor_ms"] = best["coef"]
    res["tj_floor_ms"] = best["tj"]
    res["splice_floor_ms"] = best.get("splice")
    res["pillow_ms"] = best["pillow"]
    if "render" in best:
        r = best["render"]
        res["render_ms"] = r
        try:
            lossless, band = render_is_lossless(out)
            res["render_path"] = "lossless" if lossless else "re-encoded"
            res["band_rows"] = band
        except (OSError, subprocess.CalledProcessError) as e:
            res["render_path"] = "output not decodable: %s" % e
            res["band_rows"] = 0
        res["render_vs_coef"] = round(r / best["coef"], 2)
        res["render_vs_tj"] = round(r / best["tj"], 2)
        if best.get("splice"):
            res["render_vs_splice"] = round(r / best["splice"], 2)
        res["pillow_vs_render"] = round(best["pillow"] / r, 1)
    if "render_thumb" in best:
        # the service's job: the caption, then the thumbnail of its output
        res["render_thumbnail_ms"] = best["render_thumb"]
        res["thumbnail_ms"] = round(best["render_thumb"] - best.get("render", 0), 3)
    return res


# ---------------------------------------------------------------- 2. end to end

class Psql:
    """One psql session kept open, so polling costs PostgreSQL one backend and
    no connection setup per query (its CPU is part of what is measured)."""

    def __init__(self, port, errfile):
        self.err = open(errfile, "a")
        self.p = subprocess.Popen(["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(port),
                                   "-U", "imgcap", "-d", "imgcap"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)

    def query(self, sql):
        self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo __END__\n")
        self.p.stdin.flush()
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql exited")
            if line.rstrip("\n") == "__END__":
                return lines
            lines.append(line.rstrip("\n"))

    def copy_ids(self, table, ids):
        self.p.stdin.write("CREATE TEMP TABLE %s(id uuid);\nCOPY %s FROM STDIN;\n%s\\.\n" %
                           (table, table, "".join(i + "\n" for i in ids)))
        self.query("SELECT 1")

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
        self.err.close()


def proc_cpu_ticks(pid, children_too=False):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children_too:  # children it has reaped
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class LocalStack:
    """deploy/local.sh in a temp VAR_DIR on free loopback ports."""

    def __init__(self, tmp):
        self.var = os.path.join(tmp, "var")
        os.makedirs(self.var)
        self.api_port = harness.free_port()
        self.pg_port = harness.free_port()
        self.redis_port = harness.free_port()
        self.api_url = "http://127.0.0.1:%d" % self.api_port
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        # .env names STORAGE_DIR and LOG_DIR under ./var; keep everything in VAR_DIR.
        env.update({"VAR_DIR": self.var, "STORAGE_DIR": os.path.join(self.var, "images"),
                    "LOG_DIR": os.path.join(self.var, "log"), "IMGCAP_BIN_DIR": BIN_DIR,
                    "LOCAL_REDIS_PORT": str(self.redis_port),
                    "LOCAL_PG_PORT": str(self.pg_port), "API_PORT": str(self.api_port),
                    "API_HOST": "127.0.0.1"})
        self.env = env
        self.storage = env["STORAGE_DIR"]
        self.started = False

    def start(self):
        self.started = True
        run([LOCAL_SH, "start"], 180, env=self.env)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.api_url + "/health", timeout=2) as r:
                    h = json.loads(r.read())
                if h.get("workers", {}).get("render", 0) >= 1 and \
                        h.get("workers", {}).get("persist", 0) >= 1:
                    return h
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("stack not healthy after 60 s; logs in %s" %
                                   os.path.join(self.var, "log"))
            time.sleep(0.2)

    def pid(self, name):
        with open(os.path.join(self.var, "run", name + ".pid")) as f:
            return int(f.read().split()[0])

    def stop(self):
        if self.started:
            try:
                run([LOCAL_SH, "stop"], 120, env=self.env)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log("local.sh stop: %s" % e)
            self.started = False


SERVICES = ("api", "render", "persist", "redis", "postgres")


def cpu_snapshot(stack):
    snap = {}
    for name in SERVICES:
        pid = stack.pid(name)
        # Reaped children count too: exited PostgreSQL backends, and Redis's
        # AOF rewrite children, a cost the payloads in Redis bring.
        ticks = proc_cpu_ticks(pid, children_too=(name in ("postgres", "redis")))
        if name == "postgres":
            ticks += sum(proc_cpu_ticks(c) for c in children_of(pid) if os.path.exists(
                "/proc/%d" % c))
        snap[name] = (pid, ticks)
    return snap


def loadgen(stack, n, c, ids_path, rate=None):
    args = [os.path.join(BENCH_BIN, "loadgen"), "--url", stack.api_url + "/api/images",
            "--image", IMAGE, "--text", CAPTION, "-n", str(n), "-c", str(c), "--ids", ids_path,
            "--deadline", "150"]
    if rate:
        args += ["--rate", "%.1f" % rate]
    return last_json(run(args, 200))


def wait_stored(psql, expected, stall_s=20):
    """Polls the row count until `expected` rows or no progress for stall_s."""
    last, last_change = -1, time.monotonic()
    while True:
        count = int(psql.query("SELECT count(*) FROM images")[0])
        if count >= expected:
            return count
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            return count
        time.sleep(0.1)


def run_stats(psql, table, ids):
    """Lost/duplicate counts and latency for the ids in `ids` (the 202 answers)."""
    psql.copy_ids(table, ids)
    row = psql.query(
        "WITH r AS (SELECT DISTINCT id FROM %s), s AS (SELECT i.* FROM images i JOIN r USING (id)) "
        "SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM s), "
        "(SELECT count(*) FROM %s) - (SELECT count(*) FROM r), "
        "coalesce(extract(epoch FROM max(stored_at) - min(received_at)), 0), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)), "
        "max(extract(epoch FROM stored_at - received_at)) FROM s" % (table, table))[0].split("|")
    distinct, stored, dup = int(row[0]), int(row[1]), int(row[2])
    span = float(row[3])
    ms = [round(float(x) * 1e3, 1) if x else None for x in row[4:8]]
    return {"accepted_ids": len(ids), "stored": stored, "lost": distinct - stored,
            "duplicate_ids": dup, "span_s": round(span, 3),
            "stored_per_s": round(stored / span, 1) if span > 0 else None,
            "latency_ms": {"p50": ms[0], "p95": ms[1], "p99": ms[2], "max": ms[3]}}


def listed_ids(stack, limit=1000, max_pages=100):
    """Every id GET /api/images lists, following `next` (keyset pages)."""
    seen, url = [], "/api/images?limit=%d" % limit
    for _ in range(max_pages):
        status, body = http_get(stack.api_url + url)
        if status != 200:
            raise RuntimeError("GET %s answered %d" % (url, status))
        page = json.loads(body)
        seen.extend(item["id"] for item in page["items"])
        url = page.get("next")
        if not url:
            return seen
    raise RuntimeError("more than %d pages of %d" % (max_pages, limit))


def read_ids(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def bench_e2e(tmp, stack, psql):
    res = {"n": N, "c": C}
    # Warm-up: connections, prepared statements, page cache; not counted.
    loadgen(stack, 20, 4, os.path.join(tmp, "warm.ids"))
    base = wait_stored(psql, 20)

    before = cpu_snapshot(stack)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ids_path = os.path.join(tmp, "run.ids")
    lg = loadgen(stack, N, C, ids_path)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ids = read_ids(ids_path)
    rows = wait_stored(psql, base + len(ids))
    after = cpu_snapshot(stack)
    res["loadgen"] = lg
    res["accepted_per_s"] = lg["accepted_per_s"]
    res["rejected"] = {k: v for k, v in lg["status"].items() if k != "202"}
    res["transport_errors"] = lg["transport_errors"]
    res.update(run_stats(psql, "run_ids", ids))
    res["extra_rows"] = rows - base - res["stored"]
    files = sum(len([f for f in fs if f.endswith(".jpg")]) for _, _, fs in os.walk(stack.storage))
    res["files"] = files
    res["rows"] = rows
    res["restarted"] = [s for s in SERVICES if before[s][0] != after[s][0]]
    # What a client sees: every accepted id in the list, exactly once.
    listed = listed_ids(stack)
    res["listed"] = len(set(ids) & set(listed))
    res["listed_twice"] = len(listed) - len(set(listed))
    res["cpu_ms_per_image"] = {
        s: round((after[s][1] - before[s][1]) / CLK_TCK * 1e3 / max(1, res["stored"]), 3)
        for s in SERVICES}
    res["cpu_ms_per_image"]["total"] = round(sum(res["cpu_ms_per_image"].values()), 3)
    res["loadgen_cpu_ms_per_image"] = round(
        (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e3 / max(1, len(ids)), 3)

    # Latency at half the sustained rate (the p99 target is stated at that rate).
    # BENCH_PACED_RATE fixes that rate instead, so that two builds whose
    # sustained rates differ are compared at the same load.
    if res["stored_per_s"]:
        rate = PACED_RATE or res["stored_per_s"] / 2
        n2 = max(100, min(N // 2, int(rate * 8)))
        lg2 = loadgen(stack, n2, C, os.path.join(tmp, "paced.ids"), rate=rate)
        ids2 = read_ids(os.path.join(tmp, "paced.ids"))
        wait_stored(psql, rows + len(ids2))
        paced = run_stats(psql, "paced_ids", ids2)
        paced.update({"rate": round(rate, 1), "n": n2, "accepted_per_s": lg2["accepted_per_s"],
                      "client_ms": lg2["client_ms"],
                      "rejected": {k: v for k, v in lg2["status"].items() if k != "202"}})
        res["paced"] = paced

    pg = stack.pid("postgres")
    res["peak_rss_mb"] = {s: round(vm_hwm_kb(stack.pid(s)) / 1024, 1)
                          for s in ("api", "render", "persist", "redis")}
    res["peak_rss_mb"]["postgres_max_process"] = round(
        max([vm_hwm_kb(pg)] + [vm_hwm_kb(c) for c in children_of(pg)]) / 1024, 1)
    return res


# ---------------------------------------------------------------- 3. reads

class Nginx:
    """nginx (Debian package) with a config of our own: keep-alive, sendfile,
    no access log; serves STORAGE_DIR, the directory the API reads from."""

    def __init__(self, tmp, root):
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(self.dir)
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        d = self.dir
        conf = """daemon off;
master_process on;
worker_processes auto;
%(user)s
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    types { image/jpeg jpg; }
    default_type application/octet-stream;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        location / {
            add_header Cache-Control "public, max-age=31536000, immutable";
        }
    }
}
""" % {"d": d, "port": self.port, "root": root,
       "user": "user root;" if os.geteuid() == 0 else ""}
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", self.conf, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                        raise RuntimeError("nginx did not start: " + f.read()[-1000:])
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wrk(url, seconds, paths_file=None):
    extra = ["-s", os.path.join(HERE, "paths.lua"), url, "--", paths_file] if paths_file \
        else [url]
    out = run(["wrk", "-t2", "-c32", "-d%ds" % seconds, "--latency"] + extra, seconds + 60)
    res = {"req_per_s": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))}
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else ""
    for p in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([0-9.]+)(us|ms|s)\s*$" % p, out, re.M)
        if m:
            res["p%s_ms" % p] = round(float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[
                m.group(2)], 3)
    return res


def read_cpu(stack, nginx):
    """CPU ticks of the processes that can serve or back a read."""
    snap = {s: ticks for s, (_, ticks) in cpu_snapshot(stack).items()
            if s in ("api", "postgres", "redis")}
    snap["nginx"] = sum(proc_cpu_ticks(p) for p in [nginx.proc.pid] +
                        children_of(nginx.proc.pid))
    return snap


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def bench_reads(tmp, stack, psql):
    rows = psql.query("SELECT id, path FROM images ORDER BY received_at DESC LIMIT 1")
    if not rows:
        loadgen(stack, 20, 4, os.path.join(tmp, "reads.ids"))
        wait_stored(psql, 20)
        rows = psql.query("SELECT id, path FROM images ORDER BY received_at DESC LIMIT 1")
    img_id, rel = rows[0].split("|", 1)
    with open(os.path.join(stack.storage, rel), "rb") as f:
        data = f.read()
    res = {"bytes": len(data), "seconds": READ_SECONDS, "connections": 32, "threads": 2}
    # What is timed must be the real answer: the same bytes from both servers.
    status, body = http_get(stack.api_url + "/api/images/" + img_id)
    if status != 200 or body != data:
        raise RuntimeError("GET /api/images/{id} answered %d with %d bytes, not the stored "
                           "%d-byte file" % (status, len(body), len(data)))
    # Every stored image in turn too: one id measures the best case (caches).
    every = [line.split("|", 1) for line in psql.query("SELECT id, path FROM images")]
    api_paths, nginx_paths = os.path.join(tmp, "api.paths"), os.path.join(tmp, "nginx.paths")
    with open(api_paths, "w") as f:
        f.writelines("/api/images/%s\n" % i for i, _ in every)
    with open(nginx_paths, "w") as f:
        f.writelines("/%s\n" % p for _, p in every)
    res["distinct_images"] = len(every)
    nginx = Nginx(tmp, stack.storage)
    nginx.start()
    try:
        status, body = http_get(nginx.url + "/" + rel)
        if status != 200 or body != data:
            raise RuntimeError("nginx answered %d with %d bytes" % (status, len(body)))
        for key, url, paths in (
                ("api_image", stack.api_url + "/api/images/" + img_id, None),
                ("nginx_image", nginx.url + "/" + rel, None),
                ("api_images_all", stack.api_url, api_paths),
                ("nginx_images_all", nginx.url, nginx_paths),
                ("api_list100", stack.api_url + "/api/images?limit=100", None)):
            before = read_cpu(stack, nginx)
            res[key] = wrk(url, READ_SECONDS, paths)
            after = read_cpu(stack, nginx)
            reqs = res[key]["req_per_s"] * READ_SECONDS
            # Server CPU per request, microseconds: what a read costs each process.
            res[key]["cpu_us_per_req"] = {
                k: round((after[k] - before[k]) / CLK_TCK * 1e6 / max(1.0, reqs), 1)
                for k in after if (after[k] - before[k]) / CLK_TCK * 1e6 / max(1.0, reqs) >= 0.5}
    finally:
        nginx.stop()
    res["api_vs_nginx"] = round(res["api_image"]["req_per_s"] /
                                res["nginx_image"]["req_per_s"], 3)
    res["api_vs_nginx_all"] = round(res["api_images_all"]["req_per_s"] /
                                    res["nginx_images_all"]["req_per_s"], 3)
    return res


# ---------------------------------------------------------------- report

def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def print_table(r):
    m = r["machine"]
    print("imgcap benchmark, %s: %d cores, %s, %.1f GB, Linux %s, load %.2f at start" %
          (m["date"], m["nproc"], m["cpu"], m["mem_gb"], m["kernel"], m["load1_at_start"]))
    fs = m.get("filesystem")
    if fs:
        print("stack's files on %s (%s%s)" % (
            fs["device"] or "?", fs["type"],
            "" if "journal" not in fs else ", journal" if fs["journal"] else ", no journal"))
        if fs.get("journal") is False:
            print("  note: ext4 without a journal skips the inodes freed in the last minutes on "
                  "every new file;\n  persist's and Redis's CPU then depend on what was deleted "
                  "before the run (TMPDIR on a journaled\n  filesystem avoids it: "
                  "docs/performance.md)")
    rd = r.get("render")
    if rd:
        print("\n1. render  %s, %d-character Cyrillic caption, ms per image (best of %d "
              "interleaved rounds)" % (rd.get("image"), rd.get("caption_chars", 0),
                                       rd.get("rounds", 0)))
        if "error" in rd:
            print("   not measured: %s" % rd["error"])
        else:
            if "render_ms" in rd:
                print("   %-46s %8s   %s" % ("imgcap-render --repeat 300", fmt(rd["render_ms"], "%.3f"),
                                            "(%s route, band %d rows)" %
                                            (rd["render_path"], rd["band_rows"])))
            else:
                print("   %-46s %8s   %s" % ("imgcap-render", "-", rd.get("render_error", "")))
            if "render_thumbnail_ms" in rd:
                print("   %-46s %8.3f   (thumbnail alone %s)" % (
                    "imgcap-render, caption + thumbnail", rd["render_thumbnail_ms"],
                    fmt(rd.get("thumbnail_ms"), "%.3f")))
            print("   %-46s %8.3f   render / floor = %s" % (
                "floor: DCT coefficient copy (libjpeg)", rd["coef_floor_ms"],
                fmt(rd.get("render_vs_coef"))))
            print("   %-46s %8.3f   render / floor = %s" % (
                "floor: TurboJPEG decode + encode q90", rd["tj_floor_ms"],
                fmt(rd.get("render_vs_tj"))))
            if rd.get("splice_floor_ms"):
                print("   %-46s %8.3f   render / floor = %s%s" % (
                    "below: entropy-data splice + black band", rd["splice_floor_ms"],
                    fmt(rd.get("render_vs_splice")),
                    "" if rd["splice_exact"] else "  (NOT bit-exact)"))
            print("   %-46s %8.3f   Pillow / render = %s" % (
                "Pillow %s, same job" % rd["pillow_version"], rd["pillow_ms"],
                fmt(rd.get("pillow_vs_render"), "%.1f")))
    e = r.get("e2e")
    if e:
        print("\n2. end to end  local stack (deploy/local.sh), %s uploads at concurrency %s" %
              (e.get("n"), e.get("c")))
        if "error" in e:
            print("   not measured: %s" % e["error"])
        else:
            lat = e["latency_ms"]
            print("   accepted/s %s   stored/s %s   (rejected: %s, transport errors: %d)" % (
                fmt(e["accepted_per_s"], "%.0f"), fmt(e["stored_per_s"], "%.0f"),
                e["rejected"] or "none", e["transport_errors"]))
            print("   lost %d  duplicates %d  rows not accepted %d  (files %d, rows %d with "
                  "warm-up)  listed by the API %d of %d%s" % (
                      e["lost"], e["duplicate_ids"], e["extra_rows"], e["files"], e["rows"],
                      e["listed"], e["accepted_ids"],
                      ", %d listed twice" % e["listed_twice"] if e["listed_twice"] else ""))
            print("   received_at -> stored_at ms: p50 %s  p95 %s  p99 %s  max %s" % (
                fmt(lat["p50"], "%.0f"), fmt(lat["p95"], "%.0f"), fmt(lat["p99"], "%.0f"),
                fmt(lat["max"], "%.0f")))
            p = e.get("paced")
            if p:
                pl = p["latency_ms"]
                print("   at %s (%.0f/s, %d uploads): p50 %s  p95 %s  p99 %s  max %s"
                      "  lost %d" % ("a fixed rate" if PACED_RATE else "half that rate",
                                     p["rate"], p["n"], fmt(pl["p50"], "%.0f"),
                                     fmt(pl["p95"], "%.0f"), fmt(pl["p99"], "%.0f"),
                                     fmt(pl["max"], "%.0f"), p["lost"]))
            print("   %-12s %12s %14s" % ("process", "CPU ms/image", "peak RSS MB"))
            rss = e["peak_rss_mb"]
            for s in SERVICES:
                key = "postgres_max_process" if s == "postgres" else s
                print("   %-12s %12.3f %14.1f%s" % (s, e["cpu_ms_per_image"][s], rss[key],
                                                   " (largest process)" if s == "postgres"
                                                   else ""))
            print("   %-12s %12.3f" % ("total", e["cpu_ms_per_image"]["total"]))
            print("   %-12s %12.3f   (the load generator, same cores)" % (
                "loadgen", e["loadgen_cpu_ms_per_image"]))
            if e["restarted"]:
                print("   RESTARTED during the run: %s" % ", ".join(e["restarted"]))
    rs = r.get("reads")
    if rs:
        print("\n3. reads  wrk -t2 -c32 -d%ds, keep-alive" % READ_SECONDS)
        if "error" in rs:
            print("   not measured: %s" % rs["error"])
        else:
            for key, label in (("api_image", "GET /api/images/{id}, one id (%d B)" % rs["bytes"]),
                               ("nginx_image", "nginx, same file"),
                               ("api_images_all", "GET /api/images/{id}, %d ids in turn" %
                                rs["distinct_images"]),
                               ("nginx_images_all", "nginx, same files"),
                               ("api_list100", "GET /api/images?limit=100")):
                w = rs[key]
                cpu = ", ".join("%s %.0f" % kv for kv in sorted(w["cpu_us_per_req"].items()))
                print("   %-40s %8.0f req/s  p50 %s ms  p99 %s ms  CPU us/req: %s%s" % (
                    label, w["req_per_s"], fmt(w.get("p50_ms")), fmt(w.get("p99_ms")),
                    cpu or "-", "  non-2xx %d" % w["non_2xx"] if w["non_2xx"] else ""))
            print("   api / nginx = %.2f (one id), %.2f (every id)" % (
                rs["api_vs_nginx"], rs["api_vs_nginx_all"]))
    f = r.get("find")
    if f:
        print()
        if "error" in f:
            print("4. find  not measured: %s" % f["error"])
        else:
            print_find(f)
    print()


def main():
    tmp = tempfile.mkdtemp(prefix="imgcap-bench-")
    os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user under it
    results = {"machine": machine()}
    results["machine"]["filesystem"] = filesystem(tmp)
    failed = False
    stack = psql = None
    started = time.monotonic()
    try:
        if "render" in PARTS:
            log("render: floors, Pillow, imgcap-render")
            try:
                results["render"] = bench_render(tmp)
            except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as ex:
                results["render"] = {"error": str(ex)[:500]}
                failed = True
        if PARTS & {"e2e", "reads", "find"}:
            log("starting the local stack")
            stack = LocalStack(tmp)
            try:
                health = stack.start()
                results["stack"] = {"workers": health.get("workers")}
                psql = Psql(stack.pg_port, os.path.join(tmp, "psql.err"))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as ex:
                for part in PARTS & {"e2e", "reads", "find"}:
                    results[part] = {"error": "stack: " + str(ex)[:500]}
                failed = True
        # find last: its million rows would change what the others measure.
        for part, fn in (("e2e", bench_e2e), ("reads", bench_reads), ("find", bench_find)):
            if part in PARTS and psql:
                log(part)
                try:
                    results[part] = fn(tmp, stack, psql)
                except (RuntimeError, ValueError, OSError, KeyError, IndexError,
                        subprocess.TimeoutExpired) as ex:
                    results[part] = {"error": str(ex)[:500]}
                    failed = True
    finally:
        if psql:
            psql.close()
        if stack:
            log("stopping the local stack")
            stack.stop()
        if os.environ.get("BENCH_KEEP"):
            log("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    e = results.get("e2e", {})
    for key in ("lost", "duplicate_ids", "extra_rows", "listed_twice"):
        if e.get(key) or e.get("paced", {}).get(key):
            failed = True
    if "listed" in e and e["listed"] != e["accepted_ids"]:
        failed = True
    print_table(results)
    print(json.dumps(results, ensure_ascii=False, separators=(",", ":")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
