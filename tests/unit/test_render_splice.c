/* The entropy splice (services/render/splice.c) through render_caption().
 *
 * Every input is rendered twice: by a ctx that may splice and by one that
 * always copies coefficients (render_opts_t.no_splice). When the splice is
 * taken, its output must decode without any libjpeg warning, be taller by
 * the band, keep the source's picture rows bit-exact (decoded without fancy
 * upsampling), keep the source's markers and tables, and
 * carry exactly the coefficient route's DCT coefficients in every block a
 * decoder shows: so its band is the same band, pixel for pixel, whatever the
 * decoder. When it is not taken, the output is byte for byte the coefficient
 * route's (or the re-encode's). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/render.h"
#include "render/splice.h"
#include "unit_util.h"

/* Decodes to RGB or gray, strictly (a libjpeg warning fails the test);
 * fancy = libjpeg's default chroma upsampling. */
static fx_img_t decode(const buf_t *b, int fancy)
{
    return fx_jpeg_decode(b, fancy ? FX_DECODE_FANCY : 0);
}

/* The DCT coefficients a decoder shows (blocks inside each component's
 * width_in_blocks x height_in_blocks; the padding blocks of partial MCUs are
 * never displayed), the tables and the APPn/COM markers of a JPEG. */
typedef struct coefs {
    int nc, wib[MAX_COMPONENTS], hib[MAX_COMPONENTS], hs[MAX_COMPONENTS], vs[MAX_COMPONENTS];
    JBLOCK *blocks[MAX_COMPONENTS];
    UINT16 quant[MAX_COMPONENTS][DCTSIZE2];
    JHUFF_TBL dc[NUM_HUFF_TBLS], ac[NUM_HUFF_TBLS];
    int has_dc[NUM_HUFF_TBLS], has_ac[NUM_HUFF_TBLS];
    J_COLOR_SPACE jcs;
    unsigned width, height, restart_interval;
    size_t nmarkers;
    struct {
        int code;
        unsigned len;
        unsigned char *data;
    } markers[32];
} coefs_t;

static void coefs_read(const buf_t *b, coefs_t *c)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    memset(c, 0, sizeof *c);
    fx_jpeg_strict(&e);
    d.err = &e;
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->p, (unsigned long)b->n);
    for (int m = 0; m < 16; m++) jpeg_save_markers(&d, JPEG_APP0 + m, 0xFFFF);
    jpeg_save_markers(&d, JPEG_COM, 0xFFFF);
    jpeg_read_header(&d, TRUE);
    /* the tables as the header defines them (the decoder fills in missing
     * ones with the standard tables once it starts) */
    for (int t = 0; t < NUM_HUFF_TBLS; t++) {
        if ((c->has_dc[t] = d.dc_huff_tbl_ptrs[t] != NULL)) c->dc[t] = *d.dc_huff_tbl_ptrs[t];
        if ((c->has_ac[t] = d.ac_huff_tbl_ptrs[t] != NULL)) c->ac[t] = *d.ac_huff_tbl_ptrs[t];
    }
    jvirt_barray_ptr *arr = jpeg_read_coefficients(&d);
    c->nc = d.num_components;
    c->jcs = d.jpeg_color_space;
    c->width = d.image_width;
    c->height = d.image_height;
    c->restart_interval = d.restart_interval;
    for (int ci = 0; ci < c->nc; ci++) {
        jpeg_component_info *comp = &d.comp_info[ci];
        c->wib[ci] = (int)comp->width_in_blocks;
        c->hib[ci] = (int)comp->height_in_blocks;
        c->hs[ci] = comp->h_samp_factor;
        c->vs[ci] = comp->v_samp_factor;
        memcpy(c->quant[ci], comp->quant_table->quantval, sizeof c->quant[ci]);
        c->blocks[ci] = malloc((size_t)c->wib[ci] * (size_t)c->hib[ci] * sizeof(JBLOCK));
        for (int r = 0; r < c->hib[ci]; r++) {
            JBLOCKARRAY row = d.mem->access_virt_barray((j_common_ptr)&d, arr[ci], (JDIMENSION)r, 1,
                                                        FALSE);
            memcpy(c->blocks[ci] + (size_t)r * (size_t)c->wib[ci], row[0],
                   (size_t)c->wib[ci] * sizeof(JBLOCK));
        }
    }
    for (jpeg_saved_marker_ptr m = d.marker_list; m != NULL && c->nmarkers < 32; m = m->next) {
        c->markers[c->nmarkers].code = m->marker;
        c->markers[c->nmarkers].len = m->data_length;
        c->markers[c->nmarkers].data = malloc(m->data_length + 1);
        memcpy(c->markers[c->nmarkers].data, m->data, m->data_length);
        c->nmarkers++;
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
}

static void coefs_free(coefs_t *c)
{
    for (int ci = 0; ci < c->nc; ci++) free(c->blocks[ci]);
    for (size_t i = 0; i < c->nmarkers; i++) free(c->markers[i].data);
}

/* c's blocks as a band (band.h): rows padded to whole MCUs with zero blocks.
 * The caller frees it with render_band_free(). */
static void band_of(const coefs_t *c, render_band_t *b)
{
    memset(b, 0, sizeof *b);
    b->height = (int)c->height;
    b->ncomp = c->nc;
    for (int ci = 0; ci < c->nc; ci++) {
        b->height_in_blocks[ci] = c->hib[ci];
        b->stride[ci] = (c->wib[ci] + c->hs[ci] - 1) / c->hs[ci] * c->hs[ci];
        b->rows[ci] = (c->hib[ci] + c->vs[ci] - 1) / c->vs[ci] * c->vs[ci];
        b->cap[ci] = (size_t)b->stride[ci] * (size_t)b->rows[ci];
        b->blocks[ci] = calloc(b->cap[ci], sizeof(JBLOCK));
        ck_assert_ptr_nonnull(b->blocks[ci]);
        for (int r = 0; r < c->hib[ci]; r++)
            memcpy(render_band_row(b, ci, r), c->blocks[ci] + (size_t)r * (size_t)c->wib[ci],
                   (size_t)c->wib[ci] * sizeof(JBLOCK));
    }
}

/* Block rows [0, rows) of every component (rows in units of MCU rows of
 * the frame: mcu_rows * v_samp_factor block rows) are equal; rows < 0: all. */
static void same_blocks(const coefs_t *a, const coefs_t *b, int mcu_rows, const char *what)
{
    ck_assert_int_eq(a->nc, b->nc);
    for (int ci = 0; ci < a->nc; ci++) {
        ck_assert_int_eq(a->wib[ci], b->wib[ci]);
        int rows = mcu_rows < 0 ? a->hib[ci] : mcu_rows * a->vs[ci];
        ck_assert_int_le(rows, a->hib[ci]);
        ck_assert_int_le(rows, b->hib[ci]);
        size_t n = (size_t)rows * (size_t)a->wib[ci] * sizeof(JBLOCK);
        ck_assert_msg(memcmp(a->blocks[ci], b->blocks[ci], n) == 0,
                      "%s: component %d has different coefficients", what, ci);
    }
}

static void same_huff(const JHUFF_TBL *a, const JHUFF_TBL *b)
{
    ck_assert(memcmp(a->bits, b->bits, sizeof a->bits) == 0);
    int n = 0;
    for (int l = 1; l <= 16; l++) n += a->bits[l];
    ck_assert(memcmp(a->huffval, b->huffval, (size_t)n) == 0);
}

/* ---- inputs ---- */

typedef struct spec {
    int w, h;         /* cut from (or tiled with) the camera picture */
    int gray, h0, v0; /* h0/v0: luma sampling, 0 = 2x2 */
    int quality;      /* 0 = 85 */
    int restart_mcus, restart_rows;
    int optimize, progressive, arith;
    int flat;   /* a uniform grey picture instead of the camera's */
    int blocky; /* grey 8x8 blocks of random levels: every DC
                   difference, no AC coefficient */
} spec_t;

/* The camera picture tiled to s->w x s->h (or a flat or blocky pattern),
 * with a COM marker the splice must keep. */
static buf_t encode(const fx_img_t *cam, const spec_t *s)
{
    unsigned char *px = malloc((size_t)s->w * (size_t)s->h * 3);
    ck_assert_ptr_nonnull(px);
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            unsigned char *q = px + ((size_t)y * (size_t)s->w + (size_t)x) * 3;
            int cy = y % cam->h;
            if (s->flat || s->blocky) {
                unsigned v = s->flat ? 128
                                     : ((unsigned)(x / 8) * 2654435761u ^
                                        (unsigned)(cy / 8) * 40503u) >>
                                           24;
                memset(q, (int)v, 3);
            } else {
                memcpy(q, cam->px + ((size_t)cy * (size_t)cam->w + (size_t)(x % cam->w)) * 3, 3);
            }
        }
    fx_jpeg_spec_t j = {.gray = s->gray,
                        .h0 = s->h0,
                        .v0 = s->v0,
                        .quality = s->quality,
                        .restart_mcus = s->restart_mcus,
                        .restart_rows = s->restart_rows,
                        .optimize = s->optimize,
                        .progressive = s->progressive,
                        .arith = s->arith,
                        .comment = "a comment the splice keeps"};
    buf_t b = fx_jpeg_encode(px, (size_t)s->w * 3, s->w, s->h, 3, &j);
    free(px);
    return b;
}

/* ---- the check ---- */

/* zigzag position -> natural index */
static int zz_natural(int k)
{
    /* clang-format off */
    static const unsigned char zz[64] = {
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};
    /* clang-format on */
    return zz[k];
}

static render_ctx_t *ctx_new(int no_splice)
{
    render_opts_t o = fx_render_opts();
    o.no_splice = no_splice;
    return fx_render_ctx(&o);
}

typedef struct out {
    buf_t b;
    int w, h, spliced;
    char path[16];
} out_t;

static int render(render_ctx_t *ctx, const buf_t *in, const char *text, out_t *o, char *err,
                  size_t errlen)
{
    memset(o, 0, sizeof *o);
    int rc = render_caption(ctx, in->p, in->n, text, strlen(text), &o->b.p, &o->b.n, &o->w, &o->h,
                            err, errlen);
    if (rc == 0) {
        o->spliced = render_last_spliced(ctx);
        snprintf(o->path, sizeof o->path, "%s", render_last_path(ctx));
    }
    return rc;
}

static void render_ok(render_ctx_t *ctx, const buf_t *in, const char *text, out_t *o)
{
    char err[512];
    ck_assert_msg(render(ctx, in, text, o, err, sizeof err) == 0, "%s", err);
}

/* render_splice_check_scan() on in's header. */
static int scan_proven(const buf_t *in, const render_splice_src_t *sp, char *why, size_t whylen)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_jpeg_read_header(&d, &e, in);
    int ok = render_splice_check_scan(in->p, sp, &d, NULL, why, whylen) == 0;
    jpeg_destroy_decompress(&d);
    return ok;
}

/* Renders in both ways; asserts everything the header comment promises.
 * Returns whether the splice was taken. */
static int check_route(const buf_t *in, const char *text, int expect)
{
    render_ctx_t *sx = ctx_new(0), *cx = ctx_new(1);
    out_t s, c;
    render_ok(sx, in, text, &s);
    render_ok(cx, in, text, &c);
    ck_assert_int_eq(c.spliced, 0);
    ck_assert_str_eq(s.path, c.path);
    if (expect >= 0)
        ck_assert_msg(s.spliced == expect, "spliced %d, expected %d", s.spliced, expect);
    if (!s.spliced) {
        ck_assert_uint_eq(s.b.n, c.b.n);
        ck_assert(memcmp(s.b.p, c.b.p, s.b.n) == 0);
    } else {
        ck_assert_str_eq(s.path, "lossless");
        coefs_t src, sc, cc;
        coefs_read(in, &src);
        coefs_read(&s.b, &sc);
        coefs_read(&c.b, &cc);
        const layout_t *lo;
        char err[256];
        ck_assert_int_eq(
            render_layout_jpeg(sx, in->p, in->n, text, strlen(text), &lo, err, sizeof err), 0);
        /* geometry */
        ck_assert_uint_eq(sc.width, src.width);
        ck_assert_uint_eq(sc.height, src.height + (unsigned)lo->band_height);
        ck_assert_int_eq(s.w, (int)sc.width);
        ck_assert_int_eq(s.h, (int)sc.height);
        ck_assert_int_eq(s.w, c.w);
        ck_assert_int_eq(s.h, c.h);
        ck_assert_int_eq(sc.jcs, src.jcs);
        for (int ci = 0; ci < src.nc; ci++) {
            ck_assert_int_eq(sc.hs[ci], src.hs[ci]);
            ck_assert_int_eq(sc.vs[ci], src.vs[ci]);
            ck_assert(memcmp(sc.quant[ci], src.quant[ci], sizeof sc.quant[ci]) == 0);
        }
        /* the source's markers and Huffman tables, unchanged and in order */
        ck_assert_uint_eq(sc.nmarkers, src.nmarkers);
        for (size_t i = 0; i < src.nmarkers; i++) {
            ck_assert_int_eq(sc.markers[i].code, src.markers[i].code);
            ck_assert_uint_eq(sc.markers[i].len, src.markers[i].len);
            ck_assert(memcmp(sc.markers[i].data, src.markers[i].data, src.markers[i].len) == 0);
        }
        for (int t = 0; t < NUM_HUFF_TBLS; t++) {
            ck_assert_int_eq(sc.has_dc[t], src.has_dc[t]);
            ck_assert_int_eq(sc.has_ac[t], src.has_ac[t]);
            if (src.has_dc[t]) same_huff(&sc.dc[t], &src.dc[t]);
            if (src.has_ac[t]) same_huff(&sc.ac[t], &src.ac[t]);
        }
        /* the picture's scan bytes, verbatim; sound data is proven so
         * without libjpeg */
        render_splice_src_t sp;
        ck_assert_int_eq(render_splice_parse(in->p, in->n, &sp, err, sizeof err), 0);
        ck_assert_msg(scan_proven(in, &sp, err, sizeof err), "%s", err);
        ck_assert_ptr_nonnull(memmem(s.b.p, s.b.n, in->p + sp.sos, sp.scan_end - sp.sos));
        /* picture blocks = the source's, every shown block = the
         * coefficient route's */
        same_blocks(&src, &sc, -1, "picture");
        same_blocks(&cc, &sc, -1, "output");
        /* and in pixels: the picture's rows bit-exact without fancy
         * upsampling; the whole image equal to the coefficient route's
         * with it */
        fx_img_t a = decode(in, 0), b = decode(&s.b, 0);
        ck_assert_int_eq(b.w, a.w);
        ck_assert_int_eq(b.h, s.h);
        ck_assert(memcmp(a.px, b.px, (size_t)a.w * (size_t)a.h * (size_t)a.nc) == 0);
        free(a.px);
        free(b.px);
        a = decode(&c.b, 1);
        b = decode(&s.b, 1);
        ck_assert(memcmp(a.px, b.px, (size_t)a.w * (size_t)a.h * (size_t)a.nc) == 0);
        /* a band, not garbage: mostly black, some white */
        long white = 0, black = 0, n = 0;
        for (size_t i = (size_t)src.height * (size_t)b.w * (size_t)b.nc;
             i < (size_t)b.w * (size_t)b.h * (size_t)b.nc; i++, n++) {
            white += b.px[i] > 200;
            black += b.px[i] < 24;
        }
        ck_assert_msg(white > 0 && black > n / 2, "band: %ld white, %ld black of %ld", white, black,
                      n);
        free(a.px);
        free(b.px);
        coefs_free(&src);
        coefs_free(&sc);
        coefs_free(&cc);
    }
    int spliced = s.spliced;
    free(s.b.p);
    free(c.b.p);
    render_ctx_free(sx);
    render_ctx_free(cx);
    return spliced;
}

/* ---- tests ---- */

START_TEST(corpus_spliced)
{
    const char *files[] = {"camera_674x480.jpg", "camera_674x480_444.jpg",
                           "camera_674x480_gray.jpg", "synthetic_640x480.jpg"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        buf_t in = fx_data_file(files[i]);
        check_route(&in, fx_caption, 1);
        free(in.p);
    }
}
END_TEST

START_TEST(variants_spliced)
{
    fx_img_t cam = fx_camera(FX_DECODE_FANCY);
    const spec_t specs[] = {
        {.w = 674, .h = 480, .h0 = 2, .v0 = 1}, /* 4:2:2 */
        {.w = 674, .h = 480, .h0 = 4, .v0 = 1}, /* 4:1:1 */
        {.w = 674, .h = 480, .h0 = 1, .v0 = 1, .quality = 100},
        {.w = 674, .h = 480, .quality = 30},
        {.w = 674, .h = 480, .gray = 1},
        {.w = 641, .h = 464},                                /* partial MCU column */
        {.w = 674, .h = 480, .restart_rows = 1},             /* DRI of 43 MCUs, kept */
        {.w = 674, .h = 480, .restart_mcus = 5},             /* 1290 MCUs = 258 x 5 */
        {.w = 674, .h = 480, .gray = 1, .restart_mcus = 17}, /* 85 x 60 = 300 x 17 */
        {.w = 2048, .h = 2040, .h0 = 1, .v0 = 1},            /* 65280 MCUs: DRI fits */
        {.w = 2048, .h = 2048, .h0 = 1, .v0 = 1, .restart_rows = 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        buf_t in = encode(&cam, &specs[i]);
        check_route(&in, fx_caption, 1);
        free(in.p);
    }
    /* band far taller than the picture (one MCU): an RST after every band
     * MCU, the numbers wrapping around 0..7 many times */
    spec_t tiny = {.w = 16, .h = 16};
    buf_t in = encode(&cam, &tiny);
    check_route(&in, "a b c d e f g h i j k l m n o p q r s t u v w x y z", 1);
    free(in.p);
    /* narrow, one glyph per line */
    spec_t narrow = {.w = 8, .h = 608};
    in = encode(&cam, &narrow);
    check_route(&in, "ab", 1);
    free(in.p);
    free(cam.px);
}
END_TEST

START_TEST(not_spliced)
{
    fx_img_t cam = fx_camera(FX_DECODE_FANCY);
    const spec_t specs[] = {
        {.w = 674, .h = 480, .progressive = 1},
        {.w = 674, .h = 480, .arith = 1},
        {.w = 674, .h = 480, .restart_mcus = 7},  /* 1290 MCUs: not whole intervals */
        {.w = 674, .h = 479},                     /* not whole MCU rows: re-encoded */
        {.w = 2048, .h = 2048, .h0 = 1, .v0 = 1}, /* 65536 MCUs: no DRI can hold it */
        /* a flat picture's optimized tables lack most of the band's symbols */
        {.w = 674, .h = 480, .optimize = 1, .flat = 1},
        {.w = 674, .h = 480, .gray = 1, .optimize = 1, .flat = 1},
        /* tables that code every DC difference but only EOB of AC */
        {.w = 672, .h = 480, .optimize = 1, .blocky = 1},
        {.w = 672, .h = 480, .gray = 1, .optimize = 1, .blocky = 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        buf_t in = encode(&cam, &specs[i]);
        check_route(&in, fx_caption, 0);
        free(in.p);
    }
    buf_t in = fx_data_file("camera_640x480_progressive.jpg");
    check_route(&in, fx_caption, 0);
    free(in.p);
    free(cam.px);
}
END_TEST

/* Optimized tables of a real picture: spliced or not, always correct. */
START_TEST(optimized_tables)
{
    fx_img_t cam = fx_camera(FX_DECODE_FANCY);
    spec_t specs[] = {{.w = 674, .h = 480, .optimize = 1},
                      {.w = 674, .h = 480, .optimize = 1, .quality = 95},
                      {.w = 674, .h = 480, .optimize = 1, .gray = 1}};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        buf_t in = encode(&cam, &specs[i]);
        check_route(&in, fx_caption, -1);
        free(in.p);
    }
    free(cam.px);
}
END_TEST

/* A 256x64 grayscale JPEG written from coefficients chosen here, with
 * optimized Huffman tables: they hold exactly the symbols used, so each
 * variant lacks one kind of symbol a caption band needs. */
enum { SYN_DC_SMALL, SYN_AC_SIZE1, SYN_NO_ZRL, SYN_NO_EOB, SYN_ALL };

static buf_t synth_tables(int kind)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long out_len = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &out_len);
    c.image_width = 256;
    c.image_height = 64;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    c.optimize_coding = TRUE;
    jvirt_barray_ptr arr[1];
    arr[0] = c.mem->request_virt_barray((j_common_ptr)&c, JPOOL_IMAGE, TRUE, 32, 8, 1);
    jpeg_write_coefficients(&c, arr);
    /* (run, size) pairs in turn over all blocks: run 0..15 (0..14 without
     * ZRL), size 1..10 (1 only for SYN_AC_SIZE1) */
    int run = 0, size = 1, dc = 0;
    for (int r = 0; r < 8; r++) {
        JBLOCKARRAY row = c.mem->access_virt_barray((j_common_ptr)&c, arr[0], (JDIMENSION)r, 1,
                                                    TRUE);
        for (int x = 0; x < 32; x++) {
            JCOEF *b = row[0][x];
            memset(b, 0, sizeof(JBLOCK));
            int n = r * 32 + x;
            /* DC differences of every size 0..11, or of sizes 0 and 1 only */
            int cat = kind == SYN_DC_SMALL ? n % 2 : n % 12;
            int step = cat ? 1 << (cat - 1) : 0;
            dc += dc > 0 ? -step : step;
            b[0] = (JCOEF)dc;
            int k = 1;
            if (kind == SYN_NO_ZRL || kind == SYN_NO_EOB || kind == SYN_DC_SMALL ||
                kind == SYN_ALL || kind == SYN_AC_SIZE1) {
                while (k + run < 64) {
                    k += run;
                    b[zz_natural(k)] = (JCOEF)(1 << (size - 1));
                    k++;
                    size = kind == SYN_AC_SIZE1 ? 1 : size % 10 + 1;
                    if (size == 1) run = (run + 1) % (kind == SYN_NO_ZRL ? 15 : 16);
                }
            }
            if (kind != SYN_NO_ZRL && n % 7 == 0) { /* a run of 20 zeros: ZRL */
                memset(b + 1, 0, sizeof(JBLOCK) - sizeof(JCOEF));
                b[zz_natural(21)] = 1;
            }
            if (kind == SYN_NO_EOB) b[63] = 1; /* zigzag 63 is natural 63 */
        }
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf_t b = {out, out_len};
    return b;
}

/* Builds in[0..at) + ins + in[at..) */
static buf_t splice_bytes(const buf_t *in, size_t at, const char *ins, size_t n)
{
    buf_t b = {malloc(in->n + n), in->n + n};
    memcpy(b.p, in->p, at);
    memcpy(b.p + at, ins, n);
    memcpy(b.p + at + n, in->p + at, in->n - at);
    return b;
}

START_TEST(odd_scan_data)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    render_splice_src_t sp;
    char err[512];
    ck_assert_int_eq(render_splice_parse(in.p, in.n, &sp, err, sizeof err), 0);
    ck_assert_uint_eq(sp.restarts, 0);
    /* fill bytes before EOI are legal and not copied */
    buf_t b = splice_bytes(&in, sp.scan_end, "\xff\xff\xff", 3);
    ck_assert_int_eq(render_splice_parse(b.p, b.n, &sp, err, sizeof err), 0);
    ck_assert_uint_eq(sp.scan_end, in.n - 2);
    check_route(&b, fx_caption, 1);
    free(b.p);
    /* stray bytes before EOI: libjpeg at most warns (render.c lets that
     * pass), but the splice would put them in front of its RST, where they
     * are extraneous data: the coefficient copy runs instead */
    b = splice_bytes(&in, sp.scan_end, "0123456789abcdef0123456789abcdef", 32);
    check_route(&b, fx_caption, 0);
    free(b.p);
    b = splice_bytes(&in, sp.scan_end, "\x12\x34", 2);
    check_route(&b, fx_caption, 0);
    free(b.p);
    /* a COM after the scan: not copied by this route */
    b = splice_bytes(&in, sp.scan_end, "\xff\xfe\x00\x04hi", 6);
    ck_assert_int_eq(render_splice_parse(b.p, b.n, &sp, err, sizeof err), -1);
    check_route(&b, fx_caption, 0);
    free(b.p);
    /* an RST marker in the data of a scan without restart interval, before
     * the last MCU's bits: fails as on the coefficient route */
    b = splice_bytes(&in, in.n - 10, "\xff\xd0", 2);
    render_ctx_t *sx = ctx_new(0), *cx = ctx_new(1);
    out_t o;
    ck_assert_int_eq(render(sx, &b, fx_caption, &o, err, sizeof err), -1);
    ck_assert_int_eq(render(cx, &b, fx_caption, &o, err, sizeof err), -1);
    free(b.p);
    /* an EOI in the middle of the scan: parse ends the data there, the read
     * of the picture finds it short */
    b = splice_bytes(&in, in.n / 2, "\xff\xd9", 2);
    ck_assert_int_eq(render(sx, &b, fx_caption, &o, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "JPEG"));
    ck_assert_int_eq(render(cx, &b, fx_caption, &o, err, sizeof err), -1);
    free(b.p);
    /* no scan data at all (SOS, then EOI): refused without touching the
     * empty scan buffer (a null pointer plus zero, undefined behaviour) */
    ck_assert_int_eq(render_splice_parse(in.p, in.n, &sp, err, sizeof err), 0);
    buf_t empty = {malloc(sp.data + 2), sp.data + 2};
    memcpy(empty.p, in.p, sp.data);
    memcpy(empty.p + sp.data, "\xff\xd9", 2);
    ck_assert_int_eq(render_splice_parse(empty.p, empty.n, &sp, err, sizeof err), 0);
    ck_assert_uint_eq(sp.scan_end, sp.data);
    ck_assert_int_eq(scan_proven(&empty, &sp, err, sizeof err), 0);
    free(empty.p);
    /* truncated: no EOI at all */
    buf_t cut = {in.p, in.n - 100};
    ck_assert_int_eq(render_splice_parse(cut.p, cut.n, &sp, err, sizeof err), -1);
    ck_assert_int_eq(render(sx, &cut, fx_caption, &o, err, sizeof err), -1);
    render_ctx_free(sx);
    render_ctx_free(cx);
    free(in.p);
}
END_TEST

/* Corrupt picture data behind an intact EOI: the splice never decodes it
 * for the output, but the job must still fail as on the coefficient route. */
START_TEST(corrupt_scan_data)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    render_ctx_t *sx = ctx_new(0), *cx = ctx_new(1);
    int failed = 0;
    for (unsigned seed = 1; seed <= 8; seed++) {
        buf_t b = {malloc(in.n), in.n};
        memcpy(b.p, in.p, in.n);
        for (size_t i = in.n / 3 + seed * 997; i < in.n / 3 + seed * 997 + 64; i++)
            b.p[i] = (unsigned char)(i * 37 * seed) == 0xFF ? 0 : (unsigned char)(i * 37 * seed);
        out_t s, c;
        char es[512], ec[512];
        int rs = render(sx, &b, fx_caption, &s, es, sizeof es);
        int rcx = render(cx, &b, fx_caption, &c, ec, sizeof ec);
        ck_assert_int_eq(rs, rcx);
        if (rs < 0) {
            ck_assert_str_eq(es, ec);
            failed++;
        } else {
            coefs_t a, d;
            coefs_read(&s.b, &a);
            coefs_read(&c.b, &d);
            same_blocks(&a, &d, -1, "corrupt input");
            coefs_free(&a);
            coefs_free(&d);
            free(s.b.p);
            free(c.b.p);
        }
        free(b.p);
    }
    ck_assert_int_gt(failed, 0);
    render_ctx_free(sx);
    render_ctx_free(cx);
    free(in.p);
}
END_TEST

/* Each check of the band's symbols against the source's tables, alone
 * (caption bands seldom need ZRL: that check is covered by encoder_direct). */
START_TEST(missing_symbols)
{
    for (int kind = SYN_DC_SMALL; kind <= SYN_ALL; kind++) {
        buf_t in = synth_tables(kind);
        check_route(&in, fx_caption, kind == SYN_NO_ZRL ? -1 : kind == SYN_ALL);
        free(in.p);
    }
}
END_TEST

/* render_splice_write() on bands of chosen coefficients (every DC and AC
 * symbol, ZRL, blocks without EOB), below the SYN_ALL picture whose tables
 * code every symbol: the output decodes to exactly the picture's blocks,
 * then exactly the band's. Below a picture without ZRL in its tables, a band
 * that needs one is refused. */
START_TEST(encoder_direct)
{
    buf_t pic = synth_tables(SYN_ALL), nozrl = synth_tables(SYN_NO_ZRL);
    coefs_t pc;
    coefs_read(&pic, &pc);
    const int bands[] = {SYN_ALL, SYN_NO_EOB, SYN_AC_SIZE1, SYN_DC_SMALL};
    for (size_t i = 0; i < sizeof bands / sizeof *bands + 1; i++) {
        const buf_t *src_buf = i < sizeof bands / sizeof *bands ? &pic : &nozrl;
        buf_t band = synth_tables(i < sizeof bands / sizeof *bands ? bands[i] : SYN_ALL);
        struct jpeg_decompress_struct s;
        struct jpeg_error_mgr es;
        fx_jpeg_read_header(&s, &es, src_buf);
        coefs_t bc;
        coefs_read(&band, &bc);
        render_band_t rb;
        band_of(&bc, &rb);
        render_splice_src_t sp;
        char why[256];
        ck_assert_int_eq(render_splice_parse(src_buf->p, src_buf->n, &sp, why, sizeof why), 0);
        dynbuf_t out; /* grown by the writer */
        dynbuf_init(&out, DYNBUF_NO_MAX);
        ck_assert_int_eq(dynbuf_reserve(&out, 16), 0);
        int rc = render_splice_write(src_buf->p, &sp, &s, &rb, &out, why, sizeof why);
        if (src_buf == &nozrl) {
            ck_assert_int_eq(rc, 1);
            ck_assert_ptr_nonnull(strstr(why, "symbol 0xf0"));
        } else {
            ck_assert_msg(rc == 0, "%s", why);
            buf_t o = {out.ptr, out.len};
            coefs_t oc;
            coefs_read(&o, &oc);
            ck_assert_uint_eq(oc.height, 128);
            same_blocks(&pc, &oc, 8, "picture");
            ck_assert(memcmp(oc.blocks[0] + 8 * 32, bc.blocks[0], 8 * 32 * sizeof(JBLOCK)) == 0);
            coefs_free(&oc);
        }
        coefs_free(&bc);
        render_band_free(&rb);
        dynbuf_free(&out);
        jpeg_destroy_decompress(&s);
        free(band.p);
    }
    coefs_free(&pc);
    free(pic.p);
    free(nozrl.p);
}
END_TEST

/* Single-byte changes all over the scan data of a source without and one
 * with restart markers: whatever render_splice_check_scan() proves sound,
 * libjpeg reads without a single warning, and only such data is spliced.
 * (Data libjpeg reads silently but the walk does not prove, such as "FF FF
 * 00" inside the scan, is not even decoded alike by libjpeg-turbo with
 * different source managers: it goes the coefficient route.) Both routes
 * give the same verdict, and the same output. */
START_TEST(scan_check_differential)
{
    fx_img_t cam = fx_camera(FX_DECODE_FANCY);
    spec_t rst = {.w = 674, .h = 480, .restart_rows = 1};
    buf_t srcs[2] = {fx_data_file("camera_674x480.jpg"), encode(&cam, &rst)};
    free(cam.px);
    render_ctx_t *sx = ctx_new(0), *cx = ctx_new(1);
    int proven = 0, refused = 0;
    for (int v = 0; v < 2; v++) {
        const buf_t *in = &srcs[v];
        render_splice_src_t sp;
        char why[256];
        ck_assert_int_eq(render_splice_parse(in->p, in->n, &sp, why, sizeof why), 0);
        size_t span = sp.scan_end - sp.data;
        for (unsigned i = 0; i < 150; i++) {
            buf_t b = {malloc(in->n), in->n};
            memcpy(b.p, in->p, in->n);
            size_t at = sp.data + (i * 7919u + (unsigned)v * 31u) % span;
            /* flips one bit, or writes 0xFF (a marker or a stuffed byte) */
            b.p[at] = i % 5 == 4 ? 0xFF : (unsigned char)(b.p[at] ^ (1u << (i % 8)));
            render_splice_src_t bp;
            if (render_splice_parse(b.p, b.n, &bp, why, sizeof why) == 0 &&
                scan_proven(&b, &bp, why, sizeof why)) {
                coefs_t co;
                coefs_read(&b, &co); /* aborts on any libjpeg warning */
                coefs_free(&co);
                proven++;
            } else {
                refused++;
            }
            out_t so, co;
            char es[512], ec[512];
            int rs = render(sx, &b, "x", &so, es, sizeof es);
            int rc = render(cx, &b, "x", &co, ec, sizeof ec);
            ck_assert_int_eq(rs, rc);
            if (rs == 0 && !so.spliced) {
                ck_assert_uint_eq(so.b.n, co.b.n);
                ck_assert(memcmp(so.b.p, co.b.p, so.b.n) == 0);
            } else if (rs == 0) {
                /* Spliced only when proven sound: the source reads without
                 * a warning, its blocks are in the output unchanged, and the
                 * coefficient route's band below them. */
                coefs_t src, a, d;
                coefs_read(&b, &src);
                coefs_read(&so.b, &a);
                coefs_read(&co.b, &d);
                same_blocks(&src, &a, -1, "picture");
                same_blocks(&d, &a, -1, "output");
                coefs_free(&src);
                coefs_free(&a);
                coefs_free(&d);
            }
            free(so.b.p);
            free(co.b.p);
            free(b.p);
        }
    }
    /* both outcomes occurred, so both branches above were exercised */
    ck_assert_int_gt(proven, 0);
    ck_assert_int_gt(refused, 0);
    render_ctx_free(sx);
    render_ctx_free(cx);
    free(srcs[0].p);
    free(srcs[1].p);
}
END_TEST

/* ---- the scan walk before its table-driven rewrite, verbatim: the
 * reference the current walk must agree with on every input ---- */

typedef struct ref_huff {
    unsigned short code[256];
    unsigned char size[256]; /* 0: the symbol has no code */
} ref_huff_t;

/* Canonical codes of t (T.81 annex C), with the checks libjpeg's
 * jpeg_make_c_derived_tbl() makes. 0, or -1 with why. */
static int ref_huff_build(const JHUFF_TBL *t, int dc, int no, ref_huff_t *h, char *why,
                          size_t whylen)
{
    const char *kind = dc ? "DC" : "AC";
    if (t == NULL) {
        snprintf(why, whylen, "no DHT for %s table %d", kind, no);
        return -1;
    }
    memset(h->size, 0, sizeof h->size);
    unsigned code = 0, k = 0;
    for (int l = 1; l <= 16; l++) {
        for (unsigned n = 0; n < t->bits[l]; n++, k++, code++) {
            unsigned sym = k < 256 ? t->huffval[k] : 256;
            if (sym >= 256 || (dc && sym > 15) || h->size[sym]) {
                snprintf(why, whylen, "bad %s table %d", kind, no);
                return -1;
            }
            h->code[sym] = (unsigned short)code;
            h->size[sym] = (unsigned char)l;
        }
        /* the all-ones code of a length is reserved */
        if (t->bits[l] && code >= (1u << l)) {
            snprintf(why, whylen, "bad %s table %d", kind, no);
            return -1;
        }
        code <<= 1;
    }
    return 0;
}

/* A decoding table: codes of up to REF_LOOK_BITS bits by lookup, longer ones
 * by length. */
#define REF_LOOK_BITS 10
typedef struct ref_dtab {
    uint16_t look[1 << REF_LOOK_BITS]; /* (length << 8 | symbol) of the code the
                                      next REF_LOOK_BITS bits start with; 0: longer */
    int32_t maxcode[17];               /* largest code of each length, -1: none */
    int32_t valoff[17];                /* huffval index of a length's first code minus that code */
    unsigned char huffval[256];
} ref_dtab_t;

static int ref_dtab_build(const JHUFF_TBL *t, int dc, int no, ref_dtab_t *d, char *why,
                          size_t whylen)
{
    ref_huff_t h; /* validates the table as the encoder side does */
    if (ref_huff_build(t, dc, no, &h, why, whylen)) return -1;
    memset(d->look, 0, sizeof d->look);
    memcpy(d->huffval, t->huffval, sizeof d->huffval);
    int32_t code = 0;
    int k = 0;
    for (int l = 1; l <= 16; l++) {
        if (!t->bits[l]) {
            d->maxcode[l] = -1;
        } else {
            d->valoff[l] = k - code;
            for (unsigned n = 0; n < t->bits[l]; n++, k++, code++)
                if (l <= REF_LOOK_BITS)
                    for (int fill = 0; fill < 1 << (REF_LOOK_BITS - l); fill++)
                        d->look[code << (REF_LOOK_BITS - l) | fill] = (uint16_t)(l << 8 |
                                                                                 t->huffval[k]);
            d->maxcode[l] = code - 1;
        }
        code <<= 1;
    }
    return 0;
}

/* MSB-first bits of entropy-coded data, 0xFF00 unstuffed; stops in front of
 * any marker. */
typedef struct ref_bitr {
    const unsigned char *p, *end;
    uint64_t acc; /* the next n bits, at the top */
    int n;
} ref_bitr_t;

static inline void ref_bitr_fill(ref_bitr_t *r)
{
    /* four bytes at once while none of them is 0xFF (most of the data) */
    while (r->n <= 32 && r->end - r->p >= 4) {
        uint32_t w = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
                     r->p[3];
        if ((~w - 0x01010101u) & w & 0x80808080u) /* has a 0xFF byte (~w has a 0) */
            break;
        r->acc |= (uint64_t)w << (32 - r->n);
        r->n += 32;
        r->p += 4;
    }
    while (r->n <= 56 && r->p < r->end) {
        unsigned c = r->p[0];
        if (c == 0xFF) {
            if (r->p + 1 >= r->end || r->p[1] != 0) return; /* a marker */
            r->p += 2;
        } else {
            r->p++;
        }
        r->acc |= (uint64_t)c << (56 - r->n);
        r->n += 8;
    }
}

/* The next symbol; -1 on a code not in d or past the end of the data. */
static inline int ref_bitr_symbol(ref_bitr_t *r, const ref_dtab_t *d)
{
    unsigned e = d->look[r->acc >> (64 - REF_LOOK_BITS)];
    int len;
    unsigned sym;
    if (e) {
        len = (int)(e >> 8);
        sym = e & 0xFF;
    } else {
        for (len = REF_LOOK_BITS + 1;; len++) {
            if (len > 16) return -1;
            int32_t code = (int32_t)(r->acc >> (64 - len));
            if (code <= d->maxcode[len]) {
                sym = d->huffval[d->valoff[len] + code];
                break;
            }
        }
    }
    if (len > r->n) return -1;
    r->acc <<= len;
    r->n -= len;
    return (int)sym;
}

static inline int ref_bitr_skip(ref_bitr_t *r, int n)
{
    if (n > r->n) return -1;
    r->acc <<= n;
    r->n -= n;
    return 0;
}

/* One block; 0 or -1. Stricter than libjpeg: a DC size over 11, an AC size
 * over 10, coefficients past the 64th and run/size symbols without a size
 * other than EOB and ZRL are refused. */
static inline int ref_check_block_in(ref_bitr_t *r, const ref_dtab_t *dc, const ref_dtab_t *ac)
{
    ref_bitr_fill(r);
    int s = ref_bitr_symbol(r, dc);
    if (s < 0 || s > 11 || ref_bitr_skip(r, s)) return -1;
    for (int k = 1; k < 64; k++) {
        if (r->n < 32) ref_bitr_fill(r);
        int rs = ref_bitr_symbol(r, ac);
        if (rs <= 0) /* a bad code, or EOB */
            return rs;
        s = rs & 15;
        k += rs >> 4;
        if (!s) {
            if (rs != 0xF0) return -1;
            continue; /* ZRL: 16 zeros, the loop counts the 16th */
        }
        if (k > 63 || s > 10 || ref_bitr_skip(r, s)) return -1;
    }
    return 0;
}

static int ref_check_block(ref_bitr_t *r, const ref_dtab_t *dc, const ref_dtab_t *ac)
{
    ref_bitr_t l = *r; /* a local copy the compiler can keep in registers */
    int rc = ref_check_block_in(&l, dc, ac);
    *r = l;
    return rc;
}

static int ref_check_scan(const unsigned char *in, const render_splice_src_t *sp,
                          j_decompress_ptr src, char *why, size_t whylen)
{
    int nscan = src->comps_in_scan;
    if (nscan < 1 || nscan > MAX_COMPS_IN_SCAN) {
        snprintf(why, whylen, "%d components in the scan", nscan);
        return -1;
    }
    static const int no_tables[NUM_HUFF_TBLS] = {0};
    ref_dtab_t dct[NUM_HUFF_TBLS], act[NUM_HUFF_TBLS];
    int built_dc[NUM_HUFF_TBLS], built_ac[NUM_HUFF_TBLS];
    memcpy(built_dc, no_tables, sizeof built_dc);
    memcpy(built_ac, no_tables, sizeof built_ac);
    int nblocks[MAX_COMPS_IN_SCAN];
    for (int i = 0; i < nscan; i++) {
        const jpeg_component_info *comp = src->cur_comp_info[i];
        int d = comp->dc_tbl_no, a = comp->ac_tbl_no;
        if (d < 0 || d >= NUM_HUFF_TBLS || a < 0 || a >= NUM_HUFF_TBLS) {
            snprintf(why, whylen, "Huffman table number out of range");
            return -1;
        }
        if (!built_dc[d] && ref_dtab_build(src->dc_huff_tbl_ptrs[d], 1, d, &dct[d], why, whylen))
            return -1;
        if (!built_ac[a] && ref_dtab_build(src->ac_huff_tbl_ptrs[a], 0, a, &act[a], why, whylen))
            return -1;
        built_dc[d] = built_ac[a] = 1;
        nblocks[i] = nscan == 1 ? 1 : comp->h_samp_factor * comp->v_samp_factor;
    }
    unsigned long mcus;
    if (nscan == 1) {
        const jpeg_component_info *comp = src->cur_comp_info[0];
        mcus = (unsigned long)comp->width_in_blocks * comp->height_in_blocks;
    } else {
        unsigned long mw = 8UL * (unsigned long)src->max_h_samp_factor;
        unsigned long mh = 8UL * (unsigned long)src->max_v_samp_factor;
        mcus = (src->image_width + mw - 1) / mw * ((src->image_height + mh - 1) / mh);
    }
    unsigned long interval = src->restart_interval ? src->restart_interval : mcus;
    ref_bitr_t r = {in + sp->data, in + sp->scan_end, 0, 0};
    unsigned rst = 0;
    for (unsigned long m = 0; m < mcus; m++) {
        if (m && m % interval == 0) {
            /* only the padding of the last byte may be left before the RST */
            ref_bitr_fill(&r);
            if (r.n >= 8 || r.end - r.p < 2 || r.p[0] != 0xFF || r.p[1] != 0xD0 + rst) {
                snprintf(why, whylen, "no RST%u right after MCU %lu", rst, m);
                return -1;
            }
            rst = (rst + 1) & 7;
            r.p += 2;
            r.acc = 0;
            r.n = 0;
        }
        for (int i = 0; i < nscan; i++) {
            const jpeg_component_info *comp = src->cur_comp_info[i];
            for (int b = 0; b < nblocks[i]; b++)
                if (ref_check_block(&r, &dct[comp->dc_tbl_no], &act[comp->ac_tbl_no])) {
                    snprintf(why, whylen, "undecodable data in MCU %lu", m);
                    return -1;
                }
        }
    }
    ref_bitr_fill(&r);
    if (r.n >= 8 || r.p != r.end) {
        snprintf(why, whylen, "data after the last MCU");
        return -1;
    }
    return 0;
}

/* Random corruptions (seeded, so every run tries the same inputs) of the
 * scan data of sources with different tables, sampling and restart
 * intervals: bit flips, 0xFF bytes, markers, runs of random bytes, bytes
 * deleted, the data cut short; one to three at a time, half of them near an
 * 0xFF byte or the end of the data, where the reader's slow paths are. The
 * walk must give the reference's verdict on each. */
static unsigned lcg_next(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(*s >> 33);
}

START_TEST(scan_check_matches_reference)
{
    fx_img_t cam = fx_camera(FX_DECODE_FANCY);
    spec_t rst_rows = {.w = 674, .h = 480, .restart_rows = 1};
    spec_t rst_odd = {.w = 674, .h = 480, .restart_mcus = 7, .optimize = 1};
    spec_t opt_gray = {.w = 674, .h = 480, .gray = 1, .optimize = 1};
    spec_t h2v2_rst = {.w = 674, .h = 480, .h0 = 2, .v0 = 2, .restart_mcus = 3, .quality = 97};
    buf_t srcs[] = {fx_data_file("camera_674x480.jpg"),
                    fx_data_file("camera_674x480_444.jpg"),
                    fx_data_file("camera_674x480_gray.jpg"),
                    fx_data_file("synthetic_640x480.jpg"),
                    encode(&cam, &rst_rows),
                    encode(&cam, &rst_odd),
                    encode(&cam, &opt_gray),
                    encode(&cam, &h2v2_rst)};
    free(cam.px);
    unsigned long long seed = 20261128;
    int agreed_ok = 0, agreed_bad = 0;
    /* one table cache for every walk, as a worker keeps it: the sources'
     * tables differ (standard, optimized, gray), so it is rebuilt and reused */
    render_splice_cache_t *cache = render_splice_cache_new();
    ck_assert_ptr_nonnull(cache);
    for (size_t v = 0; v < sizeof srcs / sizeof *srcs; v++) {
        const buf_t *in = &srcs[v];
        render_splice_src_t sp;
        char why[256], rwhy[256];
        ck_assert_int_eq(render_splice_parse(in->p, in->n, &sp, why, sizeof why), 0);
        struct jpeg_decompress_struct d;
        struct jpeg_error_mgr e;
        fx_jpeg_read_header(&d, &e, in); /* the corruptions leave the header alone */
        ck_assert_int_eq(render_splice_check_scan(in->p, &sp, &d, NULL, why, sizeof why), 0);
        ck_assert_int_eq(ref_check_scan(in->p, &sp, &d, rwhy, sizeof rwhy), 0);
        for (int i = 0; i < 300; i++) {
            buf_t b = {malloc(in->n + 64), in->n};
            memcpy(b.p, in->p, in->n);
            size_t end = sp.scan_end; /* moves with insertions and deletions */
            int changes = 1 + (int)(lcg_next(&seed) % 3);
            for (int c = 0; c < changes; c++) {
                size_t span = end - sp.data;
                if (span <= 32) break;
                size_t at = sp.data + lcg_next(&seed) % span;
                unsigned where = lcg_next(&seed) % 4;
                if (where == 1) {
                    at = end - 1 - lcg_next(&seed) % 32;
                } else if (where == 2) {
                    const unsigned char *ff = memchr(b.p + at, 0xFF, end - at);
                    if (ff != NULL) at = (size_t)(ff - b.p) + lcg_next(&seed) % 3;
                    if (at >= end) at = end - 1;
                }
                unsigned r = lcg_next(&seed), kind = r % 7;
                if (kind == 0) {
                    b.p[at] ^= (unsigned char)(1u << (r >> 8) % 8);
                } else if (kind == 1) {
                    b.p[at] = 0xFF;
                } else if (kind == 2) {
                    b.p[at] = (unsigned char)(r >> 8);
                } else if (kind == 3 || kind == 4) {
                    /* two bytes in: a stuffed 0xFF, or any RST marker */
                    memmove(b.p + at + 2, b.p + at, b.n - at);
                    b.p[at] = 0xFF;
                    b.p[at + 1] = kind == 3 ? 0 : (unsigned char)(0xD0 + (r >> 8) % 8);
                    b.n += 2;
                    end += 2;
                } else if (kind == 5) {
                    size_t del = 1 + (r >> 8) % 3;
                    if (at + del > end) del = end - at;
                    memmove(b.p + at, b.p + at + del, b.n - at - del);
                    b.n -= del;
                    end -= del;
                } else {
                    /* the data ends here */
                    memmove(b.p + at, b.p + end, b.n - end);
                    b.n -= end - at;
                    end = at;
                }
            }
            render_splice_src_t bp;
            if (render_splice_parse(b.p, b.n, &bp, why, sizeof why) == 0) {
                int got = render_splice_check_scan(b.p, &bp, &d, cache, why, sizeof why);
                int want = ref_check_scan(b.p, &bp, &d, rwhy, sizeof rwhy);
                ck_assert_msg(got == want, "source %zu, corruption %d: %d (%s), reference %d (%s)",
                              v, i, got, got ? why : "", want, want ? rwhy : "");
                if (got) {
                    ck_assert_str_eq(why, rwhy);
                    agreed_bad++;
                } else {
                    agreed_ok++;
                }
            }
            free(b.p);
        }
        jpeg_destroy_decompress(&d);
        free(in->p);
    }
    render_splice_cache_free(cache);
    /* both verdicts occurred */
    ck_assert_int_gt(agreed_ok, 0);
    ck_assert_int_gt(agreed_bad, 0);
}
END_TEST

Suite *render_splice_suite(void)
{
    Suite *s = suite_create("render_splice");
    TCase *tc = tcase_create("splice");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, corpus_spliced);
    tcase_add_test(tc, variants_spliced);
    tcase_add_test(tc, not_spliced);
    tcase_add_test(tc, optimized_tables);
    tcase_add_test(tc, missing_symbols);
    tcase_add_test(tc, encoder_direct);
    tcase_add_test(tc, scan_check_differential);
    tcase_add_test(tc, scan_check_matches_reference);
    tcase_add_test(tc, odd_scan_data);
    tcase_add_test(tc, corrupt_scan_data);
    suite_add_tcase(s, tc);
    return s;
}
