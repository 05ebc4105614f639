/* queueops.c - what the Redis side of one image costs, and what batching would
 * save. Run by queueops.py, which starts a private redis-server with
 * deploy/redis.conf (appendfsync always). Not part of `make bench`.
 *
 * Every step runs on one connection, one thread, as a consumer actor does:
 *
 *   current  - shared/rqueue.c as the services use it, one message per round
 *              trip: rqueue_enqueue (api), rqueue_take + rqueue_forward
 *              (render), rqueue_take + rqueue_ack (persist);
 *   batched  - the same keys and effects with K messages per round trip and no
 *              payload inside Lua: enqueue as MULTI/SET/LPUSH/HSET/EXPIRE/EXEC +
 *              PUBLISH; take = one script moving up to K ids (LMOVE, attempts,
 *              status) + K pipelined GETs; forward = K pipelined (SET staging
 *              key, script: if LREM then RENAME staging -> msg:persist:<id>,
 *              LPUSH, DEL, HDEL, status, else DEL staging); ack = K pipelined
 *              ack scripts.
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

/* Same status/event helper as shared/rqueue.c, so both sides do equal work. */
#define QO_PRELUDE                                                                        \
    "local P = ARGV[1]\n"                                                                 \
    "local t = redis.call('TIME')\n"                                                      \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"             \
    "local function status(id, stage)\n"                                                  \
    "  local k = P .. 'status:' .. id\n"                                                  \
    "  redis.call('HSET', k, 'stage', stage, 'updated_at', now, 'error', '')\n"           \
    "  redis.call('EXPIRE', k, 604800)\n"                                                 \
    "  redis.call('PUBLISH', P .. 'events', '{\"id\":\"' .. id .. '\",\"status\":\"' .. " \
    "stage .. '\",\"at\":' .. string.format('%d', now) .. '}')\n"                         \
    "end\n"

/* ARGV prefix, queue, consumer, k, stage -> ids moved to processing */
static const char QO_TAKE_BATCH[] = QO_PRELUDE
    "local q, c = ARGV[2], ARGV[3]\n"
    "local src, proc = P .. 'q:' .. q, P .. 'q:' .. q .. ':processing:' .. c\n"
    "local ids = {}\n"
    "for i = 1, tonumber(ARGV[4]) do\n"
    "  local id = redis.call('LMOVE', src, proc, 'RIGHT', 'LEFT')\n"
    "  if not id then break end\n"
    "  redis.call('HINCRBY', P .. 'attempts:' .. q, id, 1)\n"
    "  status(id, ARGV[5])\n"
    "  ids[#ids + 1] = id\n"
    "end\n"
    "return ids\n";

/* ARGV prefix, from, consumer, id, to, staging key, stage */
static const char QO_FORWARD_RENAME[] = QO_PRELUDE
    "local from, c, id, to = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "if redis.call('LREM', P .. 'q:' .. from .. ':processing:' .. c, 1, id) == 0 then\n"
    "  redis.call('DEL', ARGV[6])\n"
    "  return 0\n"
    "end\n"
    "redis.call('RENAME', ARGV[6], P .. 'msg:' .. to .. ':' .. id)\n"
    "redis.call('LPUSH', P .. 'q:' .. to, id)\n"
    "redis.call('DEL', P .. 'msg:' .. from .. ':' .. id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. from, id)\n"
    "status(id, ARGV[7])\n"
    "return 1\n";

/* ARGV prefix, queue, consumer, id, stage */
static const char QO_ACK[] = QO_PRELUDE
    "local q, c, id = ARGV[2], ARGV[3], ARGV[4]\n"
    "if redis.call('LREM', P .. 'q:' .. q .. ':processing:' .. c, 1, id) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', P .. 'msg:' .. q .. ':' .. id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. q, id)\n"
    "status(id, ARGV[5])\n"
    "return 1\n";

typedef struct qo_ctx {
    redisContext *r;
    char sha_take[41], sha_fwd[41], sha_ack[41];
    const unsigned char *payload;
    size_t len;
    long n;
    int k;
    char (*ids)[UUID_STR_LEN];
} qo_ctx_t;

/* Reads one pipelined reply; -1 (reported) on an I/O error or an error reply. */
static int qo_reply(qo_ctx_t *q, redisReply **out)
{
    redisReply *r = NULL;
    if (redisGetReply(q->r, (void **)&r) != REDIS_OK || !r) {
        fprintf(stderr, "queueops: redis: %s\n", q->r->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "queueops: redis error: %s\n", r->str);
        freeReplyObject(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        freeReplyObject(r);
    return 0;
}

static int qo_load(qo_ctx_t *q, const char *body, char sha[41])
{
    redisReply *r = redisCommand(q->r, "SCRIPT LOAD %s", body);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        fprintf(stderr, "queueops: SCRIPT LOAD failed\n");
        if (r) freeReplyObject(r);
        return -1;
    }
    memcpy(sha, r->str, 41);
    freeReplyObject(r);
    return 0;
}

static int qo_flush(qo_ctx_t *q)
{
    redisReply *r = redisCommand(q->r, "FLUSHALL");
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* ---- current: shared/rqueue.c ---- */

static int qo_current(qo_ctx_t *q, const char *url, double us[5])
{
    char err[256];
    rqueue_t *rq = rqueue_open(url, QO_PREFIX, QO_CONSUMER, 0, err, sizeof err);
    if (!rq) {
        fprintf(stderr, "queueops: %s\n", err);
        return -1;
    }
    int rc = -1;
    double t0 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i++)
        if (rqueue_enqueue(rq, RQ_QUEUE_RENDER, q->ids[i], q->payload, q->len) != 0) goto out;
    double t1 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i++) {
        rq_msg_t m;
        if (rqueue_take(rq, RQ_QUEUE_RENDER, 1000, 5, "rendering", &m) != 1) goto out;
        memcpy(q->ids[i], m.id, UUID_STR_LEN);
    }
    double t2 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i++)
        if (rqueue_forward(rq, RQ_QUEUE_RENDER, q->ids[i], RQ_QUEUE_PERSIST, q->payload, q->len,
                           "rendered") != 1)
            goto out;
    double t3 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i++) {
        rq_msg_t m;
        if (rqueue_take(rq, RQ_QUEUE_PERSIST, 1000, 5, "persisting", &m) != 1) goto out;
        memcpy(q->ids[i], m.id, UUID_STR_LEN);
    }
    double t4 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i++)
        if (rqueue_ack(rq, RQ_QUEUE_PERSIST, q->ids[i], "stored") != 1) goto out;
    double t5 = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    double ts[6] = {t0, t1, t2, t3, t4, t5};
    for (int s = 0; s < 5; s++) us[s] = (ts[s + 1] - ts[s]) / (double)q->n;
    rc = 0;
out:
    if (rc != 0) fprintf(stderr, "queueops: current: %s\n", rqueue_error(rq));
    rqueue_close(rq);
    return rc;
}

/* ---- batched ---- */

static int qo_enqueue_multi(qo_ctx_t *q, long from, long to)
{
    for (long i = from; i < to; i++) {
        char msg[128], st[128];
        snprintf(msg, sizeof msg, QO_PREFIX "msg:render:%s", q->ids[i]);
        snprintf(st, sizeof st, QO_PREFIX "status:%s", q->ids[i]);
        redisAppendCommand(q->r, "MULTI");
        redisAppendCommand(q->r, "SET %s %b", msg, q->payload, q->len);
        redisAppendCommand(q->r, "LPUSH " QO_PREFIX "q:render %s", q->ids[i]);
        redisAppendCommand(q->r, "HSET %s stage queued error %s", st, "");
        redisAppendCommand(q->r, "EXPIRE %s 604800", st);
        redisAppendCommand(q->r, "EXEC");
        redisAppendCommand(
            q->r, "PUBLISH " QO_PREFIX "events {\"id\":\"%s\",\"status\":\"queued\"}", q->ids[i]);
    }
    for (long i = from; i < to; i++)
        for (int c = 0; c < 7; c++)
            if (qo_reply(q, NULL) != 0) return -1;
    return 0;
}

/* Takes up to k ids of queue into ids[base..]; *got = how many. The payloads
 * follow in a second round trip of pipelined GETs, outside Lua. */
static int qo_take_batch(qo_ctx_t *q, const char *queue, const char *stage, long base, int k,
                         int *got)
{
    redisReply *r;
    char ks[16];
    snprintf(ks, sizeof ks, "%d", k);
    r = redisCommand(q->r, "EVALSHA %s 0 " QO_PREFIX " %s " QO_CONSUMER " %s %s", q->sha_take,
                     queue, ks, stage);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "queueops: take batch: %s\n", r && r->str ? r->str : q->r->errstr);
        if (r) freeReplyObject(r);
        return -1;
    }
    *got = (int)r->elements;
    for (size_t i = 0; i < r->elements; i++) {
        snprintf(q->ids[base + (long)i], UUID_STR_LEN, "%s", r->element[i]->str);
        redisAppendCommand(q->r, "GET " QO_PREFIX "msg:%s:%s", queue, r->element[i]->str);
    }
    freeReplyObject(r);
    for (int i = 0; i < *got; i++) {
        redisReply *g;
        if (qo_reply(q, &g) != 0) return -1;
        int ok = g->type == REDIS_REPLY_STRING && (size_t)g->len == q->len;
        freeReplyObject(g);
        if (!ok) {
            fprintf(stderr, "queueops: payload missing\n");
            return -1;
        }
    }
    return 0;
}

static int qo_forward_batch(qo_ctx_t *q, long from, long to)
{
    for (long i = from; i < to; i++) {
        char staging[128];
        snprintf(staging, sizeof staging, QO_PREFIX "out:" QO_CONSUMER ":%s", q->ids[i]);
        redisAppendCommand(q->r, "SET %s %b", staging, q->payload, q->len);
        redisAppendCommand(q->r,
                           "EVALSHA %s 0 " QO_PREFIX " render " QO_CONSUMER " %s persist %s "
                           "rendered",
                           q->sha_fwd, q->ids[i], staging);
    }
    for (long i = from; i < to; i++) {
        redisReply *r;
        if (qo_reply(q, NULL) != 0 || qo_reply(q, &r) != 0) return -1;
        int ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        if (!ok) {
            fprintf(stderr, "queueops: forward refused\n");
            return -1;
        }
    }
    return 0;
}

static int qo_ack_batch(qo_ctx_t *q, long from, long to)
{
    for (long i = from; i < to; i++)
        redisAppendCommand(q->r, "EVALSHA %s 0 " QO_PREFIX " persist " QO_CONSUMER " %s stored",
                           q->sha_ack, q->ids[i]);
    for (long i = from; i < to; i++)
        if (qo_reply(q, NULL) != 0) return -1;
    return 0;
}

static int qo_batched(qo_ctx_t *q, double us[5])
{
    double t[6];
    t[0] = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    for (long i = 0; i < q->n; i += q->k)
        if (qo_enqueue_multi(q, i, i + q->k < q->n ? i + q->k : q->n) != 0) return -1;
    t[1] = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    const char *queues[2] = {"render", "persist"}, *stages[2] = {"rendering", "persisting"};
    for (int stage = 0; stage < 2; stage++) {
        long done = 0;
        while (done < q->n) {
            int got;
            if (qo_take_batch(q, queues[stage], stages[stage], done, q->k, &got) != 0) return -1;
            if (got == 0) {
                fprintf(stderr, "queueops: queue %s ran dry at %ld\n", queues[stage], done);
                return -1;
            }
            done += got;
        }
        t[2 + 2 * stage] = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
        for (long i = 0; i < q->n; i += q->k) {
            long end = i + q->k < q->n ? i + q->k : q->n;
            if ((stage == 0 ? qo_forward_batch(q, i, end) : qo_ack_batch(q, i, end)) != 0)
                return -1;
        }
        t[3 + 2 * stage] = (bench_clock_ms(CLOCK_MONOTONIC) * 1e3);
    }
    for (int s = 0; s < 5; s++) us[s] = (t[s + 1] - t[s]) / (double)q->n;
    return 0;
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
    qo_ctx_t q = {.n = argc > 3 ? qo_parse_count(argv[3]) : 300,
                  .k = argc > 4 ? (int)qo_parse_count(argv[4]) : 16};
    int rounds = argc > 5 ? (int)qo_parse_count(argv[5]) : 5;
    if (q.n < 1 || q.k < 1 || q.k > QO_KMAX || rounds < 1) {
        fprintf(stderr, "queueops: n >= 1, 1 <= k <= %d, rounds >= 1\n", QO_KMAX);
        return 2;
    }
    rq_url_t u;
    char err[256];
    if (rqueue_parse_url(argv[1], &u, err, sizeof err) != 0 || u.path[0]) {
        fprintf(stderr, "queueops: %s: TCP redis:// URL wanted\n", argv[1]);
        return 2;
    }
    int rc = 1;
    unsigned char *payload = bench_read_file("queueops", argv[2], &q.len);
    q.payload = payload;
    q.ids = calloc((size_t)q.n, sizeof *q.ids);
    q.r = redisConnect(u.host, u.port);
    if (!payload || !q.ids || !q.r || q.r->err) {
        fprintf(stderr, "queueops: setup failed%s%s\n", q.r ? ": " : "", q.r ? q.r->errstr : "");
        goto out;
    }
    if (qo_load(&q, QO_TAKE_BATCH, q.sha_take) || qo_load(&q, QO_FORWARD_RENAME, q.sha_fwd) ||
        qo_load(&q, QO_ACK, q.sha_ack))
        goto out;
    /* Rounds alternate the two ways so that both see the same disk; each step
     * keeps its best round (fsync times swing with other writers). */
    double cur[5], bat[5], c1[5], b1[5];
    for (int s = 0; s < 5; s++) cur[s] = bat[s] = 1e30;
    for (int round = 0; round < rounds; round++) {
        for (long i = 0; i < q.n; i++)
            uuid_v7_make((uint64_t)time(NULL) * 1000 + (uint64_t)i, q.ids[i]);
        if (qo_flush(&q) || qo_current(&q, argv[1], c1) != 0) goto out;
        for (long i = 0; i < q.n; i++)
            uuid_v7_make((uint64_t)time(NULL) * 1000 + (uint64_t)i, q.ids[i]);
        if (qo_flush(&q) || qo_batched(&q, b1) != 0) goto out;
        for (int s = 0; s < 5; s++) {
            cur[s] = c1[s] < cur[s] ? c1[s] : cur[s];
            bat[s] = b1[s] < bat[s] ? b1[s] : bat[s];
        }
    }
    static const char *names[5] = {"enqueue", "take_render", "forward", "take_persist", "ack"};
    printf("{\"n\":%ld,\"k\":%d,\"rounds\":%d,\"payload_bytes\":%zu,\"us_per_message\":{", q.n, q.k,
           rounds, q.len);
    for (int s = 0; s < 5; s++)
        printf("%s\"%s\":{\"current\":%.1f,\"batched\":%.1f}", s ? "," : "", names[s], cur[s],
               bat[s]);
    printf("}}\n");
    rc = 0;
out:
    if (q.r) redisFree(q.r);
    free(q.ids);
    free(payload);
    return rc;
}
