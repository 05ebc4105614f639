/* Out of memory in the api's pure modules (tests/unit/alloc_fail.h): the
 * /metrics text, the row and file caches, and the mailbox every actor reads.
 * Each allocation fails in turn; a failed run returns NULL (the caller
 * answers 500 or does without the cache) and a run without a failure gives
 * the full result. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "api/blobcache.h"
#include "api/metrics.h"
#include "api/rowcache.h"
#include "mailbox.h"

START_TEST(metrics_text)
{
    api_metrics_reset();
    /* Enough series that the text outgrows its first buffer. */
    for (int i = 0; i < 400; i++) {
        api_metrics_observe(API_ROUTE_IMAGES, "GET", 200 + (i % 5), 0.001 * i);
        api_metrics_pipeline_event(i % 2 ? "stored" : "failed", 0.01 * i);
    }
    rq_stats_t q = {.waiting = 3, .in_flight = 1, .dead = 2, .consumers = 4};
    api_queue_gauges_t g = {.render = &q, .persist = &q};
    char *full = NULL;
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        char *t = api_metrics_render(&g);
        if (fx_alloc_failed()) {
            ck_assert_ptr_null(t);
            continue;
        }
        ck_assert_ptr_nonnull(t);
        full = t;
    }
    ck_assert_int_gt(fx_alloc_loop_runs(), 1);
    ck_assert_ptr_nonnull(strstr(full, "imgcap_http_requests_total{route=\"/api/images\""));
    ck_assert_ptr_nonnull(strstr(full, "imgcap_queue_waiting"));
    free(full);
    api_metrics_reset();
}
END_TEST

START_TEST(caches_and_blobs)
{
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        api_rowcache_t *rc = api_rowcache_new(64);
        api_blobcache_t *bc = rc != NULL ? api_blobcache_new(64, 1 << 20) : NULL;
        api_blob_t *b = bc != NULL ? api_blob_new("id-1", "/x/y.jpg", 100) : NULL;
        int failed = fx_alloc_failed();
        ck_assert_int_eq(failed, b == NULL);
        if (b != NULL) {
            memset(b->data, 7, b->len);
            api_blobcache_put(bc, b);
            api_rowcache_put(rc, "id-1", "y.jpg", 100);
            api_blob_t *got = api_blobcache_get(bc, "id-1");
            ck_assert_ptr_eq(got, b);
            api_blob_release(got);
            char path[API_ROWCACHE_PATH_MAX];
            long long bytes = 0;
            ck_assert_int_eq(api_rowcache_get(rc, "id-1", path, &bytes), 1);
            ck_assert_str_eq(path, "y.jpg");
        }
        api_blob_release(b);
        api_blobcache_free(bc);
        api_rowcache_free(rc);
    }
    ck_assert_int_ge(fx_alloc_loop_runs(), 4);
}
END_TEST

START_TEST(mailbox)
{
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        mailbox_t *mb = mailbox_new(8);
        if (fx_alloc_failed()) {
            ck_assert_ptr_null(mb);
            continue;
        }
        ck_assert_ptr_nonnull(mb);
        int x = 1;
        void *out;
        ck_assert_int_eq(mailbox_push(mb, &x, 0), MAILBOX_OK);
        ck_assert_int_eq(mailbox_pop(mb, &out, 0), MAILBOX_OK);
        ck_assert_ptr_eq(out, &x);
        mailbox_free(mb);
    }
    ck_assert_int_eq(fx_alloc_loop_runs(), 3);
}
END_TEST

Suite *api_oom_suite(void)
{
    Suite *s = suite_create("api_oom");
    TCase *tc = tcase_create("api_oom");
    tcase_add_test(tc, metrics_text);
    tcase_add_test(tc, caches_and_blobs);
    tcase_add_test(tc, mailbox);
    suite_add_tcase(s, tc);
    return s;
}
