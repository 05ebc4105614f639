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
#define TAKE_BATCH_MAX 32     /* ids taken per round trip, at most */
#define OUTCOME_CAPACITY 256
#define OUTCOME_BATCH_MAX 64  /* outcomes applied per round trip, at most */

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

void consumer_name_prefix(const config_t *cfg, char *out, size_t outlen)
{
    if (cfg->consumer_name[0]) {
        snprintf(out, outlen, "%s", cfg->consumer_name);
        return;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(out, outlen, "%s-", host);
}

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

/* Copies a taken message into a job the workers own. NULL when out of memory. */
static job_t *job_from_msg(const rq_msg_t *msg)
{
    job_t *job = calloc(1, sizeof *job);
    unsigned char *copy = malloc(msg->len ? msg->len : 1);
    if (!job || !copy) {
        free(job);
        free(copy);
        return NULL;
    }
    memcpy(copy, msg->payload, msg->len);
    memcpy(job->id, msg->id, sizeof job->id);
    job->payload = copy;
    job->len = msg->len;
    job->attempts = msg->attempts;
    job->taken_mono_ns = time_mono_ns();
    return job;
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
        /* Take as many as the workers have room for, in one round trip: under
         * load this is what lets one AOF fsync and one PostgreSQL commit cover
         * many images. */
        size_t cap = mailbox_capacity(c->jobs), used = mailbox_size(c->jobs);
        int room = used < cap ? (int)(cap - used) : 1;
        if (room > TAKE_BATCH_MAX) room = TAKE_BATCH_MAX;
        rq_msg_t msgs[TAKE_BATCH_MAX];
        int n = rqueue_take_many(rq, c->opts.queue, room, TAKE_TIMEOUT_MS,
                                 c->opts.cfg->max_attempts, c->opts.taken_stage, msgs);
        if (n < 0) {
            failures = redis_backoff(rq, failures, "take", &c->intake_stop);
            continue;
        }
        failures = 0;
        for (int i = 0; i < n; i++) {
            job_t *job = job_from_msg(&msgs[i]);
            if (!job) {
                /* The id stays in our processing list and comes back through
                 * release or the reaper. Nothing better to do without memory. */
                log_error("id=%s out of memory copying a %zu-byte payload", msgs[i].id,
                          msgs[i].len);
                continue;
            }
            if (job->attempts > 1)
                log_info("id=%s redelivered (delivery %ld of at most %d)", job->id,
                         job->attempts, c->opts.cfg->max_attempts);
            int pushed;
            while ((pushed = mailbox_push(c->jobs, job, 200)) == 1 && !c->intake_stop)
                ;
            if (pushed != 0) {
                /* Stopping while the workers were busy: this id and the rest of
                 * the batch stay in our processing list, returned by release. */
                job_free(job);
                break;
            }
        }
    }
    rqueue_close(rq);
}

static const char *outcome_name(job_outcome_t o)
{
    return o == JOB_FORWARD ? "forward" : o == JOB_ACK ? "ack" : "dead-letter";
}

/* Applies a batch of outcomes in one pipelined round trip, retrying Redis
 * failures until each is recorded. Only at the shutdown deadline does it give
 * up, and then the id stays in our processing list and is returned to the
 * queue by release or the reaper: at-least-once, never lost. */
static void apply_outcomes(consumer_t *c, rqueue_t **rqp, job_t **jobs, int n)
{
    rq_op_t ops[OUTCOME_BATCH_MAX];
    int pending = n;
    for (int i = 0; i < n; i++) {
        job_t *job = jobs[i];
        ops[i] = (rq_op_t){.id = job->id, .result = -1};
        if (job->outcome == JOB_FORWARD) {
            ops[i].kind = RQ_OP_FORWARD;
            ops[i].payload = job->out;
            ops[i].len = job->out_len;
            ops[i].text = c->opts.next_stage;
        } else if (job->outcome == JOB_ACK) {
            ops[i].kind = RQ_OP_ACK;
            ops[i].text = c->opts.done_stage;
        } else {
            ops[i].kind = RQ_OP_DEAD;
            ops[i].text = job->reason;
            log_error("id=%s dead-lettered from %s: %s", job->id, c->opts.queue, job->reason);
        }
    }
    for (int attempt = 0; pending > 0; attempt++) {
        if (!*rqp) *rqp = open_queue(c, NULL);
        if (!*rqp) return;
        /* Retry only what has no result yet, keeping the batch contiguous. */
        rq_op_t todo[OUTCOME_BATCH_MAX];
        int idx[OUTCOME_BATCH_MAX], m = 0;
        for (int i = 0; i < n; i++)
            if (ops[i].result < 0) {
                idx[m] = i;
                todo[m++] = ops[i];
            }
        rqueue_apply(*rqp, c->opts.queue, c->opts.next_queue, todo, m);
        pending = 0;
        for (int j = 0; j < m; j++) {
            rq_op_t *op = &ops[idx[j]];
            op->result = todo[j].result;
            job_t *job = jobs[idx[j]];
            if (op->result == 1) {
                log_debug("id=%s %s done in %.1f ms", job->id, outcome_name(job->outcome),
                          (double)(time_mono_ns() - job->taken_mono_ns) / 1e6);
            } else if (op->result == 0) {
                /* We were presumed dead and our in-flight ids were given to another
                 * consumer: that one owns the id now, so ours must not count. */
                log_warn("id=%s %s skipped: no longer ours (lease expired and reaped)", job->id,
                         outcome_name(job->outcome));
            } else {
                pending++;
            }
        }
        if (!pending) return;
        if (c->give_up_at_ms && time_mono_ms() > c->give_up_at_ms) {
            log_error("%d outcomes not recorded before the shutdown deadline; those ids stay "
                      "in flight and are redelivered", pending);
            return;
        }
        redis_backoff(*rqp, attempt, "recording outcomes", NULL);
    }
}

static void outcome_main(actor_t *self)
{
    consumer_t *c = self->ctx;
    rqueue_t *rq = open_queue(c, NULL);
    void *item;
    /* Runs until its mailbox is closed and drained (consumer_stop). Whatever
     * queued up while the last batch was in flight goes out as the next batch. */
    while (mailbox_pop(self->inbox, &item, -1) == 0) {
        job_t *jobs[OUTCOME_BATCH_MAX];
        int n = 0;
        jobs[n++] = item;
        while (n < OUTCOME_BATCH_MAX && mailbox_pop(self->inbox, &item, 0) == 0) jobs[n++] = item;
        apply_outcomes(c, &rq, jobs, n);
        for (int i = 0; i < n; i++) job_free(jobs[i]);
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
        char prefix[96]; /* "<hostname>-": at most 64 */
        consumer_name_prefix(opts->cfg, prefix, sizeof prefix);
        snprintf(c->name, sizeof c->name, "%s%d", prefix, (int)getpid());
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
