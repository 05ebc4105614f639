/* rqueue_int.h - what rqueue.c (the queue operations), rqueue_script.c (its
 * Lua scripts: the function library, its loading, FCALL) and rqueue_info.c (Redis's memory)
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
    int reclaim;           /* a take's reply was lost: ids it took may be ours unknowingly */
    int oom;               /* the last enqueue was refused because Redis is at maxmemory */
    unsigned long lib_gen; /* conn.gen when the function library was last found there */
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

/* Longest name of the function library ("imgcap_" and 16 hex digits). */
#define RQ_LIB_NAME_MAX 32

/* The text of the function library (FUNCTION LOAD): every script of the enum
 * as the function <name>_<script>, name = "imgcap_" + a hash of the text, so
 * each version of the scripts is a library of its own and processes of two
 * versions never replace each other's functions. Pure: the caller frees the
 * text. NULL when out of memory or when a script lacks its table entry. */
char *rqueue_library_text(size_t *len, char name[RQ_LIB_NAME_MAX]);

/* The FCALL name of a script, or NULL (rq->conn.err set: out of memory). */
const char *rqueue_function_name(rqueue_t *rq, rq_script_id_t which);

/* rqueue_library_ensure's answer when FUNCTION LOAD was refused at maxmemory:
 * the library may well be there already (persisted with the data), so calls
 * go ahead and a missing function shows up as their error. */
#define RQ_LIB_UNSURE 1

/* Makes sure the function library is in Redis: checked once per connection
 * (FUNCTION LIST), loaded when absent. Returns 0, RQ_LIB_UNSURE, or -1 with
 * rq->conn.err set. */
int rqueue_library_ensure(rqueue_t *rq);

/* 1 when r is the error of an FCALL of a function Redis does not have (the
 * library was deleted since it was checked): the connection checks again. */
int rqueue_reply_is_missing_function(const redisReply *r);

/* FCALL script with 0 keys and the given ARGV (at most 11), after the
 * prefix and the status TTL (prelude.lua). Returns the reply (caller frees)
 * or NULL with rq->conn.err set. */
redisReply *rqueue_script_run(rqueue_t *rq, rq_script_id_t which, int argc, const char **args);

/* Runs a script whose reply is an integer. Returns it, or -1. */
long long rqueue_script_int(rqueue_t *rq, rq_script_id_t which, int argc, const char **args);

#endif
