/* metrics.h - Prometheus counters of the API process (GET /metrics).
 *
 * Counters live in one process-wide table under a mutex: an increment is a few
 * nanoseconds next to an HTTP request, and one lock keeps a scrape consistent
 * (a histogram's buckets, sum and count always agree). Queue gauges are read
 * from Redis at scrape time by the caller and passed in. */
#ifndef IMGCAP_API_METRICS_H
#define IMGCAP_API_METRICS_H

#include <stddef.h>

#include "rqueue.h"
#include "storage.h"

typedef enum {
    API_ROUTE_IMAGES = 0, /* /api/images */
    API_ROUTE_IMAGE,      /* /api/images/{id} */
    API_ROUTE_HEALTH,
    API_ROUTE_OPENAPI,
    API_ROUTE_DOCS,
    API_ROUTE_METRICS,
    API_ROUTE_PAGE,      /* / (the gallery) */
    API_ROUTE_ASSETS,    /* /assets/... */
    API_ROUTE_EVENTS,    /* /api/events */
    API_ROUTE_THUMBNAIL, /* /api/images/{id}/thumbnail */
    API_ROUTE_OTHER,     /* unknown paths (404) */
    API_ROUTE_COUNT
} api_route_t;

/* The route label, e.g. "/api/images/{id}". */
const char *api_route_label(api_route_t route);

/* Counts one answered request and its handler time. Thread-safe. */
void api_metrics_observe(api_route_t route, const char *method, int status, double seconds);

/* One upload accepted (202). */
void api_metrics_upload_accepted(void);

/* One upload answered 202 with the id of an earlier request of the same
 * Idempotency-Key (a replay: nothing queued). */
void api_metrics_upload_replayed(void);

/* One upload refused (503) because STORAGE_DIR's free space was low. */
void api_metrics_upload_refused_storage(void);

/* Why the api cut a connection (connguard.h). */
typedef enum {
    API_CUT_HEADER_TIMEOUT = 0, /* its request line and header arrived too slowly */
    API_CUT_BODY_TIMEOUT,       /* its request body arrived too slowly */
    API_CUT_IDLE,               /* silent too long within a request */
    API_CUT_COUNT
} api_cut_reason_t;

/* One connection cut by the api (connguard.h). */
void api_metrics_connection_cut(api_cut_reason_t reason);

/* One pipeline event seen on the events channel: "stored" or "failed" are
 * counted; latency_s is upload-to-event time (< 0 when unknown). */
void api_metrics_pipeline_event(const char *status, double latency_s);

/* Deletions and purged files counted by every process in Redis (P counters:
 * RQ_COUNTER_*), read at scrape time. */
typedef struct api_store_counters {
    long long deleted_api, deleted_retention, deleted_recycle, files_purged;
} api_store_counters_t;

/* Queue gauges for the scrape; NULL when Redis could not be asked. */
typedef struct api_queue_gauges {
    const rq_stats_t *render;
    const rq_stats_t *persist;
    int waiters;                          /* requests held by ?wait */
    int events_subscribed;                /* 1 while the events actor is subscribed */
    size_t cached_images;                 /* stored images held in memory (blobcache.h) */
    size_t cached_bytes;                  /* and their bytes */
    int event_streams;                    /* open GET /api/events streams (sse.h) */
    unsigned long long event_streams_cut; /* streams cut off for reading too slowly */
    unsigned long long events_dropped;    /* events the feed was too far behind to take */
    int connections;                      /* open HTTP connections (connguard.h) */
    const api_store_counters_t *counters; /* NULL when Redis could not be asked */
    const storage_space_t *storage;       /* NULL when STORAGE_DIR could not be measured */
} api_queue_gauges_t;

/* Renders the text exposition format (version 0.0.4). Returns a string the
 * caller frees with free(), or NULL when out of memory. */
char *api_metrics_render(const api_queue_gauges_t *g);

/* Forgets every count (unit tests). */
void api_metrics_reset(void);

#endif
