/* metrics.c - Prometheus counters of the API process (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rqueue.h"

static const char *const ROUTE_LABELS[API_ROUTE_COUNT] = {
    "/api/images", "/api/images/{id}",
    "/health",     "/api/openapi.json",
    "/docs",       "/metrics",
    "/",           "/assets/...",
    "/api/events", "/api/images/{id}/thumbnail",
    "other"};

static const char *const METHODS[] = {"GET", "HEAD", "POST", "DELETE", "OTHER"};
#define N_METHODS 5

/* The statuses the API answers; anything else is counted as "other". */
static const int STATUSES[] = {200, 202, 204, 304, 400, 401, 403,
                               404, 405, 413, 415, 422, 500, 503};
#define N_STATUSES ((int)(sizeof STATUSES / sizeof STATUSES[0]))

/* Handler time buckets, seconds: from a cached 304 to a ?wait=30. */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,   1,      2.5,   5,    10,    30};
#define N_BUCKETS ((int)(sizeof BUCKETS / sizeof BUCKETS[0]))

/* Upload to stored/failed: the whole pipeline. */
static const double PIPE_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1,     2.5,  5,     10,   30,  60,   300};
#define N_PIPE_BUCKETS ((int)(sizeof PIPE_BUCKETS / sizeof PIPE_BUCKETS[0]))

typedef struct histogram {
    unsigned long long buckets[N_PIPE_BUCKETS > N_BUCKETS ? N_PIPE_BUCKETS : N_BUCKETS];
    unsigned long long count;
    double sum;
} histogram_t;

static struct {
    pthread_mutex_t mu;
    unsigned long long requests[API_ROUTE_COUNT][N_METHODS][N_STATUSES + 1];
    histogram_t duration[API_ROUTE_COUNT];
    unsigned long long uploads_accepted, uploads_replayed, uploads_refused_storage, stored, failed;
    unsigned long long cuts[API_CUT_COUNT];
    histogram_t pipeline;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

const char *api_route_label(api_route_t route)
{
    return route < API_ROUTE_COUNT ? ROUTE_LABELS[route] : "other";
}

static int method_index(const char *m)
{
    for (int i = 0; i < N_METHODS - 1; i++)
        if (m != NULL && strcmp(m, METHODS[i]) == 0) return i;
    return N_METHODS - 1;
}

static int status_index(int status)
{
    for (int i = 0; i < N_STATUSES; i++)
        if (STATUSES[i] == status) return i;
    return N_STATUSES;
}

static void hist_add(histogram_t *h, const double *bounds, int n, double v)
{
    for (int i = 0; i < n; i++)
        if (v <= bounds[i]) h->buckets[i]++;
    h->count++;
    h->sum += v;
}

void api_metrics_observe(api_route_t route, const char *method, int status, double seconds)
{
    if (route >= API_ROUTE_COUNT) route = API_ROUTE_OTHER;
    pthread_mutex_lock(&M.mu);
    M.requests[route][method_index(method)][status_index(status)]++;
    hist_add(&M.duration[route], BUCKETS, N_BUCKETS, seconds);
    pthread_mutex_unlock(&M.mu);
}

void api_metrics_upload_accepted(void)
{
    pthread_mutex_lock(&M.mu);
    M.uploads_accepted++;
    pthread_mutex_unlock(&M.mu);
}

void api_metrics_upload_replayed(void)
{
    pthread_mutex_lock(&M.mu);
    M.uploads_replayed++;
    pthread_mutex_unlock(&M.mu);
}

void api_metrics_upload_refused_storage(void)
{
    pthread_mutex_lock(&M.mu);
    M.uploads_refused_storage++;
    pthread_mutex_unlock(&M.mu);
}

static const char *const CUT_LABELS[API_CUT_COUNT] = {"header_timeout", "body_timeout", "idle"};

void api_metrics_connection_cut(api_cut_reason_t reason)
{
    if ((unsigned)reason >= API_CUT_COUNT) return;
    pthread_mutex_lock(&M.mu);
    M.cuts[reason]++;
    pthread_mutex_unlock(&M.mu);
}

void api_metrics_pipeline_event(const char *status, double latency_s)
{
    int stored = strcmp(status, RQ_STAGE_STORED) == 0,
        failed = strcmp(status, RQ_STAGE_FAILED) == 0;
    if (!stored && !failed) return;
    pthread_mutex_lock(&M.mu);
    if (stored)
        M.stored++;
    else
        M.failed++;
    if (stored && latency_s >= 0) hist_add(&M.pipeline, PIPE_BUCKETS, N_PIPE_BUCKETS, latency_s);
    pthread_mutex_unlock(&M.mu);
}

void api_metrics_reset(void)
{
    pthread_mutex_lock(&M.mu);
    memset(M.requests, 0, sizeof M.requests);
    memset(M.duration, 0, sizeof M.duration);
    memset(&M.pipeline, 0, sizeof M.pipeline);
    memset(M.cuts, 0, sizeof M.cuts);
    M.uploads_accepted = M.uploads_replayed = M.uploads_refused_storage = M.stored = M.failed = 0;
    pthread_mutex_unlock(&M.mu);
}

/* A growing output buffer; on OOM it latches failure and later appends are no-ops. */
typedef struct outbuf {
    char *s;
    size_t len, cap;
    int oom;
} outbuf_t;

static void out(outbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(outbuf_t *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void out_hist(outbuf_t *b, const char *name, const char *labels, const histogram_t *h,
                     const double *bounds, int n)
{
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < n; i++)
        out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i], h->buckets[i]);
    out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, h->count);
    if (labels[0]) {
        out(b, "%s_sum{%s} %.6f\n", name, labels, h->sum);
        out(b, "%s_count{%s} %llu\n", name, labels, h->count);
    } else {
        out(b, "%s_sum %.6f\n", name, h->sum);
        out(b, "%s_count %llu\n", name, h->count);
    }
}

static void out_queue(outbuf_t *b, const char *metric, const char *queue, const rq_stats_t *s,
                      size_t offset)
{
    if (s != NULL)
        out(b, "%s{queue=\"%s\"} %lld\n", metric, queue,
            *(const long long *)((const char *)s + offset));
}

/* Deletions, purged files (from Redis, every process's) and the storage. */
static void out_store(outbuf_t *b, const api_queue_gauges_t *g)
{
    out(b, "# HELP imgcap_images_deleted_total Images deleted, by reason (DELETE, RETENTION, "
           "STORAGE_RECYCLE), counted by every process.\n"
           "# TYPE imgcap_images_deleted_total counter\n");
    if (g->counters != NULL)
        out(b,
            "imgcap_images_deleted_total{reason=\"delete\"} %lld\n"
            "imgcap_images_deleted_total{reason=\"retention\"} %lld\n"
            "imgcap_images_deleted_total{reason=\"recycle\"} %lld\n",
            g->counters->deleted_api, g->counters->deleted_retention, g->counters->deleted_recycle);
    out(b, "# HELP imgcap_image_files_purged_total Files of deleted images removed from "
           "STORAGE_DIR.\n"
           "# TYPE imgcap_image_files_purged_total counter\n");
    if (g->counters != NULL)
        out(b, "imgcap_image_files_purged_total %lld\n", g->counters->files_purged);
    out(b, "# HELP imgcap_storage_free_bytes Free bytes of STORAGE_DIR's filesystem.\n"
           "# TYPE imgcap_storage_free_bytes gauge\n");
    if (g->storage != NULL) out(b, "imgcap_storage_free_bytes %lld\n", g->storage->free_bytes);
    out(b, "# HELP imgcap_storage_min_free_bytes STORAGE_MIN_FREE in bytes: uploads are refused "
           "below it.\n"
           "# TYPE imgcap_storage_min_free_bytes gauge\n");
    if (g->storage != NULL)
        out(b, "imgcap_storage_min_free_bytes %lld\n", g->storage->min_free_bytes);
}

char *api_metrics_render(const api_queue_gauges_t *g)
{
    outbuf_t b = {.cap = 16384};
    b.s = malloc(b.cap);
    if (b.s == NULL) return NULL;
    b.s[0] = '\0';

    pthread_mutex_lock(&M.mu);
    out(&b, "# HELP imgcap_http_requests_total HTTP requests answered by the API.\n"
            "# TYPE imgcap_http_requests_total counter\n");
    for (int r = 0; r < API_ROUTE_COUNT; r++)
        for (int m = 0; m < N_METHODS; m++)
            for (int s = 0; s <= N_STATUSES; s++) {
                if (M.requests[r][m][s] == 0) continue;
                char status[8];
                if (s < N_STATUSES)
                    snprintf(status, sizeof status, "%d", STATUSES[s]);
                else
                    snprintf(status, sizeof status, "other");
                out(&b,
                    "imgcap_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} "
                    "%llu\n",
                    ROUTE_LABELS[r], METHODS[m], status, M.requests[r][m][s]);
            }
    out(&b, "# HELP imgcap_http_request_duration_seconds Time in the request handler.\n"
            "# TYPE imgcap_http_request_duration_seconds histogram\n");
    for (int r = 0; r < API_ROUTE_COUNT; r++) {
        if (M.duration[r].count == 0) continue;
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", ROUTE_LABELS[r]);
        out_hist(&b, "imgcap_http_request_duration_seconds", labels, &M.duration[r], BUCKETS,
                 N_BUCKETS);
    }
    out(&b,
        "# HELP imgcap_uploads_accepted_total Uploads answered 202 and queued.\n"
        "# TYPE imgcap_uploads_accepted_total counter\n"
        "imgcap_uploads_accepted_total %llu\n"
        "# HELP imgcap_uploads_replayed_total Uploads answered 202 with the id an earlier "
        "request of the same Idempotency-Key was given (nothing queued).\n"
        "# TYPE imgcap_uploads_replayed_total counter\n"
        "imgcap_uploads_replayed_total %llu\n"
        "# HELP imgcap_uploads_refused_storage_total Uploads answered 503 because STORAGE_DIR "
        "had less free space than STORAGE_MIN_FREE.\n"
        "# TYPE imgcap_uploads_refused_storage_total counter\n"
        "imgcap_uploads_refused_storage_total %llu\n",
        M.uploads_accepted, M.uploads_replayed, M.uploads_refused_storage);
    out(&b,
        "# HELP imgcap_images_stored_total Images stored, seen on the events channel by "
        "this process.\n"
        "# TYPE imgcap_images_stored_total counter\n"
        "imgcap_images_stored_total %llu\n",
        M.stored);
    out(&b,
        "# HELP imgcap_images_failed_total Images dead-lettered, seen on the events "
        "channel by this process.\n"
        "# TYPE imgcap_images_failed_total counter\n"
        "imgcap_images_failed_total %llu\n",
        M.failed);
    out(&b, "# HELP imgcap_pipeline_latency_seconds Upload (UUIDv7 time) to stored event.\n"
            "# TYPE imgcap_pipeline_latency_seconds histogram\n");
    out_hist(&b, "imgcap_pipeline_latency_seconds", "", &M.pipeline, PIPE_BUCKETS, N_PIPE_BUCKETS);
    out(&b, "# HELP imgcap_api_connections_cut_total Connections the api closed because their "
            "request arrived too slowly or stalled.\n"
            "# TYPE imgcap_api_connections_cut_total counter\n");
    for (int r = 0; r < API_CUT_COUNT; r++)
        out(&b, "imgcap_api_connections_cut_total{reason=\"%s\"} %llu\n", CUT_LABELS[r], M.cuts[r]);
    pthread_mutex_unlock(&M.mu);

    out(&b,
        "# HELP imgcap_redis_up 1 when Redis answered this scrape.\n"
        "# TYPE imgcap_redis_up gauge\nimgcap_redis_up %d\n",
        g->render != NULL && g->persist != NULL);
    static const struct {
        const char *name, *help;
        size_t offset;
    } gauges[] = {
        {"imgcap_queue_waiting", "Ids waiting in the work list.", offsetof(rq_stats_t, waiting)},
        {"imgcap_queue_in_flight", "Ids taken by a consumer, not yet done.",
         offsetof(rq_stats_t, in_flight)},
        {"imgcap_queue_dead", "Dead-lettered ids.", offsetof(rq_stats_t, dead)},
        {"imgcap_queue_consumers", "Consumers with a live heartbeat.",
         offsetof(rq_stats_t, consumers)},
    };
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++) {
        out(&b, "# HELP %s %s\n# TYPE %s gauge\n", gauges[i].name, gauges[i].help, gauges[i].name);
        out_queue(&b, gauges[i].name, RQ_QUEUE_RENDER, g->render, gauges[i].offset);
        out_queue(&b, gauges[i].name, RQ_QUEUE_PERSIST, g->persist, gauges[i].offset);
    }
    out(&b,
        "# HELP imgcap_events_subscribed 1 while the api is subscribed to the events channel.\n"
        "# TYPE imgcap_events_subscribed gauge\nimgcap_events_subscribed %d\n",
        g->events_subscribed);
    out(&b,
        "# HELP imgcap_api_waiters Requests held by ?wait.\n"
        "# TYPE imgcap_api_waiters gauge\nimgcap_api_waiters %d\n",
        g->waiters);
    out(&b,
        "# HELP imgcap_api_connections Open HTTP connections.\n"
        "# TYPE imgcap_api_connections gauge\nimgcap_api_connections %d\n",
        g->connections);
    out(&b,
        "# HELP imgcap_api_cached_images Stored images the api holds in memory.\n"
        "# TYPE imgcap_api_cached_images gauge\nimgcap_api_cached_images %zu\n"
        "# HELP imgcap_api_cached_bytes Bytes of the stored images held in memory.\n"
        "# TYPE imgcap_api_cached_bytes gauge\nimgcap_api_cached_bytes %zu\n",
        g->cached_images, g->cached_bytes);
    out(&b,
        "# HELP imgcap_api_event_streams Open GET /api/events streams.\n"
        "# TYPE imgcap_api_event_streams gauge\nimgcap_api_event_streams %d\n"
        "# HELP imgcap_api_event_streams_cut_total Event streams ended because their client "
        "read too slowly.\n"
        "# TYPE imgcap_api_event_streams_cut_total counter\n"
        "imgcap_api_event_streams_cut_total %llu\n"
        "# HELP imgcap_api_events_dropped_total Events not streamed because the feed of "
        "/api/events was behind.\n"
        "# TYPE imgcap_api_events_dropped_total counter\nimgcap_api_events_dropped_total %llu\n",
        g->event_streams, g->event_streams_cut, g->events_dropped);
    out_store(&b, g);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
