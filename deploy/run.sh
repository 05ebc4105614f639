#!/usr/bin/env bash
# make run: the whole system in the foreground; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/local.sh start
trap 'deploy/local.sh stop; exit 0' INT TERM
VAR_DIR=${VAR_DIR:-./var}
tail -n 0 -F "${LOG_DIR:-$VAR_DIR/log}"/{api,render,persist}.log 2>/dev/null &
wait
