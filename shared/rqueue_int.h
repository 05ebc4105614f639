/* rqueue_int.h - what rqueue.c (the queue operations), rqueue_script.c (its
 * Lua scripts: table, loading, EVALSHA) and rqueue_info.c (Redis's memory)
 * share. Internal to those files; everything else uses rqueue.h. */
#ifndef IMGCAP_RQUEUE_INT_H
#define IMGCAP_RQUEUE_INT_H

#include "rqconn.h"
#include "rqueue.h"

/* TTL of P status:<id>, in seconds (7 days): the enqueue's EXPIRE and, as
 * ARGV[2], every script's status() (shared/lua/prelude.lua). */
#define RQ_STATUS_TTL_S "604800"

struct rqueue {
    rqconn_t conn;
    redisReply **batch; /* GET replies kept for rqueue_take_many's payloads */
    int nbatch, batch_cap;
    char prefix[64];
    char consumer[RQ_CONSUMER_MAX];
    int reclaim; /* a take's reply was lost: ids it took may be ours unknowingly */
    int oom;     /* the last enqueue was refused because Redis is at maxmemory */
};

typedef enum {
    RQ_SCRIPT_TAKE_MANY,
    RQ_SCRIPT_TAKE_ONE,
    RQ_SCRIPT_FORWARD,
    RQ_SCRIPT_ACK,
    RQ_SCRIPT_DEAD,
    RQ_SCRIPT_HEARTBEAT,
    RQ_SCRIPT_REAP,
    RQ_SCRIPT_RELEASE,
    RQ_SCRIPT_STATS,
    RQ_SCRIPT_CONSUMERS,
    RQ_SCRIPT_STATUS,
    RQ_SCRIPT_COUNT
} rq_script_id_t;

/* Forgets every SHA: Redis restarted (scripts are not persisted), so each is
 * loaded again on its next use. */
void rqueue_scripts_forget(void);

/* The whole text of a script (the stage names, prelude.lua, deliver.lua for
 * the take scripts, its own file), for an EVAL that cannot be an EVALSHA: into
 * *body (caller frees) and *len. Returns 0, or -1 with rq->conn.err set. */
int rqueue_script_body(rqueue_t *rq, rq_script_id_t which, char **body, size_t *len);

/* Makes sure the script's SHA is known (loading it once per Redis start).
 * Returns 0, or -1 with rq->conn.err set. */
int rqueue_script_sha(rqueue_t *rq, rq_script_id_t which, char sha[41]);

/* EVALSHA script with 0 keys and the given ARGV (at most 11), after the
 * prefix and the status TTL (prelude.lua). Returns the reply (caller frees)
 * or NULL with rq->conn.err set. */
redisReply *rqueue_script_run(rqueue_t *rq, rq_script_id_t which, int argc, const char **args);

/* Runs a script whose reply is an integer. Returns it, or -1. */
long long rqueue_script_int(rqueue_t *rq, rq_script_id_t which, int argc, const char **args);

#endif
