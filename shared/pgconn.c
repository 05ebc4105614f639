/* pgconn.c - PostgreSQL connection helpers (shared/README.md, PostgreSQL).
 *
 * Connections are made with PQconnectdbParams so that the project's defaults
 * (a connect timeout, TCP keepalives so a vanished server is noticed, an
 * application name) sit in front of the caller's conninfo and can still be
 * overridden by it. The conninfo itself is never logged: it may hold a
 * password. */
#include "pgconn.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

/* pg_advisory_lock key shared by every imgcap process that migrates; any
 * constant works as long as nothing else in the database uses it. */
#define PGCONN_MIGRATE_LOCK_KEY "7415926535"
#define PGCONN_MAX_SQL_FILE (4 * 1024 * 1024)
#define PGCONN_MAX_MIGRATIONS 1000

/* libpq messages end with a newline; log lines must not. */
static void pgconn_trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
}

static void pgconn_copy_error(PGconn *conn, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", conn != NULL ? PQerrorMessage(conn) : "out of memory");
    pgconn_trim(out);
}

static PGconn *pgconn_try(const char *conninfo)
{
    /* Keywords before "dbname" are defaults: with expand_dbname the values from
     * the conninfo string come later and win.
     *
     * Both ends of a connection must notice a lost link on their own:
     * - tcp_user_timeout (client side) bounds how long sent data may stay
     *   unacknowledged. Without it a query in flight when the server's host
     *   vanishes waits out TCP's retransmission backoff (minutes, and long
     *   after the link is back) instead of failing, resetting and retrying.
     *   The kernel acknowledges whatever the server's load, so 10 s without
     *   an ACK is a lost link.
     * - idle_in_transaction_session_timeout (server side, sent as options)
     *   ends a session that sits inside a transaction waiting for its client.
     *   A persist cut off between its INSERTs and its COMMIT leaves such a
     *   session holding the rows' locks, and the persist that takes its ids
     *   over would wait on them until the server's keepalive gives up (hours).
     *   imgcap's transactions never wait on their client, so 10 s idle inside
     *   one means the client is gone. */
    const char *keys[] = {"connect_timeout",           "keepalives_idle",  "keepalives_interval",
                          "keepalives_count",          "tcp_user_timeout", "options",
                          "fallback_application_name", "dbname",           NULL};
    const char *vals[] = {"5",
                          "30",
                          "10",
                          "3",
                          "10000",
                          "-c idle_in_transaction_session_timeout=10000",
                          program_invocation_short_name,
                          conninfo,
                          NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* The server's NOTICEs ("relation images already exists, skipping" at every
 * migration) go to the log at DEBUG instead of libpq's default, raw stderr. */
static void pgconn_notice(void *arg, const char *message)
{
    (void)arg;
    char m[512];
    snprintf(m, sizeof m, "%s", message);
    pgconn_trim(m);
    log_debug("postgres: %s", m);
}

PGconn *pgconn_connect(const char *conninfo, int wait_ms, stop_flag_t *stop)
{
    uint64_t start = time_mono_ms();
    for (int attempt = 0;; attempt++) {
        PGconn *conn = pgconn_try(conninfo);
        if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
            if (attempt > 0) log_info("postgres: connected after %d failed attempts", attempt);
            PQsetNoticeProcessor(conn, pgconn_notice, NULL);
            return conn;
        }
        char err[512];
        pgconn_copy_error(conn, err, sizeof err);
        PQfinish(conn);
        int delay = time_backoff_ms(attempt, 100, 5000);
        uint64_t elapsed = time_mono_ms() - start;
        if ((stop != NULL && atomic_load(stop)) ||
            (wait_ms >= 0 && elapsed + (uint64_t)delay > (uint64_t)wait_ms)) {
            log_error("postgres: connect attempt %d failed, giving up: %s", attempt + 1, err);
            return NULL;
        }
        log_warn("postgres: connect attempt %d failed, retrying in %d ms: %s", attempt + 1, delay,
                 err);
        time_sleep_ms(delay, stop);
        if (stop != NULL && atomic_load(stop)) {
            log_info("postgres: connect abandoned, stop requested");
            return NULL;
        }
    }
}

int pgconn_ensure(PGconn *conn, int *was_reset)
{
    *was_reset = 0;
    if (conn == NULL) {
        log_error("postgres: no connection object");
        return -1;
    }
    if (PQstatus(conn) == CONNECTION_OK) return 0;
    PQreset(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
        char err[512];
        pgconn_copy_error(conn, err, sizeof err);
        log_warn("postgres: reconnect failed: %s", err);
        return -1;
    }
    log_info("postgres: connection re-established");
    *was_reset = 1;
    return 0;
}

/* Runs sql (no parameters, possibly several statements). Returns 0 if the last
 * result is a success, -1 with the error logged under `what`. */
static int pgconn_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    char err[512];
    snprintf(err, sizeof err, "%s", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    pgconn_trim(err);
    log_error("postgres: migrate: %s failed: %s", what, err);
    PQclear(res);
    return -1;
}

/* "NNN_something.sql": three digits, underscore, .sql suffix. */
static int pgconn_is_migration(const char *name)
{
    size_t n = strlen(name);
    if (n < 9 || strcmp(name + n - 4, ".sql") != 0) return 0;
    for (int i = 0; i < 3; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    return name[3] == '_';
}

static int pgconn_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file into a new NUL-terminated buffer the caller frees. */
static char *pgconn_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        log_error("postgres: migrate: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(PGCONN_MAX_SQL_FILE + 1);
    size_t n = buf != NULL ? fread(buf, 1, PGCONN_MAX_SQL_FILE + 1, f) : 0;
    int bad = buf == NULL || ferror(f) || n > PGCONN_MAX_SQL_FILE;
    fclose(f);
    if (bad) {
        log_error("postgres: migrate: cannot read %s (too large, unreadable or no memory)", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Lists the migration files of dir, sorted. *names is owned by the caller
 * (free each entry and the array). Returns the count, or -1 (logged). */
static int pgconn_list_migrations(const char *dir, char ***names)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_error("postgres: migrate: cannot open SQL_DIR %s: %s", dir, strerror(errno));
        return -1;
    }
    char **list = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!pgconn_is_migration(e->d_name)) continue;
        if (n == PGCONN_MAX_MIGRATIONS) {
            log_error("postgres: migrate: more than %d files in %s", n, dir);
            rc = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(list, (size_t)cap * sizeof *list);
            if (grown == NULL) {
                rc = -1;
                break;
            }
            list = grown;
        }
        if ((list[n] = strdup(e->d_name)) == NULL) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        for (int i = 0; i < n; i++) free(list[i]);
        free(list);
        log_error("postgres: migrate: cannot list %s", dir);
        return -1;
    }
    if (n > 0) qsort(list, (size_t)n, sizeof *list, pgconn_cmp_names);
    *names = list;
    return n;
}

/* Whether version is recorded: 1 or 0, or -1 (logged). */
static int pgconn_is_applied(PGconn *conn, const char *version)
{
    const char *params[1] = {version};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char err[512];
        snprintf(err, sizeof err, "%s", PQresultErrorMessage(res));
        pgconn_trim(err);
        log_error("postgres: migrate: cannot read schema_migrations: %s", err);
        PQclear(res);
        return -1;
    }
    int applied = PQntuples(res) > 0;
    PQclear(res);
    return applied;
}

static int pgconn_apply(PGconn *conn, const char *dir, const char *file)
{
    char path[2048], version[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(version, sizeof version, "%.*s", (int)(strlen(file) - 4), file);
    char *sql = pgconn_read_file(path);
    if (sql == NULL) return -1;
    int rc = -1;
    const char *params[1] = {version};
    if (pgconn_exec(conn, "BEGIN", "BEGIN") == 0) {
        if (pgconn_exec(conn, sql, file) == 0) {
            PGresult *res = PQexecParams(conn, "INSERT INTO schema_migrations(version) VALUES ($1)",
                                         1, NULL, params, NULL, NULL, 0);
            int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok) {
                char err[512];
                snprintf(err, sizeof err, "%s", PQresultErrorMessage(res));
                pgconn_trim(err);
                log_error("postgres: migrate: cannot record %s: %s", version, err);
            }
            PQclear(res);
            if (ok && pgconn_exec(conn, "COMMIT", "COMMIT") == 0) rc = 0;
        }
        if (rc < 0 && PQtransactionStatus(conn) != PQTRANS_IDLE)
            pgconn_exec(conn, "ROLLBACK", "ROLLBACK");
    }
    free(sql);
    if (rc == 0) log_info("postgres: migrate: applied %s", file);
    return rc;
}

int pgconn_migrate(PGconn *conn, const char *sql_dir)
{
    char **names = NULL;
    int n = pgconn_list_migrations(sql_dir, &names);
    if (n < 0) return -1;
    /* The lock is taken before the bookkeeping table exists: two concurrent
     * CREATE TABLE IF NOT EXISTS can still collide on the catalog. */
    int rc = pgconn_exec(conn, "SELECT pg_advisory_lock(" PGCONN_MIGRATE_LOCK_KEY ")",
                         "advisory lock");
    if (rc == 0) {
        rc = pgconn_exec(conn,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version text PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "create schema_migrations");
        int applied_now = 0;
        for (int i = 0; rc == 0 && i < n; i++) {
            char version[256];
            snprintf(version, sizeof version, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
            int applied = pgconn_is_applied(conn, version);
            if (applied < 0)
                rc = -1;
            else if (!applied) {
                rc = pgconn_apply(conn, sql_dir, names[i]);
                applied_now += rc == 0;
            }
        }
        if (pgconn_exec(conn, "SELECT pg_advisory_unlock(" PGCONN_MIGRATE_LOCK_KEY ")",
                        "advisory unlock") < 0)
            rc = -1;
        if (rc == 0)
            log_info("postgres: migrate: schema up to date (%d files, %d applied now)", n,
                     applied_now);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}
