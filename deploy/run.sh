#!/usr/bin/env bash
# make run: the whole system in the foreground; Ctrl-C (or SIGINT/SIGTERM to
# this script) stops everything, services first, then Redis and PostgreSQL.
#
# A shell that starts a command in the background without job control (a
# script's `make run &`) makes it ignore SIGINT, and bash cannot trap a signal
# ignored at entry: the script re-executes itself once with SIGINT and SIGTERM
# back to their defaults so its trap works however it was started. The
# components run in sessions of their own (local.sh), so the terminal's
# SIGINT reaches only this script, which stops them in order.
set -euo pipefail
if [[ -z ${IMGCAP_RUN_SIGNALS:-} ]]; then
    IMGCAP_RUN_SIGNALS=1 exec env --default-signal=INT,TERM "$0" "$@"
fi
cd "$(dirname "$0")/.."
stopping=0
stop() {
    [[ $stopping == 1 ]] && return
    stopping=1
    trap '' INT TERM   # a second Ctrl-C does not cut the orderly stop short
    [[ -n ${tail_pid:-} ]] && kill "$tail_pid" 2>/dev/null
    deploy/local.sh stop
    exit 0
}
trap stop INT TERM
deploy/local.sh start || exit 1
VAR_DIR=${VAR_DIR:-./var}
tail -n 0 -F "${LOG_DIR:-$VAR_DIR/log}"/{api,render,persist}.log 2>/dev/null &
tail_pid=$!
wait "$tail_pid" || true
# tail ended on its own (killed from outside): stop as for Ctrl-C.
stop
