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
#include "rqha.h"
#include "rqueue.h"
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

/* Stops whatever started: the janitor is told to stop at once (it holds no
 * job), workers drain the jobs mailbox, then the committer drains its own,
 * then the consumer returns what is left to the queue; the janitor is joined
 * last (by then it has finished its statement and added its counts). */
static void persist_shutdown(persist_ctx_t *ctx, actor_t *workers, int nworkers, actor_t *committer,
                             actor_t *janitor)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)ctx->cfg->shutdown_seconds * 1000u;
    atomic_store_explicit(&ctx->deadline_mono_ms, deadline, memory_order_release);
    if (janitor->started) actor_stop(janitor);
    consumer_close_intake(ctx->consumer);
    for (int i = 0; i < nworkers; i++) actor_join(&workers[i]);
    if (committer->started) {
        mailbox_close(committer->inbox);
        actor_join(committer);
    }
    consumer_stop(ctx->consumer);
    if (janitor->started) actor_join(janitor);
}

int main(int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            persist_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "imgcap-persist: unknown argument %s\n", argv[i]);
            persist_usage(stderr);
            return 2;
        }
    }

    config_t cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "imgcap-persist: configuration: %s\n", err);
        return 1;
    }
    if (rq_ha_configure(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "imgcap-persist: configuration: %s\n", err);
        return 1;
    }
    if (check) return consumer_check_main(&cfg, "persist", RQ_QUEUE_PERSIST);

    log_set_stderr_copy(cfg.log_stderr);
    if (log_open("persist", cfg.log_dir, (log_level_t)cfg.log_level) < 0)
        log_warn("cannot open the log file in %s, logging to stderr only", cfg.log_dir);
    log_set_thread_name("main");
    actor_install_signals();

    if (persist_prepare_schema(&cfg) < 0) {
        log_close();
        return atomic_load(&actor_shutdown_requested) ? 0 : 1;
    }

    int nworkers = cfg.persist_workers > 0 ? cfg.persist_workers : actor_cpu_count();
    consumer_opts_t opts = {
        .cfg = &cfg,
        .queue = RQ_QUEUE_PERSIST,
        .next_queue = NULL,
        .taken_stage = RQ_STAGE_PERSISTING,
        .next_stage = NULL,
        .done_stage = RQ_STAGE_STORED,
        /* Room for a batch per Redis round trip (see render's main.c); the
         * committer groups whatever the workers finish into one commit. */
        .jobs_capacity = (size_t)nworkers * 8,
    };
    persist_ctx_t ctx = {.cfg = &cfg, .consumer = NULL, .committer = NULL, .deadline_mono_ms = 0};
    ctx.consumer = consumer_start(&opts);
    if (ctx.consumer == NULL) {
        log_close();
        return atomic_load(&actor_shutdown_requested) ? 0 : 1;
    }

    actor_t committer, janitor;
    memset(&committer, 0, sizeof committer);
    memset(&janitor, 0, sizeof janitor);
    actor_t *workers = calloc((size_t)nworkers, sizeof *workers);
    int started = 0, failed = workers == NULL;
    ctx.committer = &committer;
    if (!failed)
        failed = actor_start(&committer, "committer", PERSIST_BATCH_MAX * 2, persist_committer_run,
                             &ctx) < 0;
    for (; !failed && started < nworkers; started++) {
        char name[32];
        snprintf(name, sizeof name, "worker-%d", started + 1);
        if (actor_start(&workers[started], name, 0, persist_worker_run, &ctx) < 0) failed = 1;
    }
    if (!failed) failed = actor_start(&janitor, "janitor", 0, persist_janitor_run, &ctx) < 0;
    if (failed) {
        log_error("cannot start the persist actors");
        persist_shutdown(&ctx, workers, workers != NULL ? started : 0, &committer, &janitor);
        free(workers);
        log_close();
        return 1;
    }
    log_info("persist started as consumer %s: %d workers, storage %s", consumer_name(ctx.consumer),
             nworkers, cfg.storage_dir);
    pthread_t sweeper;
    int sweeping = pthread_create(&sweeper, NULL, persist_sweeper, &cfg) == 0;
    if (!sweeping) log_warn("cannot start the temp-file sweeper: interrupted writes stay on disk");

    while (!atomic_load(&actor_shutdown_requested)) time_sleep_ms(200, &actor_shutdown_requested);
    log_info("shutdown requested, draining (at most %d s)", cfg.shutdown_seconds);
    persist_shutdown(&ctx, workers, nworkers, &committer, &janitor);
    if (sweeping) pthread_join(sweeper, NULL);
    free(workers);
    log_info("persist stopped");
    log_close();
    return 0;
}
