/* Unit tests of render_splice_parse() (services/render/splice.c) on files
 * built byte by byte: where it finds the SOF, the SOS, the scan's data and its
 * end, and which layouts it refuses, with the reason it gives. Then the scan
 * header checks of render_splice_check_scan() (splice_verify.c) on a camera
 * picture's header altered after jpeg_read_header(). A refusal is not a
 * verdict on the file (the caller takes the coefficient route), so each case
 * checks the reason, which names what the splice cannot copy. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/splice.h"
#include "unit_util.h"

#define SOI 0xFF, 0xD8
#define EOI 0xFF, 0xD9
/* A baseline frame of 16 x 16 pixels, one component: 13 bytes. */
#define SOF0 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00
/* A scan of that component: 10 bytes. */
#define SOS1 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00
/* Scan data with a stuffed 0xFF and one RST marker: 8 bytes. */
#define DATA 0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78

typedef struct {
    int rc;
    render_splice_src_t sp;
    char why[128];
} parsed_t;

static parsed_t parse(const unsigned char *in, size_t len)
{
    parsed_t r;
    r.why[0] = '\0';
    r.rc = render_splice_parse(in, len, &r.sp, r.why, sizeof r.why);
    return r;
}

#define PARSE(...)                                        \
    ({                                                    \
        static const unsigned char in_[] = {__VA_ARGS__}; \
        parse(in_, sizeof in_);                           \
    })

static void refused(parsed_t r, const char *why)
{
    ck_assert_int_eq(r.rc, -1);
    ck_assert_str_eq(r.why, why);
}

START_TEST(layout_found)
{
    parsed_t r = PARSE(SOI, SOF0, SOS1, DATA, EOI);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.sp.sof, 2);
    ck_assert_uint_eq(r.sp.sos, 15);
    ck_assert_uint_eq(r.sp.data, 25);
    ck_assert_uint_eq(r.sp.scan_end, 33);
    ck_assert_uint_eq(r.sp.restarts, 1);

    /* fill bytes before a marker are skipped; DHT, JPG, DAC and APP0
     * segments before the frame are kept and passed over */
    r = PARSE(SOI, 0xFF, 0xFF, 0xFF, 0xC4, 0x00, 0x03, 0x00, 0xFF, 0xC8, 0x00, 0x02, 0xFF, 0xCC,
              0x00, 0x02, 0xFF, 0xE0, 0x00, 0x04, 'h', 'i', SOF0, SOS1, DATA, EOI);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.sp.sof, 2 + 2 + 5 + 4 + 4 + 6);
    ck_assert_uint_eq(r.sp.sos, r.sp.sof + 13);
    ck_assert_uint_eq(r.sp.data, r.sp.sos + 10);
    ck_assert_uint_eq(r.sp.scan_end, r.sp.data + 8);

    /* SOF1 (extended sequential Huffman) is spliced as SOF0 */
    r = PARSE(SOI, 0xFF, 0xC1, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
              SOS1, 0x00, EOI);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.sp.restarts, 0);
    ck_assert_uint_eq(r.sp.scan_end, 26);
}
END_TEST

START_TEST(no_soi_or_no_segment)
{
    refused(PARSE(0xFF, 0xD8, 0xFF), "no SOI");
    refused(PARSE(0x00, 0xD8, 0xFF, 0xE0, 0x00, 0x02), "no SOI");
    refused(PARSE(0xFF, 0xD9, 0xFF, 0xE0, 0x00, 0x02), "no SOI");
    /* a marker whose length field is cut off */
    refused(PARSE(SOI, 0xFF, 0xE0, 0x00), "no marker segment at byte 2");
    /* stray bytes between segments */
    refused(PARSE(SOI, 0x00, 0xE0, 0x00, 0x02, SOF0), "no marker segment at byte 2");
    refused(PARSE(SOI, 0xFF, 0xE0, 0x00, 0x02, 0x55, 0xFF, 0xE1, 0x00, 0x02),
            "no marker segment at byte 6");
}
END_TEST

START_TEST(markers_before_the_scan)
{
    /* markers without a segment (TEM, RSTn, SOI, EOI) and reserved 0xFF00 */
    refused(PARSE(SOI, 0xFF, 0x00, 0x00, 0x04, 0x00, 0x00),
            "marker 0x00 at byte 2 before the scan");
    refused(PARSE(SOI, 0xFF, 0x01, 0x00, 0x04, 0x00, 0x00),
            "marker 0x01 at byte 2 before the scan");
    refused(PARSE(SOI, SOI, 0x00, 0x04, 0x00, 0x00), "marker 0xd8 at byte 2 before the scan");
    refused(PARSE(SOI, EOI, 0x00, 0x04, 0x00, 0x00), "marker 0xd9 at byte 2 before the scan");
    refused(PARSE(SOI, 0xFF, 0xD0, 0x00, 0x04, 0x00, 0x00),
            "marker 0xd0 at byte 2 before the scan");
    refused(PARSE(SOI, 0xFF, 0xD7, 0x00, 0x04, 0x00, 0x00),
            "marker 0xd7 at byte 2 before the scan");
    /* a length under 2 (it counts itself) or past the end of the file */
    refused(PARSE(SOI, 0xFF, 0xE0, 0x00, 0x01, 0x00, 0x00),
            "marker 0xe0 at byte 2 before the scan");
    refused(PARSE(SOI, 0xFF, 0xE0, 0x00, 0x05, 0x00, 0x00),
            "marker 0xe0 at byte 2 before the scan");
    /* the file ends right after a segment: no scan */
    refused(PARSE(SOI, 0xFF, 0xE0, 0x00, 0x02), "no marker segment at byte 6");
}
END_TEST

START_TEST(frames_refused)
{
    /* a second frame */
    refused(PARSE(SOI, SOF0, SOF0, SOS1, DATA, EOI), "unexpected SOF at byte 15");
    /* a frame header shorter than its fixed part */
    refused(PARSE(SOI, 0xFF, 0xC0, 0x00, 0x07, 0x08, 0x00, 0x10, 0x00, 0x10, SOS1, DATA, EOI),
            "unexpected SOF at byte 2");
    /* a length that does not match the component count (2 declared, 1 sent) */
    refused(PARSE(SOI, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x02, 0x01, 0x11, 0x00,
                  SOS1, DATA, EOI),
            "unexpected SOF at byte 2");
    /* every other frame type: progressive, lossless, hierarchical, arithmetic */
    static const unsigned char sofs[] = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9,
                                         0xCA, 0xCB, 0xCD, 0xCE, 0xCF};
    for (size_t i = 0; i < sizeof sofs; i++) {
        unsigned char in[] = {SOI, SOF0, SOS1, DATA, EOI};
        in[3] = sofs[i];
        char want[64];
        snprintf(want, sizeof want, "SOF%u: not sequential Huffman", sofs[i] - 0xC0u);
        refused(parse(in, sizeof in), want);
    }
}
END_TEST

START_TEST(scans_refused)
{
    const char *why = "the first scan does not hold every component";
    /* a scan before any frame */
    refused(PARSE(SOI, SOS1, DATA, EOI), why);
    /* a scan header too short to hold its component count */
    refused(PARSE(SOI, SOF0, 0xFF, 0xDA, 0x00, 0x02, DATA, EOI), why);
    /* a scan of fewer components than the frame (1 of 3) */
    refused(PARSE(SOI, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x22, 0x00,
                  0x02, 0x11, 0x01, 0x03, 0x11, 0x01, SOS1, DATA, EOI),
            why);
    /* a second scan after the first one's data */
    refused(PARSE(SOI, SOF0, SOS1, DATA, SOS1, DATA, EOI), "marker 0xda after the scan's data");
    /* the scan's data runs to the end of the file */
    refused(PARSE(SOI, SOF0, SOS1, DATA), "no EOI after the scan");
}
END_TEST

/* What check_scan() refuses in the scan's header before it reads any data:
 * the component count, table numbers, tables never defined, sampling
 * factors. A cache keeps working after a refusal. */
START_TEST(scan_header_refused)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    render_splice_src_t sp;
    char why[128];
    ck_assert_int_eq(render_splice_parse(in.p, in.n, &sp, why, sizeof why), 0);
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, &in);
    ck_assert_int_eq(d.comps_in_scan, 3);
    render_splice_cache_t *cache = render_splice_cache_new();
    ck_assert_ptr_nonnull(cache);
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), 0);

    d.comps_in_scan = 0;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
    ck_assert_str_eq(why, "0 components in the scan");
    d.comps_in_scan = MAX_COMPS_IN_SCAN + 1;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, NULL, why, sizeof why), -1);
    ck_assert_str_eq(why, "5 components in the scan");
    d.comps_in_scan = 3;

    jpeg_component_info *cb = d.cur_comp_info[1];
    int dc = cb->dc_tbl_no, ac = cb->ac_tbl_no;
    const int bad_numbers[] = {-1, NUM_HUFF_TBLS};
    for (int i = 0; i < 2; i++) {
        cb->dc_tbl_no = bad_numbers[i];
        ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
        ck_assert_str_eq(why, "Huffman table number out of range");
        cb->dc_tbl_no = dc;
        cb->ac_tbl_no = bad_numbers[i];
        ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
        ck_assert_str_eq(why, "Huffman table number out of range");
        cb->ac_tbl_no = ac;
    }

    /* a table number whose DHT never came */
    JHUFF_TBL *t = d.dc_huff_tbl_ptrs[dc];
    d.dc_huff_tbl_ptrs[dc] = NULL;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
    ck_assert_str_eq(why, dc == 0 ? "no DHT for DC table 0" : "no DHT for DC table 1");
    d.dc_huff_tbl_ptrs[dc] = t;
    t = d.ac_huff_tbl_ptrs[ac];
    d.ac_huff_tbl_ptrs[ac] = NULL;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
    ck_assert_str_eq(why, ac == 0 ? "no DHT for AC table 0" : "no DHT for AC table 1");
    d.ac_huff_tbl_ptrs[ac] = t;

    /* blocks per MCU of one component: 1 to 16 */
    jpeg_component_info *y = d.cur_comp_info[0];
    int h = y->h_samp_factor, v = y->v_samp_factor;
    y->h_samp_factor = 0;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
    ck_assert_str_eq(why, "sampling factors out of range");
    y->h_samp_factor = 5;
    y->v_samp_factor = 4;
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), -1);
    ck_assert_str_eq(why, "sampling factors out of range");
    y->h_samp_factor = h;
    y->v_samp_factor = v;

    /* the same cache proves the intact header again */
    ck_assert_int_eq(render_splice_check_scan(in.p, &sp, &d, cache, why, sizeof why), 0);
    render_splice_cache_free(cache);
    jpeg_destroy_decompress(&d);
    free(in.p);
}
END_TEST

Suite *render_splice_parse_suite(void)
{
    Suite *s = suite_create("render_splice_parse");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, layout_found);
    tcase_add_test(tc, no_soi_or_no_segment);
    tcase_add_test(tc, markers_before_the_scan);
    tcase_add_test(tc, frames_refused);
    tcase_add_test(tc, scans_refused);
    suite_add_tcase(s, tc);
    TCase *sc = tcase_create("scan header");
    tcase_add_test(sc, scan_header_refused);
    suite_add_tcase(s, sc);
    return s;
}
