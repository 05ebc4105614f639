/* Unit tests of services/render/exif.c: the EXIF orientation read and reset,
 * and regression cases found by tests/fuzz/fuzz_exif.
 *
 * Each fuzz input sits at the very end of a readable page followed by a PROT_NONE
 * page, so a read one byte past the APP1 payload faults in every build (a plain
 * -O2 build, ASan, valgrind), not only under a sanitizer. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "render/exif.h"
#include "unit_util.h"

START_TEST(exif_parse)
{
    unsigned char m[64];
    size_t off;
    for (int o = 1; o <= 8; o++) {
        size_t n = fx_exif_app1(m, o & 1, o);
        ck_assert_int_eq(render_exif_orientation(m, n, &off), o);
        render_exif_set_orientation(m, n, off, 1);
        ck_assert_int_eq(render_exif_orientation(m, n, NULL), 1);
    }
    size_t n = fx_exif_app1(m, 0, 6);
    ck_assert_int_eq(render_exif_orientation(m, 20, NULL), 0); /* truncated */
    m[6] = 'X';
    ck_assert_int_eq(render_exif_orientation(m, n, NULL), 0);
    n = fx_exif_app1(m, 1, 9);
    ck_assert_int_eq(render_exif_orientation(m, n, NULL), 0);
    /* an IFD that claims an entry but ends inside the TIFF header's 10 bytes:
     * an exact-size heap copy, so a sanitizer sees any read past it */
    ck_assert_uint_ge(fx_exif_app1(m, 0, 6), 16);
    unsigned char *shortm = malloc(16);
    memcpy(shortm, m, 16);
    ck_assert_int_eq(render_exif_orientation(shortm, 16, NULL), 0);
    free(shortm);
    ck_assert_int_eq(render_exif_orientation((const unsigned char *)"http://ns.adobe", 15, NULL),
                     0);
}
END_TEST

/* render_exif_orientation() on a copy of data that ends exactly at a guard
 * page (PROT_NONE). */
static int guarded_orientation(const void *data, size_t len, size_t *off)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                            0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    ck_assert_int_eq(mprotect(m + page, page, PROT_NONE), 0);
    unsigned char *p = m + page - len;
    memcpy(p, data, len);
    int o = render_exif_orientation(p, len, off);
    munmap(m, 2 * page);
    return o;
}

/* fuzz_exif crash-453e18ca: "Exif\0\0" + a 10-byte TIFF header whose IFD0 at
 * offset 8 claims one entry. With tlen = 10, `e > tlen - 12` wrapped around
 * (size_t) and the 12-byte entry was read past the end of the marker. */
START_TEST(short_tiff_with_ifd_entry_count)
{
    static const unsigned char in[] = {'E',  'x', 'i',  'f', 0, 0, 'I',  'I',
                                       0x2a, 0,   0x08, 0,   0, 0, 0x01, 0};
    size_t off = 12345;
    ck_assert_int_eq(guarded_orientation(in, sizeof in, &off), 0);
    ck_assert_uint_eq(off, 12345);
}
END_TEST

/* The same entry cut at every TIFF length short of complete, both byte
 * orders: the reader must refuse each without touching the guard page. */
START_TEST(every_truncated_entry_is_refused)
{
    for (int be = 0; be < 2; be++) {
        for (size_t tlen = 8; tlen < 8 + 2 + 12; tlen++) {
            unsigned char in[6 + 8 + 2 + 12] = {'E', 'x', 'i', 'f', 0, 0};
            unsigned char *t = in + 6;
            t[0] = t[1] = be ? 'M' : 'I';
            t[be ? 3 : 2] = 42;
            t[be ? 7 : 4] = 8;      /* IFD0 at offset 8 */
            t[be ? 9 : 8] = 1;      /* one entry */
            t[be ? 10 : 11] = 0x01; /* tag 0x0112 ... */
            t[be ? 11 : 10] = 0x12;
            t[be ? 13 : 12] = 3; /* SHORT */
            t[be ? 17 : 14] = 1; /* count 1 */
            t[be ? 19 : 18] = 6; /* value 6 */
            int o = guarded_orientation(in, 6 + tlen, NULL);
            ck_assert_msg(o == 0, "be=%d tlen=%zu -> %d", be, tlen, o);
        }
    }
}
END_TEST

/* The complete entry right at the end of the buffer is still read. */
START_TEST(entry_ending_at_buffer_end_is_read)
{
    static const unsigned char in[] = {'E', 'x', 'i',  'f',  0, 0, 'M', 'M', 0, 0x2a, 0, 0, 0, 8,
                                       0,   1,   0x01, 0x12, 0, 3, 0,   0,   0, 1,    0, 6, 0, 0};
    size_t off = 0;
    ck_assert_int_eq(guarded_orientation(in, sizeof in, &off), 6);
    ck_assert_uint_eq(off, 24);
}
END_TEST

Suite *render_exif_suite(void)
{
    Suite *s = suite_create("render_exif");
    TCase *tc = tcase_create("orientation");
    tcase_add_test(tc, exif_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz");
    tcase_add_test(tc, short_tiff_with_ifd_entry_count);
    tcase_add_test(tc, every_truncated_entry_is_refused);
    tcase_add_test(tc, entry_ending_at_buffer_end_is_read);
    suite_add_tcase(s, tc);
    return s;
}
