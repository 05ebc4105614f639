/* Unit tests of services/api/problem.c: RFC 9457 documents and status titles. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

Suite *api_problem_suite(void)
{
    Suite *s = suite_create("api_problem");
    TCase *tc = tcase_create("problem");
    tcase_add_test(tc, problem_minimal);
    tcase_add_test(tc, problem_with_errors_and_extra);
    tcase_add_test(tc, problem_refuses_invalid_utf8_detail);
    suite_add_tcase(s, tc);
    return s;
}
