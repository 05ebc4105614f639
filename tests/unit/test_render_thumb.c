/* Unit tests of services/render/thumb.c: the thumbnail's geometry (pure, then
 * of real thumbnails decoded by TurboJPEG, an independent decoder), its
 * content beside an area-average downscale of the decoded source computed
 * here in floating point, and failures (corrupt, truncated, too large). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "render/render.h"
#include "render/thumb.h"
#include "unit_util.h"

/* ---- helpers ---- */

/* A thumbnail decoded by TurboJPEG (RGB, or gray for a gray JPEG). */
typedef struct tj_img {
    unsigned char *px; /* owned */
    int w, h, nc, subsamp;
} tj_img_t;

static tj_img_t tj_decode(const unsigned char *p, size_t n)
{
    tj_img_t im = {0};
    tjhandle h = tjInitDecompress();
    ck_assert_ptr_nonnull(h);
    int cs;
    ck_assert_msg(tjDecompressHeader3(h, p, (unsigned long)n, &im.w, &im.h, &im.subsamp, &cs) == 0,
                  "%s", tjGetErrorStr2(h));
    im.nc = im.subsamp == TJSAMP_GRAY ? 1 : 3;
    im.px = malloc((size_t)im.w * (size_t)im.h * (size_t)im.nc);
    ck_assert_ptr_nonnull(im.px);
    ck_assert_msg(tjDecompress2(h, p, (unsigned long)n, im.px, im.w, 0, im.h,
                                im.nc == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT) == 0,
                  "%s", tjGetErrorStr2(h));
    tjDestroy(h);
    return im;
}

/* The thumbnail of b (which must work), decoded. */
static tj_img_t thumb_of(render_thumb_t *t, const buf_t *b)
{
    const unsigned char *out;
    size_t out_len;
    int w = 0, h = 0;
    char err[256];
    ck_assert_msg(render_thumb_make(t, b->p, b->n, &out, &out_len, &w, &h, err, sizeof err) == 0,
                  "%s", err);
    tj_img_t im = tj_decode(out, out_len);
    ck_assert_int_eq(im.w, w);
    ck_assert_int_eq(im.h, h);
    return im;
}

/* The area average of src to w x h, in floating point: pixel (x, y) is the
 * mean of the source rectangle [x, x+1) x [y, y+1) scaled by src/thumbnail. */
static double *box_ref(const fx_img_t *src, int w, int h)
{
    int nc = src->nc;
    double *out = calloc((size_t)w * (size_t)h * (size_t)nc, sizeof *out);
    ck_assert_ptr_nonnull(out);
    double fx = (double)src->w / w, fy = (double)src->h / h;
    for (int y = 0; y < h; y++) {
        double y0 = y * fy, y1 = (y + 1) * fy;
        for (int x = 0; x < w; x++) {
            double x0 = x * fx, x1 = (x + 1) * fx;
            double *o = out + ((size_t)y * (size_t)w + (size_t)x) * (size_t)nc;
            for (int sy = (int)y0; sy < src->h && sy < y1; sy++) {
                double wy = fmin(y1, sy + 1) - fmax(y0, sy);
                for (int sx = (int)x0; sx < src->w && sx < x1; sx++) {
                    double wx = fmin(x1, sx + 1) - fmax(x0, sx);
                    const unsigned char *p = src->px + ((size_t)sy * (size_t)src->w + (size_t)sx) *
                                                           (size_t)nc;
                    for (int c = 0; c < nc; c++) o[c] += wx * wy * p[c];
                }
            }
            for (int c = 0; c < nc; c++) o[c] /= fx * fy;
        }
    }
    return out;
}

typedef struct diff {
    double mean, max;
} diff_t;

/* Mean and largest absolute difference of a thumbnail from the reference,
 * over the columns x with skip(x) == 0 (skip NULL: every column). */
static diff_t compare(const tj_img_t *t, const double *ref, int (*skip)(int x))
{
    diff_t d = {0, 0};
    long n = 0;
    for (int y = 0; y < t->h; y++)
        for (int x = 0; x < t->w; x++) {
            if (skip != NULL && skip(x)) continue;
            for (int c = 0; c < t->nc; c++) {
                size_t i = ((size_t)y * (size_t)t->w + (size_t)x) * (size_t)t->nc + (size_t)c;
                double e = fabs(t->px[i] - ref[i]);
                d.mean += e;
                d.max = e > d.max ? e : d.max;
                n++;
            }
        }
    d.mean /= (double)n;
    return d;
}

/* w x h pixels of nc components, every one f(x, y, c). */
static unsigned char *picture(int w, int h, int nc, int (*f)(int x, int y, int c, int w))
{
    unsigned char *px = malloc((size_t)w * (size_t)h * (size_t)nc);
    ck_assert_ptr_nonnull(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++)
                px[((size_t)y * (size_t)w + (size_t)x) * (size_t)nc + (size_t)c] = (unsigned char)f(
                    x, y, c, w);
    return px;
}

static int gradient(int x, int y, int c, int w)
{
    (void)w;
    return (x * 3 + y * 5 + c * 70) & 255;
}

static buf_t encode(int w, int h, int nc, const fx_jpeg_spec_t *s)
{
    unsigned char *px = picture(w, h, nc, gradient);
    buf_t b = fx_jpeg_encode(px, (size_t)w * (size_t)nc, w, h, nc, s);
    free(px);
    return b;
}

/* ---- geometry ---- */

START_TEST(geometry_pure)
{
    static const struct {
        int w, h, size, tw, th;
    } cases[] = {
        {674, 518, 320, 320, 246}, /* 245.93 */
        {518, 674, 320, 246, 320}, /* portrait */
        {674, 480, 200, 200, 142}, /* 142.43 */
        {1000, 1000, 320, 320, 320},
        {640, 480, 320, 320, 240},
        {641, 3, 320, 320, 1}, /* 1.498: nearest */
        {640, 3, 320, 320, 2}, /* 1.5: halves up */
        {700, 1, 320, 320, 1}, /* 0.46: at least 1 px */
        {1, 65000, 320, 1, 320},
        {320, 100, 320, 320, 100}, /* the longer side is the size already */
        {200, 150, 320, 200, 150}, /* never upscaled */
        {1, 1, 16, 1, 1},
        {65500, 65500, 2048, 2048, 2048},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tw, th;
        render_thumb_geometry(cases[i].w, cases[i].h, cases[i].size, &tw, &th);
        ck_assert_msg(tw == cases[i].tw && th == cases[i].th, "%dx%d at %d: %dx%d, want %dx%d",
                      cases[i].w, cases[i].h, cases[i].size, tw, th, cases[i].tw, cases[i].th);
    }
}
END_TEST

START_TEST(scale_pure)
{
    ck_assert_int_eq(render_thumb_scale(674, 320), 4); /* 337 */
    ck_assert_int_eq(render_thumb_scale(640, 320), 4); /* exactly 320 */
    ck_assert_int_eq(render_thumb_scale(639, 320), 4); /* 319.5, rounded up to 320 */
    ck_assert_int_eq(render_thumb_scale(638, 320), 5); /* 4/8 gives 319 */
    ck_assert_int_eq(render_thumb_scale(2560, 320), 1);
    ck_assert_int_eq(render_thumb_scale(2553, 320), 1); /* 319.1 -> 320 */
    ck_assert_int_eq(render_thumb_scale(2552, 320), 2); /* 1/8 gives 319 */
    ck_assert_int_eq(render_thumb_scale(321, 320), 8);
    ck_assert_int_eq(render_thumb_scale(320, 320), 8);
    ck_assert_int_eq(render_thumb_scale(100, 320), 8);
    ck_assert_int_eq(render_thumb_scale(674, 200), 3); /* 252.75 -> 253 */
    /* the rule itself, everywhere: smallest M whose ceil(longest * M / 8) >= size */
    for (int longest = 1; longest < 3000; longest += 7)
        for (int size = 16; size <= 400; size += 31) {
            int m = render_thumb_scale(longest, size);
            if (longest <= size) {
                ck_assert_int_eq(m, 8);
                continue;
            }
            ck_assert_int_ge((longest * m + 7) / 8, size);
            if (m > 1) ck_assert_int_lt((longest * (m - 1) + 7) / 8, size);
        }
}
END_TEST

/* Real thumbnails of landscape, portrait, small and odd sizes, of every
 * JPEG flavour, at two sizes: TurboJPEG reads exactly the expected size,
 * baseline 4:2:0 (or gray). */
START_TEST(geometry_real)
{
    static const struct {
        int w, h;
    } sizes[] = {{674, 518}, {518, 674}, {641, 3}, {3, 641},   {100, 80},  {333, 517},
                 {1, 700},   {999, 17},  {321, 9}, {320, 240}, {2600, 40}, {17, 1}};
    static const fx_jpeg_spec_t specs[] = {
        {0},
        {.gray = 1},
        {.h0 = 1, .v0 = 1},
        {.h0 = 2, .v0 = 1},
        {.progressive = 1},
        {.cmyk = 1},
        {.ycck = 1, .cmyk = 1},
        {.arith = 1, .restart_rows = 1},
    };
    const int tsizes[] = {320, 200};
    for (size_t z = 0; z < 2; z++) {
        render_thumb_t *t = render_thumb_new(tsizes[z], 40000000);
        ck_assert_ptr_nonnull(t);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
                int nc = specs[k].gray ? 1 : 3;
                buf_t b = encode(sizes[i].w, sizes[i].h, nc, &specs[k]);
                tj_img_t im = thumb_of(t, &b);
                int tw, th;
                render_thumb_geometry(sizes[i].w, sizes[i].h, tsizes[z], &tw, &th);
                ck_assert_msg(im.w == tw && im.h == th, "%dx%d spec %zu at %d: %dx%d, want %dx%d",
                              sizes[i].w, sizes[i].h, k, tsizes[z], im.w, im.h, tw, th);
                int longest = im.w > im.h ? im.w : im.h;
                int src_longest = sizes[i].w > sizes[i].h ? sizes[i].w : sizes[i].h;
                ck_assert_int_eq(longest, src_longest < tsizes[z] ? src_longest : tsizes[z]);
                ck_assert_int_eq(im.subsamp, specs[k].gray ? TJSAMP_GRAY : TJSAMP_420);
                free(im.px);
                free(b.p);
            }
        render_thumb_free(t);
    }
}
END_TEST

/* The camera picture, captioned by render like in the service: landscape,
 * 674x480 + band, to 320 px. */
START_TEST(geometry_rendered)
{
    buf_t cam = fx_data_file("camera_674x480.jpg");
    render_opts_t o = fx_render_opts();
    render_ctx_t *rc = fx_render_ctx(&o);
    buf_t img;
    int w, h;
    char err[256];
    ck_assert_int_eq(render_caption(rc, cam.p, cam.n, fx_caption, strlen(fx_caption), &img.p,
                                    &img.n, &w, &h, err, sizeof err),
                     0);
    render_thumb_t *t = render_thumb_new(320, 40000000);
    tj_img_t im = thumb_of(t, &img);
    int tw, th;
    render_thumb_geometry(w, h, 320, &tw, &th);
    ck_assert_int_eq(im.w, 320);
    ck_assert_int_eq(im.h, th);
    ck_assert_int_eq(tw, 320);
    free(im.px);
    render_thumb_free(t);
    render_ctx_free(rc);
    free(img.p);
    free(cam.p);
}
END_TEST

/* ---- content ---- */

static int uniform(int x, int y, int c, int w)
{
    (void)x, (void)y, (void)w;
    static const int rgb[3] = {200, 40, 90};
    return rgb[c];
}

START_TEST(content_uniform)
{
    /* every scale, including the full-scale decode of a small picture */
    static const struct {
        int w, h;
    } sizes[] = {{700, 500}, {3000, 90}, {333, 517}, {200, 150}};
    render_thumb_t *t = render_thumb_new(320, 40000000);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int gray = 0; gray <= 1; gray++) {
            int nc = gray ? 1 : 3;
            unsigned char *px = picture(sizes[i].w, sizes[i].h, nc, uniform);
            fx_jpeg_spec_t s = {.gray = gray, .quality = 95};
            buf_t b = fx_jpeg_encode(px, (size_t)sizes[i].w * (size_t)nc, sizes[i].w, sizes[i].h,
                                     nc, &s);
            tj_img_t im = thumb_of(t, &b);
            ck_assert_int_eq(im.nc, nc);
            for (size_t p = 0; p < (size_t)im.w * (size_t)im.h; p++)
                for (int c = 0; c < nc; c++) {
                    int v = im.px[p * (size_t)nc + (size_t)c],
                        want = gray ? 200 : uniform(0, 0, c, 0);
                    ck_assert_msg(abs(v - want) <= 3, "%dx%d gray %d: pixel %zu channel %d = %d",
                                  sizes[i].w, sizes[i].h, gray, p, c, v);
                }
            free(im.px);
            free(b.p);
            free(px);
        }
    render_thumb_free(t);
}
END_TEST

/* Left part one colour, right part another, the edge off every block and
 * scale boundary: the thumbnail matches the area average of the decoded
 * source, so the edge is where it should be. */
#define EDGE_X 401
static int halves(int x, int y, int c, int w)
{
    (void)y, (void)w;
    static const int left[3] = {230, 30, 40}, right[3] = {20, 60, 210};
    return x < EDGE_X ? left[c] : right[c];
}

static int halves_gray(int x, int y, int c, int w)
{
    (void)y, (void)c, (void)w;
    return x < EDGE_X ? 20 : 235;
}

/* The thumbnail's 16-px MCU holding the edge rings (4:2:0, quality 80), and
 * 4:2:0 spreads colour over two columns at the edge, the decoder's
 * upsampling over one more. */
static int thumb_edge_x;
static int near_edge(int x) { return abs(x - thumb_edge_x) < 16; }

START_TEST(content_halves)
{
    const int w = 803, h = 450;
    render_thumb_t *t = render_thumb_new(320, 40000000);
    for (int gray = 0; gray <= 1; gray++) {
        int nc = gray ? 1 : 3;
        unsigned char *px = picture(w, h, nc, gray ? halves_gray : halves);
        fx_jpeg_spec_t s = {.gray = gray, .quality = 95, .h0 = 1, .v0 = 1};
        buf_t b = fx_jpeg_encode(px, (size_t)w * (size_t)nc, w, h, nc, &s);
        fx_img_t src = fx_jpeg_decode(&b, FX_DECODE_FANCY);
        tj_img_t im = thumb_of(t, &b);
        double *ref = box_ref(&src, im.w, im.h);
        thumb_edge_x = EDGE_X * im.w / w; /* 159 */
        diff_t all = compare(&im, ref, NULL), away = compare(&im, ref, near_edge);
        ck_assert_msg(away.max <= 4, "%s: max %.1f away from the edge", gray ? "gray" : "colour",
                      away.max);
        if (gray) {
            /* The edge is blurred a little (the scaled IDCT, quality 80) but
             * where it belongs: over the columns around it, the thumbnail has
             * as much light as the area average. A shift by 0.1 px would move
             * 21 levels across the edge. */
            double moved = 0;
            for (int y = 0; y < im.h; y++)
                for (int x = thumb_edge_x - 4; x <= thumb_edge_x + 4; x++) {
                    size_t q = (size_t)y * (size_t)im.w + (size_t)x;
                    moved += im.px[q] - ref[q];
                }
            moved /= im.h;
            ck_assert_msg(fabs(moved) <= 6, "gray: %.1f levels moved across the edge", moved);
            ck_assert_msg(all.max <= 30, "gray: max %.1f", all.max);
        }
        ck_assert_msg(all.mean <= 1.5, "mean %.2f", all.mean);
        free(ref);
        fx_img_free(&src);
        free(im.px);
        free(b.p);
        free(px);
    }
    render_thumb_free(t);
}
END_TEST

/* A real picture: close to the area average of its full decode everywhere. */
START_TEST(content_camera)
{
    buf_t cam = fx_data_file("camera_674x480.jpg");
    fx_img_t src = fx_jpeg_decode(&cam, FX_DECODE_FANCY);
    const int sizes[] = {320, 200, 100};
    const double limits[] = {2.5, 3.2, 4.2}; /* JPEG q80 loses more of a smaller picture */
    for (size_t z = 0; z < 3; z++) {
        render_thumb_t *t = render_thumb_new(sizes[z], 40000000);
        tj_img_t im = thumb_of(t, &cam);
        double *ref = box_ref(&src, im.w, im.h);
        diff_t d = compare(&im, ref, NULL);
        ck_assert_msg(d.mean <= limits[z], "at %d: mean %.2f", sizes[z], d.mean);
        /* and shifted by one pixel, it would not be */
        tj_img_t shifted = im;
        shifted.px = im.px + 3;
        shifted.w = im.w;
        shifted.h = im.h - 1;
        diff_t s = compare(&shifted, ref, NULL);
        ck_assert_msg(s.mean > d.mean * 1.5, "at %d: shifted %.2f vs %.2f", sizes[z], s.mean,
                      d.mean);
        free(ref);
        free(im.px);
        render_thumb_free(t);
    }
    fx_img_free(&src);
    free(cam.p);
}
END_TEST

/* An RGB ICC profile stays with a colour thumbnail; a gray one with a gray
 * thumbnail. */
START_TEST(icc_kept)
{
    render_thumb_t *t = render_thumb_new(64, 40000000);
    const unsigned char *out;
    size_t out_len;
    int w, h;
    char err[256];
    for (int gray = 0; gray <= 1; gray++) {
        fx_jpeg_spec_t s = {.gray = gray, .icc_space = gray ? "GRAY" : "RGB "};
        buf_t b = encode(200, 100, gray ? 1 : 3, &s);
        ck_assert_int_eq(render_thumb_make(t, b.p, b.n, &out, &out_len, &w, &h, err, sizeof err),
                         0);
        buf_t o = {(unsigned char *)out, out_len};
        fx_img_t im = fx_jpeg_decode(&o, 0);
        ck_assert_int_eq(im.icc_chunks, 1);
        ck_assert_int_eq(im.w, 64);
        fx_img_free(&im);
        free(b.p);
    }
    render_thumb_free(t);
}
END_TEST

/* A context reused for other sizes and kinds of source (its buffers and
 * column plans kept between calls) gives the same thumbnail as a new one. */
START_TEST(reuse_same_bytes)
{
    buf_t cam = fx_data_file("camera_674x480.jpg");
    render_thumb_t *fresh = render_thumb_new(200, 40000000), *t = render_thumb_new(200, 40000000);
    const unsigned char *out;
    size_t out_len, first_len;
    int w, h;
    char err[256];
    ck_assert_int_eq(
        render_thumb_make(fresh, cam.p, cam.n, &out, &out_len, &w, &h, err, sizeof err), 0);
    unsigned char *first = malloc(out_len);
    memcpy(first, out, out_len);
    first_len = out_len;
    static const fx_jpeg_spec_t specs[] = {{0}, {.gray = 1}, {.cmyk = 1}, {.h0 = 1, .v0 = 1}};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        buf_t b = encode(333 + (int)k * 50, 517 - (int)k * 90, specs[k].gray ? 1 : 3, &specs[k]);
        ck_assert_int_eq(render_thumb_make(t, b.p, b.n, &out, &out_len, &w, &h, err, sizeof err),
                         0);
        free(b.p);
        ck_assert_int_eq(
            render_thumb_make(t, cam.p, cam.n, &out, &out_len, &w, &h, err, sizeof err), 0);
        ck_assert_msg(out_len == first_len && memcmp(out, first, out_len) == 0,
                      "after spec %zu: %zu bytes, %zu fresh", k, out_len, first_len);
    }
    free(first);
    render_thumb_free(t);
    render_thumb_free(fresh);
    free(cam.p);
}
END_TEST

/* A spliced output (render's DRI and single RST0) is decoded as its picture
 * and its band apart, on libjpeg's fast Huffman path (thumb.c, the split
 * decode); the same bytes with one byte after EOI do not qualify (EOI must
 * end the data) and take the one decode. Both give the same thumbnail, for
 * 4:2:0, 4:4:4 and grayscale sources and sizes that decode at 4/8, 2/8 and
 * 1/8. */
START_TEST(split_same_bytes)
{
    static const char *files[] = {"camera_674x480.jpg", "camera_674x480_444.jpg",
                                  "camera_674x480_gray.jpg"};
    static const int sizes[] = {320, 160, 80};
    render_opts_t o = fx_render_opts();
    render_ctx_t *rc = fx_render_ctx(&o);
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        buf_t cam = fx_data_file(files[f]);
        buf_t img;
        int w, h;
        char err[256];
        ck_assert_int_eq(render_caption(rc, cam.p, cam.n, fx_caption, strlen(fx_caption), &img.p,
                                        &img.n, &w, &h, err, sizeof err),
                         0);
        ck_assert_str_eq(render_last_path(rc), "lossless");
        /* the splice's DRI: the test is about images that have one */
        int has_dri = 0;
        for (size_t i = 0; i + 1 < img.n && !has_dri; i++)
            has_dri = img.p[i] == 0xFF && img.p[i + 1] == 0xDD;
        ck_assert_msg(has_dri, "%s: no DRI in the spliced output", files[f]);
        buf_t tail = {malloc(img.n + 1), img.n + 1};
        ck_assert_ptr_nonnull(tail.p);
        memcpy(tail.p, img.p, img.n);
        tail.p[img.n] = 0;
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            render_thumb_t *t = render_thumb_new(sizes[k], 40000000);
            const unsigned char *out;
            size_t n1, n2;
            int tw, th;
            ck_assert_int_eq(
                render_thumb_make(t, img.p, img.n, &out, &n1, &tw, &th, err, sizeof err), 0);
            unsigned char *split = malloc(n1);
            ck_assert_ptr_nonnull(split);
            memcpy(split, out, n1);
            ck_assert_int_eq(
                render_thumb_make(t, tail.p, tail.n, &out, &n2, &tw, &th, err, sizeof err), 0);
            ck_assert_msg(n1 == n2 && memcmp(split, out, n1) == 0,
                          "%s at %d: split %zu bytes, one decode %zu", files[f], sizes[k], n1, n2);
            free(split);
            render_thumb_free(t);
        }
        free(tail.p);
        free(img.p);
        free(cam.p);
    }
    render_ctx_free(rc);
}
END_TEST

/* ---- failures ---- */

START_TEST(corrupt_inputs)
{
    render_thumb_t *t = render_thumb_new(320, 40000000);
    buf_t cam = fx_data_file("camera_674x480.jpg");
    buf_t trunc = fx_data_file("truncated.jpg");
    buf_t notj = fx_data_file("not_a_jpeg.jpg");
    unsigned char *garbled = malloc(cam.n);
    memcpy(garbled, cam.p, cam.n);
    for (size_t i = cam.n / 3; i < cam.n - 2; i += 97) garbled[i] ^= 0x5a;
    const struct {
        const unsigned char *p;
        size_t n;
        const char *why;
    } bad[] = {
        {cam.p, cam.n / 2, "Premature end"}, {cam.p, 300, NULL},     {trunc.p, trunc.n, NULL},
        {notj.p, notj.n, "Not a JPEG"},      {garbled, cam.n, NULL}, {cam.p, 0, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const unsigned char *out = (const unsigned char *)"x";
        size_t out_len = 1;
        int w, h;
        char err[256] = "";
        ck_assert_int_eq(
            render_thumb_make(t, bad[i].p, bad[i].n, &out, &out_len, &w, &h, err, sizeof err), -1);
        ck_assert_ptr_null(out);
        ck_assert_msg(err[0] != 0, "case %zu: no reason", i);
        if (bad[i].why != NULL)
            ck_assert_msg(strstr(err, bad[i].why) != NULL, "case %zu: %s", i, err);
        /* the context is whole again after a failure */
        tj_img_t im = thumb_of(t, &cam);
        ck_assert_int_eq(im.w, 320);
        ck_assert_int_eq(im.h, 228);
        free(im.px);
    }
    free(garbled);
    free(notj.p);
    free(trunc.p);
    free(cam.p);
    render_thumb_free(t);
}
END_TEST

START_TEST(over_max_pixels)
{
    render_thumb_t *t = render_thumb_new(320, 674 * 480 - 1);
    buf_t cam = fx_data_file("camera_674x480.jpg");
    const unsigned char *out;
    size_t out_len;
    int w, h;
    char err[256];
    ck_assert_int_eq(render_thumb_make(t, cam.p, cam.n, &out, &out_len, &w, &h, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "MAX_PIXELS") != NULL, "%s", err);
    ck_assert_ptr_null(render_thumb_new(0, 1000));
    free(cam.p);
    render_thumb_free(t);
}
END_TEST

Suite *render_thumb_suite(void)
{
    Suite *s = suite_create("render_thumb");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, geometry_pure);
    tcase_add_test(tc, scale_pure);
    tcase_add_test(tc, geometry_real);
    tcase_add_test(tc, geometry_rendered);
    tcase_add_test(tc, content_uniform);
    tcase_add_test(tc, content_halves);
    tcase_add_test(tc, content_camera);
    tcase_add_test(tc, icc_kept);
    tcase_add_test(tc, reuse_same_bytes);
    tcase_add_test(tc, split_same_bytes);
    tcase_add_test(tc, corrupt_inputs);
    tcase_add_test(tc, over_max_pixels);
    suite_add_tcase(s, tc);
    return s;
}
