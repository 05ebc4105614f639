/* splice_verify.c - render_splice_check_scan(): the proof walk of the
 * picture's scan, which the splice passes on undecoded (see splice.h).
 *
 * The walk only has to know how many bits each code and its extra bits take
 * and where the block's coefficient index goes, never a coefficient's value.
 * So one lookup on the next LOOK_BITS bits of the data resolves, for every
 * code of up to LOOK_BITS bits, everything the symbol means to the walk
 * (a step), extra bits included even when they lie beyond those LOOK_BITS;
 * for AC codes, a second table goes further and resolves every step that
 * lies wholly in those bits at once (most AC steps are a few bits long). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "splice.h"
#include "splice_int.h"

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
    splice_huff_t h; /* validates the table as the encoder side does */
    if (splice_huff_build(t, dc, no, &h, why, whylen)) return -1;
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
 * 8-byte load for one was a quarter of the walk's mispredicted branches.
 * CLEAN_SLACK zero bytes follow clean_len (see check_block). */
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

/* How far one block's walk may read past its segment's end before the
 * check after the block: a DC step and 63 AC steps of at most 27 bits each
 * (1728 bits, 216 bytes), and the 8-byte load of the last one. */
#define CLEAN_SLACK 256

/* Fills sd from in[from, to). 0, or -1 when out of memory. */
static int scan_data_split(scan_data_t *sd, const unsigned char *in, size_t from, size_t to)
{
    if (dynbuf_reserve_array(&sd->clean, &sd->clean_cap, to - from + CLEAN_SLACK, 1) < 0) return -1;
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
        if (dynbuf_reserve_array(&sd->mark, &sd->marks_cap, sd->nmarks + 1, sizeof *sd->mark) < 0)
            return -1;
        sd->mark[sd->nmarks].at = sd->clean_len;
        sd->mark[sd->nmarks++].code = ff + 1 < e ? ff[1] : 0x100u;
        s = ff + 2;
    }
    memset(sd->clean + sd->clean_len, 0, CLEAN_SLACK);
    return 0;
}

static inline uint64_t load_be64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The 57 or more bits of clean from bit pos (MSB first) at the top. The walk
 * keeps only a bit position: no bit count, no refill test, no end test per
 * code (each cost a few instructions on every one of the scan's ~30,000
 * codes); one load serves two steps, since a step takes at most 27 bits. */
static inline uint64_t bits_at(const unsigned char *clean, size_t pos)
{
    return load_be64(clean + (pos >> 3)) << (pos & 7);
}

/* The step of the code at the top of w for a walk at coefficient index k
 * (1..63; 1 for a DC code), 0 when there is none or k may not take it. w
 * must hold the 27 bits a step may take. */
static inline uint32_t take_step(const dtab_t *d, const uint32_t *first, uint64_t w, int k)
{
    unsigned i = (unsigned)(w >> (64 - LOOK_BITS));
    uint32_t e = first[i];
    if (k > STEP_MAXK(e)) e = d->look[i];
    if (!e) e = dtab_long(d, w);
    /* 0 (no code) and a refused symbol both allow no index */
    return k > STEP_MAXK(e) ? 0 : e;
}

/* jpeg_read_header() refuses sampling factors over 4 */
#define SAMP_BLOCKS_MAX 16

/* The scan's blocks, in MCU order, as pairs of tables. */
typedef struct mcu_tabs {
    const dtab_t *dc[MAX_COMPS_IN_SCAN * SAMP_BLOCKS_MAX], *ac[MAX_COMPS_IN_SCAN * SAMP_BLOCKS_MAX];
    int blocks;
} mcu_tabs_t;

/* One block from bit *pos of clean, whose segment ends at bit end; 0 (pos
 * moved past it) or -1. The walk reads on past end (into the next segment
 * or the zero slack) and only then compares: a code or its extra bits that
 * cross end leave pos past it, which refuses the block, and a walk within
 * the segment read only its bits, so the verdict is the one a reader that
 * stops at end gives. */
static inline int check_block(const unsigned char *clean, size_t *posp, size_t end,
                              const dtab_t *dc, const dtab_t *ac)
{
    size_t pos = *posp;
    uint64_t w = bits_at(clean, pos);
    uint32_t e = take_step(dc, dc->look, w, 1);
    if (!e) return -1;
    pos += (size_t)STEP_BITS(e);
    w <<= STEP_BITS(e); /* 30 bits or more left in w */
    for (int k = 1;;) {
        if (!(e = take_step(ac, ac->multi, w, k))) return -1;
        pos += (size_t)STEP_BITS(e);
        if ((k += STEP_ADV(e)) >= 64) break;
        w = bits_at(clean, pos);
        if (!(e = take_step(ac, ac->multi, w, k))) return -1;
        pos += (size_t)STEP_BITS(e);
        if ((k += STEP_ADV(e)) >= 64) break;
        w <<= STEP_BITS(e);
    }
    if (pos > end) return -1;
    *posp = pos;
    return 0;
}

/* One MCU; 0 or -1. */
static inline int check_mcu(const unsigned char *clean, size_t *pos, size_t end,
                            const mcu_tabs_t *t)
{
    for (int b = 0; b < t->blocks; b++)
        if (check_block(clean, pos, end, t->dc[b], t->ac[b])) return -1;
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
    splice_grid_t grid = splice_grid(src);
    unsigned long mcus = grid.per_row * grid.rows;
    unsigned long interval = src->restart_interval ? src->restart_interval : mcus;
    scan_data_t *sd = &cache->scan;
    if (scan_data_split(sd, in, sp->data, sp->scan_end) < 0) {
        snprintf(why, whylen, "out of memory for the scan's data");
        return -1;
    }
    /* segment seg runs from bit pos to bit end of clean */
    size_t seg = 0, pos = 0;
    size_t end = 8 * (sd->nmarks ? sd->mark[0].at : sd->clean_len);
    unsigned rst = 0;
    unsigned long left = interval; /* MCUs before the next RST */
    for (unsigned long m = 0; m < mcus; m++, left--) {
        if (!left) {
            /* only the padding of the last byte may be left before the RST */
            if (end - pos >= 8 || seg >= sd->nmarks || sd->mark[seg].code != 0xD0 + rst) {
                snprintf(why, whylen, "no RST%u right after MCU %lu", rst, m);
                return -1;
            }
            rst = (rst + 1) & 7;
            pos = end;
            seg++;
            end = 8 * (seg < sd->nmarks ? sd->mark[seg].at : sd->clean_len);
            left = interval;
        }
        if (check_mcu(sd->clean, &pos, end, &tabs)) {
            snprintf(why, whylen, "undecodable data in MCU %lu", m);
            return -1;
        }
    }
    if (end - pos >= 8 || seg != sd->nmarks) {
        snprintf(why, whylen, "data after the last MCU");
        return -1;
    }
    return 0;
}
