/* Unit tests of services/render/exif.c on APP1 payloads that are not what
 * they claim, in both byte orders: every refusal reads as "no orientation"
 * (0), never as a wrong one, and a rewrite outside the payload is ignored. */
#include <check.h>
#include <string.h>

#include "render/exif.h"

/* "Exif\0\0" + a TIFF header in order be + IFD0 at 8 with one entry. */
static size_t build(unsigned char *p, int be, unsigned tag, unsigned type, unsigned long count,
                    unsigned value)
{
    memcpy(p, "Exif\0\0", 6);
    unsigned char *t = p + 6;
    memset(t, 0, 8 + 2 + 12 + 4);
#define W16(at, v)                                    \
    do {                                              \
        (at)[be ? 0 : 1] = (unsigned char)((v) >> 8); \
        (at)[be ? 1 : 0] = (unsigned char)(v);        \
    } while (0)
    t[0] = t[1] = be ? 'M' : 'I';
    W16(t + 2, 42u);
    W16(t + 6, 0u);
    W16(t + 4, 0u);
    t[be ? 7 : 4] = 8; /* IFD0 at offset 8 */
    W16(t + 8, 1u);    /* one entry */
    W16(t + 10, tag);
    W16(t + 12, type);
    W16(t + 14, 0u);
    W16(t + 16, 0u);
    t[be ? 17 : 14] = (unsigned char)count;
    W16(t + 18, value);
#undef W16
    return 6 + 8 + 2 + 12 + 4;
}

START_TEST(both_orders_read_and_rewritten)
{
    for (int be = 0; be < 2; be++) {
        unsigned char p[64];
        size_t n = build(p, be, 0x0112, 3, 1, 6);
        size_t off = 0;
        ck_assert_int_eq(render_exif_orientation(p, n, &off), 6);
        render_exif_set_orientation(p, n, off, 1);
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 1);
        /* A rewrite that would end past the payload changes nothing. */
        render_exif_set_orientation(p, n, n - 1, 8);
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 1);
    }
}
END_TEST

START_TEST(refusals_read_as_no_orientation)
{
    for (int be = 0; be < 2; be++) {
        unsigned char p[64];
        size_t n = build(p, be, 0x0112, 4, 1, 6); /* LONG, not SHORT */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0112, 3, 2, 6); /* two values */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0112, 3, 1, 0); /* 0 and 9 are no orientation */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0112, 3, 1, 9);
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0110, 3, 1, 6); /* another tag only */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0112, 3, 1, 6);
        p[6 + 2] ^= 0xff; /* not 42 */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
        n = build(p, be, 0x0112, 3, 1, 6);
        p[6 + (be ? 7 : 4)] = 60; /* IFD0 past the end */
        ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
    }
    unsigned char p[64];
    size_t n = build(p, 1, 0x0112, 3, 1, 6);
    p[6] = 'X'; /* neither MM nor II */
    ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
    p[6] = 'M';
    p[7] = 'I';
    ck_assert_int_eq(render_exif_orientation(p, n, NULL), 0);
    render_exif_set_orientation(p, n, 20, 3); /* no byte order: ignored */
    ck_assert_int_eq(p[20], 0);
    ck_assert_int_eq(render_exif_orientation((const unsigned char *)"Exif\0\0MM", 8, NULL), 0);
    ck_assert_int_eq(render_exif_orientation((const unsigned char *)"JFIF\0\0", 6, NULL), 0);
}
END_TEST

Suite *render_exif_edges_suite(void)
{
    Suite *s = suite_create("render_exif_edges");
    TCase *tc = tcase_create("render_exif_edges");
    tcase_add_test(tc, both_orders_read_and_rewritten);
    tcase_add_test(tc, refusals_read_as_no_orientation);
    suite_add_tcase(s, tc);
    return s;
}
