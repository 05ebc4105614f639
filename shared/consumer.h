/* consumer.h - the Redis side of a queue consumer service (render, persist), as
 * actors (shared/README.md, Consumers):
 *
 *   intake  actor: BLMOVE q:<queue> -> its processing list -> consumer_job_t -> jobs mailbox
 *   [the service's worker actors pop jobs, do the work, consumer_finish() them]
 *   outcome actor: forward to the next queue (Lua handoff) / ack / dead-letter
 *   lease   actor: heartbeat every second, reaper every lease/3
 *
 * The jobs mailbox is bounded: intake stops taking when the workers are busy, so
 * at most capacity + workers messages are in flight per process. Intake also
 * pauses while the next queue holds QUEUE_MAX_DEPTH ids (backpressure).
 * Redis errors are retried by these actors with jittered backoff, forever: a
 * message is never dropped or dead-lettered because Redis was unreachable. */
#ifndef IMGCAP_CONSUMER_H
#define IMGCAP_CONSUMER_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "mailbox.h"
#include "uuid.h"

typedef enum {
    CONSUMER_JOB_FORWARD = 0, /* hand out/out_len to the next queue with stage next_stage */
    CONSUMER_JOB_ACK,         /* done: remove from the queue, status done_stage */
    CONSUMER_JOB_DEAD         /* permanent failure: dead list, status failed, reason */
} consumer_outcome_t;

typedef struct consumer_job {
    char id[UUID_STR_LEN];
    unsigned char *payload; /* owned by the job (the wire-format message) */
    size_t len;
    long attempts;              /* deliveries including this one */
    uint64_t taken_mono_ns;     /* when intake took it, for stage latency */
    consumer_outcome_t outcome; /* set by the worker before consumer_finish() */
    unsigned char *out;         /* CONSUMER_JOB_FORWARD: next payload, owned by the job */
    size_t out_len;
    char reason[512]; /* CONSUMER_JOB_DEAD: why; the consumer logs it (the one
                       * line of a dead letter, WARN) and stores it in status */
    /* CONSUMER_JOB_ACK: the status stage to record instead of the consumer's
     * done_stage (persist: RQ_STAGE_DELETED for an id deleted while in the
     * pipeline); NULL = done_stage. A static string, not owned. */
    const char *ack_stage;
} consumer_job_t;

/* Frees the job, its payload and out. NULL is fine. */
void consumer_job_free(consumer_job_t *job);

typedef struct consumer_opts {
    const config_t *cfg;
    const char *queue;       /* RQ_QUEUE_RENDER or RQ_QUEUE_PERSIST */
    const char *next_queue;  /* queue CONSUMER_JOB_FORWARD hands to; NULL if none */
    const char *taken_stage; /* status when taken: RQ_STAGE_RENDERING, ... */
    const char *next_stage;  /* status after CONSUMER_JOB_FORWARD */
    const char *done_stage;  /* status after CONSUMER_JOB_ACK */
    size_t jobs_capacity;    /* bound of the jobs mailbox (>= 1) */
} consumer_opts_t;

typedef struct consumer consumer_t;

/* Connects to Redis (waiting with backoff, each attempt logged, until
 * actor_shutdown_requested) and starts the intake, outcome and lease actors.
 * Returns the consumer (caller frees with consumer_stop()), or NULL (logged). */
consumer_t *consumer_start(const consumer_opts_t *opts);

/* The mailbox workers pop consumer_job_t * from. Popped jobs are owned by the worker
 * until it passes them to consumer_finish(). Pop returns MAILBOX_CLOSED once the consumer
 * is stopping and the mailbox is drained: then the worker should exit. */
mailbox_t *consumer_jobs(consumer_t *c);

/* Hands a finished job (outcome, out, reason set) to the outcome actor, which
 * takes ownership. Blocks while the outcome mailbox is full. */
void consumer_finish(consumer_t *c, consumer_job_t *job);

/* Graceful stop, bounded by SHUTDOWN_SECONDS: stops intake, closes the jobs
 * mailbox so workers drain it and exit (the caller joins its workers between
 * consumer_close_intake() and consumer_stop()), then finishes outcomes and
 * returns whatever is still in flight to the work list. */
void consumer_close_intake(consumer_t *c);
void consumer_stop(consumer_t *c);

/* The consumer name used for this process's processing list and heartbeat:
 * unique per process incarnation (consumer_ident.h). At start the consumer
 * returns the in-flight ids of its surely dead predecessors to the queue. */
const char *consumer_name(const consumer_t *c);

typedef enum { CONSUMER_NONE = 0, CONSUMER_LIVE = 1 } consumer_check_t;

/* `--check` (container healthcheck): whether a consumer of queue with this
 * host's name base (CONSUMER_NAME, else the hostname; see consumer_ident.h) has
 * a heartbeat younger than LEASE_SECONDS. Returns CONSUMER_LIVE or
 * CONSUMER_NONE, or -1 with err set. */
int consumer_check(const config_t *cfg, const char *queue, char *err, size_t errlen);

/* The whole `--check` of the consumer service imgcap-<service> on queue:
 * consumer_check(), and on stderr why it is unhealthy. Returns the exit
 * status: 0 when CONSUMER_LIVE, else 1. */
int consumer_check_main(const config_t *cfg, const char *service, const char *queue);

#endif
