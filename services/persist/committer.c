/* committer.c - the persist committer actor: the only owner of the PGconn.
 * It takes everything waiting in its mailbox (up to PERSIST_BATCH_MAX), inserts
 * the rows in one transaction and acks the jobs after COMMIT, so one commit
 * (one WAL flush) covers a whole batch when the service is busy. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "persist.h"
#include "pgconn.h"
#include "rqueue.h"
#include "store.h"
#include "timeutil.h"

#define PERSIST_STMT "persist_insert"

_Static_assert(PERSIST_BATCH_MAX <= 64, "one bit of multi_prepared per batch size");

typedef struct persist_committer {
    persist_ctx_t *ctx;
    PGconn *conn; /* NULL until the first successful connect */
    int prepared; /* PERSIST_STMT exists on the current session */
    /* Bit n-1 set: the n-row INSERT "persist_insert_<n>" exists on the current
     * session. Prepared on first use of each batch size, then reused: the
     * statement is parsed and planned once per size and session, not once per
     * row. */
    uint64_t multi_prepared;
} persist_committer_t;

/* Result of one commit attempt. */
enum {
    PERSIST_COMMIT_OK = 0,
    PERSIST_COMMIT_RETRY = -1,
    PERSIST_COMMIT_POISON = -2,
    PERSIST_COMMIT_SPLIT = -3
};

static void persist_result_error(PGconn *conn, PGresult *res, char *err, size_t errlen)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg == NULL || !*msg) msg = PQerrorMessage(conn);
    snprintf(err, errlen, "%s", msg);
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
}

static int persist_simple(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) persist_result_error(conn, res, err, errlen);
    PQclear(res);
    return ok ? 0 : -1;
}

static int persist_prepare(PGconn *conn, const char *name, const char *sql, int nparams, char *err,
                           size_t errlen)
{
    PGresult *res = PQprepare(conn, name, sql, nparams, NULL);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) persist_result_error(conn, res, err, errlen);
    PQclear(res);
    return ok ? 0 : -1;
}

static int persist_connect(persist_committer_t *cm, char *err, size_t errlen)
{
    if (cm->conn == NULL) {
        cm->conn = pgconn_connect(cm->ctx->cfg->database_url, 0, NULL);
        if (cm->conn == NULL) {
            snprintf(err, errlen, "cannot connect");
            return -1;
        }
        cm->prepared = 0;
        cm->multi_prepared = 0;
    }
    int was_reset = 0;
    if (pgconn_ensure(cm->conn, &was_reset) < 0) {
        snprintf(err, errlen, "connection lost, reconnect failed");
        return -1;
    }
    if (was_reset) {
        cm->prepared = 0;
        cm->multi_prepared = 0;
    }
    /* A previous attempt may have died mid-transaction on a live session. */
    if (PQtransactionStatus(cm->conn) != PQTRANS_IDLE &&
        persist_simple(cm->conn, "ROLLBACK", err, errlen) < 0)
        return -1;
    if (!cm->prepared) {
        if (persist_prepare(cm->conn, PERSIST_STMT, PERSIST_INSERT_SQL, PERSIST_ROW_NPARAMS, err,
                            errlen) < 0)
            return -1;
        cm->prepared = 1;
    }
    return 0;
}

/* Everything of the claim's parameter: "{" + ids separated by "," + "}". */
#define PERSIST_CLAIM_MAX (PERSIST_BATCH_MAX * UUID_STR_LEN + 3)

static const char PERSIST_CLAIM_SQL[] = "SELECT imgcap_claim_ids($1::uuid[])";

/* First statement of a batch transaction: imgcap_claim_ids() takes a shared
 * advisory lock on each id of the batch (a DELETE or the janitor's expiry of
 * one of them waits for this COMMIT, and this one for theirs) and returns the
 * ids that have a tombstone in image_deletions: deleted while they were still
 * in the pipeline, or before a late redelivery. Sets each item's deleted flag.
 * One round trip: the ids go as one array literal (canonical UUIDs, nothing
 * to escape). Returns 0, or -1 with err set. */
static int persist_claim(PGconn *conn, persist_item_t **batch, size_t n, char *err, size_t errlen)
{
    char ids[PERSIST_CLAIM_MAX];
    const char *idv[PERSIST_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        batch[i]->deleted = 0;
        idv[i] = batch[i]->row.id;
    }
    if (persist_uuid_array(idv, n, ids, sizeof ids) < 0) {
        snprintf(err, errlen, "imgcap_claim_ids: %zu ids do not fit", n);
        return -1;
    }
    const char *values[1] = {ids};
    PGresult *res = PQexecParams(conn, PERSIST_CLAIM_SQL, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char detail[400];
        persist_result_error(conn, res, detail, sizeof detail);
        snprintf(err, errlen, "imgcap_claim_ids: %s", detail);
        PQclear(res);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++)
            if (strcmp(batch[i]->row.id, id) == 0) batch[i]->deleted = 1;
    }
    PQclear(res);
    return 0;
}

/* Rolls back the failed transaction when the session is still there (a lost
 * connection is reset by the next attempt's persist_connect()). */
static void persist_rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK) {
        char ignored[64];
        persist_simple(conn, "ROLLBACK", ignored, sizeof ignored);
    }
}

/* 1 when res failed with SQLSTATE class 22 (data exception): a value that can
 * never be inserted, not a reason to retry. */
static int persist_is_data_error(const PGresult *res)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && strncmp(state, "22", 2) == 0;
}

/* Inserts every row of batch[0..n) not deleted in ONE statement, the n-row
 * INSERT prepared for that many rows (persist_insert_sql()). Why: a statement
 * per row costs a round trip and an executor start in PostgreSQL per image;
 * one statement costs one of each per batch, and the rows, the index entries
 * and the WAL written are the same. Returns 0, or -1 with err set and
 * *is_data set when PostgreSQL refused a value (which row is unknown here:
 * the caller finds it row by row). */
static int persist_insert_rows(persist_committer_t *cm, persist_item_t **batch, size_t n,
                               int *is_data, char *err, size_t errlen)
{
    const char *values[PERSIST_BATCH_MAX * PERSIST_ROW_NPARAMS];
    size_t m = 0;
    *is_data = 0;
    for (size_t i = 0; i < n; i++)
        if (!batch[i]->deleted)
            persist_row_params(&batch[i]->row, values + PERSIST_ROW_NPARAMS * m++);
    if (m == 0) return 0;
    char name[48];
    snprintf(name, sizeof name, PERSIST_STMT "_%zu", m);
    uint64_t bit = (uint64_t)1 << (m - 1);
    if (!(cm->multi_prepared & bit)) {
        /* Prepared statements are not transactional: a later ROLLBACK keeps it. */
        char sql[PERSIST_INSERT_SQL_MAX(PERSIST_BATCH_MAX)];
        if (persist_insert_sql(m, sql, sizeof sql) < 0) {
            snprintf(err, errlen, "insert of %zu rows does not fit", m);
            return -1;
        }
        if (persist_prepare(cm->conn, name, sql, (int)(m * PERSIST_ROW_NPARAMS), err, errlen) < 0)
            return -1;
        cm->multi_prepared |= bit;
    }
    PGresult *res = PQexecPrepared(cm->conn, name, (int)(m * PERSIST_ROW_NPARAMS), values, NULL,
                                   NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    *is_data = persist_is_data_error(res);
    char detail[400];
    persist_result_error(cm->conn, res, detail, sizeof detail);
    snprintf(err, errlen, "insert of %zu rows: %s", m, detail);
    PQclear(res);
    return -1;
}

/* One attempt at inserting batch[0..n) in one transaction: all rows in one
 * statement, or (row_by_row) one statement per row, which is how a row
 * PostgreSQL refuses is found. Returns PERSIST_COMMIT_OK; PERSIST_COMMIT_SPLIT
 * when the one statement was refused as data (retry at once row by row);
 * PERSIST_COMMIT_POISON with *poison the row refused as data (SQLSTATE class
 * 22): it can never be inserted, retrying would block every row behind it.
 * Everything else (connection, server shutting down, missing table) is
 * PERSIST_COMMIT_RETRY. */
static int persist_commit_once(persist_committer_t *cm, persist_item_t **batch, size_t n,
                               int row_by_row, size_t *poison, char *err, size_t errlen)
{
    if (persist_connect(cm, err, errlen) < 0) return PERSIST_COMMIT_RETRY;
    if (persist_simple(cm->conn, "BEGIN", err, errlen) < 0) return PERSIST_COMMIT_RETRY;
    if (persist_claim(cm->conn, batch, n, err, errlen) < 0) {
        persist_rollback(cm->conn);
        return PERSIST_COMMIT_RETRY;
    }
    if (!row_by_row) {
        int is_data;
        if (persist_insert_rows(cm, batch, n, &is_data, err, errlen) < 0) {
            persist_rollback(cm->conn);
            return is_data ? PERSIST_COMMIT_SPLIT : PERSIST_COMMIT_RETRY;
        }
    }
    for (size_t i = 0; row_by_row && i < n; i++) {
        if (batch[i]->deleted) continue;
        const char *values[PERSIST_ROW_NPARAMS];
        persist_row_params(&batch[i]->row, values);
        PGresult *res = PQexecPrepared(cm->conn, PERSIST_STMT, PERSIST_ROW_NPARAMS, values, NULL,
                                       NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            continue;
        }
        int is_data = persist_is_data_error(res);
        char detail[400];
        persist_result_error(cm->conn, res, detail, sizeof detail);
        snprintf(err, errlen, "id=%s insert: %s", batch[i]->row.id, detail);
        PQclear(res);
        persist_rollback(cm->conn);
        if (is_data) {
            *poison = i;
            return PERSIST_COMMIT_POISON;
        }
        return PERSIST_COMMIT_RETRY;
    }
    /* A COMMIT whose answer is lost is retried: ON CONFLICT DO NOTHING makes
     * the second insert of a committed row a no-op. */
    if (persist_simple(cm->conn, "COMMIT", err, errlen) < 0) return PERSIST_COMMIT_RETRY;
    return PERSIST_COMMIT_OK;
}

static void persist_remove_from_batch(persist_item_t **batch, size_t *n, size_t i)
{
    memmove(&batch[i], &batch[i + 1], (*n - i - 1) * sizeof *batch);
    (*n)--;
}

/* Removes the files just written for an item that gets no row: an id deleted
 * while in the pipeline (its tombstone's purge may have run before they
 * existed) or a row refused as data. A file that cannot be removed is logged:
 * it is an orphan no row points to. */
static void persist_remove_files(const persist_ctx_t *ctx, const persist_item_t *item)
{
    const char *paths[2] = {item->row.path, item->row.thumb_path};
    for (int i = 0; i < 2; i++) {
        char rmerr[256];
        if (persist_store_remove(ctx->cfg->storage_dir, paths[i], rmerr, sizeof rmerr) < 0)
            log_warn("id=%s cannot remove its orphan file: %s", item->job->id, rmerr);
    }
}

_Static_assert(2 * PERSIST_BATCH_MAX <= PERSIST_STORE_SYNC_MAX,
               "a batch's files fit in one persist_store_sync_dirs()");

/* Makes the files of batch[0..n) durable under their names: the workers
 * wrote them to temp files and left them open (persist_store_write_pending());
 * here all of them at once are synced and renamed (persist_store_settle():
 * one syncfs for the batch instead of an fsync per file), then each distinct
 * directory is fsynced once (a day's images share one). After it a row
 * committed next never points to a name or a byte a crash could still lose.
 * On a failure the files not yet renamed are removed and their items marked
 * for rewriting: the next attempt writes them again one by one, each
 * fsynced before its rename (persist_store_write_files()), from the bytes in
 * the job's payload. Returns 0, or -1 with err set. */
static int persist_settle_batch_files(const persist_ctx_t *ctx, persist_item_t **batch, size_t n,
                                      char *err, size_t errlen)
{
    const char *storage = ctx->cfg->storage_dir;
    persist_pending_t *pending[PERSIST_STORE_SYNC_MAX];
    const char *paths[PERSIST_STORE_SYNC_MAX];
    size_t k = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        persist_item_t *it = batch[i];
        if (it->rewrite) {
            if (persist_store_write_files(storage, it->files, it->nfiles, err, errlen) < 0)
                return -1;
            it->rewrite = 0;
        }
        for (size_t f = 0; f < it->nfiles; f++) {
            paths[k++] = it->files[f].relpath;
            if (it->pending[f].fd >= 0) pending[np++] = &it->pending[f];
        }
    }
    if (np > 0 && persist_store_settle(storage, pending, np, err, errlen) < 0) {
        for (size_t i = 0; i < n; i++) {
            persist_item_t *it = batch[i];
            for (size_t f = 0; f < it->nfiles; f++)
                if (it->pending[f].fd >= 0 || it->pending[f].tmp_rel[0]) it->rewrite = 1;
            if (it->rewrite) persist_store_discard(storage, it->pending, it->nfiles);
        }
        return -1;
    }
    return persist_store_sync_dirs(storage, paths, k, err, errlen) < 0 ? -1 : 0;
}

static void persist_commit_batch(persist_committer_t *cm, persist_item_t **batch, size_t n)
{
    persist_ctx_t *ctx = cm->ctx;
    char err[512];
    int files_settled = 0;
    int row_by_row = 0; /* set once the batch's one INSERT was refused as data */
    for (int attempt = 0; n > 0;) {
        size_t poison = 0;
        const char *step = "postgres: commit";
        int rc;
        /* The files first, once: the batch is not committed until its files'
         * bytes and names are durable, and a failure is retried like a failed
         * COMMIT. (Retrying is sound: a file whose sync failed is written
         * again, never synced again; a failed fsync of a directory on
         * journaled ext4 or on xfs aborts the journal or shuts the filesystem
         * down, so a retry cannot wrongly succeed; a failed open() of the
         * directory is transient.) Outside the transaction: no advisory lock
         * is held during the sync. */
        if (!files_settled && persist_settle_batch_files(ctx, batch, n, err, sizeof err) < 0) {
            step = "storage: file sync";
            rc = PERSIST_COMMIT_RETRY;
        } else {
            files_settled = 1;
            rc = persist_commit_once(cm, batch, n, row_by_row, &poison, err, sizeof err);
        }
        if (rc == PERSIST_COMMIT_SPLIT) {
            /* A value of some row was refused; row by row finds which one (and
             * commits the rest), at once: nothing here is transient. */
            log_warn("postgres: the batch of %zu rows was refused as data, inserting row by "
                     "row to find the row: %s",
                     n, err);
            row_by_row = 1;
            continue;
        }
        if (rc == PERSIST_COMMIT_OK) {
            if (attempt > 0)
                log_info("postgres: batch of %zu rows committed after %d failed attempts", n,
                         attempt);
            for (size_t i = 0; i < n; i++) {
                batch[i]->job->outcome = CONSUMER_JOB_ACK;
                if (batch[i]->deleted) {
                    /* Not inserted: acked so that it leaves the pipeline, with the
                     * stage "deleted" (never "stored"), and never dead-lettered. */
                    persist_remove_files(ctx, batch[i]);
                    log_info("id=%s deleted while in the pipeline: not stored, its files removed",
                             batch[i]->job->id);
                    batch[i]->job->ack_stage = RQ_STAGE_DELETED;
                } else {
                    /* One INFO line per image, so that the logs follow it. */
                    log_info("id=%s stored at %s, %.1f ms after persist took it", batch[i]->job->id,
                             batch[i]->row.path,
                             (double)(time_mono_ns() - batch[i]->job->taken_mono_ns) / 1e6);
                }
                consumer_finish(ctx->consumer, batch[i]->job);
                persist_item_free(ctx, batch[i]);
            }
            return;
        }
        if (rc == PERSIST_COMMIT_POISON) {
            persist_item_t *bad = batch[poison];
            snprintf(bad->job->reason, sizeof bad->job->reason, "database refused the row: %.400s",
                     err);
            persist_remove_files(ctx, bad);
            bad->job->outcome = CONSUMER_JOB_DEAD;
            consumer_finish(ctx->consumer, bad->job);
            persist_item_free(ctx, bad);
            persist_remove_from_batch(batch, &n, poison);
            continue;
        }
        if (persist_past_deadline(ctx)) {
            log_warn("%s: shutdown deadline passed, %zu ids left for redelivery: %s", step, n, err);
            for (size_t i = 0; i < n; i++) {
                consumer_job_free(batch[i]->job);
                persist_item_free(ctx, batch[i]);
            }
            return;
        }
        int delay = persist_retry_delay(attempt);
        log_error("%s of %zu rows (first id=%s) failed (attempt %d), retrying in %d ms: %s", step,
                  n, batch[0]->job->id, attempt + 1, delay, err);
        persist_retry_sleep(ctx, delay);
        attempt++;
    }
}

void persist_committer_run(actor_t *self)
{
    persist_committer_t cm = {.ctx = self->ctx, .conn = NULL, .prepared = 0};
    persist_item_t *batch[PERSIST_BATCH_MAX];
    for (;;) {
        void *p;
        mailbox_rc_t rc = mailbox_pop(self->inbox, &p, -1);
        if (rc == MAILBOX_CLOSED) break;
        if (rc == MAILBOX_TIMEOUT) continue;
        size_t n = 0;
        batch[n++] = p;
        while (n < PERSIST_BATCH_MAX && mailbox_pop(self->inbox, &p, 0) == MAILBOX_OK)
            batch[n++] = p;
        persist_commit_batch(&cm, batch, n);
    }
    PQfinish(cm.conn);
    log_debug("committer done");
}
