/* main.c - imgcap-persist: consumes q:persist, stores each image as a file
 * under STORAGE_DIR and a row in PostgreSQL, acks after both are durable
 * (services/persist/README.md). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "config.h"
#include "consumer.h"
#include "janitor.h"
#include "log.h"
#include "persist.h"
#include "pgconn.h"
#include "rqueue.h"
#include "service.h"
#include "store.h"
#include "timeutil.h"

static void persist_usage(FILE *out)
{
    fputs("Usage: imgcap-persist [--check | --help]\n"
          "\n"
          "Consumes the persist queue on Redis: writes each image to\n"
          "STORAGE_DIR/YYYY/MM/DD/<id>.jpg (atomically, fsynced) and inserts its row\n"
          "into PostgreSQL, then acknowledges the message. Applies the missing schema\n"
          "scripts of SQL_DIR at start. Its janitor deletes images older than\n"
          "RETENTION, the oldest ones while STORAGE_DIR has less than STORAGE_MIN_FREE\n"
          "free when STORAGE_RECYCLE=1, and removes the files of deleted images.\n"
          "Stops gracefully on SIGINT/SIGTERM.\n"
          "\n"
          "  --check  exit 0 if a persist consumer of this host has a live heartbeat\n"
          "           in Redis (container healthcheck), 1 otherwise\n"
          "  --help   this text\n"
          "\n"
          "Configuration (environment, then the .env file named by IMGCAP_ENV_FILE,\n"
          "default ./.env): REDIS_URL, REDIS_PREFIX, DATABASE_URL, STORAGE_DIR, SQL_DIR,\n"
          "PERSIST_WORKERS, QUEUE_MAX_DEPTH, MAX_ATTEMPTS, LEASE_SECONDS, CONSUMER_NAME,\n"
          "LOG_DIR, LOG_LEVEL, SHUTDOWN_SECONDS, RETENTION, STORAGE_MIN_FREE,\n"
          "STORAGE_RECYCLE.\n",
          out);
}

/* Connects (waiting for PostgreSQL as long as it takes) and applies missing
 * schema scripts. Returns 0, or -1 (logged; also when stopped meanwhile). */
static int persist_prepare_schema(const config_t *cfg)
{
    PGconn *conn = pgconn_connect(cfg->database_url, -1, &actor_shutdown_requested);
    if (conn == NULL) return -1;
    int rc = pgconn_migrate(conn, cfg->sql_dir);
    PQfinish(conn);
    if (rc < 0) log_error("schema migration from %s failed", cfg->sql_dir);
    return rc;
}

/* Temp files of a write interrupted by a crash (kill -9, power loss) are
 * swept at start, again once the crash's own leftovers are old enough, then
 * daily. Only files older than SWEEP_MIN_AGE_S go: a younger one may be a
 * write in progress in another persist sharing the volume. */
#define SWEEP_MIN_AGE_S 600
#define SWEEP_INTERVAL_S 86400

static void *persist_sweeper(void *arg)
{
    const config_t *cfg = arg;
    log_set_thread_name("sweeper");
    int wait_s = SWEEP_MIN_AGE_S;
    while (!atomic_load(&actor_shutdown_requested)) {
        char err[512];
        long n = persist_store_sweep(cfg->storage_dir, SWEEP_MIN_AGE_S, &actor_shutdown_requested,
                                     err, sizeof err);
        if (n < 0)
            log_warn("sweep: %s", err);
        else if (n > 0)
            log_info("sweep: removed %ld temp files of interrupted writes from %s", n,
                     cfg->storage_dir);
        time_sleep_ms(wait_s * 1000, &actor_shutdown_requested);
        wait_s = SWEEP_INTERVAL_S;
    }
    return NULL;
}

/* The service's state beside persist_ctx_t: the actors main starts. */
typedef struct persist_main {
    persist_ctx_t ctx;
    actor_t committer, janitor;
    pthread_t sweeper;
    int sweeping;
} persist_main_t;

/* The schema, before the consumer takes anything. */
static int persist_prepare(service_def_t *d, const config_t *cfg)
{
    persist_main_t *pm = d->ctx;
    pm->ctx.cfg = cfg;
    d->workers = cfg->persist_workers;
    snprintf(d->detail, sizeof d->detail, ", storage %s (%s)", cfg->storage_dir,
             cfg->storage_sync == CONFIG_STORAGE_SYNC_FILE ? "an fsync per file"
                                                           : "one syncfs per batch");
    return persist_prepare_schema(cfg);
}

/* The committer: the workers push into its inbox. */
static int persist_before_workers(service_def_t *d, consumer_t *c)
{
    persist_main_t *pm = d->ctx;
    pm->ctx.consumer = c;
    pm->ctx.committer = &pm->committer;
    return actor_start(&pm->committer, "committer", PERSIST_BATCH_MAX * 2, persist_committer_run,
                       &pm->ctx);
}

/* The janitor, and the temp-file sweeper (without it persist still works:
 * interrupted writes stay on disk). */
static int persist_after_workers(service_def_t *d)
{
    persist_main_t *pm = d->ctx;
    if (actor_start(&pm->janitor, "janitor", 0, persist_janitor_run, &pm->ctx) < 0) return -1;
    pm->sweeping = pthread_create(&pm->sweeper, NULL, persist_sweeper, (void *)pm->ctx.cfg) == 0;
    if (!pm->sweeping)
        log_warn("cannot start the temp-file sweeper: interrupted writes stay on disk");
    return 0;
}

/* The janitor is told to stop at once (it holds no job); the workers' and
 * the committer's retries stop at the deadline. */
static void persist_stopping(service_def_t *d, uint64_t deadline_mono_ms)
{
    persist_main_t *pm = d->ctx;
    atomic_store_explicit(&pm->ctx.deadline_mono_ms, deadline_mono_ms, memory_order_release);
    if (pm->janitor.started) actor_stop(&pm->janitor);
}

/* The workers are gone: the committer drains its inbox. */
static void persist_workers_joined(service_def_t *d)
{
    persist_main_t *pm = d->ctx;
    if (pm->committer.started) {
        mailbox_close(pm->committer.inbox);
        actor_join(&pm->committer);
    }
}

/* The janitor is joined last: by then it has finished its statement and
 * added its counts. */
static void persist_stopped(service_def_t *d)
{
    persist_main_t *pm = d->ctx;
    if (pm->janitor.started) actor_join(&pm->janitor);
    if (pm->sweeping) pthread_join(pm->sweeper, NULL);
}

int main(int argc, char **argv)
{
    static persist_main_t pm; /* zeroed: no actor started */
    service_def_t d = {
        .name = "persist",
        .usage = persist_usage,
        .consumer =
            {
                .queue = RQ_QUEUE_PERSIST,
                .next_queue = NULL,
                .taken_stage = RQ_STAGE_PERSISTING,
                .next_stage = NULL,
                .done_stage = RQ_STAGE_STORED,
            },
        .worker = persist_worker_run,
        .ctx = &pm,
        .hook =
            {
                .prepare = persist_prepare,
                .before_workers = persist_before_workers,
                .after_workers = persist_after_workers,
                .stopping = persist_stopping,
                .workers_joined = persist_workers_joined,
                .stopped = persist_stopped,
            },
    };
    return service_main(&d, argc, argv);
}
