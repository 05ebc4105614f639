/* The band's blocks (services/render/band.c): the DCT against libjpeg's own
 * JDCT_FLOAT encoder, the geometry of every sampling the lossless route
 * takes, neutral chroma, and the pixels a decoder gets back. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/band.h"
#include "render/font.h"
#include "render/layout.h"
#include "unit_util.h"

/* A w x h JPEG of px (nc = 1 gray, 3 YCbCr samples given as RGB), with the
 * sampling factors hv[ci] = {h, v} (Cr's always 1x1), quality 90, the float DCT. */
static buf_t make_jpeg(const unsigned char *px, int w, int h, int nc, int hv[][2])
{
    fx_jpeg_spec_t s = {.quality = 90, .float_dct = 1, .h0 = hv[0][0], .v0 = hv[0][1]};
    if (nc == 3) {
        ck_assert(hv[2][0] == 1 && hv[2][1] == 1);
        s.h1 = hv[1][0];
        s.v1 = hv[1][1];
    }
    return fx_jpeg_encode(px, (size_t)w * (size_t)nc, w, h, nc, &s);
}

/* Gray 64x64 with what a band holds (hard edges, flat areas) and what it
 * does not (noise, gradients), so that every coefficient gets exercised. */
static void test_picture(unsigned char *px)
{
    unsigned seed = 12345;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            seed = seed * 1103515245u + 12345u;
            unsigned char v;
            if (y < 16)
                v = (unsigned char)(x * 4);
            else if (y < 32)
                v = ((x / 3 + y / 2) & 1) ? 255 : 0;
            else if (y < 48)
                v = (unsigned char)(seed >> 16);
            else
                v = x < 20 ? 0 : x < 40 ? 255 : (unsigned char)(128 + (x - 40) * (y - 48) / 3);
            px[y * 64 + x] = v;
        }
}

START_TEST(fdct_like_libjpeg_float)
{
    unsigned char px[64 * 64];
    test_picture(px);
    int hv[1][2] = {{1, 1}};
    buf_t jpg = make_jpeg(px, 64, 64, 1, hv);

    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, &jpg);
    jvirt_barray_ptr *coef = jpeg_read_coefficients(&d);
    float div[DCTSIZE2];
    render_band_divisors(d.comp_info[0].quant_table->quantval, div);
    long same = 0, total = 0, nonzero = 0;
    for (int by = 0; by < 8; by++) {
        JBLOCKARRAY row = d.mem->access_virt_barray((j_common_ptr)&d, coef[0], (JDIMENSION)by, 1,
                                                    FALSE);
        for (int bx = 0; bx < 8; bx++) {
            JCOEF mine[DCTSIZE2];
            render_band_fdct(px + by * 8 * 64 + bx * 8, 64, div, mine);
            for (int k = 0; k < DCTSIZE2; k++) {
                int diff = mine[k] - row[0][bx][k];
                ck_assert_msg(diff >= -1 && diff <= 1, "block %d,%d coefficient %d: %d vs %d", bx,
                              by, k, mine[k], row[0][bx][k]);
                same += diff == 0;
                nonzero += mine[k] != 0;
                total++;
            }
        }
    }
    /* libjpeg-turbo's SIMD float DCT may round a tie the other way, rarely */
    ck_assert_msg(same * 1000 >= total * 995, "%ld of %ld coefficients equal", same, total);
    ck_assert_int_gt(nonzero, total / 4);
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(jpg.p);
}
END_TEST

/* Decodes a JPEG of src's frame with the band's blocks below nothing (the
 * band alone) to YCbCr samples, w x band height x 3. */
static unsigned char *decode_band(j_decompress_ptr src, const render_band_t *b)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    fx_jpeg_strict(&e);
    c.err = &e;
    unsigned char *out_jpg = NULL;
    unsigned long len = 0;
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out_jpg, &len);
    jpeg_copy_critical_parameters(src, &c);
    c.image_height = (JDIMENSION)b->height;
    jvirt_barray_ptr arr[MAX_COMPONENTS];
    for (int ci = 0; ci < b->ncomp; ci++)
        arr[ci] = c.mem->request_virt_barray((j_common_ptr)&c, JPOOL_IMAGE, TRUE,
                                             (JDIMENSION)b->stride[ci], (JDIMENSION)b->rows[ci],
                                             (JDIMENSION)c.comp_info[ci].v_samp_factor);
    c.mem->realize_virt_arrays((j_common_ptr)&c);
    for (int ci = 0; ci < b->ncomp; ci++)
        for (int r = 0; r < b->rows[ci]; r++) {
            JBLOCKARRAY row = c.mem->access_virt_barray((j_common_ptr)&c, arr[ci], (JDIMENSION)r, 1,
                                                        TRUE);
            memcpy(row[0], render_band_row(b, ci, r), (size_t)b->stride[ci] * sizeof(JBLOCK));
        }
    jpeg_write_coefficients(&c, arr);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);

    struct jpeg_decompress_struct d;
    buf_t jpg = {out_jpg, len};
    fx_jpeg_read_header(&d, &e, &jpg);
    d.out_color_space = d.num_components == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
    d.do_fancy_upsampling = FALSE;
    jpeg_start_decompress(&d);
    size_t stride = (size_t)d.output_width * (size_t)d.output_components;
    unsigned char *out = malloc(stride * d.output_height);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = out + (size_t)d.output_scanline * stride;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(jpg.p);
    return out;
}

/* Every sampling: the geometry of the blocks, DC-only blocks where there is
 * no ink, neutral chroma, and decoded luma close to the drawn band. */
static const int samplings[][3][2] = {
    {{1, 1}, {1, 1}, {1, 1}}, {{2, 2}, {1, 1}, {1, 1}}, {{2, 1}, {1, 1}, {1, 1}},
    {{1, 2}, {1, 1}, {1, 1}}, {{1, 1}, {0, 0}, {0, 0}}, /* gray */
    {{1, 1}, {2, 2}, {1, 1}},                           /* luma less fine than Cb */
};

START_TEST(every_sampling)
{
    const int w = 67; /* no whole MCU: padding columns */
    int hv[3][2];
    memcpy(hv, samplings[_i], sizeof hv);
    int nc = hv[1][0] ? 3 : 1;
    unsigned char src_px[67 * 16 * 3];
    memset(src_px, 90, sizeof src_px);
    buf_t jpg = make_jpeg(src_px, w, 16, nc, hv);

    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, &jpg);
    ck_assert_int_eq(render_band_supported(&d), 1);

    render_font_t *f = fx_font_open(12);
    layout_font_t lf = render_font_layout(f);
    layout_t lo = {0};
    char err[256];
    const char *text = "Ёжик 17 WAVE";
    ck_assert_int_eq(layout_compute(&lo, &lf, text, strlen(text), w, 2, err, sizeof err), 0);
    int bh = lo.band_height;
    render_band_t b = {0};
    ck_assert_msg(render_band_compute(&b, &d, bh, &lo, f, err, sizeof err) == 0, "%s", err);

    int max_h = d.max_h_samp_factor, max_v = d.max_v_samp_factor;
    ck_assert_int_eq(b.height, bh);
    ck_assert_int_eq(b.ncomp, nc);
    for (int ci = 0; ci < nc; ci++) {
        int hs = d.comp_info[ci].h_samp_factor, vs = d.comp_info[ci].v_samp_factor;
        int wib = (w * hs + 8 * max_h - 1) / (8 * max_h);
        ck_assert_int_eq(b.stride[ci], (wib + hs - 1) / hs * hs);
        ck_assert_int_eq(b.height_in_blocks[ci], (bh * vs + 8 * max_v - 1) / (8 * max_v));
        ck_assert_int_eq(b.rows[ci] % vs, 0);
        ck_assert_int_ge(b.rows[ci], b.height_in_blocks[ci]);
        if (ci > 0) /* neutral chroma: nothing but zeros */
            for (size_t k = 0; k < (size_t)b.stride[ci] * (size_t)b.rows[ci]; k++)
                for (int j = 0; j < DCTSIZE2; j++) ck_assert_int_eq(b.blocks[ci][k][j], 0);
    }
    /* some luma blocks are flat black (DC only, the value of black), some not */
    int flat = 0, inked = 0;
    for (size_t k = 0; k < (size_t)b.stride[0] * (size_t)b.rows[0]; k++) {
        int ac = 0;
        for (int j = 1; j < DCTSIZE2; j++) ac |= b.blocks[0][k][j];
        flat += !ac;
        inked += ac != 0;
    }
    ck_assert_int_gt(flat, 0);
    ck_assert_int_gt(inked, 0);

    unsigned char *out = decode_band(&d, &b);
    int pw = b.stride[0] * 8 * (max_h / d.comp_info[0].h_samp_factor);
    long err_sum = 0, bright = 0;
    int err_max = 0;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < w; x++) {
            const unsigned char *o = out + ((size_t)y * (size_t)w + (size_t)x) * (size_t)nc;
            int want = b.plane[(size_t)y * (size_t)pw + (size_t)x];
            int diff = abs(o[0] - want);
            err_sum += diff;
            if (diff > err_max) err_max = diff;
            bright += o[0] > 200;
            if (nc == 3) {
                ck_assert_int_eq(o[1], 128);
                ck_assert_int_eq(o[2], 128);
            }
        }
    /* a luma sampled less finely than the frame loses detail by design */
    int coarse = d.comp_info[0].h_samp_factor < max_h;
    ck_assert_int_gt(bright, coarse ? 0 : 20); /* the text is there */
    /* quantization noise at q90 around hard glyph edges */
    ck_assert_msg(err_sum < (long)w * bh * (coarse ? 40 : 3), "mean error %.2f",
                  (double)err_sum / (w * bh));
    if (!coarse) ck_assert_int_le(err_max, 32); /* 14 measured */
    free(out);
    render_band_free(&b);
    ck_assert_ptr_null(b.plane);
    layout_free(&lo);
    render_font_close(f);
    jpeg_destroy_decompress(&d);
    free(jpg.p);
}
END_TEST

/* Grayscale or YCbCr only; a zero quantizer cannot quantize a band. */
START_TEST(unsupported_sources)
{
    unsigned char px[16 * 16 * 3];
    memset(px, 50, sizeof px);
    int hv[3][2] = {{2, 2}, {1, 1}, {1, 1}};
    buf_t jpg = make_jpeg(px, 16, 16, 3, hv);
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, &jpg);
    ck_assert_int_eq(render_band_supported(&d), 1);
    d.jpeg_color_space = JCS_RGB;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.jpeg_color_space = JCS_YCbCr;
    d.quant_tbl_ptrs[d.comp_info[1].quant_tbl_no]->quantval[5] = 0;
    ck_assert_int_eq(render_band_supported(&d), 0);
    layout_t lo = {0};
    render_band_t b = {0};
    char err[128];
    ck_assert_int_eq(render_band_compute(&b, &d, 8, &lo, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no band"));
    jpeg_destroy_decompress(&d);
    free(jpg.p);
}
END_TEST

/* Each condition of render_band_supported() on its own, from a header it
 * accepts: the colour space must match the component count, 8-bit samples,
 * a quantization table that exists for every component, and luma sampled an
 * integral number of times more finely than every component. */
START_TEST(unsupported_headers)
{
    unsigned char px[16 * 16 * 3];
    memset(px, 80, sizeof px);
    int hv[3][2] = {{2, 2}, {1, 1}, {1, 1}};
    buf_t jpg = make_jpeg(px, 16, 16, 3, hv);
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, &jpg);
    ck_assert_int_eq(render_band_supported(&d), 1);

    d.num_components = 1; /* YCbCr of one component */
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.num_components = 3;
    d.jpeg_color_space = JCS_GRAYSCALE; /* grayscale of three */
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.jpeg_color_space = JCS_YCbCr;
    d.data_precision = 12;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.data_precision = 8;

    int t = d.comp_info[2].quant_tbl_no;
    d.comp_info[2].quant_tbl_no = NUM_QUANT_TBLS;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.comp_info[2].quant_tbl_no = -1;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.comp_info[2].quant_tbl_no = t;
    JQUANT_TBL *q = d.quant_tbl_ptrs[t];
    d.quant_tbl_ptrs[t] = NULL; /* a component whose DQT never came */
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.quant_tbl_ptrs[t] = q;

    /* luma 2x2: a maximum of 3 is not a multiple of it, across or down */
    d.max_h_samp_factor = 3;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.max_h_samp_factor = 2;
    d.max_v_samp_factor = 3;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.max_v_samp_factor = 2;
    ck_assert_int_eq(render_band_supported(&d), 1);
    jpeg_destroy_decompress(&d);
    free(jpg.p);

    /* a grayscale source is supported */
    int g[1][2] = {{1, 1}};
    jpg = make_jpeg(px, 16, 16, 1, g);
    fx_jpeg_read_header(&d, &e, &jpg);
    ck_assert_int_eq(d.jpeg_color_space, JCS_GRAYSCALE);
    ck_assert_int_eq(render_band_supported(&d), 1);
    d.num_components = 3;
    ck_assert_int_eq(render_band_supported(&d), 0);
    d.num_components = 1;
    jpeg_destroy_decompress(&d);
    free(jpg.p);
}
END_TEST

Suite *render_band_suite(void)
{
    Suite *s = suite_create("render_band");
    TCase *tc = tcase_create("band");
    tcase_add_test(tc, fdct_like_libjpeg_float);
    tcase_add_loop_test(tc, every_sampling, 0, (int)(sizeof samplings / sizeof samplings[0]));
    tcase_add_test(tc, unsupported_sources);
    tcase_add_test(tc, unsupported_headers);
    suite_add_tcase(s, tc);
    return s;
}
