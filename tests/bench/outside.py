#!/usr/bin/env python3
"""An independent end-to-end check from outside: N uploads by ONE curl
process (--parallel, a generated --config), then GET /api/images, read the way
any client would, until every accepted id is listed. Every HTTP request is made
by the curl command line; this script only writes curl's config, reads its
output and parses the JSON the public API returns. No database access, no code
of the project on the client side (tests/bench/loadgen.c and bench.py, which
reads stored_at from PostgreSQL, are the other, inside check).

Figures only: nothing here fails on time or rate (project rule). The exit
status is 1 when an accepted id is never listed, is listed twice, is listed
with another description, when a 202 body disagrees with its Location, when a
fetched image is not the captioned JPEG, or when nothing was accepted; 2 when
the check could not run (stack did not start, API unreachable).

stored/s here is a lower bound: accepted / (time from launching the upload
curl until the poll that first showed the last accepted id had its answer).
It includes curl's start-up and up to one poll interval (default 0.1 s) plus
the poll's own duration. Polling runs during the uploads as well, walking the
newest-first list only down to the oldest accepted id not yet seen, so its
cost stays near one page per poll while storage keeps up.

Usage: tests/bench/outside.sh [--local] [-n N] [-c C] [--timeout S]
       [--warmup W] [--poll-interval S] [--keep]
Environment: API_URL (default http://127.0.0.1:8000, .env's API_PORT), used
unless --local; API_TOKEN, sent as a bearer token when set; IMGCAP_BIN_DIR
(build/) for --local, whose imgcap-* are copied to the temp dir first.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
IMAGE = os.path.join(ROOT, "tests", "data", "camera_674x480.jpg")
LOCAL_SH = os.path.join(ROOT, "deploy", "local.sh")
WELCOME = "Добро пожаловать"
PAGE = 1000  # the API's largest limit: fewest requests per walk
POLL_MIN_PAGE = 100
POLL_MARGIN = 200


class SetupError(Exception):
    """The check could not run at all (exit 2), as opposed to a finding."""


def log(msg):
    print("outside: " + msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg_size(data):
    """(width, height) from the first SOFn marker, or None."""
    if data[:2] != b"\xff\xd8":
        return None
    p = 2
    while p + 4 <= len(data):
        if data[p] != 0xFF:
            return None
        marker = data[p + 1]
        if marker == 0xFF:  # fill byte
            p += 1
            continue
        seglen = int.from_bytes(data[p + 2:p + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if p + 9 > len(data):
                return None
            return (int.from_bytes(data[p + 7:p + 9], "big"),
                    int.from_bytes(data[p + 5:p + 7], "big"))
        p += 2 + seglen
    return None


class Client:
    """GET requests, each by its own curl process."""

    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.auth = ["-H", "Authorization: Bearer " + token] if token else []

    def url(self, path):
        """`next` is a path on the API's origin; API_URL may carry a prefix."""
        return self.base + path if path.startswith("/") else path

    def get(self, path, timeout=30):
        """(status, content type, body bytes); status 0 on a transport error."""
        r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *self.auth, "-w",
                            "\n%{http_code} %{content_type}", self.url(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 10)
        body, _, trailer = r.stdout.rpartition(b"\n")
        code, _, ctype = trailer.decode("ascii", "replace").partition(" ")
        code = int(code) if code.isdigit() else 0
        if code == 0:  # no HTTP answer: curl's message says why
            body = r.stderr.strip()
        return code, ctype.strip(), body

    def walk(self, stop_below, limit=PAGE):
        """Ids and descriptions of GET /api/images (newest first), following
        `next`, until the list ends or a page ends below id stop_below. UUIDv7
        ids in canonical lower-case form sort as strings in the list's order.
        Returns (items, pages)."""
        items, pages, path = [], 0, "/api/images?limit=%d" % limit
        while path:
            status, _, body = self.get(path)
            pages += 1
            if status != 200:
                raise RuntimeError("GET %s answered %d: %s" % (
                    path, status, body[:200].decode("utf-8", "replace")))
            page = json.loads(body)
            got = [(it["id"].lower(), it["description"]) for it in page["items"]]
            items.extend(got)
            if not got or got[-1][0] < stop_below:
                break
            path = page.get("next")
        return items, pages


class LocalStack:
    """deploy/local.sh in a temp VAR_DIR on free loopback ports, with the same
    environment as tests/bench/bench.py's LocalStack."""

    def __init__(self, tmp):
        self.var = os.path.join(tmp, "var")
        os.makedirs(self.var)
        self.api_url = None
        self.started = False
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        # A copy of the binaries: others rebuilding build/ during the run must
        # not change (or, mid-link, remove) what the supervisor restarts.
        src = os.environ.get("IMGCAP_BIN_DIR", os.path.join(ROOT, "build"))
        self.bin = os.path.join(tmp, "bin")
        os.makedirs(self.bin)
        for svc in ("api", "render", "persist"):
            path = os.path.join(src, "imgcap-" + svc)
            if not os.access(path, os.X_OK):
                raise SetupError("no %s: run make" % path)
            shutil.copy2(path, self.bin)
        api_port = free_port()
        # .env names STORAGE_DIR and LOG_DIR under ./var; keep everything in VAR_DIR.
        env.update({"VAR_DIR": self.var, "STORAGE_DIR": os.path.join(self.var, "images"),
                    "LOG_DIR": os.path.join(self.var, "log"),
                    "IMGCAP_BIN_DIR": self.bin,
                    "LOCAL_REDIS_PORT": str(free_port()), "LOCAL_PG_PORT": str(free_port()),
                    "API_PORT": str(api_port), "API_HOST": "127.0.0.1"})
        self.env = env
        self.api_url = "http://127.0.0.1:%d" % api_port

    def start(self, client):
        self.started = True
        r = subprocess.run([LOCAL_SH, "start"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=180)
        if r.returncode != 0:
            raise SetupError("local.sh start exited %d: %s" % (r.returncode, r.stdout[-1500:]))
        deadline = time.monotonic() + 60
        while True:
            status, _, body = client.get("/health", timeout=2)
            if status == 200:
                workers = json.loads(body).get("workers", {})
                if workers.get("render", 0) >= 1 and workers.get("persist", 0) >= 1:
                    return
            if time.monotonic() > deadline:
                raise SetupError("stack not healthy after 60 s (last /health %d); logs in %s"
                                 % (status, os.path.join(self.var, "log")))
            time.sleep(0.2)

    def stop(self):
        if not self.started:
            return
        self.started = False
        r = subprocess.run([LOCAL_SH, "stop"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            log("local.sh stop exited %d: %s" % (r.returncode, r.stdout[-1000:]))


def config_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path, url, n, tag, resp_dir, token):
    """One curl operation per upload, separated by `next`. The write-out line
    carries the upload's index, so each answer is matched to what was sent."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if i:
                f.write("next\n")
            f.write("url = %s\n" % config_quote(url))
            f.write("form = %s\n" % config_quote("image=@%s;type=image/jpeg" % IMAGE))
            f.write("form = %s\n" % config_quote("description=" + description(tag, i)))
            f.write("output = %s\n" % config_quote(os.path.join(resp_dir, "%d.json" % i)))
            f.write("max-time = 120\n")
            if token:
                f.write("header = %s\n" % config_quote("Authorization: Bearer " + token))
            f.write("write-out = %s\n" % config_quote(
                "%d %%{http_code} %%{exitcode} %%{time_total} %%header{location}\\n" % i))


def description(tag, i):
    return "outside %s %d %s" % (tag, i, WELCOME)


class Upload:
    """The one curl process and what its write-out lines say, read as they come
    (curl block-buffers them into the pipe, so they arrive in bursts)."""

    def __init__(self, cmd):
        self.lock = threading.Lock()
        self.results = {}   # index -> (status, curl exit code, seconds, id or None)
        self.accepted = {}  # id -> index
        self.done = threading.Event()
        self.end = None
        self.rusage = None
        self.exit = None
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            if len(self.stderr) < 20:
                self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def _read(self):
        for raw in self.proc.stdout:
            parts = raw.decode("utf-8", "replace").split()
            if len(parts) < 4 or not parts[0].isdigit():
                continue
            i, status, code, secs = int(parts[0]), int(parts[1]), int(parts[2]), float(parts[3])
            loc = parts[4] if len(parts) > 4 else ""
            ident = loc.rsplit("/", 1)[-1].lower() if status == 202 and loc else None
            with self.lock:
                self.results[i] = (status, code, secs, ident)
                if ident:
                    self.accepted[ident] = i
        # wait4, not Popen.wait: its rusage is curl's own CPU time.
        _, st, self.rusage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(st)
        self.exit = self.proc.returncode
        self.end = time.monotonic()
        self.done.set()

    def snapshot(self):
        with self.lock:
            return dict(self.accepted), self.done.is_set()

    def kill(self):
        if self.proc.returncode is None:
            self.proc.kill()


def upload_and_watch(client, args, n, c, tag, tmp, timeout):
    """Uploads n images at concurrency c and polls the list until every
    accepted id has been seen or `timeout` s after the uploads ended."""
    resp_dir = os.path.join(tmp, "resp-" + tag)
    os.makedirs(resp_dir)
    cfg = os.path.join(tmp, "curl-%s.cfg" % tag)
    write_config(cfg, client.url("/api/images"), n, tag, resp_dir, args.token)
    cmd = ["curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-max", str(c),
           "--config", cfg]
    up = Upload(cmd)
    first_seen = {}  # id -> seconds after launch when a poll's answer showed it
    polls = pages = rows = 0
    poll_errors = []
    try:
        while True:
            t_poll = time.monotonic()
            accepted, done = up.snapshot()
            missing = [i for i in accepted if i not in first_seen]
            if done and not missing:
                break
            if done and t_poll - up.end > timeout:
                break
            # Everything older than the oldest missing id was already seen;
            # with nothing missing yet, the first page shows what is new.
            stop_below = min(missing) if missing else "~"
            # A first page about as long as what lies above stop_below (the ids
            # seen there, and a margin for ids stored since the last poll)
            # keeps the API's share of the polling small; `next` covers more.
            above = sum(1 for i in first_seen if i >= stop_below)
            limit = max(POLL_MIN_PAGE, min(PAGE, above + POLL_MARGIN))
            try:
                items, np = client.walk(stop_below, limit)
            except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                poll_errors.append(str(e)[:200])
                items, np = [], 0
            t_ans = time.monotonic() - up.start
            polls, pages, rows = polls + 1, pages + np, rows + len(items)
            for ident, _ in items:
                first_seen.setdefault(ident, t_ans)
            pause = args.poll_interval - (time.monotonic() - t_poll)
            if pause > 0:
                time.sleep(pause)
    finally:
        up.kill()
    up.done.wait(30)
    accepted, _ = up.snapshot()
    return {"up": up, "accepted": accepted, "first_seen": first_seen, "polls": polls,
            "pages": pages, "rows": rows, "poll_errors": poll_errors, "resp_dir": resp_dir}


def check_bodies(w, tag):
    """The 202 bodies: id as in Location, status queued, description as sent."""
    bad = []
    for ident, i in w["accepted"].items():
        try:
            with open(os.path.join(w["resp_dir"], "%d.json" % i), encoding="utf-8") as f:
                b = json.load(f)
            ok = (b.get("id", "").lower() == ident and b.get("status") == "queued"
                  and b.get("description") == description(tag, i) and b.get("received_at"))
        except (OSError, ValueError) as e:
            ok, b = False, str(e)
        if not ok and len(bad) < 5:
            bad.append({"index": i, "id": ident, "body": str(b)[:200]})
        elif not ok:
            bad.append(None)
    return bad


def check_images(client, ids, src_size):
    """GET /api/images/{id}: 200, image/jpeg, same width, taller than the input."""
    out = []
    for ident in ids:
        status, ctype, body = client.get("/api/images/" + ident)
        size = jpeg_size(body) if status == 200 else None
        ok = (status == 200 and ctype.split(";")[0].strip() == "image/jpeg" and size is not None
              and size[0] == src_size[0] and size[1] > src_size[1])
        out.append({"id": ident, "status": status, "content_type": ctype,
                    "size": list(size) if size else None, "ok": ok})
    return out


def run(args, tmp):
    client = Client(args.api_url, args.token)
    with open(IMAGE, "rb") as f:
        src_size = jpeg_size(f.read())
    status, _, body = client.get("/api/images?limit=1", timeout=5)
    if status != 200:
        raise SetupError("GET %s/api/images answered %d: %s" % (
            args.api_url, status, body[:200].decode("utf-8", "replace")))

    load_start = loadavg()
    if args.warmup > 0:
        w = upload_and_watch(client, args, args.warmup, min(args.c, 4), "warm%d" % os.getpid(),
                             tmp, 30)
        log("warm-up: %d/%d accepted, %d listed" % (len(w["accepted"]), args.warmup,
                                                    sum(1 for i in w["accepted"]
                                                        if i in w["first_seen"])))

    tag = "%d-%d" % (int(time.time()), os.getpid())
    log("run %s: %d uploads by one curl --parallel --parallel-max %d to %s"
        % (tag, args.n, args.c, args.api_url))
    w = upload_and_watch(client, args, args.n, args.c, tag, tmp, args.timeout)
    load_end = loadavg()
    up, accepted, first_seen = w["up"], w["accepted"], w["first_seen"]

    statuses, transport = {}, {}
    for st, code, _, _ in up.results.values():
        statuses[str(st)] = statuses.get(str(st), 0) + 1
        if code:
            transport[str(code)] = transport.get(str(code), 0) + 1
    no_answer = args.n - len(up.results)
    upload_wall = up.end - up.start
    seen_times = sorted(first_seen[i] for i in accepted if i in first_seen)
    all_seen = len(seen_times) == len(accepted) and accepted
    t_all = seen_times[-1] if all_seen else None

    def quantile(q):
        if not seen_times or len(seen_times) < q * len(accepted):
            return None
        return round(seen_times[max(0, int(q * len(accepted)) - 1)], 3)

    # Cumulative count listed at each whole second: shows a stall or a burst
    # that the single rate hides.
    by_second = [sum(1 for t in seen_times if t <= sec)
                 for sec in range(1, int(seen_times[-1]) + 2)] if seen_times else []

    # One more walk, once, down past the oldest accepted id: the list as a
    # client reading it now sees it.
    final_items, final_pages = ([], 0)
    final_error = None
    if accepted:
        try:
            final_items, final_pages = client.walk(min(accepted))
        except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            final_error = str(e)[:300]
    count, desc_bad = {}, 0
    for ident, desc in final_items:
        if ident in accepted:
            count[ident] = count.get(ident, 0) + 1
            if desc != description(tag, accepted[ident]):
                desc_bad += 1
    listed_once = sum(1 for v in count.values() if v == 1)
    duplicates = sum(1 for v in count.values() if v > 1)
    missing = sorted(i for i in accepted if i not in count)

    bad_bodies = check_bodies(w, tag)
    by_index = sorted(accepted, key=accepted.get)
    pick = [] if not by_index else sorted({by_index[0], by_index[len(by_index) // 2],
                                           by_index[-1]}, key=accepted.get)
    images = check_images(client, [i for i in pick if i in count], src_size)
    cpu = (up.rusage.ru_utime + up.rusage.ru_stime) if up.rusage else None
    curl_ver = subprocess.run(["curl", "--version"], stdout=subprocess.PIPE,
                              text=True).stdout.split()[1]

    res = {
        "api_url": args.api_url, "local": args.local, "run_tag": tag, "n": args.n, "c": args.c,
        "sent": args.n, "accepted": len(accepted), "statuses": statuses,
        "no_answer": no_answer, "curl_exit_codes": transport, "curl_exit": up.exit,
        "upload_wall_s": round(upload_wall, 3),
        "accepted_per_s": round(len(accepted) / upload_wall, 1) if upload_wall > 0 else None,
        "all_listed_s": round(t_all, 3) if t_all else None,
        "stored_per_s_lower_bound": round(len(accepted) / t_all, 1) if t_all else None,
        "listed_50pct_s": quantile(0.5), "listed_90pct_s": quantile(0.9),
        "listed_by_second": by_second,
        "poll_interval_s": args.poll_interval, "polls": w["polls"], "poll_pages": w["pages"],
        "poll_rows": w["rows"], "poll_errors": len(w["poll_errors"]),
        "timed_out": not all_seen, "listed_once": listed_once, "missing": len(missing),
        "missing_ids": missing[:10], "duplicates": duplicates,
        "description_mismatches": desc_bad, "final_walk_pages": final_pages,
        "final_walk_error": final_error, "bad_202_bodies": len(bad_bodies),
        "bad_202_examples": [b for b in bad_bodies if b][:3],
        "images_checked": len(images), "images_ok": sum(1 for x in images if x["ok"]),
        "images": images,
        "curl_cpu_s": round(cpu, 3) if cpu is not None else None,
        "curl_cpu_share_of_upload": round(cpu / upload_wall, 2) if cpu and upload_wall else None,
        "curl_version": curl_ver, "nproc": os.cpu_count(),
        "load_at_start": load_start, "load_at_end": load_end,
    }
    print_report(res, w["poll_errors"], up.stderr)
    print(json.dumps(res, ensure_ascii=False), flush=True)
    failed = (not accepted or missing or duplicates or desc_bad or bad_bodies or final_error
              or len(images) < min(3, len(accepted)) or not all(x["ok"] for x in images))
    return 1 if failed else 0


def print_report(r, poll_errors, curl_stderr):
    p = lambda *a: print(*a, flush=True)  # noqa: E731
    p("outside check of %s (%s), run %s" % (r["api_url"], "--local stack" if r["local"]
                                            else "API_URL", r["run_tag"]))
    p("  curl %s; %d cores; load average %s at start, %s at end" % (
        r["curl_version"], r["nproc"], " ".join("%.2f" % x for x in r["load_at_start"]),
        " ".join("%.2f" % x for x in r["load_at_end"])))
    p("  sent                  %d (one curl, --parallel-max %d)" % (r["sent"], r["c"]))
    p("  accepted (202)        %d" % r["accepted"])
    other = {k: v for k, v in r["statuses"].items() if k != "202"}
    p("  other statuses        %s%s" % (other or "none",
                                       "; %d without answer" % r["no_answer"]
                                       if r["no_answer"] else ""))
    if r["curl_exit_codes"]:
        p("  curl errors           %s (exit code: transfers)" % r["curl_exit_codes"])
    p("  upload phase          %.3f s wall, %s accepted/s; curl CPU %s s (%s of one core)" % (
        r["upload_wall_s"], r["accepted_per_s"], r["curl_cpu_s"],
        r["curl_cpu_share_of_upload"]))
    p("  all accepted listed   %s" % ("after %.3f s from the first upload sent" % r["all_listed_s"]
                                    if r["all_listed_s"] else "NO (timed out)"))
    if r["stored_per_s_lower_bound"] is not None:
        p("  stored/s              %s  (lower bound: accepted / that time; includes curl "
          "start-up and polling every %.2f s plus the poll's own time)" % (
              r["stored_per_s_lower_bound"], r["poll_interval_s"]))
    else:
        p("  stored/s              n/a (not every accepted id was listed)")
    p("  50%% / 90%% listed at   %s / %s" % tuple(
        "n/a" if x is None else "%.3f s" % x for x in (r["listed_50pct_s"],
                                                       r["listed_90pct_s"])))
    p("  listed by 1 s, 2 s..  %s" % (" ".join(map(str, r["listed_by_second"])) or "none"))
    p("  polls                 %d (%d pages, %d rows, %d errors)" % (
        r["polls"], r["poll_pages"], r["poll_rows"], r["poll_errors"]))
    p("  final list walk       listed once %d, missing %d, duplicates %d, description "
      "mismatches %d (%d pages)" % (r["listed_once"], r["missing"], r["duplicates"],
                                    r["description_mismatches"], r["final_walk_pages"]))
    if r["missing_ids"]:
        p("  missing ids           %s" % " ".join(r["missing_ids"]))
    if r["final_walk_error"]:
        p("  final walk error      %s" % r["final_walk_error"])
    p("  202 bodies            %d disagree with Location / what was sent" % r["bad_202_bodies"])
    for b in r["bad_202_examples"]:
        p("    %s" % b)
    p("  images fetched        %d/%d ok (200, image/jpeg, same width, taller than 674x480): %s" % (
        r["images_ok"], r["images_checked"],
        ", ".join("%s %d %s" % (x["id"][-6:], x["status"],
                                "x".join(map(str, x["size"])) if x["size"] else "-")
                  for x in r["images"])))
    for e in poll_errors[:3]:
        p("  poll error            %s" % e)
    for e in curl_stderr[:5]:
        p("  curl stderr           %s" % e)


def main():
    ap = argparse.ArgumentParser(prog="outside.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--local", action="store_true",
                    help="start deploy/local.sh in a temp VAR_DIR on free ports")
    ap.add_argument("-n", type=int, default=2000, help="uploads (2000)")
    ap.add_argument("-c", type=int, default=32, help="curl --parallel-max (32)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="s after the uploads end to wait for all ids to be listed (60)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="uploads before the run, not counted (20; 0 = none)")
    ap.add_argument("--poll-interval", type=float, default=0.1, help="s between polls (0.1)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, responses)")
    args = ap.parse_args()
    if args.n < 1 or args.c < 1 or args.poll_interval <= 0:
        ap.error("-n and -c must be >= 1 and --poll-interval > 0")
    args.token = os.environ.get("API_TOKEN") or None

    # SIGTERM/SIGHUP unwind like CTRL-C, so the stack is stopped and the temp
    # dir removed on every way out.
    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    # Started in the background by a shell, Python inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    tmp = tempfile.mkdtemp(prefix="imgcap-outside-")
    os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user under it
    stack = None
    rc = 2
    try:
        if args.local:
            stack = LocalStack(tmp)
            args.api_url = stack.api_url
            log("starting deploy/local.sh in %s" % stack.var)
            stack.start(Client(args.api_url, args.token))
        else:
            args.api_url = os.environ.get("API_URL", "http://127.0.0.1:8000")
        rc = run(args, tmp)
    except SetupError as e:
        log(str(e))
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        # A second CTRL-C must not leave the stack running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack:
            stack.stop()
        if args.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
