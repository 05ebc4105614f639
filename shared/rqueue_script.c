/* rqueue_script.c - rqueue's Lua scripts (shared/lua/, embedded by the
 * Makefile) as one Redis function library: the table of scripts, the library
 * text, FUNCTION LOAD once per connection, FCALL and the reload after
 * "Function not found" (see rqueue_int.h, shared/README.md).
 *
 * Why functions rather than EVAL/EVALSHA: a function library is part of the
 * dataset (AOF, RDB, replication), so a restarted Redis or a promoted replica
 * still has it and an FCALL inside the enqueue's MULTI cannot fail the way an
 * EVALSHA can (NOSCRIPT), which is what made the enqueue send the status
 * script's whole text (EVAL) with every upload, for Redis to hash again each
 * time. Loading is checked once per connection (FUNCTION LIST, a read that
 * works at maxmemory too), so only a new library version is ever written. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rqueue_int.h"

/* The files of shared/lua/, NUL-terminated (the Makefile's
 * $(BUILD)/gen/asset/%.c rule names them after their path). */
#define RQ_LUA(name) asset_shared_lua_##name##_lua
extern const unsigned char RQ_LUA(prelude)[], RQ_LUA(deliver)[], RQ_LUA(take_many)[],
    RQ_LUA(take_one)[], RQ_LUA(forward)[], RQ_LUA(ack)[], RQ_LUA(dead)[], RQ_LUA(heartbeat)[],
    RQ_LUA(reap)[], RQ_LUA(release)[], RQ_LUA(stats)[], RQ_LUA(consumers)[], RQ_LUA(status)[];

/* The head of the library, before every function: rqueue.h's stage names as
 * Lua locals, so a script writes STAGE_FAILED where C writes RQ_STAGE_FAILED
 * and the names are spelt in one place. */
static const char lua_stages[] = "local STAGE_QUEUED = '" RQ_STAGE_QUEUED "'\n"
                                 "local STAGE_RENDERING = '" RQ_STAGE_RENDERING "'\n"
                                 "local STAGE_RENDERED = '" RQ_STAGE_RENDERED "'\n"
                                 "local STAGE_PERSISTING = '" RQ_STAGE_PERSISTING "'\n"
                                 "local STAGE_STORED = '" RQ_STAGE_STORED "'\n"
                                 "local STAGE_FAILED = '" RQ_STAGE_FAILED "'\n"
                                 "local STAGE_DELETED = '" RQ_STAGE_DELETED "'\n";

/* A function's body is prelude.lua, then deliver.lua for the take scripts,
 * then the script's own file, as the callback function(KEYS, ARGV) (the
 * scripts read ARGV as they would in an EVAL).
 *
 * flags decide what Redis allows at maxmemory (noeviction): a function
 * without flags is refused whole there. The ones that only move or remove
 * (ack, dead, forward: its payload was staged by a SET Redis refuses at the
 * limit) and the lease bookkeeping (heartbeat, reap, release) are allowed, so
 * the pipeline drains and a live consumer is not reaped while Redis is full;
 * the takes and the status of a new upload or a deletion are refused, as their
 * first write was under EVAL; stats and consumers only read. */
typedef struct {
    const char *name;         /* shared/lua/<name>.lua, the function's suffix */
    const unsigned char *src; /* its text */
    int deliver;              /* uses deliver() */
    const char *flags;        /* Lua table of the function's flags */
} rq_script_t;

#define RQ_ALLOW_OOM "{'allow-oom'}"
#define RQ_NO_WRITES "{'no-writes'}"
static const rq_script_t scripts[RQ_SCRIPT_COUNT] = {
    [RQ_SCRIPT_TAKE_MANY] = {.name = "take_many", .src = RQ_LUA(take_many), .deliver = 1},
    [RQ_SCRIPT_TAKE_ONE] = {.name = "take_one", .src = RQ_LUA(take_one), .deliver = 1},
    [RQ_SCRIPT_FORWARD] = {.name = "forward", .src = RQ_LUA(forward), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_ACK] = {.name = "ack", .src = RQ_LUA(ack), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_DEAD] = {.name = "dead", .src = RQ_LUA(dead), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_HEARTBEAT] = {.name = "heartbeat", .src = RQ_LUA(heartbeat), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_REAP] = {.name = "reap", .src = RQ_LUA(reap), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_RELEASE] = {.name = "release", .src = RQ_LUA(release), .flags = RQ_ALLOW_OOM},
    [RQ_SCRIPT_STATS] = {.name = "stats", .src = RQ_LUA(stats), .flags = RQ_NO_WRITES},
    [RQ_SCRIPT_CONSUMERS] = {.name = "consumers", .src = RQ_LUA(consumers), .flags = RQ_NO_WRITES},
    [RQ_SCRIPT_STATUS] = {.name = "status", .src = RQ_LUA(status)},
};

/* The library, built once per process: its text and the FCALL name of each
 * script. */
static struct {
    pthread_once_t once;
    char *text; /* NULL: out of memory */
    size_t len;
    char name[RQ_LIB_NAME_MAX];
    char fn[RQ_SCRIPT_COUNT][RQ_LIB_NAME_MAX + 32];
} lib = {.once = PTHREAD_ONCE_INIT};

/* FNV-1a, 64 bits: names a library version after its text. Not a defence
 * against anyone: two texts only need different names in practice. */
static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Appends s to b (capacity cap, length *at); 0, or -1 when it does not fit. */
static int put(char *b, size_t cap, size_t *at, const char *s)
{
    size_t n = strlen(s);
    if (*at + n >= cap) return -1;
    memcpy(b + *at, s, n);
    *at += n;
    b[*at] = '\0';
    return 0;
}

char *rqueue_library_text(size_t *len, char name[RQ_LIB_NAME_MAX])
{
    /* The body: every function registered under a placeholder prefix "@_",
     * replaced by the library's name once the body's hash is known. */
    size_t cap = 4096 + strlen(lua_stages);
    for (int i = 0; i < RQ_SCRIPT_COUNT; i++)
        cap += 256 + strlen((const char *)RQ_LUA(prelude)) + strlen((const char *)RQ_LUA(deliver)) +
               strlen((const char *)scripts[i].src);
    char *body = malloc(cap);
    if (body == NULL) return NULL;
    size_t at = 0;
    body[0] = '\0';
    int bad = put(body, cap, &at, lua_stages);
    for (int i = 0; i < RQ_SCRIPT_COUNT && !bad; i++) {
        const rq_script_t *s = &scripts[i];
        if (s->src == NULL) { /* an enum value the table lacks */
            bad = 1;
            break;
        }
        bad = put(body, cap, &at, "redis.register_function{function_name='@_") ||
              put(body, cap, &at, s->name) || put(body, cap, &at, "', flags=") ||
              put(body, cap, &at, s->flags != NULL ? s->flags : "{}") ||
              put(body, cap, &at, ", callback=function(KEYS, ARGV)\n") ||
              put(body, cap, &at, (const char *)RQ_LUA(prelude)) ||
              put(body, cap, &at, s->deliver ? (const char *)RQ_LUA(deliver) : "") ||
              put(body, cap, &at, (const char *)s->src) || put(body, cap, &at, "\nend}\n");
    }
    if (bad) {
        free(body);
        return NULL;
    }
    snprintf(name, RQ_LIB_NAME_MAX, "imgcap_%016llx", (unsigned long long)fnv1a64(body, at));
    /* The text: the shebang, then the body with each "@_" placeholder (only
     * ever in a function name: Lua never writes '@' otherwise here) named. */
    size_t nlen = strlen(name), out_cap = 64 + at;
    for (size_t i = 0; i + 1 < at; i++)
        if (body[i] == '@' && body[i + 1] == '_') out_cap += nlen;
    char *text = malloc(out_cap);
    if (text == NULL) {
        free(body);
        return NULL;
    }
    size_t o = (size_t)snprintf(text, out_cap, "#!lua name=%s\n", name);
    for (size_t i = 0; i < at; i++) {
        if (body[i] == '@' && i + 1 < at && body[i + 1] == '_') {
            memcpy(text + o, name, nlen);
            o += nlen;
            continue; /* the '_' that follows is copied as the separator */
        }
        text[o++] = body[i];
    }
    text[o] = '\0';
    free(body);
    *len = o;
    return text;
}

static void build_library(void)
{
    lib.text = rqueue_library_text(&lib.len, lib.name);
    if (lib.text == NULL) return;
    for (int i = 0; i < RQ_SCRIPT_COUNT; i++)
        snprintf(lib.fn[i], sizeof lib.fn[i], "%s_%s", lib.name, scripts[i].name);
}

const char *rqueue_function_name(rqueue_t *rq, rq_script_id_t which)
{
    pthread_once(&lib.once, build_library);
    if (lib.text == NULL) {
        rqconn_set_err(&rq->conn, "Redis: cannot build the function library (out of memory)");
        return NULL;
    }
    return lib.fn[which];
}

/* 1 when the reply is the error of an FCALL whose function Redis lacks. */
int rqueue_reply_is_missing_function(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR &&
           strstr(r->str, "Function not found") != NULL;
}

int rqueue_library_ensure(rqueue_t *rq)
{
    if (rqconn_ensure(&rq->conn) < 0) return -1;
    if (rq->lib_gen == rq->conn.gen) return 0;
    if (rqueue_function_name(rq, RQ_SCRIPT_STATUS) == NULL) return -1;
    /* A read first: the library of this very text is usually there already
     * (persisted, replicated, or loaded by another connection), and the read
     * also works at maxmemory, where FUNCTION LOAD is refused. */
    const char *list[] = {"FUNCTION", "LIST", "LIBRARYNAME", lib.name};
    redisReply *r = rqconn_command(&rq->conn, 4, list, NULL);
    if (r == NULL) return -1;
    int present = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    freeReplyObject(r);
    if (!present) {
        const char *load[] = {"FUNCTION", "LOAD", lib.text};
        size_t lens[] = {8, 4, lib.len};
        if (rqconn_ensure(&rq->conn) < 0) return -1;
        r = redisCommandArgv(rq->conn.ctx, 3, load, lens);
        if (r == NULL) {
            rqconn_set_err(&rq->conn, "Redis I/O error: %s", rq->conn.ctx->errstr);
            return -1;
        }
        /* "already exists": another process loaded the same text meanwhile. */
        if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "already exists") == NULL) {
            rqconn_set_err(&rq->conn, "Redis FUNCTION LOAD %s: %s", lib.name, r->str);
            rqconn_note_error_reply(&rq->conn, r);
            int oom = rqueue_reply_is_oom(r->str);
            freeReplyObject(r);
            return oom ? RQ_LIB_UNSURE : -1;
        }
        /* Debug: in the api this runs on a request thread, whose info lines
         * are the access log. */
        if (r->type != REDIS_REPLY_ERROR) log_debug("Redis: function library %s loaded", lib.name);
        freeReplyObject(r);
    }
    rq->lib_gen = rq->conn.gen;
    return 0;
}

/* FCALL script with 0 keys and the given ARGV, after the prefix and the
 * status TTL (prelude.lua). Returns the reply (caller frees) or NULL with
 * rq->conn.err set. */
redisReply *rqueue_script_run(rqueue_t *rq, rq_script_id_t which, int argc, const char **args)
{
    const char *argv[16];
    size_t lens[16];
    if (argc > 11) return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* At maxmemory the library cannot be loaded but is most likely there
         * (the functions that must run there say allow-oom): call anyway. */
        if (rqueue_library_ensure(rq) < 0) return NULL;
        const char *fn = rqueue_function_name(rq, which);
        if (fn == NULL || rqconn_ensure(&rq->conn) < 0) return NULL;
        argv[0] = "FCALL";
        lens[0] = 5;
        argv[1] = fn;
        lens[1] = strlen(fn);
        argv[2] = "0";
        lens[2] = 1;
        argv[3] = rq->prefix;
        lens[3] = strlen(rq->prefix);
        argv[4] = RQ_STATUS_TTL_S;
        lens[4] = sizeof RQ_STATUS_TTL_S - 1;
        for (int i = 0; i < argc; i++) {
            argv[5 + i] = args[i];
            lens[5 + i] = strlen(args[i]);
        }
        redisReply *r = redisCommandArgv(rq->conn.ctx, 5 + argc, argv, lens);
        if (r == NULL) {
            rqconn_set_err(&rq->conn, "Redis I/O error: %s", rq->conn.ctx->errstr);
            return NULL;
        }
        if (rqueue_reply_is_missing_function(r)) {
            /* Deleted (FUNCTION FLUSH) since this connection checked: load
             * it again and retry. */
            freeReplyObject(r);
            rq->lib_gen = 0;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rqconn_set_err(&rq->conn, "Redis script error (%s): %s", scripts[which].name, r->str);
            rqconn_note_error_reply(&rq->conn, r);
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    rqconn_set_err(&rq->conn, "Redis: function %s could not be loaded", scripts[which].name);
    return NULL;
}

/* Runs a script whose reply is an integer. Returns it, or -1. */
long long rqueue_script_int(rqueue_t *rq, rq_script_id_t which, int argc, const char **args)
{
    redisReply *r = rqueue_script_run(rq, which, argc, args);
    if (r == NULL) return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (v < 0)
        rqconn_set_err(&rq->conn, "Redis: unexpected reply of script %s", scripts[which].name);
    freeReplyObject(r);
    return v;
}
