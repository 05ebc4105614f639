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

from harness import ROOT, Stack  # noqa: E402

CHECKS = ["docs"]


def main():
    checks = sys.argv[1:] or CHECKS
    started = time.monotonic()
    with Stack(services=("api", "render", "persist")) as stack:
        cfg = {"base": stack.api_url, "checks": checks}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(cfg, f)
            cfg_path = f.name
        try:
            r = subprocess.run(["node", os.path.join(HERE, "browser.mjs"), cfg_path], cwd=HERE,
                               timeout=600)
        finally:
            os.unlink(cfg_path)
    print("browser: %.1fs" % (time.monotonic() - started))
    if r.returncode != 0:
        print("browser tests failed")
        return 1
    print("browser tests passed (%d checks)" % len(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
