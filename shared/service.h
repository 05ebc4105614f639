/* service.h - the skeleton of a queue consumer service (render, persist), and
 * the exit codes of every imgcap binary (shared/README.md, Services).
 *
 * service_main() runs, in this order: the command line (--help, --check), the
 * configuration, the log, the signal handlers, the service's own preparation
 * (a hook), the consumer of its queue, the actors its workers feed (a hook),
 * N workers, the actors beside them (a hook); then it waits for SIGINT or
 * SIGTERM and drains: intake stops, the workers empty the jobs mailbox, what
 * they fed drains (a hook), the consumer records the outcomes and returns
 * what is left to the queue. A service with a command line of its own
 * (render's --once) calls the steps service_config() and service_run()
 * itself. */
#ifndef IMGCAP_SERVICE_H
#define IMGCAP_SERVICE_H

#include <stdint.h>
#include <stdio.h>

#include "actor.h"
#include "config.h"
#include "consumer.h"

/* Exit codes of imgcap-api, imgcap-render and imgcap-persist (also listed in
 * docs/operations.md, Exit codes). */
typedef enum {
    /* Stopped by SIGINT/SIGTERM after draining (also when the signal came
     * while it was still waiting for Redis or PostgreSQL at start); --help;
     * --check: the service on this host is alive; --once: done. */
    SERVICE_EXIT_OK = 0,
    /* Could not start or keep running: a dependency it prepares failed (the
     * font, the schema migration), an actor or a worker could not start;
     * --check: not alive; --once: the input could not be rendered or written. */
    SERVICE_EXIT_FAILURE = 1,
    /* The command line is wrong (unknown or inconsistent arguments). */
    SERVICE_EXIT_USAGE = 2,
    /* The configuration is wrong: a malformed value, named on stderr.
     * Restarting does not help until it is fixed. */
    SERVICE_EXIT_CONFIG = 3,
} service_exit_t;

typedef struct service_def service_def_t;

/* The steps a service adds to the skeleton; each gets the service's
 * definition (its ctx: d->ctx) and may be NULL. The stop hooks run whatever
 * the start got to: a hook that started nothing must cope. */
typedef struct service_hooks {
    /* After the log and signals, before the consumer (the font, the schema;
     * d->workers and d->detail from cfg): 0, or -1 (logged). */
    int (*prepare)(service_def_t *d, const config_t *cfg);
    /* The consumer is up; start what the workers feed (persist's committer)
     * and keep c for the workers: 0, or -1 (logged). */
    int (*before_workers)(service_def_t *d, consumer_t *c);
    /* The workers are up; start what runs beside them (persist's janitor):
     * 0, or -1 (logged). */
    int (*after_workers)(service_def_t *d);
    /* Stop requested; the drain must end by deadline_mono_ms (time_mono_ms()
     * clock): tell what holds no job to stop. Before intake closes. */
    void (*stopping)(service_def_t *d, uint64_t deadline_mono_ms);
    /* The workers are joined: drain what they fed. */
    void (*workers_joined)(service_def_t *d);
    /* The consumer is stopped: join the rest. */
    void (*stopped)(service_def_t *d);
} service_hooks_t;

struct service_def {
    const char *name; /* "render": imgcap-<name>, <name>.log, --check's service */
    void (*usage)(FILE *out);
    /* queue, next_queue and stages of the consumer; its cfg and
     * jobs_capacity are set by service_run(). */
    consumer_opts_t consumer;
    int workers;     /* the *_WORKERS setting: 0 = CPU count */
    actor_fn worker; /* each worker-N actor, with ctx */
    void *ctx;       /* the service's state, not owned */
    service_hooks_t hook;
    char detail[1536]; /* appended to the "started" log line */
};

/* The whole service: --help / --check / no argument, then service_config()
 * and service_run() (or consumer_check_main()). Returns the exit code. */
int service_main(service_def_t *d, int argc, char **argv);

/* config_load() and rq_ha_configure() into cfg. Returns SERVICE_EXIT_OK, or
 * SERVICE_EXIT_CONFIG with "imgcap-<name>: configuration: ..." on stderr. */
int service_config(const char *name, config_t *cfg);

/* Runs the service with cfg until SIGINT/SIGTERM or service_fail(): log
 * (LOG_DIR/<name>.log; one that cannot be opened is logged, and stderr
 * carries on), signals, hooks, consumer, workers, drain; closes the log.
 * Returns the exit code: SERVICE_EXIT_OK after a stop by signal, else
 * SERVICE_EXIT_FAILURE (what failed is logged). */
int service_run(service_def_t *d, const config_t *cfg);

/* Called by an actor that cannot go on (a worker without its resources):
 * logs why at ERROR, stops the service, and makes service_run() return
 * SERVICE_EXIT_FAILURE. Thread-safe. */
void service_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
