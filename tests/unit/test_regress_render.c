/* Regression tests for services/render/render.c found by tests/fuzz/fuzz_render.
 * Each case must end in a verdict (0, or -1 with a reason), never a signal:
 * check's fork mode reports a crash as an error of the test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "render/render.h"

static unsigned char *read_data(const char *name, size_t *len)
{
    const char *root = getenv("IMGCAP_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static render_ctx_t *open_ctx_limit(band_mode_t mode, long long max_pixels)
{
    const char *root = getenv("IMGCAP_ROOT");
    char font[1024];
    snprintf(font, sizeof font, "%s/fonts/DejaVuSans.ttf", root ? root : ".");
    render_opts_t o = {.font_file = font,
                       .font_size = 12,
                       .text_padding = 4,
                       .band_mode = mode,
                       .jpeg_quality = 90,
                       .max_pixels = max_pixels};
    char err[256];
    render_ctx_t *c = render_ctx_new(&o, err, sizeof err);
    ck_assert_msg(c != NULL, "render_ctx_new: %s", err);
    return c;
}

static render_ctx_t *open_ctx(band_mode_t mode) { return open_ctx_limit(mode, 40000000); }

/* Sets entry k of every quantization table of a DQT segment to zero. */
static int zero_quant_entry(unsigned char *jpg, size_t len, int k)
{
    int tables = 0;
    for (size_t i = 2; i + 4 < len && jpg[i] == 0xFF && jpg[i + 1] != 0xDA;) {
        size_t seg = (size_t)jpg[i + 2] << 8 | jpg[i + 3];
        if (jpg[i + 1] == 0xDB)
            for (size_t p = i + 4; p + 65 <= i + 2 + seg; p += 65) {
                ck_assert_int_eq(jpg[p] >> 4, 0); /* 8-bit tables only */
                jpg[p + 1 + (size_t)k] = 0;
                tables++;
            }
        i += 2 + seg;
    }
    return tables;
}

static void assert_verdict(band_mode_t mode, const unsigned char *jpg, size_t len)
{
    render_ctx_t *c = open_ctx(mode);
    unsigned char *out = NULL;
    size_t out_len = 0;
    int w = 0, h = 0;
    char err[256] = "";
    const char *text = "zero quantizer";
    int rc = render_caption(c, jpg, len, text, strlen(text), &out, &out_len, &w, &h, err,
                            sizeof err);
    if (rc == 0) {
        tjhandle tj = tjInitDecompress();
        int ow, oh, sub, cs;
        ck_assert_int_eq(tjDecompressHeader3(tj, out, (unsigned long)out_len, &ow, &oh, &sub, &cs),
                         0);
        ck_assert_int_eq(ow, w);
        ck_assert_int_eq(oh, h);
        tjDestroy(tj);
        free(out);
    } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(out);
        ck_assert_msg(err[0] != '\0', "a refusal names its reason");
    }
    render_ctx_free(c);
}

/* fuzz_render crash-2b90ac98: a DQT entry of 0 (T.81 B.2.4.1 requires 1..255)
 * decodes, but the lossless path re-encodes the band with the source's tables
 * (jpeg_copy_critical_parameters) and libjpeg-turbo's compute_reciprocal()
 * divides by the zero: SIGFPE in jpeg_start_compress, killing the render
 * service on every redelivery. 674x480 4:2:0 takes the lossless path. */
START_TEST(zero_quantizer_lossless_path)
{
    size_t len;
    unsigned char *jpg = read_data("camera_674x480.jpg", &len);
    ck_assert_int_gt(zero_quant_entry(jpg, len, 63), 0);
    assert_verdict(BAND_EXTEND, jpg, len);
    free(jpg);
}
END_TEST

/* The same input on the re-encode path (overlay) and with the DC quantizer. */
START_TEST(zero_quantizer_reencode_path)
{
    size_t len;
    unsigned char *jpg = read_data("camera_674x480.jpg", &len);
    ck_assert_int_gt(zero_quant_entry(jpg, len, 0), 0);
    assert_verdict(BAND_OVERLAY, jpg, len);
    assert_verdict(BAND_EXTEND, jpg, len);
    free(jpg);
}
END_TEST

/* fuzz_render crash-7ac2c7d0: MAX_PIXELS was checked on the input only. A
 * very wide, short picture with a caption of many lines gets a band far larger
 * than itself: 65500x8 (524,000 pixels, a 6 KB upload) with 'a', 198 newlines
 * and 'b' became 65500x3001 = 196.6 megapixels, 977 MB of RSS in one lossless
 * job. The output must stay within MAX_PIXELS (or the job is refused). Here:
 * 8192x8 input, MAX_PIXELS 100000, the same caption. */
START_TEST(band_cannot_exceed_max_pixels)
{
    enum { W = 8192, H = 8 };
    static unsigned char gray[W * H];
    memset(gray, 128, sizeof gray);
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    ck_assert_int_eq(tjCompress2(tj, gray, W, 0, H, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY, 90, 0), 0);
    tjDestroy(tj);
    char text[201];
    memset(text, '\n', sizeof text);
    text[0] = 'a';
    text[199] = 'b';
    text[200] = '\0';
    for (int mode = BAND_EXTEND; mode <= BAND_OVERLAY; mode++) {
        render_ctx_t *c = open_ctx_limit((band_mode_t)mode, 100000);
        unsigned char *out = NULL;
        size_t out_len = 0;
        int w = 0, h = 0;
        char err[256] = "";
        int rc = render_caption(c, jpg, len, text, strlen(text), &out, &out_len, &w, &h, err,
                                sizeof err);
        if (rc == 0) {
            ck_assert_msg((long long)w * h <= 100000, "mode %d: %dx%d output over MAX_PIXELS", mode,
                          w, h);
            free(out);
        } else {
            ck_assert_msg(strstr(err, "MAX_PIXELS") != NULL, "reason: %s", err);
        }
        render_ctx_free(c);
    }
    tjFree(jpg);
}
END_TEST

Suite *regress_render_suite(void)
{
    Suite *s = suite_create("regress_render");
    TCase *tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, zero_quantizer_lossless_path);
    tcase_add_test(tc, zero_quantizer_reencode_path);
    tcase_add_test(tc, band_cannot_exceed_max_pixels);
    suite_add_tcase(s, tc);
    return s;
}
