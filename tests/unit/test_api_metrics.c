/* Unit tests of services/api/metrics.c: counters and the Prometheus text. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

START_TEST(counts_requests_and_events)
{
    api_metrics_reset();
    api_metrics_observe(API_ROUTE_IMAGES, "POST", 202, 0.002);
    api_metrics_observe(API_ROUTE_IMAGES, "POST", 202, 0.003);
    api_metrics_observe(API_ROUTE_IMAGE, "HEAD", 304, 0.0001);
    api_metrics_observe(API_ROUTE_OTHER, "BREW", 418, 40.0);
    api_metrics_upload_accepted();
    api_metrics_pipeline_event("stored", 0.2);
    api_metrics_pipeline_event("failed", -1);
    api_metrics_pipeline_event("rendering", 0.1); /* not counted */
    rq_stats_t r = {.waiting = 3, .in_flight = 1, .dead = 2, .consumers = 4};
    rq_stats_t p = {.waiting = 0, .in_flight = 0, .dead = 0, .consumers = 1};
    api_queue_gauges_t g = {.render = &r,
                            .persist = &p,
                            .waiters = 5,
                            .events_subscribed = 1,
                            .cached_images = 3,
                            .cached_bytes = 140000};
    char *t = api_metrics_render(&g);
    ck_assert_ptr_nonnull(t);
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"/api/images\",method=\"POST\","
                          "status=\"202\"} 2"));
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"/api/images/{id}\",method=\"HEAD\","
                          "status=\"304\"} 1"));
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"other\",method=\"OTHER\","
                          "status=\"other\"} 1"));
    ck_assert(has_line(t, "imgcap_http_request_duration_seconds_bucket{route=\"/api/images\","
                          "le=\"0.0025\"} 1"));
    ck_assert(has_line(t, "imgcap_http_request_duration_seconds_bucket{route=\"/api/images\","
                          "le=\"+Inf\"} 2"));
    ck_assert(has_line(t, "imgcap_http_request_duration_seconds_count{route=\"/api/images\"} 2"));
    /* Above the last bucket: only +Inf counts it. */
    ck_assert(has_line(t, "imgcap_http_request_duration_seconds_bucket{route=\"other\","
                          "le=\"30\"} 0"));
    ck_assert(has_line(t, "imgcap_uploads_accepted_total 1"));
    ck_assert(has_line(t, "imgcap_images_stored_total 1"));
    ck_assert(has_line(t, "imgcap_images_failed_total 1"));
    ck_assert(has_line(t, "imgcap_pipeline_latency_seconds_count 1"));
    ck_assert(has_line(t, "imgcap_queue_waiting{queue=\"render\"} 3"));
    ck_assert(has_line(t, "imgcap_queue_dead{queue=\"render\"} 2"));
    ck_assert(has_line(t, "imgcap_queue_consumers{queue=\"persist\"} 1"));
    ck_assert(has_line(t, "imgcap_redis_up 1"));
    ck_assert(has_line(t, "imgcap_api_waiters 5"));
    ck_assert(has_line(t, "imgcap_events_subscribed 1"));
    ck_assert(has_line(t, "imgcap_api_cached_images 3"));
    ck_assert(has_line(t, "imgcap_api_cached_bytes 140000"));
    ck_assert(has_line(t, "# TYPE imgcap_http_request_duration_seconds histogram"));
    free(t);
}
END_TEST

START_TEST(connections_and_cuts)
{
    api_metrics_reset();
    api_metrics_connection_cut(API_CUT_HEADER_TIMEOUT);
    api_metrics_connection_cut(API_CUT_HEADER_TIMEOUT);
    api_metrics_connection_cut(API_CUT_BODY_TIMEOUT);
    api_metrics_connection_cut(API_CUT_COUNT); /* not a reason: ignored */
    api_queue_gauges_t g = {.connections = 3208};
    char *t = api_metrics_render(&g);
    ck_assert_ptr_nonnull(t);
    ck_assert(has_line(t, "imgcap_api_connections 3208"));
    ck_assert(has_line(t, "# TYPE imgcap_api_connections gauge"));
    ck_assert(has_line(t, "# TYPE imgcap_api_connections_cut_total counter"));
    ck_assert(has_line(t, "imgcap_api_connections_cut_total{reason=\"header_timeout\"} 2"));
    ck_assert(has_line(t, "imgcap_api_connections_cut_total{reason=\"body_timeout\"} 1"));
    /* Every reason is there from the start, so a rate() sees the first cut. */
    ck_assert(has_line(t, "imgcap_api_connections_cut_total{reason=\"idle\"} 0"));
    free(t);
    api_metrics_reset();
    t = api_metrics_render(&g);
    ck_assert_ptr_nonnull(t);
    ck_assert(has_line(t, "imgcap_api_connections_cut_total{reason=\"header_timeout\"} 0"));
    free(t);
}
END_TEST

START_TEST(deletions_thumbnails_and_storage)
{
    api_metrics_reset();
    api_metrics_observe(API_ROUTE_IMAGE, "DELETE", 204, 0.004);
    api_metrics_observe(API_ROUTE_IMAGE, "DELETE", 403, 0.0001);
    api_metrics_observe(API_ROUTE_THUMBNAIL, "GET", 200, 0.0002);
    api_metrics_observe(API_ROUTE_IMAGES, "POST", 503, 0.0001);
    api_metrics_upload_refused_storage();
    api_metrics_upload_refused_storage();
    api_metrics_pipeline_event("deleted", 1.0); /* not a pipeline outcome */
    api_store_counters_t counters = {
        .deleted_api = 3, .deleted_retention = 40, .deleted_recycle = 5, .files_purged = 47};
    storage_space_t space = {
        .free_bytes = 123456789, .total_bytes = 999999999, .min_free_bytes = 200000000, .low = 1};
    rq_stats_t q = {0};
    api_queue_gauges_t g = {.render = &q, .persist = &q, .counters = &counters, .storage = &space};
    char *t = api_metrics_render(&g);
    ck_assert_ptr_nonnull(t);
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"/api/images/{id}\",method=\"DELETE\","
                          "status=\"204\"} 1"));
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"/api/images/{id}\",method=\"DELETE\","
                          "status=\"403\"} 1"));
    ck_assert(has_line(t, "imgcap_http_requests_total{route=\"/api/images/{id}/thumbnail\","
                          "method=\"GET\",status=\"200\"} 1"));
    ck_assert(has_line(t, "imgcap_uploads_refused_storage_total 2"));
    ck_assert(has_line(t, "imgcap_uploads_accepted_total 0"));
    ck_assert(has_line(t, "imgcap_images_stored_total 0"));
    ck_assert(has_line(t, "imgcap_images_deleted_total{reason=\"delete\"} 3"));
    ck_assert(has_line(t, "imgcap_images_deleted_total{reason=\"retention\"} 40"));
    ck_assert(has_line(t, "imgcap_images_deleted_total{reason=\"recycle\"} 5"));
    ck_assert(has_line(t, "imgcap_image_files_purged_total 47"));
    ck_assert(has_line(t, "# TYPE imgcap_images_deleted_total counter"));
    ck_assert(has_line(t, "# TYPE imgcap_image_files_purged_total counter"));
    ck_assert(has_line(t, "imgcap_storage_free_bytes 123456789"));
    ck_assert(has_line(t, "imgcap_storage_min_free_bytes 200000000"));
    ck_assert(has_line(t, "# TYPE imgcap_storage_free_bytes gauge"));
    free(t);

    /* Redis or the filesystem could not be asked: no samples, never a 0 that
     * would read as "nothing deleted" or "disk full". */
    api_queue_gauges_t none = {0};
    t = api_metrics_render(&none);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(strstr(t, "imgcap_images_deleted_total{"));
    ck_assert_ptr_null(strstr(t, "\nimgcap_image_files_purged_total "));
    ck_assert_ptr_null(strstr(t, "\nimgcap_storage_free_bytes "));
    ck_assert_ptr_null(strstr(t, "\nimgcap_storage_min_free_bytes "));
    ck_assert(has_line(t, "imgcap_uploads_refused_storage_total 2"));
    free(t);
}
END_TEST

START_TEST(redis_down_has_no_queue_samples)
{
    api_metrics_reset();
    api_queue_gauges_t g = {.render = NULL, .persist = NULL, .waiters = 0};
    char *t = api_metrics_render(&g);
    ck_assert_ptr_nonnull(t);
    ck_assert(has_line(t, "imgcap_redis_up 0"));
    ck_assert_ptr_null(strstr(t, "imgcap_queue_waiting{"));
    ck_assert(has_line(t, "imgcap_uploads_accepted_total 0"));
    free(t);
}
END_TEST

Suite *api_metrics_suite(void)
{
    Suite *s = suite_create("api_metrics");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, counts_requests_and_events);
    tcase_add_test(tc, redis_down_has_no_queue_samples);
    tcase_add_test(tc, deletions_thumbnails_and_storage);
    tcase_add_test(tc, connections_and_cuts);
    suite_add_tcase(s, tc);
    return s;
}
