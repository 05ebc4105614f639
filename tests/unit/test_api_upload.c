/* Unit tests of services/api/upload.c: multipart parsing and the validation
 * table of docs/api.md (413 / 415 / 422). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/upload.h"

#define MAX_BYTES (10LL * 1024 * 1024)

static const unsigned char JPEG[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};

static api_part_t part(const char *name, const void *data, size_t len)
{
    api_part_t p = {.name = name, .name_len = strlen(name), .data = data, .len = len};
    return p;
}

/* Validates one image + description pair (either may be NULL = missing). */
static int check_fields(const void *img, size_t img_len, const char *desc, size_t desc_len,
                        api_upload_t *out)
{
    api_part_t ip = part("image", img, img_len), dp = part("description", desc, desc_len);
    api_upload_input_t in = {.content_type = "multipart/form-data; boundary=x",
                             .declared_length = -1,
                             .body_len = 100,
                             .image = img != NULL ? &ip : NULL,
                             .image_count = img != NULL ? 1 : 0,
                             .description = desc != NULL ? &dp : NULL,
                             .description_count = desc != NULL ? 1 : 0};
    return api_upload_validate(&in, MAX_BYTES, out);
}

static char *repeat(const char *unit, int n)
{
    size_t u = strlen(unit);
    char *s = malloc(u * (size_t)n + 1);
    for (int i = 0; i < n; i++) memcpy(s + u * (size_t)i, unit, u);
    s[u * (size_t)n] = '\0';
    return s;
}

START_TEST(accepts_valid_upload)
{
    api_upload_t v;
    const char *d = "С начала фазы запрещающего сигнала прошло: 7 секунд";
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, d, strlen(d), &v), 0);
    ck_assert_ptr_eq(v.image, JPEG);
    ck_assert_uint_eq(v.image_len, sizeof JPEG);
    ck_assert_uint_eq(v.description_len, strlen(d));
    ck_assert_int_eq(v.nerrors, 0);
}
END_TEST

START_TEST(cyrillic_200_ok_201_rejected)
{
    api_upload_t v;
    char *d200 = repeat("Ж", 200), *d201 = repeat("Ж", 201);
    ck_assert_uint_eq(strlen(d200), 400);
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, d200, strlen(d200), &v), 0);
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, d201, strlen(d201), &v), 422);
    ck_assert_int_eq(v.nerrors, 1);
    ck_assert_str_eq(v.errors[0].field, "description");
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "201"));
    free(d200);
    free(d201);
    /* 4-byte code points count once each: 200 emoji = 800 bytes is valid. */
    char *e200 = repeat("\xF0\x9F\x9A\xA6", 200);
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, e200, strlen(e200), &v), 0);
    free(e200);
    char *a201 = repeat("a", 201);
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, a201, strlen(a201), &v), 422);
    free(a201);
}
END_TEST

static const struct {
    const char *name;
    const char *bytes;
    size_t len;
} BAD_UTF8[] = {
    {"overlong C0 80", "a\xC0\x80z", 4},
    {"overlong E0 80 AF", "\xE0\x80\xAF", 3},
    {"surrogate ED A0 80", "x\xED\xA0\x80", 4},
    {"truncated 2-byte", "ok\xD0", 3},
    {"truncated 3-byte", "\xE2\x82", 2},
    {"lone continuation", "\x80", 1},
    {"above U+10FFFF", "\xF4\x90\x80\x80", 4},
    {"FF byte", "a\xFF", 2},
    {"NUL", "a\0b", 3},
};

START_TEST(rejects_invalid_utf8)
{
    api_upload_t v;
    int r = check_fields(JPEG, sizeof JPEG, BAD_UTF8[_i].bytes, BAD_UTF8[_i].len, &v);
    ck_assert_msg(r == 422, "%s: got %d", BAD_UTF8[_i].name, r);
    ck_assert_str_eq(v.errors[0].field, "description");
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "UTF-8"));
}
END_TEST

START_TEST(missing_and_empty_parts)
{
    api_upload_t v;
    ck_assert_int_eq(check_fields(NULL, 0, "hi", 2, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "image");
    ck_assert_int_eq(check_fields(JPEG, 0, "hi", 2, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "image");
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, NULL, 0, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "description");
    ck_assert_int_eq(check_fields(JPEG, sizeof JPEG, "", 0, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "description");
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "empty"));
    /* Both wrong: every field error is listed. */
    ck_assert_int_eq(check_fields(NULL, 0, NULL, 0, &v), 422);
    ck_assert_int_eq(v.nerrors, 2);
    ck_assert_str_eq(v.title, "Unprocessable Content");
}
END_TEST

START_TEST(not_a_jpeg_is_415)
{
    api_upload_t v;
    const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A};
    ck_assert_int_eq(check_fields(png, sizeof png, "hi", 2, &v), 415);
    ck_assert_str_eq(v.errors[0].field, "image");
    const unsigned char two[] = {0xFF, 0xD8};
    ck_assert_int_eq(check_fields(two, sizeof two, "hi", 2, &v), 415);
    const unsigned char ffd8fe[] = {0xFF, 0xD8, 0xFE, 0x00};
    ck_assert_int_eq(check_fields(ffd8fe, sizeof ffd8fe, "hi", 2, &v), 415);
    /* 415 wins over a description error: the media type is the first problem. */
    ck_assert_int_eq(check_fields(png, sizeof png, "", 0, &v), 415);
    ck_assert_int_eq(v.nerrors, 1);
}
END_TEST

START_TEST(too_large_is_413)
{
    api_upload_t v;
    api_part_t ip = part("image", JPEG, sizeof JPEG), dp = part("description", "d", 1);
    api_upload_input_t in = {.declared_length = MAX_BYTES + 1,
                             .body_len = 10,
                             .image = &ip,
                             .image_count = 1,
                             .description = &dp,
                             .description_count = 1};
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 413);
    in.declared_length = -1;
    in.body_len = (size_t)MAX_BYTES + 1;
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 413);
    in.body_len = (size_t)MAX_BYTES;
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 0);
}
END_TEST

START_TEST(repeated_parts_are_422)
{
    api_upload_t v;
    api_part_t ip = part("image", JPEG, sizeof JPEG), dp = part("description", "d", 1);
    api_upload_input_t in = {.declared_length = -1,
                             .body_len = 10,
                             .image = &ip,
                             .image_count = 2,
                             .description = &dp,
                             .description_count = 1};
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 422);
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "2 times"));
}
END_TEST

/* Validates an upload with a good image and description and the camera part
 * given (cam NULL: no part; count: how many camera parts were sent). */
static int check_camera(const char *cam, size_t len, int count, api_upload_t *out)
{
    api_part_t ip = part("image", JPEG, sizeof JPEG), dp = part("description", "d", 1),
               cp = part("camera", cam, len);
    api_upload_input_t in = {.declared_length = -1,
                             .body_len = 100,
                             .image = &ip,
                             .image_count = 1,
                             .description = &dp,
                             .description_count = 1,
                             .camera = cam != NULL ? &cp : NULL,
                             .camera_count = cam != NULL ? count : 0};
    return api_upload_validate(&in, MAX_BYTES, out);
}

START_TEST(camera_part)
{
    api_upload_t v;
    /* Absent: accepted, no camera. */
    ck_assert_int_eq(check_camera(NULL, 0, 0, &v), 0);
    ck_assert_ptr_null(v.camera);
    ck_assert_uint_eq(v.camera_len, 0);
    static const char *good[] = {"a", "gate-3", "CAM_01.north", "0", "...", "-_-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(check_camera(good[i], strlen(good[i]), 1, &v) == 0, "%s", good[i]);
        ck_assert_ptr_eq(v.camera, good[i]);
        ck_assert_uint_eq(v.camera_len, strlen(good[i]));
    }
    char *c64 = repeat("x", 64), *c65 = repeat("x", 65);
    ck_assert_int_eq(check_camera(c64, 64, 1, &v), 0);
    ck_assert_uint_eq(v.camera_len, 64);
    ck_assert_int_eq(check_camera(c65, 65, 1, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "camera");
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "1 to 64"));
    ck_assert_ptr_null(v.camera);
    free(c64);
    free(c65);
    static const char *bad[] = {"gate 3", "gate/3", "gate%3", "kamera-\xD0\x96", "a\n", "a\r\n",
                                "\"a\"",  "a,b",    "a+b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(check_camera(bad[i], strlen(bad[i]), 1, &v) == 422, "%s", bad[i]);
        ck_assert_int_eq(v.nerrors, 1);
        ck_assert_str_eq(v.errors[0].field, "camera");
        ck_assert_str_eq(v.title, "Unprocessable Content");
    }
    /* A NUL inside the part is not cut short: the whole part is judged. */
    ck_assert_int_eq(check_camera("ab\0c", 4, 1, &v), 422);
    /* An empty part is an error, not "no camera". */
    ck_assert_int_eq(check_camera("", 0, 1, &v), 422);
    ck_assert_str_eq(v.errors[0].field, "camera");
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "empty"));
    ck_assert_int_eq(check_camera("gate-3", 6, 2, &v), 422);
    ck_assert_ptr_nonnull(strstr(v.errors[0].message, "2 times"));
    /* Listed with the other field errors. */
    api_part_t cp = part("camera", "no way", 6);
    api_upload_input_t in = {
        .declared_length = -1, .body_len = 100, .camera = &cp, .camera_count = 1};
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 422);
    ck_assert_int_eq(v.nerrors, 3);
    ck_assert_str_eq(v.errors[2].field, "camera");
}
END_TEST

START_TEST(boundary_parameter)
{
    char b[80];
    ck_assert_int_eq(api_multipart_boundary("multipart/form-data; boundary=abc", b, sizeof b), 0);
    ck_assert_str_eq(b, "abc");
    ck_assert_int_eq(api_multipart_boundary("Multipart/Form-Data;charset=utf-8; "
                                            "BOUNDARY=\"a b;c\"",
                                            b, sizeof b),
                     0);
    ck_assert_str_eq(b, "a b;c");
    ck_assert_int_eq(api_multipart_boundary(NULL, b, sizeof b), 1);
    ck_assert_int_eq(api_multipart_boundary("image/jpeg", b, sizeof b), 1);
    ck_assert_int_eq(api_multipart_boundary("application/x-www-form-urlencoded", b, sizeof b), 1);
    ck_assert_int_eq(api_multipart_boundary("multipart/form-dataX; boundary=a", b, sizeof b), 1);
    ck_assert_int_eq(api_multipart_boundary("multipart/form-data", b, sizeof b), -1);
    ck_assert_int_eq(api_multipart_boundary("multipart/form-data; boundary=", b, sizeof b), -1);
    ck_assert_int_eq(api_multipart_boundary("multipart/form-data; boundary=\"abc", b, sizeof b),
                     -1);
    char *longb = repeat("x", 71), ct[200];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", longb);
    ck_assert_int_eq(api_multipart_boundary(ct, b, sizeof b), -1);
    free(longb);
}
END_TEST

static const char BODY[] =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"image\"; filename=\"cam.jpg\"\r\n"
    "Content-Type: image/jpeg\r\n"
    "\r\n"
    "\xFF\xD8\xFF\r\n--Xy not a boundary\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=description\r\n"
    "\r\n"
    "line one\r\nline two\r\n"
    "--XyZ--\r\n"
    "epilogue";

START_TEST(parses_multipart)
{
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    int n = api_multipart_parse((const unsigned char *)BODY, sizeof BODY - 1, "XyZ", parts,
                                API_MULTIPART_MAX_PARTS, err, sizeof err);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq((int)parts[0].name_len, 5);
    ck_assert_int_eq(memcmp(parts[0].name, "image", 5), 0);
    ck_assert_int_eq((int)parts[0].filename_len, 7);
    ck_assert_int_eq(memcmp(parts[0].filename, "cam.jpg", 7), 0);
    const char img[] = "\xFF\xD8\xFF\r\n--Xy not a boundary";
    ck_assert_uint_eq(parts[0].len, sizeof img - 1);
    ck_assert_int_eq(memcmp(parts[0].data, img, sizeof img - 1), 0);
    ck_assert_int_eq(memcmp(parts[1].name, "description", 11), 0);
    ck_assert_ptr_null(parts[1].filename);
    ck_assert_uint_eq(parts[1].len, strlen("line one\r\nline two"));

    api_upload_t v;
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=XyZ", sizeof BODY - 1,
                                      (const unsigned char *)BODY, sizeof BODY - 1, MAX_BYTES,
                                      parts, &v),
                     0);
    ck_assert_uint_eq(v.image_len, sizeof img - 1);
}
END_TEST

START_TEST(malformed_multipart)
{
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    static const char *bad[] = {
        "",                                                             /* empty */
        "no boundary here",                                             /* none */
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", /* unclosed */
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nx",     /* headers open */
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",        /* no disposition */
        "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\n\r\nx\r\n--XyZ--", /* no headers */
        "--XyZ",                     /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = api_multipart_parse((const unsigned char *)bad[i], strlen(bad[i]), "XyZ", parts,
                                    API_MULTIPART_MAX_PARTS, err, sizeof err);
        ck_assert_msg(n == -1, "case %zu parsed as %d parts", i, n);
        ck_assert_int_gt((int)strlen(err), 0);
    }
    /* The close delimiter alone is a valid empty form: then both parts are missing. */
    api_upload_t v;
    const char *empty = "--XyZ--\r\n";
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=XyZ", -1,
                                      (const unsigned char *)empty, strlen(empty), MAX_BYTES, parts,
                                      &v),
                     422);
    ck_assert_int_eq(v.nerrors, 2);
    /* Broken framing is a 422 on the body, never a 500. */
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=XyZ", -1,
                                      (const unsigned char *)bad[2], strlen(bad[2]), MAX_BYTES,
                                      parts, &v),
                     422);
    ck_assert_str_eq(v.errors[0].field, "body");
}
END_TEST

START_TEST(too_many_parts)
{
    char body[4096];
    size_t n = 0;
    for (int i = 0; i <= API_MULTIPART_MAX_PARTS; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "--b\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nv\r\n",
                              i);
    n += (size_t)snprintf(body + n, sizeof body - n, "--b--\r\n");
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    ck_assert_int_eq(api_multipart_parse((unsigned char *)body, n, "b", parts,
                                         API_MULTIPART_MAX_PARTS, err, sizeof err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

START_TEST(check_content_type_and_size)
{
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    const unsigned char *b = (const unsigned char *)BODY;
    ck_assert_int_eq(api_upload_check("image/jpeg", -1, b, 10, MAX_BYTES, parts, &v), 415);
    ck_assert_str_eq(v.errors[0].field, "Content-Type");
    ck_assert_int_eq(api_upload_check(NULL, -1, b, 10, MAX_BYTES, parts, &v), 415);
    ck_assert_int_eq(api_upload_check("multipart/form-data", -1, b, 10, MAX_BYTES, parts, &v), 415);
    /* Size is judged before anything else. */
    ck_assert_int_eq(api_upload_check("image/jpeg", MAX_BYTES + 1, b, 10, MAX_BYTES, parts, &v),
                     413);
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=XyZ", -1, b, sizeof BODY - 1,
                                      20, parts, &v),
                     413);
}
END_TEST

START_TEST(camera_in_multipart)
{
    static const char body[] = "--b\r\n"
                               "Content-Disposition: form-data; name=\"camera\"\r\n\r\n"
                               "gate-3\r\n"
                               "--b\r\n"
                               "Content-Disposition: form-data; name=\"image\"; filename=x.jpg\r\n"
                               "\r\n\xFF\xD8\xFF\xE0\r\n"
                               "--b\r\n"
                               "Content-Disposition: form-data; name=\"description\"\r\n\r\n"
                               "hi\r\n"
                               "--b--\r\n";
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=b", -1,
                                      (const unsigned char *)body, sizeof body - 1, MAX_BYTES,
                                      parts, &v),
                     0);
    ck_assert_uint_eq(v.camera_len, 6);
    ck_assert_int_eq(memcmp(v.camera, "gate-3", 6), 0);
    ck_assert_uint_eq(v.description_len, 2);
    /* The same with an empty camera part. */
    static const char empty[] = "--b\r\n"
                                "Content-Disposition: form-data; name=\"camera\"\r\n\r\n"
                                "\r\n"
                                "--b\r\n"
                                "Content-Disposition: form-data; name=\"image\"\r\n"
                                "\r\n\xFF\xD8\xFF\xE0\r\n"
                                "--b\r\n"
                                "Content-Disposition: form-data; name=\"description\"\r\n\r\n"
                                "hi\r\n"
                                "--b--\r\n";
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=b", -1,
                                      (const unsigned char *)empty, sizeof empty - 1, MAX_BYTES,
                                      parts, &v),
                     422);
    ck_assert_int_eq(v.nerrors, 1);
    ck_assert_str_eq(v.errors[0].field, "camera");
    /* Without the part: accepted without a camera (BODY has none). */
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=XyZ", -1,
                                      (const unsigned char *)BODY, sizeof BODY - 1, MAX_BYTES,
                                      parts, &v),
                     0);
    ck_assert_ptr_null(v.camera);
}
END_TEST

Suite *api_upload_suite(void)
{
    Suite *s = suite_create("api_upload");
    TCase *tc = tcase_create("validate");
    tcase_add_test(tc, accepts_valid_upload);
    tcase_add_test(tc, cyrillic_200_ok_201_rejected);
    tcase_add_loop_test(tc, rejects_invalid_utf8, 0, (int)(sizeof BAD_UTF8 / sizeof BAD_UTF8[0]));
    tcase_add_test(tc, missing_and_empty_parts);
    tcase_add_test(tc, not_a_jpeg_is_415);
    tcase_add_test(tc, too_large_is_413);
    tcase_add_test(tc, repeated_parts_are_422);
    tcase_add_test(tc, camera_part);
    suite_add_tcase(s, tc);
    TCase *mp = tcase_create("multipart");
    tcase_add_test(mp, boundary_parameter);
    tcase_add_test(mp, parses_multipart);
    tcase_add_test(mp, malformed_multipart);
    tcase_add_test(mp, too_many_parts);
    tcase_add_test(mp, check_content_type_and_size);
    tcase_add_test(mp, camera_in_multipart);
    suite_add_tcase(s, mp);
    return s;
}
