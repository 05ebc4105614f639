/* render.c - the caption job on libjpeg (see render.h).
 *
 * Every libjpeg object of one job lives in the ctx, shares one error manager
 * whose error_exit longjmps back to run_job(), and is destroyed by
 * render_caption() whatever happened; so no local variable has to survive the
 * longjmp. Warnings about corrupt data are errors here: a truncated upload must
 * fail, not come out with grey rows. */
#include "render.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "band.h"
#include "draw.h"
#include "dynbuf.h"
#include "exif.h"
#include "font.h"
#include "jpegio.h"
#include "log.h"
#include "orient.h"
#include "splice.h"

/* Work buffers up to this size are kept for the next job; a rare huge image
 * must not pin hundreds of MB in every worker. */
#define RENDER_KEEP_BYTES (16u << 20)

struct render_ctx {
    render_opts_t o;
    char font_file[1024];
    render_font_t *font;
    layout_t lo;
    const char *last_path;
    int last_spliced;

    dynbuf_t px, tmp, row, marker; /* reused across jobs */
    render_band_t band;            /* the lossless routes' band, reused too */
    render_splice_cache_t *tables; /* the splice walk's decoding tables */

    /* the job in progress */
    int layout_only;
    char *err; /* the caller's error buffer */
    size_t errlen;
    const unsigned char *in;
    size_t in_len;
    const char *text;
    size_t text_len;
    dynbuf_t out; /* owned here until render_caption() hands it over */
    int out_w, out_h;
    int in_w, in_h;
    int orientation;
    int icc_gray, icc_rgb; /* colour space of the source's ICC profile */

    render_jerr_t jerr;
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    int live_src, live_dst;
    render_memdst_t out_mgr;
    jvirt_barray_ptr dst_coef[MAX_COMPONENTS];
};

/* ---- libjpeg plumbing ---- */

static void open_decompress(render_ctx_t *c, j_decompress_ptr d, int *live,
                            const unsigned char *data, size_t len)
{
    d->err = &c->jerr.pub;
    jpeg_create_decompress(d);
    *live = 1;
    d->progress = &c->progress;
    jpeg_mem_src(d, data, (unsigned long)len);
}

static void open_compress(render_ctx_t *c, j_compress_ptr ci, int *live)
{
    ci->err = &c->jerr.pub;
    jpeg_create_compress(ci);
    *live = 1;
}

static void destroy_all(render_ctx_t *c)
{
    if (c->live_dst) jpeg_destroy_compress(&c->dst);
    if (c->live_src) jpeg_destroy_decompress(&c->src);
    c->live_dst = c->live_src = 0;
}

/* ---- markers ---- */

static int is_icc(const struct jpeg_marker_struct *m)
{
    return m->marker == JPEG_APP0 + 2 && m->data_length >= 14 &&
           memcmp(m->data, "ICC_PROFILE\0", 12) == 0;
}

/* Orientation from the first EXIF APP1, and the ICC profile's colour space
 * (in the header of the profile, inside chunk 1). */
static void scan_markers(render_ctx_t *c)
{
    c->orientation = 0;
    c->icc_gray = c->icc_rgb = 0;
    for (jpeg_saved_marker_ptr m = c->src.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && !c->orientation)
            c->orientation = render_exif_orientation(m->data, m->data_length, NULL);
        if (is_icc(m) && m->data[12] == 1 && m->data_length >= 14 + 20) {
            const unsigned char *cs = m->data + 14 + 16;
            c->icc_gray = memcmp(cs, "GRAY", 4) == 0;
            c->icc_rgb = memcmp(cs, "RGB ", 4) == 0;
        }
    }
    if (!c->orientation) c->orientation = 1;
}

/* EXIF (orientation rewritten to 1: the output is upright) and, when its
 * colour space still matches the output, the ICC profile. */
static void write_markers(render_ctx_t *c, j_compress_ptr ci, int keep_icc)
{
    for (jpeg_saved_marker_ptr m = c->src.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            size_t off;
            if (render_exif_orientation(m->data, m->data_length, &off) > 1) {
                if (dynbuf_reserve(&c->marker, m->data_length) < 0) ERREXIT(ci, JERR_OUT_OF_MEMORY);
                memcpy(c->marker.ptr, m->data, m->data_length);
                render_exif_set_orientation(c->marker.ptr, m->data_length, off, 1);
                jpeg_write_marker(ci, m->marker, c->marker.ptr, m->data_length);
            } else {
                jpeg_write_marker(ci, m->marker, m->data, m->data_length);
            }
        } else if (keep_icc && is_icc(m)) {
            jpeg_write_marker(ci, m->marker, m->data, m->data_length);
        }
    }
}

/* ---- the job ---- */

static int ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

static int round_up(int a, int b) { return ceil_div(a, b) * b; }

/* Header, limits, orientation and layout. Returns 0, or -1 with err set;
 * libjpeg errors longjmp to the caller's setjmp. */
static int prepare(render_ctx_t *c, char *err, size_t errlen)
{
    open_decompress(c, &c->src, &c->live_src, c->in, c->in_len);
    jpeg_save_markers(&c->src, JPEG_APP0 + 1, 0xFFFF);
    jpeg_save_markers(&c->src, JPEG_APP0 + 2, 0xFFFF);
    jpeg_read_header(&c->src, TRUE);
    c->in_w = (int)c->src.image_width;
    c->in_h = (int)c->src.image_height;
    long long pixels = (long long)c->in_w * c->in_h;
    if (pixels > c->o.max_pixels) {
        snprintf(err, errlen, "image is %ux%u = %lld pixels, over MAX_PIXELS (%lld)",
                 c->src.image_width, c->src.image_height, pixels, c->o.max_pixels);
        return -1;
    }
    scan_markers(c);
    int vw, vh;
    render_orient_size((int)c->src.image_width, (int)c->src.image_height, c->orientation, &vw, &vh);
    layout_font_t lf = render_font_layout(c->font);
    if (layout_compute(&c->lo, &lf, c->text, c->text_len, vw, c->o.text_padding, err, errlen) < 0)
        return -1;
    /* The band can be far larger than the picture (a wide strip with many
     * caption lines): the limit holds for what this job allocates, the output. */
    int band_h = c->lo.band_height;
    long long out_h = c->o.band_mode == BAND_EXTEND ? (long long)vh + band_h
                                                    : (vh > band_h ? vh : band_h);
    if ((long long)vw * out_h > c->o.max_pixels) {
        snprintf(err, errlen,
                 "captioned image would be %dx%lld = %lld pixels, over MAX_PIXELS "
                 "(%lld)",
                 vw, out_h, (long long)vw * out_h, c->o.max_pixels);
        return -1;
    }
    return 0;
}

/* The lossless routes append a band of blocks (band.h) to the picture's own:
 * the picture must end on a whole MCU row and need no turning. */
static int lossless_eligible(const render_ctx_t *c)
{
    const struct jpeg_decompress_struct *s = &c->src;
    return c->o.band_mode == BAND_EXTEND && c->orientation == 1 &&
           s->image_height % (8 * s->max_v_samp_factor) == 0 && render_band_supported(s);
}

/* Copies the picture's DCT coefficients and the band's (computed here unless
 * have_band) into new arrays and entropy-codes them all. */
static int run_coefficients(render_ctx_t *c, int have_band, char *err, size_t errlen)
{
    j_decompress_ptr s = &c->src;
    int h = (int)s->image_height, band_h = c->lo.band_height;
    long mcu_rows = 8L * s->max_v_samp_factor;
    int dst_rows[MAX_COMPONENTS] = {0};

    /* The output's coefficient arrays come from the source's pool, as
     * jpegtran's do: requested before jpeg_read_coefficients() realizes them.
     * Not pre-zeroed: the loop below writes every block of them, padding
     * included (the source's and the band's arrays have the same padding). */
    for (int ci = 0; ci < s->num_components; ci++) {
        jpeg_component_info *comp = &s->comp_info[ci];
        int hib = ceil_div((long)(h + band_h) * comp->v_samp_factor, mcu_rows);
        dst_rows[ci] = round_up(hib, comp->v_samp_factor);
        c->dst_coef[ci] = s->mem->request_virt_barray(
            (j_common_ptr)s, JPOOL_IMAGE, FALSE,
            (JDIMENSION)round_up((int)comp->width_in_blocks, comp->h_samp_factor),
            (JDIMENSION)dst_rows[ci], (JDIMENSION)comp->v_samp_factor);
    }
    jvirt_barray_ptr *src_coef = jpeg_read_coefficients(s);
    if (band_h > 0 && !have_band &&
        render_band_compute(&c->band, s, band_h, &c->lo, c->font, err, errlen) < 0)
        return -1;

    for (int ci = 0; ci < s->num_components; ci++) {
        jpeg_component_info *comp = &s->comp_info[ci];
        /* a whole number of MCU rows, so a multiple of v_samp_factor; without
         * a band (empty caption, no padding) dst_rows == src_rows */
        int src_rows = (int)comp->height_in_blocks;
        size_t row_bytes = (size_t)round_up((int)comp->width_in_blocks, comp->h_samp_factor) *
                           sizeof(JBLOCK);
        for (int r = 0; r < dst_rows[ci]; r++) {
            JBLOCKARRAY d = s->mem->access_virt_barray((j_common_ptr)s, c->dst_coef[ci],
                                                       (JDIMENSION)r, 1, TRUE);
            JBLOCKROW from = r < src_rows
                                 ? s->mem->access_virt_barray((j_common_ptr)s, src_coef[ci],
                                                              (JDIMENSION)r, 1, FALSE)[0]
                                 : render_band_row(&c->band, ci, r - src_rows);
            memcpy(d[0], from, row_bytes);
        }
    }

    open_compress(c, &c->dst, &c->live_dst);
    render_memdst_attach(&c->dst, &c->out_mgr, &c->out.ptr, &c->out.cap, 4096);
    jpeg_copy_critical_parameters(s, &c->dst);
    c->dst.image_height = (JDIMENSION)(h + band_h);
    /* Optimized Huffman tables would save ~18% of bytes on camera images but
     * cost three times the whole lossless job (2.5 ms of 1.2 here). */
    c->dst.optimize_coding = FALSE;
    jpeg_write_coefficients(&c->dst, c->dst_coef);
    write_markers(c, &c->dst, 1);
    jpeg_finish_compress(&c->dst);
    c->out.len = c->out_mgr.len;
    c->out_w = (int)s->image_width;
    c->out_h = h + band_h;
    return 0;
}

/* The splice (splice.h) of a source render_splice_parse() accepted. Returns
 * RENDER_SPLICE_DONE, RENDER_SPLICE_NO_FIT when the band does not fit the
 * source's tables or its scan is not proven sound (logged at debug level), or
 * -1 with err set.
 * c->src stays just past its header.
 *
 * The picture's scan goes out undecoded, so a corrupt upload must be caught
 * here as the other routes catch it: the splice is taken only when walking
 * the scan's codes proves it sound (data libjpeg reads without a warning,
 * and alike whatever its source manager; the walk costs about 0.8 of
 * libjpeg's read). Anything else, corrupt or merely unusual, is left to the
 * coefficient copy and libjpeg's verdict. The walk comes last: sources whose
 * tables lack a band symbol (optimized tables) are refused more cheaply. */
static int run_splice(render_ctx_t *c, const render_splice_src_t *sp, char *err, size_t errlen)
{
    j_decompress_ptr s = &c->src;
    char why[160];
    int rc = render_splice_write(c->in, sp, s, &c->band, &c->out, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (rc == RENDER_SPLICE_NO_FIT ||
        render_splice_check_scan(c->in, sp, s, c->tables, why, sizeof why) < 0) {
        log_debug("render: no splice: %s", why);
        return RENDER_SPLICE_NO_FIT;
    }
    c->out_w = (int)s->image_width;
    c->out_h = (int)s->image_height + c->lo.band_height;
    c->last_spliced = 1;
    return RENDER_SPLICE_DONE;
}

/* The picture's rows kept bit-exact: by the splice where the source allows
 * it, else by the coefficient copy. */
static int run_lossless(render_ctx_t *c, char *err, size_t errlen)
{
    int band_h = c->lo.band_height, have_band = 0;
    render_splice_src_t sp;
    char why[160];
    if (band_h > 0 && !c->o.no_splice) {
        if (render_splice_parse(c->in, c->in_len, &sp, why, sizeof why) < 0) {
            log_debug("render: no splice: %s", why);
        } else {
            /* One scan, EOI right after it: the quantization tables read with
             * the header are the final ones, so the band may be quantized
             * before the picture is read (and serves both routes). */
            if (render_band_compute(&c->band, &c->src, band_h, &c->lo, c->font, err, errlen) < 0)
                return -1;
            have_band = 1;
            int rc = run_splice(c, &sp, err, errlen);
            if (rc != RENDER_SPLICE_NO_FIT) return rc;
        }
    }
    return run_coefficients(c, have_band, err, errlen);
}

/* Adobe CMYK JPEGs (Photoshop, ImageMagick) store inverted values. */
static void cmyk_to_rgb(const unsigned char *in, unsigned char *out, int w, int inverted)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        unsigned k = inverted ? in[3] : 255u - in[3];
        for (int i = 0; i < 3; i++) {
            unsigned v = inverted ? in[i] : 255u - in[i];
            out[i] = (unsigned char)((v * k + 127) / 255);
        }
    }
}

static int run_reencode(render_ctx_t *c, char *err, size_t errlen)
{
    j_decompress_ptr s = &c->src;
    draw_space_t space;
    int cmyk = 0;
    switch (s->jpeg_color_space) {
    case JCS_GRAYSCALE:
        s->out_color_space = JCS_GRAYSCALE;
        space = DRAW_GRAY;
        break;
    case JCS_YCbCr:
        /* no colour conversion either way: less work, no extra rounding */
        s->out_color_space = JCS_YCbCr;
        space = DRAW_YCBCR;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        s->out_color_space = JCS_CMYK;
        space = DRAW_RGB;
        cmyk = 1;
        break;
    default:
        s->out_color_space = JCS_RGB;
        space = DRAW_RGB;
        break;
    }
    jpeg_start_decompress(s);
    int w = (int)s->output_width, h = (int)s->output_height;
    int nc = space == DRAW_GRAY ? 1 : 3;
    int o = c->orientation, vw, vh;
    render_orient_size(w, h, o, &vw, &vh);
    int band_h = c->lo.band_height;
    int oh = c->o.band_mode == BAND_EXTEND ? vh + band_h : (vh > band_h ? vh : band_h);
    size_t stride = (size_t)vw * (size_t)nc;
    size_t src_stride = (size_t)w * (size_t)nc;
    if (dynbuf_reserve(&c->px, stride * (size_t)oh) < 0 ||
        (o != 1 && dynbuf_reserve(&c->tmp, src_stride * (size_t)h) < 0) ||
        (cmyk && dynbuf_reserve(&c->row, (size_t)w * 4) < 0)) {
        snprintf(err, errlen, "out of memory for %dx%d pixels", vw, oh);
        return -1;
    }
    unsigned char *target = o == 1 ? c->px.ptr : c->tmp.ptr;
    while (s->output_scanline < s->output_height) {
        unsigned char *dst_row = target + (size_t)s->output_scanline * src_stride;
        JSAMPROW row = cmyk ? c->row.ptr : dst_row;
        jpeg_read_scanlines(s, &row, 1);
        if (cmyk) cmyk_to_rgb(c->row.ptr, dst_row, w, s->saw_Adobe_marker);
    }
    if (o != 1) render_orient_pixels(c->tmp.ptr, w, h, nc, o, c->px.ptr, stride);
    if (render_draw_band(c->px.ptr + (size_t)(oh - band_h) * stride, stride, vw, band_h, space,
                         &c->lo, c->font, err, errlen) < 0)
        return -1;

    open_compress(c, &c->dst, &c->live_dst);
    render_memdst_attach(&c->dst, &c->out_mgr, &c->out.ptr, &c->out.cap, 4096);
    c->dst.image_width = (JDIMENSION)vw;
    c->dst.image_height = (JDIMENSION)oh;
    c->dst.input_components = nc;
    c->dst.in_color_space = space == DRAW_GRAY    ? JCS_GRAYSCALE
                            : space == DRAW_YCBCR ? JCS_YCbCr
                                                  : JCS_RGB;
    jpeg_set_defaults(&c->dst);
    jpeg_set_quality(&c->dst, c->o.jpeg_quality, TRUE);
    if (space == DRAW_YCBCR) {
        /* keep the source's chroma resolution (4:4:4 stays 4:4:4), turned
         * with the picture */
        for (int i = 0; i < 3; i++) {
            jpeg_component_info *sc = &s->comp_info[i], *dc = &c->dst.comp_info[i];
            dc->h_samp_factor = o >= 5 ? sc->v_samp_factor : sc->h_samp_factor;
            dc->v_samp_factor = o >= 5 ? sc->h_samp_factor : sc->v_samp_factor;
        }
    }
    jpeg_start_compress(&c->dst, TRUE);
    write_markers(c, &c->dst, space == DRAW_GRAY ? c->icc_gray : !cmyk && c->icc_rgb);
    while (c->dst.next_scanline < c->dst.image_height) {
        JSAMPROW row = c->px.ptr + (size_t)c->dst.next_scanline * stride;
        jpeg_write_scanlines(&c->dst, &row, 1);
    }
    jpeg_finish_compress(&c->dst);
    c->out.len = c->out_mgr.len;
    c->out_w = vw;
    c->out_h = oh;
    return 0;
}

static int run_steps(render_ctx_t *c)
{
    if (prepare(c, c->err, c->errlen) < 0) return -1;
    if (c->layout_only) return 0;
    if (dynbuf_reserve(&c->out,
                       c->in_len + (size_t)c->lo.width * (size_t)c->lo.band_height + 8192) < 0) {
        snprintf(c->err, c->errlen, "out of memory for the output");
        return -1;
    }
    if (lossless_eligible(c)) {
        c->last_path = "lossless";
        return run_lossless(c, c->err, c->errlen);
    }
    c->last_path = "reencode";
    return run_reencode(c, c->err, c->errlen);
}

/* Everything the error path needs lives in c, so nothing here can be
 * clobbered by the longjmp. */
static int run_job(render_ctx_t *c)
{
    if (setjmp(c->jerr.jb)) {
        snprintf(c->err, c->errlen, "JPEG: %s", c->jerr.msg);
        return -1;
    }
    return run_steps(c);
}

static void job_begin(render_ctx_t *c, const unsigned char *jpeg, size_t len, const char *text,
                      size_t text_len, int layout_only, char *err, size_t errlen)
{
    c->layout_only = layout_only;
    c->err = err;
    c->errlen = errlen;
    c->in = jpeg;
    c->in_len = len;
    c->text = text;
    c->text_len = text_len;
    /* the output's size is bounded by MAX_PIXELS, checked in prepare() */
    dynbuf_init(&c->out, DYNBUF_NO_MAX);
    c->last_path = NULL;
    c->last_spliced = 0;
    c->in_w = c->in_h = 0;
    c->jerr.msg[0] = 0;
}

int render_caption(render_ctx_t *c, const unsigned char *jpeg, size_t len, const char *text,
                   size_t text_len, unsigned char **out, size_t *out_len, int *out_w, int *out_h,
                   char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    job_begin(c, jpeg, len, text, text_len, 0, err, errlen);
    int rc = run_job(c);
    destroy_all(c);
    dynbuf_trim(&c->px, RENDER_KEEP_BYTES);
    dynbuf_trim(&c->tmp, RENDER_KEEP_BYTES);
    dynbuf_trim(&c->row, RENDER_KEEP_BYTES);
    render_band_trim(&c->band, RENDER_KEEP_BYTES);
    dynbuf_trim(&c->marker, RENDER_KEEP_BYTES);
    if (rc < 0) {
        dynbuf_free(&c->out);
        return -1;
    }
    log_debug("render: %s path%s, %dx%d -> %dx%d, %zu -> %zu bytes", c->last_path,
              c->last_spliced ? " (entropy splice)" : "", c->in_w, c->in_h, c->out_w, c->out_h, len,
              c->out.len);
    *out = c->out.ptr;
    *out_len = c->out.len;
    *out_w = c->out_w;
    *out_h = c->out_h;
    dynbuf_init(&c->out, DYNBUF_NO_MAX); /* handed over */
    return 0;
}

int render_layout_jpeg(render_ctx_t *c, const unsigned char *jpeg, size_t len, const char *text,
                       size_t text_len, const layout_t **out, char *err, size_t errlen)
{
    job_begin(c, jpeg, len, text, text_len, 1, err, errlen);
    int rc = run_job(c);
    destroy_all(c);
    *out = rc == 0 ? &c->lo : NULL;
    return rc;
}

const char *render_last_path(const render_ctx_t *c)
{
    return c->last_path != NULL ? c->last_path : "";
}

render_font_t *render_font_of(render_ctx_t *c) { return c->font; }

int render_last_spliced(const render_ctx_t *c) { return c->last_spliced; }

render_ctx_t *render_ctx_new(const render_opts_t *opts, char *err, size_t errlen)
{
    render_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->o = *opts;
    /* work buffers: their sizes follow the image, bounded by MAX_PIXELS */
    dynbuf_init(&c->px, DYNBUF_NO_MAX);
    dynbuf_init(&c->tmp, DYNBUF_NO_MAX);
    dynbuf_init(&c->row, DYNBUF_NO_MAX);
    dynbuf_init(&c->marker, DYNBUF_NO_MAX);
    dynbuf_init(&c->out, DYNBUF_NO_MAX);
    snprintf(c->font_file, sizeof c->font_file, "%s", opts->font_file);
    c->o.font_file = c->font_file;
    c->font = render_font_open(c->font_file, opts->font_size, err, errlen);
    if (c->font == NULL) {
        free(c);
        return NULL;
    }
    c->tables = render_splice_cache_new();
    if (c->tables == NULL) {
        snprintf(err, errlen, "out of memory");
        render_font_close(c->font);
        free(c);
        return NULL;
    }
    render_jerr_init(&c->jerr, &c->progress);
    return c;
}

void render_ctx_free(render_ctx_t *c)
{
    if (c == NULL) return;
    render_font_close(c->font);
    layout_free(&c->lo);
    dynbuf_free(&c->px);
    dynbuf_free(&c->tmp);
    dynbuf_free(&c->row);
    dynbuf_free(&c->out);
    render_band_free(&c->band);
    render_splice_cache_free(c->tables);
    dynbuf_free(&c->marker);
    free(c);
}
