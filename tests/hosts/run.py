"""Runs the tests with several hosts (tests/hosts/test_*.py; root needed for
network namespaces) with the integration runner. Usage: run.py [pattern ...]"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import run  # noqa: E402  (tests/integration/run.py)

if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test-hosts: network namespaces need root (CI runs as root)")
        sys.exit(1)
    run.HERE = HERE
    sys.exit(run.main())
