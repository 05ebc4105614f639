/* Unit tests of services/api/backend.c's checkout pool: a bounded number of
 * slots, handed out and back without opening any connection (they open on
 * first use), a released slot going to a waiting request, and a request that
 * got no slot answered "busy". What a slot does with Redis and PostgreSQL is
 * I/O, covered by tests/integration (test_api.py, test_reliability.py). */
#include <check.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "api/backend.h"

static config_t cfg;

START_TEST(slots_are_bounded)
{
    config_defaults(&cfg);
    ck_assert_int_eq(api_backend_init(&cfg, 2), 0);
    api_conn_t *a = api_backend_acquire(0), *b = api_backend_acquire(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_ptr_null(api_backend_acquire(0));
    api_backend_release(a);
    ck_assert_ptr_eq(api_backend_acquire(0), a);
    api_backend_release(NULL);
    api_backend_release(a);
    api_backend_release(b);
    api_backend_shutdown();
}
END_TEST

START_TEST(no_slot_answers_busy)
{
    char err[128] = "";
    ck_assert_ptr_null(api_backend_redis(NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "busy"));
    err[0] = '\0';
    ck_assert_ptr_null(api_backend_query(NULL, API_SQL_PING, 0, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "busy"));
    err[0] = '\0';
    ck_assert_ptr_null(api_backend_query_text(NULL, "SELECT 1", 0, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "busy"));
}
END_TEST

static void *acquire_waiting(void *arg)
{
    (void)arg;
    return api_backend_acquire(30000);
}

/* A request waiting for a slot gets the one released, long before its
 * timeout. The release comes only once the request is known to wait, so it is
 * the wake-up that hands the slot over (had the wake-up been lost, the request
 * would wait its 30 s out and get nothing). */
START_TEST(release_wakes_a_waiting_request)
{
    config_defaults(&cfg);
    ck_assert_int_eq(api_backend_init(&cfg, 1), 0);
    api_conn_t *held = api_backend_acquire(0);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(api_backend_waiting(), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, acquire_waiting, NULL), 0);
    for (int i = 0; i < 5000 && api_backend_waiting() == 0; i++)
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 1000000}, NULL);
    ck_assert_int_eq(api_backend_waiting(), 1);
    api_backend_release(held);
    void *got = NULL;
    ck_assert_int_eq(pthread_join(th, &got), 0);
    ck_assert_ptr_eq(got, held);
    api_backend_release(got);
    api_backend_shutdown();
}
END_TEST

Suite *api_backend_suite(void)
{
    Suite *s = suite_create("api_backend");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, slots_are_bounded);
    tcase_add_test(tc, no_slot_answers_busy);
    tcase_add_test(tc, release_wakes_a_waiting_request);
    suite_add_tcase(s, tc);
    return s;
}
