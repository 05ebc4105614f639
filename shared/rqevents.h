/* rqevents.h - the subscriber side of P events, the pub/sub channel on which
 * every status change of rqueue.h is published as {"id","status","at"} (at:
 * unix ms). Its own connection: a subscribed connection can do nothing else.
 * One rqevents_t per actor, as for rqueue_t. */
#ifndef IMGCAP_RQEVENTS_H
#define IMGCAP_RQEVENTS_H

#include <stddef.h>

typedef struct rqevents rqevents_t;

/* The outcome of rqevents_next() that is not a failure, besides 0 (an event). */
enum {
    RQ_EVENTS_NONE = 1, /* no event within the timeout */
};

/* Connects to url (REDIS_URL: rqueue_url.h; one try) and subscribes to
 * <prefix>events. The caller owns the result and frees it with
 * rqevents_close(). NULL with err filled on failure. */
rqevents_t *rqevents_open(const char *url, const char *prefix, char *err, size_t errlen);
void rqevents_close(rqevents_t *ev);
const char *rqevents_error(const rqevents_t *ev);

/* Waits up to timeout_ms for one event and copies its JSON into buf (cut to
 * buflen - 1 bytes). Returns 0 with an event, RQ_EVENTS_NONE, or -1 with the
 * reason in rqevents_error(): the connection is gone (or went silent), and the
 * caller opens a new one; events published meanwhile are lost. */
int rqevents_next(rqevents_t *ev, int timeout_ms, char *buf, size_t buflen);

#endif
