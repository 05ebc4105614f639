/* Unit tests of shared/timeutil.c's RFC 3339 readers at each separator and
 * range they check: a wrong byte in each position of the date and the time,
 * fields out of range, zone forms accepted and refused; and the backoff's
 * bounds. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "timeutil.h"

START_TEST(milliseconds_reader)
{
    uint64_t ms;
    ck_assert_int_eq(time_parse_rfc3339("2026-12-06t10:00:00z", &ms), 0);
    ck_assert_int_eq(time_parse_rfc3339("2026-12-06 10:00:00.5+00:00", &ms), 0);
    ck_assert_uint_eq(ms % 1000, 500);
    ck_assert_int_eq(time_parse_rfc3339("2026-12-06T10:00:00.123456Z", &ms), 0);
    ck_assert_uint_eq(ms % 1000, 123); /* digits past the millisecond are dropped */
    static const char *const bad[] = {
        "2026/12-06T10:00:00Z",      "2026-12/06T10:00:00Z",     "2026-12-06X10:00:00Z",
        "2026-12-06T10-00:00Z",      "2026-12-06T10:00-00Z",     "2026-12-06T10:00:00.Z",
        "2026-12-06T10:00:00+01:00", "2026-12-06T10:00:00Zjunk", "2026-00-06T10:00:00Z",
        "2026-13-06T10:00:00Z",      "2026-12-00T10:00:00Z",     "2026-12-32T10:00:00Z",
        "2026-12-06T24:00:00Z",      "2026-12-06T10:60:00Z",     "2026-12-06T10:00:61Z",
        "1969-12-31T23:59:59Z",      "2026-12-06T10:00:0Z",      "20x6-12-06T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(time_parse_rfc3339(bad[i], &ms) == -1, "%s", bad[i]);
}
END_TEST

START_TEST(microseconds_reader)
{
    int64_t us;
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T10:00:00+01:30", &us), 0);
    int64_t utc;
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T08:30:00Z", &utc), 0);
    ck_assert_int_eq(us, utc);
    ck_assert_int_eq(time_parse_rfc3339_us("2026-12-06T10:00:00-00:30", &us), 0);
    ck_assert_int_eq(us - utc, (int64_t)(2 * 3600) * 1000000);
    static const char *const bad[] = {
        "2026-12-06T10:00:00+1:30",  "2026-12-06T10:00:00+01-30", "2026-12-06T10:00:00+24:00",
        "2026-12-06T10:00:00+01:60", "2026-12-06T10:00:00",       "2026-12-06T10:00:00Z ",
        "2026-12-06T10:00:00~",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(time_parse_rfc3339_us(bad[i], &us) == -1, "%s", bad[i]);
}
END_TEST

START_TEST(backoff_bounds)
{
    for (int attempt = 0; attempt < 40; attempt++) {
        int d = time_backoff_ms(attempt, 100, 2000);
        ck_assert_int_ge(d, 100);
        ck_assert_int_le(d, attempt == 0 ? 100 : 2000);
        if (attempt < 3) ck_assert_int_le(d, 100 << attempt);
    }
    ck_assert_int_eq(time_backoff_ms(5, 300, 300), 300);
}
END_TEST

Suite *timeutil_edges_suite(void)
{
    Suite *s = suite_create("timeutil_edges");
    TCase *tc = tcase_create("timeutil_edges");
    tcase_add_test(tc, milliseconds_reader);
    tcase_add_test(tc, microseconds_reader);
    tcase_add_test(tc, backoff_bounds);
    suite_add_tcase(s, tc);
    return s;
}
