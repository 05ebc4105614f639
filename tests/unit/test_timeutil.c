#include <check.h>
#include <string.h>

#include "timeutil.h"

START_TEST(rfc3339_round_trip)
{
    char buf[32];
    time_format_rfc3339_ms(1764333296789ull, buf, sizeof buf);
    ck_assert_str_eq(buf, "2025-11-28T12:34:56.789Z");
    uint64_t ms;
    ck_assert_int_eq(time_parse_rfc3339(buf, &ms), 0);
    ck_assert_uint_eq(ms, 1764333296789ull);
    ck_assert_int_eq(time_parse_rfc3339("2026-11-28T12:34:56Z", &ms), 0);
    ck_assert_uint_eq(ms % 1000, 0);
    ck_assert_int_eq(time_parse_rfc3339("2026-11-28T12:34:56.5+00:00", &ms), 0);
    ck_assert_uint_eq(ms % 1000, 500);
    ck_assert_int_eq(time_parse_rfc3339("2026-13-28T12:34:56Z", &ms), -1);
    ck_assert_int_eq(time_parse_rfc3339("2026-11-28 12:34", &ms), -1);
    ck_assert_int_eq(time_parse_rfc3339("2026-11-28T12:34:56.789+03:00", &ms), -1);
}
END_TEST

START_TEST(backoff_bounds)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        for (int i = 0; i < 100; i++) {
            int d = time_backoff_ms(attempt, 50, 3000);
            ck_assert_int_ge(d, 50);
            ck_assert_int_le(d, 3000);
            if (attempt == 0) ck_assert_int_le(d, 50);
        }
    }
}
END_TEST

/* The delay is drawn from [base, min(cap, base << attempt)]: it grows with the
 * attempt up to the cap, and it is spread over that range (full jitter), so a
 * constant or a jitter-free backoff fails here. 400 draws per attempt make a
 * false failure practically impossible (each bound below has a chance of
 * at least 1/4 per draw). */
START_TEST(backoff_grows_and_jitters)
{
    for (int attempt = 1; attempt < 20; attempt++) {
        int cap = attempt < 6 ? 50 << attempt : 3000;
        if (cap > 3000) cap = 3000;
        int lo = cap, hi = 0;
        for (int i = 0; i < 400; i++) {
            int d = time_backoff_ms(attempt, 50, 3000);
            ck_assert_int_le(d, cap);
            if (d < lo) lo = d;
            if (d > hi) hi = d;
        }
        /* Some draws in the top quarter of the range, some in the bottom one. */
        ck_assert_msg(hi > cap - (cap - 50) / 4, "attempt %d: max %d of cap %d", attempt, hi, cap);
        ck_assert_msg(lo < 50 + (cap - 50) / 4, "attempt %d: min %d", attempt, lo);
    }
}
END_TEST

Suite *timeutil_suite(void)
{
    Suite *s = suite_create("timeutil");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc3339_round_trip);
    tcase_add_test(tc, backoff_bounds);
    tcase_add_test(tc, backoff_grows_and_jitters);
    suite_add_tcase(s, tc);
    return s;
}
