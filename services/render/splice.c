/* splice.c - the entropy-data splice (see splice.h): the source's layout
 * (render_splice_parse), Huffman coding with the source's tables, and the
 * writer. The proof walk of the picture's scan is in splice_verify.c. */
#include "splice.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "splice_int.h"

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

int splice_huff_build(const JHUFF_TBL *t, int dc, int no, splice_huff_t *h, char *why,
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

typedef struct bitw {
    unsigned char *p; /* room for the next bytes was reserved by the caller */
    uint64_t acc;     /* the low nbits bits are pending, oldest first */
    int nbits;
} bitw_t;

/* Whole bytes leave acc (0xFF stuffed with 0x00) once 32 bits are pending,
 * so a put of up to 27 bits never overflows it. bits < 2^n: the callers
 * mask the extra bits themselves. */
static inline void bitw_put(bitw_t *w, uint64_t bits, int n)
{
    w->acc = w->acc << n | bits;
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

/* A symbol's code and its length as one word, (code << 8 | length), 0
 * when the symbol has none: one load and one test per symbol. */
typedef struct huff_word {
    uint32_t w[256];
} huff_word_t;

static void huff_words(const splice_huff_t *h, huff_word_t *hw)
{
    for (int s = 0; s < 256; s++)
        hw->w[s] = h->size[s] ? (uint32_t)h->code[s] << 8 | h->size[s] : 0;
}

static inline void put_word(bitw_t *w, uint32_t e) { bitw_put(w, e >> 8, (int)(e & 255)); }

/* A code and the n extra bits of v (n > 0: v's magnitude has n bits; a
 * negative v as its ones' complement, T.81 F.1.2.1). */
static inline void put_coded(bitw_t *w, uint32_t e, int v, int n)
{
    /* v - 1 for a negative v: v plus its sign bit's -1 */
    unsigned extra = ((unsigned)v - ((unsigned)v >> 31)) & ((1u << n) - 1);
    bitw_put(w, (uint64_t)(e >> 8) << n | extra, (int)(e & 255) + n);
}

/* One block as libjpeg's encode_one_block() codes it. 0, or 1 with why when
 * a symbol has no code: libjpeg-turbo's encoder would write garbage for it
 * (it does not check), so this is where the splice gives up. */
static int encode_block(bitw_t *w, const JCOEF *b, int *last_dc, const huff_word_t *dc,
                        const huff_word_t *ac, char *why, size_t whylen)
{
    int diff = b[0] - *last_dc;
    *last_dc = b[0];
    int n = nbits_of(diff);
    uint32_t e;
    if (n > 11 || !(e = dc->w[n])) return missing(why, whylen, "DC", (unsigned)n);
    put_coded(w, e, diff, n);
    uint64_t nz = ac_nonzero_zigzag(b);
    int k = 0; /* the zigzag position of the last coefficient coded */
    while (nz) {
        int run = __builtin_ctzll(nz);
        k += run + 1;
        nz >>= run;
        nz >>= 1;
        if (run > 15) {
            if (!(e = ac->w[0xF0])) return missing(why, whylen, "AC", 0xF0);
            for (; run > 15; run -= 16) put_word(w, e);
        }
        int v = b[zigzag[k]];
        /* v is not 0: its magnitude's bit length without nbits_of()'s test */
        n = 32 - __builtin_clz((unsigned)(v < 0 ? -v : v));
        unsigned sym = (unsigned)(run << 4 | n);
        if (n > 10 || !(e = ac->w[sym])) return missing(why, whylen, "AC", sym);
        put_coded(w, e, v, n);
    }
    if (k < 63) {
        if (!(e = ac->w[0])) return missing(why, whylen, "AC", 0);
        put_word(w, e);
    }
    return 0;
}

static render_splice_rc_t unfit(char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "%s", what);
    return RENDER_SPLICE_NO_FIT;
}

static int oom(char *why, size_t whylen)
{
    snprintf(why, whylen, "out of memory for the spliced image");
    return -1;
}

/* What the writer's steps share: the scan's grid and restart plan, and its
 * Huffman tables as codes. */
typedef struct plan {
    int nscan;
    splice_grid_t grid;
    unsigned long band_rows; /* rows of MCUs of the band */
    unsigned long interval;  /* MCUs between RST markers, in the output */
    unsigned next_rst;       /* the number of the RST after the picture */
    int add_dri;             /* the source has no DRI: the output gets one */
    int blocks_in_mcu;
    huff_word_t dc[NUM_HUFF_TBLS], ac[NUM_HUFF_TBLS];
} plan_t;

/* Whether the band can go below the picture as more MCUs of its scan, and
 * the restart plan: the picture's last restart interval must end with its
 * last MCU, so that one RST marker puts the decoder at the band with fresh
 * DC predictors. Returns RENDER_SPLICE_DONE or NO_FIT with why set. */
static int plan_geometry(const render_splice_src_t *sp, j_decompress_ptr src,
                         const render_band_t *band, plan_t *pl, char *why, size_t whylen)
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
    pl->nscan = nscan;
    pl->grid = splice_grid(src);
    unsigned long h = src->image_height, bh = (unsigned long)band->height;
    if (h % pl->grid.mcu_h)
        return unfit(why, whylen, "the picture is not a whole number of MCU rows");
    if (h + bh > 65535) return unfit(why, whylen, "the output is over 65535 rows");
    if (nscan == 1) {
        int ci = src->cur_comp_info[0]->component_index;
        pl->band_rows = (unsigned long)band->height_in_blocks[ci];
    } else {
        pl->band_rows = (bh + pl->grid.mcu_h - 1) / pl->grid.mcu_h;
    }

    unsigned long mcus = pl->grid.per_row * pl->grid.rows, interval = src->restart_interval;
    pl->add_dri = !interval;
    if (!interval) {
        if (mcus > 65535) return unfit(why, whylen, "the picture's MCU count does not fit a DRI");
        if (sp->restarts) return unfit(why, whylen, "RST markers without a restart interval");
        pl->interval = mcus;
        pl->next_rst = 0;
    } else {
        if (mcus % interval || sp->restarts != mcus / interval - 1)
            return unfit(why, whylen, "the restart intervals do not end with the picture");
        pl->interval = interval;
        pl->next_rst = (unsigned)((mcus / interval - 1) & 7);
    }
    return RENDER_SPLICE_DONE;
}

/* The codes of every table the scan uses. RENDER_SPLICE_DONE or NO_FIT. */
static int plan_tables(j_decompress_ptr src, plan_t *pl, char *why, size_t whylen)
{
    int built_dc[NUM_HUFF_TBLS] = {0}, built_ac[NUM_HUFF_TBLS] = {0};
    pl->blocks_in_mcu = 0;
    for (int i = 0; i < pl->nscan; i++) {
        const jpeg_component_info *comp = src->cur_comp_info[i];
        int d = comp->dc_tbl_no, a = comp->ac_tbl_no;
        if (d < 0 || d >= NUM_HUFF_TBLS || a < 0 || a >= NUM_HUFF_TBLS)
            return unfit(why, whylen, "Huffman table number out of range");
        splice_huff_t h;
        if (!built_dc[d]) {
            if (splice_huff_build(src->dc_huff_tbl_ptrs[d], 1, d, &h, why, whylen))
                return RENDER_SPLICE_NO_FIT;
            huff_words(&h, &pl->dc[d]);
        }
        if (!built_ac[a]) {
            if (splice_huff_build(src->ac_huff_tbl_ptrs[a], 0, a, &h, why, whylen))
                return RENDER_SPLICE_NO_FIT;
            huff_words(&h, &pl->ac[a]);
        }
        built_dc[d] = built_ac[a] = 1;
        pl->blocks_in_mcu += pl->nscan == 1 ? 1 : comp->h_samp_factor * comp->v_samp_factor;
    }
    return RENDER_SPLICE_DONE;
}

/* out = the source up to its scan's end, the frame's height patched, a DRI
 * added when the source has none, and the RST that ends the picture's last
 * interval. 0, or -1 (out of memory). */
static int copy_picture(const unsigned char *in, const render_splice_src_t *sp,
                        j_decompress_ptr src, const render_band_t *band, plan_t *pl, dynbuf_t *out,
                        char *why, size_t whylen)
{
    unsigned long rows = src->image_height + (unsigned long)band->height;
    size_t scan_len = sp->scan_end - sp->sos;
    if (dynbuf_reserve(out, sp->sos + 6 + scan_len + 4 + 4096) < 0) return oom(why, whylen);
    unsigned char *o = out->ptr;
    memcpy(o, in, sp->sos);
    o[sp->sof + 5] = (unsigned char)(rows >> 8);
    o[sp->sof + 6] = (unsigned char)rows;
    size_t len = sp->sos;
    if (pl->add_dri) {
        const unsigned char dri[6] = {
            0xFF, 0xDD, 0, 4, (unsigned char)(pl->interval >> 8), (unsigned char)pl->interval};
        memcpy(o + len, dri, sizeof dri);
        len += sizeof dri;
    }
    memcpy(o + len, in + sp->sos, scan_len);
    len += scan_len;
    o[len++] = 0xFF;
    o[len++] = (unsigned char)(0xD0 + pl->next_rst);
    pl->next_rst = (pl->next_rst + 1) & 7;
    out->len = len;
    return 0;
}

/* Appends the band's MCUs, with an RST marker every interval, then EOI.
 * RENDER_SPLICE_DONE, NO_FIT (a symbol without a code) with why, or -1 (out
 * of memory). */
static int encode_band(j_decompress_ptr src, const render_band_t *band, plan_t *pl, dynbuf_t *out,
                       char *why, size_t whylen)
{
    int nscan = pl->nscan;
    int last_dc[MAX_COMPS_IN_SCAN] = {0};
    bitw_t w = {0};
    size_t len = out->len;
    unsigned long mcu = 0;
    for (unsigned long mr = 0; mr < pl->band_rows; mr++) {
        /* rows[i][y]: block row y of the scan's component i in this MCU row */
        JBLOCKROW rows[MAX_COMPS_IN_SCAN][MAX_SAMP_FACTOR];
        for (int i = 0; i < nscan; i++) {
            int ci = src->cur_comp_info[i]->component_index;
            int v = nscan == 1 ? 1 : src->comp_info[ci].v_samp_factor;
            for (int y = 0; y < v; y++) rows[i][y] = render_band_row(band, ci, (int)mr * v + y);
        }
        for (unsigned long mc = 0; mc < pl->grid.per_row; mc++, mcu++) {
            if (dynbuf_reserve(out, len + (size_t)pl->blocks_in_mcu * BLOCK_MAX_BYTES + 8) < 0)
                return oom(why, whylen);
            w.p = out->ptr + len;
            if (mcu && mcu % pl->interval == 0) {
                bitw_flush(&w);
                *w.p++ = 0xFF;
                *w.p++ = (unsigned char)(0xD0 + pl->next_rst);
                pl->next_rst = (pl->next_rst + 1) & 7;
                memset(last_dc, 0, sizeof last_dc);
            }
            for (int i = 0; i < nscan; i++) {
                const jpeg_component_info *comp = src->cur_comp_info[i];
                int bw = nscan == 1 ? 1 : comp->h_samp_factor;
                int bv = nscan == 1 ? 1 : comp->v_samp_factor;
                for (int y = 0; y < bv; y++)
                    for (int x = 0; x < bw; x++)
                        if (encode_block(&w, rows[i][y][mc * (unsigned long)bw + (unsigned long)x],
                                         &last_dc[i], &pl->dc[comp->dc_tbl_no],
                                         &pl->ac[comp->ac_tbl_no], why, whylen))
                            return RENDER_SPLICE_NO_FIT;
            }
            len = (size_t)(w.p - out->ptr);
        }
    }
    if (dynbuf_reserve(out, len + 16) < 0) return oom(why, whylen);
    w.p = out->ptr + len;
    bitw_flush(&w);
    *w.p++ = 0xFF;
    *w.p++ = 0xD9;
    out->len = (size_t)(w.p - out->ptr);
    return RENDER_SPLICE_DONE;
}

int render_splice_write(const unsigned char *in, const render_splice_src_t *sp,
                        j_decompress_ptr src, const render_band_t *band, dynbuf_t *out, char *why,
                        size_t whylen)
{
    plan_t pl;
    int rc = plan_geometry(sp, src, band, &pl, why, whylen);
    if (rc == RENDER_SPLICE_DONE) rc = plan_tables(src, &pl, why, whylen);
    if (rc != RENDER_SPLICE_DONE) return rc;
    pthread_once(&zz_once, zz_init);
    if (copy_picture(in, sp, src, band, &pl, out, why, whylen) < 0) return -1;
    return encode_band(src, band, &pl, out, why, whylen);
}
