/* rqconn.h - one Redis connection of rqueue.c or rqevents.c: where it goes
 * (REDIS_URL's server, or the primary Sentinel names: rqha.h), reconnecting
 * after a loss, one command, and the pieces of a pipeline. Internal to those
 * two modules; the services use rqueue.h and rqevents.h.
 *
 * Not thread-safe: one connection belongs to one actor. Failures leave one
 * line in c->err, which the owning module hands out (rqueue_error). */
#ifndef IMGCAP_RQCONN_H
#define IMGCAP_RQCONN_H

#include <hiredis.h>
#include <stddef.h>
#include <sys/uio.h>

#include "rqueue_url.h"
#include "timeutil.h"

typedef struct rqconn {
    redisContext *ctx; /* NULL while disconnected */
    rq_url_t url;
    int stale;         /* the server said it is no primary: look it up again */
    unsigned long gen; /* connections made so far: tells a user a new one from the last */
    char err[512];     /* the last failure */
} rqconn_t;

/* Takes url (REDIS_URL) without connecting. Returns 0, or -1 with err. */
int rqconn_init(rqconn_t *c, const char *url, char *err, size_t errlen);

/* Connects, trying again with backoff (each failure logged) for at most
 * wait_ms (0 = one try), and no more once *stop is nonzero (stop may be NULL).
 * Returns 0, or -1 with c->err set. */
int rqconn_connect(rqconn_t *c, int wait_ms, stop_flag_t *stop);

/* Makes sure there is a live connection: a lost or stale one is replaced
 * once per call (callers retry with backoff). Returns 0, or -1 with c->err. */
int rqconn_ensure(rqconn_t *c);

/* Closes the connection (if any); the next rqconn_ensure() connects again. */
void rqconn_drop(rqconn_t *c);

void rqconn_set_err(rqconn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error reply saying this server is no longer the primary marks the
 * connection stale, so the next call reconnects through discovery instead of
 * failing until a restart. Any other reply (or NULL) changes nothing. */
void rqconn_note_error_reply(rqconn_t *c, const redisReply *r);

/* Runs one command (connecting first if needed). Returns the reply, which the
 * caller frees, or NULL with c->err set; an error reply is turned into NULL. */
redisReply *rqconn_command(rqconn_t *c, int argc, const char **argv, const size_t *lens);

/* Appends a command to the output buffer. hiredis fails only when out of
 * memory; then the pipeline is unusable, so the connection is dropped and the
 * caller reports the failure instead of reading misaligned replies. Returns 0,
 * or -1 with c->err set. */
int rqconn_append(rqconn_t *c, int argc, const char **argv, const size_t *lens);

/* Sends the bytes of iov[0..n) (commands the caller formatted, possibly
 * split across buffers) after what the output buffer holds, straight from
 * the caller's buffers (sendmsg): a large argument reaches the socket without
 * being copied into one command and again into hiredis's buffer. iov is
 * consumed (its entries advanced). Returns 0, or -1 with c->err set, the
 * connection dropped (a command cut in the middle cannot be completed) and
 * *sent the bytes of iov that were sent. */
int rqconn_sendv(rqconn_t *c, struct iovec *iov, int n, size_t *sent);

/* Reads n pipelined replies into r[] (NULL where the connection failed).
 * Returns 0, or -1 when the connection broke (c->err set). */
int rqconn_read_replies(rqconn_t *c, redisReply **r, int n);

/* Frees the replies of r[0..n) (NULL entries skipped), not r itself. */
void rqconn_free_replies(redisReply **r, int n);

#endif
