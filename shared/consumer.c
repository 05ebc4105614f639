/* consumer.c - intake, outcome and lease actors of a queue consumer service. */
#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"
#include "log.h"
#include "rqueue.h"
#include "timeutil.h"

#define TAKE_TIMEOUT_MS 1000
#define OUTCOME_CAPACITY 256

struct consumer {
    consumer_opts_t opts;
    char name[128];
    mailbox_t *jobs;      /* intake -> workers */
    actor_t intake, outcome, lease;
    stop_flag_t intake_stop;
    stop_flag_t lease_stop;
    _Atomic uint64_t give_up_at_ms; /* monotonic; 0 until shutdown starts */
};

void job_free(job_t *job)
{
    if (!job) return;
    free(job->payload);
    free(job->out);
    free(job);
}

mailbox_t *consumer_jobs(consumer_t *c) { return c->jobs; }
const char *consumer_name(const consumer_t *c) { return c->name; }

/* Opens this actor's own Redis connection, waiting (with backoff, logged)
 * until Redis answers or stop is set. */
static rqueue_t *open_queue(const consumer_t *c, stop_flag_t *stop)
{
    char err[512];
    for (int attempt = 0;; attempt++) {
        rqueue_t *rq = rqueue_open(c->opts.cfg->redis_url, c->opts.cfg->redis_prefix, c->name,
                                   0, err, sizeof err);
        if (rq) return rq;
        if ((stop && *stop) || actor_shutdown_requested) return NULL;
        log_warn("%s (attempt %d); retrying", err, attempt + 1);
        time_sleep_ms(time_backoff_ms(attempt, 100, 3000), stop);
    }
}

/* Sleeps after a Redis failure; returns the next attempt number. */
static int redis_backoff(rqueue_t *rq, int attempt, const char *what, stop_flag_t *stop)
{
    log_warn("%s failed: %s (retry %d)", what, rqueue_error(rq), attempt + 1);
    time_sleep_ms(time_backoff_ms(attempt, 50, 3000), stop);
    return attempt + 1;
}

/* The next queue is full: wait, so that the pipeline pushes back to the api. */
static int next_queue_full(consumer_t *c, rqueue_t *rq)
{
    if (!c->opts.next_queue) return 0;
    long long n = rqueue_waiting(rq, c->opts.next_queue);
    return n >= c->opts.cfg->queue_max_depth;
}

static void intake_main(actor_t *self)
{
    consumer_t *c = self->ctx;
    rqueue_t *rq = open_queue(c, &c->intake_stop);
    int failures = 0;
    uint64_t last_depth_check = 0;
    while (rq && !c->intake_stop) {
        uint64_t now = time_mono_ms();
        if (c->opts.next_queue && now - last_depth_check >= 200) {
            last_depth_check = now;
            if (next_queue_full(c, rq)) {
                log_debug("queue %s full, pausing intake", c->opts.next_queue);
                time_sleep_ms(200, &c->intake_stop);
                continue;
            }
        }
        rq_msg_t msg;
        int rc = rqueue_take(rq, c->opts.queue, TAKE_TIMEOUT_MS, c->opts.cfg->max_attempts,
                             c->opts.taken_stage, &msg);
        if (rc < 0) {
            failures = redis_backoff(rq, failures, "take", &c->intake_stop);
            continue;
        }
        failures = 0;
        if (rc == 0) continue;
        job_t *job = calloc(1, sizeof *job);
        unsigned char *copy = malloc(msg.len ? msg.len : 1);
        if (!job || !copy) {
            /* The id stays in our processing list; it is retried after a restart
             * or by the reaper. Nothing better to do without memory. */
            log_error("id=%s out of memory copying a %zu-byte payload", msg.id, msg.len);
            free(job);
            free(copy);
            time_sleep_ms(1000, &c->intake_stop);
            continue;
        }
        memcpy(copy, msg.payload, msg.len);
        memcpy(job->id, msg.id, sizeof job->id);
        job->payload = copy;
        job->len = msg.len;
        job->attempts = msg.attempts;
        job->taken_mono_ns = time_mono_ns();
        if (msg.attempts > 1)
            log_info("id=%s redelivered (delivery %ld of at most %d)", job->id, msg.attempts,
                     c->opts.cfg->max_attempts);
        int pushed;
        while ((pushed = mailbox_push(c->jobs, job, 200)) == 1 && !c->intake_stop)
            ;
        if (pushed != 0) {
            /* Stopping while the workers were busy: the id stays in our
             * processing list and is returned to the queue by release. */
            job_free(job);
            break;
        }
    }
    rqueue_close(rq);
}

/* Applies one outcome, retrying Redis failures until it is recorded (or the
 * process is told to stop, in which case the id stays in processing and is
 * returned to the queue by release/reaper: at-least-once, never lost). */
static void apply_outcome(consumer_t *c, rqueue_t **rqp, job_t *job)
{
    for (int attempt = 0;; attempt++) {
        if (!*rqp) *rqp = open_queue(c, NULL);
        rqueue_t *rq = *rqp;
        if (!rq) return;
        int rc;
        const char *what;
        switch (job->outcome) {
        case JOB_FORWARD:
            what = "forward";
            rc = rqueue_forward(rq, c->opts.queue, job->id, c->opts.next_queue, job->out,
                                job->out_len, c->opts.next_stage);
            break;
        case JOB_ACK:
            what = "ack";
            rc = rqueue_ack(rq, c->opts.queue, job->id, c->opts.done_stage);
            break;
        default:
            what = "dead-letter";
            log_error("id=%s dead-lettered from %s: %s", job->id, c->opts.queue, job->reason);
            rc = rqueue_dead(rq, c->opts.queue, job->id, job->reason);
            break;
        }
        if (rc == 1) {
            log_debug("id=%s %s done in %.1f ms", job->id, what,
                      (double)(time_mono_ns() - job->taken_mono_ns) / 1e6);
            return;
        }
        if (rc == 0) {
            /* We were presumed dead and our in-flight ids were given to another
             * consumer: that one owns the id now, so ours must not count. */
            log_warn("id=%s %s skipped: no longer ours (lease expired and reaped)", job->id,
                     what);
            return;
        }
        if (c->give_up_at_ms && time_mono_ms() > c->give_up_at_ms) {
            log_error("id=%s %s not recorded before the shutdown deadline; it stays in "
                      "flight and is redelivered", job->id, what);
            return;
        }
        redis_backoff(rq, attempt, what, NULL);
    }
}

static void outcome_main(actor_t *self)
{
    consumer_t *c = self->ctx;
    rqueue_t *rq = open_queue(c, NULL);
    void *item;
    /* Runs until its mailbox is closed and drained (consumer_stop). */
    while (mailbox_pop(self->inbox, &item, -1) == 0) {
        job_t *job = item;
        apply_outcome(c, &rq, job);
        job_free(job);
    }
    rqueue_close(rq);
}

static void lease_main(actor_t *self)
{
    consumer_t *c = self->ctx;
    rqueue_t *rq = open_queue(c, &c->lease_stop);
    long lease_ms = (long)c->opts.cfg->lease_seconds * 1000;
    uint64_t next_reap = 0;
    int failures = 0;
    while (rq && !c->lease_stop) {
        if (rqueue_heartbeat(rq, c->opts.queue) < 0) {
            failures = redis_backoff(rq, failures, "heartbeat", &c->lease_stop);
            continue;
        }
        failures = 0;
        uint64_t now = time_mono_ms();
        if (now >= next_reap) {
            long moved = 0;
            if (rqueue_reap(rq, c->opts.queue, lease_ms, &moved) < 0)
                log_warn("reaper failed: %s", rqueue_error(rq));
            else if (moved > 0)
                log_warn("reaper returned %ld in-flight ids of silent consumers to queue %s",
                         moved, c->opts.queue);
            /* Reap often enough that a dead consumer's work waits at most
             * about 1.3 leases. */
            next_reap = now + (uint64_t)(lease_ms / 3 > 1000 ? lease_ms / 3 : 1000);
        }
        time_sleep_ms(1000, &c->lease_stop);
    }
    rqueue_close(rq);
}

consumer_t *consumer_start(const consumer_opts_t *opts)
{
    consumer_t *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("out of memory");
        return NULL;
    }
    c->opts = *opts;
    if (opts->cfg->consumer_name[0]) {
        snprintf(c->name, sizeof c->name, "%s", opts->cfg->consumer_name);
    } else {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        snprintf(c->name, sizeof c->name, "%s-%d", host, (int)getpid());
    }
    c->jobs = mailbox_new(opts->jobs_capacity ? opts->jobs_capacity : 1);
    if (!c->jobs) {
        log_error("out of memory");
        free(c);
        return NULL;
    }
    /* Wait for Redis once here so the service logs a clear start-up state. */
    rqueue_t *probe = open_queue(c, NULL);
    if (!probe) {
        mailbox_free(c->jobs);
        free(c);
        return NULL;
    }
    rqueue_close(probe);
    log_info("consumer %s of queue %s started", c->name, opts->queue);
    /* Lease first: the heartbeat must exist before we hold anything. */
    if (actor_start(&c->lease, "lease", 0, lease_main, c) < 0 ||
        actor_start(&c->outcome, "outcome", OUTCOME_CAPACITY, outcome_main, c) < 0 ||
        actor_start(&c->intake, "intake", 0, intake_main, c) < 0) {
        c->intake_stop = 1;
        c->lease_stop = 1;
        if (c->outcome.inbox) mailbox_close(c->outcome.inbox);
        mailbox_close(c->jobs);
        actor_join(&c->intake);
        actor_join(&c->outcome);
        actor_join(&c->lease);
        mailbox_free(c->jobs);
        free(c);
        return NULL;
    }
    return c;
}

void consumer_finish(consumer_t *c, job_t *job)
{
    if (mailbox_push(c->outcome.inbox, job, -1) != 0) {
        log_error("id=%s outcome dropped during shutdown; it stays in flight and is redelivered",
                  job->id);
        job_free(job);
    }
}

void consumer_close_intake(consumer_t *c)
{
    c->give_up_at_ms = time_mono_ms() + (uint64_t)c->opts.cfg->shutdown_seconds * 1000;
    c->intake_stop = 1;
    actor_join(&c->intake);
    mailbox_close(c->jobs);
}

void consumer_stop(consumer_t *c)
{
    if (!c) return;
    if (!c->intake_stop) consumer_close_intake(c);
    /* Jobs nobody popped (workers already gone) go back to Redis via release. */
    void *item;
    while (mailbox_pop(c->jobs, &item, 0) == 0) job_free(item);
    mailbox_close(c->outcome.inbox);
    actor_join(&c->outcome);
    c->lease_stop = 1;
    actor_join(&c->lease);
    char err[512];
    rqueue_t *rq = rqueue_open(c->opts.cfg->redis_url, c->opts.cfg->redis_prefix, c->name,
                               1000, err, sizeof err);
    if (!rq || rqueue_release_all(rq, c->opts.queue) < 0)
        log_warn("could not return in-flight ids (%s); the reaper will after the lease",
                 rq ? rqueue_error(rq) : err);
    rqueue_close(rq);
    mailbox_free(c->jobs);
    log_info("consumer %s stopped", c->name);
    free(c);
}
