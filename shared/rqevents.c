/* rqevents.c - the events channel's subscriber, see rqevents.h. */
#include "rqevents.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rqconn.h"

/* A subscribed connection with no message for this long is sent a PING; no
 * answer within as long again means the server is gone (a cut link delivers
 * no error of its own). */
#define RQ_SUB_PING_MS 2000

struct rqevents {
    rqconn_t conn;
    uint64_t rx_ms;   /* monotonic: last reply */
    uint64_t ping_ms; /* when the unanswered PING went out, 0 = none */
};

rqevents_t *rqevents_open(const char *url, const char *prefix, char *err, size_t errlen)
{
    rqevents_t *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rqconn_init(&ev->conn, url, err, errlen) < 0) {
        free(ev);
        return NULL;
    }
    char channel[128];
    snprintf(channel, sizeof channel, "%sevents", prefix);
    const char *argv[] = {"SUBSCRIBE", channel};
    size_t lens[] = {9, strlen(channel)};
    redisReply *r = rqconn_command(&ev->conn, 2, argv, lens);
    if (r == NULL) {
        snprintf(err, errlen, "%s", ev->conn.err);
        rqevents_close(ev);
        return NULL;
    }
    freeReplyObject(r);
    ev->rx_ms = time_mono_ms();
    return ev;
}

void rqevents_close(rqevents_t *ev)
{
    if (ev == NULL) return;
    rqconn_drop(&ev->conn);
    free(ev);
}

const char *rqevents_error(const rqevents_t *ev) { return ev->conn.err; }

/* Sends a PING when the connection has been quiet, and fails when the last
 * one went unanswered. Returns the ms to wait for a reply (at most
 * timeout_ms), or -1 with ev->conn.err set. */
static int keepalive(rqevents_t *ev, int timeout_ms)
{
    uint64_t now = time_mono_ms();
    if (ev->ping_ms != 0) {
        uint64_t waited = now - ev->ping_ms;
        if (waited >= RQ_SUB_PING_MS) {
            rqconn_set_err(&ev->conn, "events: no answer to PING (server or link gone)");
            return -1;
        }
        uint64_t left = RQ_SUB_PING_MS - waited;
        return left < (uint64_t)timeout_ms ? (int)left : timeout_ms;
    }
    if (now - ev->rx_ms < RQ_SUB_PING_MS) return timeout_ms;
    redisContext *ctx = ev->conn.ctx;
    int done = 0;
    if (redisAppendCommand(ctx, "PING") != REDIS_OK) {
        rqconn_set_err(&ev->conn, "events: out of memory");
        return -1;
    }
    while (!done)
        if (redisBufferWrite(ctx, &done) != REDIS_OK) {
            rqconn_set_err(&ev->conn, "events: %s", ctx->errstr);
            return -1;
        }
    ev->ping_ms = now;
    return timeout_ms < RQ_SUB_PING_MS ? timeout_ms : RQ_SUB_PING_MS;
}

int rqevents_next(rqevents_t *ev, int timeout_ms, char *buf, size_t buflen)
{
    redisContext *ctx = ev->conn.ctx;
    if (ctx == NULL || ctx->err) {
        rqconn_set_err(&ev->conn, "events: not subscribed (connection lost)");
        return -1;
    }
    void *reply = NULL;
    if (redisGetReplyFromReader(ctx, &reply) != REDIS_OK) {
        rqconn_set_err(&ev->conn, "events: %s", ctx->errstr);
        return -1;
    }
    if (reply == NULL) {
        /* Wait with poll: a socket timeout would leave the hiredis context unusable. */
        int wait_ms = keepalive(ev, timeout_ms);
        if (wait_ms < 0) return -1;
        struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
        if (n == 0) return RQ_EVENTS_NONE;
        if (n < 0) {
            if (errno == EINTR) return RQ_EVENTS_NONE;
            rqconn_set_err(&ev->conn, "events: poll: %s", strerror(errno));
            return -1;
        }
        if (redisGetReply(ctx, &reply) != REDIS_OK || reply == NULL) {
            rqconn_set_err(&ev->conn, "events: %s", ctx->errstr);
            return -1;
        }
    }
    redisReply *r = reply;
    int rc = RQ_EVENTS_NONE;
    ev->rx_ms = time_mono_ms();
    ev->ping_ms = 0; /* any reply, the pong included, shows the link is up */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        snprintf(buf, buflen, "%.*s", (int)r->element[2]->len, r->element[2]->str);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}
