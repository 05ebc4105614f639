"""Runs the integration tests (tests/integration/test_*.py) and prints a closing
line 'N passed, N failed'. Usage: run.py [pattern ...] (substring of test ids)."""
import os
import sys
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


def main():
    patterns = sys.argv[1:]
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = list(iter_tests(suite))
    errors = [t for t in tests if t.__class__.__name__ == "_FailedTest"]
    if patterns:
        tests = [t for t in tests if any(p in t.id() for p in patterns)]
    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite(tests))
    # Count tests, not sub-test failures: a test with three failing subTests
    # is one failed test.
    def test_id(t):
        return getattr(t, "test_case", t).id()
    failed = len({test_id(t) for t, _ in result.failures + result.errors} |
                 {test_id(t) for t in result.unexpectedSuccesses})
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("integration: %.1fs" % (time.monotonic() - started))
    if errors and not patterns:
        print("%d test modules failed to import" % len(errors))
    # A skip is not a pass: it is counted as a failure here.
    print("%d passed, %d failed" % (passed, failed + skipped))
    return 0 if failed + skipped == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
