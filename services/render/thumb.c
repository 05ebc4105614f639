/* thumb.c - the thumbnail of a rendered image on libjpeg (see thumb.h).
 *
 * One decompress and one compress object per context, created once and
 * reset with jpeg_abort_*() after every call, whatever happened: their
 * tables, source and destination managers and our buffers are reused. Every
 * libjpeg error (and every warning about corrupt data) longjmps back to
 * render_thumb_make(); all state the error path needs lives in the context.
 *
 * The thumbnail is made plane by plane (Y, Cb, Cr; or gray). A grayscale or
 * YCbCr source is read as libjpeg's raw planes (raw_data_out: no upsampling,
 * no colour conversion, each component at the size the scaled IDCT gives
 * it); any other is read as scanlines, turned into YCbCr and split into
 * planes. Each plane is area-averaged straight to its size in the thumbnail:
 * luma to tw x th, chroma to the 4:2:0 half size, a chroma sample covering
 * two thumbnail pixels each way (one at an odd edge, as libjpeg's own
 * downsampling replicates the edge). The planes, padded to whole MCUs by
 * replicating their edges, go to the encoder as raw data (raw_data_in: no
 * colour conversion, no downsampling).
 *
 * The area average works in integer units in which a source sample and a
 * thumbnail sample of every plane have a whole length (start_decode()), so
 * every overlap is exact. A sample's weight is its overlap / the thumbnail
 * sample's length in fixed point, taken as a difference of rounded prefix
 * sums so that the weights of one thumbnail sample add up to exactly 1: a
 * uniform area stays exactly its value. Rows are summed first (vacc, one
 * 16-bit multiply-add per source sample, weights in 1/256), then columns
 * once per thumbnail row (weights in 1/32768, at most 4 taps per column
 * padded to a fixed count when the ratio allows, which is every ratio under
 * 3). A plane whose size does not change is copied. */
#include "thumb.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "jpegio.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Buffers up to this size are kept for the next call. */
#define THUMB_KEEP_BYTES (16u << 20)

/* Rows summed with 8-bit weights into 16 bits (255 x 256 fits), columns with
 * 14-bit weights into 32 bits (65280 x 16384 fits, and a weight fits the
 * signed 16 bits of SSE2's pmaddwd). */
#define VW_BITS 8
#define HW_BITS 14

/* Columns of at most this many taps are padded to 2 or 4 taps each (else
 * each has its own count). */
#define MAX_FIXED_TAPS 4

/* Rows per component and raw read: v_samp_factor x DCT_scaled_size <= 4 x 14. */
#define MAX_RAW_ROWS 64

typedef struct buf {
    void *p;
    size_t cap;
} buf_t;

/* One plane: its source samples, sw x sh, each uw x uh units, read into rows
 * (sstride bytes a row, a multiple of 16); its thumbnail samples, tw x th,
 * sample x covering [x * stepw, min((x + 1) * stepw, totw)) units (alike
 * vertically), written into px (tstride bytes a row, trows rows: whole MCUs). */
typedef struct plane {
    int sw, sh;
    long long uw, uh;
    size_t sstride;
    int tw, th;
    long long stepw, steph, totw, toth;
    size_t tstride;
    int trows;
    int hcopy, vcopy;     /* the same samples horizontally, vertically */
    int ntaps;            /* taps of every column (2 or 4), 0: each its own */
    int cur;              /* next thumbnail row */
    int vacc_empty;       /* nothing summed into vacc for row cur yet */
    buf_t rows;           /* source rows (unsigned char) */
    buf_t vacc;           /* the thumbnail row being summed (uint16_t, sstride) */
    buf_t px;             /* the thumbnail plane (unsigned char) */
    buf_t first;          /* int per thumbnail column: its first source column */
    buf_t count;          /* int per column: its taps (when ntaps is 0) */
    buf_t xw;             /* the columns' weights (int16_t) */
    long long planned[6]; /* what first, count and xw were made for (plan_columns()) */
} plane_t;

struct render_thumb {
    int size;
    long long max_pixels;

    render_jerr_t jerr;
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    int live_src, live_dst;
    render_memdst_t dst_mgr;
    unsigned char *out; /* the last thumbnail, out_len bytes of out_cap */
    size_t out_cap, out_len;

    plane_t pl[3];
    buf_t lines; /* interleaved scanlines (scanline path) */
    JSAMPROW rowp[3][MAX_RAW_ROWS];

    /* the call in progress */
    const unsigned char *in;
    size_t in_len;
    int raw;      /* read as raw planes, else as scanlines */
    int tw, th;   /* thumbnail size */
    int nc;       /* planes: 1 or 3 */
    int dec_nc;   /* components per scanline: 4 for CMYK, 3 (YCbCr or RGB) */
    int cmyk;     /* decoded as CMYK, turned into RGB here */
    int to_ycc;   /* scanlines are RGB, turned into YCbCr here */
    int icc_gray; /* ICC profile colour space of the source */
    int icc_rgb;  /* */
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

static void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
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

/* ---- the area average ---- */

/* The weight of [lo, hi) of a thumbnail sample of length len (units above),
 * in 1/2^bits: differences of rounded prefixes, so a sample's weights sum to
 * exactly 2^bits. */
static unsigned weight(long long lo, long long hi, long long len, int bits)
{
    long long a = ((lo << bits) + len / 2) / len, b = ((hi << bits) + len / 2) / len;
    return (unsigned)(b - a);
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Sets p's thumbnail side: tw x th samples of stepw x steph units in a
 * picture of totw x toth units, padded to whole blocks of bw x bh. */
static void plane_target(plane_t *p, int tw, int th, long long stepw, long long steph,
                         long long totw, long long toth, int bw, int bh)
{
    p->tw = tw;
    p->th = th;
    p->stepw = stepw;
    p->steph = steph;
    p->totw = totw;
    p->toth = toth;
    p->tstride = round_up((size_t)tw, (size_t)bw);
    p->trows = (int)round_up((size_t)th, (size_t)bh);
}

/* Sets p's source side: sw x sh samples of uw x uh units, rows of at least
 * row_bytes. */
static void plane_source(plane_t *p, int sw, int sh, long long uw, long long uh, size_t row_bytes)
{
    p->sw = sw;
    p->sh = sh;
    p->uw = uw;
    p->uh = uh;
    p->sstride = round_up(row_bytes > (size_t)sw ? row_bytes : (size_t)sw, 16);
    p->hcopy = sw == p->tw && uw == p->stepw;
    p->vcopy = sh == p->th && uh == p->steph;
}

/* Each thumbnail column's source columns and weights. Returns 0, or -1 when
 * out of memory. */
static int plan_columns(plane_t *p)
{
    if (p->hcopy) return 0;
    /* a camera sends one size: the last plan is likely this one */
    const long long key[6] = {p->sw, p->uw, p->tw, p->stepw, p->totw, (long long)p->sstride};
    if (memcmp(key, p->planned, sizeof key) == 0) return 0;
    memset(p->planned, 0, sizeof p->planned);
    long long uw = p->uw;
    int most = 1;
    for (int x = 0; x < p->tw; x++) {
        long long a = x * p->stepw, b = a + p->stepw < p->totw ? a + p->stepw : p->totw;
        int n = (int)((b - 1) / uw - a / uw) + 1;
        most = n > most ? n : most;
    }
    p->ntaps = most <= 2 ? 2 : most <= MAX_FIXED_TAPS ? 4 : 0;
    if ((size_t)p->ntaps > p->sstride) p->ntaps = 0;
    size_t cap = p->ntaps ? (size_t)p->tw * (size_t)p->ntaps : (size_t)p->sw + (size_t)p->tw;
    if (buf_reserve(&p->first, (size_t)p->tw * sizeof(int)) < 0 ||
        buf_reserve(&p->count, (size_t)p->tw * sizeof(int)) < 0 ||
        buf_reserve(&p->xw, cap * sizeof(int16_t)) < 0)
        return -1;
    int *first = p->first.p, *count = p->count.p;
    int16_t *xw = p->xw.p;
    size_t k = 0;
    for (int x = 0; x < p->tw; x++) {
        long long a = x * p->stepw, b = a + p->stepw < p->totw ? a + p->stepw : p->totw;
        int j0 = (int)(a / uw), j1 = (int)((b - 1) / uw), base = j0;
        if (p->ntaps) {
            /* ntaps columns from base, those past j1 with weight 0; base moved
             * left where that would read past the row */
            if ((size_t)base + (size_t)p->ntaps > p->sstride) base = (int)p->sstride - p->ntaps;
            memset(xw + k, 0, (size_t)p->ntaps * sizeof(int16_t));
        }
        first[x] = base;
        count[x] = j1 - j0 + 1;
        for (int j = j0; j <= j1; j++) {
            long long lo = j * uw > a ? j * uw : a, hi = (j + 1) * uw < b ? (j + 1) * uw : b;
            xw[k + (size_t)(j - base)] = (int16_t)weight(lo - a, hi - a, b - a, HW_BITS);
        }
        k += p->ntaps ? (size_t)p->ntaps : (size_t)count[x];
    }
    memcpy(p->planned, key, sizeof key);
    return 0;
}

/* Columns x0.. of one thumbnail row, every column n taps (a constant where
 * it is inlined, so the loop over taps unrolls). */
static inline __attribute__((always_inline)) void columns_fixed(unsigned char *restrict o,
                                                                const uint16_t *restrict v,
                                                                const int *first, const int16_t *w,
                                                                int x0, int tw, int n)
{
    const uint32_t half = 1u << (VW_BITS + HW_BITS - 1);
    w += (size_t)x0 * (size_t)n;
    for (int x = x0; x < tw; x++, w += n) {
        const uint16_t *s = v + first[x];
        uint32_t a = half;
#pragma GCC unroll 4
        for (int k = 0; k < n; k++) a += (uint32_t)w[k] * s[k];
        o[x] = (unsigned char)(a >> (VW_BITS + HW_BITS));
    }
}

#ifdef __SSE2__
/* pmaddwd multiplies signed 16 bits: the sums are taken as v - 32768, and
 * 32768 x the weights' total (2^14) added back with the rounding half. */
#define SSE_BIAS() _mm_set1_epi16((short)0x8000)
#define SSE_ROUND() _mm_set1_epi32((1 << (15 + HW_BITS)) + (1 << (VW_BITS + HW_BITS - 1)))

/* Four results of 32 bits (0..255 each) to o[0..3]. */
static inline void store4(unsigned char *o, __m128i a)
{
    a = _mm_srai_epi32(a, VW_BITS + HW_BITS);
    a = _mm_packs_epi32(a, a);
    a = _mm_packus_epi16(a, a);
    uint32_t r = (uint32_t)_mm_cvtsi128_si32(a);
    memcpy(o, &r, 4);
}

/* Columns of 2 taps, four at a time; returns the first column left. */
static int columns2_sse2(unsigned char *o, const uint16_t *v, const int *first, const int16_t *w,
                         int tw)
{
    const __m128i bias = SSE_BIAS(), round = SSE_ROUND();
    int x = 0;
    for (; x + 4 <= tw; x += 4) {
        int32_t p[4];
        for (int k = 0; k < 4; k++) memcpy(&p[k], v + first[x + k], 4);
        __m128i s = _mm_xor_si128(_mm_set_epi32(p[3], p[2], p[1], p[0]), bias);
        __m128i ww = _mm_loadu_si128((const __m128i *)(const void *)(w + 2 * x));
        store4(o + x, _mm_add_epi32(_mm_madd_epi16(s, ww), round));
    }
    return x;
}

/* Columns of 4 taps, four at a time; returns the first column left. */
static int columns4_sse2(unsigned char *o, const uint16_t *v, const int *first, const int16_t *w,
                         int tw)
{
    const __m128i bias = SSE_BIAS(), round = SSE_ROUND();
    int x = 0;
    for (; x + 4 <= tw; x += 4) {
        __m128i s01 = _mm_unpacklo_epi64(_mm_loadl_epi64((const void *)(v + first[x])),
                                         _mm_loadl_epi64((const void *)(v + first[x + 1])));
        __m128i s23 = _mm_unpacklo_epi64(_mm_loadl_epi64((const void *)(v + first[x + 2])),
                                         _mm_loadl_epi64((const void *)(v + first[x + 3])));
        __m128i w01 = _mm_loadu_si128((const __m128i *)(const void *)(w + 4 * x));
        __m128i w23 = _mm_loadu_si128((const __m128i *)(const void *)(w + 4 * x + 8));
        /* pairs: x0 x0 x1 x1 and x2 x2 x3 x3, added pairwise */
        __m128 m01 = _mm_castsi128_ps(_mm_madd_epi16(_mm_xor_si128(s01, bias), w01));
        __m128 m23 = _mm_castsi128_ps(_mm_madd_epi16(_mm_xor_si128(s23, bias), w23));
        __m128i even = _mm_castps_si128(_mm_shuffle_ps(m01, m23, _MM_SHUFFLE(2, 0, 2, 0)));
        __m128i odd = _mm_castps_si128(_mm_shuffle_ps(m01, m23, _MM_SHUFFLE(3, 1, 3, 1)));
        store4(o + x, _mm_add_epi32(_mm_add_epi32(even, odd), round));
    }
    return x;
}
#endif

/* Thumbnail row p->cur from the summed source rows in vacc. */
static void emit_row(plane_t *p)
{
    const uint16_t *v = p->vacc.p;
    unsigned char *o = (unsigned char *)p->px.p + (size_t)p->cur * p->tstride;
    const int *first = p->first.p;
    const int16_t *w = p->xw.p;
    if (p->hcopy) {
        for (int x = 0; x < p->tw; x++)
            o[x] = (unsigned char)((v[x] + (1u << (VW_BITS - 1))) >> VW_BITS);
        return;
    }
    int x = 0;
    switch (p->ntaps) {
    case 2:
#ifdef __SSE2__
        x = columns2_sse2(o, v, first, w, p->tw);
#endif
        columns_fixed(o, v, first, w, x, p->tw, 2);
        return;
    case 4:
#ifdef __SSE2__
        x = columns4_sse2(o, v, first, w, p->tw);
#endif
        columns_fixed(o, v, first, w, x, p->tw, 4);
        return;
    default:
        break;
    }
    const int *count = p->count.p;
    const uint32_t half = 1u << (VW_BITS + HW_BITS - 1);
    for (; x < p->tw; x++) {
        const uint16_t *s = v + first[x];
        uint32_t a = half;
        for (int k = 0; k < count[x]; k++) a += (uint32_t)w[k] * (uint32_t)s[k];
        w += count[x];
        o[x] = (unsigned char)(a >> (VW_BITS + HW_BITS));
    }
}

/* vacc (+)= w x row, over n samples. In blocks of 16 with a fixed count, so
 * that the compiler vectorizes them at -O2 (16-bit lanes); the buffers have
 * room for the last block (n is a multiple of 16). */
static void sum_row(uint16_t *restrict vacc, const unsigned char *restrict row, size_t n,
                    unsigned w, int first)
{
    const uint16_t w16 = (uint16_t)w;
    if (first) {
        for (size_t i = 0; i < n; i += 16)
            for (size_t k = 0; k < 16; k++) vacc[i + k] = (uint16_t)(w16 * row[i + k]);
    } else {
        for (size_t i = 0; i < n; i += 16)
            for (size_t k = 0; k < 16; k++)
                vacc[i + k] = (uint16_t)(vacc[i + k] + w16 * row[i + k]);
    }
}

/* Source row j of p goes into the thumbnail rows it overlaps; each one it
 * completes is emitted. */
static void add_source_row(plane_t *p, int j, const unsigned char *row)
{
    if (p->hcopy && p->vcopy) {
        if (j < p->th)
            memcpy((unsigned char *)p->px.p + (size_t)j * p->tstride, row, (size_t)p->tw);
        return;
    }
    long long a = j * p->uh, b = a + p->uh; /* the source row */
    while (a < b && p->cur < p->th) {
        long long start = p->cur * p->steph;
        long long end = start + p->steph < p->toth ? start + p->steph : p->toth;
        long long stop = b < end ? b : end;
        unsigned w = weight(a - start, stop - start, end - start, VW_BITS);
        if (w > 0 || p->vacc_empty) {
            sum_row(p->vacc.p, row, p->sstride, w, p->vacc_empty);
            p->vacc_empty = 0;
        }
        a = stop;
        if (stop == end) {
            emit_row(p);
            p->cur++;
            p->vacc_empty = 1;
        }
    }
}

/* The plane's buffers for a call; the source rows' padding zeroed (sum_row()
 * reads it). Returns 0, or -1 when out of memory. */
static int plane_alloc(plane_t *p, int src_rows)
{
    size_t rows_bytes = p->sstride * (size_t)src_rows;
    if (buf_reserve(&p->rows, rows_bytes) < 0 ||
        buf_reserve(&p->px, p->tstride * (size_t)p->trows) < 0 ||
        (!(p->hcopy && p->vcopy) && buf_reserve(&p->vacc, p->sstride * sizeof(uint16_t)) < 0) ||
        plan_columns(p) < 0)
        return -1;
    memset(p->rows.p, 0, rows_bytes);
    p->cur = 0;
    p->vacc_empty = 1;
    return 0;
}

/* The padding of p's thumbnail plane: its last column and row repeated, as
 * libjpeg pads an image to whole MCUs. */
static void plane_pad(plane_t *p)
{
    unsigned char *px = p->px.p;
    if (p->tstride > (size_t)p->tw)
        for (int y = 0; y < p->th; y++) {
            unsigned char *r = px + (size_t)y * p->tstride;
            memset(r + p->tw, r[p->tw - 1], p->tstride - (size_t)p->tw);
        }
    for (int y = p->th; y < p->trows; y++)
        memcpy(px + (size_t)y * p->tstride, px + (size_t)(p->th - 1) * p->tstride, p->tstride);
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

/* One scanline of RGB (3 bytes a pixel) into the Y, Cb and Cr rows, with
 * libjpeg's own fixed-point conversion (jccolor.c). */
static void rgb_to_ycc(const unsigned char *in, int w, unsigned char *y, unsigned char *cb,
                       unsigned char *cr)
{
#define FIX(x) ((int32_t)((x)*65536 + 0.5))
    const int32_t half = 1 << 15, offset = 128 << 16;
    for (int x = 0; x < w; x++, in += 3) {
        int32_t r = in[0], g = in[1], b = in[2];
        y[x] = (unsigned char)((FIX(0.29900) * r + FIX(0.58700) * g + FIX(0.11400) * b + half) >>
                               16);
        cb[x] = (unsigned char)((-FIX(0.16874) * r - FIX(0.33126) * g + FIX(0.5) * b + offset +
                                 half - 1) >>
                                16);
        cr[x] = (unsigned char)((FIX(0.5) * r - FIX(0.41869) * g - FIX(0.08131) * b + offset +
                                 half - 1) >>
                                16);
    }
#undef FIX
}

/* The thumbnail planes' geometry: luma (or gray) tw x th, chroma half that
 * (4:2:0), in units where the picture is w * M * tw wide (a thumbnail pixel
 * w * M units) and h * M * th high. */
static void plan_targets(render_thumb_t *t, int w, int h, int m)
{
    long long pw = (long long)w * m, ph = (long long)h * m;
    long long totw = pw * t->tw, toth = ph * t->th;
    int block = t->nc == 1 ? 8 : 16; /* the luma MCU */
    plane_target(&t->pl[0], t->tw, t->th, pw, ph, totw, toth, block, block);
    for (int c = 1; c < t->nc; c++)
        plane_target(&t->pl[c], (t->tw + 1) / 2, (t->th + 1) / 2, 2 * pw, 2 * ph, totw, toth, 8, 8);
}

/* Whether the raw planes of the scaled decode (after jpeg_start_decompress)
 * have whole lengths in the units of plan_targets(): then the source side of
 * each plane is set and 1 is returned, else 0 (read scanlines instead). */
static int plan_raw_sources(render_thumb_t *t, int m)
{
    j_decompress_ptr s = &t->src;
    for (int c = 0; c < t->nc; c++) {
        const jpeg_component_info *ci = &s->comp_info[c];
        /* The component spans w * h_c * ds_c / (max_h * 8) samples of the
         * picture's w * M * tw units (alike vertically). */
        long long nw = 8LL * m * t->tw * s->max_h_samp_factor,
                  dw = (long long)ci->h_samp_factor * ci->DCT_scaled_size;
        long long nh = 8LL * m * t->th * s->max_v_samp_factor,
                  dh = (long long)ci->v_samp_factor * ci->DCT_scaled_size;
        if (ci->v_samp_factor * ci->DCT_scaled_size > MAX_RAW_ROWS || nw % dw != 0 || nh % dh != 0)
            return 0;
    }
    for (int c = 0; c < t->nc; c++) {
        const jpeg_component_info *ci = &s->comp_info[c];
        long long dw = (long long)ci->h_samp_factor * ci->DCT_scaled_size,
                  dh = (long long)ci->v_samp_factor * ci->DCT_scaled_size;
        plane_source(&t->pl[c], (int)ci->downsampled_width, (int)ci->downsampled_height,
                     8LL * m * t->tw * s->max_h_samp_factor / dw,
                     8LL * m * t->th * s->max_v_samp_factor / dh,
                     (size_t)ci->width_in_blocks * (size_t)ci->DCT_scaled_size);
    }
    return 1;
}

/* Header, limits, scale and colour spaces; then jpeg_start_decompress and
 * the planes' geometry. */
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
    /* Scanlines only (raw planes are never upsampled): no effect on a scaled
     * 4:2:0 decode (libjpeg scales chroma up in its IDCT there); 6 % fewer
     * instructions at full scale. JDCT_IFAST saves under 0.5 %: the
     * accurate IDCT is kept. */
    s->do_fancy_upsampling = FALSE;
    t->cmyk = t->to_ycc = 0;
    t->nc = s->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    t->raw = (s->jpeg_color_space == JCS_GRAYSCALE && s->num_components == 1) ||
             (s->jpeg_color_space == JCS_YCbCr && s->num_components == 3);
    plan_targets(t, w, h, m);
    if (t->raw) {
        s->raw_data_out = TRUE;
        jpeg_start_decompress(s);
        if (plan_raw_sources(t, m)) return 0;
        /* an odd sampling whose planes do not fit the units: scanlines */
        jpeg_abort_decompress(s);
        jpeg_mem_src(s, t->in, (unsigned long)t->in_len);
        jpeg_read_header(s, TRUE);
        s->scale_num = (unsigned)m;
        s->scale_denom = 8;
        s->do_fancy_upsampling = FALSE;
        t->raw = 0;
    }
    switch (s->jpeg_color_space) {
    case JCS_YCbCr:
        s->out_color_space = JCS_YCbCr; /* split into planes as it is */
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        s->out_color_space = JCS_CMYK;
        t->cmyk = t->to_ycc = 1;
        break;
    default:
        s->out_color_space = JCS_RGB;
        t->to_ycc = 1;
        break;
    }
    jpeg_start_decompress(s);
    t->dec_nc = s->output_components;
    /* The picture is w * M / 8 decoded pixels wide, which libjpeg rounds up
     * (its last column then covers padding in part): one decoded pixel is
     * 8 * tw units (and alike vertically). */
    for (int c = 0; c < t->nc; c++)
        plane_source(&t->pl[c], (int)s->output_width, (int)s->output_height, 8LL * t->tw,
                     8LL * t->th, 0);
    return 0;
}

static int out_of_memory(render_thumb_t *t, char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory for a %dx%d thumbnail", t->tw, t->th);
    return -1;
}

/* Reads the raw planes an iMCU row at a time into the thumbnail's planes. */
static int decode_raw(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    JSAMPARRAY data[3] = {NULL, NULL, NULL};
    int rows[3] = {0, 0, 0};
    const int nc = t->nc; /* 1 or 3 */
    for (int c = 0; c < nc; c++) {
        plane_t *p = &t->pl[c];
        rows[c] = s->comp_info[c].v_samp_factor * s->comp_info[c].DCT_scaled_size;
        if (plane_alloc(p, rows[c]) < 0) return out_of_memory(t, err, errlen);
        for (int r = 0; r < rows[c]; r++)
            t->rowp[c][r] = (unsigned char *)p->rows.p + (size_t)r * p->sstride;
        data[c] = t->rowp[c];
    }
    JDIMENSION lines = (JDIMENSION)(s->max_v_samp_factor * s->min_DCT_scaled_size);
    for (int row = 0; s->output_scanline < s->output_height; row++) {
        if (jpeg_read_raw_data(s, data, lines) == 0) ERREXIT(s, JERR_INPUT_EMPTY);
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < rows[c]; r++) {
                int j = row * rows[c] + r;
                if (j < t->pl[c].sh) add_source_row(&t->pl[c], j, t->rowp[c][r]);
            }
    }
    return 0;
}

/* Reads scanlines, turns them into YCbCr planes, then into the thumbnail's. */
static int decode_lines(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    int batch = s->rec_outbuf_height > 0 ? s->rec_outbuf_height : 1;
    batch = batch < MAX_RAW_ROWS ? batch : MAX_RAW_ROWS;
    size_t stride = (size_t)s->output_width * (size_t)t->dec_nc;
    if (buf_reserve(&t->lines, stride * (size_t)batch) < 0) return out_of_memory(t, err, errlen);
    for (int c = 0; c < 3; c++)
        if (plane_alloc(&t->pl[c], 1) < 0) return out_of_memory(t, err, errlen);
    for (int i = 0; i < batch; i++)
        t->rowp[0][i] = (unsigned char *)t->lines.p + (size_t)i * stride;
    int sw = (int)s->output_width;
    unsigned char *y = t->pl[0].rows.p, *cb = t->pl[1].rows.p, *cr = t->pl[2].rows.p;
    while (s->output_scanline < s->output_height) {
        int j0 = (int)s->output_scanline;
        int got = (int)jpeg_read_scanlines(s, t->rowp[0], (JDIMENSION)batch);
        if (got == 0) ERREXIT(s, JERR_INPUT_EMPTY);
        for (int i = 0; i < got; i++) {
            unsigned char *line = t->rowp[0][i];
            if (t->cmyk) cmyk_to_rgb(line, sw, s->saw_Adobe_marker);
            if (t->to_ycc) {
                rgb_to_ycc(line, sw, y, cb, cr);
            } else {
                for (int x = 0; x < sw; x++) {
                    y[x] = line[3 * x];
                    cb[x] = line[3 * x + 1];
                    cr[x] = line[3 * x + 2];
                }
            }
            for (int c = 0; c < 3; c++) add_source_row(&t->pl[c], j0 + i, t->pl[c].rows.p);
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
    c->in_color_space = t->nc == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
    jpeg_set_defaults(c); /* YCbCr 4:2:0 (or gray), Huffman tables not optimized */
    jpeg_set_quality(c, RENDER_THUMB_QUALITY, TRUE);
    c->raw_data_in = TRUE; /* the planes as they are: no conversion, no downsampling */
    jpeg_start_compress(c, TRUE);
    if (t->nc == 1 ? t->icc_gray : t->icc_rgb && !t->cmyk)
        for (jpeg_saved_marker_ptr m = t->src.marker_list; m != NULL; m = m->next)
            if (is_icc(m)) jpeg_write_marker(c, m->marker, m->data, m->data_length);
    JSAMPARRAY data[3];
    for (int k = 0; k < t->nc; k++) data[k] = t->rowp[k];
    int lines = c->max_v_samp_factor * DCTSIZE; /* an iMCU row: 16 luma rows, or 8 */
    while (c->next_scanline < c->image_height) {
        int y0 = (int)c->next_scanline;
        for (int k = 0; k < t->nc; k++) {
            const plane_t *p = &t->pl[k];
            int v = c->comp_info[k].v_samp_factor * DCTSIZE,
                first = y0 / c->max_v_samp_factor * c->comp_info[k].v_samp_factor;
            for (int r = 0; r < v; r++)
                t->rowp[k][r] = (unsigned char *)p->px.p + (size_t)(first + r) * p->tstride;
        }
        jpeg_write_raw_data(c, data, (JDIMENSION)lines);
    }
    jpeg_finish_compress(c);
    t->out_len = t->dst_mgr.len;
}

static int run(render_thumb_t *t, char *err, size_t errlen)
{
    if (start_decode(t, err, errlen) < 0 ||
        (t->raw ? decode_raw(t, err, errlen) : decode_lines(t, err, errlen)) < 0)
        return -1;
    for (int c = 0; c < t->nc; c++) plane_pad(&t->pl[c]);
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
    buf_trim(&t->lines);
    for (int c = 0; c < 3; c++) {
        buf_trim(&t->pl[c].rows);
        buf_trim(&t->pl[c].vacc);
        buf_trim(&t->pl[c].px);
        /* first, count and xw are small (a thumbnail row's worth) and kept
         * with their plan */
    }
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
    render_memdst_attach(&t->dst, &t->dst_mgr, &t->out, &t->out_cap, 16384);
    return 0;
}

render_thumb_t *render_thumb_new(int size, long long max_pixels)
{
    if (size < 1) return NULL;
    render_thumb_t *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->size = size;
    t->max_pixels = max_pixels;
    render_jerr_init(&t->jerr, &t->progress);
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
    buf_free(&t->lines);
    for (int c = 0; c < 3; c++) {
        plane_t *p = &t->pl[c];
        buf_free(&p->rows);
        buf_free(&p->vacc);
        buf_free(&p->px);
        buf_free(&p->first);
        buf_free(&p->count);
        buf_free(&p->xw);
    }
    free(t);
}
