/* persist.h - the actors of imgcap-persist (services/persist/README.md):
 *
 *   consumer (shared): intake from q:persist, acks, heartbeat, reaper
 *   worker-N:  job -> wire_decode -> files written, fsynced, renamed ->
 *              committer's mailbox
 *   committer: owns the PGconn; takes everything waiting in its mailbox,
 *              fsyncs the batch's directories once each, group commit, then
 *              consumer_finish(CONSUMER_JOB_ACK) for each job
 *
 * A job is acked only after its files and their directory are fsynced and its
 * row committed. Disk
 * and PostgreSQL errors are retried with jittered backoff and never
 * dead-letter a message; only an undecodable payload or a value that can never
 * become a row does. During shutdown retries stop at the deadline and the job
 * is left in the processing list, which consumer_stop() returns to the queue. */
#ifndef IMGCAP_PERSIST_PERSIST_H
#define IMGCAP_PERSIST_PERSIST_H

#include <stdint.h>
#include "actor.h"
#include "config.h"
#include "consumer.h"
#include "row.h"
#include "store.h"

#define PERSIST_BATCH_MAX 64

typedef struct persist_ctx {
    const config_t *cfg;
    consumer_t *consumer;
    actor_t *committer;                /* workers push persist_item_t * into its inbox */
    _Atomic uint64_t deadline_mono_ms; /* 0 while running; set once by main at shutdown */
} persist_ctx_t;

/* What a worker hands the committer: the job (owned by the item) and its row.
 * The committer owns the item once pushed and frees it with free() after
 * consumer_finish() or consumer_job_free() of the job. */
typedef struct persist_item {
    consumer_job_t *job;
    persist_row_t row;
    int deleted; /* set by the committer: imgcap_claim_ids() found a tombstone */
    /* The image and its thumbnail: their bytes point into job's payload, so
     * the committer can write them again. */
    persist_file_t files[2];
    size_t nfiles;
    /* What the worker wrote: temp files, open, not yet durable; the committer
     * makes a whole batch of them durable at once and renames them
     * (persist_store_settle()). None (fd -1) with STORAGE_SYNC=file: the
     * worker fsynced and renamed the files itself. */
    persist_pending_t pending[2];
    int rewrite; /* 1: pending[] were discarded after a failure, files[] are
                  * written again the one-by-one way (persist_store_write_files()) */
} persist_item_t;

/* Frees an item the committer owns whose job was finished or freed: its
 * pending temp files (if any) are closed and removed. */
void persist_item_free(const persist_ctx_t *ctx, persist_item_t *item);

/* Actor bodies; self->ctx is a persist_ctx_t. */
void persist_worker_run(actor_t *self);
void persist_committer_run(actor_t *self);

/* 1 once shutdown was requested and its deadline passed: stop retrying. */
int persist_past_deadline(const persist_ctx_t *ctx);

/* Jittered exponential backoff for retry number `attempt` (from 0), in ms. */
int persist_retry_delay(int attempt);

/* Sleeps ms, returning early once persist_past_deadline(). */
void persist_retry_sleep(const persist_ctx_t *ctx, int ms);

#endif
