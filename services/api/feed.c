/* feed.c - pipeline events -> Server-Sent Events (see feed.h). */
#include "feed.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "backend.h"
#include "log.h"
#include "params.h"
#include "rqueue.h"

#define FEED_QUEUE 4096
#define FEED_BATCH 64
#define FEED_BACKEND_WAIT_MS 2000

typedef enum { ITEM_STORED, ITEM_FAILED, ITEM_DELETED } item_kind_t;

static const char *const ITEM_EVENT[] = {RQ_STAGE_STORED, RQ_STAGE_FAILED, RQ_STAGE_DELETED};

typedef struct item {
    char id[UUID_STR_LEN];
    item_kind_t kind;
    char *data; /* the event's JSON once looked up, NULL when it could not be */
} item_t;

struct api_feed {
    actor_t actor;
    api_sse_t *hub;
    atomic_ullong dropped;
};

void api_feed_offer(api_feed_t *f, const char *id, const char *status)
{
    if (f == NULL) return;
    item_kind_t kind;
    if (strcmp(status, RQ_STAGE_STORED) == 0)
        kind = ITEM_STORED;
    else if (strcmp(status, RQ_STAGE_FAILED) == 0)
        kind = ITEM_FAILED;
    else if (strcmp(status, RQ_STAGE_DELETED) == 0)
        kind = ITEM_DELETED;
    else
        return;
    int clients;
    unsigned long long cut;
    api_sse_stats(f->hub, &clients, &cut);
    if (clients == 0) return;
    char err[96];
    item_t *it = calloc(1, sizeof *it);
    if (it == NULL || api_parse_id(id, it->id, err, sizeof err) != 0) {
        if (it != NULL) log_warn("events: not an image id: %.64s", id);
        free(it);
        return;
    }
    it->kind = kind;
    if (mailbox_push(f->actor.inbox, it, 0) != MAILBOX_OK) {
        if (atomic_fetch_add(&f->dropped, 1) % 1000 == 0)
            log_warn("events: the feed of /api/events is behind, dropping events");
        free(it);
    }
}

/* Fills the data of the stored items of batch from one query. */
static void look_up_rows(api_conn_t *conn, item_t **batch, int n)
{
    char ids[FEED_BATCH * UUID_STR_LEN + 3], err[512];
    size_t pos = 0;
    ids[pos++] = '{';
    for (int i = 0; i < n; i++) {
        if (batch[i]->kind != ITEM_STORED) continue;
        pos += (size_t)snprintf(ids + pos, sizeof ids - pos, "%s%s", pos > 1 ? "," : "",
                                batch[i]->id);
    }
    if (pos == 1) return; /* no stored item */
    ids[pos++] = '}';
    ids[pos] = '\0';
    const char *params[1] = {ids};
    PGresult *r = api_backend_query(conn, API_SQL_EVENTS, 1, params, err, sizeof err);
    if (r == NULL) {
        log_warn("events: cannot look up stored images: %s", err);
        return;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        const char *id = PQgetvalue(r, row, 0);
        for (int i = 0; i < n; i++) {
            if (batch[i]->kind != ITEM_STORED || batch[i]->data != NULL ||
                strcmp(batch[i]->id, id) != 0)
                continue;
            char url[64], thumb[80];
            snprintf(url, sizeof url, "/api/images/%s", id);
            snprintf(thumb, sizeof thumb, "/api/images/%s/thumbnail", id);
            json_t *camera = PQgetisnull(r, row, 4) ? json_null()
                                                    : json_string(PQgetvalue(r, row, 4));
            json_t *thumbnail_url = PQgetisnull(r, row, 5) ? json_null() : json_string(thumb);
            json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", id, "url", url,
                                    "description", PQgetvalue(r, row, 2), "received_at",
                                    PQgetvalue(r, row, 1), "stored_at", PQgetvalue(r, row, 3),
                                    "camera", camera, "thumbnail_url", thumbnail_url);
            batch[i]->data = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)
                                         : NULL;
            json_decref(doc);
        }
    }
    PQclear(r);
}

/* Fills the data of a failed item with its reason. */
static void look_up_failure(api_conn_t *conn, item_t *it)
{
    char err[256];
    rq_status_t st;
    rqueue_t *rq = api_backend_redis(conn, err, sizeof err);
    if (rq == NULL || rqueue_get_status(rq, it->id, &st) != 0) {
        log_warn("id=%s events: cannot read the failure reason: %s", it->id,
                 rq != NULL ? rqueue_error(rq) : err);
        return;
    }
    /* A reason cut inside a UTF-8 sequence makes json_pack refuse it. */
    json_t *doc = json_pack("{s:s, s:s}", "id", it->id, "reason",
                            st.error[0] ? st.error : "processing failed");
    if (doc == NULL) doc = json_pack("{s:s, s:s}", "id", it->id, "reason", "processing failed");
    it->data = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
}

/* A deleted item needs no lookup: its id is all there is to say. */
static void fill_deleted(item_t *it)
{
    json_t *doc = json_pack("{s:s}", "id", it->id);
    it->data = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
}

static void send_batch(api_feed_t *f, item_t **batch, int n)
{
    int lookups = 0;
    for (int i = 0; i < n; i++) {
        if (batch[i]->kind == ITEM_DELETED)
            fill_deleted(batch[i]);
        else
            lookups++;
    }
    if (lookups > 0) {
        api_conn_t *conn = api_backend_acquire(FEED_BACKEND_WAIT_MS);
        if (conn == NULL) {
            log_warn("events: no backend connection free, %d events not sent", lookups);
        } else {
            look_up_rows(conn, batch, n);
            for (int i = 0; i < n; i++)
                if (batch[i]->kind == ITEM_FAILED) look_up_failure(conn, batch[i]);
            api_backend_release(conn);
        }
    }
    for (int i = 0; i < n; i++) {
        if (batch[i]->data != NULL) {
            int cut = api_sse_broadcast(f->hub, ITEM_EVENT[batch[i]->kind], batch[i]->data);
            if (cut > 0) log_warn("events: %d slow /api/events clients cut off", cut);
        } else if (batch[i]->kind == ITEM_STORED) {
            log_debug("id=%s events: no row, no stored event sent", batch[i]->id);
        }
        free(batch[i]->data);
        free(batch[i]);
    }
}

static void feed_run(actor_t *self)
{
    api_feed_t *f = self->ctx;
    item_t *batch[FEED_BATCH];
    while (!actor_should_stop(self)) {
        void *p;
        if (mailbox_pop(self->inbox, &p, 500) != MAILBOX_OK) continue;
        int n = 0;
        batch[n++] = p;
        while (n < FEED_BATCH && mailbox_pop(self->inbox, &p, 0) == MAILBOX_OK) batch[n++] = p;
        send_batch(f, batch, n);
    }
    /* Stopping: nobody offers any more (the subscriber stops first). */
    void *p;
    while (mailbox_pop(self->inbox, &p, 0) == MAILBOX_OK) free(p);
}

api_feed_t *api_feed_start(api_sse_t *hub)
{
    api_feed_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        log_error("events: out of memory");
        return NULL;
    }
    f->hub = hub;
    if (actor_start(&f->actor, "sse-feed", FEED_QUEUE, feed_run, f) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

unsigned long long api_feed_dropped(api_feed_t *f)
{
    return f != NULL ? atomic_load(&f->dropped) : 0;
}

void api_feed_stop(api_feed_t *f)
{
    if (f == NULL) return;
    actor_stop(&f->actor);
    actor_join(&f->actor);
    free(f);
}
