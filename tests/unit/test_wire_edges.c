/* Unit tests of shared/wire.c at the edges of its header: each field of the
 * wrong type or out of range refused with its name (or, for the optional
 * sizes, ignored), and what wire_encode() refuses before building a payload. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define ID "0192f0c8-1234-7abc-8def-0123456789ab"

/* Decodes "IMGCAP1\n{id, received_at, description<fields>}\n<body>". */
static int decode(const char *fields, const char *body, wire_msg_t *m, char *err, size_t errlen)
{
    char text[2048];
    snprintf(text, sizeof text,
             "IMGCAP1\n{\"id\":\"" ID "\",\"received_at\":\"t\",\"description\":\"d\"%s}\n%s",
             fields, body);
    return wire_decode((const unsigned char *)text, strlen(text), m, err, errlen);
}

START_TEST(header_fields_refused)
{
    static const struct {
        const char *fields, *body, *err;
    } cases[] = {
        {",\"content_length\":\"3\"", "abc", "content_length does not match"},
        {",\"content_length\":-1", "", "content_length does not match"},
        {"", "abc", "content_length does not match"},
        {",\"content_length\":1,\"thumbnail_length\":0", "a", "thumbnail_length is not a size"},
        {",\"content_length\":1,\"thumbnail_length\":-2", "a", "thumbnail_length is not a size"},
        {",\"content_length\":1,\"thumbnail_length\":\"1\"", "ab",
         "thumbnail_length is not a size"},
        {",\"content_length\":0,\"camera\":7", "", "camera is not a camera name"},
        {",\"content_length\":0,\"camera\":\"\"", "", "camera is not a camera name"},
        {",\"content_length\":0,\"id\":\"" ID "\"", "", "header is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wire_msg_t m;
        char err[256] = "";
        ck_assert_msg(decode(cases[i].fields, cases[i].body, &m, err, sizeof err) == -1, "%s",
                      cases[i].fields);
        ck_assert_msg(strstr(err, cases[i].err) != NULL, "%s: %s", cases[i].fields, err);
    }
    /* A required string of the wrong type, or longer than its field. */
    char err[256];
    wire_msg_t m;
    const char *not_string = "IMGCAP1\n{\"id\":\"" ID "\",\"received_at\":5,\"description\":\"d\","
                             "\"content_length\":0}\n";
    ck_assert_int_eq(
        wire_decode((const unsigned char *)not_string, strlen(not_string), &m, err, sizeof err),
        -1);
    ck_assert_str_eq(err, "header field received_at missing or not a string");
    const char *long_id = "IMGCAP1\n{\"id\":\"" ID ID "\",\"received_at\":\"t\","
                          "\"description\":\"d\",\"content_length\":0}\n";
    ck_assert_int_eq(
        wire_decode((const unsigned char *)long_id, strlen(long_id), &m, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "header field id too long"));
}
END_TEST

START_TEST(sizes_out_of_range_are_unknown)
{
    static const struct {
        const char *fields;
        int w, h;
    } cases[] = {
        {",\"content_length\":0,\"width\":640,\"height\":480", 640, 480},
        {",\"content_length\":0,\"width\":640", 0, 0},
        {",\"content_length\":0,\"width\":\"640\",\"height\":480", 0, 0},
        {",\"content_length\":0,\"width\":0,\"height\":480", 0, 0},
        {",\"content_length\":0,\"width\":640,\"height\":-1", 0, 0},
        {",\"content_length\":0,\"width\":1000000,\"height\":480", 0, 0},
        {",\"content_length\":0,\"width\":640,\"height\":1000000", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wire_msg_t m;
        char err[256] = "";
        ck_assert_msg(decode(cases[i].fields, "", &m, err, sizeof err) == 0, "%s: %s",
                      cases[i].fields, err);
        ck_assert_int_eq(m.width, cases[i].w);
        ck_assert_int_eq(m.height, cases[i].h);
    }
}
END_TEST

START_TEST(encode_refusals)
{
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xd9};
    wire_msg_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", "not-a-uuid");
    snprintf(m.received_at, sizeof m.received_at, "2026-12-06T10:00:00.000Z");
    snprintf(m.description, sizeof m.description, "d");
    m.jpeg = jpeg;
    m.jpeg_len = sizeof jpeg;
    unsigned char *out = NULL;
    size_t len = 0;
    char err[256] = "";
    ck_assert_int_eq(wire_encode(&m, &out, &len, err, sizeof err), -1);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err, "id"));
    snprintf(m.id, sizeof m.id, "%s", ID);
    snprintf(m.camera, sizeof m.camera, "%s", "no spaces allowed");
    ck_assert_int_eq(wire_encode(&m, &out, &len, err, sizeof err), -1);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err, "camera"));
    /* Sizes go into the header only when both are known. */
    m.camera[0] = '\0';
    m.width = 640;
    ck_assert_int_eq(wire_encode(&m, &out, &len, err, sizeof err), 0);
    ck_assert_ptr_null(memmem(out, len, "\"width\"", 7));
    wire_msg_t back;
    ck_assert_int_eq(wire_decode(out, len, &back, err, sizeof err), 0);
    ck_assert_int_eq(back.width, 0);
    free(out);
}
END_TEST

Suite *wire_edges_suite(void)
{
    Suite *s = suite_create("wire_edges");
    TCase *tc = tcase_create("wire_edges");
    tcase_add_test(tc, header_fields_refused);
    tcase_add_test(tc, sizes_out_of_range_are_unknown);
    tcase_add_test(tc, encode_refusals);
    suite_add_tcase(s, tc);
    return s;
}
