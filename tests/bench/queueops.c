/* queueops.c - what the Redis side of one image costs through shared/rqueue.c,
 * one message per call beside the batches the services make. Run by
 * queueops.py, which starts a private redis-server with deploy/redis.conf
 * (appendfsync always). Not part of `make bench`.
 *
 * Every step runs on one connection, one thread, and makes the calls a
 * service makes (shared/consumer.c):
 *
 *   enqueue       rqueue_enqueue, one message per call (the api: one per upload);
 *   take_render   rqueue_take_many on the render queue (render's intake);
 *   forward       rqueue_apply with RQ_OP_FORWARD ops (render's outcome actor);
 *   take_persist  rqueue_take_many on the persist queue (persist's intake);
 *   ack           rqueue_apply with RQ_OP_ACK ops (persist's outcome actor).
 *
 * Each step is timed with batches of 1 and of k messages per call (the
 * services take up to 32 and apply up to 64 per round trip, as many as have
 * piled up). Every call must succeed and every outcome apply.
 *
 * Usage: queueops REDIS_URL PAYLOAD.jpg [n [k [rounds]]] (300, 16, 5). Prints
 * one line of JSON with microseconds per message for every step, the best of
 * the rounds. The database is flushed before each pass: point it only at a
 * Redis of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "benchutil.h"
#include "rqueue.h"
#include "uuid.h"

#define QO_PREFIX "qo:"
#define QO_CONSUMER "bench-1"
#define QO_KMAX 256
#define QO_MAX_ATTEMPTS 5
#define QO_STEPS 5

typedef struct qo_ctx {
    const char *url;
    redisContext *r; /* FLUSHALL between passes */
    const unsigned char *payload;
    size_t len;
    long n;
    int k;
    char (*ids)[UUID_STR_LEN];
    rq_msg_t *msgs; /* k */
    rq_op_t *ops;   /* k */
} qo_ctx_t;

static int qo_flush(qo_ctx_t *q)
{
    redisReply *r = redisCommand(q->r, "FLUSHALL");
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL) freeReplyObject(r);
    if (!ok) fprintf(stderr, "queueops: FLUSHALL failed\n");
    return ok ? 0 : -1;
}

static double qo_now_us(void) { return bench_clock_ms(CLOCK_MONOTONIC) * 1e3; }

/* Takes the n messages of queue into q->ids, up to batch per call, and checks
 * their payloads. */
static int qo_take(qo_ctx_t *q, rqueue_t *rq, const char *queue, const char *stage, int batch)
{
    for (long done = 0; done < q->n;) {
        int want = q->n - done < batch ? (int)(q->n - done) : batch;
        int got = rqueue_take_many(rq, queue, want, 1000, QO_MAX_ATTEMPTS, stage, q->msgs);
        if (got <= 0) {
            fprintf(stderr, "queueops: take %s: %s\n", queue,
                    got < 0 ? rqueue_error(rq) : "ran dry");
            return -1;
        }
        for (int i = 0; i < got; i++) {
            if (q->msgs[i].len != q->len) {
                fprintf(stderr, "queueops: id=%s: payload of %zu bytes, not %zu\n", q->msgs[i].id,
                        q->msgs[i].len, q->len);
                return -1;
            }
            memcpy(q->ids[done + i], q->msgs[i].id, UUID_STR_LEN);
        }
        done += got;
    }
    return 0;
}

/* Applies `kind` to the n ids of q->ids held on queue, batch per call; each
 * must take effect. */
static int qo_apply(qo_ctx_t *q, rqueue_t *rq, rq_op_kind_t kind, const char *queue,
                    const char *next, const char *stage, int batch)
{
    for (long i = 0; i < q->n; i += batch) {
        int m = q->n - i < batch ? (int)(q->n - i) : batch;
        for (int j = 0; j < m; j++)
            q->ops[j] = (rq_op_t){.kind = kind,
                                  .id = q->ids[i + j],
                                  .payload = kind == RQ_OP_FORWARD ? q->payload : NULL,
                                  .len = kind == RQ_OP_FORWARD ? q->len : 0,
                                  .text = stage,
                                  .result = -1};
        if (rqueue_apply(rq, queue, next, q->ops, m) != 0) {
            fprintf(stderr, "queueops: apply on %s: %s\n", queue, rqueue_error(rq));
            return -1;
        }
        for (int j = 0; j < m; j++)
            if (q->ops[j].result != 0) {
                fprintf(stderr, "queueops: id=%s: outcome on %s not applied (%d)\n", q->ops[j].id,
                        queue, q->ops[j].result);
                return -1;
            }
    }
    return 0;
}

/* One pass of the n messages through both queues, batch messages per call
 * (enqueue always one). us[s] = microseconds per message of step s. */
static int qo_pass(qo_ctx_t *q, int batch, double us[QO_STEPS])
{
    char err[256];
    rqueue_t *rq = rqueue_open(q->url, QO_PREFIX, QO_CONSUMER, 0, NULL, err, sizeof err);
    if (rq == NULL) {
        fprintf(stderr, "queueops: %s\n", err);
        return -1;
    }
    int rc = -1;
    double t[QO_STEPS + 1];
    t[0] = qo_now_us();
    for (long i = 0; i < q->n; i++) {
        struct iovec part = {(void *)q->payload, q->len};
        if (rqueue_enqueue(rq, RQ_QUEUE_RENDER, q->ids[i], &part, 1, NULL) != 0) {
            fprintf(stderr, "queueops: enqueue: %s\n", rqueue_error(rq));
            goto out;
        }
    }
    t[1] = qo_now_us();
    if (qo_take(q, rq, RQ_QUEUE_RENDER, "rendering", batch) != 0) goto out;
    t[2] = qo_now_us();
    if (qo_apply(q, rq, RQ_OP_FORWARD, RQ_QUEUE_RENDER, RQ_QUEUE_PERSIST, "rendered", batch) != 0)
        goto out;
    t[3] = qo_now_us();
    if (qo_take(q, rq, RQ_QUEUE_PERSIST, "persisting", batch) != 0) goto out;
    t[4] = qo_now_us();
    if (qo_apply(q, rq, RQ_OP_ACK, RQ_QUEUE_PERSIST, NULL, "stored", batch) != 0) goto out;
    t[5] = qo_now_us();
    for (int s = 0; s < QO_STEPS; s++) us[s] = (t[s + 1] - t[s]) / (double)q->n;
    rc = 0;
out:
    rqueue_close(rq);
    return rc;
}

/* A positive count from the command line, or -1. */
static long qo_parse_count(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 1 && v <= 10000000 ? v : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s REDIS_URL PAYLOAD [n [k [rounds]]]\n", argv[0]);
        return 2;
    }
    qo_ctx_t q = {.url = argv[1],
                  .n = argc > 3 ? qo_parse_count(argv[3]) : 300,
                  .k = argc > 4 ? (int)qo_parse_count(argv[4]) : 16};
    int rounds = argc > 5 ? (int)qo_parse_count(argv[5]) : 5;
    if (q.n < 1 || q.k < 1 || q.k > QO_KMAX || rounds < 1) {
        fprintf(stderr, "queueops: n >= 1, 1 <= k <= %d, rounds >= 1\n", QO_KMAX);
        return 2;
    }
    rq_url_t u;
    char err[256];
    if (rq_url_parse(argv[1], &u, err, sizeof err) != 0 || u.path[0] != '\0') {
        fprintf(stderr, "queueops: %s: TCP redis:// URL wanted\n", argv[1]);
        return 2;
    }
    int rc = 1;
    unsigned char *payload = bench_read_file("queueops", argv[2], &q.len);
    q.payload = payload;
    q.ids = calloc((size_t)q.n, sizeof *q.ids);
    q.msgs = calloc((size_t)q.k, sizeof *q.msgs);
    q.ops = calloc((size_t)q.k, sizeof *q.ops);
    q.r = redisConnect(u.host, u.port);
    if (payload == NULL || q.ids == NULL || q.msgs == NULL || q.ops == NULL || q.r == NULL ||
        q.r->err) {
        fprintf(stderr, "queueops: setup failed%s%s\n", q.r != NULL ? ": " : "",
                q.r != NULL ? q.r->errstr : "");
        goto out;
    }
    /* Rounds alternate the two batch sizes so that both see the same disk;
     * each step keeps its best round (fsync times swing with other writers). */
    const int batches[2] = {1, q.k};
    double best[2][QO_STEPS], us[QO_STEPS];
    for (int b = 0; b < 2; b++)
        for (int s = 0; s < QO_STEPS; s++) best[b][s] = 1e30;
    for (int round = 0; round < rounds; round++)
        for (int b = 0; b < 2; b++) {
            for (long i = 0; i < q.n; i++)
                uuid_v7_make((uint64_t)time(NULL) * 1000 + (uint64_t)i, q.ids[i]);
            if (qo_flush(&q) != 0 || qo_pass(&q, batches[b], us) != 0) goto out;
            for (int s = 0; s < QO_STEPS; s++)
                if (us[s] < best[b][s]) best[b][s] = us[s];
        }
    static const char *names[QO_STEPS] = {"enqueue", "take_render", "forward", "take_persist",
                                          "ack"};
    printf("{\"n\":%ld,\"k\":%d,\"rounds\":%d,\"payload_bytes\":%zu,\"us_per_message\":{", q.n, q.k,
           rounds, q.len);
    for (int s = 0; s < QO_STEPS; s++)
        printf("%s\"%s\":{\"batch_1\":%.1f,\"batch_k\":%.1f}", s ? "," : "", names[s], best[0][s],
               best[1][s]);
    printf("}}\n");
    rc = 0;
out:
    if (q.r != NULL) redisFree(q.r);
    free(q.ops);
    free(q.msgs);
    free(q.ids);
    free(payload);
    return rc;
}
