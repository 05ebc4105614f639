"""Browser tests: a private imgcap stack (tests/integration/harness.py: real
redis-server, PostgreSQL and the three services), then browser.mjs drives
Debian's chromium through playwright-core against its api with every outside
host blocked. Usage: run.py [check ...] [--screenshot FILE] (default: all
checks; the gallery and camera checks save FILE). Needs `npm ci` in
tests/browser/ (make test-browser runs it). The checks of CHECKS share one stack
seeded by seed(); those of TOKEN_CHECKS run against one with API_TOKEN set."""
import calendar
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import DATA_DIR, Stack, multipart, read_data  # noqa: E402

# In this order. docs to livefilter (and token) need only what the api had
# before the frame store; search to nodelete (and delete) need its list
# filters, cameras, thumbnails and DELETE.
CHECKS = ["docs", "gallery", "viewer", "upload", "live", "errors", "livefilter",
          "search", "timerange", "camera", "filterurl", "thumbnails", "nodelete"]
TOKEN_CHECKS = ["token", "delete", "docs_locks"]  # against a stack with API_TOKEN set
TOKEN = "s3cret-token"
SEED = 30  # more than the page's first page (24): scrolling loads the rest
GROUPS = 3  # uploaded in whole seconds of their own: the time range check's ranges
PLACES = ["въезд", "север", "парковка", "перекрёсток", "Gate 4", "Ring road"]
CAMERAS = ["north-1", "gate_4", None]


def upload(stack, jpeg, description, camera=None):
    fields = [("image", jpeg, "photo.jpg", "image/jpeg"),
              ("description", description.encode(), None, None)]
    if camera is not None:
        fields.append(("camera", camera.encode(), None, None))
    body, ctype = multipart(fields)
    return stack.request("POST", "/api/images", body=body, headers={"Content-Type": ctype})


def parse_time(iso):
    """RFC 3339 UTC with milliseconds (received_at) -> seconds since the epoch."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) + \
        float("0" + iso[19:].rstrip("Z"))


def seed(stack):
    """Uploads SEED images with cameras CAMERAS in turn, in GROUPS groups each
    in whole seconds of its own; returns the list's items (newest first), each
    with "sent_camera" (what the upload said), and the GROUPS - 1 boundaries
    between the groups (RFC 3339, whole seconds, UTC)."""
    jpegs = [read_data(name) for name in ("camera_674x480.jpg", "synthetic_640x480.jpg",
                                          "camera_674x480_gray.jpg",
                                          "camera_640x480_progressive.jpg")]
    ids, sent, bounds = [], {}, []
    per_group = SEED // GROUPS
    for i in range(SEED):
        if i and i % per_group == 0:
            # The next group starts in the second after the last upload.
            last = max(parse_time(r["received_at"]) for r in accepted)
            bound = int(last) + 1
            bounds.append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bound)))
            time.sleep(max(0.0, bound + 0.05 - time.time()))
        if i % per_group == 0:
            accepted = []
        camera = CAMERAS[i % len(CAMERAS)]
        r = upload(stack, jpegs[i % len(jpegs)],
                   "Камера %d: %s, полоса %d" % (i + 1, PLACES[i % len(PLACES)], i % 3), camera)
        assert r.status == 202, r.body
        accepted.append(r.json())
        ids.append(r.json()["id"])
        sent[ids[-1]] = camera
    stack.wait_stored(ids)
    items = stack.request("GET", "/api/images?limit=1000").json()["items"]
    assert [it["id"] for it in items] == ids[::-1], "the list is the uploads, newest first"
    for it in items:
        it["sent_camera"] = sent[it["id"]]
    return items, bounds


def run_node(cfg):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
        path = f.name
    try:
        return subprocess.run(["node", os.path.join(HERE, "browser.mjs"), path], cwd=HERE,
                              timeout=900).returncode
    finally:
        os.unlink(path)


def main():
    args = sys.argv[1:]
    screenshot = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        screenshot = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    wanted = args or CHECKS + TOKEN_CHECKS
    files = {"jpeg": os.path.join(DATA_DIR, "camera_674x480.jpg"),
             "not_jpeg": os.path.join(DATA_DIR, "not_a_jpeg.jpg"),
             "broken": os.path.join(DATA_DIR, "truncated.jpg")}
    started = time.monotonic()
    failed = 0
    checks = [c for c in CHECKS if c in wanted]
    if checks:
        with Stack(services=("api", "render", "persist")) as stack:
            seeded, bounds = seed(stack)
            cfg = {"base": stack.api_url, "checks": checks, "files": files,
                   "seeded": seeded, "bounds": bounds, "screenshot": screenshot}
            failed += run_node(cfg) != 0
    checks = [c for c in TOKEN_CHECKS if c in wanted]
    if checks:
        with Stack(services=("api", "render", "persist"), env={"API_TOKEN": TOKEN}) as stack:
            failed += run_node({"base": stack.api_url, "checks": checks, "files": files,
                                "token": TOKEN}) != 0
    print("browser: %.1fs" % (time.monotonic() - started))
    unknown = set(wanted) - set(CHECKS + TOKEN_CHECKS)
    if unknown:
        print("unknown checks: %s" % " ".join(sorted(unknown)))
        return 1
    if failed:
        print("browser tests failed")
        return 1
    print("browser tests passed (%d checks)" % len(wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
