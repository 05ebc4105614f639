/* Unit tests of services/api/params.c: the query and path parameter parsers
 * (limit, wait, image ids, from/to, q, camera) and If-None-Match. */
#include <check.h>
#include <string.h>

#include "api/params.h"

START_TEST(limit_and_wait)
{
    int v;
    char err[128];
    ck_assert_int_eq(api_parse_limit(NULL, &v, err, sizeof err), 0);
    ck_assert_int_eq(v, 100);
    ck_assert_int_eq(api_parse_limit("1", &v, err, sizeof err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(api_parse_limit("1000", &v, err, sizeof err), 0);
    ck_assert_int_eq(v, 1000);
    static const char *bad_limits[] = {"0",    "1001", "",    "-1",  "+5",
                                       " 5",   "5 ",   "1e2", "abc", "99999999999999999999",
                                       "0x10", "5.0"};
    for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(api_parse_limit(bad_limits[i], &v, err, sizeof err) == -1, "limit=%s",
                      bad_limits[i]);
        ck_assert_ptr_nonnull(strstr(err, "1 to 1000"));
    }
    ck_assert_int_eq(api_parse_wait(NULL, &v, err, sizeof err), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(api_parse_wait("0", &v, err, sizeof err), 0);
    ck_assert_int_eq(api_parse_wait("30", &v, err, sizeof err), 0);
    ck_assert_int_eq(v, 30);
    ck_assert_int_eq(api_parse_wait("31", &v, err, sizeof err), -1);
    ck_assert_int_eq(api_parse_wait("-1", &v, err, sizeof err), -1);
    ck_assert_int_eq(api_parse_wait("", &v, err, sizeof err), -1);
}
END_TEST

START_TEST(ids)
{
    char id[UUID_STR_LEN], err[128];
    ck_assert_int_eq(api_parse_id("0192F5E4-7A3B-7C3D-8E4F-123456789ABC", id, err, sizeof err), 0);
    ck_assert_str_eq(id, "0192f5e4-7a3b-7c3d-8e4f-123456789abc");
    static const char *bad[] = {NULL,
                                "",
                                "0192f5e4",
                                "0192f5e4-7a3b-7c3d-8e4f-123456789abcd",
                                "0192f5e4-7a3b-7c3d-8e4f-123456789abg",
                                "0192f5e47a3b7c3d8e4f123456789abc",
                                "../../etc/passwd",
                                "0192f5e4-7a3b-7c3d-8e4f_123456789abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(api_parse_id(bad[i], id, err, sizeof err) == -1, "case %zu", i);
}
END_TEST

START_TEST(times)
{
    int64_t us = 0;
    char err[200];
    ck_assert_int_eq(api_parse_time("2026-12-06T09:30:00Z", &us, err, sizeof err), 0);
    ck_assert_int_eq(us, 1796549400000000LL);
    ck_assert_int_eq(api_parse_time("2026-12-06T10:30:00.5+01:00", &us, err, sizeof err), 0);
    ck_assert_int_eq(us, 1796549400500000LL);
    /* The '+' of an offset decoded as a space by the query string. */
    ck_assert_int_eq(api_parse_time("2026-12-06T10:30:00 01:00", &us, err, sizeof err), 0);
    ck_assert_int_eq(us, 1796549400000000LL);
    ck_assert_int_eq(api_parse_time("2026-12-06 10:30:00.5 01:00", &us, err, sizeof err), 0);
    ck_assert_int_eq(us, 1796549400500000LL);
    static const char *bad[] = {NULL,
                                "",
                                "2026-12-06",
                                "2026-12-06T09:30:00",
                                "2026-12-06 01:00",
                                "2026-12-06T09:30:00 0100",
                                "2026-12-06T09:30:00  01:00",
                                "1796549400",
                                "2026-12-06T09:30:00.0000000000000000000000000000000000000000000"
                                "000000000000000000000Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(api_parse_time(bad[i], &us, err, sizeof err) == -1, "case %zu", i);
        ck_assert_ptr_nonnull(strstr(err, "RFC 3339"));
    }
}
END_TEST

START_TEST(q_and_camera)
{
    char err[200];
    ck_assert_int_eq(api_parse_q("a", err, sizeof err), 0);
    ck_assert_int_eq(api_parse_q("Ω", err, sizeof err), 0);
    ck_assert_int_eq(api_parse_q("50% off_", err, sizeof err), 0);
    ck_assert_int_eq(api_parse_q(NULL, err, sizeof err), -1);
    ck_assert_int_eq(api_parse_q("", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "1 to 200"));
    ck_assert_int_eq(api_parse_q("\xC3", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "UTF-8"));
    char q[2 * 201 + 1] = "";
    for (int i = 0; i < 201; i++) strcat(q, "Ж");
    ck_assert_int_eq(api_parse_q(q, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "201 characters"));
    q[2 * 200] = '\0';
    ck_assert_int_eq(api_parse_q(q, err, sizeof err), 0);

    ck_assert_int_eq(api_parse_camera("gate-3.n_1", err, sizeof err), 0);
    static const char *bad[] = {
        NULL,     "",  "gate 3",
        "gate/3", "Ж", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(api_parse_camera(bad[i], err, sizeof err) == -1, "case %zu", i);
        ck_assert_ptr_nonnull(strstr(err, "camera name"));
    }
}
END_TEST

START_TEST(if_none_match)
{
    const char *etag = "\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"";
    ck_assert_int_eq(api_etag_matches(NULL, etag), 0);
    ck_assert_int_eq(api_etag_matches(etag, etag), 1);
    ck_assert_int_eq(api_etag_matches("*", etag), 1);
    ck_assert_int_eq(api_etag_matches(" * ", etag), 1);
    ck_assert_int_eq(api_etag_matches("W/\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("\"a\", \"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("\"a\",W/\"b\"", etag), 0);
    ck_assert_int_eq(api_etag_matches("\"0192f5e4-7a3b-7c3d-8e4f-123456789abd\"", etag), 0);
    ck_assert_int_eq(api_etag_matches("0192f5e4-7a3b-7c3d-8e4f-123456789abc", etag), 0);
    ck_assert_int_eq(api_etag_matches("", etag), 0);
    ck_assert_int_eq(api_etag_matches("\"*\"", etag), 0);
}
END_TEST

/* If-None-Match as a list: tabs, "*" beside other members, a bare W, an
 * unterminated quote, unquoted members, text after a member. */
START_TEST(if_none_match_lists)
{
    const char *etag = "\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"";
    ck_assert_int_eq(api_etag_matches("\t\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("*\t", etag), 1);
    ck_assert_int_eq(api_etag_matches("*, \"a\"", etag), 1);
    /* "*x" is a member of its own, not "*" */
    ck_assert_int_eq(api_etag_matches("*x, \"a\"", etag), 0);
    ck_assert_int_eq(api_etag_matches("*x,\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("W", etag), 0);
    ck_assert_int_eq(api_etag_matches("Wx, \"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("\"0192f5e4-7a3b-7c3d-8e4f-123456789abc", etag), 0);
    /* an unquoted member ends at a comma or a space */
    ck_assert_int_eq(api_etag_matches("abc,\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    ck_assert_int_eq(api_etag_matches("abc \"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 0);
    ck_assert_int_eq(api_etag_matches("abc\t, \"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 1);
    /* text after a member up to the next comma is skipped */
    ck_assert_int_eq(api_etag_matches("\"a\" junk, \"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag),
                     1);
    ck_assert_int_eq(api_etag_matches("\"a\"\"0192f5e4-7a3b-7c3d-8e4f-123456789abc\"", etag), 0);
}
END_TEST

Suite *api_params_suite(void)
{
    Suite *s = suite_create("api_params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, limit_and_wait);
    tcase_add_test(tc, ids);
    tcase_add_test(tc, times);
    tcase_add_test(tc, q_and_camera);
    tcase_add_test(tc, if_none_match);
    tcase_add_test(tc, if_none_match_lists);
    suite_add_tcase(s, tc);
    return s;
}
