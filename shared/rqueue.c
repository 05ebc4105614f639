/* rqueue.c - reliable queues on Redis lists, see rqueue.h and shared/README.md (Queues).
 *
 * Every state change that touches more than one key is a Lua script
 * (shared/lua/, embedded by the Makefile), so it is atomic even when the
 * client dies between commands: a crash can leave an id in a processing list
 * (the reaper returns it), never half-moved. The scripts are one Redis
 * function library, called with FCALL (rqueue_script.c). */
#include "rqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rqconn.h"
#include "rqha.h"
#include "rqueue_int.h"

_Static_assert(sizeof RQ_STAGE_PERSISTING <= sizeof((rq_status_t *)0)->stage &&
                   sizeof RQ_STAGE_RENDERING <= sizeof((rq_status_t *)0)->stage,
               "the longest stages must fit rq_status_t.stage");

/* TTL of a forward's staged payload, in seconds (a day): one orphaned by a
 * crash between its SET and forward.lua cannot leak for ever. */
#define RQ_STAGED_TTL_S "86400"

/* ---- connection ---- */

static void free_kept_replies(rqueue_t *rq)
{
    rqconn_free_replies(rq->batch, rq->nbatch);
    rq->nbatch = 0;
}

rqueue_t *rqueue_open(const char *url, const char *prefix, const char *consumer,
                      int connect_timeout_ms, stop_flag_t *stop, char *err, size_t errlen)
{
    rqueue_t *rq = calloc(1, sizeof *rq);
    if (rq == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rqconn_init(&rq->conn, url, err, errlen) < 0) {
        free(rq);
        return NULL;
    }
    snprintf(rq->prefix, sizeof rq->prefix, "%s", prefix);
    if (consumer != NULL && strlen(consumer) >= sizeof rq->consumer) {
        snprintf(err, errlen, "consumer name longer than %d bytes", RQ_CONSUMER_MAX - 1);
        free(rq);
        return NULL;
    }
    snprintf(rq->consumer, sizeof rq->consumer, "%s", consumer != NULL ? consumer : "");
    if (rqconn_connect(&rq->conn, connect_timeout_ms, stop) == 0) return rq;
    snprintf(err, errlen, "%s", rq->conn.err);
    free(rq);
    return NULL;
}

void rqueue_close(rqueue_t *rq)
{
    if (rq == NULL) return;
    free_kept_replies(rq);
    rqconn_drop(&rq->conn);
    free(rq->batch);
    free(rq);
}

const char *rqueue_error(const rqueue_t *rq) { return rq->conn.err; }

/* ---- pipelines ---- */

/* Marks the connection stale when any reply of a pipeline says the server is
 * no primary (the replies are all read by now, so dropping it is safe). */
static void note_error_replies(rqueue_t *rq, redisReply **r, int n)
{
    for (int i = 0; i < n; i++) rqconn_note_error_reply(&rq->conn, r[i]);
}

/* Appends WAIT for REDIS_WAIT_REPLICAS to a pipeline. Returns the number of
 * commands appended (0 when no WAIT is configured, else 1), or -1 when the
 * append failed (connection dropped). */
static int append_wait(rqueue_t *rq)
{
    int n = rq_ha_wait_replicas();
    if (n <= 0) return 0;
    char replicas[16], tmo[16];
    snprintf(replicas, sizeof replicas, "%d", n);
    snprintf(tmo, sizeof tmo, "%d", rq_ha_wait_timeout_ms());
    const char *argv[] = {"WAIT", replicas, tmo};
    return rqconn_append(&rq->conn, 3, argv, NULL) < 0 ? -1 : 1;
}

/* Checks WAIT's reply: 0 when enough replicas have the writes before it, else
 * -1 with rq->conn.err saying how many did. */
static int check_wait(rqueue_t *rq, const redisReply *w)
{
    int want = rq_ha_wait_replicas();
    if (w != NULL && w->type == REDIS_REPLY_INTEGER && w->integer >= want) return 0;
    if (w != NULL && w->type == REDIS_REPLY_INTEGER)
        rqconn_set_err(&rq->conn,
                       "Redis replication: %lld of %d replicas acknowledged within %d ms",
                       w->integer, want, rq_ha_wait_timeout_ms());
    else
        rqconn_set_err(&rq->conn, "Redis replication: WAIT failed: %s",
                       w != NULL && w->type == REDIS_REPLY_ERROR ? w->str : "no reply");
    return -1;
}

/* ---- producer ---- */

/* enqueue_tx's answer when EXEC applied nothing because the watched key
 * changed (another request set it): look again. */
#define RQ_TX_ABORTED 4

/* MULTI, the upload's writes (and the key's, when key is not NULL), EXEC and
 * WAIT in one round trip. Returns 0, RQ_TX_ABORTED, or -1 with *unknown saying
 * whether the writes may have been applied. */
static int enqueue_tx(rqueue_t *rq, const char *queue, const char *id, const struct iovec *payload,
                      int nparts, const char *key, const rq_enqueue_t *opt, int *unknown)
{
    char msg[256], list[256], ttl[16];
    snprintf(msg, sizeof msg, "%smsg:%s:%s", rq->prefix, queue, id);
    snprintf(list, sizeof list, "%sq:%s", rq->prefix, queue);
    snprintf(ttl, sizeof ttl, "%d", opt != NULL ? opt->key_ttl_s : 0);
    /* The status and its event come from status.lua, so that every event is
     * built by prelude.lua's status() with Redis's clock: an FCALL of the
     * function library, which enqueue_ready() checked on this connection. */
    *unknown = 0;
    const char *fn = rqueue_function_name(rq, RQ_SCRIPT_STATUS);
    if (fn == NULL) return -1;

    /* MULTI/EXEC rather than one script: the payload is not copied through
     * Lua, and the whole pipeline is one round trip and one AOF fsync. */
    const char *multi[] = {"MULTI"};
    const char *push[] = {"LPUSH", list, id};
    const char *status[] = {"FCALL", fn, "0", rq->prefix, RQ_STATUS_TTL_S, id, RQ_STAGE_QUEUED};
    const char *setkey[] = {"SET", key, opt != NULL ? opt->key_value : "", "EX", ttl};
    const char *exec[] = {"EXEC"};
    char replicas[16], tmo[16];
    snprintf(replicas, sizeof replicas, "%d", rq_ha_wait_replicas());
    snprintf(tmo, sizeof tmo, "%d", rq_ha_wait_timeout_ms());
    const char *wait[] = {"WAIT", replicas, tmo};
    rqconn_t *c = &rq->conn;
    int keyed = key != NULL, waited = rq_ha_wait_replicas() > 0;
    size_t plen = 0;
    for (int i = 0; i < nparts; i++) plen += payload[i].iov_len;
    /* The SET of the payload is written out by hand around the payload's
     * parts, which are sent from where they are (rqconn_sendv): the upload's
     * bytes go from the request to the socket without a copy, where hiredis
     * would format the command into one buffer and copy that into its own. */
    char set_head[320];
    int set_head_len = snprintf(set_head, sizeof set_head,
                                "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(msg), msg,
                                plen);
    /* The small commands, formatted by hiredis (each freed below). With
     * REDIS_WAIT_REPLICAS, WAIT follows EXEC in the same round trip: the 202
     * is sent only once the upload (and its key) is on that many replicas
     * too. */
    char *cmd[6] = {NULL};
    long long cmd_len[6] = {0};
    cmd_len[0] = redisFormatCommandArgv(&cmd[0], 1, multi, NULL);
    cmd_len[1] = redisFormatCommandArgv(&cmd[1], 3, push, NULL);
    cmd_len[2] = redisFormatCommandArgv(&cmd[2], 7, status, NULL);
    if (keyed) cmd_len[3] = redisFormatCommandArgv(&cmd[3], 5, setkey, NULL);
    cmd_len[4] = redisFormatCommandArgv(&cmd[4], 1, exec, NULL);
    if (waited) cmd_len[5] = redisFormatCommandArgv(&cmd[5], 3, wait, NULL);
    int formatted = set_head_len > 0 && (size_t)set_head_len < sizeof set_head;
    for (int i = 0; i < 6; i++)
        if (cmd_len[i] < 0 || (cmd[i] == NULL && (i != 3 || keyed) && (i != 5 || waited)))
            formatted = 0;
    int rc = -1;
    if (!formatted) {
        rqconn_set_err(c, "Redis: out of memory building the enqueue");
        goto free_cmds;
    }
    struct iovec iov[RQ_ENQUEUE_PARTS_MAX + 8];
    int n = 0;
    size_t exec_end = 0; /* bytes up to the end of EXEC: once sent, it may apply */
    iov[n++] = (struct iovec){cmd[0], (size_t)cmd_len[0]};
    iov[n++] = (struct iovec){set_head, (size_t)set_head_len};
    for (int i = 0; i < nparts; i++) iov[n++] = payload[i];
    iov[n++] = (struct iovec){(void *)"\r\n", 2};
    for (int i = 1; i < 6; i++) {
        if (cmd[i] != NULL) iov[n++] = (struct iovec){cmd[i], (size_t)cmd_len[i]};
        if (i == 4)
            for (int k = 0; k < n; k++) exec_end += iov[k].iov_len;
    }
    size_t sent;
    if (rqconn_sendv(c, iov, n, &sent) < 0) {
        /* An EXEC cut short is never run: the connection is closed and its
         * MULTI discarded. Once all of it went out, Redis may have run it. */
        *unknown = sent >= exec_end;
        goto free_cmds;
    }
    redisReply *r[8];
    int at_exec = 4 + keyed, nr = at_exec + 1 + waited;
    rqconn_read_replies(c, r, nr);
    note_error_replies(rq, r, nr);
    rq->oom = 0;
    redisReply *e = r[at_exec];
    rc = 0;
    if (e == NULL) {
        /* Sent, and EXEC's reply never came: Redis may have applied it. */
        *unknown = 1;
        rc = -1;
    } else if (e->type == REDIS_REPLY_NIL && keyed) {
        rc = RQ_TX_ABORTED; /* the watched key changed: nothing was applied */
    } else if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 + (size_t)keyed) {
        /* EXEC answered an error or nil: nothing was applied. A command
         * refused while queued (OOM at maxmemory) makes EXEC answer only
         * EXECABORT: that command's own error says why. */
        const char *why = e->type == REDIS_REPLY_ERROR ? e->str : "EXEC failed";
        for (int i = 1; i < at_exec; i++)
            if (r[i] != NULL && r[i]->type == REDIS_REPLY_ERROR) {
                why = r[i]->str;
                break;
            }
        rq->oom = rqueue_reply_is_oom(why);
        rqconn_set_err(c, "Redis refused the enqueue: %s", why);
        rc = -1;
    } else {
        for (size_t i = 0; i < e->elements; i++)
            if (e->element[i]->type == REDIS_REPLY_ERROR) {
                /* The library was deleted by hand (FUNCTION FLUSH) since this
                 * connection checked: the next enqueue checks again. */
                if (rqueue_reply_is_missing_function(e->element[i])) rq->lib_gen = 0;
                /* The others were applied: the outcome is no longer clear. */
                rqconn_set_err(c, "Redis enqueue command failed: %s", e->element[i]->str);
                *unknown = 1;
                rc = -1;
            }
        /* Short of replicas: the upload is on the primary only, and a 503 lets
         * the client retry rather than trust a copy one host's loss can take. */
        if (rc == 0 && waited && check_wait(rq, r[nr - 1]) < 0) {
            *unknown = 1;
            rc = -1;
        }
    }
    rqconn_free_replies(r, nr);
free_cmds:
    for (int i = 0; i < 6; i++) redisFreeCommand(cmd[i]);
    return rc;
}

/* Checks that the function library is on this connection, before the
 * enqueue's WATCH (the check is a command of its own, and may load the
 * library; nothing may reconnect between WATCH and EXEC). Functions are part
 * of the dataset, so unlike an EVALSHA (NOSCRIPT after a restart) the status
 * FCALL cannot then fail inside the MULTI. Returns 0, or -1 (rq->oom set when
 * Redis refused to load it at maxmemory, where it refuses the SET too). */
static int enqueue_ready(rqueue_t *rq)
{
    rq->oom = 0;
    int lib = rqueue_library_ensure(rq);
    if (lib != RQ_LIB_UNSURE) return lib;
    char why[sizeof rq->conn.err];
    snprintf(why, sizeof why, "%s", rq->conn.err);
    rq->oom = 1;
    rqconn_set_err(&rq->conn, "Redis refused the enqueue: %s", why);
    return -1;
}

/* WATCH key, GET key in one round trip. Returns 0 (absent, and watched),
 * RQ_KEY_EXISTS with opt->found filled (watch dropped), or -1. */
static int watch_key(rqueue_t *rq, const char *key, rq_enqueue_t *opt)
{
    rqconn_t *c = &rq->conn;
    const char *watch[] = {"WATCH", key};
    const char *get[] = {"GET", key};
    if (rqconn_append(c, 2, watch, NULL) < 0 || rqconn_append(c, 2, get, NULL) < 0) return -1;
    redisReply *r[2];
    int rc = rqconn_read_replies(c, r, 2);
    note_error_replies(rq, r, 2);
    if (rc == 0) {
        if (r[0]->type != REDIS_REPLY_STATUS) {
            rqconn_set_err(c, "Redis refused WATCH: %s",
                           r[0]->type == REDIS_REPLY_ERROR ? r[0]->str : "unexpected reply");
            rc = -1;
        } else if (r[1]->type == REDIS_REPLY_STRING && r[1]->len < sizeof opt->found) {
            memcpy(opt->found, r[1]->str, r[1]->len);
            opt->found[r[1]->len] = '\0';
            rc = RQ_KEY_EXISTS;
        } else if (r[1]->type != REDIS_REPLY_NIL) {
            rqconn_set_err(c, "Redis: GET of the key answered %s",
                           r[1]->type == REDIS_REPLY_ERROR ? r[1]->str : "an unexpected reply");
            rc = -1;
        }
    }
    rqconn_free_replies(r, 2);
    /* A WATCH left behind would abort the next MULTI of this connection. */
    if (rc < 0) rqconn_drop(c);
    return rc;
}

/* A key found: its upload was enqueued by an earlier request, whose WAIT may
 * still be running or may have failed. UNWATCH; with REDIS_WAIT_REPLICAS this
 * connection also writes (counts the replay) and WAITs: the replication stream
 * is ordered, so once this write is on the replicas, so is the earlier upload.
 * Returns RQ_KEY_EXISTS, or -1 with *unknown set when the WAIT fell short. */
static int confirm_found(rqueue_t *rq, int *unknown)
{
    char counters[128];
    snprintf(counters, sizeof counters, "%scounters", rq->prefix);
    const char *unwatch[] = {"UNWATCH"};
    const char *incr[] = {"HINCRBY", counters, "idempotent_replays", "1"};
    rqconn_t *c = &rq->conn;
    int want = rq_ha_wait_replicas();
    *unknown = 1; /* whatever fails now, the upload is there */
    if (rqconn_append(c, 1, unwatch, NULL) < 0 || (want > 0 && rqconn_append(c, 4, incr, NULL) < 0))
        return -1;
    int waited = want > 0 ? append_wait(rq) : 0;
    if (waited < 0) return -1;
    redisReply *r[3];
    int nr = 1 + 2 * waited;
    int rc = rqconn_read_replies(c, r, nr);
    note_error_replies(rq, r, nr);
    if (rc == 0 && waited && check_wait(rq, r[2]) < 0) rc = -1;
    rqconn_free_replies(r, nr);
    return rc == 0 ? RQ_KEY_EXISTS : -1;
}

int rqueue_enqueue(rqueue_t *rq, const char *queue, const char *id, const struct iovec *payload,
                   int nparts, rq_enqueue_t *opt)
{
    int unknown = 0, rc = -1;
    if (nparts < 1 || nparts > RQ_ENQUEUE_PARTS_MAX) {
        rqconn_set_err(&rq->conn, "rqueue_enqueue: %d payload parts (1..%d)", nparts,
                       RQ_ENQUEUE_PARTS_MAX);
        if (opt != NULL) opt->unknown = 0;
        return -1;
    }
    if (opt != NULL) opt->found[0] = '\0';
    if (rqconn_ensure(&rq->conn) < 0 || enqueue_ready(rq) < 0) goto out;
    if (opt == NULL || opt->key == NULL) {
        rc = enqueue_tx(rq, queue, id, payload, nparts, NULL, opt, &unknown);
        goto out;
    }
    char key[512];
    snprintf(key, sizeof key, "%s%s", rq->prefix, opt->key);
    /* No reconnection between WATCH and EXEC (rqconn_ensure is not called
     * again): a new connection would carry no WATCH. */
    for (int round = 0; round < 3; round++) {
        rc = watch_key(rq, key, opt);
        if (rc == RQ_KEY_EXISTS) {
            rc = confirm_found(rq, &unknown);
            goto out;
        }
        if (rc < 0) goto out;
        rc = enqueue_tx(rq, queue, id, payload, nparts, key, opt, &unknown);
        if (rc != RQ_TX_ABORTED) goto out;
        /* EXEC ended the WATCH: reconnecting is safe. */
        if (rqconn_ensure(&rq->conn) < 0 || enqueue_ready(rq) < 0) {
            rc = -1;
            goto out;
        }
    }
    rqconn_set_err(&rq->conn, "Redis: the key changed at each of three tries");
    rc = RQ_KEY_BUSY;
out:
    if (opt != NULL) opt->unknown = rc < 0 ? unknown : 0;
    return rc;
}

long long rqueue_waiting(rqueue_t *rq, const char *queue)
{
    char key[256];
    snprintf(key, sizeof key, "%sq:%s", rq->prefix, queue);
    const char *argv[] = {"LLEN", key};
    size_t lens[] = {4, strlen(key)};
    redisReply *r = rqconn_command(&rq->conn, 2, argv, lens);
    if (r == NULL) return -1;
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* ---- consumer: take ---- */

static int ensure_batch_room(rqueue_t *rq, int n)
{
    if (n <= rq->batch_cap) return 0;
    redisReply **b = realloc(rq->batch, (size_t)n * sizeof *b);
    if (b == NULL) {
        rqconn_set_err(&rq->conn, "out of memory");
        return -1;
    }
    rq->batch = b;
    rq->batch_cap = n;
    return 0;
}

/* Parses a {id, n, id, n, ...} script reply into out[]: the ids taken. An id
 * with n < 0 was dead-lettered by the take itself at the delivery cap
 * (deliver.lua); no worker sees it, so its one log line is written here.
 * Returns the count taken. */
static int parse_taken(const redisReply *r, const char *queue, rq_msg_t *out, int max)
{
    int n = 0;
    if (r->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i + 1 < r->elements && n < max; i += 2) {
        const redisReply *id = r->element[i], *cnt = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || id->len >= UUID_STR_LEN ||
            cnt->type != REDIS_REPLY_INTEGER)
            continue;
        if (cnt->integer < 0) {
            log_warn("id=%.*s dead-lettered from %s: gave up after %lld deliveries that never "
                     "finished (worker crashed or hung each time)",
                     (int)id->len, id->str, queue, -cnt->integer);
            continue;
        }
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
    if ((rq->conn.ctx == NULL || rq->conn.ctx->err) && k > rq->reclaim) rq->reclaim = k;
}

/* Payloads of the n ids in out[] (one pipelined batch of GETs), kept in
 * rq->batch until the next call. Returns how many ids have one (moved to the
 * front of out[]), or -1 on a lost connection (the ids stay in our processing
 * list and the next take hands them out again). Handing out again (`again`),
 * a payload may be gone: the id's outcome was applied meanwhile. */
static int load_payloads(rqueue_t *rq, const char *queue, rq_msg_t *out, int n, int again)
{
    if (ensure_batch_room(rq, n) < 0) return -1;
    for (int i = 0; i < n; i++) {
        char key[256];
        snprintf(key, sizeof key, "%smsg:%s:%s", rq->prefix, queue, out[i].id);
        const char *argv[] = {"GET", key};
        if (rqconn_append(&rq->conn, 2, argv, NULL) < 0) {
            note_lost_take(rq, n);
            return -1;
        }
    }
    if (rqconn_read_replies(&rq->conn, rq->batch, n) < 0) {
        rqconn_free_replies(rq->batch, n);
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
 * Returns the number handed out (0 when there was nothing), or -1 on error. */
static int reclaim_taken(rqueue_t *rq, const char *queue, int max, rq_msg_t *out)
{
    int k = rq->reclaim < max ? rq->reclaim : max;
    char proc[512], last[16];
    snprintf(proc, sizeof proc, "%sq:%s:processing:%s", rq->prefix, queue, rq->consumer);
    snprintf(last, sizeof last, "%d", k - 1);
    const char *argv[] = {"LRANGE", proc, "0", last};
    redisReply *r = rqconn_command(&rq->conn, 4, argv, NULL);
    if (r == NULL) return -1;
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

/* The work list is empty: blocks on BLMOVE for one id, then runs take_one.lua
 * for it. Returns 1 with out[0] filled, 0 when none came, -1 on error. */
static int take_blocking(rqueue_t *rq, const char *queue, int timeout_ms, const char *maxa,
                         const char *stage, rq_msg_t *out)
{
    char src[256], dst[512], tmo[32];
    snprintf(src, sizeof src, "%sq:%s", rq->prefix, queue);
    snprintf(dst, sizeof dst, "%sq:%s:processing:%s", rq->prefix, queue, rq->consumer);
    /* BLMOVE's timeout must end before the socket timeout fires. */
    if (timeout_ms > rq_ha_timeout_ms() / 2) timeout_ms = rq_ha_timeout_ms() / 2;
    snprintf(tmo, sizeof tmo, "%.3f", timeout_ms / 1000.0);
    const char *argv[] = {"BLMOVE", src, dst, "RIGHT", "LEFT", tmo};
    size_t lens[] = {6, strlen(src), strlen(dst), 5, 4, strlen(tmo)};
    redisReply *r = rqconn_command(&rq->conn, 6, argv, lens);
    if (r == NULL) {
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
    r = rqueue_script_run(rq, RQ_SCRIPT_TAKE_ONE, 5, one);
    if (r == NULL) {
        /* BLMOVE has moved the id into our processing list, but the script
         * that counts it and hands it out failed: its reply lost, or refused
         * on a live connection (OOM: Redis reached maxmemory between the two
         * commands). The reaper never takes from a live, heartbeating
         * consumer, so the next take hands it out again (reclaim_taken), or
         * it would stay in flight for ever. */
        if (rq->reclaim < 1) rq->reclaim = 1;
        return -1;
    }
    int n = parse_taken(r, queue, out, 1);
    /* {} (not a dead letter, which parse_taken logged): the payload was gone. */
    if (n == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        log_error("id=%s queue %s: taken without its payload, dropped", id, queue);
    freeReplyObject(r);
    return n;
}

int rqueue_take_many(rqueue_t *rq, const char *queue, int max, int timeout_ms, int max_attempts,
                     const char *stage, rq_msg_t *out)
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
    redisReply *r = rqueue_script_run(rq, RQ_SCRIPT_TAKE_MANY, 5, args);
    if (r == NULL) {
        note_lost_take(rq, max);
        return -1;
    }
    int n = parse_taken(r, queue, out, max);
    freeReplyObject(r);
    if (n == 0) n = take_blocking(rq, queue, timeout_ms, maxa, stage, out);
    if (n <= 0) return n;
    return load_payloads(rq, queue, out, n, 0);
}

/* ---- consumer: outcomes ---- */

/* Every op failed (nothing or not all of the batch went out). */
static int fail_ops(rq_op_t *ops, int n)
{
    for (int i = 0; i < n; i++) ops[i].result = -1;
    return -1;
}

/* Appends op's commands (a forward's staging SET, then the script) to the
 * pipeline. Returns how many replies they will give, or -1 when an append
 * failed (connection dropped). */
static int append_op(rqueue_t *rq, const char *queue, const char *next_queue, const rq_op_t *op,
                     const char *fn)
{
    if (op->kind == RQ_OP_FORWARD) {
        char staged[512];
        snprintf(staged, sizeof staged, "%sstage:%s:%s", rq->prefix, rq->consumer, op->id);
        const char *set[] = {"SET", staged, op->payload, "EX", RQ_STAGED_TTL_S};
        size_t set_len[] = {3, strlen(staged), op->len, 2, sizeof RQ_STAGED_TTL_S - 1};
        if (rqconn_append(&rq->conn, 5, set, set_len) < 0) return -1;
        const char *to = next_queue != NULL ? next_queue : "";
        const char *ev[] = {"FCALL", fn,           "0",    rq->prefix, RQ_STATUS_TTL_S,
                            queue,   rq->consumer, op->id, to,         op->text};
        return rqconn_append(&rq->conn, 10, ev, NULL) < 0 ? -1 : 2;
    }
    const char *ev[] = {"FCALL", fn,           "0",    rq->prefix, RQ_STATUS_TTL_S,
                        queue,   rq->consumer, op->id, op->text};
    return rqconn_append(&rq->conn, 9, ev, NULL) < 0 ? -1 : 1;
}

/* The result of op from its script's reply (forward.lua, ack.lua, dead.lua:
 * 1 done, 0 not ours, -2 staged payload missing). */
static int op_result(rqueue_t *rq, const redisReply *e)
{
    if (e != NULL && e->type == REDIS_REPLY_INTEGER && e->integer == 1) return 0;
    if (e != NULL && e->type == REDIS_REPLY_INTEGER && e->integer == 0) return RQ_NOT_OURS;
    if (e != NULL && e->type == REDIS_REPLY_ERROR) {
        /* The library was deleted since this connection checked: check
         * (and load) again on retry. */
        if (rqueue_reply_is_missing_function(e)) rq->lib_gen = 0;
        rqconn_set_err(&rq->conn, "Redis: %s", e->str);
    } else if (e != NULL && e->type == REDIS_REPLY_INTEGER) {
        rqconn_set_err(&rq->conn, "Redis: staged payload missing (SET failed); will retry");
    }
    return -1;
}

int rqueue_apply(rqueue_t *rq, const char *queue, const char *next_queue, rq_op_t *ops, int n)
{
    const char *fn[3]; /* indexed by rq_op_kind_t */
    /* RQ_LIB_UNSURE (maxmemory): ack, dead and forward may run there. */
    if (rqueue_library_ensure(rq) < 0 ||
        (fn[RQ_OP_FORWARD] = rqueue_function_name(rq, RQ_SCRIPT_FORWARD)) == NULL ||
        (fn[RQ_OP_ACK] = rqueue_function_name(rq, RQ_SCRIPT_ACK)) == NULL ||
        (fn[RQ_OP_DEAD] = rqueue_function_name(rq, RQ_SCRIPT_DEAD)) == NULL ||
        rqconn_ensure(&rq->conn) < 0)
        return fail_ops(ops, n);
    int nreplies = 0;
    for (int i = 0; i < n; i++) {
        int k = append_op(rq, queue, next_queue, &ops[i], fn[ops[i].kind]);
        if (k < 0) return fail_ops(ops, n); /* the connection was dropped */
        nreplies += k;
    }
    /* WAIT after the batch: a consumer forgets a job once its outcome is
     * applied, so an outcome lost with the primary would leave the id in the
     * processing list of a consumer that is alive and no longer holds it. */
    int waited = append_wait(rq);
    if (waited < 0) return fail_ops(ops, n);
    nreplies += waited;
    /* Room for a full batch of forwards (a SET and a script each) and WAIT. */
    redisReply *stack_r[2 * RQ_APPLY_BATCH_MAX + 1];
    int on_stack = nreplies <= (int)(sizeof stack_r / sizeof stack_r[0]);
    redisReply **r = on_stack ? stack_r : malloc((size_t)nreplies * sizeof *r);
    if (r == NULL) {
        /* Replies cannot be read: drop the connection so they are not misread later. */
        rqconn_set_err(&rq->conn, "out of memory");
        rqconn_drop(&rq->conn);
        return fail_ops(ops, n);
    }
    rqconn_read_replies(&rq->conn, r, nreplies);
    note_error_replies(rq, r, nreplies);
    int rc = 0, k = 0;
    for (int i = 0; i < n; i++) {
        if (ops[i].kind == RQ_OP_FORWARD) k++; /* the SET's reply: the script's says it all */
        ops[i].result = op_result(rq, r[k++]);
        if (ops[i].result < 0) rc = -1;
    }
    if (waited && check_wait(rq, r[nreplies - 1]) < 0) {
        /* Applied on the primary, not known to be on a replica: applied once
         * more, which re-applies an outcome a failover lost and answers
         * RQ_NOT_OURS for one that took effect, so a primary without replicas
         * costs one retry per batch, never a stalled pipeline. */
        int again = 0;
        for (int i = 0; i < n; i++)
            if (ops[i].result == 0) {
                ops[i].result = -1;
                again++;
            }
        if (again) {
            log_warn("%s; applying %d outcomes once more", rq->conn.err, again);
            rc = -1;
        }
    }
    rqconn_free_replies(r, nreplies);
    if (!on_stack) free(r);
    return rc;
}

/* ---- status, leases, stats ---- */

int rqueue_get_status(rqueue_t *rq, const char *id, rq_status_t *out)
{
    memset(out, 0, sizeof *out);
    char key[256];
    snprintf(key, sizeof key, "%sstatus:%s", rq->prefix, id);
    const char *argv[] = {"HMGET", key, "stage", "error", "updated_at"};
    size_t lens[] = {5, strlen(key), 5, 5, 10};
    redisReply *r = rqconn_command(&rq->conn, 5, argv, lens);
    if (r == NULL) return -1;
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

int rqueue_mark_deleted(rqueue_t *rq, const char *id)
{
    const char *args[] = {id, RQ_STAGE_DELETED};
    return rqueue_script_int(rq, RQ_SCRIPT_STATUS, 2, args) == 1 ? 0 : -1;
}

int rqueue_counter_add(rqueue_t *rq, const char *name, long long n)
{
    char key[256], by[32];
    snprintf(key, sizeof key, "%scounters", rq->prefix);
    snprintf(by, sizeof by, "%lld", n);
    const char *argv[] = {"HINCRBY", key, name, by};
    redisReply *r = rqconn_command(&rq->conn, 4, argv, NULL);
    if (r == NULL) return -1;
    int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc < 0)
        rqconn_set_err(&rq->conn, "HINCRBY %s: %s", name,
                       r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

int rqueue_counters_get(rqueue_t *rq, const char *const *names, int n, long long *values)
{
    enum { MAX_COUNTERS = 16 };
    if (n < 0 || n > MAX_COUNTERS) return -1;
    char key[256];
    snprintf(key, sizeof key, "%scounters", rq->prefix);
    const char *argv[2 + MAX_COUNTERS] = {"HMGET", key};
    for (int i = 0; i < n; i++) argv[2 + i] = names[i];
    redisReply *r = rqconn_command(&rq->conn, 2 + n, argv, NULL);
    if (r == NULL) return -1;
    int rc = r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)n ? 0 : -1;
    for (int i = 0; i < n; i++)
        values[i] = rc == 0 && r->element[i]->type == REDIS_REPLY_STRING
                        ? strtoll(r->element[i]->str, NULL, 10)
                        : 0;
    if (rc < 0) rqconn_set_err(&rq->conn, "HMGET counters: unexpected reply");
    freeReplyObject(r);
    return rc;
}

int rqueue_heartbeat(rqueue_t *rq, const char *queue)
{
    const char *args[] = {queue, rq->consumer};
    return rqueue_script_int(rq, RQ_SCRIPT_HEARTBEAT, 2, args) == 1 ? 0 : -1;
}

int rqueue_reap(rqueue_t *rq, const char *queue, long lease_ms, long *moved)
{
    char lease[32];
    snprintf(lease, sizeof lease, "%ld", lease_ms);
    const char *args[] = {queue, lease};
    long long n = rqueue_script_int(rq, RQ_SCRIPT_REAP, 2, args);
    if (n < 0) return -1;
    if (moved != NULL) *moved = (long)n;
    return 0;
}

long rqueue_reclaim(rqueue_t *rq, const char *queue, const char *consumer)
{
    const char *args[] = {queue, consumer};
    return (long)rqueue_script_int(rq, RQ_SCRIPT_RELEASE, 2, args);
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
    redisReply *r = rqueue_script_run(rq, RQ_SCRIPT_STATS, 2, args);
    if (r == NULL) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        out->waiting = r->element[0]->integer;
        out->in_flight = r->element[1]->integer;
        out->dead = r->element[2]->integer;
        out->consumers = r->element[3]->integer;
        rc = 0;
    } else {
        rqconn_set_err(&rq->conn, "Redis: unexpected stats reply");
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
    redisReply *r = rqueue_script_run(rq, RQ_SCRIPT_CONSUMERS, 2, args);
    if (r == NULL) return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        rqconn_set_err(&rq->conn, "Redis: unexpected consumers reply");
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
