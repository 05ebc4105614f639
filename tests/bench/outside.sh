#!/usr/bin/env bash
# tests/bench/outside.sh [--local] [-n N] [-c C] [--timeout S] [--warmup W]
#                        [--poll-interval S] [--keep]
# The independent check from outside: N uploads by one curl --parallel,
# then GET /api/images until every accepted id is listed; figures only, exit 1
# on a lost, duplicated or wrong upload. Against $API_URL, or with --local a
# private deploy/local.sh stack. The work is in outside.py (see its docstring).
set -euo pipefail
exec python3 "$(dirname "$0")/outside.py" "$@"
