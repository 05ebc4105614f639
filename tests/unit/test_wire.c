#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static wire_msg_t sample(void)
{
    wire_msg_t m;
    memset(&m, 0, sizeof m);
    strcpy(m.id, "0192f0c8-1234-7abc-8def-0123456789ab");
    strcpy(m.received_at, "2026-11-28T12:34:56.789Z");
    strcpy(m.description, "С начала фазы \"запрещающего\"\nсигнала\\ прошло: 7 секунд");
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, '\n', 0x00, 0xFF, 0xD9};
    m.jpeg = jpeg;
    m.jpeg_len = sizeof jpeg;
    return m;
}

START_TEST(round_trip)
{
    wire_msg_t m = sample(), d;
    m.width = 674;
    m.height = 500;
    unsigned char *buf;
    size_t len;
    char err[256];
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), 0);
    ck_assert(memcmp(buf, "IMGCAP1\n", 8) == 0);
    /* The header is exactly one line even though the description has newlines. */
    unsigned char *nl = memchr(buf + 8, '\n', len - 8);
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_eq((size_t)(buf + len - (nl + 1)), m.jpeg_len);
    ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof err), 0);
    ck_assert_str_eq(d.id, m.id);
    ck_assert_str_eq(d.received_at, m.received_at);
    ck_assert_str_eq(d.description, m.description);
    ck_assert_int_eq(d.width, 674);
    ck_assert_int_eq(d.height, 500);
    ck_assert_uint_eq(d.jpeg_len, m.jpeg_len);
    ck_assert(memcmp(d.jpeg, m.jpeg, m.jpeg_len) == 0);
    free(buf);
}
END_TEST

START_TEST(camera_and_thumbnail_round_trip)
{
    wire_msg_t m = sample(), d;
    static const unsigned char thumb[] = {0xFF, 0xD8, 0xFF, 0xDB, '\n', 0xFF, 0xD9};
    strcpy(m.camera, "cam-12.north_A");
    m.thumb = thumb;
    m.thumb_len = sizeof thumb;
    unsigned char *buf;
    size_t len;
    char err[256];
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), 0);
    ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof err), 0);
    ck_assert_str_eq(d.camera, "cam-12.north_A");
    ck_assert_uint_eq(d.jpeg_len, m.jpeg_len);
    ck_assert(memcmp(d.jpeg, m.jpeg, m.jpeg_len) == 0);
    ck_assert_uint_eq(d.thumb_len, sizeof thumb);
    ck_assert_ptr_eq(d.thumb, d.jpeg + d.jpeg_len);
    ck_assert(memcmp(d.thumb, thumb, sizeof thumb) == 0);
    free(buf);

    /* Without either, neither comes back. */
    m = sample();
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), 0);
    ck_assert_ptr_null(strstr((const char *)buf, "camera"));
    ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof err), 0);
    ck_assert_str_eq(d.camera, "");
    ck_assert_ptr_null(d.thumb);
    ck_assert_uint_eq(d.thumb_len, 0);
    free(buf);
}
END_TEST

START_TEST(camera_names)
{
    ck_assert_int_eq(wire_camera_is_valid("cam-1", 5), 1);
    ck_assert_int_eq(wire_camera_is_valid("A.b_c-9", 7), 1);
    ck_assert_int_eq(wire_camera_is_valid("", 0), 0);
    ck_assert_int_eq(wire_camera_is_valid("cam 1", 5), 0);
    ck_assert_int_eq(wire_camera_is_valid("cam/1", 5), 0);
    ck_assert_int_eq(wire_camera_is_valid("камера", strlen("камера")), 0);
    char name[WIRE_MAX_CAMERA + 2];
    memset(name, 'x', sizeof name);
    ck_assert_int_eq(wire_camera_is_valid(name, WIRE_MAX_CAMERA), 1);
    ck_assert_int_eq(wire_camera_is_valid(name, WIRE_MAX_CAMERA + 1), 0);

    wire_msg_t m = sample();
    unsigned char *buf;
    size_t len;
    char err[256];
    strcpy(m.camera, "bad name");
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), -1);
    ck_assert(strstr(err, "camera") != NULL);
}
END_TEST

static int decode_text(const char *text, char *err, size_t errlen)
{
    wire_msg_t d;
    return wire_decode((const unsigned char *)text, strlen(text), &d, err, errlen);
}

START_TEST(rejects_bad_payloads)
{
    char err[256];
    ck_assert_int_eq(decode_text("", err, sizeof err), -1);
    ck_assert_int_eq(decode_text("IMGCAP2\n{}\n", err, sizeof err), -1);
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":1", err, sizeof err), -1);
    ck_assert_int_eq(decode_text("IMGCAP1\n[1,2]\n", err, sizeof err), -1);
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"x\",\"received_at\":\"t\","
                                 "\"description\":\"d\",\"content_length\":0}\n",
                                 err, sizeof err),
                     -1);
    ck_assert(strstr(err, "UUID") != NULL);
    /* content_length mismatch */
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"d\","
                                 "\"content_length\":5}\nabc",
                                 err, sizeof err),
                     -1);
    ck_assert(strstr(err, "content_length") != NULL);
    /* missing description */
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"content_length\":0}\n",
                                 err, sizeof err),
                     -1);
    ck_assert(strstr(err, "description") != NULL);
    /* embedded NUL in description */
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"a\\u0000b\","
                                 "\"content_length\":0}\n",
                                 err, sizeof err),
                     -1);
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"ok\","
                                 "\"content_length\":0}\n",
                                 err, sizeof err),
                     0);
    /* a thumbnail longer than what follows, or a camera that is no name */
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"ok\","
                                 "\"content_length\":1,\"thumbnail_length\":5}\nabc",
                                 err, sizeof err),
                     -1);
    ck_assert(strstr(err, "thumbnail_length") != NULL);
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"ok\","
                                 "\"content_length\":1,\"thumbnail_length\":2}\nabc",
                                 err, sizeof err),
                     0);
    ck_assert_int_eq(decode_text("IMGCAP1\n{\"id\":\"0192f0c8-1234-7abc-8def-0123456789ab\","
                                 "\"received_at\":\"t\",\"description\":\"ok\","
                                 "\"camera\":\"a b\",\"content_length\":0}\n",
                                 err, sizeof err),
                     -1);
    ck_assert(strstr(err, "camera") != NULL);
}
END_TEST

START_TEST(encode_rejects_invalid_utf8)
{
    wire_msg_t m = sample();
    strcpy(m.description, "bad \xC0\x80");
    unsigned char *buf = NULL;
    size_t len;
    char err[256];
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), -1);
    ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(head_then_jpeg_is_the_encoding)
{
    wire_msg_t m = sample();
    unsigned char *buf, *head;
    size_t len, hlen;
    char err[256];
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof err), 0);
    ck_assert_int_eq(wire_encode_head(&m, &head, &hlen, err, sizeof err), 0);
    ck_assert_uint_eq(hlen + m.jpeg_len, len);
    ck_assert(memcmp(buf, head, hlen) == 0);
    ck_assert(memcmp(buf + hlen, m.jpeg, m.jpeg_len) == 0);
    ck_assert_uint_eq(head[hlen - 1], '\n');
    free(head);
    free(buf);
    /* The same refusals as wire_encode. */
    m.id[0] = 'x';
    ck_assert_int_eq(wire_encode_head(&m, &head, &hlen, err, sizeof err), -1);
    ck_assert_str_eq(err, "invalid id");
}
END_TEST

Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, head_then_jpeg_is_the_encoding);
    tcase_add_test(tc, rejects_bad_payloads);
    tcase_add_test(tc, camera_and_thumbnail_round_trip);
    tcase_add_test(tc, camera_names);
    tcase_add_test(tc, encode_rejects_invalid_utf8);
    suite_add_tcase(s, tc);
    return s;
}
