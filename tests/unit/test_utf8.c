#include <check.h>
#include <string.h>

#include "utf8.h"

#define COUNT(lit) utf8_count(lit, sizeof(lit) - 1)

START_TEST(counts_code_points)
{
    ck_assert_int_eq(COUNT("abc"), 3);
    ck_assert_int_eq(COUNT(""), 0);
    ck_assert_int_eq(COUNT("Привет"), 6);           /* 2-byte */
    ck_assert_int_eq(COUNT("€"), 1);                /* 3-byte */
    ck_assert_int_eq(COUNT("\xF0\x9F\x98\x80"), 1); /* U+1F600, 4-byte */
    ck_assert_int_eq(COUNT("С начала фазы запрещающего сигнала прошло: 7 секунд"), 51);
}
END_TEST

START_TEST(rejects_invalid)
{
    ck_assert_int_eq(COUNT("\xC0\x80"), -1);         /* overlong NUL */
    ck_assert_int_eq(COUNT("\xC1\xBF"), -1);         /* overlong */
    ck_assert_int_eq(COUNT("\xE0\x80\xAF"), -1);     /* overlong 3-byte */
    ck_assert_int_eq(COUNT("\xF0\x80\x80\xAF"), -1); /* overlong 4-byte */
    ck_assert_int_eq(COUNT("\xED\xA0\x80"), -1);     /* surrogate D800 */
    ck_assert_int_eq(COUNT("\xED\xBF\xBF"), -1);     /* surrogate DFFF */
    ck_assert_int_eq(COUNT("\xF4\x90\x80\x80"), -1); /* above U+10FFFF */
    ck_assert_int_eq(COUNT("\xF5\x80\x80\x80"), -1);
    ck_assert_int_eq(COUNT("\xFF"), -1);
    ck_assert_int_eq(COUNT("\x80"), -1);           /* lone continuation */
    ck_assert_int_eq(COUNT("\xD0"), -1);           /* truncated */
    ck_assert_int_eq(COUNT("\xE2\x82"), -1);       /* truncated */
    ck_assert_int_eq(COUNT("ab\xE2\x28\xA1"), -1); /* bad continuation */
    ck_assert_int_eq(utf8_count("a\0b", 3), -1);   /* NUL is not text */
}
END_TEST

START_TEST(accepts_boundaries)
{
    ck_assert_int_eq(COUNT("\xED\x9F\xBF"), 1);     /* U+D7FF */
    ck_assert_int_eq(COUNT("\xEE\x80\x80"), 1);     /* U+E000 */
    ck_assert_int_eq(COUNT("\xF4\x8F\xBF\xBF"), 1); /* U+10FFFF */
    ck_assert_int_eq(COUNT("\xC2\x80"), 1);         /* U+0080 */
}
END_TEST

START_TEST(encode_round_trip)
{
    uint32_t cps[] = {0x41, 0x7FF, 0x800, 0x41F, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char buf[4];
        int n = utf8_encode(cps[i], buf);
        ck_assert_int_gt(n, 0);
        size_t pos = 0;
        ck_assert_int_eq(utf8_next(buf, (size_t)n, &pos), (int32_t)cps[i]);
        ck_assert_uint_eq(pos, (size_t)n);
    }
    char buf[4];
    ck_assert_int_eq(utf8_encode(0xD800, buf), 0);
    ck_assert_int_eq(utf8_encode(0x110000, buf), 0);
}
END_TEST

Suite *utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counts_code_points);
    tcase_add_test(tc, rejects_invalid);
    tcase_add_test(tc, accepts_boundaries);
    tcase_add_test(tc, encode_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
