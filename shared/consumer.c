/* consumer.c - intake, outcome and lease actors of a queue consumer service. */
#include "consumer.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "actor.h"
#include "consumer_ident.h"
#include "log.h"
#include "rqueue.h"
#include "timeutil.h"

#define TAKE_TIMEOUT_MS 1000
#define TAKE_BATCH_MAX 32 /* ids taken per round trip, at most */
#define OUTCOME_CAPACITY 256
/* Outcomes applied per round trip, at most: rqueue_apply's batch size. */
#define OUTCOME_BATCH_MAX RQ_APPLY_BATCH_MAX

_Static_assert(CONSUMER_NAME_MAX <= RQ_CONSUMER_MAX, "a consumer name must fit an rqueue");
_Static_assert(OUTCOME_BATCH_MAX <= RQ_APPLY_BATCH_MAX,
               "a batch of outcomes must fit rqueue_apply's reply buffer on the stack");

struct consumer {
    consumer_opts_t opts;
    consumer_ident_t ident;
    char hostname[HOST_NAME_MAX + 1];
    char name[CONSUMER_NAME_MAX];
    mailbox_t *jobs; /* intake -> workers */
    actor_t intake, outcome, lease;
    stop_flag_t intake_stop;
    stop_flag_t lease_stop;
    _Atomic uint64_t give_up_at_ms; /* monotonic; 0 until shutdown starts */
};

void consumer_job_free(consumer_job_t *job)
{
    if (job == NULL) return;
    free(job->payload);
    free(job->out);
    free(job);
}

mailbox_t *consumer_jobs(consumer_t *c) { return c->jobs; }
const char *consumer_name(const consumer_t *c) { return c->name; }

/* The hostname, or "" when it cannot be had (then no predecessor is presumed
 * dead for being an earlier start of this container). */
static void get_hostname(char *out, size_t outlen)
{
    if (gethostname(out, outlen - 1) != 0) {
        log_warn("gethostname: %s", strerror(errno));
        out[0] = '\0';
    }
    out[outlen - 1] = '\0';
}

/* The base of this host's consumer names: CONSUMER_NAME, else the hostname. */
static void name_base(const config_t *cfg, const char *hostname, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s",
             cfg->consumer_name[0] ? cfg->consumer_name
             : hostname[0]         ? hostname
                                   : "consumer");
}

/* Hash of the kernel's boot id, 0 when unknown. */
static uint32_t boot_tag(void)
{
    char id[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f == NULL) return 0;
    int ok = fgets(id, sizeof id, f) != NULL;
    fclose(f);
    if (!ok) return 0;
    id[strcspn(id, "\n")] = '\0';
    uint32_t h = consumer_ident_hash(id);
    return h ? h : 1; /* 0 means unknown */
}

/* Inode of our pid namespace ("pid:[4026531836]"), 0 when unknown. */
static uint32_t pidns_tag(void)
{
    char link[64];
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    if (n <= 0) return 0;
    link[n] = '\0';
    if (strncmp(link, "pid:[", 5) != 0) return 0;
    char *end;
    errno = 0;
    unsigned long long ino = strtoull(link + 5, &end, 10);
    if (errno || end == link + 5 || strcmp(end, "]") != 0 || ino == 0 || ino > UINT32_MAX) return 0;
    return (uint32_t)ino;
}

/* Reads who this process is. The nonce makes the name unique per incarnation
 * even when everything else repeats (a container restarted with the same
 * hostname, pid, and a pid namespace inode the kernel reused). */
static void self_ident(consumer_t *c)
{
    get_hostname(c->hostname, sizeof c->hostname);
    name_base(c->opts.cfg, c->hostname, c->ident.base, sizeof c->ident.base);
    c->ident.pid = (long)getpid();
    c->ident.boot = boot_tag();
    c->ident.pidns = pidns_tag();
    if (getrandom(&c->ident.nonce, sizeof c->ident.nonce, GRND_NONBLOCK) !=
        (ssize_t)sizeof c->ident.nonce) {
        /* No entropy this early: the clock still differs between incarnations. */
        c->ident.nonce = (uint32_t)(time_mono_ns() ^ time_now_ms() ^ (uint64_t)getpid());
    }
}

/* kill(pid, 0) sends nothing, it only asks. A pid no process can have (a
 * name forged in Redis) counts as running: then the lease decides. */
static int pid_running(long pid, void *arg)
{
    (void)arg;
    if (pid <= 0 || pid > INT_MAX) return 1;
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

typedef struct reclaim_ctx {
    consumer_t *c;
    rqueue_t *rq;
} reclaim_ctx_t;

static int reclaim_if_dead(const char *name, void *arg)
{
    reclaim_ctx_t *rc = arg;
    consumer_ident_t other;
    if (consumer_ident_parse(name, &other) < 0) return 0;
    const char *why = consumer_ident_predecessor_dead(&rc->c->ident, rc->c->hostname, &other,
                                                      pid_running, NULL);
    if (why == NULL) return 0;
    long n = rqueue_reclaim(rc->rq, rc->c->opts.queue, name);
    if (n < 0)
        log_warn("could not reclaim the in-flight ids of %s (%s); the reaper will after the lease",
                 name, rqueue_error(rc->rq));
    else if (n > 0)
        log_warn("reclaimed %ld in-flight ids of %s to queue %s: a dead predecessor (%s)", n, name,
                 rc->c->opts.queue, why);
    else
        log_info("forgot %s, a dead predecessor holding nothing (%s)", name, why);
    return 0;
}

/* At start, returns at once the work of consumers that are surely dead (see
 * consumer_ident_predecessor_dead) instead of after their lease; the others
 * are left to the reaper. Our first heartbeat is written here, before intake
 * starts: a process killed before the lease actor's first beat would leave a
 * processing list that no heartbeat names, which the reaper never finds. */
static void reclaim_predecessors(consumer_t *c, rqueue_t *rq)
{
    if (rqueue_heartbeat(rq, c->opts.queue) < 0) {
        log_warn("first heartbeat failed: %s; dead predecessors are left to the reaper",
                 rqueue_error(rq));
        return;
    }
    reclaim_ctx_t rc = {c, rq};
    if (rqueue_consumers(rq, c->opts.queue, -1, reclaim_if_dead, &rc) < 0)
        log_warn("listing consumers failed: %s; dead predecessors are left to the reaper",
                 rqueue_error(rq));
}

static int match_base(const char *name, void *arg) { return consumer_ident_has_base(name, arg); }

int consumer_check(const config_t *cfg, const char *queue, char *err, size_t errlen)
{
    rqueue_t *rq = rqueue_open(cfg->redis_url, cfg->redis_prefix, NULL, 2000,
                               &actor_shutdown_requested, err, errlen);
    if (rq == NULL) return -1;
    char hostname[HOST_NAME_MAX + 1], base[CONSUMER_BASE_MAX];
    get_hostname(hostname, sizeof hostname);
    name_base(cfg, hostname, base, sizeof base);
    /* Any incarnation of exactly our base with a fresh heartbeat: inside a
     * container, that is the service next to us. */
    int rc = rqueue_consumers(rq, queue, (long)cfg->lease_seconds * 1000, match_base, base);
    if (rc < 0) snprintf(err, errlen, "%s", rqueue_error(rq));
    rqueue_close(rq);
    return rc < 0 ? -1 : rc != 0 ? CONSUMER_LIVE : CONSUMER_NONE;
}

int consumer_check_main(const config_t *cfg, const char *service, const char *queue)
{
    log_open(service, NULL, LOG_WARN);
    char err[512];
    int live = consumer_check(cfg, queue, err, sizeof err);
    if (live < 0)
        fprintf(stderr, "imgcap-%s --check: redis: %s\n", service, err);
    else if (live == CONSUMER_NONE)
        fprintf(stderr, "imgcap-%s --check: no live %s consumer on this host\n", service, service);
    return live == CONSUMER_LIVE ? 0 : 1;
}

/* Opens this actor's own Redis connection, waiting (with backoff, logged)
 * until Redis answers or stop is set. */
static rqueue_t *open_queue(const consumer_t *c, stop_flag_t *stop)
{
    char err[512];
    for (int attempt = 0;; attempt++) {
        rqueue_t *rq = rqueue_open(c->opts.cfg->redis_url, c->opts.cfg->redis_prefix, c->name, 0,
                                   stop, err, sizeof err);
        if (rq != NULL) return rq;
        if ((stop != NULL && atomic_load(stop)) || atomic_load(&actor_shutdown_requested))
            return NULL;
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
    if (c->opts.next_queue == NULL) return 0;
    long long n = rqueue_waiting(rq, c->opts.next_queue);
    return n >= c->opts.cfg->queue_max_depth;
}

/* Copies a taken message into a job the workers own. NULL when out of memory. */
static consumer_job_t *job_from_msg(const rq_msg_t *msg)
{
    consumer_job_t *job = calloc(1, sizeof *job);
    unsigned char *copy = malloc(msg->len ? msg->len : 1);
    if (job == NULL || copy == NULL) {
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
    while (rq != NULL && !atomic_load(&c->intake_stop)) {
        uint64_t now = time_mono_ms();
        if (c->opts.next_queue != NULL && now - last_depth_check >= 200) {
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
            consumer_job_t *job = job_from_msg(&msgs[i]);
            if (job == NULL) {
                /* The id stays in our processing list and comes back through
                 * release or the reaper. Nothing better to do without memory. */
                log_error("id=%s out of memory copying a %zu-byte payload", msgs[i].id,
                          msgs[i].len);
                continue;
            }
            if (job->attempts > 1)
                log_info("id=%s redelivered (delivery %ld of at most %d)", job->id, job->attempts,
                         c->opts.cfg->max_attempts);
            mailbox_rc_t pushed;
            while ((pushed = mailbox_push(c->jobs, job, 200)) == MAILBOX_TIMEOUT &&
                   !atomic_load(&c->intake_stop))
                ;
            if (pushed != MAILBOX_OK) {
                /* Stopping while the workers were busy: this id and the rest of
                 * the batch stay in our processing list, returned by release. */
                consumer_job_free(job);
                break;
            }
        }
    }
    rqueue_close(rq);
}

static const char *outcome_name(consumer_outcome_t o)
{
    return o == CONSUMER_JOB_FORWARD ? "forward" : o == CONSUMER_JOB_ACK ? "ack" : "dead-letter";
}

/* Applies a batch of outcomes in one pipelined round trip, retrying Redis
 * failures until each is recorded. Only at the shutdown deadline does it give
 * up, and then the id stays in our processing list and is returned to the
 * queue by release or the reaper: at-least-once, never lost. */
static void apply_outcomes(consumer_t *c, rqueue_t **rqp, consumer_job_t **jobs, int n)
{
    rq_op_t ops[OUTCOME_BATCH_MAX];
    int pending = n;
    for (int i = 0; i < n; i++) {
        consumer_job_t *job = jobs[i];
        ops[i] = (rq_op_t){.id = job->id, .result = -1};
        if (job->outcome == CONSUMER_JOB_FORWARD) {
            ops[i].kind = RQ_OP_FORWARD;
            ops[i].payload = job->out;
            ops[i].len = job->out_len;
            ops[i].text = c->opts.next_stage;
        } else if (job->outcome == CONSUMER_JOB_ACK) {
            ops[i].kind = RQ_OP_ACK;
            ops[i].text = job->ack_stage != NULL ? job->ack_stage : c->opts.done_stage;
        } else {
            ops[i].kind = RQ_OP_DEAD;
            ops[i].text = job->reason;
            /* The one line per dead letter: the workers leave it to here. */
            log_warn("id=%s dead-lettered from %s: %s", job->id, c->opts.queue, job->reason);
        }
    }
    for (int attempt = 0; pending > 0; attempt++) {
        if (*rqp == NULL) *rqp = open_queue(c, NULL);
        if (*rqp == NULL) return;
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
            consumer_job_t *job = jobs[idx[j]];
            if (op->result == 0) {
                log_debug("id=%s %s done in %.1f ms", job->id, outcome_name(job->outcome),
                          (double)(time_mono_ns() - job->taken_mono_ns) / 1e6);
            } else if (op->result == RQ_NOT_OURS) {
                /* We were presumed dead and our in-flight ids were given to another
                 * consumer: that one owns the id now, so ours must not count. */
                log_warn("id=%s %s skipped: no longer ours (lease expired and reaped)", job->id,
                         outcome_name(job->outcome));
            } else {
                pending++;
            }
        }
        if (!pending) return;
        uint64_t give_up_at_ms = atomic_load(&c->give_up_at_ms);
        if (give_up_at_ms != 0 && time_mono_ms() > give_up_at_ms) {
            log_error("%d outcomes not recorded before the shutdown deadline; those ids stay "
                      "in flight and are redelivered",
                      pending);
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
    while (mailbox_pop(self->inbox, &item, -1) == MAILBOX_OK) {
        consumer_job_t *jobs[OUTCOME_BATCH_MAX];
        int n = 0;
        jobs[n++] = item;
        while (n < OUTCOME_BATCH_MAX && mailbox_pop(self->inbox, &item, 0) == MAILBOX_OK)
            jobs[n++] = item;
        apply_outcomes(c, &rq, jobs, n);
        for (int i = 0; i < n; i++) consumer_job_free(jobs[i]);
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
    while (rq != NULL && !atomic_load(&c->lease_stop)) {
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
                log_warn("reaper returned %ld in-flight ids of silent consumers to queue %s", moved,
                         c->opts.queue);
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
    if (c == NULL) {
        log_error("out of memory");
        return NULL;
    }
    c->opts = *opts;
    self_ident(c);
    if (consumer_ident_format(&c->ident, c->name, sizeof c->name) < 0) {
        log_error("cannot make a consumer name of base '%s'", c->ident.base);
        free(c);
        return NULL;
    }
    c->jobs = mailbox_new(opts->jobs_capacity ? opts->jobs_capacity : 1);
    if (c->jobs == NULL) {
        log_error("out of memory");
        free(c);
        return NULL;
    }
    /* Wait for Redis once here so the service logs a clear start-up state. */
    rqueue_t *probe = open_queue(c, NULL);
    if (probe == NULL) {
        mailbox_free(c->jobs);
        free(c);
        return NULL;
    }
    reclaim_predecessors(c, probe);
    rqueue_close(probe);
    log_info("consumer %s of queue %s started", c->name, opts->queue);
    /* Lease first: the heartbeat must exist before we hold anything. */
    if (actor_start(&c->lease, "lease", 0, lease_main, c) < 0 ||
        actor_start(&c->outcome, "outcome", OUTCOME_CAPACITY, outcome_main, c) < 0 ||
        actor_start(&c->intake, "intake", 0, intake_main, c) < 0) {
        atomic_store(&c->intake_stop, 1);
        atomic_store(&c->lease_stop, 1);
        if (c->outcome.inbox != NULL) mailbox_close(c->outcome.inbox);
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

void consumer_finish(consumer_t *c, consumer_job_t *job)
{
    if (mailbox_push(c->outcome.inbox, job, -1) != MAILBOX_OK) {
        log_error("id=%s outcome dropped during shutdown; it stays in flight and is redelivered",
                  job->id);
        consumer_job_free(job);
    }
}

void consumer_close_intake(consumer_t *c)
{
    atomic_store(&c->give_up_at_ms,
                 time_mono_ms() + (uint64_t)c->opts.cfg->shutdown_seconds * 1000);
    atomic_store(&c->intake_stop, 1);
    actor_join(&c->intake);
    mailbox_close(c->jobs);
}

void consumer_stop(consumer_t *c)
{
    if (c == NULL) return;
    if (!atomic_load(&c->intake_stop)) consumer_close_intake(c);
    /* Jobs nobody popped (workers already gone) go back to Redis via release. */
    void *item;
    while (mailbox_pop(c->jobs, &item, 0) == MAILBOX_OK) consumer_job_free(item);
    mailbox_close(c->outcome.inbox);
    actor_join(&c->outcome);
    atomic_store(&c->lease_stop, 1);
    actor_join(&c->lease);
    char err[512];
    rqueue_t *rq = rqueue_open(c->opts.cfg->redis_url, c->opts.cfg->redis_prefix, c->name, 1000,
                               &actor_shutdown_requested, err, sizeof err);
    if (rq == NULL || rqueue_release_all(rq, c->opts.queue) < 0)
        log_warn("could not return in-flight ids (%s); the reaper will after the lease",
                 rq != NULL ? rqueue_error(rq) : err);
    rqueue_close(rq);
    mailbox_free(c->jobs);
    log_info("consumer %s stopped", c->name);
    free(c);
}
