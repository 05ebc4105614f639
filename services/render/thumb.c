/* thumb.c - the thumbnail of a rendered image on libjpeg (see thumb.h).
 *
 * One decompress and one compress object per context, created once and
 * reset with jpeg_abort_*() after every call, whatever happened: their
 * tables, source and destination managers and our buffers are reused. Every
 * libjpeg error (and every warning about corrupt data) longjmps back to
 * render_thumb_make(); all state the error path needs lives in the context.
 *
 * The area average works in integer units in which a decoded pixel and a
 * thumbnail pixel both have a whole length (start_decode()), so every overlap
 * is exact. A decoded row's weight in a thumbnail row is its overlap / the
 * thumbnail row's length in 15-bit fixed point, taken as a difference of
 * rounded prefix sums so that the weights of one thumbnail pixel add up to
 * exactly 1: a uniform area stays exactly its value. Rows are summed first
 * (vacc, one multiply-add per decoded sample), then columns, once per
 * thumbnail row. */
#include "thumb.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* As render.c: more scans than a real progressive file has is a CPU bomb. */
#define THUMB_MAX_SCANS 100

/* Buffers up to this size are kept for the next call. */
#define THUMB_KEEP_BYTES (16u << 20)

#define WEIGHT_BITS 15
#define WEIGHT_ONE (1 << WEIGHT_BITS)

typedef struct thumb_err {
    struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 64];
} thumb_err_t;

/* jpeg_mem_dest() allocates a new buffer per image: this one keeps t->out. */
typedef struct thumb_dst {
    struct jpeg_destination_mgr pub;
    render_thumb_t *t;
} thumb_dst_t;

typedef struct buf {
    void *p;
    size_t cap;
} buf_t;

/* The source columns one thumbnail column averages: n of them from first,
 * their weights at xw[w]. */
typedef struct tap {
    int first, n, w;
} tap_t;

struct render_thumb {
    int size;
    long long max_pixels;

    thumb_err_t jerr;
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    int live_src, live_dst;
    thumb_dst_t dst_mgr;
    unsigned char *out; /* the last thumbnail, out_len bytes of out_cap */
    size_t out_cap, out_len;

    buf_t rows; /* decoded scanlines (unsigned char) */
    buf_t vacc; /* the thumbnail row being summed from source rows (uint32_t) */
    buf_t px;   /* the thumbnail's pixels (unsigned char) */
    buf_t taps; /* tap_t per thumbnail column */
    buf_t xw;   /* the columns' weights (uint32_t) */
    buf_t rowp; /* JSAMPROW per scanline read at once */

    /* the call in progress */
    const unsigned char *in;
    size_t in_len;
    int sw, sh;       /* decoded (scaled) size */
    long long pw, ph; /* a thumbnail pixel's width and height in units (below) */
    long long uw, uh; /* a decoded pixel's */
    int tw, th;       /* thumbnail size */
    int nc;           /* components of the thumbnail's pixels: 1 or 3 */
    int dec_nc;       /* components decoded: 4 for CMYK, else nc */
    int cmyk;         /* decoded as CMYK, turned into RGB here */
    int icc_gray;     /* ICC profile colour space of the source */
    int icc_rgb;      /* */
    int cur;          /* next thumbnail row */
    int vacc_empty;   /* nothing summed into vacc for row cur yet */
};

static int buf_reserve(buf_t *b, size_t n)
{
    if (n <= b->cap) return 0;
    void *p = realloc(b->p, n);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = n;
    return 0;
}

static void buf_trim(buf_t *b)
{
    if (b->cap > THUMB_KEEP_BYTES) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

/* ---- geometry ---- */

void render_thumb_geometry(int w, int h, int size, int *tw, int *th)
{
    int longest = w > h ? w : h, shortest = w > h ? h : w;
    if (longest <= size) {
        *tw = w;
        *th = h;
        return;
    }
    /* nearest, halves up: floor(shortest * size / longest + 1/2) */
    long long s = (2LL * shortest * size + longest) / (2LL * longest);
    int other = s < 1 ? 1 : (int)s;
    *tw = w >= h ? size : other;
    *th = w >= h ? other : size;
}

int render_thumb_scale(int longest, int size)
{
    if (longest <= size) return 8;
    for (int m = 1; m < 8; m++)
        if (((long long)longest * m + 7) / 8 >= size) return m;
    return 8;
}

/* ---- libjpeg plumbing ---- */

static void jerr_exit(j_common_ptr ci)
{
    thumb_err_t *e = (thumb_err_t *)ci->err;
    char m[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, m);
    snprintf(e->msg, sizeof e->msg, "%s", m);
    longjmp(e->jb, 1);
}

/* Warnings that do not mean lost picture data stay warnings (as render.c). */
static void jerr_emit(j_common_ptr ci, int level)
{
    if (level >= 0) return;
    int code = ci->err->msg_code;
    if (code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM ||
        code == JWRN_BOGUS_ICC) {
        ci->err->num_warnings++;
        return;
    }
    jerr_exit(ci);
}

static void jerr_progress(j_common_ptr ci)
{
    if (!ci->is_decompressor || ((j_decompress_ptr)ci)->input_scan_number <= THUMB_MAX_SCANS)
        return;
    thumb_err_t *e = (thumb_err_t *)ci->err;
    snprintf(e->msg, sizeof e->msg, "more than %d scans in a progressive JPEG", THUMB_MAX_SCANS);
    longjmp(e->jb, 1);
}

static void dst_grow(j_compress_ptr ci, render_thumb_t *t, size_t want)
{
    unsigned char *p = realloc(t->out, want);
    if (p == NULL) ERREXIT(ci, JERR_OUT_OF_MEMORY);
    t->out = p;
    t->out_cap = want;
}

static void dst_init(j_compress_ptr ci)
{
    render_thumb_t *t = ((thumb_dst_t *)ci->dest)->t;
    if (t->out_cap < 16384) dst_grow(ci, t, 16384);
    ci->dest->next_output_byte = t->out;
    ci->dest->free_in_buffer = t->out_cap;
}

static boolean dst_empty(j_compress_ptr ci)
{
    render_thumb_t *t = ((thumb_dst_t *)ci->dest)->t;
    size_t used = t->out_cap;
    dst_grow(ci, t, used * 2);
    ci->dest->next_output_byte = t->out + used;
    ci->dest->free_in_buffer = t->out_cap - used;
    return TRUE;
}

static void dst_term(j_compress_ptr ci)
{
    render_thumb_t *t = ((thumb_dst_t *)ci->dest)->t;
    t->out_len = t->out_cap - ci->dest->free_in_buffer;
}

/* ---- the area average ---- */

/* The weight of [lo, hi) of a thumbnail pixel of length len (units above):
 * differences of rounded prefixes, so a pixel's weights sum to WEIGHT_ONE. */
static uint32_t weight(long long lo, long long hi, long long len)
{
    long long a = (lo * WEIGHT_ONE + len / 2) / len, b = (hi * WEIGHT_ONE + len / 2) / len;
    return (uint32_t)(b - a);
}

/* Each thumbnail column's source columns and weights. Returns 0, or -1 when
 * out of memory. */
static int plan_columns(render_thumb_t *t)
{
    long long pw = t->pw, uw = t->uw;
    size_t most = (size_t)t->sw + (size_t)t->tw; /* taps over all columns */
    if (buf_reserve(&t->taps, (size_t)t->tw * sizeof(tap_t)) < 0 ||
        buf_reserve(&t->xw, most * sizeof(uint32_t)) < 0)
        return -1;
    tap_t *taps = t->taps.p;
    uint32_t *xw = t->xw.p;
    int k = 0;
    for (int x = 0; x < t->tw; x++) {
        long long a = x * pw, b = a + pw; /* the column */
        int j0 = (int)(a / uw), j1 = (int)((b - 1) / uw);
        taps[x] = (tap_t){.first = j0, .n = j1 - j0 + 1, .w = k};
        for (int j = j0; j <= j1; j++) {
            long long lo = j * uw > a ? j * uw : a, hi = (j + 1) * uw < b ? (j + 1) * uw : b;
            xw[k++] = weight(lo - a, hi - a, pw);
        }
    }
    return 0;
}

/* Thumbnail row t->cur from the summed source rows in vacc. */
static void emit_row(render_thumb_t *t)
{
    const uint32_t *v = t->vacc.p, *xw = t->xw.p;
    const tap_t *taps = t->taps.p;
    unsigned char *o = (unsigned char *)t->px.p + (size_t)t->cur * (size_t)t->tw * (size_t)t->nc;
    const uint64_t half = 1ULL << (2 * WEIGHT_BITS - 1);
    if (t->nc == 3) {
        for (int x = 0; x < t->tw; x++, o += 3) {
            const uint32_t *s = v + (size_t)taps[x].first * 3, *w = xw + taps[x].w;
            uint64_t a0 = half, a1 = half, a2 = half;
            int n = taps[x].n;
            if (n == 2) { /* most columns below a ratio of 2: unrolled */
                a0 += (uint64_t)w[0] * s[0] + (uint64_t)w[1] * s[3];
                a1 += (uint64_t)w[0] * s[1] + (uint64_t)w[1] * s[4];
                a2 += (uint64_t)w[0] * s[2] + (uint64_t)w[1] * s[5];
            } else {
                for (int k = 0; k < n; k++, s += 3) {
                    a0 += (uint64_t)w[k] * s[0];
                    a1 += (uint64_t)w[k] * s[1];
                    a2 += (uint64_t)w[k] * s[2];
                }
            }
            o[0] = (unsigned char)(a0 >> (2 * WEIGHT_BITS));
            o[1] = (unsigned char)(a1 >> (2 * WEIGHT_BITS));
            o[2] = (unsigned char)(a2 >> (2 * WEIGHT_BITS));
        }
    } else {
        for (int x = 0; x < t->tw; x++) {
            const uint32_t *s = v + taps[x].first, *w = xw + taps[x].w;
            uint64_t a = half;
            if (taps[x].n == 2)
                a += (uint64_t)w[0] * s[0] + (uint64_t)w[1] * s[1];
            else
                for (int k = 0; k < taps[x].n; k++) a += (uint64_t)w[k] * s[k];
            o[x] = (unsigned char)(a >> (2 * WEIGHT_BITS));
        }
    }
}

/* vacc (+)= w x row, over n samples. In blocks of 16 with a fixed count, so
 * that the compiler vectorizes them at -O2; the buffers have room for the
 * last block (n rounded up to 16). */
static void sum_row(uint32_t *restrict vacc, const unsigned char *restrict row, size_t n,
                    uint32_t w, int first)
{
    if (first) {
        for (size_t i = 0; i < n; i += 16)
            for (size_t k = 0; k < 16; k++) vacc[i + k] = w * row[i + k];
    } else {
        for (size_t i = 0; i < n; i += 16)
            for (size_t k = 0; k < 16; k++) vacc[i + k] += w * row[i + k];
    }
}

/* Source row j goes into the thumbnail rows it overlaps; each one it
 * completes is emitted. */
static void add_source_row(render_thumb_t *t, int j, const unsigned char *row)
{
    long long ph = t->ph, uh = t->uh;
    long long a = j * uh, b = a + uh; /* the source row */
    size_t n = (size_t)t->sw * (size_t)t->nc;
    while (a < b && t->cur < t->th) {
        long long start = t->cur * ph, end = start + ph;
        long long stop = b < end ? b : end;
        uint32_t w = weight(a - start, stop - start, ph);
        if (w > 0 || t->vacc_empty) {
            sum_row(t->vacc.p, row, n, w, t->vacc_empty);
            t->vacc_empty = 0;
        }
        a = stop;
        if (stop == end) {
            emit_row(t);
            t->cur++;
            t->vacc_empty = 1;
        }
    }
}

/* ---- the job ---- */

/* Adobe CMYK JPEGs (Photoshop, ImageMagick) store inverted values; in place,
 * 4 bytes per pixel in, 3 out. */
static void cmyk_to_rgb(unsigned char *p, int w, int inverted)
{
    const unsigned char *in = p;
    for (int x = 0; x < w; x++, in += 4, p += 3) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) c = 255u - c, m = 255u - m, y = 255u - y, k = 255u - k;
        p[0] = (unsigned char)((c * k + 127) / 255);
        p[1] = (unsigned char)((m * k + 127) / 255);
        p[2] = (unsigned char)((y * k + 127) / 255);
    }
}

static int is_icc(const struct jpeg_marker_struct *m)
{
    return m->marker == JPEG_APP0 + 2 && m->data_length >= 14 &&
           memcmp(m->data, "ICC_PROFILE\0", 12) == 0;
}

static void scan_icc(render_thumb_t *t)
{
    t->icc_gray = t->icc_rgb = 0;
    for (jpeg_saved_marker_ptr m = t->src.marker_list; m != NULL; m = m->next) {
        if (is_icc(m) && m->data[12] == 1 && m->data_length >= 14 + 20) {
            const unsigned char *cs = m->data + 14 + 16;
            t->icc_gray = memcmp(cs, "GRAY", 4) == 0;
            t->icc_rgb = memcmp(cs, "RGB ", 4) == 0;
        }
    }
}

/* Header, limits, scale and colour spaces; then jpeg_start_decompress. */
static int start_decode(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    jpeg_mem_src(s, t->in, (unsigned long)t->in_len);
    jpeg_read_header(s, TRUE);
    long long pixels = (long long)s->image_width * s->image_height;
    if (pixels > t->max_pixels) {
        snprintf(err, errlen, "image is %ux%u = %lld pixels, over MAX_PIXELS (%lld)",
                 s->image_width, s->image_height, pixels, t->max_pixels);
        return -1;
    }
    scan_icc(t);
    int w = (int)s->image_width, h = (int)s->image_height;
    render_thumb_geometry(w, h, t->size, &t->tw, &t->th);
    int m = render_thumb_scale(w > h ? w : h, t->size);
    s->scale_num = (unsigned)m;
    s->scale_denom = 8;
    /* No effect on a scaled 4:2:0 decode (libjpeg scales chroma up in its
     * IDCT there); 6 % fewer instructions at full scale (a small source).
     * JDCT_IFAST saves under 0.5 % either way: the accurate IDCT is kept. */
    s->do_fancy_upsampling = FALSE;
    t->cmyk = 0;
    switch (s->jpeg_color_space) {
    case JCS_GRAYSCALE:
        s->out_color_space = JCS_GRAYSCALE;
        t->nc = 1;
        break;
    case JCS_YCbCr:
        s->out_color_space = JCS_YCbCr; /* averaged and encoded as it is */
        t->nc = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        s->out_color_space = JCS_CMYK;
        t->nc = 3;
        t->cmyk = 1;
        break;
    default:
        s->out_color_space = JCS_RGB;
        t->nc = 3;
        break;
    }
    jpeg_start_decompress(s);
    t->sw = (int)s->output_width;
    t->sh = (int)s->output_height;
    /* The picture is w * M / 8 decoded pixels wide, which libjpeg rounds up
     * (its last column then covers padding in part): the thumbnail's tw
     * columns span exactly those w * M / 8, so one column is w * M units and
     * a decoded pixel 8 * tw (and alike vertically). */
    t->pw = (long long)w * m;
    t->uw = 8LL * t->tw;
    t->ph = (long long)h * m;
    t->uh = 8LL * t->th;
    t->dec_nc = s->output_components;
    return 0;
}

/* Decodes every scanline into the thumbnail's pixels, averaging unless the
 * decoded size is already the thumbnail's. */
static int decode(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    int same = t->sw == t->tw && t->sh == t->th;
    int batch = s->rec_outbuf_height > 0 ? s->rec_outbuf_height : 1;
    /* rounded up to 16 for sum_row() */
    size_t in_stride = ((size_t)t->sw * (size_t)t->dec_nc + 15) & ~(size_t)15;
    size_t px_stride = (size_t)t->tw * (size_t)t->nc;
    if (buf_reserve(&t->px, px_stride * (size_t)t->th) < 0 ||
        buf_reserve(&t->rowp, (size_t)batch * sizeof(JSAMPROW)) < 0 ||
        ((!same || t->cmyk) && buf_reserve(&t->rows, in_stride * (size_t)batch) < 0) ||
        (!same &&
         (buf_reserve(&t->vacc, in_stride * sizeof(uint32_t)) < 0 || plan_columns(t) < 0))) {
        snprintf(err, errlen, "out of memory for a %dx%d thumbnail", t->tw, t->th);
        return -1;
    }
    if (!same || t->cmyk) /* sum_row() reads the padding libjpeg leaves alone */
        memset(t->rows.p, 0, in_stride * (size_t)batch);
    JSAMPROW *rowp = t->rowp.p;
    t->cur = 0;
    t->vacc_empty = 1;
    while (s->output_scanline < s->output_height) {
        int y = (int)s->output_scanline;
        int want = (int)s->output_height - y < batch ? (int)s->output_height - y : batch;
        for (int i = 0; i < want; i++)
            rowp[i] = same && !t->cmyk ? (unsigned char *)t->px.p + (size_t)(y + i) * px_stride
                                       : (unsigned char *)t->rows.p + (size_t)i * in_stride;
        int got = (int)jpeg_read_scanlines(s, rowp, (JDIMENSION)want);
        for (int i = 0; i < got; i++) {
            if (t->cmyk) cmyk_to_rgb(rowp[i], t->sw, s->saw_Adobe_marker);
            if (same && t->cmyk)
                memcpy((unsigned char *)t->px.p + (size_t)(y + i) * px_stride, rowp[i], px_stride);
            else if (!same)
                add_source_row(t, y + i, rowp[i]);
        }
    }
    return 0;
}

static void encode(render_thumb_t *t)
{
    j_compress_ptr c = &t->dst;
    c->image_width = (JDIMENSION)t->tw;
    c->image_height = (JDIMENSION)t->th;
    c->input_components = t->nc;
    c->in_color_space = t->nc == 1                            ? JCS_GRAYSCALE
                        : t->src.out_color_space == JCS_YCbCr ? JCS_YCbCr
                                                              : JCS_RGB;
    jpeg_set_defaults(c); /* YCbCr 4:2:0 (or gray), Huffman tables not optimized */
    jpeg_set_quality(c, RENDER_THUMB_QUALITY, TRUE);
    jpeg_start_compress(c, TRUE);
    if (t->nc == 1 ? t->icc_gray : t->icc_rgb && !t->cmyk)
        for (jpeg_saved_marker_ptr m = t->src.marker_list; m != NULL; m = m->next)
            if (is_icc(m)) jpeg_write_marker(c, m->marker, m->data, m->data_length);
    size_t stride = (size_t)t->tw * (size_t)t->nc;
    while (c->next_scanline < c->image_height) {
        JSAMPROW row = (unsigned char *)t->px.p + (size_t)c->next_scanline * stride;
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
}

static int run(render_thumb_t *t, char *err, size_t errlen)
{
    if (start_decode(t, err, errlen) < 0 || decode(t, err, errlen) < 0) return -1;
    encode(t); /* before the source is reset: its saved ICC markers go out */
    return 0;
}

int render_thumb_make(render_thumb_t *t, const unsigned char *jpeg, size_t len,
                      const unsigned char **out, size_t *out_len, int *out_w, int *out_h, char *err,
                      size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    t->in = jpeg;
    t->in_len = len;
    t->out_len = 0;
    t->jerr.msg[0] = 0;
    int rc;
    if (setjmp(t->jerr.jb)) {
        snprintf(err, errlen, "JPEG: %s", t->jerr.msg);
        rc = -1;
    } else {
        rc = run(t, err, errlen);
    }
    jpeg_abort_decompress(&t->src);
    jpeg_abort_compress(&t->dst);
    buf_trim(&t->rows);
    buf_trim(&t->vacc);
    buf_trim(&t->px);
    if (rc < 0) return -1;
    *out = t->out;
    *out_len = t->out_len;
    *out_w = t->tw;
    *out_h = t->th;
    return 0;
}

/* ---- the context ---- */

/* The libjpeg objects, whose creation fails only when out of memory.
 * Returns 0, or -1. */
static int create_objects(render_thumb_t *t)
{
    if (setjmp(t->jerr.jb)) return -1;
    t->src.err = &t->jerr.pub;
    jpeg_create_decompress(&t->src);
    t->live_src = 1;
    t->src.progress = &t->progress;
    jpeg_save_markers(&t->src, JPEG_APP0 + 2, 0xFFFF);
    t->dst.err = &t->jerr.pub;
    jpeg_create_compress(&t->dst);
    t->live_dst = 1;
    t->dst_mgr = (thumb_dst_t){.pub = {.init_destination = dst_init,
                                       .empty_output_buffer = dst_empty,
                                       .term_destination = dst_term},
                               .t = t};
    t->dst.dest = &t->dst_mgr.pub;
    return 0;
}

render_thumb_t *render_thumb_new(int size, long long max_pixels)
{
    if (size < 1) return NULL;
    render_thumb_t *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->size = size;
    t->max_pixels = max_pixels;
    jpeg_std_error(&t->jerr.pub);
    t->jerr.pub.error_exit = jerr_exit;
    t->jerr.pub.emit_message = jerr_emit;
    t->progress.progress_monitor = jerr_progress;
    if (create_objects(t) < 0) {
        render_thumb_free(t);
        return NULL;
    }
    return t;
}

void render_thumb_free(render_thumb_t *t)
{
    if (t == NULL) return;
    if (t->live_src) jpeg_destroy_decompress(&t->src);
    if (t->live_dst) jpeg_destroy_compress(&t->dst);
    free(t->out);
    free(t->rows.p);
    free(t->vacc.p);
    free(t->px.p);
    free(t->taps.p);
    free(t->xw.p);
    free(t->rowp.p);
    free(t);
}
