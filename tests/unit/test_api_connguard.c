/* Unit tests of services/api/connguard.c: the rule that tells a slow request
 * (the watchdog and its MHD callbacks are exercised by
 * tests/integration/test_slow_clients.py). */
#include <check.h>
#include <stdatomic.h>
#include <unistd.h>

#include "api/connguard.h"

START_TEST(the_grace_lets_any_request_be_slow)
{
    ck_assert_int_eq(api_slow_verdict(0, 0, 0), API_SLOW_OK);
    ck_assert_int_eq(api_slow_verdict(API_SLOW_GRACE_MS, 0, 9000), API_SLOW_OK);
    /* One byte every 10 s (a slowloris): cut once the grace is over. */
    ck_assert_int_eq(api_slow_verdict(API_SLOW_GRACE_MS + 1000, 2, 1000), API_SLOW_DEADLINE);
}
END_TEST

START_TEST(after_the_grace_a_request_must_keep_the_rate)
{
    uint64_t ten_more_s = API_SLOW_GRACE_MS + 10000;
    ck_assert_int_eq(api_slow_verdict(ten_more_s, 10 * API_SLOW_MIN_RATE, 0), API_SLOW_OK);
    ck_assert_int_eq(api_slow_verdict(ten_more_s, 10 * API_SLOW_MIN_RATE - 1, 0),
                     API_SLOW_DEADLINE);
    /* What arrived early counts: a fast start buys time later. */
    ck_assert_int_eq(api_slow_verdict(API_SLOW_GRACE_MS + 60000, 1000000, 5000), API_SLOW_OK);
    /* A long upload at twice the rate is never cut. */
    for (uint64_t s = 1; s <= 3600; s *= 2)
        ck_assert_int_eq(api_slow_verdict(s * 1000, s * 2 * API_SLOW_MIN_RATE, 100), API_SLOW_OK);
}
END_TEST

START_TEST(silence_within_a_request_is_bounded)
{
    ck_assert_int_eq(api_slow_verdict(1000, 100, API_SLOW_IDLE_MS - 1), API_SLOW_OK);
    ck_assert_int_eq(api_slow_verdict(1000, 100, API_SLOW_IDLE_MS), API_SLOW_IDLE);
    /* Even when the bytes so far would allow much more time. */
    ck_assert_int_eq(api_slow_verdict(API_SLOW_GRACE_MS + 30000, 50000000, API_SLOW_IDLE_MS),
                     API_SLOW_IDLE);
}
END_TEST

START_TEST(starts_and_stops)
{
    api_connguard_t *g = api_connguard_start(NULL, NULL);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(api_connguard_open(g), 0);
    api_connguard_free(g);
    api_connguard_free(NULL);
}
END_TEST

static void count_tick(void *arg) { atomic_fetch_add((_Atomic int *)arg, 1); }

START_TEST(the_tick_runs_on_the_watchdog_thread)
{
    static _Atomic int ticks;
    api_connguard_t *g = api_connguard_start(count_tick, (void *)&ticks);
    ck_assert_ptr_nonnull(g);
    /* Waits for two ticks (about 2 * API_SLOW_TICK_MS), bounded generously. */
    for (int i = 0; i < 1000 && atomic_load(&ticks) < 2; i++) usleep(10000);
    ck_assert_int_ge(atomic_load(&ticks), 2);
    api_connguard_free(g);
}
END_TEST

Suite *api_connguard_suite(void)
{
    Suite *s = suite_create("api_connguard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_grace_lets_any_request_be_slow);
    tcase_add_test(tc, after_the_grace_a_request_must_keep_the_rate);
    tcase_add_test(tc, silence_within_a_request_is_bounded);
    tcase_add_test(tc, starts_and_stops);
    tcase_add_test(tc, the_tick_runs_on_the_watchdog_thread);
    suite_add_tcase(s, tc);
    return s;
}
