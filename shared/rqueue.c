/* rqueue.c - reliable queues on Redis lists, see rqueue.h and shared/README.md (Queues).
 *
 * Every state change that touches more than one key is a Lua script, so it is
 * atomic even when the client dies between commands: a crash can leave an id
 * in a processing list (the reaper returns it), never half-moved. Scripts are
 * called with EVALSHA and loaded again after NOSCRIPT (a restarted Redis). */
#include "rqueue.h"

#include <errno.h>
#include <hiredis.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"
#include "log.h"
#include "rqha.h"
#include "sentinel.h"
#include "timeutil.h"

/* A subscribed connection with no message for this long is sent a PING; no
 * answer within as long again means the server is gone (a cut link delivers
 * no error of its own). */
#define RQ_SUB_PING_MS 2000

struct rqueue {
    redisContext *ctx;
    redisReply **batch;      /* GET replies kept for rqueue_take_many's payloads */
    int nbatch, batch_cap;
    rq_url_t url;
    char prefix[64];
    char consumer[RQ_CONSUMER_MAX];
    char err[512];
    int subscribed;
    int stale;            /* the server said it is no primary: look it up again */
    int reclaim;          /* a take's reply was lost: ids it took may be ours unknowingly */
    uint64_t sub_rx_ms;   /* monotonic: last reply on the subscribed connection */
    uint64_t sub_ping_ms; /* when the unanswered PING went out, 0 = none */
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

__attribute__((format(printf, 2, 3))) static void set_err(rqueue_t *rq, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rq->err, sizeof rq->err, fmt, ap);
    va_end(ap);
}

static void free_kept_replies(rqueue_t *rq)
{
    for (int i = 0; i < rq->nbatch; i++) freeReplyObject(rq->batch[i]);
    rq->nbatch = 0;
}

static void drop_connection(rqueue_t *rq)
{
    free_kept_replies(rq);
    if (rq->ctx) redisFree(rq->ctx);
    rq->ctx = NULL;
    rq->subscribed = 0;
    rq->stale = 0;
    rq->sub_ping_ms = 0;
}

/* An error reply that means this server is no longer the primary makes the
 * next call reconnect through discovery instead of failing until a restart. */
static void note_error_reply(rqueue_t *rq, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR && sentinel_error_needs_rediscovery(r->str)) {
        if (!rq->stale) log_warn("Redis: %s; looking for the primary again", r->str);
        rq->stale = 1;
    }
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static int connect_once(rqueue_t *rq)
{
    int timeout = rq_ha_timeout_ms();
    struct timeval tv = tv_ms(timeout < 2000 ? timeout : 2000);
    char host[256];
    int port = rq->url.port;
    int ha = rq_ha_enabled(), unix_socket = rq->url.path[0] && !ha;
    snprintf(host, sizeof host, "%s", rq->url.host);
    if (ha && rq_ha_discover(host, sizeof host, &port, rq->err, sizeof rq->err) < 0) return -1;
    redisContext *c = unix_socket ? redisConnectUnixWithTimeout(rq->url.path, tv)
                                  : redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        set_err(rq, "cannot connect to Redis: %s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv_ms(timeout));
    if (!unix_socket) redisEnableKeepAlive(c);
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
    if (ha) {
        /* A sentinel may name a demoted primary for a moment after a failover. */
        r = redisCommand(c, "ROLE");
        char why[256];
        int role = sentinel_parse_role(r, why, sizeof why);
        if (role != 1) {
            snprintf(rq->err, sizeof rq->err, "Redis %.200s:%d: %.250s", host, port,
                     r ? why : c->errstr);
            if (r) freeReplyObject(r);
            rq_ha_distrust();
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
    if (rq->ctx && !rq->ctx->err && !rq->stale) return 0;
    if (rq->ctx && rq->stale) {
        drop_connection(rq);
    } else if (rq->ctx) {
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
    if (consumer && strlen(consumer) >= sizeof rq->consumer) {
        snprintf(err, errlen, "consumer name longer than %d bytes", RQ_CONSUMER_MAX - 1);
        free(rq);
        return NULL;
    }
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
    free(rq->batch);
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
        note_error_reply(rq, r);
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

/* Bookkeeping of one delivery, shared by the take scripts: the id is already
 * in this consumer's processing list. Returns the delivery count, or nil when
 * the id was dead-lettered (too many deliveries) or its payload is gone. */
#define LUA_DELIVER                                                                      \
    "local function deliver(q, proc, id, max, stage)\n"                                  \
    "  if redis.call('EXISTS', P .. 'msg:' .. q .. ':' .. id) == 0 then\n"               \
    "    redis.call('LREM', proc, 1, id)\n"                                              \
    "    redis.call('HDEL', P .. 'attempts:' .. q, id)\n"                                \
    "    return nil\n"                                                                   \
    "  end\n"                                                                            \
    "  local n = redis.call('HINCRBY', P .. 'attempts:' .. q, id, 1)\n"                  \
    "  if n > max then\n"                                                                \
    "    redis.call('LREM', proc, 1, id)\n"                                              \
    "    redis.call('LPUSH', P .. 'q:' .. q .. ':dead', id)\n"                           \
    "    status(id, 'failed', 'gave up after ' .. (n - 1) .. ' deliveries to ' .. q .. " \
    "' that never finished (worker crashed or hung each time)')\n"                       \
    "    return nil\n"                                                                   \
    "  end\n"                                                                            \
    "  status(id, stage)\n"                                                              \
    "  return n\n"                                                                       \
    "end\n"

/* take many: ARGV prefix, queue, consumer, max, max_attempts, stage.
 * Returns {id1, n1, id2, n2, ...} for the ids now held; payloads are read
 * outside Lua (copying 40 KB strings through the interpreter costs more than
 * the round trip it would save). */
static const char LUA_TAKE_MANY[] = LUA_PRELUDE LUA_DELIVER
    "local q, c = ARGV[2], ARGV[3]\n"
    "local src = P .. 'q:' .. q\n"
    "local proc = src .. ':processing:' .. c\n"
    "local out = {}\n"
    "for _ = 1, tonumber(ARGV[4]) do\n"
    "  local id = redis.call('LMOVE', src, proc, 'RIGHT', 'LEFT')\n"
    "  if not id then break end\n"
    "  local n = deliver(q, proc, id, tonumber(ARGV[5]), ARGV[6])\n"
    "  if n then out[#out + 1] = id; out[#out + 1] = n end\n"
    "end\n"
    "return out\n";

/* take one (after BLMOVE put id in the processing list):
 * ARGV prefix, queue, consumer, id, max_attempts, stage -> {id, n} or {} */
static const char LUA_TAKE_ONE[] = LUA_PRELUDE LUA_DELIVER
    "local q, c, id = ARGV[2], ARGV[3], ARGV[4]\n"
    "local n = deliver(q, P .. 'q:' .. q .. ':processing:' .. c, id, tonumber(ARGV[5]), ARGV[6])\n"
    "if n then return {id, n} end\n"
    "return {}\n";

/* forward: ARGV prefix, from, consumer, id, to, stage. The next payload was
 * SET beforehand (same pipeline) as P stage:<consumer>:<id>; the script renames
 * it into place only if the id is still ours, so the handoff stays atomic and
 * conditional without passing the payload through Lua. The EXISTS check comes
 * before any write: a script that fails midway keeps its earlier writes. */
static const char LUA_FORWARD[] = LUA_PRELUDE
    "local from, c, id, to = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "local staged = P .. 'stage:' .. c .. ':' .. id\n"
    "if redis.call('EXISTS', staged) == 0 then return -2 end\n"
    "if redis.call('LREM', P .. 'q:' .. from .. ':processing:' .. c, 1, id) == 0 then\n"
    "  redis.call('DEL', staged)\n"
    "  return 0\n"
    "end\n"
    "local dst = P .. 'msg:' .. to .. ':' .. id\n"
    "redis.call('RENAME', staged, dst)\n"
    "redis.call('PERSIST', dst)\n"
    "redis.call('LPUSH', P .. 'q:' .. to, id)\n"
    "redis.call('DEL', P .. 'msg:' .. from .. ':' .. id)\n"
    "redis.call('HDEL', P .. 'attempts:' .. from, id)\n"
    "status(id, ARGV[6])\n"
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

/* release: ARGV prefix, queue, consumer. A consumer's graceful shutdown, and
 * the return of a dead predecessor's ids (rqueue_reclaim): the same move as
 * the reaper's, so a late outcome of that consumer finds the id gone from its
 * list and is refused, and the next take counts the delivery against
 * MAX_ATTEMPTS as after a reap. */
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

/* consumers: ARGV prefix, queue, lease_ms -> names whose heartbeat is younger
 * than lease_ms by Redis's clock (every consumer when lease_ms < 0) */
static const char LUA_CONSUMERS[] = LUA_PRELUDE
    "local lease = tonumber(ARGV[3])\n"
    "return redis.call('ZRANGEBYSCORE', P .. 'consumers:' .. ARGV[2], "
    "lease < 0 and '-inf' or now - lease, '+inf')\n";

/* SHA1 of each script, computed by Redis on first load (SCRIPT LOAD), cached
 * per process. Scripts are constant, so a race between threads writing the
 * same value is benign; the cache is guarded anyway for the sanitizers. */
typedef struct {
    const char *body;
    char sha[41];
} script_t;

static script_t scripts[] = {
    {LUA_TAKE_MANY, ""}, {LUA_TAKE_ONE, ""},  {LUA_FORWARD, ""}, {LUA_ACK, ""},
    {LUA_DEAD, ""},      {LUA_HEARTBEAT, ""}, {LUA_REAP, ""},    {LUA_RELEASE, ""},
    {LUA_STATS, ""},     {LUA_CONSUMERS, ""},
};
enum {
    S_TAKE_MANY,
    S_TAKE_ONE,
    S_FORWARD,
    S_ACK,
    S_DEAD,
    S_HEARTBEAT,
    S_REAP,
    S_RELEASE,
    S_STATS,
    S_CONSUMERS
};
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

/* Makes sure the script's SHA is known (loading it once per Redis start). */
static int script_sha(rqueue_t *rq, int which, char sha[41])
{
    pthread_mutex_lock(&scripts_lock);
    memcpy(sha, scripts[which].sha, 41);
    pthread_mutex_unlock(&scripts_lock);
    if (sha[0]) return 0;
    if (load_script(rq, &scripts[which]) < 0) return -1;
    pthread_mutex_lock(&scripts_lock);
    memcpy(sha, scripts[which].sha, 41);
    pthread_mutex_unlock(&scripts_lock);
    return 0;
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
        if (script_sha(rq, which, sha) < 0) return NULL;
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
            note_error_reply(rq, r);
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

/* Appends a command to the output buffer. hiredis fails only when out of
 * memory; then the pipeline is unusable, so the connection is dropped and
 * the caller reports the failure instead of reading misaligned replies. */
static int append_argv(rqueue_t *rq, int argc, const char **argv, const size_t *lens)
{
    if (redisAppendCommandArgv(rq->ctx, argc, argv, lens) == REDIS_OK) return 0;
    set_err(rq, "Redis: %s", "out of memory building a pipeline");
    drop_connection(rq);
    return -1;
}

/* Reads n pipelined replies into r[] (NULL where the connection failed).
 * Returns 0, or -1 when the connection broke (rq->err set). */
static int read_replies(rqueue_t *rq, redisReply **r, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        void *reply = NULL;
        if (rc == 0 && redisGetReply(rq->ctx, &reply) != REDIS_OK) {
            set_err(rq, "Redis I/O error: %s", rq->ctx->errstr);
            rc = -1;
        }
        r[i] = reply;
    }
    return rc;
}

static void free_replies(redisReply **r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i]) freeReplyObject(r[i]);
}

/* Marks the connection stale when any reply of a pipeline says the server is
 * no primary (the replies are all read by now, so dropping it is safe). */
static void note_error_replies(rqueue_t *rq, redisReply **r, int n)
{
    for (int i = 0; i < n; i++) note_error_reply(rq, r[i]);
}

/* Appends WAIT for REDIS_WAIT_REPLICAS to a pipeline. 1 when appended, 0 when
 * no WAIT is configured, -1 when the append failed (connection dropped). */
static int append_wait(rqueue_t *rq)
{
    int n = rq_ha_wait_replicas();
    if (n <= 0) return 0;
    char replicas[16], tmo[16];
    snprintf(replicas, sizeof replicas, "%d", n);
    snprintf(tmo, sizeof tmo, "%d", rq_ha_wait_timeout_ms());
    const char *argv[] = {"WAIT", replicas, tmo};
    return append_argv(rq, 3, argv, NULL) < 0 ? -1 : 1;
}

/* Checks WAIT's reply: 0 when enough replicas have the writes before it, else
 * -1 with rq->err saying how many did. */
static int check_wait(rqueue_t *rq, const redisReply *w)
{
    int want = rq_ha_wait_replicas();
    if (w && w->type == REDIS_REPLY_INTEGER && w->integer >= want) return 0;
    char detail[128];
    if (w && w->type == REDIS_REPLY_INTEGER)
        snprintf(detail, sizeof detail, "%lld of %d replicas acknowledged within %d ms", w->integer,
                 want, rq_ha_wait_timeout_ms());
    else
        snprintf(detail, sizeof detail, "WAIT failed: %s",
                 w && w->type == REDIS_REPLY_ERROR ? w->str : "no reply");
    set_err(rq, "Redis replication: %s", detail);
    return -1;
}

int rqueue_enqueue(rqueue_t *rq, const char *queue, const char *id, const void *payload,
                   size_t len)
{
    if (ensure_connected(rq) < 0) return -1;
    char msg[256], list[256], status[256], now[32], event[256], channel[128];
    snprintf(msg, sizeof msg, "%smsg:%s:%s", rq->prefix, queue, id);
    snprintf(list, sizeof list, "%sq:%s", rq->prefix, queue);
    snprintf(status, sizeof status, "%sstatus:%s", rq->prefix, id);
    snprintf(channel, sizeof channel, "%sevents", rq->prefix);
    uint64_t ms = time_now_ms();
    snprintf(now, sizeof now, "%llu", (unsigned long long)ms);
    snprintf(event, sizeof event, "{\"id\":\"%s\",\"status\":\"queued\",\"at\":%s}", id, now);

    /* MULTI/EXEC rather than a script: the payload is not copied through Lua,
     * and the whole pipeline is one round trip and one AOF fsync. */
    const char *multi[] = {"MULTI"};
    const char *set[] = {"SET", msg, payload};
    size_t set_len[] = {3, strlen(msg), len};
    const char *push[] = {"LPUSH", list, id};
    const char *hset[] = {"HSET", status, "stage", "queued", "updated_at", now, "error", ""};
    const char *expire[] = {"EXPIRE", status, "604800"};
    const char *exec[] = {"EXEC"};
    const char *publish[] = {"PUBLISH", channel, event};
    /* With REDIS_WAIT_REPLICAS, WAIT follows EXEC in the same round trip: the
     * 202 is sent only once the upload is on that many replicas too. */
    if (append_argv(rq, 1, multi, NULL) < 0 || append_argv(rq, 3, set, set_len) < 0 ||
        append_argv(rq, 3, push, NULL) < 0 || append_argv(rq, 8, hset, NULL) < 0 ||
        append_argv(rq, 3, expire, NULL) < 0 || append_argv(rq, 1, exec, NULL) < 0 ||
        append_argv(rq, 3, publish, NULL) < 0)
        return -1;
    int waited = append_wait(rq);
    if (waited < 0) return -1;
    redisReply *r[8];
    int nr = 7 + waited;
    int rc = read_replies(rq, r, nr);
    note_error_replies(rq, r, nr);
    if (rc == 0) {
        redisReply *e = r[5];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 4) {
            /* EXEC answered an error or nil: nothing was applied. */
            set_err(rq, "Redis refused the enqueue: %s",
                    e && e->type == REDIS_REPLY_ERROR ? e->str
                    : r[1] && r[1]->type == REDIS_REPLY_ERROR ? r[1]->str : "EXEC failed");
            rc = -1;
        } else {
            for (size_t i = 0; i < e->elements; i++)
                if (e->element[i]->type == REDIS_REPLY_ERROR) {
                    set_err(rq, "Redis enqueue command failed: %s", e->element[i]->str);
                    rc = -1;
                }
        }
        /* Short of replicas: the upload is on the primary only, and a 503 lets
         * the client retry rather than trust a copy one host's loss can take. */
        if (rc == 0 && waited && check_wait(rq, r[7]) < 0) rc = -1;
    }
    free_replies(r, nr);
    return rc;
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

static int ensure_batch_room(rqueue_t *rq, int n)
{
    if (n <= rq->batch_cap) return 0;
    redisReply **b = realloc(rq->batch, (size_t)n * sizeof *b);
    if (!b) {
        set_err(rq, "%s", "out of memory");
        return -1;
    }
    rq->batch = b;
    rq->batch_cap = n;
    return 0;
}

/* Parses a {id, n, id, n, ...} script reply into out[]. Returns the count. */
static int parse_taken(const redisReply *r, rq_msg_t *out, int max)
{
    int n = 0;
    if (r->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i + 1 < r->elements && n < max; i += 2) {
        const redisReply *id = r->element[i], *cnt = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || id->len >= UUID_STR_LEN ||
            cnt->type != REDIS_REPLY_INTEGER)
            continue;
        memcpy(out[n].id, id->str, id->len);
        out[n].id[id->len] = '\0';
        out[n].attempts = (long)cnt->integer;
        out[n].payload = NULL;
        out[n].len = 0;
        n++;
    }
    return n;
}

/* A take whose reply was lost (connection broken after the command went out)
 * may have moved ids into this consumer's processing list that the caller
 * never received: alive and heartbeating, the consumer would hold them for
 * ever, as nobody reaps a live consumer. Noted here and handled by the next
 * take (reclaim_taken). */
static void note_lost_take(rqueue_t *rq, int k)
{
    if ((!rq->ctx || rq->ctx->err) && k > rq->reclaim) rq->reclaim = k;
}

/* Payloads of the n ids in out[] (one pipelined batch of GETs), kept in
 * rq->batch until the next call. Returns how many ids have one (moved to the
 * front of out[]), or -1 on a lost connection (the ids stay in our processing
 * list and the next take hands them out again). Handing out again, a payload
 * may be gone: the id's outcome was applied meanwhile. */
static int load_payloads(rqueue_t *rq, const char *queue, rq_msg_t *out, int n, int again)
{
    if (ensure_batch_room(rq, n) < 0) return -1;
    for (int i = 0; i < n; i++) {
        char key[256];
        snprintf(key, sizeof key, "%smsg:%s:%s", rq->prefix, queue, out[i].id);
        const char *argv[] = {"GET", key};
        if (append_argv(rq, 2, argv, NULL) < 0) {
            note_lost_take(rq, n);
            return -1;
        }
    }
    if (read_replies(rq, rq->batch, n) < 0) {
        free_replies(rq->batch, n);
        note_lost_take(rq, n);
        return -1;
    }
    rq->nbatch = n;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        redisReply *g = rq->batch[i];
        if (g->type != REDIS_REPLY_STRING) {
            if (again) continue;
            /* Only possible if someone deleted the key behind our back. */
            log_error("id=%s queue %s: payload vanished after take; left in processing", out[i].id,
                      queue);
            continue;
        }
        out[kept] = out[i];
        out[kept].payload = (const unsigned char *)g->str;
        out[kept].len = g->len;
        kept++;
    }
    return kept;
}

/* After a lost take reply: the newest ids of our processing list (a take
 * pushes on its left end, and nothing else does) are handed out again. Those
 * the process does hold are then processed twice, which the pipeline absorbs
 * (the second outcome answers "no longer ours"); the ones it never received
 * are processed at all. The caller asks for as many as its mailbox has room,
 * at least as many as the lost take asked for, since nothing was queued since.
 * Returns the number handed out, 0 when there was nothing, -1 on error. */
static int reclaim_taken(rqueue_t *rq, const char *queue, int max, rq_msg_t *out)
{
    int k = rq->reclaim < max ? rq->reclaim : max;
    char proc[512], last[16];
    snprintf(proc, sizeof proc, "%sq:%s:processing:%s", rq->prefix, queue, rq->consumer);
    snprintf(last, sizeof last, "%d", k - 1);
    const char *argv[] = {"LRANGE", proc, "0", last};
    redisReply *r = run_argv(rq, 4, argv, NULL);
    if (!r) return -1;
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < k; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len >= UUID_STR_LEN) continue;
        memcpy(out[n].id, e->str, e->len);
        out[n].id[e->len] = '\0';
        out[n].attempts = 0; /* unknown: the lost take may not have counted it */
        n++;
    }
    freeReplyObject(r);
    rq->reclaim = 0;
    if (n == 0) return 0;
    log_warn("queue %s: a take's reply was lost; handing out the %d newest in-flight ids "
             "again (any held already are processed twice, their outcome applies once)",
             queue, n);
    return load_payloads(rq, queue, out, n, 1);
}

int rqueue_take_many(rqueue_t *rq, const char *queue, int max, int timeout_ms,
                     int max_attempts, const char *stage, rq_msg_t *out)
{
    free_kept_replies(rq);
    if (max < 1) return 0;
    if (rq->reclaim > 0) {
        int got = reclaim_taken(rq, queue, max, out);
        if (got != 0) return got;
    }
    char maxn[16], maxa[16];
    snprintf(maxn, sizeof maxn, "%d", max);
    snprintf(maxa, sizeof maxa, "%d", max_attempts);
    const char *args[] = {queue, rq->consumer, maxn, maxa, stage};
    redisReply *r = run_script(rq, S_TAKE_MANY, 5, args, NULL);
    if (!r) {
        note_lost_take(rq, max);
        return -1;
    }
    int n = parse_taken(r, out, max);
    freeReplyObject(r);

    if (n == 0) {
        /* Nothing waiting: block on BLMOVE for one id, then do its bookkeeping. */
        char src[256], dst[512], tmo[32];
        snprintf(src, sizeof src, "%sq:%s", rq->prefix, queue);
        snprintf(dst, sizeof dst, "%sq:%s:processing:%s", rq->prefix, queue, rq->consumer);
        /* BLMOVE's timeout must end before the socket timeout fires. */
        if (timeout_ms > rq_ha_timeout_ms() / 2) timeout_ms = rq_ha_timeout_ms() / 2;
        snprintf(tmo, sizeof tmo, "%.3f", timeout_ms / 1000.0);
        const char *argv[] = {"BLMOVE", src, dst, "RIGHT", "LEFT", tmo};
        size_t lens[] = {6, strlen(src), strlen(dst), 5, 4, strlen(tmo)};
        r = run_argv(rq, 6, argv, lens);
        if (!r) {
            note_lost_take(rq, 1);
            return -1;
        }
        if (r->type != REDIS_REPLY_STRING || r->len >= UUID_STR_LEN) {
            if (r->type != REDIS_REPLY_NIL)
                /* Not one of our ids: leave it where it is for a human, and say so. */
                log_error("queue %s: unexpected entry in work list, left in %s", queue, dst);
            freeReplyObject(r);
            return 0;
        }
        char id[UUID_STR_LEN];
        memcpy(id, r->str, r->len);
        id[r->len] = '\0';
        freeReplyObject(r);
        const char *one[] = {queue, rq->consumer, id, maxa, stage};
        /* On failure the id stays in our processing list: release or the reaper
         * returns it. */
        r = run_script(rq, S_TAKE_ONE, 5, one, NULL);
        if (!r) {
            note_lost_take(rq, 1);
            return -1;
        }
        n = parse_taken(r, out, 1);
        freeReplyObject(r);
        if (n == 0) {
            log_error("id=%s queue %s: dead-lettered (delivery cap) or payload missing", id,
                      queue);
            return 0;
        }
    }

    return load_payloads(rq, queue, out, n, 0);
}

int rqueue_take(rqueue_t *rq, const char *queue, int timeout_ms, int max_attempts,
                const char *stage, rq_msg_t *out)
{
    int n = rqueue_take_many(rq, queue, 1, timeout_ms, max_attempts, stage, out);
    return n < 0 ? -1 : n;
}


int rqueue_apply(rqueue_t *rq, const char *queue, const char *next_queue, rq_op_t *ops, int n)
{
    char sha_fwd[41], sha_ack[41], sha_dead[41];
    if (ensure_connected(rq) < 0 || script_sha(rq, S_FORWARD, sha_fwd) < 0 ||
        script_sha(rq, S_ACK, sha_ack) < 0 || script_sha(rq, S_DEAD, sha_dead) < 0) {
        for (int i = 0; i < n; i++) ops[i].result = -1;
        return -1;
    }
    int nreplies = 0;
    for (int i = 0; i < n; i++) {
        rq_op_t *op = &ops[i];
        if (op->kind == RQ_OP_FORWARD) {
            char staged[512];
            snprintf(staged, sizeof staged, "%sstage:%s:%s", rq->prefix, rq->consumer, op->id);
            /* A day's TTL: a staged payload orphaned by a crash between this SET
             * and the script cannot leak for ever. */
            const char *set[] = {"SET", staged, op->payload, "EX", "86400"};
            size_t set_len[] = {3, strlen(staged), op->len, 2, 5};
            if (append_argv(rq, 5, set, set_len) < 0) break;
            const char *ev[] = {"EVALSHA", sha_fwd, "0", rq->prefix, queue, rq->consumer,
                                op->id, next_queue ? next_queue : "", op->text};
            if (append_argv(rq, 9, ev, NULL) < 0) break;
            nreplies += 2;
        } else {
            const char *ev[] = {"EVALSHA", op->kind == RQ_OP_ACK ? sha_ack : sha_dead, "0",
                                rq->prefix, queue, rq->consumer, op->id, op->text};
            if (append_argv(rq, 8, ev, NULL) < 0) break;
            nreplies += 1;
        }
    }
    /* WAIT after the batch: a consumer forgets a job once its outcome is
     * applied, so an outcome lost with the primary would leave the id in the
     * processing list of a consumer that is alive and no longer holds it. */
    int waited = rq->ctx ? append_wait(rq) : 0;
    if (!rq->ctx) { /* an append failed and dropped the connection */
        for (int i = 0; i < n; i++) ops[i].result = -1;
        return -1;
    }
    if (waited) nreplies++;
    redisReply *stack_r[65];
    redisReply **r = nreplies <= 65 ? stack_r : malloc((size_t)nreplies * sizeof *r);
    if (!r) {
        /* Replies cannot be read: drop the connection so they are not misread later. */
        set_err(rq, "%s", "out of memory");
        drop_connection(rq);
        for (int i = 0; i < n; i++) ops[i].result = -1;
        return -1;
    }
    read_replies(rq, r, nreplies);
    note_error_replies(rq, r, nreplies);
    int rc = 0, k = 0;
    for (int i = 0; i < n; i++) {
        rq_op_t *op = &ops[i];
        if (op->kind == RQ_OP_FORWARD) k++; /* the SET's reply: the script's says it all */
        redisReply *e = r[k++];
        if (e && e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
            op->result = (int)e->integer;
            continue;
        }
        op->result = -1;
        rc = -1;
        if (e && e->type == REDIS_REPLY_ERROR) {
            if (!strncmp(e->str, "NOSCRIPT", 8)) {
                /* Redis restarted (scripts are not persisted): load again on retry. */
                pthread_mutex_lock(&scripts_lock);
                for (int sidx = 0; sidx < (int)(sizeof scripts / sizeof scripts[0]); sidx++)
                    scripts[sidx].sha[0] = '\0';
                pthread_mutex_unlock(&scripts_lock);
            }
            set_err(rq, "Redis: %s", e->str);
        } else if (e && e->type == REDIS_REPLY_INTEGER) {
            set_err(rq, "Redis: %s", "staged payload missing (SET failed); will retry");
        }
    }
    if (waited && check_wait(rq, r[nreplies - 1]) < 0) {
        /* Applied on the primary, not known to be on a replica: applied once
         * more, which re-applies an outcome a failover lost and answers 0 for
         * one that took effect, so a primary without replicas costs one retry
         * per batch, never a stalled pipeline. */
        int again = 0;
        for (int i = 0; i < n; i++)
            if (ops[i].result == 1) {
                ops[i].result = -1;
                again++;
            }
        if (again) {
            log_warn("%s; applying %d outcomes once more", rq->err, again);
            rc = -1;
        }
    }
    free_replies(r, nreplies);
    if (r != stack_r) free(r);
    return rc;
}

static int apply_one(rqueue_t *rq, rq_op_kind_t kind, const char *queue, const char *next,
                     const char *id, const void *payload, size_t len, const char *text)
{
    rq_op_t op = {.kind = kind, .id = id, .payload = payload, .len = len, .text = text};
    rqueue_apply(rq, queue, next, &op, 1);
    return op.result;
}

int rqueue_forward(rqueue_t *rq, const char *from, const char *id, const char *to,
                   const void *payload, size_t len, const char *stage)
{
    return apply_one(rq, RQ_OP_FORWARD, from, to, id, payload, len, stage);
}

int rqueue_ack(rqueue_t *rq, const char *queue, const char *id, const char *stage)
{
    return apply_one(rq, RQ_OP_ACK, queue, NULL, id, NULL, 0, stage);
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

long rqueue_reclaim(rqueue_t *rq, const char *queue, const char *consumer)
{
    const char *args[] = {queue, consumer};
    return (long)script_int(rq, S_RELEASE, 2, args, NULL);
}

int rqueue_release_all(rqueue_t *rq, const char *queue)
{
    long n = rqueue_reclaim(rq, queue, rq->consumer);
    if (n < 0) return -1;
    if (n > 0) log_info("returned %ld in-flight ids to queue %s", n, queue);
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

int rqueue_consumers(rqueue_t *rq, const char *queue, long lease_ms,
                     int (*each)(const char *name, void *arg), void *arg)
{
    char lease[32];
    snprintf(lease, sizeof lease, "%ld", lease_ms);
    const char *args[] = {queue, lease};
    redisReply *r = run_script(rq, S_CONSUMERS, 2, args, NULL);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        set_err(rq, "Redis: %s", "unexpected consumers reply");
        freeReplyObject(r);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        /* Members are our own names, but a stray binary one must not be cut. */
        if (e->type == REDIS_REPLY_STRING && strlen(e->str) == e->len) rc = each(e->str, arg);
    }
    freeReplyObject(r);
    return rc;
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
    rq->sub_rx_ms = time_mono_ms();
    rq->sub_ping_ms = 0;
    return 0;
}

/* Sends a PING on the subscribed connection when it has been quiet, and fails
 * when the last one went unanswered. Returns the ms to wait for a reply (at
 * most timeout_ms), or -1 with rq->err set. */
static int sub_keepalive(rqueue_t *rq, int timeout_ms)
{
    uint64_t now = time_mono_ms();
    if (rq->sub_ping_ms) {
        uint64_t waited = now - rq->sub_ping_ms;
        if (waited >= RQ_SUB_PING_MS) {
            set_err(rq, "events: %s", "no answer to PING (server or link gone)");
            return -1;
        }
        uint64_t left = RQ_SUB_PING_MS - waited;
        return left < (uint64_t)timeout_ms ? (int)left : timeout_ms;
    }
    if (now - rq->sub_rx_ms < RQ_SUB_PING_MS) return timeout_ms;
    int done = 0;
    if (redisAppendCommand(rq->ctx, "PING") != REDIS_OK) {
        set_err(rq, "events: %s", "out of memory");
        return -1;
    }
    while (!done)
        if (redisBufferWrite(rq->ctx, &done) != REDIS_OK) {
            set_err(rq, "events: %s", rq->ctx->errstr);
            return -1;
        }
    rq->sub_ping_ms = now;
    return timeout_ms < RQ_SUB_PING_MS ? timeout_ms : RQ_SUB_PING_MS;
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
        int wait_ms = sub_keepalive(rq, timeout_ms);
        if (wait_ms < 0) return -1;
        struct pollfd pfd = {.fd = rq->ctx->fd, .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
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
    rq->sub_rx_ms = time_mono_ms();
    rq->sub_ping_ms = 0; /* any reply, the pong included, shows the link is up */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message") &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        snprintf(buf, buflen, "%.*s", (int)r->element[2]->len, r->element[2]->str);
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}
