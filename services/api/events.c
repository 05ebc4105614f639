/* events.c - events subscriber actor and ?wait registry (see events.h). */
#include "events.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "rqevents.h"
#include "rqueue.h"
#include "timeutil.h"
#include "uuid.h"

struct api_waiter {
    char id[UUID_STR_LEN];
    pthread_cond_t cond;
    unsigned long fired, seen;
    api_waiter_t *next;
};

struct api_events {
    const config_t *cfg;
    actor_t actor;
    pthread_mutex_t mu;
    api_waiter_t *waiters;
    int nwaiters, max_waiters;
    int stopping;
    atomic_int connected; /* read by /metrics threads */
    atomic_ulong changes; /* api_events_changes(): stored/deleted events, subscription changes */
    api_sse_t *hub;       /* GET /api/events streams */
    api_feed_t *feed;     /* events -> hub */
    void (*on_deleted)(void *arg, const char *id); /* under mu */
    void *on_deleted_arg;
};

/* Signals waiters of id, or all of them when id is NULL. Caller holds mu. */
static void wake_locked(api_events_t *ev, const char *id)
{
    for (api_waiter_t *w = ev->waiters; w != NULL; w = w->next) {
        if (id == NULL || strcmp(w->id, id) == 0) {
            w->fired++;
            pthread_cond_signal(&w->cond);
        }
    }
}

static void handle_event(api_events_t *ev, const char *text)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (id == NULL || status == NULL) {
        log_warn("events: ignoring malformed event: %.200s", text);
        json_decref(doc);
        return;
    }
    /* Counted first: a list page whose query began before this event is
     * never answered from the cache after it (listcache.h). */
    if (strcmp(status, RQ_STAGE_STORED) == 0 || strcmp(status, RQ_STAGE_DELETED) == 0)
        atomic_fetch_add(&ev->changes, 1);
    if (strcmp(status, RQ_STAGE_STORED) == 0 || strcmp(status, RQ_STAGE_FAILED) == 0) {
        json_t *at = json_object_get(doc, "at");
        int64_t born = uuid_v7_time_ms(id);
        double latency = -1;
        if (born > 0 && json_is_integer(at) && json_integer_value(at) >= born)
            latency = (double)(json_integer_value(at) - born) / 1000.0;
        api_metrics_pipeline_event(status, latency);
        api_feed_offer(ev->feed, id, status);
        pthread_mutex_lock(&ev->mu);
        wake_locked(ev, id);
        pthread_mutex_unlock(&ev->mu);
    } else if (strcmp(status, RQ_STAGE_DELETED) == 0) {
        api_feed_offer(ev->feed, id, status);
        pthread_mutex_lock(&ev->mu);
        if (ev->on_deleted != NULL) ev->on_deleted(ev->on_deleted_arg, id);
        wake_locked(ev, id); /* a ?wait on it answers 404 now */
        pthread_mutex_unlock(&ev->mu);
    }
    json_decref(doc);
}

static void events_run(actor_t *self)
{
    api_events_t *ev = self->ctx;
    rqevents_t *rq = NULL;
    int attempt = 0, was_subscribed = 0;
    char buf[2048], err[256];
    while (!actor_should_stop(self)) {
        if (rq == NULL) {
            rq = rqevents_open(ev->cfg->redis_url, ev->cfg->redis_prefix, err, sizeof err);
            if (rq == NULL) {
                int delay = time_backoff_ms(attempt++, 200, 5000);
                log_warn("events: cannot subscribe (%s), retrying in %d ms", err, delay);
                time_sleep_ms(delay, &self->stop);
                continue;
            }
            if (attempt > 0)
                log_info("events: subscribed after %d failed attempts", attempt);
            else
                log_info("events: subscribed");
            /* Events published while we were away are lost: end the event
             * streams, whose clients reconnect and catch up from the list. */
            if (was_subscribed) api_sse_end_all(ev->hub);
            was_subscribed = 1;
            attempt = 0;
            atomic_fetch_add(&ev->changes, 1); /* events may have been missed */
            atomic_store(&ev->connected, 1);
            /* Anything published while we were away is lost: let every waiter
             * re-check now instead of at its next tick. */
            pthread_mutex_lock(&ev->mu);
            wake_locked(ev, NULL);
            pthread_mutex_unlock(&ev->mu);
        }
        int n = rqevents_next(rq, 500, buf, sizeof buf);
        if (n == 0) {
            handle_event(ev, buf);
        } else if (n < 0) {
            log_warn("events: subscription lost: %s", rqevents_error(rq));
            atomic_store(&ev->connected, 0);
            atomic_fetch_add(&ev->changes, 1);
            rqevents_close(rq);
            rq = NULL;
        }
    }
    atomic_store(&ev->connected, 0);
    rqevents_close(rq);
}

api_events_t *api_events_start(const config_t *cfg, int max_waiters)
{
    api_events_t *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        log_error("events: out of memory");
        return NULL;
    }
    ev->cfg = cfg;
    ev->max_waiters = max_waiters;
    pthread_mutex_init(&ev->mu, NULL);
    ev->hub = api_sse_new(cfg->events_max_clients, API_SSE_CLIENT_BYTES, API_SSE_HEARTBEAT_MS);
    if (ev->hub == NULL) log_error("events: out of memory");
    if (ev->hub != NULL) ev->feed = api_feed_start(ev->hub);
    if (ev->feed == NULL || actor_start(&ev->actor, "events", 0, events_run, ev) != 0) {
        api_feed_stop(ev->feed);
        api_sse_free(ev->hub);
        pthread_mutex_destroy(&ev->mu);
        free(ev);
        return NULL;
    }
    return ev;
}

void api_events_quiesce(api_events_t *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->stopping = 1;
    wake_locked(ev, NULL);
    pthread_mutex_unlock(&ev->mu);
    api_sse_quiesce(ev->hub);
}

void api_events_stop(api_events_t *ev)
{
    if (ev == NULL) return;
    api_events_quiesce(ev);
    actor_stop(&ev->actor);
    actor_join(&ev->actor);
    api_feed_stop(ev->feed); /* after the subscriber, its only producer */
    api_sse_free(ev->hub);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void api_events_on_deleted(api_events_t *ev, void (*fn)(void *arg, const char *id), void *arg)
{
    pthread_mutex_lock(&ev->mu);
    ev->on_deleted = fn;
    ev->on_deleted_arg = arg;
    pthread_mutex_unlock(&ev->mu);
}

api_waiter_t *api_waiter_add(api_events_t *ev, const char *id)
{
    api_waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL) return NULL;
    snprintf(w->id, sizeof w->id, "%s", id);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&ev->mu);
    if (ev->stopping || ev->nwaiters >= ev->max_waiters) {
        pthread_mutex_unlock(&ev->mu);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    w->next = ev->waiters;
    ev->waiters = w;
    ev->nwaiters++;
    pthread_mutex_unlock(&ev->mu);
    return w;
}

api_wait_t api_waiter_wait(api_events_t *ev, api_waiter_t *w, int timeout_ms)
{
    struct timespec ts;
    time_deadline(CLOCK_MONOTONIC, timeout_ms, &ts);
    pthread_mutex_lock(&ev->mu);
    while (w->fired == w->seen && !ev->stopping) {
        if (pthread_cond_timedwait(&w->cond, &ev->mu, &ts) != 0) break; /* ETIMEDOUT */
    }
    api_wait_t rc = ev->stopping          ? API_WAIT_STOPPING
                    : w->fired != w->seen ? API_WAIT_EVENT
                                          : API_WAIT_TIMEOUT;
    w->seen = w->fired;
    pthread_mutex_unlock(&ev->mu);
    return rc;
}

void api_waiter_remove(api_events_t *ev, api_waiter_t *w)
{
    if (w == NULL) return;
    pthread_mutex_lock(&ev->mu);
    for (api_waiter_t **pp = &ev->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            ev->nwaiters--;
            break;
        }
    }
    pthread_mutex_unlock(&ev->mu);
    pthread_cond_destroy(&w->cond);
    free(w);
}

int api_events_waiters(api_events_t *ev)
{
    pthread_mutex_lock(&ev->mu);
    int n = ev->nwaiters;
    pthread_mutex_unlock(&ev->mu);
    return n;
}

int api_events_connected(api_events_t *ev) { return atomic_load(&ev->connected); }

unsigned long api_events_changes(api_events_t *ev) { return atomic_load(&ev->changes); }

api_sse_t *api_events_hub(api_events_t *ev) { return ev->hub; }

unsigned long long api_events_dropped(api_events_t *ev) { return api_feed_dropped(ev->feed); }
