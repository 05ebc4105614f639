/* worker.c - persist worker actors: decode, write the file durably, hand the
 * row to the committer (see persist.h). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "persist.h"
#include "store.h"
#include "timeutil.h"
#include "wire.h"

#define PERSIST_RETRY_BASE_MS 100
#define PERSIST_RETRY_CAP_MS 5000

int persist_past_deadline(const persist_ctx_t *ctx)
{
    uint64_t deadline = atomic_load_explicit(&ctx->deadline_mono_ms, memory_order_acquire);
    return deadline != 0 && time_mono_ms() >= deadline;
}

int persist_retry_delay(int attempt)
{
    return time_backoff_ms(attempt, PERSIST_RETRY_BASE_MS, PERSIST_RETRY_CAP_MS);
}

void persist_retry_sleep(const persist_ctx_t *ctx, int ms)
{
    /* In slices, so that a shutdown deadline cuts a long backoff short. */
    while (ms > 0 && !persist_past_deadline(ctx)) {
        int slice = ms < 100 ? ms : 100;
        time_sleep_ms(slice, NULL);
        ms -= slice;
    }
}

void persist_item_free(const persist_ctx_t *ctx, persist_item_t *item)
{
    persist_store_discard(ctx->cfg->storage_dir, item->pending, item->nfiles);
    free(item);
}

static void persist_dead(persist_ctx_t *ctx, consumer_job_t *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void persist_dead(persist_ctx_t *ctx, consumer_job_t *job, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->reason, sizeof job->reason, fmt, ap);
    va_end(ap);
    job->outcome = CONSUMER_JOB_DEAD;
    consumer_finish(ctx->consumer, job);
}

/* Writes item's files the STORAGE_SYNC way (the comment in
 * persist_worker_handle()). Returns 0, or -1 with err set and nothing left
 * behind. */
static int store_files(const config_t *cfg, persist_item_t *item, char *err, size_t errlen)
{
    if (cfg->storage_sync == CONFIG_STORAGE_SYNC_FILESYSTEM)
        return persist_store_write_pending(cfg->storage_dir, item->files, item->nfiles,
                                           item->pending, err, errlen);
    persist_store_pending_init(item->pending, item->files, item->nfiles);
    return persist_store_write_files(cfg->storage_dir, item->files, item->nfiles, err, errlen);
}

static void persist_worker_handle(persist_ctx_t *ctx, consumer_job_t *job)
{
    char err[400]; /* leaves room for the reason's prefix in job->reason */
    wire_msg_t m;
    if (wire_decode(job->payload, job->len, &m, err, sizeof err) < 0) {
        persist_dead(ctx, job, "undecodable payload: %s", err);
        return;
    }
    if (strcasecmp(m.id, job->id) != 0) {
        persist_dead(ctx, job, "payload carries another id (%s)", m.id);
        return;
    }
    persist_item_t *item;
    for (int attempt = 0; (item = malloc(sizeof *item)) == NULL; attempt++) {
        if (persist_past_deadline(ctx)) {
            log_warn("id=%s left for redelivery: shutdown deadline passed", job->id);
            consumer_job_free(job);
            return;
        }
        int delay = persist_retry_delay(attempt);
        log_error("id=%s out of memory for its row, retrying in %d ms", job->id, delay);
        persist_retry_sleep(ctx, delay);
    }
    if (persist_row_build(&m, &item->row, err, sizeof err) < 0) {
        free(item);
        persist_dead(ctx, job, "cannot store: %s", err);
        return;
    }
    /* With STORAGE_SYNC=filesystem, the image and its thumbnail beside it,
     * written to temp files left open:
     * the committer makes the whole batch's files durable at once (one
     * syncfs, not an fsync per file), renames them and fsyncs their
     * directory, all before COMMIT (persist_store_settle()). With
     * STORAGE_SYNC=file (STORAGE_DIR on a filesystem other writers keep
     * dirty, where a syncfs would write their pages back too) each file is
     * fsynced and renamed here instead, nothing is left pending, and the
     * committer only fsyncs the directory. */
    item->files[0] = (persist_file_t){item->row.path, m.jpeg, m.jpeg_len};
    item->files[1] = (persist_file_t){item->row.thumb_path, m.thumb, m.thumb_len};
    item->nfiles = item->row.thumb_bytes[0] ? 2 : 1;
    item->rewrite = 0;
    size_t nfiles = item->nfiles;
    for (int attempt = 0;; attempt++) {
        if (store_files(ctx->cfg, item, err, sizeof err) == 0) break;
        if (persist_past_deadline(ctx)) {
            log_warn("id=%s left for redelivery: shutdown deadline passed while the file "
                     "could not be written: %s",
                     job->id, err);
            free(item);
            consumer_job_free(job);
            return;
        }
        int delay = persist_retry_delay(attempt);
        log_error("id=%s writing %s failed (attempt %d), retrying in %d ms: %s", job->id,
                  item->row.path, attempt + 1, delay, err);
        persist_retry_sleep(ctx, delay);
    }
    log_debug("id=%s file %s written (%zu bytes, thumbnail %zu bytes)", job->id, item->row.path,
              m.jpeg_len, nfiles > 1 ? m.thumb_len : 0);
    item->job = job;
    if (mailbox_push(ctx->committer->inbox, item, -1) == MAILBOX_CLOSED) {
        /* Only if main closed the committer before joining the workers. */
        log_error("id=%s committer gone, left for redelivery", job->id);
        consumer_job_free(job);
        persist_item_free(ctx, item);
    }
}

void persist_worker_run(actor_t *self)
{
    persist_ctx_t *ctx = self->ctx;
    mailbox_t *jobs = consumer_jobs(ctx->consumer);
    for (;;) {
        void *p;
        mailbox_rc_t rc = mailbox_pop(jobs, &p, -1);
        if (rc == MAILBOX_CLOSED) break;
        if (rc == MAILBOX_OK) persist_worker_handle(ctx, p);
    }
    log_debug("worker done");
}
