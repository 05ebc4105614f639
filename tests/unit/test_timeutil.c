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

/* 2026-12-06T09:30:00Z, computed independently: 20793 days after 1970-01-01. */
#define T0_US ((20793LL * 86400 + 9 * 3600 + 30 * 60) * 1000000LL)

START_TEST(rfc3339_us_offsets_and_fractions)
{
    int64_t us = 0;
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:30:00Z", &us), 0);
    ck_assert_int_eq(us, T0_US);
    static const char *same[] = {"2026-12-06T09:30:00z",        "2026-12-06t09:30:00Z",
                                 "2026-12-06 09:30:00Z",        "2026-12-06T09:30:00+00:00",
                                 "2026-12-06T09:30:00-00:00",   "2026-12-06T10:30:00+01:00",
                                 "2026-12-06T04:00:00-05:30",   "2026-12-07T08:29:00+22:59",
                                 "2026-12-06T09:30:00.000000Z", "2026-12-06T09:30:00.0000000000Z"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        us = 0;
        ck_assert_msg(time_parse_rfc3339_us(same[i], &us) == 0 && us == T0_US, "%s", same[i]);
    }
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:30:00.5Z", &us), 0);
    ck_assert_int_eq(us, T0_US + 500000);
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:30:00.123456Z", &us), 0);
    ck_assert_int_eq(us, T0_US + 123456);
    /* Beyond the microsecond: rounded up, never down. */
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:30:00.1234561Z", &us), 0);
    ck_assert_int_eq(us, T0_US + 123457);
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:30:00.1234560000Z", &us), 0);
    ck_assert_int_eq(us, T0_US + 123456);
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T09:29:59.9999999Z", &us), 0);
    ck_assert_int_eq(us, T0_US);
    /* A leap second is the next second's start. */
    ck_assert_int_eq(time_parse_rfc3339_us("2016-12-31T23:59:60Z", &us), 0);
    int64_t next = 0;
    ck_assert_int_eq(time_parse_rfc3339_us("2017-01-01T00:00:00Z", &next), 0);
    ck_assert_int_eq(us, next);
    /* Before 1970, and the ends of the range. */
    ck_assert_int_eq(time_parse_rfc3339_us("1969-12-31T23:59:59.999999Z", &us), 0);
    ck_assert_int_eq(us, -1);
    ck_assert_int_eq(time_parse_rfc3339_us("0001-01-01T00:00:00Z", &us), 0);
    ck_assert_int_eq(us, -62135596800LL * 1000000);
    ck_assert_int_eq(time_parse_rfc3339_us("9999-12-31T23:59:59.999999Z", &us), 0);
    ck_assert_int_eq(us, 253402300800LL * 1000000 - 1);
    ck_assert_int_eq(time_parse_rfc3339_us("2024-02-29T00:00:00Z", &us), 0);
    ck_assert_int_eq(time_parse_rfc3339_us("2000-02-29T00:00:00Z", &us), 0);
}
END_TEST

START_TEST(rfc3339_us_rejects)
{
    static const char *bad[] = {
        "",
        "2026-12-06",
        "2026-12-06T09:30Z",
        "2026-12-06T09:30:00",
        "2026-12-06T09:30:00+01",
        "2026-12-06T09:30:00+0100",
        "2026-12-06T09:30:00+1:00",
        "2026-12-06T09:30:00+24:00",
        "2026-12-06T09:30:00+01:60",
        "2026-12-06T09:30:00 01:00",
        "2026-12-06T09:30:00.Z",
        "2026-12-06T09:30:00,5Z",
        "2026-12-06T09:30:00ZZ",
        "2026-12-06T09:30:00Z ",
        " 2026-12-06T09:30:00Z",
        "2026-12-06X09:30:00Z",
        "2026-13-06T09:30:00Z",
        "2026-00-06T09:30:00Z",
        "2026-12-00T09:30:00Z",
        "2026-12-32T09:30:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-12-06T24:00:00Z",
        "2026-12-06T09:60:00Z",
        "2026-12-06T09:30:61Z",
        "+2026-12-06T09:30:00Z",
        "20261-12-06T09:30:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:60Z",
        "9999-12-31T23:30:00-01:00",
        "２026-12-06T09:30:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 42;
        ck_assert_msg(time_parse_rfc3339_us(bad[i], &us) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(us, 42);
    }
}
END_TEST

START_TEST(rfc3339_us_format)
{
    char buf[TIME_RFC3339_US_LEN];
    ck_assert_int_eq(time_format_rfc3339_us(T0_US, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-12-06T09:30:00Z");
    ck_assert_int_eq(time_format_rfc3339_us(T0_US + 500000, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-12-06T09:30:00.5Z");
    ck_assert_int_eq(time_format_rfc3339_us(T0_US + 120, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-12-06T09:30:00.00012Z");
    ck_assert_int_eq(time_format_rfc3339_us(-1, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1969-12-31T23:59:59.999999Z");
    ck_assert_int_eq(time_format_rfc3339_us(-62135596800LL * 1000000, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "0001-01-01T00:00:00Z");
    ck_assert_int_eq(time_format_rfc3339_us(253402300800LL * 1000000 - 1, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "9999-12-31T23:59:59.999999Z");
    ck_assert_int_eq(time_format_rfc3339_us(253402300800LL * 1000000, buf, sizeof buf), -1);
    ck_assert_int_eq(time_format_rfc3339_us(-62135596800LL * 1000000 - 1, buf, sizeof buf), -1);
    ck_assert_int_eq(time_format_rfc3339_us(T0_US, buf, sizeof buf - 1), -1);
    /* Agrees with the millisecond formatter, and parses back, over many
     * instants (each day of 400 years at a varying time of day). */
    int64_t start = -62135596800LL * 1000000;
    for (int64_t day = 0; day < 146097; day += 7) {
        int64_t us = start + day * 86400LL * 1000000 + (day * 7919 % 86400) * 1000000 +
                     (day * 104729) % 1000000;
        int64_t back = 0;
        ck_assert_int_eq(time_format_rfc3339_us(us, buf, sizeof buf), 0);
        ck_assert_msg(time_parse_rfc3339_us(buf, &back) == 0 && back == us, "%s", buf);
    }
    for (uint64_t ms = 0; ms < 4102444800000ull; ms += 86399999ull * 3) {
        char a[32], b[TIME_RFC3339_US_LEN];
        time_format_rfc3339_ms(ms, a, sizeof a);
        int64_t us = 0;
        ck_assert_int_eq(time_parse_rfc3339_us(a, &us), 0);
        ck_assert_int_eq(us, (int64_t)ms * 1000);
        ck_assert_int_eq(time_format_rfc3339_us(us, b, sizeof b), 0);
        int64_t back = 0;
        ck_assert_int_eq(time_parse_rfc3339_us(b, &back), 0);
        ck_assert_int_eq(back, us);
        ck_assert_int_eq(strncmp(a, b, 19), 0);
    }
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
    tcase_add_test(tc, rfc3339_us_offsets_and_fractions);
    tcase_add_test(tc, rfc3339_us_rejects);
    tcase_add_test(tc, rfc3339_us_format);
    tcase_add_test(tc, backoff_bounds);
    tcase_add_test(tc, backoff_grows_and_jitters);
    suite_add_tcase(s, tc);
    return s;
}
