/* service.c - the skeleton of render and persist, see service.h. */
#include "service.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rqha.h"
#include "timeutil.h"

/* Jobs mailbox per worker: deep enough that the workers never starve while
 * intake waits on a Redis round trip (each one waits for an AOF fsync), so
 * intake takes up to this many per trip. Memory: capacity x ~50 KB. */
#define SERVICE_JOBS_PER_WORKER 8

/* Set by service_fail(): the stop that follows is a failure. */
static atomic_int service_failed;

void service_fail(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_error("%s; stopping the service", why);
    atomic_store(&service_failed, 1);
    atomic_store(&actor_shutdown_requested, 1);
}

int service_config(const char *name, config_t *cfg)
{
    char err[1024];
    if (config_load(cfg, err, sizeof err) < 0 || rq_ha_configure(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "imgcap-%s: configuration: %s\n", name, err);
        return SERVICE_EXIT_CONFIG;
    }
    return SERVICE_EXIT_OK;
}

int service_main(service_def_t *d, int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            d->usage(stdout);
            return SERVICE_EXIT_OK;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "imgcap-%s: unknown argument %s\n", d->name, argv[i]);
            d->usage(stderr);
            return SERVICE_EXIT_USAGE;
        }
    }
    /* static: the workers and hooks keep pointers to it until they are joined */
    static config_t cfg;
    int rc = service_config(d->name, &cfg);
    if (rc != SERVICE_EXIT_OK) return rc;
    if (check) return consumer_check_main(&cfg, d->name, d->consumer.queue);
    return service_run(d, &cfg);
}

/* Failure of a start step: what the service was asked to do is a stop when
 * the step gave up because of SIGINT/SIGTERM (waiting for Redis or
 * PostgreSQL), else a failure. */
static int start_failed(void)
{
    return atomic_load(&actor_shutdown_requested) && !atomic_load(&service_failed)
               ? SERVICE_EXIT_OK
               : SERVICE_EXIT_FAILURE;
}

/* The drain, for whatever started: see service.h. */
static void drain(service_def_t *d, consumer_t *c, actor_t *workers, int started)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)d->consumer.cfg->shutdown_seconds * 1000u;
    if (d->hook.stopping != NULL) d->hook.stopping(d, deadline);
    consumer_close_intake(c);
    for (int i = 0; i < started; i++) actor_join(&workers[i]);
    if (d->hook.workers_joined != NULL) d->hook.workers_joined(d);
    consumer_stop(c);
    if (d->hook.stopped != NULL) d->hook.stopped(d);
}

/* From the consumer on: see service_run(). */
static int run_consumer(service_def_t *d, const config_t *cfg)
{
    int n = d->workers > 0 ? d->workers : actor_cpu_count();
    d->consumer.cfg = cfg;
    d->consumer.jobs_capacity = (size_t)n * SERVICE_JOBS_PER_WORKER;
    consumer_t *c = consumer_start(&d->consumer);
    if (c == NULL) return start_failed();

    actor_t *workers = calloc((size_t)n, sizeof *workers);
    int started = 0, ok = workers != NULL;
    if (!ok) log_error("out of memory for %d workers", n);
    if (ok && d->hook.before_workers != NULL) ok = d->hook.before_workers(d, c) == 0;
    for (; ok && started < n; started++) {
        char name[32];
        snprintf(name, sizeof name, "worker-%d", started + 1);
        if (actor_start(&workers[started], name, 0, d->worker, d->ctx) < 0) {
            log_error("cannot start %s of %d", name, n);
            ok = 0;
            break;
        }
    }
    if (ok && d->hook.after_workers != NULL) ok = d->hook.after_workers(d) == 0;
    if (!ok) {
        log_error("%s could not start; stopping what did", d->name);
        drain(d, c, workers, started);
        free(workers);
        return SERVICE_EXIT_FAILURE;
    }
    log_info("%s started as consumer %s: %d workers%s", d->name, consumer_name(c), n, d->detail);
    while (!atomic_load(&actor_shutdown_requested)) time_sleep_ms(200, &actor_shutdown_requested);
    log_info("shutdown requested, draining (at most %d s)", cfg->shutdown_seconds);
    drain(d, c, workers, started);
    free(workers);
    return atomic_load(&service_failed) ? SERVICE_EXIT_FAILURE : SERVICE_EXIT_OK;
}

int service_run(service_def_t *d, const config_t *cfg)
{
    log_set_stderr_copy(cfg->log_stderr);
    if (log_open(d->name, cfg->log_dir, (log_level_t)cfg->log_level) < 0)
        log_warn("cannot open the log file in %s, logging to stderr only", cfg->log_dir);
    log_set_thread_name("main");
    actor_install_signals();
    int rc;
    if (d->hook.prepare != NULL && d->hook.prepare(d, cfg) < 0)
        rc = start_failed();
    else
        rc = run_consumer(d, cfg);
    log_info("%s stopped (exit %d)", d->name, rc);
    log_close();
    return rc;
}
