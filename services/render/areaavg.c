/* areaavg.c - exact area-average resampling of one plane (see areaavg.h). */
#include "areaavg.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Rows summed with 8-bit weights into 16 bits (255 x 256 fits), columns with
 * 14-bit weights into 32 bits (65280 x 16384 fits, and a weight fits the
 * signed 16 bits of SSE2's pmaddwd). */
#define VW_BITS 8
#define HW_BITS 14

/* Columns of at most this many taps are padded to 2 or 4 taps each (else
 * each has its own count). */
#define MAX_FIXED_TAPS 4

void render_plane_init(render_plane_t *p)
{
    *p = (render_plane_t){0};
    /* sizes follow the thumbnail and the source, both bounded by MAX_PIXELS */
    dynbuf_init(&p->rows, DYNBUF_NO_MAX);
    dynbuf_init(&p->vacc, DYNBUF_NO_MAX);
    dynbuf_init(&p->px, DYNBUF_NO_MAX);
    dynbuf_init(&p->first, DYNBUF_NO_MAX);
    dynbuf_init(&p->count, DYNBUF_NO_MAX);
    dynbuf_init(&p->xw, DYNBUF_NO_MAX);
}

void render_plane_free(render_plane_t *p)
{
    dynbuf_free(&p->rows);
    dynbuf_free(&p->vacc);
    dynbuf_free(&p->px);
    dynbuf_free(&p->first);
    dynbuf_free(&p->count);
    dynbuf_free(&p->xw);
}

void render_plane_trim(render_plane_t *p)
{
    dynbuf_trim(&p->rows, RENDER_BUF_KEEP_BYTES);
    dynbuf_trim(&p->vacc, RENDER_BUF_KEEP_BYTES);
    dynbuf_trim(&p->px, RENDER_BUF_KEEP_BYTES);
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
void render_plane_target(render_plane_t *p, int tw, int th, long long stepw, long long steph,
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
void render_plane_source(render_plane_t *p, int sw, int sh, long long uw, long long uh,
                         size_t row_bytes)
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
static int plan_columns(render_plane_t *p)
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
    if (dynbuf_reserve(&p->first, (size_t)p->tw * sizeof(int)) < 0 ||
        dynbuf_reserve(&p->count, (size_t)p->tw * sizeof(int)) < 0 ||
        dynbuf_reserve(&p->xw, cap * sizeof(int16_t)) < 0)
        return -1;
    int *first = (int *)p->first.ptr, *count = (int *)p->count.ptr;
    int16_t *xw = (int16_t *)p->xw.ptr;
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
static void emit_row(render_plane_t *p)
{
    const uint16_t *v = (const uint16_t *)p->vacc.ptr;
    unsigned char *o = p->px.ptr + (size_t)p->cur * p->tstride;
    const int *first = (const int *)p->first.ptr;
    const int16_t *w = (const int16_t *)p->xw.ptr;
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
    const int *count = (const int *)p->count.ptr;
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
void render_plane_add_row(render_plane_t *p, int j, const unsigned char *row)
{
    if (p->hcopy && p->vcopy) {
        if (j < p->th) memcpy(p->px.ptr + (size_t)j * p->tstride, row, (size_t)p->tw);
        return;
    }
    long long a = j * p->uh, b = a + p->uh; /* the source row */
    while (a < b && p->cur < p->th) {
        long long start = p->cur * p->steph;
        long long end = start + p->steph < p->toth ? start + p->steph : p->toth;
        long long stop = b < end ? b : end;
        unsigned w = weight(a - start, stop - start, end - start, VW_BITS);
        if (w > 0 || p->vacc_empty) {
            sum_row((uint16_t *)p->vacc.ptr, row, p->sstride, w, p->vacc_empty);
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
int render_plane_alloc(render_plane_t *p, int src_rows)
{
    size_t rows_bytes = p->sstride * (size_t)src_rows;
    if (dynbuf_reserve(&p->rows, rows_bytes) < 0 ||
        dynbuf_reserve(&p->px, p->tstride * (size_t)p->trows) < 0 ||
        (!(p->hcopy && p->vcopy) && dynbuf_reserve(&p->vacc, p->sstride * sizeof(uint16_t)) < 0) ||
        plan_columns(p) < 0)
        return -1;
    memset(p->rows.ptr, 0, rows_bytes);
    p->cur = 0;
    p->vacc_empty = 1;
    return 0;
}

/* The padding of p's thumbnail plane: its last column and row repeated, as
 * libjpeg pads an image to whole MCUs. */
void render_plane_pad(render_plane_t *p)
{
    unsigned char *px = p->px.ptr;
    if (p->tstride > (size_t)p->tw)
        for (int y = 0; y < p->th; y++) {
            unsigned char *r = px + (size_t)y * p->tstride;
            memset(r + p->tw, r[p->tw - 1], p->tstride - (size_t)p->tw);
        }
    for (int y = p->th; y < p->trows; y++)
        memcpy(px + (size_t)y * p->tstride, px + (size_t)(p->th - 1) * p->tstride, p->tstride);
}
