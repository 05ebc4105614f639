/* events.h - the events subscriber actor and the registry of ?wait requests.
 *
 * The actor owns one Redis connection in subscriber mode (the channel P events,
 * {"id","status","at"}). A request holding ?wait=N registers
 * a waiter for its id; when an event for that id arrives the actor signals the
 * waiter, which then re-checks PostgreSQL / status:<id> itself. Events are only
 * hints: waiters also wake every second, so a missed event (reconnect, Redis
 * restart) costs at most a second, never a wrong answer.
 *
 * Waiters are bounded (max_waiters): each one holds its connection's thread
 * for up to 30 s. */
#ifndef IMGCAP_API_EVENTS_H
#define IMGCAP_API_EVENTS_H

#include "config.h"
#include "sse.h"

typedef struct api_events api_events_t;
typedef struct api_waiter api_waiter_t;

/* Starts the subscriber actor, and the hub and feed of GET /api/events
 * (sse.h, feed.h; at most cfg->events_max_clients streams). It connects in the background (retrying
 * with backoff while Redis is down). Returns the hub, which the caller frees with
 * api_events_stop(), or NULL (logged). */
api_events_t *api_events_start(const config_t *cfg, int max_waiters);

/* Shutdown, step 1: wakes every waiter so held requests answer with what they
 * have now, refuses new ones, and ends the event streams. Call before stopping the HTTP server,
 * whose stop waits for running handlers. */
void api_events_quiesce(api_events_t *ev);

/* Shutdown, step 2: stops and joins the actor and frees everything. Every
 * waiter must be removed by then: call after the HTTP server has stopped. */
void api_events_stop(api_events_t *ev);

/* Sets the function the actor calls with the id of every deleted image (the
 * status "deleted" on the events channel: a DELETE on this api or another),
 * on its own thread, so that cached copies are dropped at once; fn NULL
 * removes it. The call returns only when no call of the previous fn runs. */
void api_events_on_deleted(api_events_t *ev, void (*fn)(void *arg, const char *id), void *arg);

/* Registers interest in id. Returns the waiter, or NULL when max_waiters are
 * already held or the service is stopping: then answer without waiting. */
api_waiter_t *api_waiter_add(api_events_t *ev, const char *id);

typedef enum { API_WAIT_STOPPING = -1, API_WAIT_TIMEOUT = 0, API_WAIT_EVENT = 1 } api_wait_t;

/* Sleeps until an event for the id arrives or timeout_ms passes. Returns
 * API_WAIT_EVENT, API_WAIT_TIMEOUT, or API_WAIT_STOPPING when the service is
 * stopping. None is a failure. */
api_wait_t api_waiter_wait(api_events_t *ev, api_waiter_t *w, int timeout_ms);

void api_waiter_remove(api_events_t *ev, api_waiter_t *w);

/* Number of registered waiters (metrics). */
int api_events_waiters(api_events_t *ev);

/* 1 while the subscription is live (metrics: without it ?wait falls back to
 * its one-second re-checks). */
int api_events_connected(api_events_t *ev);

/* A count that grows with every stored or deleted event received and every
 * time the subscription is made or lost (events may have been missed): the
 * list's cache answers only pages made under the current count
 * (listcache.h). */
unsigned long api_events_changes(api_events_t *ev);

/* The hub of GET /api/events. */
api_sse_t *api_events_hub(api_events_t *ev);

/* Events GET /api/events dropped because its feed was behind. */
unsigned long long api_events_dropped(api_events_t *ev);

#endif
