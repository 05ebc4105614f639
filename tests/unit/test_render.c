/* render_caption() on JPEG variants generated here with libjpeg (progressive,
 * arithmetic, restart markers, 4:4:4/4:2:2/4:2:0, gray, CMYK, odd and narrow
 * sizes, EXIF orientations via jpegtran, ICC) and on broken inputs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/font.h"
#include "render/render.h"
#include "unit_util.h"

/* ---- helpers ---- */

/* Decodes without fancy upsampling, so that pixels depend only on the blocks
 * of their own MCU row. */
static fx_img_t decode_ok(const buf_t *b) { return fx_jpeg_decode(b, 0); }

/* Encodes the rows [y0, y0+h) and columns [x0, x0+w) of an RGB picture. */
static buf_t encode(const fx_img_t *src, int x0, int y0, int w, int h, const fx_jpeg_spec_t *s)
{
    const unsigned char *px = src->px + ((size_t)y0 * (size_t)src->w + (size_t)x0) * 3;
    return fx_jpeg_encode(px, (size_t)src->w * 3, w, h, 3, s);
}

static render_ctx_t *ctx_with(band_mode_t mode, long long max_pixels, int padding)
{
    render_opts_t o = fx_render_opts();
    o.band_mode = mode;
    o.max_pixels = max_pixels;
    o.text_padding = padding;
    return fx_render_ctx(&o);
}

typedef struct result {
    buf_t out;
    int w, h;
    const char *path;
} result_t;

static result_t render_ok(render_ctx_t *ctx, const buf_t *in, const char *text)
{
    result_t r = {0};
    char err[512];
    ck_assert_msg(render_caption(ctx, in->p, in->n, text, strlen(text), &r.out.p, &r.out.n, &r.w,
                                 &r.h, err, sizeof err) == 0,
                  "%s", err);
    r.path = render_last_path(ctx);
    return r;
}

static double luma(const fx_img_t *im, int x, int y)
{
    const unsigned char *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * (size_t)im->nc;
    return im->nc == 1 ? p[0] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* The band occupies rows [y0, y0 + band_h) of out: pixels farther than one
 * MCU (16 px) from any glyph box are black, and there is white where text is.
 * Band rows sharing an MCU row with the picture (re-encode path, band not on an
 * MCU boundary) carry the picture's ringing and are not checked for black. */
static void check_band(render_ctx_t *ctx, const fx_img_t *out, int y0, const char *text,
                       const buf_t *in)
{
    const layout_t *lo;
    char err[256];
    ck_assert_int_eq(
        render_layout_jpeg(ctx, in->p, in->n, text, strlen(text), &lo, err, sizeof err), 0);
    int bh = lo->band_height;
    ck_assert_int_ge(out->h, y0 + bh);
    unsigned char *near = calloc((size_t)out->w * (size_t)bh, 1);
    char fe[256];
    render_font_t *f = fx_font_open(12);
    long ink = 0;
    for (size_t l = 0; l < lo->nlines; l++) {
        int base = layout_baseline(lo, l);
        const layout_line_t *ln = &lo->lines[l];
        for (size_t pk = ln->first; pk < ln->first + ln->count; pk++) {
            const layout_placed_t *pl = &lo->placed[pk];
            const layout_glyph_t *lg = &lo->glyphs[pl->glyph];
            const render_glyph_t *g = render_font_glyph(f, lg->face, lg->index, fe, sizeof fe);
            ck_assert_ptr_nonnull(g);
            int gx = lo->padding + ln->x + (int)((pl->x + 32) >> 6) + g->bitmap_left;
            int gy = base - (int)((pl->y + 32) >> 6) - g->bitmap_top;
            for (int y = gy - 16; y < gy + g->rows + 16; y++)
                for (int x = gx - 16; x < gx + g->width + 16; x++)
                    if (y >= 0 && y < bh && x >= 0 && x < out->w)
                        near[(size_t)y * (size_t)out->w + (size_t)x] = 1;
            for (int k = 0; k < g->rows * g->width; k++) ink += g->bitmap[k] > 128;
        }
    }
    render_font_close(f);
    long white = 0, stray = 0;
    int shared = (16 - y0 % 16) % 16;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < out->w; x++) {
            double v = luma(out, x, y0 + y);
            if (near[(size_t)y * (size_t)out->w + (size_t)x])
                white += v > 128;
            else if (y >= shared)
                stray += v > 12;
        }
    free(near);
    ck_assert_msg(stray == 0, "%ld non-black band pixels away from the text", stray);
    ck_assert_msg(ink > 0 && white > ink / 2 && white < ink * 2,
                  "%ld white pixels where the font has %ld", white, ink);
}

/* Rows [0, h) of a and b are identical. */
static void check_exact_rows(const fx_img_t *a, const fx_img_t *b, int h)
{
    ck_assert_int_eq(a->w, b->w);
    ck_assert_int_eq(a->nc, b->nc);
    size_t n = (size_t)a->w * (size_t)h * (size_t)a->nc;
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += a->px[i] != b->px[i];
    ck_assert_msg(diff == 0, "%zu picture samples changed", diff);
}

/* Mean absolute difference over rows [0, h). */
static double mad(const fx_img_t *a, const fx_img_t *b, int h)
{
    ck_assert_int_eq(a->w, b->w);
    ck_assert_int_eq(a->nc, b->nc);
    size_t n = (size_t)a->w * (size_t)h * (size_t)a->nc;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a->px[i] - (int)b->px[i]);
    return s / (double)n;
}

/* Extend mode on a lossless-eligible input: same width, taller by the band,
 * picture rows bit-exact, band black with white text. */
static void check_lossless(render_ctx_t *ctx, const buf_t *in)
{
    fx_img_t src = decode_ok(in);
    result_t r = render_ok(ctx, in, fx_caption);
    ck_assert_str_eq(r.path, "lossless");
    fx_img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, src.w);
    ck_assert_int_eq(r.w, src.w);
    ck_assert_int_eq(r.h, out.h);
    ck_assert_int_gt(out.h, src.h);
    ck_assert_int_eq(out.jcs, src.jcs == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_YCbCr);
    ck_assert_int_eq(out.hs[0], src.hs[0]);
    ck_assert_int_eq(out.vs[0], src.vs[0]);
    check_exact_rows(&src, &out, src.h);
    check_band(ctx, &out, src.h, fx_caption, in);
    fx_img_free(&src);
    fx_img_free(&out);
    free(r.out.p);
}

/* Re-encode path: the picture is close to the source, the band follows it. */
static void check_reencode(render_ctx_t *ctx, const buf_t *in, band_mode_t mode)
{
    fx_img_t src = decode_ok(in);
    result_t r = render_ok(ctx, in, fx_caption);
    ck_assert_str_eq(r.path, "reencode");
    fx_img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, src.w);
    const layout_t *lo;
    char err[256];
    ck_assert_int_eq(
        render_layout_jpeg(ctx, in->p, in->n, fx_caption, strlen(fx_caption), &lo, err, sizeof err),
        0);
    int bh = lo->band_height;
    int pic = mode == BAND_EXTEND ? src.h : (src.h > bh ? src.h - bh : 0);
    ck_assert_int_eq(out.h, mode == BAND_EXTEND ? src.h + bh : (src.h > bh ? src.h : bh));
    if (src.nc == out.nc && pic > 16) {
        double d = mad(&src, &out, pic - 16);
        ck_assert_msg(d < 4.0, "picture changed by %.2f on average", d);
    }
    check_band(ctx, &out, out.h - bh, fx_caption, in);
    fx_img_free(&src);
    fx_img_free(&out);
    free(r.out.p);
}

/* ---- tests ---- */

START_TEST(lossless_corpus)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    const char *files[] = {"camera_674x480.jpg", "camera_674x480_444.jpg",
                           "camera_674x480_gray.jpg", "camera_640x480_progressive.jpg",
                           "synthetic_640x480.jpg"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        buf_t in = fx_data_file(files[i]);
        check_lossless(ctx, &in);
        free(in.p);
    }
    render_ctx_free(ctx);
}
END_TEST

START_TEST(lossless_variants)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    const fx_jpeg_spec_t specs[] = {
        {.progressive = 1},
        {.arith = 1},
        {.arith = 1, .progressive = 1},
        {.restart_rows = 1},
        {.h0 = 1, .v0 = 1}, /* 4:4:4 */
        {.h0 = 2, .v0 = 1}, /* 4:2:2 */
        {.h0 = 4, .v0 = 1}, /* 4:1:1 (not 4:4:0: libjpeg-turbo 2.1's h1v2
                               upsampler reads uninitialised memory,
                               which valgrind reports) */
        {.gray = 1},
        {.gray = 1, .progressive = 1, .restart_rows = 2},
        {.quality = 30},
        {.quality = 100, .h0 = 1, .v0 = 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        buf_t in = encode(&cam, 0, 0, cam.w, cam.h, &specs[i]);
        check_lossless(ctx, &in);
        free(in.p);
    }
    /* odd width (partial MCU column) and an exact multiple of 16 rows */
    fx_jpeg_spec_t plain = {0};
    buf_t in = encode(&cam, 0, 0, 641, 464, &plain);
    check_lossless(ctx, &in);
    free(in.p);
    /* narrow: 8 px wide, 608 rows; the caption wraps one glyph per line */
    fx_img_t tall = {.w = 8, .h = 608, .nc = 3};
    tall.px = malloc(8 * 608 * 3);
    for (int y = 0; y < 608; y++)
        memcpy(tall.px + (size_t)y * 24, cam.px + ((size_t)(y % 480) * 674 + 300) * 3, 24);
    in = encode(&tall, 0, 0, 8, 608, &plain);
    result_t r = render_ok(ctx, &in, "ab");
    ck_assert_str_eq(r.path, "lossless");
    fx_img_t a = decode_ok(&in), b = decode_ok(&r.out);
    ck_assert_int_eq(b.w, 8);
    ck_assert_int_eq(b.h, 608 + 2 * 15 + 8);
    check_exact_rows(&a, &b, 608);
    fx_img_free(&a);
    fx_img_free(&b);
    free(r.out.p);
    free(in.p);
    fx_img_free(&tall);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(reencode_variants)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t plain = {0}, gray = {.gray = 1}, prog = {.progressive = 1, .arith = 1};
    /* heights that are not whole MCU rows */
    buf_t in = encode(&cam, 0, 0, 641, 479, &plain);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    in = encode(&cam, 0, 0, 673, 475, &gray);
    check_reencode(ctx, &in, BAND_EXTEND);
    fx_img_t g = decode_ok(&in);
    free(in.p);
    ck_assert_int_eq(g.jcs, JCS_GRAYSCALE);
    fx_img_free(&g);
    in = encode(&cam, 3, 1, 17, 9, &prog);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    /* narrow and not a multiple of the MCU height */
    in = encode(&cam, 100, 0, 8, 470, &plain);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(reencode_gray_stays_gray)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t gray = {.gray = 1};
    buf_t in = encode(&cam, 0, 0, 200, 100, &gray);
    result_t r = render_ok(ctx, &in, fx_caption);
    ck_assert_str_eq(r.path, "reencode");
    fx_img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.jcs, JCS_GRAYSCALE);
    ck_assert_int_eq(out.nc, 1);
    fx_img_free(&out);
    free(r.out.p);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(overlay_mode)
{
    render_ctx_t *ctx = ctx_with(BAND_OVERLAY, 40000000, 4);
    buf_t in = fx_data_file("camera_674x480.jpg");
    check_reencode(ctx, &in, BAND_OVERLAY);
    free(in.p);
    /* a band taller than the picture: the output grows to hold it */
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t plain = {0};
    in = encode(&cam, 0, 0, 60, 16, &plain);
    check_reencode(ctx, &in, BAND_OVERLAY);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(cmyk_converted)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t s = {.cmyk = 1, .ycck = _i, .quality = 95, .icc_space = "CMYK"};
    buf_t in = encode(&cam, 0, 0, 674, 480, &s);
    struct jpeg_decompress_struct hdr;
    struct jpeg_error_mgr e;
    hdr.err = jpeg_std_error(&e);
    jpeg_create_decompress(&hdr);
    jpeg_mem_src(&hdr, in.p, (unsigned long)in.n);
    jpeg_read_header(&hdr, TRUE);
    ck_assert_int_eq(hdr.jpeg_color_space, _i ? JCS_YCCK : JCS_CMYK);
    jpeg_destroy_decompress(&hdr);
    result_t r = render_ok(ctx, &in, fx_caption);
    ck_assert_str_eq(r.path, "reencode");
    fx_img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.jcs, JCS_YCbCr);
    ck_assert_int_eq(out.nc, 3);
    ck_assert_int_eq(out.h, r.h);
    ck_assert_int_eq(out.icc_chunks, 0); /* a CMYK profile would lie about RGB data */
    double d = mad(&cam, &out, 470);
    ck_assert_msg(d < 5.0, "CMYK conversion off by %.2f on average", d);
    check_band(ctx, &out, 480, fx_caption, &in);
    fx_img_free(&out);
    free(r.out.p);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(icc_kept)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t s = {.icc_space = "RGB "};
    buf_t in = encode(&cam, 0, 0, 674, 480, &s);
    result_t r = render_ok(ctx, &in, fx_caption);
    fx_img_t out = decode_ok(&r.out);
    ck_assert_str_eq(r.path, "lossless");
    ck_assert_int_eq(out.icc_chunks, 1);
    fx_img_free(&out);
    free(r.out.p);
    free(in.p);
    in = encode(&cam, 0, 0, 674, 479, &s);
    r = render_ok(ctx, &in, fx_caption);
    out = decode_ok(&r.out);
    ck_assert_str_eq(r.path, "reencode");
    ck_assert_int_eq(out.icc_chunks, 1);
    fx_img_free(&out);
    free(r.out.p);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

/* jpegtran makes the stored image for each orientation (an independent
 * implementation of the transforms); the render of stored + EXIF must match
 * the render of the upright picture. */
START_TEST(exif_orientations)
{
    static const char *const ops[9] = {
        NULL,         NULL,          "-flip horizontal", "-rotate 180", "-flip vertical",
        "-transpose", "-rotate 270", "-transverse",      "-rotate 90"};
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t up = fx_data_file("synthetic_640x480.jpg");
    fx_img_t cam = decode_ok(&up);
    /* upright 640x480 source with a different width and height to catch swaps */
    fx_jpeg_spec_t plain = {.quality = 95};
    buf_t upright = encode(&cam, 0, 0, 640, 432, &plain);
    result_t ref = render_ok(ctx, &upright, fx_caption);
    fx_img_t want = decode_ok(&ref.out);
    char dir[64], tin[96], tout[96];
    fx_tempdir(dir, sizeof dir, "orient");
    snprintf(tin, sizeof tin, "%s/in.jpg", dir);
    snprintf(tout, sizeof tout, "%s/out.jpg", dir);
    fx_write_file(tin, upright.p, upright.n);
    for (int o = 2; o <= 8; o++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "jpegtran -perfect %s -outfile %s %s", ops[o], tout, tin);
        ck_assert_msg(system(cmd) == 0, "%s failed (libjpeg-turbo-progs installed?)", cmd);
        buf_t stored = fx_read_file(tout);
        /* splice an EXIF APP1 right after SOI */
        unsigned char app1[64];
        size_t n = fx_exif_app1(app1, o & 1, o);
        buf_t in = {malloc(stored.n + n + 4), stored.n + n + 4};
        memcpy(in.p, stored.p, 2);
        in.p[2] = 0xFF;
        in.p[3] = 0xE1;
        in.p[4] = (unsigned char)((n + 2) >> 8);
        in.p[5] = (unsigned char)(n + 2);
        memcpy(in.p + 6, app1, n);
        memcpy(in.p + 6 + n, stored.p + 2, stored.n - 2);
        result_t r = render_ok(ctx, &in, fx_caption);
        ck_assert_str_eq(r.path, "reencode");
        fx_img_t got = decode_ok(&r.out);
        ck_assert_int_eq(got.w, want.w);
        ck_assert_int_eq(got.h, want.h);
        ck_assert_int_eq(got.exif_orientation, 1);
        double d = mad(&want, &got, want.h);
        ck_assert_msg(d < 3.0, "orientation %d: off by %.2f on average", o, d);
        fx_img_free(&got);
        free(r.out.p);
        free(in.p);
        free(stored.p);
    }
    fx_rmtree(dir);
    fx_img_free(&want);
    free(ref.out.p);
    free(upright.p);
    fx_img_free(&cam);
    free(up.p);
    render_ctx_free(ctx);
}
END_TEST

static void expect_failure(render_ctx_t *ctx, const buf_t *in, const char *needle)
{
    unsigned char *out = (unsigned char *)"untouched";
    size_t out_len = 7;
    int w, h;
    char err[512] = "";
    ck_assert_int_eq(render_caption(ctx, in->p, in->n, fx_caption, strlen(fx_caption), &out,
                                    &out_len, &w, &h, err, sizeof err),
                     -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

START_TEST(broken_inputs)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t b = fx_data_file("truncated.jpg");
    expect_failure(ctx, &b, "Premature end of JPEG file");
    free(b.p);
    b = fx_data_file("not_a_jpeg.jpg");
    expect_failure(ctx, &b, "Not a JPEG file");
    free(b.p);
    buf_t empty = {(unsigned char *)"", 0};
    expect_failure(ctx, &empty, "JPEG");
    /* every truncation of a real file fails with libjpeg's reason */
    b = fx_data_file("camera_640x480_progressive.jpg");
    for (size_t n = 0; n < b.n - 2; n += 997) {
        buf_t cut = {b.p, n};
        expect_failure(ctx, &cut, "JPEG");
    }
    /* corrupt entropy data in the middle */
    buf_t bad = {malloc(b.n), b.n};
    memcpy(bad.p, b.p, b.n);
    for (size_t i = b.n / 2; i < b.n / 2 + 400; i++) bad.p[i] = (unsigned char)(i * 37);
    unsigned char *out;
    size_t out_len;
    int w, h;
    char err[512];
    int rc = render_caption(ctx, bad.p, bad.n, "x", 1, &out, &out_len, &w, &h, err, sizeof err);
    if (rc == 0)
        free(out);
    else
        ck_assert_ptr_nonnull(strstr(err, "JPEG"));
    free(bad.p);
    free(b.p);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(too_many_pixels)
{
    /* the input alone is over the limit: refused after the header */
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 674 * 480 - 1, 4);
    buf_t b = fx_data_file("camera_674x480.jpg");
    expect_failure(ctx, &b, "image is 674x480 = 323520 pixels, over MAX_PIXELS");
    render_ctx_free(ctx);
    /* the input fits but the captioned output (674x503) would not */
    ctx = ctx_with(BAND_EXTEND, 674 * 480, 4);
    expect_failure(ctx, &b, "captioned image would be 674x503 = 339022 pixels, over MAX_PIXELS");
    render_ctx_free(ctx);
    ctx = ctx_with(BAND_EXTEND, 674 * 503, 4);
    result_t r = render_ok(ctx, &b, "x");
    ck_assert_int_eq(r.h, 503);
    free(r.out.p);
    render_ctx_free(ctx);
    /* overlay keeps the picture's size: the same limit is enough */
    ctx = ctx_with(BAND_OVERLAY, 674 * 480, 4);
    r = render_ok(ctx, &b, "x");
    ck_assert_int_eq(r.h, 480);
    free(r.out.p);
    free(b.p);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(too_many_scans)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t s = {.progressive = 1, .many_scans = 1};
    buf_t in = encode(&cam, 0, 0, 64, 48, &s);
    fx_img_t ok = decode_ok(&in); /* a valid file that libjpeg itself decodes */
    fx_img_free(&ok);
    expect_failure(ctx, &in, "scans");
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

/* A zero quantizer is invalid but decodable; quantizing the band with it
 * would divide by zero, so such a file takes the re-encode path. */
START_TEST(zero_quantizer)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    fx_img_t cam = fx_camera(0);
    fx_jpeg_spec_t plain = {0};
    buf_t in = encode(&cam, 0, 0, 80, 48, &plain);
    size_t i = 2;
    while (i + 4 < in.n && !(in.p[i] == 0xFF && in.p[i + 1] == 0xDB)) i++;
    ck_assert_uint_lt(i + 5 + 63, in.n);
    in.p[i + 5 + 63] = 0; /* last zigzag entry of the first table */
    result_t r = render_ok(ctx, &in, fx_caption);
    ck_assert_str_eq(r.path, "reencode");
    fx_img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, 80);
    fx_img_free(&out);
    free(r.out.p);
    free(in.p);
    fx_img_free(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(empty_caption_band)
{
    /* whitespace only, no padding: no band at all, the picture is copied */
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 0);
    buf_t b = fx_data_file("camera_674x480.jpg");
    result_t r = render_ok(ctx, &b, "   ");
    ck_assert_int_eq(r.h, 480);
    fx_img_t a = decode_ok(&b), o = decode_ok(&r.out);
    check_exact_rows(&a, &o, 480);
    fx_img_free(&a);
    fx_img_free(&o);
    free(r.out.p);
    free(b.p);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_reuse)
{
    /* one ctx, many jobs, alternating paths and failures: same bytes each time */
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t a = fx_data_file("camera_674x480.jpg"), t = fx_data_file("truncated.jpg");
    result_t first = render_ok(ctx, &a, fx_caption);
    for (int i = 0; i < 5; i++) {
        expect_failure(ctx, &t, "JPEG");
        result_t again = render_ok(ctx, &a, fx_caption);
        ck_assert_uint_eq(again.out.n, first.out.n);
        ck_assert(memcmp(again.out.p, first.out.p, first.out.n) == 0);
        free(again.out.p);
    }
    free(first.out.p);
    free(a.p);
    free(t.p);
    render_ctx_free(ctx);
}
END_TEST

/* ---- regression cases found by tests/fuzz/fuzz_render ----
 * Each must end in a verdict (0, or -1 with a reason), never a signal: check's
 * fork mode reports a crash as an error of the test. */

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

/* An output decodes to the size render_caption() reported; a refusal has a reason. */
static void assert_verdict(band_mode_t mode, const buf_t *in)
{
    render_ctx_t *c = ctx_with(mode, 40000000, 4);
    unsigned char *out = NULL;
    size_t out_len = 0;
    int w = 0, h = 0;
    char err[256] = "";
    const char *text = "zero quantizer";
    int rc = render_caption(c, in->p, in->n, text, strlen(text), &out, &out_len, &w, &h, err,
                            sizeof err);
    if (rc == 0) {
        buf_t b = {out, out_len};
        fx_img_t im = fx_jpeg_decode(&b, FX_DECODE_LENIENT);
        ck_assert_int_eq(im.w, w);
        ck_assert_int_eq(im.h, h);
        fx_img_free(&im);
        free(out);
    } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(out);
        ck_assert_msg(err[0] != '\0', "a refusal names its reason");
    }
    render_ctx_free(c);
}

/* Guards fuzz_render crash-2b90ac98: a DQT entry of 0 (T.81 B.2.4.1 requires
 * 1..255) decodes, but the lossless path re-encodes the band with the source's
 * tables (jpeg_copy_critical_parameters) and libjpeg-turbo's
 * compute_reciprocal() divides by the zero: SIGFPE in jpeg_start_compress,
 * killing the render service on every redelivery. 674x480 4:2:0 takes the
 * lossless path. */
START_TEST(zero_quantizer_lossless_path)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    ck_assert_int_gt(zero_quant_entry(in.p, in.n, 63), 0);
    assert_verdict(BAND_EXTEND, &in);
    free(in.p);
}
END_TEST

/* Guards the same crash on the re-encode path (overlay) and with the DC
 * quantizer. */
START_TEST(zero_quantizer_reencode_path)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    ck_assert_int_gt(zero_quant_entry(in.p, in.n, 0), 0);
    assert_verdict(BAND_OVERLAY, &in);
    assert_verdict(BAND_EXTEND, &in);
    free(in.p);
}
END_TEST

/* Guards fuzz_render crash-7ac2c7d0: MAX_PIXELS was checked on the input only.
 * A very wide, short picture with a caption of many lines gets a band far
 * larger than itself: 65500x8 (524,000 pixels, a 6 KB upload) with 'a', 198
 * newlines and 'b' became 65500x3001 = 196.6 megapixels, 977 MB of RSS in one
 * lossless job. The output must stay within MAX_PIXELS (or the job is
 * refused). Here: 8192x8 input, MAX_PIXELS 100000, the same caption. */
START_TEST(band_cannot_exceed_max_pixels)
{
    enum { W = 8192, H = 8 };
    static unsigned char gray[W * H];
    memset(gray, 128, sizeof gray);
    fx_jpeg_spec_t spec = {.quality = 90};
    buf_t jpg = fx_jpeg_encode(gray, W, W, H, 1, &spec);
    char text[201];
    memset(text, '\n', sizeof text);
    text[0] = 'a';
    text[199] = 'b';
    text[200] = '\0';
    for (int mode = BAND_EXTEND; mode <= BAND_OVERLAY; mode++) {
        render_ctx_t *c = ctx_with((band_mode_t)mode, 100000, 4);
        unsigned char *out = NULL;
        size_t out_len = 0;
        int w = 0, h = 0;
        char err[256] = "";
        int rc = render_caption(c, jpg.p, jpg.n, text, strlen(text), &out, &out_len, &w, &h, err,
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
    free(jpg.p);
}
END_TEST

Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("jpeg");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lossless_corpus);
    tcase_add_test(tc, lossless_variants);
    tcase_add_test(tc, reencode_variants);
    tcase_add_test(tc, reencode_gray_stays_gray);
    tcase_add_test(tc, overlay_mode);
    tcase_add_loop_test(tc, cmyk_converted, 0, 2); /* CMYK, YCCK */
    tcase_add_test(tc, icc_kept);
    tcase_add_test(tc, exif_orientations);
    tcase_add_test(tc, broken_inputs);
    tcase_add_test(tc, too_many_pixels);
    tcase_add_test(tc, too_many_scans);
    tcase_add_test(tc, zero_quantizer);
    tcase_add_test(tc, empty_caption_band);
    tcase_add_test(tc, ctx_reuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, zero_quantizer_lossless_path);
    tcase_add_test(tc, zero_quantizer_reencode_path);
    tcase_add_test(tc, band_cannot_exceed_max_pixels);
    suite_add_tcase(s, tc);
    return s;
}
