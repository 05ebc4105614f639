/* janitor.c - persist's janitor actor: retention, recycling under disk
 * pressure, purge of deleted images' files, counters (see janitor.h). */
#include "janitor.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "persist.h"
#include "pgconn.h"
#include "row.h"
#include "rqueue.h"
#include "storage.h"
#include "store.h"
#include "timeutil.h"

/* How often the janitor looks at the disk and its timers without a NOTIFY. */
#define JANITOR_TICK_MS 1000
/* A purge runs at least this often: a NOTIFY sent while the janitor was
 * disconnected is lost, the list in image_deletions is not. */
#define JANITOR_PURGE_EVERY_MS 10000
#define JANITOR_PRUNE_EVERY_MS 3600000
#define JANITOR_RETRY_BASE_MS 200
#define JANITOR_RETRY_CAP_MS 30000
/* While Redis refuses, counters are retried no more often than this. */
#define JANITOR_COUNTER_RETRY_MS 5000
/* Slices of every wait, so that a stop is seen within this. */
#define JANITOR_SLICE_MS 200

#define JANITOR_PATH_MAX 4096

static const char JANITOR_RETENTION_SQL[] =
    "SELECT imgcap_expire(now() - make_interval(secs => $1::double precision), $2::int, "
    "'retention')";
static const char JANITOR_RECYCLE_SQL[] = "SELECT imgcap_expire('infinity', $1::int, 'recycle')";
static const char JANITOR_PURGE_SELECT_SQL[] =
    "SELECT id, path FROM image_deletions WHERE purged_at IS NULL ORDER BY deleted_at "
    "LIMIT $1::int FOR UPDATE SKIP LOCKED";
static const char JANITOR_PURGE_MARK_SQL[] =
    "UPDATE image_deletions SET purged_at = now() WHERE id = ANY ($1::uuid[])";
/* 'delete' tombstones stay forever: they keep a late redelivery of a deleted
 * id (a render retried after its lease, a dead letter retried by hand) from
 * storing it again. */
static const char JANITOR_PRUNE_SQL[] =
    "DELETE FROM image_deletions WHERE reason <> 'delete' AND purged_at IS NOT NULL "
    "AND purged_at < now() - make_interval(secs => $1::double precision)";

enum { JANITOR_C_RETENTION, JANITOR_C_RECYCLE, JANITOR_C_PURGED, JANITOR_NCOUNTERS };

static const char *const JANITOR_COUNTERS[JANITOR_NCOUNTERS] = {
    RQ_COUNTER_DELETED_RETENTION, RQ_COUNTER_DELETED_RECYCLE, RQ_COUNTER_FILES_PURGED};

typedef struct janitor {
    actor_t *self;
    const config_t *cfg;
    PGconn *conn;                         /* NULL until connected */
    int listening;                        /* LISTEN imgcap_purge is in effect on conn's session */
    rqueue_t *rq;                         /* NULL until Redis answered */
    long long pending[JANITOR_NCOUNTERS]; /* counted, not yet added in Redis */
    uint64_t next_counter_try_ms;
    int counters_failing;
    int low;          /* the storage state last logged: 1 low */
    int space_failed; /* the last free-space read failed (logged once) */
    int purge_wanted; /* a NOTIFY came, or this janitor deleted rows */
    uint64_t next_retention_ms, next_purge_ms, next_prune_ms;
} janitor_t;

int persist_janitor_retention_interval_s(long long retention_s)
{
    long long s = retention_s / 2;
    if (s > 60) s = 60;
    if (s < 1) s = 1;
    return (int)s;
}

static int janitor_stopping(const janitor_t *j)
{
    return actor_should_stop(j->self) || atomic_load(&actor_shutdown_requested);
}

static void janitor_sleep(const janitor_t *j, int ms)
{
    while (ms > 0 && !janitor_stopping(j)) {
        int slice = ms < JANITOR_SLICE_MS ? ms : JANITOR_SLICE_MS;
        time_sleep_ms(slice, NULL);
        ms -= slice;
    }
}

static void janitor_pg_error(const janitor_t *j, PGresult *res, const char *what, char *err,
                             size_t errlen)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg == NULL || !*msg) msg = PQerrorMessage(j->conn);
    snprintf(err, errlen, "%s: %s", what, msg);
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
}

/* A statement without rows (BEGIN, COMMIT, LISTEN, ...). */
static int janitor_command(janitor_t *j, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(j->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) janitor_pg_error(j, res, sql, err, errlen);
    PQclear(res);
    return ok ? 0 : -1;
}

static void janitor_rollback(janitor_t *j)
{
    if (j->conn == NULL || PQstatus(j->conn) != CONNECTION_OK ||
        PQtransactionStatus(j->conn) == PQTRANS_IDLE)
        return;
    char ignored[256];
    janitor_command(j, "ROLLBACK", ignored, sizeof ignored);
}

/* Connected, idle, listening. After a (re)connection a purge is due: a
 * NOTIFY sent meanwhile was lost. */
static int janitor_connect(janitor_t *j, char *err, size_t errlen)
{
    if (j->conn == NULL) {
        j->conn = pgconn_connect(j->cfg->database_url, 0, &j->self->stop);
        if (j->conn == NULL) {
            snprintf(err, errlen, "cannot connect to PostgreSQL");
            return -1;
        }
        j->listening = 0;
    }
    int was_reset = 0;
    if (pgconn_ensure(j->conn, &was_reset) < 0) {
        snprintf(err, errlen, "PostgreSQL connection lost, reconnect failed");
        return -1;
    }
    if (was_reset) j->listening = 0;
    janitor_rollback(j);
    if (!j->listening) {
        if (janitor_command(j, "LISTEN imgcap_purge", err, errlen) < 0) return -1;
        j->listening = 1;
        j->purge_wanted = 1;
    }
    return 0;
}

/* One imgcap_expire() call (its own transaction). Returns how many rows it
 * deleted, or -1 with err set. */
static long janitor_expire_once(janitor_t *j, int recycle, char *err, size_t errlen)
{
    char secs[32], limit[16];
    PGresult *res;
    if (recycle) {
        snprintf(limit, sizeof limit, "%d", PERSIST_JANITOR_RECYCLE_BATCH);
        const char *values[1] = {limit};
        res = PQexecParams(j->conn, JANITOR_RECYCLE_SQL, 1, NULL, values, NULL, NULL, 0);
    } else {
        snprintf(secs, sizeof secs, "%lld", j->cfg->retention_s);
        snprintf(limit, sizeof limit, "%d", PERSIST_JANITOR_EXPIRE_BATCH);
        const char *values[2] = {secs, limit};
        res = PQexecParams(j->conn, JANITOR_RETENTION_SQL, 2, NULL, values, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        janitor_pg_error(j, res, "imgcap_expire", err, errlen);
        PQclear(res);
        return -1;
    }
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (n > 0) j->purge_wanted = 1;
    return n;
}

/* Deletes every row older than RETENTION, in bounded batches, oldest first:
 * imgcap_expire's cutoff is now() - RETENTION on the database's clock, so a
 * younger row is never touched. Returns 0, or -1 with err set. */
static int janitor_retention(janitor_t *j, char *err, size_t errlen)
{
    long long total = 0;
    int rc = 0;
    while (!janitor_stopping(j)) {
        long n = janitor_expire_once(j, 0, err, errlen);
        if (n < 0) {
            rc = -1;
            break;
        }
        j->pending[JANITOR_C_RETENTION] += n;
        total += n;
        if (n < PERSIST_JANITOR_EXPIRE_BATCH) break;
    }
    if (total > 0)
        log_info("retention: deleted %lld images received more than %lld s ago", total,
                 j->cfg->retention_s);
    return rc;
}

/* Removes the files of one image_deletions row: the image and its thumbnail.
 * Adds the files removed to *files. Returns 0 when none is left (also when
 * the path is '' — an id deleted while in the pipeline, no file was ever
 * stored under its row), or -1 (logged): the row stays for a later purge. */
static int janitor_remove_files(const janitor_t *j, const char *id, const char *path, long *files)
{
    if (path[0] == '\0') return 0;
    /* Written by persist as YYYY/MM/DD/<id>.jpg; anything else must not make
     * the janitor unlink outside STORAGE_DIR. */
    char thumb[JANITOR_PATH_MAX];
    if (path[0] == '/' || strstr(path, "..") != NULL ||
        storage_thumb_path(path, thumb, sizeof thumb) < 0) {
        log_warn("purge: id=%s has the unexpected path \"%.200s\": nothing removed", id, path);
        return 0;
    }
    const char *rels[2] = {path, thumb};
    for (int i = 0; i < 2; i++) {
        char err[JANITOR_PATH_MAX + 128];
        int rc = persist_store_remove(j->cfg->storage_dir, rels[i], err, sizeof err);
        if (rc < 0) {
            log_error("purge: id=%s: %s (retried later)", id, err);
            return -1;
        }
        *files += rc;
    }
    return 0;
}

/* fsyncs the directories of the files removed for paths[0..n), each distinct
 * one once, so that the removals survive a crash before purged_at is
 * committed. Logged on failure (the files are gone either way). */
static void janitor_sync_dirs(const janitor_t *j, const char *const *paths, size_t n)
{
    for (size_t at = 0; at < n; at += PERSIST_STORE_SYNC_MAX) {
        size_t k = n - at < PERSIST_STORE_SYNC_MAX ? n - at : PERSIST_STORE_SYNC_MAX;
        char err[JANITOR_PATH_MAX + 64];
        if (persist_store_sync_dirs(j->cfg->storage_dir, paths + at, k, err, sizeof err) < 0)
            log_warn("purge: %s", err);
    }
}

/* One purge transaction over at most PERSIST_JANITOR_PURGE_BATCH rows. *more
 * = 1 when the batch was full and made progress (another may follow).
 * Returns 0, or -1 with err set. */
static int janitor_purge_batch(janitor_t *j, int *more, char *err, size_t errlen)
{
    *more = 0;
    if (janitor_command(j, "BEGIN", err, errlen) < 0) return -1;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", PERSIST_JANITOR_PURGE_BATCH);
    const char *values[1] = {limit};
    PGresult *res = PQexecParams(j->conn, JANITOR_PURGE_SELECT_SQL, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        janitor_pg_error(j, res, "purge: select", err, errlen);
        PQclear(res);
        janitor_rollback(j);
        return -1;
    }
    int rows = PQntuples(res);
    const char *ids[PERSIST_JANITOR_PURGE_BATCH];
    const char *removed[PERSIST_JANITOR_PURGE_BATCH]; /* paths whose files went */
    int nids = 0;
    size_t nremoved = 0;
    long files = 0;
    for (int r = 0; r < rows && r < PERSIST_JANITOR_PURGE_BATCH; r++) {
        const char *id = PQgetvalue(res, r, 0), *path = PQgetvalue(res, r, 1);
        long before = files;
        if (janitor_remove_files(j, id, path, &files) < 0) continue;
        ids[nids++] = id;
        if (files > before) removed[nremoved++] = path;
    }
    janitor_sync_dirs(j, removed, nremoved);
    int rc = 0;
    if (nids > 0) {
        char list[PERSIST_JANITOR_PURGE_BATCH * UUID_STR_LEN + 3];
        persist_uuid_array(ids, (size_t)nids, list, sizeof list);
        const char *mark[1] = {list};
        PGresult *up = PQexecParams(j->conn, JANITOR_PURGE_MARK_SQL, 1, NULL, mark, NULL, NULL, 0);
        if (PQresultStatus(up) != PGRES_COMMAND_OK) {
            janitor_pg_error(j, up, "purge: update", err, errlen);
            rc = -1;
        }
        PQclear(up);
    }
    PQclear(res);
    if (rc < 0 || janitor_command(j, "COMMIT", err, errlen) < 0) {
        /* The files are gone already; the rows stay listed and the next purge
         * finds nothing to unlink for them. */
        janitor_rollback(j);
        return -1;
    }
    j->pending[JANITOR_C_PURGED] += files;
    if (nids > 0) log_debug("purge: %d deletions done, %ld files removed", nids, files);
    *more = rows == PERSIST_JANITOR_PURGE_BATCH && nids > 0;
    return 0;
}

static int janitor_purge(janitor_t *j, char *err, size_t errlen)
{
    int more = 1;
    while (more && !janitor_stopping(j))
        if (janitor_purge_batch(j, &more, err, errlen) < 0) return -1;
    return 0;
}

/* Logs the storage state when it changed since the last call. */
static void janitor_note_space(janitor_t *j, const storage_space_t *sp)
{
    if (sp->low == j->low) return;
    j->low = sp->low;
    if (sp->low)
        log_warn("storage low: %s has %lld bytes free, below STORAGE_MIN_FREE (%lld bytes)%s",
                 j->cfg->storage_dir, sp->free_bytes, sp->min_free_bytes,
                 j->cfg->storage_recycle ? " and nothing left to recycle"
                                         : "; STORAGE_RECYCLE is off, nothing is deleted");
    else
        log_warn("storage ok again: %s has %lld bytes free (STORAGE_MIN_FREE %lld bytes)",
                 j->cfg->storage_dir, sp->free_bytes, sp->min_free_bytes);
}

/* Reads the free space; while it is low and STORAGE_RECYCLE is on, deletes
 * the oldest images in batches and purges their files until it is not low
 * any more or nothing is left to delete. Returns 0, or -1 with err set (a
 * database error; a free-space read that fails is logged, not an error). */
static int janitor_space(janitor_t *j, char *err, size_t errlen)
{
    storage_space_t sp;
    char serr[512];
    if (storage_space_read(j->cfg->storage_dir, j->cfg, &sp, serr, sizeof serr) < 0) {
        if (!j->space_failed) log_warn("storage: cannot read the free space: %s", serr);
        j->space_failed = 1;
        return 0;
    }
    j->space_failed = 0;
    if (!sp.low || !j->cfg->storage_recycle) {
        janitor_note_space(j, &sp);
        return 0;
    }
    long long total = 0, free_before = sp.free_bytes;
    int rc = 0;
    for (;;) {
        long n = janitor_expire_once(j, 1, err, errlen);
        if (n < 0) {
            rc = -1;
            break;
        }
        j->pending[JANITOR_C_RECYCLE] += n;
        total += n;
        if (n > 0 && janitor_purge(j, err, errlen) < 0) {
            rc = -1;
            break;
        }
        if (storage_space_read(j->cfg->storage_dir, j->cfg, &sp, serr, sizeof serr) < 0) {
            log_warn("storage: cannot read the free space: %s", serr);
            break;
        }
        if (!sp.low || n == 0 || janitor_stopping(j)) break;
    }
    if (total > 0)
        log_warn("storage low (%lld bytes free, STORAGE_MIN_FREE %lld bytes): recycled the %lld "
                 "oldest images, %lld bytes free now",
                 free_before, sp.min_free_bytes, total, sp.free_bytes);
    if (rc == 0) janitor_note_space(j, &sp);
    return rc;
}

static int janitor_prune(janitor_t *j, char *err, size_t errlen)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%d", PERSIST_JANITOR_PRUNE_AFTER_S);
    const char *values[1] = {secs};
    PGresult *res = PQexecParams(j->conn, JANITOR_PRUNE_SQL, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        janitor_pg_error(j, res, "prune", err, errlen);
        PQclear(res);
        return -1;
    }
    const char *n = PQcmdTuples(res);
    if (n != NULL && strcmp(n, "0") != 0 && *n)
        log_info("prune: forgot %s tombstones of retention/recycle purged over %d days ago", n,
                 PERSIST_JANITOR_PRUNE_AFTER_S / 86400);
    PQclear(res);
    return 0;
}

/* Adds the pending counts in Redis. Redis down only delays them (logged once
 * per outage); deletion goes on meanwhile. */
static void janitor_flush_counters(janitor_t *j, int force)
{
    int any = 0;
    for (int i = 0; i < JANITOR_NCOUNTERS; i++) any |= j->pending[i] != 0;
    if (!any || (!force && time_mono_ms() < j->next_counter_try_ms)) return;
    char err[512] = "";
    if (j->rq == NULL)
        j->rq = rqueue_open(j->cfg->redis_url, j->cfg->redis_prefix, NULL, 0, NULL, err,
                            sizeof err);
    int failed = j->rq == NULL;
    for (int i = 0; !failed && i < JANITOR_NCOUNTERS; i++) {
        if (j->pending[i] == 0) continue;
        if (rqueue_counter_add(j->rq, JANITOR_COUNTERS[i], j->pending[i]) < 0) {
            snprintf(err, sizeof err, "%s", rqueue_error(j->rq));
            failed = 1;
        } else {
            j->pending[i] = 0;
        }
    }
    if (failed) {
        if (!j->counters_failing)
            log_warn("counters: Redis unavailable, kept until it answers: %s", err);
        j->counters_failing = 1;
        j->next_counter_try_ms = time_mono_ms() + JANITOR_COUNTER_RETRY_MS;
    } else if (j->counters_failing) {
        log_info("counters: Redis answers again, counts added");
        j->counters_failing = 0;
    }
}

/* One round of everything that is due. Returns 0, or -1 with err set. */
static int janitor_cycle(janitor_t *j, char *err, size_t errlen)
{
    if (janitor_connect(j, err, errlen) < 0) return -1;
    uint64_t now = time_mono_ms();
    if (j->cfg->retention_s > 0 && now >= j->next_retention_ms) {
        if (janitor_retention(j, err, errlen) < 0) return -1;
        j->next_retention_ms = now +
                               (uint64_t)persist_janitor_retention_interval_s(j->cfg->retention_s) *
                                   1000u;
    }
    if (janitor_space(j, err, errlen) < 0) return -1;
    if (j->purge_wanted || now >= j->next_purge_ms) {
        j->purge_wanted = 0;
        if (janitor_purge(j, err, errlen) < 0) {
            j->purge_wanted = 1;
            return -1;
        }
        j->next_purge_ms = now + JANITOR_PURGE_EVERY_MS;
    }
    if (now >= j->next_prune_ms) {
        if (janitor_prune(j, err, errlen) < 0) return -1;
        j->next_prune_ms = now + JANITOR_PRUNE_EVERY_MS;
    }
    return 0;
}

/* Takes the notifications libpq has read; 1 when there was one. */
static int janitor_take_notifies(janitor_t *j)
{
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(j->conn)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

/* Waits up to ms for NOTIFY imgcap_purge on the connection's socket; returns
 * at once when one came (purge_wanted set) or a stop was requested. */
static void janitor_wait(janitor_t *j, int ms)
{
    uint64_t end = time_mono_ms() + (uint64_t)ms;
    while (!janitor_stopping(j)) {
        uint64_t now = time_mono_ms();
        if (now >= end) return;
        int slice = end - now < JANITOR_SLICE_MS ? (int)(end - now) : JANITOR_SLICE_MS;
        int sock = j->conn != NULL && PQstatus(j->conn) == CONNECTION_OK && j->listening
                       ? PQsocket(j->conn)
                       : -1;
        if (sock < 0) {
            time_sleep_ms(slice, NULL);
            continue;
        }
        if (janitor_take_notifies(j)) {
            j->purge_wanted = 1;
            return;
        }
        struct pollfd p = {.fd = sock, .events = POLLIN, .revents = 0};
        int rc = poll(&p, 1, slice);
        if (rc < 0 && errno != EINTR) {
            time_sleep_ms(slice, NULL);
            continue;
        }
        if (rc > 0 && !PQconsumeInput(j->conn)) {
            /* The next cycle's pgconn_ensure() reconnects. */
            log_warn("postgres: janitor connection lost: %s", PQerrorMessage(j->conn));
            return;
        }
        if (janitor_take_notifies(j)) {
            j->purge_wanted = 1;
            return;
        }
    }
}

void persist_janitor_run(actor_t *self)
{
    persist_ctx_t *ctx = self->ctx;
    janitor_t j;
    memset(&j, 0, sizeof j);
    j.self = self;
    j.cfg = ctx->cfg;
    j.purge_wanted = 1;
    uint64_t now = time_mono_ms();
    j.next_retention_ms = now;
    j.next_purge_ms = now;
    j.next_prune_ms = now;
    if (j.cfg->retention_s > 0)
        log_info("RETENTION %lld s, a pass every %d s", j.cfg->retention_s,
                 persist_janitor_retention_interval_s(j.cfg->retention_s));
    for (int attempt = 0; !janitor_stopping(&j);) {
        char err[1024];
        int rc = janitor_cycle(&j, err, sizeof err);
        janitor_flush_counters(&j, 0);
        if (rc < 0) {
            if (janitor_stopping(&j)) break;
            int delay = time_backoff_ms(attempt, JANITOR_RETRY_BASE_MS, JANITOR_RETRY_CAP_MS);
            log_error("%s (attempt %d), retrying in %d ms", err, attempt + 1, delay);
            attempt++;
            janitor_sleep(&j, delay);
            continue;
        }
        if (attempt > 0) log_info("working again after %d failed attempts", attempt);
        attempt = 0;
        janitor_wait(&j, JANITOR_TICK_MS);
    }
    janitor_flush_counters(&j, 1);
    PQfinish(j.conn);
    if (j.rq != NULL) rqueue_close(j.rq);
    log_debug("janitor done");
}
