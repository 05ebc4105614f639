/* Unit tests of services/api/problem.c and params.c: RFC 9457 documents,
 * query/path parameter parsers and If-None-Match. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/params.h"
#include "api/problem.h"

START_TEST(problem_minimal)
{
    char *s = api_problem_json(404, NULL, NULL, "no image with this id", NULL, 0, NULL);
    ck_assert_ptr_nonnull(s);
    json_error_t je;
    json_t *doc = json_loads(s, 0, &je);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "about:blank");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "title")), "Not Found");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 404);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "detail")), "no image with this id");
    ck_assert_ptr_null(json_object_get(doc, "errors"));
    json_decref(doc);
    free(s);
}
END_TEST

START_TEST(problem_with_errors_and_extra)
{
    api_field_error_t errs[2] = {{"image", "the image part is missing"},
                                 {"description", "слишком длинно"}};
    json_t *extra = json_pack("{s:s, s:s, s:s, s:i, s:s}", "status", "failed", "state", "failed",
                              "id", "abc", "x", 1, "type", "urn:other");
    char *s = api_problem_json(422, "urn:imgcap:problem:validation", "Unprocessable Content", "bad",
                               errs, 2, extra);
    json_decref(extra);
    json_t *doc = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    /* An extension member cannot replace an RFC 9457 one: "status" stays the
     * HTTP status number generic clients read (a failed image's "status":"failed"
     * once replaced it); the pipeline state travels as "state". */
    ck_assert(json_is_integer(json_object_get(doc, "status")));
    ck_assert_int_eq((int)json_integer_value(json_object_get(doc, "status")), 422);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "state")), "failed");
    ck_assert_int_eq((int)json_integer_value(json_object_get(doc, "x")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "title")), "Unprocessable Content");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), "abc");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")),
                     "urn:imgcap:problem:validation");
    json_t *e = json_object_get(doc, "errors");
    ck_assert_int_eq((int)json_array_size(e), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 1), "field")),
                     "description");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 1), "message")),
                     "слишком длинно");
    json_decref(doc);
    free(s);
}
END_TEST

START_TEST(problem_refuses_invalid_utf8_detail)
{
    ck_assert_ptr_null(api_problem_json(500, NULL, NULL, "bad \xC0\x80", NULL, 0, NULL));
    ck_assert_str_eq(api_status_title(405), "Method Not Allowed");
    ck_assert_str_eq(api_status_title(413), "Content Too Large");
    ck_assert_str_eq(api_status_title(299), "Error");
}
END_TEST

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

Suite *api_problem_suite(void)
{
    Suite *s = suite_create("api_problem");
    TCase *tc = tcase_create("problem");
    tcase_add_test(tc, problem_minimal);
    tcase_add_test(tc, problem_with_errors_and_extra);
    tcase_add_test(tc, problem_refuses_invalid_utf8_detail);
    suite_add_tcase(s, tc);
    TCase *pc = tcase_create("params");
    tcase_add_test(pc, limit_and_wait);
    tcase_add_test(pc, ids);
    tcase_add_test(pc, if_none_match);
    suite_add_tcase(s, pc);
    return s;
}
