#!/usr/bin/env bash
# deploy/local.sh start|stop|status|restart - the whole imgcap system on this
# machine, in the background, without Docker.
#
# A private redis-server and PostgreSQL cluster live under VAR_DIR (default
# ./var) on LOCAL_REDIS_PORT (6390) and LOCAL_PG_PORT (5440), unless REDIS_URL /
# DATABASE_URL point elsewhere. A supervisor restarts any component that dies,
# as compose's `restart: unless-stopped` would. Pid files: VAR_DIR/run/*.pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# .env supplies defaults; the environment wins (same rule as the services).
# A VAR_DIR given in the environment relocates the whole local state, so the
# .env's ./var/... storage and log paths give way to it.
[[ -n "${VAR_DIR:-}" && -z "${STORAGE_DIR:-}" ]] && export STORAGE_DIR=$VAR_DIR/images
[[ -n "${VAR_DIR:-}" && -z "${LOG_DIR:-}" ]] && export LOG_DIR=$VAR_DIR/log
ENV_FILE=${IMGCAP_ENV_FILE:-$ROOT/.env}
if [[ -f "$ENV_FILE" ]]; then
    while IFS= read -r line || [[ -n "$line" ]]; do
        line=${line%$'\r'}
        [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        name=${BASH_REMATCH[2]} value=${BASH_REMATCH[3]}
        if [[ "$value" =~ ^\"(.*)\"[[:space:]]*(#.*)?$ || "$value" =~ ^\'(.*)\'[[:space:]]*(#.*)?$ ]]; then
            value=${BASH_REMATCH[1]}
        else
            value=${value%%[[:space:]]#*}
            value=${value%"${value##*[![:space:]]}"}
        fi
        [[ -z "${!name+x}" ]] && export "$name=$value"
    done < "$ENV_FILE"
fi

VAR_DIR=${VAR_DIR:-./var}
mkdir -p "$VAR_DIR"
VAR_DIR=$(cd "$VAR_DIR" && pwd)
RUN_DIR=$VAR_DIR/run
LOCAL_REDIS_PORT=${LOCAL_REDIS_PORT:-6390}
LOCAL_PG_PORT=${LOCAL_PG_PORT:-5440}
BIN_DIR=${IMGCAP_BIN_DIR:-$ROOT/build}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SERVICES="persist render api"

# Whether this script runs its own redis-server / PostgreSQL is decided once, by
# `start`, and handed to the supervisor it spawns (which inherits the URLs).
OWN_REDIS=${IMGCAP_OWN_REDIS:-0}; OWN_PG=${IMGCAP_OWN_PG:-0}
[[ -z "${REDIS_URL:-}" ]] && { OWN_REDIS=1; export REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT"; }
[[ -z "${DATABASE_URL:-}" ]] && { OWN_PG=1; export DATABASE_URL="postgresql://imgcap@127.0.0.1:$LOCAL_PG_PORT/imgcap"; }
export IMGCAP_OWN_REDIS=$OWN_REDIS IMGCAP_OWN_PG=$OWN_PG
export STORAGE_DIR=${STORAGE_DIR:-$VAR_DIR/images}
export LOG_DIR=${LOG_DIR:-$VAR_DIR/log}
export IMGCAP_ENV_FILE=$ENV_FILE
mkdir -p "$RUN_DIR" "$STORAGE_DIR" "$LOG_DIR"
# Absolute paths: redis-server and postgres change directory before opening logs.
STORAGE_DIR=$(cd "$STORAGE_DIR" && pwd); LOG_DIR=$(cd "$LOG_DIR" && pwd)
export STORAGE_DIR LOG_DIR

log() { printf '%s local.sh: %s\n' "$(date -u +%FT%T.%3NZ)" "$*" | tee -a "$LOG_DIR/local.log" >&2; }

pid_of() { [[ -f "$RUN_DIR/$1.pid" ]] && cat "$RUN_DIR/$1.pid" || true; }
alive() { local p; p=$(pid_of "$1"); [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

# PostgreSQL refuses to run as root: as root, its processes run as the
# `postgres` user, which must be able to enter the directories it uses. A
# checkout in root's home (mode 0700) is out of its reach; the cluster then
# lives under /var/lib/imgcap/ in a directory named after VAR_DIR (recorded in
# VAR_DIR/pgdir, so stop and status find it). Files are opened by this script
# as root (the log) and every postgres command starts from its own directory,
# so nothing of VAR_DIR is chowned and nothing prints "could not change
# directory".
pg_dir() {
    if [[ -f "$VAR_DIR/pgdir" ]]; then cat "$VAR_DIR/pgdir"; return; fi
    local dir=$VAR_DIR/pg
    if [[ $(id -u) == 0 ]] && ! setpriv --reuid=postgres --regid=postgres --init-groups \
            test -x "$VAR_DIR" 2>/dev/null; then
        dir=/var/lib/imgcap/local-$(printf '%s' "$VAR_DIR" | sha1sum | cut -c1-12)
    fi
    echo "$dir"
}

as_pg() {  # dir command...: runs command in dir, as postgres when root
    local dir=$1; shift
    if [[ $(id -u) == 0 ]]; then
        (cd "$dir" && exec setpriv --reuid=postgres --regid=postgres --init-groups \
            env HOME="$dir" "$@")
    else
        (cd "$dir" && exec "$@")
    fi
}

start_redis() {
    [[ $OWN_REDIS == 1 ]] || return 0
    alive redis && return 0
    mkdir -p "$VAR_DIR/redis"
    # The config file sets durability (appendonly, appendfsync, noeviction);
    # the command line only places it on this machine. setsid: a Ctrl-C in the
    # terminal of `make run` reaches run.sh only, which stops the services
    # before Redis (they return their in-flight ids to it on the way out).
    setsid redis-server "$ROOT/deploy/redis.conf" --port "$LOCAL_REDIS_PORT" --bind 127.0.0.1 \
        --dir "$VAR_DIR/redis" --daemonize no --protected-mode yes \
        --logfile "$LOG_DIR/redis.log" >/dev/null 2>&1 &
    echo $! > "$RUN_DIR/redis.pid"
    for _ in $(seq 100); do
        redis-cli -p "$LOCAL_REDIS_PORT" ping >/dev/null 2>&1 && { log "redis started (pid $(pid_of redis))"; return 0; }
        alive redis || break
        sleep 0.1
    done
    log "redis did not start; see $LOG_DIR/redis.log"; return 1
}

pg_ready() {  # bounded: whatever holds the port may never answer
    PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$LOCAL_PG_PORT" -U imgcap -d postgres -Atqc "SELECT 1" >/dev/null 2>&1
}

start_postgres() {
    [[ $OWN_PG == 1 ]] || return 0
    local data
    data=$(pg_dir)
    [[ $data == "$VAR_DIR/pg" ]] || echo "$data" > "$VAR_DIR/pgdir"
    if [[ -f "$data/postmaster.pid" ]] && kill -0 "$(head -1 "$data/postmaster.pid")" 2>/dev/null; then
        head -1 "$data/postmaster.pid" > "$RUN_DIR/postgres.pid"; return 0
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        mkdir -p "$data" || { log "cannot create $data"; return 1; }
        [[ $(id -u) == 0 ]] && chown postgres: "$data"
        as_pg "$data" "$PG_BIN/initdb" -D "$data" -U imgcap --auth=trust -E UTF8 \
            --locale=C.UTF-8 >>"$LOG_DIR/postgres.log" 2>&1 ||
            { log "initdb failed; see $LOG_DIR/postgres.log"; return 1; }
        log "initialised PostgreSQL cluster in $data"
    fi
    # The log is opened here (by root when root), not by postgres; the unix
    # socket sits in the data directory (the services use TCP).
    as_pg "$data" setsid "$PG_BIN/postgres" -D "$data" -c listen_addresses=127.0.0.1 \
        -p "$LOCAL_PG_PORT" -k "$data" >>"$LOG_DIR/postgres.log" 2>&1 &
    echo $! > "$RUN_DIR/postgres.pid"
    for _ in $(seq 300); do
        alive postgres || { log "postgres did not start; see $LOG_DIR/postgres.log"; return 1; }
        pg_ready && break
        sleep 0.1
    done
    pg_ready || { log "postgres did not answer within 30 s; see $LOG_DIR/postgres.log"; return 1; }
    head -1 "$data/postmaster.pid" > "$RUN_DIR/postgres.pid"
    psql -h 127.0.0.1 -p "$LOCAL_PG_PORT" -U imgcap -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname='imgcap'" | grep -q 1 ||
        psql -h 127.0.0.1 -p "$LOCAL_PG_PORT" -U imgcap -d postgres -qc "CREATE DATABASE imgcap" ||
        { log "cannot create database imgcap"; return 1; }
    log "postgres started (pid $(pid_of postgres))"
}

start_service() {
    local name=$1
    alive "$name" && return 0
    [[ -x "$BIN_DIR/imgcap-$name" ]] || { log "missing $BIN_DIR/imgcap-$name: run make"; return 1; }
    # Log lines go to LOG_DIR/<name>.log once (LOG_STDERR=0); stderr, which
    # then holds only what could not reach that file (a configuration error,
    # a sanitizer report), is appended to local.log.
    LOG_STDERR=0 setsid "$BIN_DIR/imgcap-$name" >/dev/null 2>>"$LOG_DIR/local.log" &
    echo $! > "$RUN_DIR/$name.pid"
    log "$name started (pid $!)"
}

# Either everything starts or nothing is left running.
start_all() {
    local s
    if start_redis && start_postgres; then
        for s in $SERVICES; do start_service "$s" || break; done
        alive api && alive render && alive persist && return 0
    fi
    log "start failed; stopping what was started"
    stop_all
    return 1
}

# Restarts whatever died, once a second, until stopped.
supervise() {
    trap 'exit 0' TERM INT
    while :; do
        sleep 1
        if [[ $OWN_REDIS == 1 ]] && ! alive redis; then log "redis is not running; restarting"; start_redis || true; fi
        if [[ $OWN_PG == 1 ]] && ! alive postgres; then log "postgres is not running; restarting"; start_postgres || true; fi
        for s in $SERVICES; do
            alive "$s" || { log "$s is not running; restarting"; start_service "$s" || true; }
        done
    done
}

stop_pid() {  # name signal timeout
    local name=$1 p
    p=$(pid_of "$name")
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then
        kill "-$2" "$p" 2>/dev/null || true
        for _ in $(seq $(( $3 * 10 ))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && { log "$name did not stop; killing"; kill -9 "$p" 2>/dev/null || true; }
        log "$name stopped"
    fi
    rm -f "$RUN_DIR/$name.pid"
}

stop_all() {
    stop_pid supervisor TERM 5
    # The services drain in parallel, each within SHUTDOWN_SECONDS (+2 s grace).
    # (Only these jobs are waited for: a failed start also has redis-server
    # among this shell's children.)
    local s jobs=()
    for s in api render persist; do stop_pid "$s" TERM $(( ${SHUTDOWN_SECONDS:-10} + 2 )) & jobs+=($!); done
    wait "${jobs[@]}"
    [[ $OWN_REDIS == 1 ]] && stop_pid redis TERM 20
    if [[ $OWN_PG == 1 ]]; then
        local pidfile
        pidfile=$(pg_dir)/postmaster.pid
        [[ -f $pidfile ]] && head -1 "$pidfile" > "$RUN_DIR/postgres.pid"
        stop_pid postgres INT 30   # SIGINT: PostgreSQL's fast shutdown
    fi
    rm -f "$RUN_DIR/postgres.pid"
}

status() {
    local rc=0
    for c in redis postgres persist render api supervisor; do
        if alive "$c"; then printf '%-10s running (pid %s)\n' "$c" "$(pid_of "$c")"
        else printf '%-10s stopped\n' "$c"; rc=3; fi
    done
    local health
    if health=$(curl -s -m 2 "http://127.0.0.1:${API_PORT:-8000}/health" 2>/dev/null) && [[ -n $health ]]; then
        if alive api; then echo "$health"
        else
            echo "an imgcap api answers on 127.0.0.1:${API_PORT:-8000}, but not one started from VAR_DIR=$VAR_DIR:"
            echo "$health"
            echo "(give the VAR_DIR it was started with to see its processes)"
        fi
    fi
    return $rc
}

case "${1:-}" in
    start)
        start_all || exit 1
        if ! alive supervisor; then
            setsid "$0" supervise >/dev/null 2>&1 &
            echo $! > "$RUN_DIR/supervisor.pid"
        fi
        for _ in $(seq 100); do
            curl -s -m 1 -o /dev/null "http://127.0.0.1:${API_PORT:-8000}/health" && break
            sleep 0.1
        done
        log "imgcap is up: http://127.0.0.1:${API_PORT:-8000}/docs (logs in $LOG_DIR)"
        ;;
    supervise) supervise ;;
    stop) stop_all ;;
    restart) stop_all; "$0" start ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
