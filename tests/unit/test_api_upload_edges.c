/* Unit tests of services/api/upload.c at the edges of its grammar: the
 * parameters of a Content-Type and of a Content-Disposition (quoting,
 * escapes, spaces, parameters without a value), the transport padding and
 * broken framing around a delimiter, and input fields the HTTP layer could
 * pass (a part present but counted zero times, a repeated description). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "api/upload.h"

#define MAX_BYTES (10LL * 1024 * 1024)

static const unsigned char JPEG[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};

/* The boundary of content_type, or NULL with *rc set when there is none. */
static const char *boundary_of(const char *content_type, int *rc)
{
    static char b[80];
    *rc = api_multipart_boundary(content_type, b, sizeof b);
    return *rc == API_BOUNDARY_FOUND ? b : NULL;
}

START_TEST(boundary_parameter_edges)
{
    int rc;
    /* spaces and tabs around the type and the parameters */
    ck_assert_str_eq(boundary_of("\t multipart/form-data;boundary=a", &rc), "a");
    ck_assert_str_eq(boundary_of("multipart/form-data\t; boundary=b1", &rc), "b1");
    ck_assert_str_eq(boundary_of("multipart/form-data; boundary =d", &rc), "d");
    /* a parameter without a value is skipped, not taken for the boundary */
    ck_assert_str_eq(boundary_of("multipart/form-data; charset; boundary=c", &rc), "c");
    ck_assert_ptr_null(boundary_of("multipart/form-data; charset", &rc));
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(boundary_of("multipart/form-data;", &rc));
    ck_assert_int_eq(rc, -1);
    /* another parameter of the same length as "boundary" */
    ck_assert_str_eq(boundary_of("multipart/form-data; encoding=x; boundary=g", &rc), "g");
    /* an unquoted value ends at a space */
    ck_assert_str_eq(boundary_of("multipart/form-data; boundary=e f", &rc), "e");
    /* a quoted value keeps what its backslashes escape */
    ck_assert_str_eq(boundary_of("multipart/form-data; boundary=\"q\\\"r\\\\s\"", &rc), "q\"r\\s");
    /* a backslash that ends the header leaves the quote open */
    ck_assert_ptr_null(boundary_of("multipart/form-data; boundary=\"ab\\", &rc));
    ck_assert_int_eq(rc, -1);

    /* RFC 2046: at most 70 characters, quoted or not */
    char ct[200], seventy[71], eighty[81];
    memset(seventy, 'x', 70);
    seventy[70] = '\0';
    memset(eighty, 'y', 80);
    eighty[80] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", seventy);
    ck_assert_str_eq(boundary_of(ct, &rc), seventy);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", eighty);
    ck_assert_ptr_null(boundary_of(ct, &rc));
    ck_assert_int_eq(rc, -1);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", eighty);
    ck_assert_ptr_null(boundary_of(ct, &rc));
    ck_assert_int_eq(rc, -1);

    /* the caller's buffer must hold the boundary and its NUL */
    char small[5];
    ck_assert_int_eq(
        api_multipart_boundary("multipart/form-data; boundary=abcde", small, sizeof small), -1);
    ck_assert_int_eq(
        api_multipart_boundary("multipart/form-data; boundary=abcd", small, sizeof small),
        API_BOUNDARY_FOUND);
    ck_assert_str_eq(small, "abcd");
}
END_TEST

/* Parses "--b" CRLF headers CRLF CRLF "DATA" CRLF "--b--" into parts. */
static int parse_headers(const char *headers, api_part_t parts[API_MULTIPART_MAX_PARTS], char *err,
                         size_t errlen)
{
    static char body[1024];
    int n = snprintf(body, sizeof body, "--b\r\n%s\r\n\r\nDATA\r\n--b--\r\n", headers);
    ck_assert_int_lt(n, (int)sizeof body);
    return api_multipart_parse((const unsigned char *)body, (size_t)n, "b", parts,
                               API_MULTIPART_MAX_PARTS, err, errlen);
}

static void assert_span(const char *p, size_t len, const char *want)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_int_eq(memcmp(p, want, len), 0);
}

START_TEST(disposition_parameters)
{
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    /* escaped quotes do not end a quoted value (kept as sent) */
    ck_assert_int_eq(parse_headers("Content-Disposition: form-data; name=\"a\\\"b\"; "
                                   "filename=\"c\\\\d.jpg\"",
                                   parts, err, sizeof err),
                     1);
    assert_span(parts[0].name, parts[0].name_len, "a\\\"b");
    assert_span(parts[0].filename, parts[0].filename_len, "c\\\\d.jpg");
    assert_span((const char *)parts[0].data, parts[0].len, "DATA");
    /* an unquoted value ends at ';' or at a space */
    ck_assert_int_eq(parse_headers("Content-Disposition: form-data; name=image;filename=x.jpg",
                                   parts, err, sizeof err),
                     1);
    assert_span(parts[0].name, parts[0].name_len, "image");
    assert_span(parts[0].filename, parts[0].filename_len, "x.jpg");
    ck_assert_int_eq(parse_headers("Content-Disposition: form-data; name=image filename=y.jpg",
                                   parts, err, sizeof err),
                     1);
    assert_span(parts[0].name, parts[0].name_len, "image");
    assert_span(parts[0].filename, parts[0].filename_len, "y.jpg");
    /* tabs, no space after the colon, empty parameters, spaces around '=' */
    ck_assert_int_eq(
        parse_headers("Content-Disposition:form-data;;\tname = \"a\"", parts, err, sizeof err), 1);
    assert_span(parts[0].name, parts[0].name_len, "a");
    /* parameters without a value, before and after the name */
    ck_assert_int_eq(
        parse_headers("Content-Disposition: form-data; foo; name=a; bar", parts, err, sizeof err),
        1);
    assert_span(parts[0].name, parts[0].name_len, "a");
    /* other parameters as long as "name" and "filename" */
    ck_assert_int_eq(parse_headers("Content-Disposition: form-data; type=t; encoding=e; name=c",
                                   parts, err, sizeof err),
                     1);
    assert_span(parts[0].name, parts[0].name_len, "c");
    ck_assert_ptr_null(parts[0].filename);
    /* an unterminated quote runs to the end of the line */
    ck_assert_int_eq(
        parse_headers("Content-Disposition: form-data; name=\"abc", parts, err, sizeof err), 1);
    assert_span(parts[0].name, parts[0].name_len, "abc");
    ck_assert_int_eq(
        parse_headers("Content-Disposition: form-data; name=\"ab\\", parts, err, sizeof err), 1);
    assert_span(parts[0].name, parts[0].name_len, "ab\\");
    /* other header lines, shorter than the one looked for, are skipped */
    ck_assert_int_eq(
        parse_headers("X: y\r\nContent-Disposition: form-data; name=z", parts, err, sizeof err), 1);
    assert_span(parts[0].name, parts[0].name_len, "z");
}
END_TEST

START_TEST(disposition_refused)
{
    static const char *bad[] = {
        "Content-Disposition:",                           /* no value */
        "Content-Disposition: form",                      /* shorter than form-data */
        "Content-Disposition: form-data; filename=x.jpg", /* no name */
        "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b",
    };
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[160] = "";
        ck_assert_int_eq(parse_headers(bad[i], parts, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "part 1: missing or invalid Content-Disposition") != NULL,
                      "case %zu: %s", i, err);
    }
}
END_TEST

/* A name parameter with nothing after '=' is an empty name: such a part is
 * no field, so the upload lacks both of its fields. */
START_TEST(empty_name_is_no_field)
{
    static const char body[] = "--b\r\nContent-Disposition: form-data; name=\r\n\r\n"
                               "\xFF\xD8\xFF\r\n--b--\r\n";
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    ck_assert_int_eq(api_multipart_parse((const unsigned char *)body, sizeof body - 1, "b", parts,
                                         API_MULTIPART_MAX_PARTS, err, sizeof err),
                     1);
    ck_assert_uint_eq(parts[0].name_len, 0);
    api_upload_t v;
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=b", -1,
                                      (const unsigned char *)body, sizeof body - 1, MAX_BYTES,
                                      parts, &v),
                     422);
    ck_assert_int_eq(v.nerrors, 2);
    ck_assert_str_eq(v.errors[0].field, "image");
    ck_assert_str_eq(v.errors[1].field, "description");
}
END_TEST

static int parse_body(const char *body, const char *boundary,
                      api_part_t parts[API_MULTIPART_MAX_PARTS], char *err, size_t errlen)
{
    return api_multipart_parse((const unsigned char *)body, strlen(body), boundary, parts,
                               API_MULTIPART_MAX_PARTS, err, errlen);
}

START_TEST(framing_edges)
{
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    char err[160];
    /* transport padding (spaces, tabs) after a delimiter is ignored */
    ck_assert_int_eq(parse_body("--b \t\r\nContent-Disposition: form-data; name=a\r\n\r\nx"
                                "\r\n--b\t\r\nContent-Disposition: form-data; name=c\r\n\r\nyz"
                                "\r\n--b--",
                                "b", parts, err, sizeof err),
                     2);
    assert_span((const char *)parts[0].data, parts[0].len, "x");
    assert_span((const char *)parts[1].data, parts[1].len, "yz");

    /* the boundary itself: 1 to 70 characters */
    char b71[72];
    memset(b71, 'b', 71);
    b71[71] = '\0';
    ck_assert_int_eq(parse_body("--b--", "", parts, err, sizeof err), -1);
    ck_assert_str_eq(err, "invalid boundary");
    ck_assert_int_eq(parse_body("--b--", b71, parts, err, sizeof err), -1);
    ck_assert_str_eq(err, "invalid boundary");

    /* after a delimiter: "--", or padding and CRLF; nothing else */
    static const char *malformed[] = {"--b-x\r\n", "--b-", "--b   ", "--b\rX", "--bX\r\n"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        err[0] = '\0';
        ck_assert_msg(parse_body(malformed[i], "b", parts, err, sizeof err) == -1, "case %zu", i);
        ck_assert_str_eq(err, "multipart body is truncated or malformed");
    }
    /* a part cut right after its delimiter line, or whose headers never end */
    ck_assert_int_eq(parse_body("--b\r\n", "b", parts, err, sizeof err), -1);
    ck_assert_str_eq(err, "multipart part 1: headers are not terminated");
    ck_assert_int_eq(parse_body("--b\r\n\rX: y\r\n", "b", parts, err, sizeof err), -1);
    ck_assert_str_eq(err, "multipart part 1: headers are not terminated");
    /* the second part's framing is judged as the first's */
    ck_assert_int_eq(parse_body("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n"
                                "--b\r\n\r\nno headers\r\n--b--",
                                "b", parts, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "multipart part 2 has no Content-Disposition");
}
END_TEST

static api_part_t part(const char *name, const void *data, size_t len)
{
    api_part_t p = {.name = name, .name_len = strlen(name), .data = data, .len = len};
    return p;
}

START_TEST(validate_counts_rule)
{
    api_part_t ip = part("image", JPEG, sizeof JPEG), dp = part("description", "hi", 2),
               cp = part("camera", "gate-1", 6);
    api_upload_t v;
    /* a part the HTTP layer counted zero times is missing, whatever the pointer */
    api_upload_input_t in = {.declared_length = -1,
                             .body_len = 100,
                             .image = &ip,
                             .image_count = 0,
                             .description = &dp,
                             .description_count = 0};
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 422);
    ck_assert_int_eq(v.nerrors, 2);
    ck_assert_str_eq(v.errors[0].message, "the image part is missing");
    ck_assert_str_eq(v.errors[1].message, "the description part is missing");
    /* a repeated description is named with its count */
    in.image_count = 1;
    in.description_count = 3;
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 422);
    ck_assert_int_eq(v.nerrors, 1);
    ck_assert_str_eq(v.errors[0].field, "description");
    ck_assert_str_eq(v.errors[0].message, "the description part is sent 3 times; send it once");
    /* a camera counted zero times is no camera */
    in.description_count = 1;
    in.camera = &cp;
    in.camera_count = 0;
    ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 0);
    ck_assert_ptr_null(v.camera);
    ck_assert_uint_eq(v.camera_len, 0);
    ck_assert_ptr_eq(v.description, dp.data);
}
END_TEST

START_TEST(jpeg_signature_bytes)
{
    /* each of the three bytes FF D8 FF is checked */
    static const unsigned char bad[][4] = {
        {0x00, 0xD8, 0xFF, 0xE0}, {0xFF, 0x00, 0xFF, 0xE0}, {0xFF, 0xD8, 0x00, 0xE0}};
    api_part_t dp = part("description", "hi", 2);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_part_t ip = part("image", bad[i], sizeof bad[i]);
        api_upload_input_t in = {.declared_length = -1,
                                 .body_len = 100,
                                 .image = &ip,
                                 .image_count = 1,
                                 .description = &dp,
                                 .description_count = 1};
        api_upload_t v;
        ck_assert_int_eq(api_upload_validate(&in, MAX_BYTES, &v), 415);
        ck_assert_int_eq(v.nerrors, 1);
        ck_assert_str_eq(v.errors[0].field, "image");
    }
}
END_TEST

/* Field names are matched exactly: "Image" is not "image"; parts of other
 * names are ignored; a second description is a repeat. */
START_TEST(part_names_in_a_body)
{
    static const char body[] = "--b\r\nContent-Disposition: form-data; name=Image\r\n\r\n"
                               "\xFF\xD8\xFF\r\n"
                               "--b\r\nContent-Disposition: form-data; name=other\r\n\r\nz\r\n"
                               "--b\r\nContent-Disposition: form-data; name=description\r\n\r\n"
                               "one\r\n"
                               "--b\r\nContent-Disposition: form-data; name=description\r\n\r\n"
                               "two\r\n--b--\r\n";
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    ck_assert_int_eq(api_upload_check("multipart/form-data; boundary=b", -1,
                                      (const unsigned char *)body, sizeof body - 1, MAX_BYTES,
                                      parts, &v),
                     422);
    ck_assert_int_eq(v.nerrors, 2);
    ck_assert_str_eq(v.errors[0].message, "the image part is missing");
    ck_assert_str_eq(v.errors[1].message, "the description part is sent 2 times; send it once");
}
END_TEST

Suite *api_upload_edges_suite(void)
{
    Suite *s = suite_create("api_upload_edges");
    TCase *tc = tcase_create("grammar");
    tcase_add_test(tc, boundary_parameter_edges);
    tcase_add_test(tc, disposition_parameters);
    tcase_add_test(tc, disposition_refused);
    tcase_add_test(tc, empty_name_is_no_field);
    tcase_add_test(tc, framing_edges);
    suite_add_tcase(s, tc);
    TCase *vt = tcase_create("validate");
    tcase_add_test(vt, validate_counts_rule);
    tcase_add_test(vt, jpeg_signature_bytes);
    tcase_add_test(vt, part_names_in_a_body);
    suite_add_tcase(s, vt);
    return s;
}
