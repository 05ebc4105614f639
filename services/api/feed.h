/* feed.h - turns the pipeline's events into the Server-Sent Events of
 * GET /api/events.
 *
 * The events channel carries {"id","status","at"} only. The feed, an actor
 * of its own, adds what a client shows: for "stored" the row (description,
 * received_at, stored_at, camera, whether it has a thumbnail: one PostgreSQL
 * query per batch of up to FEED_BATCH ids), for "failed" the reason
 * (status:<id> in Redis); "deleted" is passed on with its id alone. It takes a
 * backend slot only for those lookups, never for a stream. Events are
 * offered without blocking the subscriber: when the feed is behind by
 * FEED_QUEUE events, new ones are dropped (counted), and nothing is looked
 * up while no stream is open. */
#ifndef IMGCAP_API_FEED_H
#define IMGCAP_API_FEED_H

#include "sse.h"

typedef struct api_feed api_feed_t;

/* Starts the feed's actor, which broadcasts to hub (which must outlive it).
 * Returns the feed (the caller stops it with api_feed_stop()), or NULL
 * (logged). */
api_feed_t *api_feed_start(api_sse_t *hub);

/* Hands over one event; only "stored", "failed" and "deleted" are kept.
 * Never blocks. */
void api_feed_offer(api_feed_t *f, const char *id, const char *status);

/* Events dropped because the feed was behind. */
unsigned long long api_feed_dropped(api_feed_t *f);

/* Stops and joins the actor, frees what it had not sent. NULL is fine. */
void api_feed_stop(api_feed_t *f);

#endif
