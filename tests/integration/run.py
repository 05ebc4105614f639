"""Runs the integration tests (tests/integration/test_*.py) and prints a closing
line 'N passed, N failed'. Usage: run.py [pattern ...] (substring of test ids).

With IMGCAP_TEST_JOBS=N (N > 1) the test modules run in N processes at once,
the largest first; each module's output is printed whole when it ends, with
its time. Every test starts its own servers on free ports, so modules do not
share anything; most of a test's time is spent waiting on servers, so two
modules fit on two cores."""
import os
import re
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def run_modules(tests, jobs):
    """Runs each module of `tests` in its own run.py process, `jobs` at a time.
    Returns (passed, failed)."""
    modules = sorted({t.id().split(".")[0] for t in tests},
                     key=lambda m: -os.path.getsize(os.path.join(HERE, m + ".py")))
    lock = threading.Lock()
    totals = {"passed": 0, "failed": 0}

    def worker():
        while True:
            with lock:
                if not modules:
                    return
                m = modules.pop(0)
            t0 = time.monotonic()
            r = subprocess.run([sys.executable, os.path.join(HERE, "run.py"), m + "."],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=dict(os.environ, IMGCAP_TEST_JOBS="1"))
            out = r.stdout.decode(errors="replace")
            counts = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
            passed, failed = (int(counts[-1][0]), int(counts[-1][1])) if counts else (0, 1)
            if r.returncode != 0 and failed == 0:
                failed = 1
            with lock:
                print("==== %s: %.1fs, %d passed, %d failed\n%s" %
                      (m, time.monotonic() - t0, passed, failed, out), flush=True)
                totals["passed"] += passed
                totals["failed"] += failed

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return totals["passed"], totals["failed"]


def run_here(tests):
    """Runs `tests` in this process. Returns (passed, failed)."""
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite(tests))
    # Count tests, not sub-test failures: a test with three failing subTests
    # is one failed test.
    def test_id(t):
        return getattr(t, "test_case", t).id()
    failed = len({test_id(t) for t, _ in result.failures + result.errors} |
                 {test_id(t) for t in result.unexpectedSuccesses})
    skipped = len(result.skipped)
    # A skip is not a pass: it is counted as a failure here.
    return result.testsRun - failed - skipped, failed + skipped


def main():
    patterns = sys.argv[1:]
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = list(iter_tests(suite))
    errors = [t for t in tests if t.__class__.__name__ == "_FailedTest"]
    if patterns:
        tests = [t for t in tests if any(p in t.id() for p in patterns)]
    started = time.monotonic()
    jobs = int(os.environ.get("IMGCAP_TEST_JOBS", "1") or "1")
    if jobs > 1 and len({t.id().split(".")[0] for t in tests}) > 1:
        # A module that failed to import has no module to run: count it here.
        passed, failed = run_modules([t for t in tests if t not in errors], jobs)
        failed += len([t for t in tests if t in errors])
        how = " (%d processes)" % jobs
    else:
        passed, failed = run_here(tests)
        how = ""
    print("integration: %.1fs%s" % (time.monotonic() - started, how))
    if errors and not patterns:
        print("%d test modules failed to import" % len(errors))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
