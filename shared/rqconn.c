/* rqconn.c - one Redis connection of rqueue.c or rqevents.c, see rqconn.h. */
#include "rqconn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "rqha.h"
#include "sentinel.h"

void rqconn_set_err(rqconn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

void rqconn_drop(rqconn_t *c)
{
    if (c->ctx != NULL) redisFree(c->ctx);
    c->ctx = NULL;
    c->stale = 0;
}

void rqconn_note_error_reply(rqconn_t *c, const redisReply *r)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR && sentinel_error_needs_rediscovery(r->str)) {
        if (!c->stale) log_warn("Redis: %s; looking for the primary again", r->str);
        c->stale = 1;
    }
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Sends cmd (AUTH, SELECT) on a fresh connection; on failure says which one
 * failed and drops the connection. */
static int setup_command(rqconn_t *c, const char *what, redisReply *r)
{
    if (r != NULL && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 0;
    }
    rqconn_set_err(c, "Redis %s failed: %s", what, r != NULL ? r->str : c->ctx->errstr);
    if (r != NULL) freeReplyObject(r);
    rqconn_drop(c);
    return -1;
}

static int connect_once(rqconn_t *c)
{
    int timeout = rq_ha_timeout_ms();
    struct timeval tv = tv_ms(timeout < 2000 ? timeout : 2000);
    char host[256];
    int port = c->url.port;
    int ha = rq_ha_enabled(), unix_socket = c->url.path[0] != '\0' && !ha;
    snprintf(host, sizeof host, "%s", c->url.host);
    if (ha && rq_ha_discover(host, sizeof host, &port, c->err, sizeof c->err) < 0) return -1;
    redisContext *ctx = unix_socket ? redisConnectUnixWithTimeout(c->url.path, tv)
                                    : redisConnectWithTimeout(host, port, tv);
    if (ctx == NULL || ctx->err) {
        rqconn_set_err(c, "cannot connect to Redis: %s",
                       ctx != NULL ? ctx->errstr : "out of memory");
        if (ctx != NULL) redisFree(ctx);
        return -1;
    }
    redisSetTimeout(ctx, tv_ms(timeout));
    if (!unix_socket) redisEnableKeepAlive(ctx);
    c->ctx = ctx;
    if (c->url.password[0] != '\0' &&
        setup_command(c, "AUTH", redisCommand(ctx, "AUTH %s", c->url.password)) < 0)
        return -1;
    if (c->url.db != 0 && setup_command(c, "SELECT", redisCommand(ctx, "SELECT %d", c->url.db)) < 0)
        return -1;
    if (ha) {
        /* A sentinel may name a demoted primary for a moment after a failover. */
        redisReply *r = redisCommand(ctx, "ROLE");
        char why[256];
        int role = sentinel_parse_role(r, why, sizeof why);
        if (role != SENTINEL_PRIMARY) {
            rqconn_set_err(c, "Redis %.200s:%d: %.250s", host, port, r != NULL ? why : ctx->errstr);
            if (r != NULL) freeReplyObject(r);
            rq_ha_distrust();
            rqconn_drop(c);
            return -1;
        }
        freeReplyObject(r);
    }
    c->gen++;
    return 0;
}

int rqconn_init(rqconn_t *c, const char *url, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    return rq_url_parse(url, &c->url, err, errlen);
}

int rqconn_connect(rqconn_t *c, int wait_ms, stop_flag_t *stop)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    for (int attempt = 0;; attempt++) {
        if (connect_once(c) == 0) return 0;
        if (time_mono_ms() >= deadline || (stop != NULL && atomic_load(stop))) return -1;
        log_warn("%s (attempt %d), retrying", c->err, attempt + 1);
        time_sleep_ms(time_backoff_ms(attempt, 100, 2000), stop);
        if (time_mono_ms() >= deadline) return -1;
    }
}

int rqconn_ensure(rqconn_t *c)
{
    if (c->ctx != NULL && !c->ctx->err && !c->stale) return 0;
    if (c->ctx != NULL && !c->stale)
        log_warn("Redis connection lost (%s), reconnecting", c->ctx->errstr);
    rqconn_drop(c);
    return connect_once(c);
}

redisReply *rqconn_command(rqconn_t *c, int argc, const char **argv, const size_t *lens)
{
    if (rqconn_ensure(c) < 0) return NULL;
    redisReply *r = redisCommandArgv(c->ctx, argc, argv, lens);
    if (r == NULL) {
        rqconn_set_err(c, "Redis I/O error: %s", c->ctx->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rqconn_set_err(c, "Redis error: %s", r->str);
        rqconn_note_error_reply(c, r);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int rqconn_append(rqconn_t *c, int argc, const char **argv, const size_t *lens)
{
    if (redisAppendCommandArgv(c->ctx, argc, argv, lens) == REDIS_OK) return 0;
    rqconn_set_err(c, "Redis: out of memory building a pipeline");
    rqconn_drop(c);
    return -1;
}

int rqconn_sendv(rqconn_t *c, struct iovec *iov, int n, size_t *sent)
{
    *sent = 0;
    for (int done = 0; !done;)
        if (redisBufferWrite(c->ctx, &done) != REDIS_OK) {
            rqconn_set_err(c, "Redis I/O error: %s", c->ctx->errstr);
            rqconn_drop(c);
            return -1;
        }
    int at = 0;
    while (at < n) {
        struct msghdr mh = {.msg_iov = iov + at, .msg_iovlen = (size_t)(n - at)};
        /* MSG_NOSIGNAL: a closed connection is an error here, not SIGPIPE. */
        ssize_t w = sendmsg(c->ctx->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            /* EAGAIN: the socket's send timeout (REDIS_TIMEOUT_MS) passed. */
            rqconn_set_err(c, "Redis I/O error: %s",
                           errno == EAGAIN || errno == EWOULDBLOCK ? "send timed out"
                                                                   : strerror(errno));
            rqconn_drop(c);
            return -1;
        }
        size_t left = (size_t)w;
        *sent += left;
        while (at < n && left >= iov[at].iov_len) {
            left -= iov[at].iov_len;
            at++;
        }
        if (at < n) {
            iov[at].iov_base = (char *)iov[at].iov_base + left;
            iov[at].iov_len -= left;
        }
    }
    return 0;
}

int rqconn_read_replies(rqconn_t *c, redisReply **r, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        void *reply = NULL;
        if (rc == 0 && redisGetReply(c->ctx, &reply) != REDIS_OK) {
            rqconn_set_err(c, "Redis I/O error: %s", c->ctx->errstr);
            rc = -1;
        }
        r[i] = reply;
    }
    return rc;
}

void rqconn_free_replies(redisReply **r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i] != NULL) freeReplyObject(r[i]);
}
