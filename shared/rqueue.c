/* rqueue.c - reliable queues on Redis lists, see rqueue.h and design section 4.
 *
 * Every state change that touches more than one key is a Lua script, so it is
 * atomic even when the client dies between commands: a crash can leave an id
 * in a processing list (the reaper returns it), never half-moved. Scripts are
 * called with EVALSHA and loaded again after NOSCRIPT (a restarted Redis). */
#include "rqueue.h"

#include <errno.h>
#include <hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"
#include "log.h"
#include "timeutil.h"

#define RQ_SOCKET_TIMEOUT_MS 10000

struct rqueue {
    redisContext *ctx;
    redisReply *last;        /* reply kept for rq_msg_t.payload */
    rq_url_t url;
    char prefix[64];
    char consumer[128];
    char err[512];
    int subscribed;
};

/* ---- URL ---- */

int rqueue_parse_url(const char *url, rq_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!strncmp(url, "unix://", 7)) {
        const char *path = url + 7;
        if (*path != '/' || strlen(path) >= sizeof out->path) {
            snprintf(err, errlen, "REDIS_URL: unix:// needs an absolute socket path");
            return -1;
        }
        snprintf(out->path, sizeof out->path, "%s", path);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL: '%s' must start with redis:// or unix://", url);
        return -1;
    }
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t len = (size_t)(at - pw);
        if (len >= sizeof out->password) {
            snprintf(err, errlen, "REDIS_URL: password too long");
            return -1;
        }
        memcpy(out->password, pw, len);
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof out->host) {
        snprintf(err, errlen, "REDIS_URL: missing or too long host in '%s'", url);
        return -1;
    }
    memcpy(out->host, p, hlen);
    p += hlen;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "REDIS_URL: bad port in '%s'", url);
            return -1;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000) {
            snprintf(err, errlen, "REDIS_URL: bad database number in '%s'", url);
            return -1;
        }
        out->db = (int)db;
    }
    return 0;
}

/* ---- connection ---- */

static void set_err(rqueue_t *rq, const char *fmt, const char *detail)
{
    snprintf(rq->err, sizeof rq->err, fmt, detail);
}

static void drop_connection(rqueue_t *rq)
{
    if (rq->last) {
        freeReplyObject(rq->last);
        rq->last = NULL;
    }
    if (rq->ctx) redisFree(rq->ctx);
    rq->ctx = NULL;
    rq->subscribed = 0;
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static int connect_once(rqueue_t *rq)
{
    struct timeval tv = tv_ms(2000);
    redisContext *c = rq->url.path[0] ? redisConnectUnixWithTimeout(rq->url.path, tv)
                                      : redisConnectWithTimeout(rq->url.host, rq->url.port, tv);
    if (!c || c->err) {
        set_err(rq, "cannot connect to Redis: %s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv_ms(RQ_SOCKET_TIMEOUT_MS));
    if (!rq->url.path[0]) redisEnableKeepAlive(c);
    rq->ctx = c;
    redisReply *r;
    if (rq->url.password[0]) {
        r = redisCommand(c, "AUTH %s", rq->url.password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            set_err(rq, "Redis AUTH failed: %s", r ? r->str : c->errstr);
            if (r) freeReplyObject(r);
            drop_connection(rq);
            return -1;
        }
        freeReplyObject(r);
    }
    if (rq->url.db) {
        r = redisCommand(c, "SELECT %d", rq->url.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            set_err(rq, "Redis SELECT failed: %s", r ? r->str : c->errstr);
            if (r) freeReplyObject(r);
            drop_connection(rq);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* Makes sure there is a live connection. A lost one is replaced once per call;
 * callers retry with backoff. */
static int ensure_connected(rqueue_t *rq)
{
    if (rq->ctx && !rq->ctx->err) return 0;
    if (rq->ctx) {
        log_warn("Redis connection lost (%s), reconnecting", rq->ctx->errstr);
        drop_connection(rq);
    }
    return connect_once(rq);
}

rqueue_t *rqueue_open(const char *url, const char *prefix, const char *consumer,
                      int connect_timeout_ms, char *err, size_t errlen)
{
    rqueue_t *rq = calloc(1, sizeof *rq);
    if (!rq) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rqueue_parse_url(url, &rq->url, err, errlen) < 0) {
        free(rq);
        return NULL;
    }
    snprintf(rq->prefix, sizeof rq->prefix, "%s", prefix);
    snprintf(rq->consumer, sizeof rq->consumer, "%s", consumer ? consumer : "");
    uint64_t deadline = time_mono_ms() + (uint64_t)(connect_timeout_ms > 0 ? connect_timeout_ms : 0);
    for (int attempt = 0;; attempt++) {
        if (connect_once(rq) == 0) return rq;
        if (time_mono_ms() >= deadline || actor_shutdown_requested) break;
        log_warn("%s (attempt %d), retrying", rq->err, attempt + 1);
        time_sleep_ms(time_backoff_ms(attempt, 100, 2000), NULL);
        if (time_mono_ms() >= deadline) break;
    }
    snprintf(err, errlen, "%s", rq->err);
    free(rq);
    return NULL;
}

void rqueue_close(rqueue_t *rq)
{
    if (!rq) return;
    drop_connection(rq);
    free(rq);
}

const char *rqueue_error(const rqueue_t *rq) { return rq->err; }

/* Runs one command. Returns the reply (caller frees) or NULL with rq->err set;
 * an error reply is turned into NULL too. */
static redisReply *run_argv(rqueue_t *rq, int argc, const char **argv, const size_t *lens)
{
    if (ensure_connected(rq) < 0) return NULL;
    redisReply *r = redisCommandArgv(rq->ctx, argc, argv, lens);
    if (!r) {
        set_err(rq, "Redis I/O error: %s", rq->ctx->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(rq, "Redis error: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ---- scripts ---- */

/* Shared Lua prelude: key names and the status/event helper. ARGV[1] is always
 * the key prefix. Times come from Redis's clock so that every instance agrees. */
#define LUA_PRELUDE                                                                      \
    "local P = ARGV[1]\n"                                                                \
    "local t = redis.call('TIME')\n"                                                     \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"            \
    "local function status(id, stage, err)\n"                                            \
    "  local k = P .. 'status:' .. id\n"                                                 \
    "  redis.call('HSET', k, 'stage', stage, 'updated_at', now, 'error', err or '')\n"   \
    "  redis.call('EXPIRE', k, 604800)\n"                                                \
    "  redis.call('PUBLISH', P .. 'events', '{\"id\":\"' .. id .. '\",\"status\":\"' .. " \
    "stage .. '\",\"at\":' .. string.format('%d', now) .. '}')\n"                        \
    "end\n"

/* enqueue: ARGV prefix, queue, id, payload */
static const char LUA_ENQUEUE[] = LUA_PRELUDE
    "local q, id = ARGV[2], ARGV[3]\n"
    "redis.call('SET', P .. 'msg:' .. q .. ':' .. id, ARGV[4])\n"
    "redis.call('LPUSH', P .. 'q:' .. q, id)\n"
    "status(id, 'queued')\n"
    "return 1\n";

/* take (after BLMOVE put id in the processing list):
 * ARGV prefix, queue, consumer, id, max_attempts, stage.
 * Returns {1, attempts, payload}, {0} if the payload is gone, {-1, attempts}
 * if dead-lettered for too many deliveries. */
static const char LUA_TAKE[] = LUA_PRELUDE
    "local q, c, id = ARGV[2], ARGV[3], ARGV[4]\n"
    "local proc = P .. 'q:' .. q .. ':processing:' .. c\n"
    "local payload = redis.call('GET', P .. 'msg:' .. q .. ':' .. id)\n"
    "if not payload then\n"
    "  redis.call('LREM', proc, 1, id)\n"
    "  redis.call('HDEL', P .. 'attempts:' .. q, id)\n"
    "  return {0}\n"
    "end\n"
    "local n = redis.call('HINCRBY', P .. 'attempts:' .. q, id, 1)\n"
    "if n > tonumber(ARGV[5]) then\n"
    "  redis.call('LREM', proc, 1, id)\n"
    "  redis.call('LPUSH', P .. 'q:' .. q .. ':dead', id)\n"
    "  status(id, 'failed', 'gave up after ' .. (n - 1) .. ' deliveries to ' .. q .. "
    "' that never finished (worker crashed or hung each time)')\n"
    "  return {-1, n}\n"
    "end\n"
    "status(id, ARGV[6])\n"
    "return {1, n, payload}\n";

/* forward: ARGV prefix, from, consumer, id, to, payload, stage */
static const char LUA_FORWARD[] = LUA_PRELUDE
    "local from, c, id, to = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "if redis.call('LREM', P .. 'q:' .. from .. ':processing:' .. c, 1, id) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('SET', P .. 'msg:' .. to .. ':' .. id, ARGV[6])\n"
    "redis.call('LPUSH', P .. 'q:' .. to, id)\n"
    "redis.call('DEL', P .. 'msg:' .. from .. ':' .. id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. from, id)\n"
    "status(id, ARGV[7])\n"
    "return 1\n";

/* ack: ARGV prefix, queue, consumer, id, stage */
static const char LUA_ACK[] = LUA_PRELUDE
    "local q, c, id = ARGV[2], ARGV[3], ARGV[4]\n"
    "if redis.call('LREM', P .. 'q:' .. q .. ':processing:' .. c, 1, id) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', P .. 'msg:' .. q .. ':' .. id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. q, id)\n"
    "status(id, ARGV[5])\n"
    "return 1\n";

/* dead: ARGV prefix, queue, consumer, id, reason. The payload stays for
 * inspection; the reason is in status:<id>. */
static const char LUA_DEAD[] = LUA_PRELUDE
    "local q, c, id = ARGV[2], ARGV[3], ARGV[4]\n"
    "if redis.call('LREM', P .. 'q:' .. q .. ':processing:' .. c, 1, id) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('LPUSH', P .. 'q:' .. q .. ':dead', id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. q, id)\n"
    "status(id, 'failed', ARGV[5])\n"
    "return 1\n";

/* set status: ARGV prefix, id, stage, error */
static const char LUA_STATUS[] = LUA_PRELUDE
    "status(ARGV[2], ARGV[3], ARGV[4])\n"
    "return 1\n";

/* heartbeat: ARGV prefix, queue, consumer */
static const char LUA_HEARTBEAT[] = LUA_PRELUDE
    "redis.call('ZADD', P .. 'consumers:' .. ARGV[2], now, ARGV[3])\n"
    "return 1\n";

/* reap: ARGV prefix, queue, lease_ms. The oldest in-flight id of a dead
 * consumer ends up at the right end of the work list, so it is taken next. */
static const char LUA_REAP[] = LUA_PRELUDE
    "local q = ARGV[2]\n"
    "local cons = P .. 'consumers:' .. q\n"
    "local dead = redis.call('ZRANGEBYSCORE', cons, '-inf', '(' .. (now - tonumber(ARGV[3])))\n"
    "local moved = 0\n"
    "for _, c in ipairs(dead) do\n"
    "  local proc = P .. 'q:' .. q .. ':processing:' .. c\n"
    "  while redis.call('LMOVE', proc, P .. 'q:' .. q, 'LEFT', 'RIGHT') do\n"
    "    moved = moved + 1\n"
    "  end\n"
    "  redis.call('ZREM', cons, c)\n"
    "end\n"
    "return moved\n";

/* release: ARGV prefix, queue, consumer (graceful shutdown) */
static const char LUA_RELEASE[] = LUA_PRELUDE
    "local q, c = ARGV[2], ARGV[3]\n"
    "local proc = P .. 'q:' .. q .. ':processing:' .. c\n"
    "local moved = 0\n"
    "while redis.call('LMOVE', proc, P .. 'q:' .. q, 'LEFT', 'RIGHT') do\n"
    "  moved = moved + 1\n"
    "end\n"
    "redis.call('ZREM', P .. 'consumers:' .. q, c)\n"
    "return moved\n";

/* stats: ARGV prefix, queue, lease_ms -> {waiting, in_flight, dead, live} */
static const char LUA_STATS[] = LUA_PRELUDE
    "local q = ARGV[2]\n"
    "local cons = P .. 'consumers:' .. q\n"
    "local inflight = 0\n"
    "for _, c in ipairs(redis.call('ZRANGE', cons, 0, -1)) do\n"
    "  inflight = inflight + redis.call('LLEN', P .. 'q:' .. q .. ':processing:' .. c)\n"
    "end\n"
    "local live = redis.call('ZCOUNT', cons, now - tonumber(ARGV[3]), '+inf')\n"
    "return {redis.call('LLEN', P .. 'q:' .. q), inflight, "
    "redis.call('LLEN', P .. 'q:' .. q .. ':dead'), live}\n";

/* live consumer of a host: ARGV prefix, queue, lease_ms, name prefix */
static const char LUA_LIVE[] = LUA_PRELUDE
    "local live = redis.call('ZRANGEBYSCORE', P .. 'consumers:' .. ARGV[2], "
    "now - tonumber(ARGV[3]), '+inf')\n"
    "for _, c in ipairs(live) do\n"
    "  if string.sub(c, 1, #ARGV[4]) == ARGV[4] then return 1 end\n"
    "end\n"
    "return 0\n";

/* SHA1 of each script, computed by Redis on first load (SCRIPT LOAD), cached
 * per process. Scripts are constant, so a race between threads writing the
 * same value is benign; the cache is guarded anyway for the sanitizers. */
typedef struct {
    const char *body;
    char sha[41];
} script_t;

static script_t scripts[] = {
    {LUA_ENQUEUE, ""}, {LUA_TAKE, ""},   {LUA_FORWARD, ""},   {LUA_ACK, ""},
    {LUA_DEAD, ""},    {LUA_STATUS, ""}, {LUA_HEARTBEAT, ""}, {LUA_REAP, ""},
    {LUA_RELEASE, ""}, {LUA_STATS, ""},  {LUA_LIVE, ""},
};
enum { S_ENQUEUE, S_TAKE, S_FORWARD, S_ACK, S_DEAD, S_STATUS, S_HEARTBEAT, S_REAP, S_RELEASE,
       S_STATS, S_LIVE };
static pthread_mutex_t scripts_lock = PTHREAD_MUTEX_INITIALIZER;

static int load_script(rqueue_t *rq, script_t *s)
{
    const char *argv[] = {"SCRIPT", "LOAD", s->body};
    size_t lens[] = {6, 4, strlen(s->body)};
    redisReply *r = run_argv(rq, 3, argv, lens);
    if (!r) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        pthread_mutex_lock(&scripts_lock);
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        pthread_mutex_unlock(&scripts_lock);
        rc = 0;
    } else {
        set_err(rq, "SCRIPT LOAD: %s", "unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

/* EVALSHA script with 0 keys and the given ARGV (prefix prepended). Returns the
 * reply (caller frees) or NULL with rq->err set. */
static redisReply *run_script(rqueue_t *rq, int which, int argc, const char **args,
                              const size_t *arglens)
{
    script_t *s = &scripts[which];
    const char *argv[16];
    size_t lens[16];
    if (argc > 12) return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        char sha[41];
        pthread_mutex_lock(&scripts_lock);
        memcpy(sha, s->sha, sizeof sha);
        pthread_mutex_unlock(&scripts_lock);
        if (!sha[0]) {
            if (load_script(rq, s) < 0) return NULL;
            pthread_mutex_lock(&scripts_lock);
            memcpy(sha, s->sha, sizeof sha);
            pthread_mutex_unlock(&scripts_lock);
        }
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = sha;
        lens[1] = 40;
        argv[2] = "0";
        lens[2] = 1;
        argv[3] = rq->prefix;
        lens[3] = strlen(rq->prefix);
        for (int i = 0; i < argc; i++) {
            argv[4 + i] = args[i];
            lens[4 + i] = arglens ? arglens[i] : strlen(args[i]);
        }
        if (ensure_connected(rq) < 0) return NULL;
        redisReply *r = redisCommandArgv(rq->ctx, 4 + argc, argv, lens);
        if (!r) {
            set_err(rq, "Redis I/O error: %s", rq->ctx->errstr);
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
            /* Redis restarted (scripts are not persisted): load and retry. */
            freeReplyObject(r);
            pthread_mutex_lock(&scripts_lock);
            s->sha[0] = '\0';
            pthread_mutex_unlock(&scripts_lock);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            set_err(rq, "Redis script error: %s", r->str);
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    set_err(rq, "Redis: %s", "script could not be loaded");
    return NULL;
}

/* Runs a script whose reply is an integer. Returns it, or -1. */
static long long script_int(rqueue_t *rq, int which, int argc, const char **args,
                            const size_t *lens)
{
    redisReply *r = run_script(rq, which, argc, args, lens);
    if (!r) return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (v < 0) set_err(rq, "Redis: %s", "unexpected script reply");
    freeReplyObject(r);
    return v;
}

/* ---- public API ---- */

int rqueue_ping(rqueue_t *rq)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    redisReply *r = run_argv(rq, 1, argv, lens);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int rqueue_enqueue(rqueue_t *rq, const char *queue, const char *id, const void *payload,
                   size_t len)
{
    const char *args[] = {queue, id, payload};
    size_t lens[] = {strlen(queue), strlen(id), len};
    return script_int(rq, S_ENQUEUE, 3, args, lens) == 1 ? 0 : -1;
}

long long rqueue_waiting(rqueue_t *rq, const char *queue)
{
    char key[256];
    snprintf(key, sizeof key, "%sq:%s", rq->prefix, queue);
    const char *argv[] = {"LLEN", key};
    size_t lens[] = {4, strlen(key)};
    redisReply *r = run_argv(rq, 2, argv, lens);
    if (!r) return -1;
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

int rqueue_take(rqueue_t *rq, const char *queue, int timeout_ms, int max_attempts,
                const char *stage, rq_msg_t *out)
{
    if (rq->last) {
        freeReplyObject(rq->last);
        rq->last = NULL;
    }
    char src[256], dst[512], tmo[32];
    snprintf(src, sizeof src, "%sq:%s", rq->prefix, queue);
    snprintf(dst, sizeof dst, "%sq:%s:processing:%s", rq->prefix, queue, rq->consumer);
    /* BLMOVE's timeout must end before the socket timeout fires. */
    if (timeout_ms > RQ_SOCKET_TIMEOUT_MS / 2) timeout_ms = RQ_SOCKET_TIMEOUT_MS / 2;
    snprintf(tmo, sizeof tmo, "%.3f", timeout_ms / 1000.0);
    const char *argv[] = {"BLMOVE", src, dst, "RIGHT", "LEFT", tmo};
    size_t lens[] = {6, strlen(src), strlen(dst), 5, 4, strlen(tmo)};
    redisReply *r = run_argv(rq, 6, argv, lens);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING || r->len >= UUID_STR_LEN) {
        /* Not one of our ids: leave it in the processing list for a human and say so. */
        log_error("queue %s: unexpected entry in work list (type %d), left in %s", queue,
                  r->type, dst);
        freeReplyObject(r);
        return 0;
    }
    memcpy(out->id, r->str, r->len);
    out->id[r->len] = '\0';
    freeReplyObject(r);

    char maxa[16];
    snprintf(maxa, sizeof maxa, "%d", max_attempts);
    const char *args[] = {queue, rq->consumer, out->id, maxa, stage};
    r = run_script(rq, S_TAKE, 5, args, NULL);
    if (!r) return -1; /* the id stays in our processing list; the reaper or a retry handles it */
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        set_err(rq, "Redis: %s", "unexpected take reply");
        freeReplyObject(r);
        return -1;
    }
    long long code = r->element[0]->integer;
    if (code == 0) {
        log_error("id=%s queue %s: payload missing, entry dropped", out->id, queue);
        freeReplyObject(r);
        return 0;
    }
    if (code < 0) {
        log_error("id=%s queue %s: dead-lettered after %lld deliveries that never finished",
                  out->id, queue, r->elements > 1 ? r->element[1]->integer - 1 : -1);
        freeReplyObject(r);
        return 0;
    }
    if (r->elements < 3 || r->element[2]->type != REDIS_REPLY_STRING) {
        set_err(rq, "Redis: %s", "malformed take reply");
        freeReplyObject(r);
        return -1;
    }
    out->attempts = (long)r->element[1]->integer;
    out->payload = (const unsigned char *)r->element[2]->str;
    out->len = r->element[2]->len;
    rq->last = r;
    return 1;
}

int rqueue_forward(rqueue_t *rq, const char *from, const char *id, const char *to,
                   const void *payload, size_t len, const char *stage)
{
    const char *args[] = {from, rq->consumer, id, to, payload, stage};
    size_t lens[] = {strlen(from), strlen(rq->consumer), strlen(id), strlen(to), len,
                     strlen(stage)};
    return (int)script_int(rq, S_FORWARD, 6, args, lens);
}

int rqueue_ack(rqueue_t *rq, const char *queue, const char *id, const char *stage)
{
    const char *args[] = {queue, rq->consumer, id, stage};
    return (int)script_int(rq, S_ACK, 4, args, NULL);
}

int rqueue_dead(rqueue_t *rq, const char *queue, const char *id, const char *reason)
{
    const char *args[] = {queue, rq->consumer, id, reason};
    return (int)script_int(rq, S_DEAD, 4, args, NULL);
}

int rqueue_set_status(rqueue_t *rq, const char *id, const char *stage, const char *error)
{
    const char *args[] = {id, stage, error ? error : ""};
    return script_int(rq, S_STATUS, 3, args, NULL) == 1 ? 0 : -1;
}

int rqueue_get_status(rqueue_t *rq, const char *id, rq_status_t *out)
{
    memset(out, 0, sizeof *out);
    char key[256];
    snprintf(key, sizeof key, "%sstatus:%s", rq->prefix, id);
    const char *argv[] = {"HMGET", key, "stage", "error", "updated_at"};
    size_t lens[] = {5, strlen(key), 5, 5, 10};
    redisReply *r = run_argv(rq, 5, argv, lens);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            snprintf(out->stage, sizeof out->stage, "%s", r->element[0]->str);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            snprintf(out->error, sizeof out->error, "%s", r->element[1]->str);
        if (r->element[2]->type == REDIS_REPLY_STRING)
            out->updated_at = strtoll(r->element[2]->str, NULL, 10);
    }
    freeReplyObject(r);
    return 0;
}

int rqueue_heartbeat(rqueue_t *rq, const char *queue)
{
    const char *args[] = {queue, rq->consumer};
    return script_int(rq, S_HEARTBEAT, 2, args, NULL) == 1 ? 0 : -1;
}

int rqueue_reap(rqueue_t *rq, const char *queue, long lease_ms, long *moved)
{
    char lease[32];
    snprintf(lease, sizeof lease, "%ld", lease_ms);
    const char *args[] = {queue, lease};
    long long n = script_int(rq, S_REAP, 2, args, NULL);
    if (n < 0) return -1;
    if (moved) *moved = (long)n;
    return 0;
}

int rqueue_release_all(rqueue_t *rq, const char *queue)
{
    const char *args[] = {queue, rq->consumer};
    long long n = script_int(rq, S_RELEASE, 2, args, NULL);
    if (n < 0) return -1;
    if (n > 0) log_info("returned %lld in-flight ids to queue %s", n, queue);
    return 0;
}

int rqueue_stats(rqueue_t *rq, const char *queue, long lease_ms, rq_stats_t *out)
{
    char lease[32];
    snprintf(lease, sizeof lease, "%ld", lease_ms);
    const char *args[] = {queue, lease};
    redisReply *r = run_script(rq, S_STATS, 2, args, NULL);
    if (!r) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        out->waiting = r->element[0]->integer;
        out->in_flight = r->element[1]->integer;
        out->dead = r->element[2]->integer;
        out->consumers = r->element[3]->integer;
        rc = 0;
    } else {
        set_err(rq, "Redis: %s", "unexpected stats reply");
    }
    freeReplyObject(r);
    return rc;
}

int rqueue_has_live_consumer(rqueue_t *rq, const char *queue, long lease_ms)
{
    char host[200] = "", prefix[256], lease[32];
    gethostname(host, sizeof host - 1);
    snprintf(prefix, sizeof prefix, "%s-", host);
    snprintf(lease, sizeof lease, "%ld", lease_ms);
    const char *args[] = {queue, lease, prefix};
    long long n = script_int(rq, S_LIVE, 3, args, NULL);
    return n < 0 ? -1 : (int)n;
}

/* ---- events ---- */

int rqueue_subscribe(rqueue_t *rq)
{
    char channel[128];
    snprintf(channel, sizeof channel, "%sevents", rq->prefix);
    const char *argv[] = {"SUBSCRIBE", channel};
    size_t lens[] = {9, strlen(channel)};
    redisReply *r = run_argv(rq, 2, argv, lens);
    if (!r) return -1;
    freeReplyObject(r);
    rq->subscribed = 1;
    return 0;
}

int rqueue_next_event(rqueue_t *rq, int timeout_ms, char *buf, size_t buflen)
{
    if (!rq->subscribed || !rq->ctx || rq->ctx->err) {
        set_err(rq, "events: %s", "not subscribed (connection lost)");
        return -1;
    }
    void *reply = NULL;
    if (redisGetReplyFromReader(rq->ctx, &reply) != REDIS_OK) {
        set_err(rq, "events: %s", rq->ctx->errstr);
        return -1;
    }
    if (!reply) {
        /* Wait with poll: a socket timeout would leave the hiredis context unusable. */
        struct pollfd pfd = {.fd = rq->ctx->fd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout_ms);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) return 0;
            set_err(rq, "events: poll: %s", strerror(errno));
            return -1;
        }
        if (redisGetReply(rq->ctx, &reply) != REDIS_OK || !reply) {
            set_err(rq, "events: %s", rq->ctx->errstr);
            return -1;
        }
    }
    redisReply *r = reply;
    int rc = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message") &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        snprintf(buf, buflen, "%.*s", (int)r->element[2]->len, r->element[2]->str);
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}
