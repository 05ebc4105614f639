"""Browser tests: a private imgcap stack (tests/integration/harness.py: real
redis-server, PostgreSQL and the three services), then browser.mjs drives
Debian's chromium through playwright-core against its api with every outside
host blocked. Usage: run.py [check ...] (default: all). Needs
`npm ci` in tests/browser/ (make test-browser runs it)."""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import DATA_DIR, Stack, read_data  # noqa: E402

CHECKS = ["docs", "gallery", "viewer", "upload", "live", "errors"]  # in this order
TOKEN_CHECKS = ["token"]  # against a stack with API_TOKEN set
TOKEN = "s3cret-token"
SEED = 30  # more than the page's first page (24): scrolling loads the rest
PLACES = ["въезд", "север", "парковка", "перекрёсток", "Gate 4", "Ring road"]


def seed(stack):
    """Uploads SEED images; returns the list's items (newest first)."""
    jpegs = [read_data(name) for name in ("camera_674x480.jpg", "synthetic_640x480.jpg",
                                          "camera_674x480_gray.jpg",
                                          "camera_640x480_progressive.jpg")]
    ids = []
    for i in range(SEED):
        r = stack.upload(jpegs[i % len(jpegs)],
                         "Камера %d: %s, полоса %d" % (i + 1, PLACES[i % len(PLACES)], i % 3))
        assert r.status == 202, r.body
        ids.append(r.json()["id"])
    stack.wait_stored(ids)
    items = stack.request("GET", "/api/images?limit=1000").json()["items"]
    assert [it["id"] for it in items] == ids[::-1], "the list is the uploads, newest first"
    return items


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
            cfg = {"base": stack.api_url, "checks": checks, "files": files,
                   "seeded": seed(stack), "screenshot": screenshot}
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
