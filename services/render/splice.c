/* splice.c - the entropy-data splice (see splice.h). */
#include "splice.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Zigzag position -> natural index (T.81 figure A.6). */
/* clang-format off */
static const unsigned char zigzag[64] = {
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};
/* clang-format on */

/* Worst case for one block: 16+11 bits of DC, 63 x (16+10) bits of AC, an
 * EOB, every byte stuffed: 424 bytes. */
#define BLOCK_MAX_BYTES 512

int render_splice_parse(const unsigned char *in, size_t len, render_splice_src_t *sp, char *why,
                        size_t whylen)
{
    memset(sp, 0, sizeof *sp);
    if (len < 4 || in[0] != 0xFF || in[1] != 0xD8) {
        snprintf(why, whylen, "no SOI");
        return -1;
    }
    size_t i = 2, data = 0;
    unsigned ncomp = 0;
    while (!data) {
        if (i + 4 > len || in[i] != 0xFF) {
            /* libjpeg skips stray bytes between segments with a warning;
             * such a file is left to the coefficient copy */
            snprintf(why, whylen, "no marker segment at byte %zu", i);
            return -1;
        }
        if (in[i + 1] == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        unsigned m = in[i + 1];
        size_t seglen = (size_t)in[i + 2] << 8 | in[i + 3];
        if (m == 0x00 || m == 0x01 || m == 0xD8 || m == 0xD9 || (m >= 0xD0 && m <= 0xD7) ||
            seglen < 2 || i + 2 + seglen > len) {
            snprintf(why, whylen, "marker 0x%02x at byte %zu before the scan", m, i);
            return -1;
        }
        if (m == 0xC0 || m == 0xC1) {
            if (sp->sof || seglen < 8 || seglen != 8 + 3 * (size_t)in[i + 9]) {
                snprintf(why, whylen, "unexpected SOF at byte %zu", i);
                return -1;
            }
            sp->sof = i;
            ncomp = in[i + 9];
        } else if (m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            snprintf(why, whylen, "SOF%u: not sequential Huffman", m - 0xC0);
            return -1;
        } else if (m == 0xDA) {
            if (!sp->sof || seglen < 3 || in[i + 4] != ncomp) {
                snprintf(why, whylen, "the first scan does not hold every component");
                return -1;
            }
            sp->sos = i;
            data = sp->data = i + 2 + seglen;
        }
        i += 2 + seglen;
    }
    /* The scan's data runs to the first marker other than RSTn; it must be
     * EOI, or there are more scans (or something this route does not copy). */
    for (size_t j = data; j + 1 < len; j++) {
        const unsigned char *ff = memchr(in + j, 0xFF, len - 1 - j);
        if (ff == NULL) break;
        j = (size_t)(ff - in);
        if (in[j + 1] == 0x00 || in[j + 1] == 0xFF) continue;
        if (in[j + 1] >= 0xD0 && in[j + 1] <= 0xD7) {
            sp->restarts++;
            continue;
        }
        if (in[j + 1] != 0xD9) {
            snprintf(why, whylen, "marker 0x%02x after the scan's data", in[j + 1]);
            return -1;
        }
        /* an 0xFF before a marker's 0xFF can only be a fill byte */
        while (j > data && in[j - 1] == 0xFF) j--;
        sp->scan_end = j;
        return 0;
    }
    snprintf(why, whylen, "no EOI after the scan");
    return -1;
}

/* ---- Huffman encoding with the source's tables ---- */

typedef struct huff {
    unsigned short code[256];
    unsigned char size[256]; /* 0: the symbol has no code */
} huff_t;

/* Canonical codes of t (T.81 annex C), with the checks libjpeg's
 * jpeg_make_c_derived_tbl() makes. 0, or -1 with why. */
static int huff_build(const JHUFF_TBL *t, int dc, int no, huff_t *h, char *why, size_t whylen)
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

typedef struct bitw {
    unsigned char *p; /* room for the next bytes was reserved by the caller */
    uint64_t acc;     /* the low nbits bits are pending, oldest first */
    int nbits;
} bitw_t;

/* Whole bytes leave acc (0xFF stuffed with 0x00) once 32 bits are pending,
 * so a put of up to 27 bits never overflows it. */
static inline void bitw_put(bitw_t *w, uint64_t bits, int n)
{
    w->acc = w->acc << n | (bits & ((1ULL << n) - 1));
    w->nbits += n;
    if (w->nbits < 32) return;
    uint32_t top = (uint32_t)(w->acc >> (w->nbits - 32));
    /* no 0xFF among the four bytes (~top has no zero byte): out at once */
    if (!((~top - 0x01010101u) & top & 0x80808080u)) {
        w->p[0] = (unsigned char)(top >> 24);
        w->p[1] = (unsigned char)(top >> 16);
        w->p[2] = (unsigned char)(top >> 8);
        w->p[3] = (unsigned char)top;
        w->p += 4;
        w->nbits -= 32;
        return;
    }
    while (w->nbits >= 8) {
        w->nbits -= 8;
        unsigned char b = (unsigned char)(w->acc >> w->nbits);
        *w->p++ = b;
        if (b == 0xFF) *w->p++ = 0;
    }
}

/* Writes out what is pending, the last byte padded with ones as libjpeg
 * does before a marker. */
static void bitw_flush(bitw_t *w)
{
    int pad = (8 - w->nbits % 8) % 8;
    w->acc = w->acc << pad | ((1ULL << pad) - 1);
    w->nbits += pad;
    while (w->nbits >= 8) {
        w->nbits -= 8;
        unsigned char b = (unsigned char)(w->acc >> w->nbits);
        *w->p++ = b;
        if (b == 0xFF) *w->p++ = 0;
    }
    w->acc = 0;
}

static inline int nbits_of(int v)
{
    unsigned a = (unsigned)(v < 0 ? -v : v);
    return a ? 32 - __builtin_clz(a) : 0;
}

static int missing(char *why, size_t whylen, const char *kind, unsigned sym)
{
    snprintf(why, whylen, "the band needs %s symbol 0x%02x, which the source's tables lack", kind,
             sym);
    return 1;
}

/* zz_of_byte[i][v]: the zigzag positions, as bits, of the coefficients at
 * natural positions 8i..8i+7 whose bits are set in v. */
static uint64_t zz_of_byte[8][256];
static pthread_once_t zz_once = PTHREAD_ONCE_INIT;

static void zz_init(void)
{
    unsigned char pos[64]; /* natural -> zigzag */
    for (int k = 0; k < 64; k++) pos[zigzag[k]] = (unsigned char)k;
    for (int i = 0; i < 8; i++)
        for (int v = 0; v < 256; v++) {
            uint64_t m = 0;
            for (int j = 0; j < 8; j++)
                if (v >> j & 1) m |= 1ULL << pos[8 * i + j];
            zz_of_byte[i][v] = m;
        }
}

/* Bit i set: coefficient i (natural order) is nonzero. */
static inline uint64_t nonzero_natural(const JCOEF *b)
{
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    uint64_t m = 0;
    for (int i = 0; i < 64; i += 16) {
        __m128i lo = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i)), zero);
        __m128i hi = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + i + 8)),
                                     zero);
        unsigned zeros = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(lo, hi));
        m |= (uint64_t)(zeros ^ 0xFFFFu) << i;
    }
    return m;
#else
    uint64_t m = 0;
    for (int i = 0; i < 64; i++) m |= (uint64_t)(b[i] != 0) << i;
    return m;
#endif
}

/* Bit k-1 set: the AC coefficient at zigzag position k is nonzero. Most
 * blocks of a band are flat: no bit. */
static inline uint64_t ac_nonzero_zigzag(const JCOEF *b)
{
    uint64_t nat = nonzero_natural(b) & ~1ULL;
    if (!nat) return 0;
    uint64_t zz = 0;
    for (int i = 0; i < 8; i++) zz |= zz_of_byte[i][nat >> (8 * i) & 255];
    return zz >> 1;
}

/* One block as libjpeg's encode_one_block() codes it. 0, or 1 with why when
 * a symbol has no code: libjpeg-turbo's encoder would write garbage for it
 * (it does not check), so this is where the splice gives up. */
static int encode_block(bitw_t *w, const JCOEF *b, int *last_dc, const huff_t *dc, const huff_t *ac,
                        char *why, size_t whylen)
{
    int diff = b[0] - *last_dc;
    *last_dc = b[0];
    int n = nbits_of(diff);
    if (n > 11 || !dc->size[n]) return missing(why, whylen, "DC", (unsigned)n);
    bitw_put(
        w, (uint64_t)dc->code[n] << n | ((unsigned)(diff < 0 ? diff - 1 : diff) & ((1u << n) - 1)),
        dc->size[n] + n);
    uint64_t nz = ac_nonzero_zigzag(b);
    int k = 1;
    while (nz) {
        int skip = __builtin_ctzll(nz);
        int run = skip;
        k += skip;
        nz >>= skip;
        nz >>= 1;
        for (; run > 15; run -= 16) {
            if (!ac->size[0xF0]) return missing(why, whylen, "AC", 0xF0);
            bitw_put(w, ac->code[0xF0], ac->size[0xF0]);
        }
        int v = b[zigzag[k]];
        n = nbits_of(v);
        unsigned sym = (unsigned)(run << 4 | n);
        if (n > 10 || !ac->size[sym]) return missing(why, whylen, "AC", sym);
        bitw_put(w,
                 (uint64_t)ac->code[sym] << n | ((unsigned)(v < 0 ? v - 1 : v) & ((1u << n) - 1)),
                 ac->size[sym] + n);
        k++;
    }
    if (k < 64) {
        if (!ac->size[0]) return missing(why, whylen, "AC", 0);
        bitw_put(w, ac->code[0], ac->size[0]);
    }
    return 0;
}

/* ---- reading the picture's scan ----
 *
 * The walk only has to know how many bits each code and its extra bits take
 * and where the block's coefficient index goes, never a coefficient's value.
 * So one lookup on the next LOOK_BITS bits of the data resolves, for every
 * code of up to LOOK_BITS bits, everything the symbol means to the walk
 * (a step), extra bits included even when they lie beyond those LOOK_BITS;
 * for AC codes, a second table goes further and resolves every step that
 * lies wholly in those bits at once (most AC steps are a few bits long). */

/* 12: a render of the benchmark's camera image took 0.52 ms of CPU with 11,
 * 0.46 with 12; 13 and 14 gained nothing more (an AC table's two arrays
 * outgrow the L1 cache). */
#define LOOK_BITS 12

/* A step, packed in 32 bits (0: the code is longer than LOOK_BITS):
 *   bits 0-4   bits to consume: the code and its extra bits (at most 16+11);
 *   bits 5-10  the largest coefficient index at which the step may start,
 *              0 for a symbol the walk refuses (every index is 1 or more);
 *   bits 11-17 how far the index moves: run + 1, 16 for ZRL, 64 for EOB (so
 *              the block ends; a run of steps ending with EOB, more). */
#define STEP(bits, maxk, adv) ((uint32_t)(bits) | (uint32_t)(maxk) << 5 | (uint32_t)(adv) << 11)
#define STEP_BITS(e) ((int)((e)&31))
#define STEP_MAXK(e) ((int)((e) >> 5 & 63))
#define STEP_ADV(e) ((int)((e) >> 11))

/* The step of symbol sym whose code has len bits. Stricter than libjpeg: a
 * DC size over 11, an AC size over 10, a coefficient past the 64th and
 * run/size symbols without a size other than EOB and ZRL are refused. A ZRL
 * may run past the 64th coefficient: that ends the block, as in libjpeg. */
static uint32_t step_of(int dc, unsigned sym, int len)
{
    if (dc) return sym > 11 ? STEP(len, 0, 0) : STEP(len + (int)sym, 63, 0);
    unsigned run = sym >> 4, size = sym & 15;
    if (sym == 0x00) return STEP(len, 63, 64);
    if (sym == 0xF0) return STEP(len, 63, 16);
    if (!size || size > 10) return STEP(len, 0, 0);
    return STEP(len + (int)size, 63 - (int)run, (int)run + 1);
}

/* A decoding table: steps of codes of up to LOOK_BITS bits by lookup,
 * longer ones by length. */
typedef struct dtab {
    uint32_t look[1 << LOOK_BITS];  /* the step of the code the next LOOK_BITS
                                       bits start with; 0: a longer code (or none) */
    uint32_t multi[1 << LOOK_BITS]; /* AC: the steps wholly in the next
                                       LOOK_BITS bits as one, ending at the
                                       first EOB or ZRL; else as look */
    int32_t maxcode[17];            /* largest code of each length, -1: none */
    int32_t valoff[17];             /* huffval index of a length's first code minus that code */
    unsigned char huffval[256];
    int dc;
} dtab_t;

/* multi[] from look[]. A run of steps is valid from index k when each is:
 * the i-th needs k + (index moves of those before it) <= its largest start.
 * For the run, the tightest of these holds: a run whose steps before the
 * last move the index by a, with a last step allowing starts up to m, may
 * start at up to m - a; for steps other than EOB and ZRL, m = 64 - their
 * own move, so no step but the last can end the block (a block ended in the
 * middle of the bits would make the rest a DC code). An index past the run's
 * limit takes the first step alone (look[]), which then decides. */
static void dtab_multi(dtab_t *d)
{
    const unsigned mask = (1u << LOOK_BITS) - 1;
    for (unsigned i = 0; i <= mask; i++) {
        uint32_t first = d->look[i];
        d->multi[i] = first;
        if (!first || STEP_BITS(first) > LOOK_BITS || !STEP_MAXK(first) || STEP_ADV(first) >= 16)
            continue;
        int bits = STEP_BITS(first), adv = STEP_ADV(first), maxk = STEP_MAXK(first);
        for (;;) {
            /* the next step, from the bits left (zeros after them) */
            uint32_t e = d->look[(i << bits) & mask];
            if (!e || STEP_BITS(e) > LOOK_BITS - bits || STEP_MAXK(e) - adv < 1) break;
            maxk = STEP_MAXK(e) - adv;
            bits += STEP_BITS(e);
            adv += STEP_ADV(e);
            /* EOB or ZRL (or a run of 15 zeros): the index may reach 64 */
            if (STEP_ADV(e) >= 16) break;
        }
        d->multi[i] = STEP(bits, maxk, adv);
    }
}

static int dtab_build(const JHUFF_TBL *t, int dc, int no, dtab_t *d, char *why, size_t whylen)
{
    huff_t h; /* validates the table as the encoder side does */
    if (huff_build(t, dc, no, &h, why, whylen)) return -1;
    memset(d->look, 0, sizeof d->look);
    memcpy(d->huffval, t->huffval, sizeof d->huffval);
    d->dc = dc;
    int32_t code = 0;
    int k = 0;
    for (int l = 1; l <= 16; l++) {
        if (!t->bits[l]) {
            d->maxcode[l] = -1;
        } else {
            d->valoff[l] = k - code;
            for (unsigned n = 0; n < t->bits[l]; n++, k++, code++)
                if (l <= LOOK_BITS) {
                    uint32_t e = step_of(dc, t->huffval[k], l);
                    for (int fill = 0; fill < 1 << (LOOK_BITS - l); fill++)
                        d->look[code << (LOOK_BITS - l) | fill] = e;
                }
            d->maxcode[l] = code - 1;
        }
        code <<= 1;
    }
    if (!dc) dtab_multi(d);
    return 0;
}

/* The step of a code longer than LOOK_BITS at the top of acc; 0 when no
 * code of the table starts there. */
static uint32_t dtab_long(const dtab_t *d, uint64_t acc)
{
    for (int len = LOOK_BITS + 1; len <= 16; len++) {
        int32_t code = (int32_t)(acc >> (64 - len));
        if (code <= d->maxcode[len]) return step_of(d->dc, d->huffval[d->valoff[len] + code], len);
    }
    return 0;
}

/* The scan's data with its stuffing taken out (clean), cut into segments
 * at its markers (RSTn, or anything else that ends the data): segment i runs
 * from the end of marker i-1 to mark[i].at, the last one to clean_len. The
 * walk then reads plain bytes, with no 0xFF to watch for: testing every
 * 8-byte load for one was a quarter of the walk's mispredicted branches. */
typedef struct scan_mark {
    size_t at;     /* where the segment before the marker ends, in clean */
    unsigned code; /* the marker's second byte; 0x100: the data ends with 0xFF */
} scan_mark_t;

typedef struct scan_data {
    unsigned char *clean;
    size_t clean_len, clean_cap;
    scan_mark_t *mark;
    size_t nmarks, marks_cap;
} scan_data_t;

/* Fills sd from in[from, to). 0, or -1 when out of memory. */
static int scan_data_split(scan_data_t *sd, const unsigned char *in, size_t from, size_t to)
{
    if (to - from > sd->clean_cap) {
        unsigned char *p = realloc(sd->clean, to - from);
        if (p == NULL) return -1;
        sd->clean = p;
        sd->clean_cap = to - from;
    }
    sd->clean_len = sd->nmarks = 0;
    const unsigned char *s = in + from, *e = in + to;
    while (s < e) {
        const unsigned char *ff = memchr(s, 0xFF, (size_t)(e - s));
        size_t run = (size_t)((ff != NULL ? ff : e) - s);
        memcpy(sd->clean + sd->clean_len, s, run);
        sd->clean_len += run;
        if (ff == NULL) break;
        if (ff + 1 < e && ff[1] == 0x00) { /* a stuffed 0xFF data byte */
            sd->clean[sd->clean_len++] = 0xFF;
            s = ff + 2;
            continue;
        }
        if (sd->nmarks == sd->marks_cap) {
            size_t n = sd->marks_cap ? 2 * sd->marks_cap : 16;
            scan_mark_t *m = realloc(sd->mark, n * sizeof *m);
            if (m == NULL) return -1;
            sd->mark = m;
            sd->marks_cap = n;
        }
        sd->mark[sd->nmarks].at = sd->clean_len;
        sd->mark[sd->nmarks++].code = ff + 1 < e ? ff[1] : 0x100u;
        s = ff + 2;
    }
    return 0;
}

/* MSB-first bits of one segment of clean data. The verdict only depends on
 * whether a code or its extra bits reach past the segment's last bit: the
 * bits of acc below its top n are either zero or the segment's next bits
 * (the fast refill puts part of a byte it has not yet counted there, which
 * the next refill puts again at the same place). */
typedef struct bitr {
    const unsigned char *p, *end;
    uint64_t acc; /* the next n bits, at the top */
    int n;        /* 0..63: shifts by n stay defined */
} bitr_t;

static inline uint64_t load_be64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Tops acc up to 56 bits or more, or to the rest of the segment. Called
 * before every code without looking at n first: that test depends on the
 * data and was mispredicted on about one code in three. */
static inline void bitr_topup(bitr_t *r)
{
    if (r->end - r->p >= 8) {
        r->acc |= load_be64(r->p) >> r->n;
        r->p += (63 - r->n) >> 3;
        r->n |= 56;
        return;
    }
    while (r->n < 56 && r->p < r->end) {
        r->acc |= (uint64_t)*r->p++ << (56 - r->n);
        r->n += 8;
    }
}

/* A reader at the start of segment i of sd. */
static bitr_t segment(const scan_data_t *sd, size_t i)
{
    /* A scan with no data bytes left clean unallocated: NULL + 0 is undefined. */
    if (sd->clean == NULL) return (bitr_t){NULL, NULL, 0, 0};
    size_t from = i ? sd->mark[i - 1].at : 0;
    size_t to = i < sd->nmarks ? sd->mark[i].at : sd->clean_len;
    return (bitr_t){sd->clean + from, sd->clean + to, 0, 0};
}

/* jpeg_read_header() refuses sampling factors over 4 */
#define SAMP_BLOCKS_MAX 16

/* The scan's blocks, in MCU order, as pairs of tables. */
typedef struct mcu_tabs {
    const dtab_t *dc[MAX_COMPS_IN_SCAN * SAMP_BLOCKS_MAX], *ac[MAX_COMPS_IN_SCAN * SAMP_BLOCKS_MAX];
    int blocks;
} mcu_tabs_t;

/* One MCU; 0 or -1. */
static inline int check_mcu(bitr_t *rp, const mcu_tabs_t *t)
{
    bitr_t r = *rp; /* a local copy the compiler can keep in registers */
    for (int b = 0; b < t->blocks; b++) {
        const dtab_t *dc = t->dc[b], *ac = t->ac[b];
        bitr_topup(&r);
        uint32_t e = dc->look[r.acc >> (64 - LOOK_BITS)];
        if (!e) e = dtab_long(dc, r.acc);
        /* a DC code of up to 16 bits and 11 extra bits: 27 bits at most */
        if (!STEP_MAXK(e) || STEP_BITS(e) > r.n) return -1;
        r.acc <<= STEP_BITS(e);
        r.n -= STEP_BITS(e);
        for (int k = 1; k < 64;) {
            /* an AC code and its extra bits: 26 bits at most */
            bitr_topup(&r);
            unsigned i = (unsigned)(r.acc >> (64 - LOOK_BITS));
            e = ac->multi[i];
            if (k > STEP_MAXK(e)) e = ac->look[i];
            if (!e && !(e = dtab_long(ac, r.acc))) return -1;
            if (k > STEP_MAXK(e) || STEP_BITS(e) > r.n) return -1;
            r.acc <<= STEP_BITS(e);
            r.n -= STEP_BITS(e);
            k += STEP_ADV(e);
        }
    }
    *rp = r;
    return 0;
}

/* A decoding table and the DHT contents it was built from. */
typedef struct cached_tab {
    int valid;
    UINT8 bits[17];
    UINT8 huffval[256];
    dtab_t tab;
} cached_tab_t;

struct render_splice_cache {
    cached_tab_t dc[NUM_HUFF_TBLS], ac[NUM_HUFF_TBLS];
    scan_data_t scan;
};

render_splice_cache_t *render_splice_cache_new(void)
{
    return calloc(1, sizeof(render_splice_cache_t));
}

void render_splice_cache_free(render_splice_cache_t *cache)
{
    if (cache == NULL) return;
    free(cache->scan.clean);
    free(cache->scan.mark);
    free(cache);
}

/* The decoding table of t from slot c, built there unless it holds t's. */
static const dtab_t *cached_build(cached_tab_t *c, const JHUFF_TBL *t, int dc, int no, char *why,
                                  size_t whylen)
{
    if (t == NULL) {
        c->valid = 0;
        snprintf(why, whylen, "no DHT for %s table %d", dc ? "DC" : "AC", no);
        return NULL;
    }
    if (c->valid && memcmp(c->bits, t->bits, sizeof c->bits) == 0 &&
        memcmp(c->huffval, t->huffval, sizeof c->huffval) == 0)
        return &c->tab;
    c->valid = 0;
    if (dtab_build(t, dc, no, &c->tab, why, whylen)) return NULL;
    memcpy(c->bits, t->bits, sizeof c->bits);
    memcpy(c->huffval, t->huffval, sizeof c->huffval);
    c->valid = 1;
    return &c->tab;
}

static int check_scan(const unsigned char *in, const render_splice_src_t *sp, j_decompress_ptr src,
                      render_splice_cache_t *cache, char *why, size_t whylen);

int render_splice_check_scan(const unsigned char *in, const render_splice_src_t *sp,
                             j_decompress_ptr src, render_splice_cache_t *cache, char *why,
                             size_t whylen)
{
    if (cache != NULL) return check_scan(in, sp, src, cache, why, whylen);
    render_splice_cache_t *own = render_splice_cache_new();
    if (own == NULL) {
        snprintf(why, whylen, "out of memory for the decoding tables");
        return -1;
    }
    int rc = check_scan(in, sp, src, own, why, whylen);
    render_splice_cache_free(own);
    return rc;
}

static int check_scan(const unsigned char *in, const render_splice_src_t *sp, j_decompress_ptr src,
                      render_splice_cache_t *cache, char *why, size_t whylen)
{
    int nscan = src->comps_in_scan;
    if (nscan < 1 || nscan > MAX_COMPS_IN_SCAN) {
        snprintf(why, whylen, "%d components in the scan", nscan);
        return -1;
    }
    mcu_tabs_t tabs = {.blocks = 0};
    for (int i = 0; i < nscan; i++) {
        const jpeg_component_info *comp = src->cur_comp_info[i];
        int d = comp->dc_tbl_no, a = comp->ac_tbl_no;
        if (d < 0 || d >= NUM_HUFF_TBLS || a < 0 || a >= NUM_HUFF_TBLS) {
            snprintf(why, whylen, "Huffman table number out of range");
            return -1;
        }
        const dtab_t *dct = cached_build(&cache->dc[d], src->dc_huff_tbl_ptrs[d], 1, d, why,
                                         whylen);
        const dtab_t *act = cached_build(&cache->ac[a], src->ac_huff_tbl_ptrs[a], 0, a, why,
                                         whylen);
        if (dct == NULL || act == NULL) return -1;
        int nb = nscan == 1 ? 1 : comp->h_samp_factor * comp->v_samp_factor;
        if (nb < 1 || nb > SAMP_BLOCKS_MAX) {
            snprintf(why, whylen, "sampling factors out of range");
            return -1;
        }
        for (int b = 0; b < nb; b++) {
            tabs.dc[tabs.blocks] = dct;
            tabs.ac[tabs.blocks++] = act;
        }
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
    scan_data_t *sd = &cache->scan;
    if (scan_data_split(sd, in, sp->data, sp->scan_end) < 0) {
        snprintf(why, whylen, "out of memory for the scan's data");
        return -1;
    }
    size_t seg = 0;
    bitr_t r = segment(sd, seg);
    unsigned rst = 0;
    unsigned long left = interval; /* MCUs before the next RST */
    for (unsigned long m = 0; m < mcus; m++, left--) {
        if (!left) {
            /* only the padding of the last byte may be left before the RST */
            bitr_topup(&r);
            if (r.n >= 8 || r.p != r.end || seg >= sd->nmarks || sd->mark[seg].code != 0xD0 + rst) {
                snprintf(why, whylen, "no RST%u right after MCU %lu", rst, m);
                return -1;
            }
            rst = (rst + 1) & 7;
            r = segment(sd, ++seg);
            left = interval;
        }
        if (check_mcu(&r, &tabs)) {
            snprintf(why, whylen, "undecodable data in MCU %lu", m);
            return -1;
        }
    }
    bitr_topup(&r);
    if (r.n >= 8 || r.p != r.end || seg != sd->nmarks) {
        snprintf(why, whylen, "data after the last MCU");
        return -1;
    }
    return 0;
}

static int reserve(unsigned char **out, size_t *cap, size_t need, char *why, size_t whylen)
{
    if (need <= *cap) return 0;
    size_t n = *cap * 2 > need ? *cap * 2 : need;
    unsigned char *p = realloc(*out, n);
    if (p == NULL) {
        snprintf(why, whylen, "out of memory for the spliced image");
        return -1;
    }
    *out = p;
    *cap = n;
    return 0;
}

static render_splice_rc_t unfit(char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "%s", what);
    return RENDER_SPLICE_NO_FIT;
}

int render_splice_write(const unsigned char *in, const render_splice_src_t *sp,
                        j_decompress_ptr src, const render_band_t *band, unsigned char **out,
                        size_t *cap, size_t *out_len, char *why, size_t whylen)
{
    int nscan = src->comps_in_scan;
    if (nscan != src->num_components || nscan < 1 || nscan > MAX_COMPS_IN_SCAN ||
        band->ncomp != src->num_components)
        return unfit(why, whylen, "the band does not match the scan");
    /* the band's rows of blocks must be as wide as the picture's, in whole MCUs */
    for (int ci = 0; ci < src->num_components; ci++) {
        const jpeg_component_info *comp = &src->comp_info[ci];
        long hs = comp->h_samp_factor;
        if (band->stride[ci] != ((long)comp->width_in_blocks + hs - 1) / hs * hs)
            return unfit(why, whylen, "the band's width or sampling differs");
    }

    /* MCU geometry of the scan (T.81 A.2: a one-component scan is made of
     * single blocks) */
    unsigned long h = src->image_height, bh = (unsigned long)band->height;
    unsigned long mcu_h = 8UL * (unsigned long)src->max_v_samp_factor;
    unsigned long per_row, pic_rows, band_rows;
    if (h % mcu_h) return unfit(why, whylen, "the picture is not a whole number of MCU rows");
    if (nscan == 1) {
        int ci = src->cur_comp_info[0]->component_index;
        per_row = src->comp_info[ci].width_in_blocks;
        pic_rows = src->comp_info[ci].height_in_blocks;
        band_rows = (unsigned long)band->height_in_blocks[ci];
    } else {
        unsigned long mcu_w = 8UL * (unsigned long)src->max_h_samp_factor;
        per_row = (src->image_width + mcu_w - 1) / mcu_w;
        pic_rows = h / mcu_h;
        band_rows = (bh + mcu_h - 1) / mcu_h;
    }
    if (h + bh > 65535) return unfit(why, whylen, "the output is over 65535 rows");

    /* The picture's last restart interval must end with its last MCU, so that
     * one RST marker puts the decoder at the band with fresh DC predictors. */
    unsigned long mcus = per_row * pic_rows, interval = src->restart_interval;
    unsigned next_rst;
    if (!interval) {
        if (mcus > 65535) return unfit(why, whylen, "the picture's MCU count does not fit a DRI");
        if (sp->restarts) return unfit(why, whylen, "RST markers without a restart interval");
        interval = mcus;
        next_rst = 0;
    } else {
        if (mcus % interval || sp->restarts != mcus / interval - 1)
            return unfit(why, whylen, "the restart intervals do not end with the picture");
        next_rst = (unsigned)((mcus / interval - 1) & 7);
    }

    pthread_once(&zz_once, zz_init);
    huff_t dct[NUM_HUFF_TBLS], act[NUM_HUFF_TBLS];
    int built_dc[NUM_HUFF_TBLS] = {0}, built_ac[NUM_HUFF_TBLS] = {0};
    int blocks_in_mcu = 0;
    for (int i = 0; i < nscan; i++) {
        const jpeg_component_info *comp = src->cur_comp_info[i];
        int d = comp->dc_tbl_no, a = comp->ac_tbl_no;
        if (d < 0 || d >= NUM_HUFF_TBLS || a < 0 || a >= NUM_HUFF_TBLS)
            return unfit(why, whylen, "Huffman table number out of range");
        if (!built_dc[d] && huff_build(src->dc_huff_tbl_ptrs[d], 1, d, &dct[d], why, whylen))
            return RENDER_SPLICE_NO_FIT;
        if (!built_ac[a] && huff_build(src->ac_huff_tbl_ptrs[a], 0, a, &act[a], why, whylen))
            return RENDER_SPLICE_NO_FIT;
        built_dc[d] = built_ac[a] = 1;
        blocks_in_mcu += nscan == 1 ? 1 : comp->h_samp_factor * comp->v_samp_factor;
    }

    size_t scan_len = sp->scan_end - sp->sos;
    if (reserve(out, cap, sp->sos + 6 + scan_len + 4 + 4096, why, whylen)) return -1;
    unsigned char *o = *out;
    memcpy(o, in, sp->sos);
    o[sp->sof + 5] = (unsigned char)((h + bh) >> 8);
    o[sp->sof + 6] = (unsigned char)(h + bh);
    size_t len = sp->sos;
    if (!src->restart_interval) {
        const unsigned char dri[6] = {
            0xFF, 0xDD, 0, 4, (unsigned char)(interval >> 8), (unsigned char)interval};
        memcpy(o + len, dri, sizeof dri);
        len += sizeof dri;
    }
    memcpy(o + len, in + sp->sos, scan_len);
    len += scan_len;
    o[len++] = 0xFF;
    o[len++] = (unsigned char)(0xD0 + next_rst);
    next_rst = (next_rst + 1) & 7;

    int last_dc[MAX_COMPS_IN_SCAN] = {0};
    bitw_t w = {0};
    unsigned long mcu = 0;
    for (unsigned long mr = 0; mr < band_rows; mr++) {
        /* rows[i][y]: block row y of the scan's component i in this MCU row */
        JBLOCKROW rows[MAX_COMPS_IN_SCAN][MAX_SAMP_FACTOR];
        for (int i = 0; i < nscan; i++) {
            int ci = src->cur_comp_info[i]->component_index;
            int v = nscan == 1 ? 1 : src->comp_info[ci].v_samp_factor;
            for (int y = 0; y < v; y++) rows[i][y] = render_band_row(band, ci, (int)mr * v + y);
        }
        for (unsigned long mc = 0; mc < per_row; mc++, mcu++) {
            if (reserve(out, cap, len + (size_t)blocks_in_mcu * BLOCK_MAX_BYTES + 8, why, whylen))
                return -1;
            w.p = *out + len;
            if (mcu && mcu % interval == 0) {
                bitw_flush(&w);
                *w.p++ = 0xFF;
                *w.p++ = (unsigned char)(0xD0 + next_rst);
                next_rst = (next_rst + 1) & 7;
                memset(last_dc, 0, sizeof last_dc);
            }
            for (int i = 0; i < nscan; i++) {
                const jpeg_component_info *comp = src->cur_comp_info[i];
                int bw = nscan == 1 ? 1 : comp->h_samp_factor;
                int bv = nscan == 1 ? 1 : comp->v_samp_factor;
                for (int y = 0; y < bv; y++)
                    for (int x = 0; x < bw; x++)
                        if (encode_block(&w, rows[i][y][mc * (unsigned long)bw + (unsigned long)x],
                                         &last_dc[i], &dct[comp->dc_tbl_no], &act[comp->ac_tbl_no],
                                         why, whylen))
                            return RENDER_SPLICE_NO_FIT;
            }
            len = (size_t)(w.p - *out);
        }
    }
    if (reserve(out, cap, len + 16, why, whylen)) return -1;
    w.p = *out + len;
    bitw_flush(&w);
    *w.p++ = 0xFF;
    *w.p++ = 0xD9;
    *out_len = (size_t)(w.p - *out);
    return RENDER_SPLICE_DONE;
}
