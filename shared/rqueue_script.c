/* rqueue_script.c - rqueue's Lua scripts (shared/lua/, embedded by the
 * Makefile): the table of scripts, SCRIPT LOAD once per Redis start, EVALSHA
 * and the reload after NOSCRIPT (see rqueue_int.h, shared/README.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rqueue_int.h"

/* The files of shared/lua/, NUL-terminated (the Makefile's
 * $(BUILD)/gen/asset/%.c rule names them after their path). */
#define RQ_LUA(name) asset_shared_lua_##name##_lua
extern const unsigned char RQ_LUA(prelude)[], RQ_LUA(deliver)[], RQ_LUA(take_many)[],
    RQ_LUA(take_one)[], RQ_LUA(forward)[], RQ_LUA(ack)[], RQ_LUA(dead)[], RQ_LUA(heartbeat)[],
    RQ_LUA(reap)[], RQ_LUA(release)[], RQ_LUA(stats)[], RQ_LUA(consumers)[], RQ_LUA(status)[];

/* The head of every script, before prelude.lua: rqueue.h's stage names as Lua
 * locals, so a script writes STAGE_FAILED where C writes RQ_STAGE_FAILED and
 * the names are spelt in one place. */
static const char lua_stages[] = "local STAGE_QUEUED = '" RQ_STAGE_QUEUED "'\n"
                                 "local STAGE_RENDERING = '" RQ_STAGE_RENDERING "'\n"
                                 "local STAGE_RENDERED = '" RQ_STAGE_RENDERED "'\n"
                                 "local STAGE_PERSISTING = '" RQ_STAGE_PERSISTING "'\n"
                                 "local STAGE_STORED = '" RQ_STAGE_STORED "'\n"
                                 "local STAGE_FAILED = '" RQ_STAGE_FAILED "'\n"
                                 "local STAGE_DELETED = '" RQ_STAGE_DELETED "'\n";

/* A script is lua_stages, prelude.lua, then deliver.lua for the take
 * scripts, then its own file. Its SHA1 is computed by Redis on first load (SCRIPT LOAD) and
 * cached per process. Scripts are constant, so a race between threads writing
 * the same value is benign; the cache is guarded anyway for the sanitizers. */
typedef struct {
    const char *name;         /* shared/lua/<name>.lua, for error messages */
    const unsigned char *src; /* its text */
    int deliver;              /* uses deliver() */
    char sha[41];             /* "" until loaded */
} rq_script_t;

static rq_script_t scripts[RQ_SCRIPT_COUNT] = {
    [RQ_SCRIPT_TAKE_MANY] = {.name = "take_many", .src = RQ_LUA(take_many), .deliver = 1},
    [RQ_SCRIPT_TAKE_ONE] = {.name = "take_one", .src = RQ_LUA(take_one), .deliver = 1},
    [RQ_SCRIPT_FORWARD] = {.name = "forward", .src = RQ_LUA(forward)},
    [RQ_SCRIPT_ACK] = {.name = "ack", .src = RQ_LUA(ack)},
    [RQ_SCRIPT_DEAD] = {.name = "dead", .src = RQ_LUA(dead)},
    [RQ_SCRIPT_HEARTBEAT] = {.name = "heartbeat", .src = RQ_LUA(heartbeat)},
    [RQ_SCRIPT_REAP] = {.name = "reap", .src = RQ_LUA(reap)},
    [RQ_SCRIPT_RELEASE] = {.name = "release", .src = RQ_LUA(release)},
    [RQ_SCRIPT_STATS] = {.name = "stats", .src = RQ_LUA(stats)},
    [RQ_SCRIPT_CONSUMERS] = {.name = "consumers", .src = RQ_LUA(consumers)},
    [RQ_SCRIPT_STATUS] = {.name = "status", .src = RQ_LUA(status)},
};
static pthread_mutex_t scripts_lock = PTHREAD_MUTEX_INITIALIZER;

/* Forgets every SHA: Redis restarted (scripts are not persisted), so each is
 * loaded again on its next use. */
void rqueue_scripts_forget(void)
{
    pthread_mutex_lock(&scripts_lock);
    for (int i = 0; i < RQ_SCRIPT_COUNT; i++) scripts[i].sha[0] = '\0';
    pthread_mutex_unlock(&scripts_lock);
}

int rqueue_script_body(rqueue_t *rq, rq_script_id_t which, char **body, size_t *len)
{
    const rq_script_t *s = &scripts[which];
    if (s->src == NULL) { /* an enum value the table lacks */
        rqconn_set_err(&rq->conn, "Redis: script %d has no entry in rqueue_script.c's table",
                       (int)which);
        return -1;
    }
    const char *parts[4] = {lua_stages, (const char *)RQ_LUA(prelude),
                            s->deliver ? (const char *)RQ_LUA(deliver) : "", (const char *)s->src};
    size_t lens[4], total = 0;
    for (int i = 0; i < 4; i++) total += lens[i] = strlen(parts[i]);
    char *b = malloc(total);
    if (b == NULL) {
        rqconn_set_err(&rq->conn, "script %s: out of memory", s->name);
        return -1;
    }
    for (size_t i = 0, at = 0; i < 4; at += lens[i], i++) memcpy(b + at, parts[i], lens[i]);
    *body = b;
    *len = total;
    return 0;
}

static int load_script(rqueue_t *rq, rq_script_t *s)
{
    char *body;
    size_t total;
    if (rqueue_script_body(rq, (rq_script_id_t)(s - scripts), &body, &total) < 0) return -1;
    const char *argv[] = {"SCRIPT", "LOAD", body};
    size_t argl[] = {6, 4, total};
    redisReply *r = rqconn_command(&rq->conn, 3, argv, argl);
    free(body);
    if (r == NULL) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        pthread_mutex_lock(&scripts_lock);
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        pthread_mutex_unlock(&scripts_lock);
        rc = 0;
    } else {
        rqconn_set_err(&rq->conn, "SCRIPT LOAD %s: unexpected reply", s->name);
    }
    freeReplyObject(r);
    return rc;
}

/* Makes sure the script's SHA is known (loading it once per Redis start). */
int rqueue_script_sha(rqueue_t *rq, rq_script_id_t which, char sha[41])
{
    pthread_mutex_lock(&scripts_lock);
    memcpy(sha, scripts[which].sha, 41);
    pthread_mutex_unlock(&scripts_lock);
    if (sha[0] != '\0') return 0;
    if (load_script(rq, &scripts[which]) < 0) return -1;
    pthread_mutex_lock(&scripts_lock);
    memcpy(sha, scripts[which].sha, 41);
    pthread_mutex_unlock(&scripts_lock);
    return 0;
}

/* EVALSHA script with 0 keys and the given ARGV, after the prefix and the
 * status TTL (prelude.lua). Returns the reply (caller frees) or NULL with
 * rq->conn.err set. */
redisReply *rqueue_script_run(rqueue_t *rq, rq_script_id_t which, int argc, const char **args)
{
    rq_script_t *s = &scripts[which];
    const char *argv[16];
    size_t lens[16];
    if (argc > 11) return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        char sha[41];
        if (rqueue_script_sha(rq, which, sha) < 0) return NULL;
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = sha;
        lens[1] = 40;
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
        if (rqconn_ensure(&rq->conn) < 0) return NULL;
        redisReply *r = redisCommandArgv(rq->conn.ctx, 5 + argc, argv, lens);
        if (r == NULL) {
            rqconn_set_err(&rq->conn, "Redis I/O error: %s", rq->conn.ctx->errstr);
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            /* Redis restarted (scripts are not persisted): load and retry. */
            freeReplyObject(r);
            pthread_mutex_lock(&scripts_lock);
            s->sha[0] = '\0';
            pthread_mutex_unlock(&scripts_lock);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rqconn_set_err(&rq->conn, "Redis script error (%s): %s", s->name, r->str);
            rqconn_note_error_reply(&rq->conn, r);
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    rqconn_set_err(&rq->conn, "Redis: script %s could not be loaded", s->name);
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
