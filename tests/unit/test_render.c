/* render_caption() on JPEG variants generated here with libjpeg (progressive,
 * arithmetic, restart markers, 4:4:4/4:2:2/4:2:0, gray, CMYK, odd and narrow
 * sizes, EXIF orientations via jpegtran, ICC) and on broken inputs. */
#include <check.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "render/exif.h"
#include "render/font.h"
#include "render/orient.h"
#include "render/render.h"

/* ---- helpers ---- */

typedef struct buf {
    unsigned char *p;
    size_t n;
} buf_t;

static buf_t slurp(const char *path)
{
    buf_t b = {0};
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    b.n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(b.n ? b.n : 1);
    ck_assert_uint_eq(fread(b.p, 1, b.n, f), b.n);
    fclose(f);
    return b;
}

static buf_t data_file(const char *name)
{
    const char *root = getenv("IMGCAP_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s", root ? root : ".", name);
    return slurp(path);
}

typedef struct img {
    unsigned char *px;
    int w, h, nc;
    J_COLOR_SPACE jcs;        /* colour space of the file */
    int hs[3], vs[3];         /* sampling factors */
    int progressive, arith;
    int icc_chunks, exif_orientation;
} img_t;

typedef struct terr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} terr_t;

static void terr_exit(j_common_ptr ci)
{
    longjmp(((terr_t *)ci->err)->jb, 1);
}

/* Decodes to RGB (or gray), without fancy upsampling so that pixels depend
 * only on the blocks of their own MCU row. */
static int decode(const buf_t *b, img_t *im)
{
    struct jpeg_decompress_struct d;
    terr_t e;
    memset(im, 0, sizeof *im);
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = terr_exit;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        free(im->px);
        im->px = NULL;
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->p, (unsigned long)b->n);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_save_markers(&d, JPEG_APP0 + 2, 0xFFFF);
    jpeg_read_header(&d, TRUE);
    im->jcs = d.jpeg_color_space;
    im->progressive = d.progressive_mode;
    im->arith = d.arith_code;
    for (int i = 0; i < d.num_components && i < 3; i++) {
        im->hs[i] = d.comp_info[i].h_samp_factor;
        im->vs[i] = d.comp_info[i].v_samp_factor;
    }
    for (jpeg_saved_marker_ptr m = d.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 2 && m->data_length > 12 &&
            !memcmp(m->data, "ICC_PROFILE", 12))
            im->icc_chunks++;
        if (m->marker == JPEG_APP0 + 1 && !im->exif_orientation)
            im->exif_orientation = render_exif_orientation(m->data, m->data_length, NULL);
    }
    d.do_fancy_upsampling = FALSE;
    d.out_color_space = d.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    im->w = (int)d.output_width;
    im->h = (int)d.output_height;
    im->nc = d.output_components;
    im->px = malloc((size_t)im->w * (size_t)im->h * (size_t)im->nc);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = im->px + (size_t)d.output_scanline * (size_t)im->w * (size_t)im->nc;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return 0;
}

static img_t decode_ok(const buf_t *b)
{
    img_t im;
    ck_assert_int_eq(decode(b, &im), 0);
    return im;
}

typedef struct spec {
    int gray, cmyk, ycck, progressive, arith, restart_rows, many_scans;
    int h0, v0;                       /* luma sampling; 0 = 2x2 */
    int quality;
    const unsigned char *app1;
    size_t app1_len;
    const char *icc_space;            /* adds a fake ICC profile chunk */
} spec_t;

/* Encodes the rows [y0, y0+h) and columns [x0, x0+w) of an RGB picture. */
static buf_t encode(const img_t *src, int x0, int y0, int w, int h, const spec_t *s)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long out_len = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &out_len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = s->cmyk ? 4 : 3;
    c.in_color_space = s->cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, s->quality ? s->quality : 85, TRUE);
    if (s->gray)
        jpeg_set_colorspace(&c, JCS_GRAYSCALE);
    if (s->cmyk)
        jpeg_set_colorspace(&c, s->ycck ? JCS_YCCK : JCS_CMYK); /* with the Adobe marker */
    if (!s->gray && !s->cmyk && s->h0) {
        c.comp_info[0].h_samp_factor = s->h0;
        c.comp_info[0].v_samp_factor = s->v0;
    }
    c.arith_code = (boolean)s->arith;
    c.restart_in_rows = s->restart_rows;
    if (s->progressive)
        jpeg_simple_progression(&c);
    static jpeg_scan_info scans[1 + 63 * 3];
    if (s->many_scans) {
        /* DC, then every AC coefficient of every component in its own scan */
        int n = 0;
        scans[n++] = (jpeg_scan_info){3, {0, 1, 2, 0}, 0, 0, 0, 0};
        for (int ci = 0; ci < 3; ci++)
            for (int k = 1; k <= 63; k++)
                scans[n++] = (jpeg_scan_info){1, {ci, 0, 0, 0}, k, k, 0, 0};
        c.scan_info = scans;
        c.num_scans = n;
    }
    jpeg_start_compress(&c, TRUE);
    if (s->app1)
        jpeg_write_marker(&c, JPEG_APP0 + 1, s->app1, (unsigned)s->app1_len);
    if (s->icc_space) {
        unsigned char icc[14 + 128] = "ICC_PROFILE";
        icc[12] = 1;
        icc[13] = 1;
        icc[14 + 3] = 128;
        memcpy(icc + 14 + 16, s->icc_space, 4);
        memcpy(icc + 14 + 36, "acsp", 4);
        jpeg_write_marker(&c, JPEG_APP0 + 2, icc, sizeof icc);
    }
    unsigned char *row = malloc((size_t)w * 4);
    while (c.next_scanline < c.image_height) {
        const unsigned char *p =
            src->px + ((size_t)(y0 + (int)c.next_scanline) * (size_t)src->w + (size_t)x0) * 3;
        for (int x = 0; x < w; x++) {
            const unsigned char *q = p + 3 * x;
            if (s->cmyk) {
                /* Adobe convention: inverted C, M, Y, K, with real black */
                int mx = q[0] > q[1] ? q[0] : q[1];
                mx = mx > q[2] ? mx : q[2];
                int k = 255 - mx;
                for (int i = 0; i < 3; i++)
                    row[4 * x + i] = (unsigned char)(mx ? 255 - (255 - q[i] - k) * 255 / mx : 255);
                row[4 * x + 3] = (unsigned char)(255 - k);
            } else {
                memcpy(row + 3 * x, q, 3);
            }
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    buf_t b = {out, out_len};
    return b;
}

static img_t camera_rgb(void)
{
    buf_t b = data_file("camera_674x480.jpg");
    img_t im = decode_ok(&b);
    free(b.p);
    ck_assert_int_eq(im.nc, 3);
    return im;
}

static render_ctx_t *ctx_with(band_mode_t mode, long long max_pixels, int padding)
{
    const char *root = getenv("IMGCAP_ROOT");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/fonts/DejaVuSans.ttf", root ? root : ".");
    render_opts_t o = {path, 12, padding, mode, 90, max_pixels, 0};
    render_ctx_t *ctx = render_ctx_new(&o, err, sizeof err);
    ck_assert_msg(ctx != NULL, "%s", err);
    return ctx;
}

static const char *caption = "Speeding 87 km/h \xd0\x95\xd0\xb3\xd0\xbe\xd1\x80 "
                             "\xc3\x85ngstr\xc3\xb6m gjpqy, a long caption that wraps";

typedef struct result {
    buf_t out;
    int w, h;
    const char *path;
} result_t;

static result_t render_ok(render_ctx_t *ctx, const buf_t *in, const char *text)
{
    result_t r = {0};
    char err[512];
    ck_assert_msg(render_caption(ctx, in->p, in->n, text, strlen(text), &r.out.p, &r.out.n,
                                 &r.w, &r.h, err, sizeof err) == 0, "%s", err);
    r.path = render_last_path(ctx);
    return r;
}

static double luma(const img_t *im, int x, int y)
{
    const unsigned char *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * (size_t)im->nc;
    return im->nc == 1 ? p[0] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* The band occupies rows [y0, y0 + band_h) of out: pixels farther than one
 * MCU (16 px) from any glyph box are black, and there is white where text is.
 * Band rows sharing an MCU row with the picture (re-encode path, band not on an
 * MCU boundary) carry the picture's ringing and are not checked for black. */
static void check_band(render_ctx_t *ctx, const img_t *out, int y0, const char *text,
                       const buf_t *in)
{
    const layout_t *lo;
    char err[256];
    ck_assert_int_eq(render_layout_jpeg(ctx, in->p, in->n, text, strlen(text), &lo, err,
                                        sizeof err), 0);
    int bh = lo->band_height;
    ck_assert_int_ge(out->h, y0 + bh);
    unsigned char *near = calloc((size_t)out->w * (size_t)bh, 1);
    char fe[256];
    const char *root = getenv("IMGCAP_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/fonts/DejaVuSans.ttf", root ? root : ".");
    render_font_t *f = render_font_open(path, 12, fe, sizeof fe);
    ck_assert_ptr_nonnull(f);
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
            for (int k = 0; k < g->rows * g->width; k++)
                ink += g->bitmap[k] > 128;
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
static void check_exact_rows(const img_t *a, const img_t *b, int h)
{
    ck_assert_int_eq(a->w, b->w);
    ck_assert_int_eq(a->nc, b->nc);
    size_t n = (size_t)a->w * (size_t)h * (size_t)a->nc;
    size_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += a->px[i] != b->px[i];
    ck_assert_msg(diff == 0, "%zu picture samples changed", diff);
}

/* Mean absolute difference over rows [0, h). */
static double mad(const img_t *a, const img_t *b, int h)
{
    ck_assert_int_eq(a->w, b->w);
    ck_assert_int_eq(a->nc, b->nc);
    size_t n = (size_t)a->w * (size_t)h * (size_t)a->nc;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a->px[i] - (int)b->px[i]);
    return s / (double)n;
}

static void free_img(img_t *im)
{
    free(im->px);
    im->px = NULL;
}

/* Extend mode on a lossless-eligible input: same width, taller by the band,
 * picture rows bit-exact, band black with white text. */
static void check_lossless(render_ctx_t *ctx, const buf_t *in)
{
    img_t src = decode_ok(in);
    result_t r = render_ok(ctx, in, caption);
    ck_assert_str_eq(r.path, "lossless");
    img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, src.w);
    ck_assert_int_eq(r.w, src.w);
    ck_assert_int_eq(r.h, out.h);
    ck_assert_int_gt(out.h, src.h);
    ck_assert_int_eq(out.jcs, src.jcs == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_YCbCr);
    ck_assert_int_eq(out.hs[0], src.hs[0]);
    ck_assert_int_eq(out.vs[0], src.vs[0]);
    check_exact_rows(&src, &out, src.h);
    check_band(ctx, &out, src.h, caption, in);
    free_img(&src);
    free_img(&out);
    free(r.out.p);
}

/* Re-encode path: the picture is close to the source, the band follows it. */
static void check_reencode(render_ctx_t *ctx, const buf_t *in, band_mode_t mode)
{
    img_t src = decode_ok(in);
    result_t r = render_ok(ctx, in, caption);
    ck_assert_str_eq(r.path, "reencode");
    img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, src.w);
    const layout_t *lo;
    char err[256];
    ck_assert_int_eq(render_layout_jpeg(ctx, in->p, in->n, caption, strlen(caption), &lo, err,
                                        sizeof err), 0);
    int bh = lo->band_height;
    int pic = mode == BAND_EXTEND ? src.h : (src.h > bh ? src.h - bh : 0);
    ck_assert_int_eq(out.h, mode == BAND_EXTEND ? src.h + bh : (src.h > bh ? src.h : bh));
    if (src.nc == out.nc && pic > 16) {
        double d = mad(&src, &out, pic - 16);
        ck_assert_msg(d < 4.0, "picture changed by %.2f on average", d);
    }
    check_band(ctx, &out, out.h - bh, caption, in);
    free_img(&src);
    free_img(&out);
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
        buf_t in = data_file(files[i]);
        check_lossless(ctx, &in);
        free(in.p);
    }
    render_ctx_free(ctx);
}
END_TEST

START_TEST(lossless_variants)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    const spec_t specs[] = {
        {.progressive = 1},
        {.arith = 1},
        {.arith = 1, .progressive = 1},
        {.restart_rows = 1},
        {.h0 = 1, .v0 = 1},            /* 4:4:4 */
        {.h0 = 2, .v0 = 1},            /* 4:2:2 */
        {.h0 = 4, .v0 = 1},            /* 4:1:1 (not 4:4:0: libjpeg-turbo 2.1's h1v2
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
    spec_t plain = {0};
    buf_t in = encode(&cam, 0, 0, 641, 464, &plain);
    check_lossless(ctx, &in);
    free(in.p);
    /* narrow: 8 px wide, 608 rows; the caption wraps one glyph per line */
    img_t tall = {.w = 8, .h = 608, .nc = 3};
    tall.px = malloc(8 * 608 * 3);
    for (int y = 0; y < 608; y++)
        memcpy(tall.px + (size_t)y * 24, cam.px + ((size_t)(y % 480) * 674 + 300) * 3, 24);
    in = encode(&tall, 0, 0, 8, 608, &plain);
    result_t r = render_ok(ctx, &in, "ab");
    ck_assert_str_eq(r.path, "lossless");
    img_t a = decode_ok(&in), b = decode_ok(&r.out);
    ck_assert_int_eq(b.w, 8);
    ck_assert_int_eq(b.h, 608 + 2 * 15 + 8);
    check_exact_rows(&a, &b, 608);
    free_img(&a);
    free_img(&b);
    free(r.out.p);
    free(in.p);
    free_img(&tall);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(reencode_variants)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    spec_t plain = {0}, gray = {.gray = 1}, prog = {.progressive = 1, .arith = 1};
    /* heights that are not whole MCU rows */
    buf_t in = encode(&cam, 0, 0, 641, 479, &plain);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    in = encode(&cam, 0, 0, 673, 475, &gray);
    check_reencode(ctx, &in, BAND_EXTEND);
    img_t g = decode_ok(&in);
    free(in.p);
    ck_assert_int_eq(g.jcs, JCS_GRAYSCALE);
    free_img(&g);
    in = encode(&cam, 3, 1, 17, 9, &prog);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    /* narrow and not a multiple of the MCU height */
    in = encode(&cam, 100, 0, 8, 470, &plain);
    check_reencode(ctx, &in, BAND_EXTEND);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(reencode_gray_stays_gray)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    spec_t gray = {.gray = 1};
    buf_t in = encode(&cam, 0, 0, 200, 100, &gray);
    result_t r = render_ok(ctx, &in, caption);
    ck_assert_str_eq(r.path, "reencode");
    img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.jcs, JCS_GRAYSCALE);
    ck_assert_int_eq(out.nc, 1);
    free_img(&out);
    free(r.out.p);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(overlay_mode)
{
    render_ctx_t *ctx = ctx_with(BAND_OVERLAY, 40000000, 4);
    buf_t in = data_file("camera_674x480.jpg");
    check_reencode(ctx, &in, BAND_OVERLAY);
    free(in.p);
    /* a band taller than the picture: the output grows to hold it */
    img_t cam = camera_rgb();
    spec_t plain = {0};
    in = encode(&cam, 0, 0, 60, 16, &plain);
    check_reencode(ctx, &in, BAND_OVERLAY);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(cmyk_converted)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    spec_t s = {.cmyk = 1, .ycck = _i, .quality = 95, .icc_space = "CMYK"};
    buf_t in = encode(&cam, 0, 0, 674, 480, &s);
    struct jpeg_decompress_struct hdr;
    struct jpeg_error_mgr e;
    hdr.err = jpeg_std_error(&e);
    jpeg_create_decompress(&hdr);
    jpeg_mem_src(&hdr, in.p, (unsigned long)in.n);
    jpeg_read_header(&hdr, TRUE);
    ck_assert_int_eq(hdr.jpeg_color_space, _i ? JCS_YCCK : JCS_CMYK);
    jpeg_destroy_decompress(&hdr);
    result_t r = render_ok(ctx, &in, caption);
    ck_assert_str_eq(r.path, "reencode");
    img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.jcs, JCS_YCbCr);
    ck_assert_int_eq(out.nc, 3);
    ck_assert_int_eq(out.h, r.h);
    ck_assert_int_eq(out.icc_chunks, 0); /* a CMYK profile would lie about RGB data */
    double d = mad(&cam, &out, 470);
    ck_assert_msg(d < 5.0, "CMYK conversion off by %.2f on average", d);
    check_band(ctx, &out, 480, caption, &in);
    free_img(&out);
    free(r.out.p);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(icc_kept)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    spec_t s = {.icc_space = "RGB "};
    buf_t in = encode(&cam, 0, 0, 674, 480, &s);
    result_t r = render_ok(ctx, &in, caption);
    img_t out = decode_ok(&r.out);
    ck_assert_str_eq(r.path, "lossless");
    ck_assert_int_eq(out.icc_chunks, 1);
    free_img(&out);
    free(r.out.p);
    free(in.p);
    in = encode(&cam, 0, 0, 674, 479, &s);
    r = render_ok(ctx, &in, caption);
    out = decode_ok(&r.out);
    ck_assert_str_eq(r.path, "reencode");
    ck_assert_int_eq(out.icc_chunks, 1);
    free_img(&out);
    free(r.out.p);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

/* APP1 payload: EXIF, TIFF in the given byte order, IFD0 = {Orientation}. */
static size_t exif_app1(unsigned char *p, int big_endian, int orientation)
{
    static const unsigned char le[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                       1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0};
    static const unsigned char be[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                                       0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,
                                       0, 0, 0, 0};
    memcpy(p, big_endian ? be : le, sizeof le);
    p[big_endian ? 6 + 8 + 2 + 8 + 1 : 6 + 8 + 2 + 8] = (unsigned char)orientation;
    return sizeof le;
}

START_TEST(exif_parse)
{
    unsigned char m[64];
    size_t off;
    for (int o = 1; o <= 8; o++) {
        size_t n = exif_app1(m, o & 1, o);
        ck_assert_int_eq(render_exif_orientation(m, n, &off), o);
        render_exif_set_orientation(m, n, off, 1);
        ck_assert_int_eq(render_exif_orientation(m, n, NULL), 1);
    }
    size_t n = exif_app1(m, 0, 6);
    ck_assert_int_eq(render_exif_orientation(m, 20, NULL), 0); /* truncated */
    m[6] = 'X';
    ck_assert_int_eq(render_exif_orientation(m, n, NULL), 0);
    n = exif_app1(m, 1, 9);
    ck_assert_int_eq(render_exif_orientation(m, n, NULL), 0);
    /* an IFD that claims an entry but ends inside the TIFF header's 10 bytes:
     * an exact-size heap copy, so a sanitizer sees any read past it */
    ck_assert_uint_ge(exif_app1(m, 0, 6), 16);
    unsigned char *shortm = malloc(16);
    memcpy(shortm, m, 16);
    ck_assert_int_eq(render_exif_orientation(shortm, 16, NULL), 0);
    free(shortm);
    ck_assert_int_eq(render_exif_orientation((const unsigned char *)"http://ns.adobe", 15,
                                             NULL), 0);
}
END_TEST

START_TEST(orient_pixels)
{
    /* 3x2 picture, pixel value = its index:  0 1 2 / 3 4 5 */
    const unsigned char src[6] = {0, 1, 2, 3, 4, 5};
    const unsigned char want[9][6] = {
        {0}, {0, 1, 2, 3, 4, 5}, {2, 1, 0, 5, 4, 3}, {5, 4, 3, 2, 1, 0}, {3, 4, 5, 0, 1, 2},
        {0, 3, 1, 4, 2, 5}, {3, 0, 4, 1, 5, 2}, {5, 2, 4, 1, 3, 0}, {2, 5, 1, 4, 0, 3}};
    for (int o = 1; o <= 8; o++) {
        unsigned char dst[6];
        int vw, vh;
        render_orient_size(3, 2, o, &vw, &vh);
        ck_assert_int_eq(vw, o >= 5 ? 2 : 3);
        render_orient_pixels(src, 3, 2, 1, o, dst, (size_t)vw);
        ck_assert_msg(memcmp(dst, want[o], 6) == 0, "orientation %d", o);
    }
}
END_TEST

/* jpegtran makes the stored image for each orientation (an independent
 * implementation of the transforms); the render of stored + EXIF must match
 * the render of the upright picture. */
START_TEST(exif_orientations)
{
    static const char *const ops[9] = {NULL, NULL, "-flip horizontal", "-rotate 180",
                                       "-flip vertical", "-transpose", "-rotate 270",
                                       "-transverse", "-rotate 90"};
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t up = data_file("synthetic_640x480.jpg");
    img_t cam = decode_ok(&up);
    /* upright 640x480 source with a different width and height to catch swaps */
    spec_t plain = {.quality = 95};
    buf_t upright = encode(&cam, 0, 0, 640, 432, &plain);
    result_t ref = render_ok(ctx, &upright, caption);
    img_t want = decode_ok(&ref.out);
    char tin[] = "/tmp/imgcap-orient-in-XXXXXX", tout[] = "/tmp/imgcap-orient-out-XXXXXX";
    int fin = mkstemp(tin), fout = mkstemp(tout);
    ck_assert(fin >= 0 && fout >= 0);
    ck_assert_int_eq((int)write(fin, upright.p, upright.n), (int)upright.n);
    close(fin);
    close(fout);
    for (int o = 2; o <= 8; o++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "jpegtran -perfect %s -outfile %s %s", ops[o], tout, tin);
        ck_assert_msg(system(cmd) == 0, "%s failed (libjpeg-turbo-progs installed?)", cmd);
        buf_t stored = slurp(tout);
        /* splice an EXIF APP1 right after SOI */
        unsigned char app1[64];
        size_t n = exif_app1(app1, o & 1, o);
        buf_t in = {malloc(stored.n + n + 4), stored.n + n + 4};
        memcpy(in.p, stored.p, 2);
        in.p[2] = 0xFF;
        in.p[3] = 0xE1;
        in.p[4] = (unsigned char)((n + 2) >> 8);
        in.p[5] = (unsigned char)(n + 2);
        memcpy(in.p + 6, app1, n);
        memcpy(in.p + 6 + n, stored.p + 2, stored.n - 2);
        result_t r = render_ok(ctx, &in, caption);
        ck_assert_str_eq(r.path, "reencode");
        img_t got = decode_ok(&r.out);
        ck_assert_int_eq(got.w, want.w);
        ck_assert_int_eq(got.h, want.h);
        ck_assert_int_eq(got.exif_orientation, 1);
        double d = mad(&want, &got, want.h);
        ck_assert_msg(d < 3.0, "orientation %d: off by %.2f on average", o, d);
        free_img(&got);
        free(r.out.p);
        free(in.p);
        free(stored.p);
    }
    unlink(tin);
    unlink(tout);
    free_img(&want);
    free(ref.out.p);
    free(upright.p);
    free_img(&cam);
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
    ck_assert_int_eq(render_caption(ctx, in->p, in->n, caption, strlen(caption), &out,
                                    &out_len, &w, &h, err, sizeof err), -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

START_TEST(broken_inputs)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t b = data_file("truncated.jpg");
    expect_failure(ctx, &b, "Premature end of JPEG file");
    free(b.p);
    b = data_file("not_a_jpeg.jpg");
    expect_failure(ctx, &b, "Not a JPEG file");
    free(b.p);
    buf_t empty = {(unsigned char *)"", 0};
    expect_failure(ctx, &empty, "JPEG");
    /* every truncation of a real file fails with libjpeg's reason */
    b = data_file("camera_640x480_progressive.jpg");
    for (size_t n = 0; n < b.n - 2; n += 997) {
        buf_t cut = {b.p, n};
        expect_failure(ctx, &cut, "JPEG");
    }
    /* corrupt entropy data in the middle */
    buf_t bad = {malloc(b.n), b.n};
    memcpy(bad.p, b.p, b.n);
    for (size_t i = b.n / 2; i < b.n / 2 + 400; i++)
        bad.p[i] = (unsigned char)(i * 37);
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
    buf_t b = data_file("camera_674x480.jpg");
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
    img_t cam = camera_rgb();
    spec_t s = {.progressive = 1, .many_scans = 1};
    buf_t in = encode(&cam, 0, 0, 64, 48, &s);
    img_t ok = decode_ok(&in); /* a valid file that libjpeg itself decodes */
    free_img(&ok);
    expect_failure(ctx, &in, "scans");
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

/* A zero quantizer is invalid but decodable; quantizing the band with it
 * would divide by zero, so such a file takes the re-encode path. */
START_TEST(zero_quantizer)
{
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    img_t cam = camera_rgb();
    spec_t plain = {0};
    buf_t in = encode(&cam, 0, 0, 80, 48, &plain);
    size_t i = 2;
    while (i + 4 < in.n && !(in.p[i] == 0xFF && in.p[i + 1] == 0xDB))
        i++;
    ck_assert_uint_lt(i + 5 + 63, in.n);
    in.p[i + 5 + 63] = 0; /* last zigzag entry of the first table */
    result_t r = render_ok(ctx, &in, caption);
    ck_assert_str_eq(r.path, "reencode");
    img_t out = decode_ok(&r.out);
    ck_assert_int_eq(out.w, 80);
    free_img(&out);
    free(r.out.p);
    free(in.p);
    free_img(&cam);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(empty_caption_band)
{
    /* whitespace only, no padding: no band at all, the picture is copied */
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 0);
    buf_t b = data_file("camera_674x480.jpg");
    result_t r = render_ok(ctx, &b, "   ");
    ck_assert_int_eq(r.h, 480);
    img_t a = decode_ok(&b), o = decode_ok(&r.out);
    check_exact_rows(&a, &o, 480);
    free_img(&a);
    free_img(&o);
    free(r.out.p);
    free(b.p);
    render_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_reuse)
{
    /* one ctx, many jobs, alternating paths and failures: same bytes each time */
    render_ctx_t *ctx = ctx_with(BAND_EXTEND, 40000000, 4);
    buf_t a = data_file("camera_674x480.jpg"), t = data_file("truncated.jpg");
    result_t first = render_ok(ctx, &a, caption);
    for (int i = 0; i < 5; i++) {
        expect_failure(ctx, &t, "JPEG");
        result_t again = render_ok(ctx, &a, caption);
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

Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("jpeg");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exif_parse);
    tcase_add_test(tc, orient_pixels);
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
    return s;
}
