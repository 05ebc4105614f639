/* rqueue.h - at-least-once work queues on Redis lists (shared/README.md, Queues).
 *
 * The keys it uses, their types and contents are listed once, in
 * shared/README.md (Keys).
 *
 * One rqueue_t per actor: it owns a hiredis context, which must not be shared
 * between threads. A lost connection is re-established on the next call (with
 * the error logged); functions return -1 with the reason in rqueue_error().
 * Which server a connection reaches (REDIS_URL's, or the primary Sentinel
 * names), its command timeout and the WAIT for replicas are set process-wide
 * by rq_ha_configure() (rqha.h). The Lua scripts are the files of shared/lua/. */
#ifndef IMGCAP_RQUEUE_H
#define IMGCAP_RQUEUE_H

#include <stddef.h>
#include <sys/uio.h>

#include "rqueue_url.h"
#include "timeutil.h"
#include "uuid.h"

#define RQ_QUEUE_RENDER "render"
#define RQ_QUEUE_PERSIST "persist"

/* The pipeline stages: the stage of P status:<id> and the "status" of an
 * event on P events (shared/README.md, Keys), in the order an image passes
 * them. Every service, the api's answers, metrics and event streams, and the
 * Lua scripts (as STAGE_<NAME> locals, see rqueue.c's load_script) use these
 * names; tests/unit/test_rqueue_lua.c checks that no script spells one out. */
#define RQ_STAGE_QUEUED "queued"         /* enqueued by the api */
#define RQ_STAGE_RENDERING "rendering"   /* taken by a render consumer */
#define RQ_STAGE_RENDERED "rendered"     /* handed over to q:persist */
#define RQ_STAGE_PERSISTING "persisting" /* taken by a persist consumer */
#define RQ_STAGE_STORED "stored"         /* file and row durable: acked */
#define RQ_STAGE_FAILED "failed"         /* dead-lettered, with a reason */
#define RQ_STAGE_DELETED "deleted"       /* DELETE /api/images/{id} */

/* Outcomes one rqueue_apply() call is sized for: the consumer's outcome actor
 * applies at most this many per round trip. */
#define RQ_APPLY_BATCH_MAX 64

typedef struct rqueue rqueue_t;

/* Longest consumer name, with its NUL. */
#define RQ_CONSUMER_MAX 192

typedef struct rq_msg {
    char id[UUID_STR_LEN];
    const unsigned char *payload; /* owned by the rqueue, valid until its next call */
    size_t len;
    long attempts; /* deliveries including this one */
} rq_msg_t;

typedef struct rq_stats {
    long long waiting, in_flight, dead, consumers;
} rq_stats_t;

typedef struct rq_status {
    char stage[16]; /* an RQ_STAGE_*; "" = unknown */
    char error[512];
    long long updated_at; /* unix ms */
} rq_status_t;

/* Connects to url (REDIS_URL: rqueue_url.h). consumer names this connection's
 * processing lists (may be NULL for a producer). Waits for Redis for at most
 * connect_timeout_ms (0 = one try), and no longer once *stop is nonzero (stop
 * may be NULL). The caller owns the result and frees it with rqueue_close().
 * NULL with err filled on failure. */
rqueue_t *rqueue_open(const char *url, const char *prefix, const char *consumer,
                      int connect_timeout_ms, stop_flag_t *stop, char *err, size_t errlen);
void rqueue_close(rqueue_t *rq);
const char *rqueue_error(const rqueue_t *rq);

/* 1 when the last rqueue_enqueue() failed because Redis is at its maxmemory
 * limit and evicts nothing (noeviction refuses every write that would grow
 * it): retrying at once cannot help, only freed memory can. */
int rqueue_error_is_oom(const rqueue_t *rq);

/* 1 if a Redis error reply is the out-of-memory refusal ("OOM ..."). */
int rqueue_reply_is_oom(const char *err);

/* The integer field name of an INFO reply ("name:value" lines) into *out: 0,
 * or -1 when it is absent or not an integer. */
int rqueue_info_field(const char *info, const char *name, long long *out);

/* INFO memory's used_memory and maxmemory (0: no limit): 0, or -1 with the
 * error in rqueue_error(). */
int rqueue_memory(rqueue_t *rq, long long *used, long long *max);

/* Longest value rqueue_enqueue stores under, or finds at, a key. */
#define RQ_KEY_VALUE_MAX 256

/* rqueue_enqueue's optional key and what it learnt about its own outcome. */
typedef struct rq_enqueue {
    /* in: a key (its name after the prefix; NULL = none) set to key_value,
     * expiring after key_ttl_s, in the same MULTI/EXEC as the upload, and only
     * if it does not exist yet: an idempotency key (services/api/idem.h) */
    const char *key;
    const char *key_value;
    int key_ttl_s;
    /* out, RQ_KEY_EXISTS: the value found under key (nothing was enqueued) */
    char found[RQ_KEY_VALUE_MAX];
    /* out, -1: 1 when the write may have been applied (sent, and its reply
     * lost; or applied on the primary but short of REDIS_WAIT_REPLICAS), 0
     * when surely nothing was written */
    int unknown;
} rq_enqueue_t;

/* Outcomes of rqueue_enqueue with a key that are not failures. */
enum {
    /* The key exists: opt->found holds its value, nothing was enqueued. With
     * REDIS_WAIT_REPLICAS, the writes that stored it are on that many replicas
     * too (a write of this connection and WAIT after it, as for an upload). */
    RQ_KEY_EXISTS = 2,
    /* The key changed between each look and each try, three times (another
     * request with the same key is being enqueued): nothing was enqueued. */
    RQ_KEY_BUSY = 3,
};

/* Most parts an enqueued payload may come in (rqueue_enqueue). */
#define RQ_ENQUEUE_PARTS_MAX 4

/* Producer: stores the payload (the bytes of payload[0..nparts), in order:
 * e.g. wire_encode_head's head and the JPEG where it was received, sent from
 * there without being copied into one buffer), pushes id on queue, sets status RQ_STAGE_QUEUED
 * (status.lua, which publishes the event) and opt->key, if any, in one
 * MULTI/EXEC, pipelined in one round trip; with a key, WATCH and GET of the key come first (one
 * more round trip), so that EXEC applies nothing when another request set the
 * key meanwhile. opt may be NULL. Returns 0 only after EXEC succeeded (and
 * WAIT, with REDIS_WAIT_REPLICAS), RQ_KEY_EXISTS, RQ_KEY_BUSY, or -1 with
 * rqueue_error() and opt->unknown set. */
int rqueue_enqueue(rqueue_t *rq, const char *queue, const char *id, const struct iovec *payload,
                   int nparts, rq_enqueue_t *opt);

/* LLEN of the work list, or -1. */
long long rqueue_waiting(rqueue_t *rq, const char *queue);

/* Consumer: takes up to max ids into this consumer's processing list in one
 * round trip (take_many.lua: LMOVE, then each delivery counted and its status
 * set to `stage`), then loads their payloads with one pipelined batch of GETs.
 * An id past max_attempts deliveries, or whose payload is gone, is
 * dead-lettered or dropped there and not returned. Waits up to timeout_ms
 * (BLMOVE, then take_one.lua) only when the work list is empty. out must have
 * room for max messages; their payloads are owned by the rqueue and valid
 * until its next call. Returns the number taken (0 when none came within
 * timeout_ms) or -1 on error. */
int rqueue_take_many(rqueue_t *rq, const char *queue, int max, int timeout_ms, int max_attempts,
                     const char *stage, rq_msg_t *out);

/* One outcome for rqueue_apply(). */
typedef enum { RQ_OP_FORWARD, RQ_OP_ACK, RQ_OP_DEAD } rq_op_kind_t;

/* The outcome of an op that is not a failure, besides 0 (applied). */
enum {
    /* The id is not in this consumer's processing list (any more): the reaper
     * or a release gave it to another consumer, or this op already took
     * effect. Nothing was changed. */
    RQ_NOT_OURS = 1,
};

typedef struct rq_op {
    rq_op_kind_t kind;
    const char *id;
    const void *payload; /* RQ_OP_FORWARD: the next queue's payload */
    size_t len;
    const char *text; /* stage (FORWARD, ACK) or reason (DEAD) */
    int result;       /* out: 0 applied, RQ_NOT_OURS, or -1 error (retry it) */
} rq_op_t;

/* Applies n outcomes of ids this consumer holds on `queue` in one pipelined
 * round trip (so one AOF fsync covers them all). Each takes effect only if the
 * id is still in this consumer's processing list of `queue`:
 *   RQ_OP_FORWARD hands it to next_queue (forward.lua: payload stored as
 *     msg:<next_queue>:<id>, id pushed on next_queue, msg:<queue>:<id>
 *     deleted, status `text`), atomically;
 *   RQ_OP_ACK removes it with its payload and delivery count, status `text`
 *     (ack.lua);
 *   RQ_OP_DEAD moves it to q:Q:dead, status RQ_STAGE_FAILED with `text` as
 *     the reason, payload kept (dead.lua).
 * Up to RQ_APPLY_BATCH_MAX ops are read into a buffer on the stack; more cost
 * an allocation.
 * Returns 0 when no op has result -1, else -1 with rqueue_error() set: retry
 * the ops whose result is -1 (a retried op that already took effect answers
 * RQ_NOT_OURS, never applies twice). */
int rqueue_apply(rqueue_t *rq, const char *queue, const char *next_queue, rq_op_t *ops, int n);

/* status:<id> of an id: stage, error, updated_at. */
int rqueue_get_status(rqueue_t *rq, const char *id, rq_status_t *out);

/* Marks id deleted (DELETE /api/images/{id}): status:<id> stage
 * RQ_STAGE_DELETED with the status TTL, and its event (status.lua), so every
 * api forgets its cached copies and event streams can drop the image.
 * Returns 0, or -1 (rqueue_error). */
int rqueue_mark_deleted(rqueue_t *rq, const char *id);

/* Counters every process adds to and the api's /metrics reports (hash
 * P counters), whichever process did the counting. */
#define RQ_COUNTER_DELETED_API "images_deleted_api"
#define RQ_COUNTER_DELETED_RETENTION "images_deleted_retention"
#define RQ_COUNTER_DELETED_RECYCLE "images_deleted_recycle"
#define RQ_COUNTER_FILES_PURGED "image_files_purged"

/* HINCRBY counters <name> n. Returns 0, or -1 (rqueue_error). */
int rqueue_counter_add(rqueue_t *rq, const char *name, long long n);

/* Reads n counters into values (0 for one never added to). Returns 0, or -1
 * (rqueue_error). */
int rqueue_counters_get(rqueue_t *rq, const char *const *names, int n, long long *values);

/* Heartbeat: ZADD consumers:Q <redis time ms> <consumer>. */
int rqueue_heartbeat(rqueue_t *rq, const char *queue);

/* Reaper (Lua, atomic): for every consumer of queue whose heartbeat is older
 * than lease_ms, moves its processing list back to the work list and forgets
 * the consumer. *moved = number of ids returned. */
int rqueue_reap(rqueue_t *rq, const char *queue, long lease_ms, long *moved);

/* Returns this consumer's in-flight ids to the work list and removes it from
 * the consumer set (graceful shutdown). */
int rqueue_release_all(rqueue_t *rq, const char *queue);

/* The same for another consumer, known to be dead (atomic, Lua): returns how
 * many ids went back to the work list, or -1. Its late outcomes, if any, are
 * refused like after a reap; deliveries keep counting against MAX_ATTEMPTS. */
long rqueue_reclaim(rqueue_t *rq, const char *queue, const char *consumer);

/* waiting, in_flight (all processing lists), dead and live consumers (heartbeat
 * younger than lease_ms). */
int rqueue_stats(rqueue_t *rq, const char *queue, long lease_ms, rq_stats_t *out);

/* Calls each(name, arg) for every consumer of queue whose heartbeat is younger
 * than lease_ms (every consumer when lease_ms < 0), until each returns nonzero.
 * each may use rq (the list is read before). Returns what each returned last
 * (0 when the walk ended), or -1 on error. */
int rqueue_consumers(rqueue_t *rq, const char *queue, long lease_ms,
                     int (*each)(const char *name, void *arg), void *arg);

#endif
