/* layout.c - bidi, font runs, shaping, UAX #14 breaks and greedy wrap by
 * shaped width (see layout.h for the rules). */
#include "layout.h"

#include <fribidi.h>
#include <harfbuzz/hb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ubrk.h>

#include "dynbuf.h"
#include "utf8.h"

/* One shaped run: cps [start, start + len) at one bidi level, its glyphs
 * layout_t.glyphs[g0, g0 + ng) in visual order. */
struct layout_run_info {
    size_t start, len;
    size_t g0, ng;
    unsigned char level;
};

/* Paragraph separators: newline, CR, and the other mandatory breaks of
 * UAX #14 (VT, FF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR). */
static int is_newline(uint32_t cp)
{
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x85 || cp == 0x2028 ||
           cp == 0x2029;
}

/* Whitespace dropped at a break. No-break spaces (U+00A0, U+2007, U+202F) are
 * deliberately absent: they glue words together. */
static int is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x2006) ||
           (cp >= 0x2008 && cp <= 0x200B) || cp == 0x205F || cp == 0x3000;
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "layout: out of memory");
    return -1;
}

static int reserve_cps(layout_t *lo, size_t n, char *err, size_t errlen)
{
    if (n + 1 <= lo->cap_cps) return 0;
    size_t want = lo->cap_cps ? lo->cap_cps : 64;
    while (want < n + 1) want *= 2;
    /* Each array is resized separately; on failure the ones already grown stay
     * valid and cap_cps is only raised once all of them are. */
    void *p;
#define RESIZE(field)                                                                            \
    do {                                                                                         \
        if ((p = realloc(lo->field, want * sizeof *lo->field)) == NULL) return oom(err, errlen); \
        lo->field = p;                                                                           \
    } while (0)
    RESIZE(cps);
    RESIZE(scps);
    RESIZE(offsets);
    RESIZE(levels);
    RESIZE(faces);
    RESIZE(scripts);
    RESIZE(prefix);
    RESIZE(brk);
    RESIZE(space);
#undef RESIZE
    lo->cap_cps = want;
    return 0;
}

/* ---- bidi ---- */

int layout_bidi_levels(const uint32_t *cps, size_t n, int dir, unsigned char *levels)
{
    /* Below U+0590 there is no R, AL, AN or explicit formatting character: a
     * paragraph of such characters that is not forced RTL resolves to level 0
     * everywhere (W7 turns its numbers into L), FriBiDi or not. */
    int simple = dir != 2;
    for (size_t i = 0; simple && i < n; i++) simple = cps[i] < 0x0590;
    if (simple || n == 0) {
        memset(levels, dir == 2 ? 1 : 0, n);
        return dir == 2 ? 1 : 0;
    }
    FriBidiCharType *types = malloc(n * sizeof *types);
    FriBidiBracketType *brackets = malloc(n * sizeof *brackets);
    FriBidiLevel *lv = malloc(n * sizeof *lv);
    int par = -1;
    if (types != NULL && brackets != NULL && lv != NULL) {
        fribidi_get_bidi_types(cps, (FriBidiStrIndex)n, types);
        fribidi_get_bracket_types(cps, (FriBidiStrIndex)n, types, brackets);
        FriBidiParType pdir = dir == 1   ? FRIBIDI_PAR_LTR
                              : dir == 2 ? FRIBIDI_PAR_RTL
                                         : FRIBIDI_PAR_ON;
        if (fribidi_get_par_embedding_levels_ex(types, brackets, (FriBidiStrIndex)n, &pdir, lv) !=
            0) {
            par = FRIBIDI_IS_RTL(pdir) ? 1 : 0;
            /* L1: separators, and whitespace (isolates, BN and explicit
             * controls included) before them and at the end, go back to the
             * paragraph level. */
            int trailing = 1;
            for (size_t k = n; k-- > 0;) {
                FriBidiCharType t = types[k];
                if (FRIBIDI_IS_SEPARATOR(t)) {
                    lv[k] = (FriBidiLevel)par;
                    trailing = 1;
                } else if (trailing &&
                           (FRIBIDI_IS_EXPLICIT_OR_BN_OR_WS(t) || FRIBIDI_IS_ISOLATE(t))) {
                    lv[k] = (FriBidiLevel)par;
                } else {
                    trailing = 0;
                }
                levels[k] = (unsigned char)lv[k];
            }
        }
    }
    free(types);
    free(brackets);
    free(lv);
    return par;
}

void layout_bidi_reorder(const unsigned char *levels, size_t n, size_t *order)
{
    unsigned char hi = 0, lowodd = 255;
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        if (levels[i] > hi) hi = levels[i];
        if ((levels[i] & 1) && levels[i] < lowodd) lowodd = levels[i];
    }
    /* From the highest level down to the lowest odd one, reverse every
     * maximal sequence at that level or higher. */
    for (int lev = hi; lev >= lowodd && lev > 0; lev--) {
        size_t i = 0;
        while (i < n) {
            if (levels[order[i]] < lev) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && levels[order[j]] >= lev) j++;
            for (size_t a = i, b = j - 1; a < b; a++, b--) {
                size_t t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
            i = j;
        }
    }
}

/* ---- breaks ---- */

/* ---- wrap ---- */

static int push_span(layout_span_t **spans, size_t *n, size_t *cap, size_t a, size_t b)
{
    if (dynbuf_reserve_array(spans, cap, *n + 1, sizeof **spans) < 0) return -1;
    (*spans)[*n].start = a;
    (*spans)[*n].end = b;
    (*n)++;
    return 0;
}

int layout_wrap(const long *prefix, const unsigned char *brk, const unsigned char *space,
                size_t start, size_t end, long avail, size_t max_lines, layout_span_t **spans,
                size_t *n, size_t *cap)
{
    size_t n0 = *n;
    size_t pos = start;
    while (pos < end && space[pos]) pos++;
    if (pos == end) return push_span(spans, n, cap, end, end);
    while (pos < end) {
        /* the farthest break whose line, without its trailing spaces, fits */
        size_t best = 0, best_e = 0;
        for (size_t k = pos + 1; k <= end; k++) {
            if (k < end && brk[k] != LAYOUT_BRK_ALLOW) continue;
            size_t e = k;
            while (e > pos && space[e - 1]) e--;
            if (e == pos) continue;
            if (prefix[e] - prefix[pos] > avail) break;
            best = k;
            best_e = e;
        }
        if (!best) {
            /* The segment alone is wider than a line: as many clusters as
             * fit, at least one so that a line narrower than any glyph still
             * advances. */
            size_t k = pos + 1;
            while (k < end && brk[k] == LAYOUT_BRK_NONE) k++;
            for (;;) {
                size_t k2 = k + 1;
                while (k2 < end && brk[k2] == LAYOUT_BRK_NONE) k2++;
                if (k >= end || k2 > end || prefix[k2] - prefix[pos] > avail) break;
                k = k2;
            }
            best = best_e = k;
        }
        if (push_span(spans, n, cap, pos, best_e) < 0) return -1;
        if (max_lines && *n - n0 >= max_lines) break;
        pos = best;
        while (pos < end && space[pos]) pos++;
    }
    return 0;
}

/* ---- runs and shaping ---- */

static int is_mark_or_joiner(hb_unicode_funcs_t *uf, uint32_t cp)
{
    hb_unicode_general_category_t gc = hb_unicode_general_category(uf, cp);
    return gc == HB_UNICODE_GENERAL_CATEGORY_NON_SPACING_MARK ||
           gc == HB_UNICODE_GENERAL_CATEGORY_SPACING_MARK ||
           gc == HB_UNICODE_GENERAL_CATEGORY_ENCLOSING_MARK || cp == 0x200C || cp == 0x200D ||
           (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0020 && cp <= 0xE01EF);
}

/* Faces and scripts of the paragraph [p, e); Common and Inherited characters
 * take the script of the text around them. Returns 0, or -1 with err set (a
 * face that could not be opened for lack of memory). */
static int assign_faces(layout_t *lo, const layout_font_t *font, size_t p, size_t e, char *err,
                        size_t errlen)
{
    hb_unicode_funcs_t *uf = hb_unicode_funcs_get_default();
    int prev = -1;
    hb_script_t last = HB_SCRIPT_INVALID;
    for (size_t i = p; i < e; i++) {
        uint32_t cp = lo->scps[i];
        hb_script_t s = hb_unicode_script(uf, cp);
        int common = s == HB_SCRIPT_COMMON || s == HB_SCRIPT_INHERITED || s == HB_SCRIPT_UNKNOWN;
        uint32_t next = i + 1 < e ? lo->scps[i + 1] : 0;
        int flags = (common || is_mark_or_joiner(uf, cp)) && prev >= 0 ? LAYOUT_FACE_CLING : 0;
        flags |= next == 0xFE0F ? LAYOUT_FACE_EMOJI : next == 0xFE0E ? LAYOUT_FACE_TEXT : 0;
        int f = font->face_for(font->ctx, cp, prev, flags);
        if (f < 0) {
            snprintf(err, errlen, "layout: out of memory opening a font for U+%04X", cp);
            return -1;
        }
        lo->faces[i] = f;
        prev = f;
        if (!common) last = s;
        lo->scripts[i] = (uint32_t)(common ? last : s);
    }
    /* leading common characters take the first real script after them */
    hb_script_t next = HB_SCRIPT_COMMON;
    for (size_t i = e; i-- > p;) {
        if (lo->scripts[i] != (uint32_t)HB_SCRIPT_INVALID)
            next = (hb_script_t)lo->scripts[i];
        else
            lo->scripts[i] = (uint32_t)next;
    }
    return 0;
}

/* Shapes cps[a, b) with cps[ctx_a, ctx_b) as context, in runs of one face,
 * level and script, appended to lo->runs and lo->glyphs. */
static int shape_runs(layout_t *lo, const layout_font_t *font, size_t a, size_t b, size_t ctx_a,
                      size_t ctx_b, char *err, size_t errlen)
{
    while (a < b) {
        size_t c = a + 1;
        while (c < b && lo->faces[c] == lo->faces[a] && lo->levels[c] == lo->levels[a] &&
               lo->scripts[c] == lo->scripts[a])
            c++;
        layout_run_t run = {.cps = lo->scps,
                            .ctx_start = ctx_a,
                            .ctx_len = ctx_b - ctx_a,
                            .start = a,
                            .len = c - a,
                            .face = lo->faces[a],
                            .rtl = lo->levels[a] & 1,
                            .script = lo->scripts[a]};
        const layout_glyph_t *g;
        size_t ng = 0;
        if (font->shape(font->ctx, &run, &g, &ng, err, errlen) < 0) return -1;
        if (dynbuf_reserve_array(&lo->glyphs, &lo->cap_glyphs, lo->nglyphs + ng, sizeof *g) < 0 ||
            dynbuf_reserve_array(&lo->runs, &lo->cap_runs, lo->nruns + 1, sizeof *lo->runs) < 0)
            return oom(err, errlen);
        lo->runs[lo->nruns++] = (struct layout_run_info){
            .start = a, .len = c - a, .g0 = lo->nglyphs, .ng = ng, .level = lo->levels[a]};
        for (size_t k = 0; k < ng; k++) {
            layout_glyph_t *d = &lo->glyphs[lo->nglyphs++];
            *d = g[k];
            if (d->cluster < a || d->cluster >= c) /* a provider's slip: keep it in the run */
                d->cluster = a;
        }
        a = c;
    }
    return 0;
}

/* Shapes the paragraph [p, e) and sums each cluster's advances into prefix[]
 * (the widths the wrap measures); marks cluster starts LAYOUT_BRK_CHAR. */
static int shape_paragraph(layout_t *lo, const layout_font_t *font, size_t p, size_t e, char *err,
                           size_t errlen)
{
    size_t g0 = lo->nglyphs;
    if (shape_runs(lo, font, p, e, p, e, err, errlen) < 0) return -1;
    for (size_t i = p; i <= e; i++) lo->prefix[i] = 0;
    for (size_t k = g0; k < lo->nglyphs; k++) {
        const layout_glyph_t *d = &lo->glyphs[k];
        lo->prefix[d->cluster + 1] += d->advance;
        lo->brk[d->cluster] = LAYOUT_BRK_CHAR;
    }
    for (size_t i = p; i < e; i++) lo->prefix[i + 1] += lo->prefix[i];
    return 0;
}

int layout_uax14(layout_t *lo, const uint32_t *cps, size_t n, unsigned char *allow, char *err,
                 size_t errlen)
{
    size_t n16 = 0;
    for (size_t i = 0; i < n; i++) n16 += cps[i] > 0xFFFF ? 2 : 1;
    if (n16 > INT32_MAX - 1 ||
        dynbuf_reserve_array(&lo->u16, &lo->cap_u16, n16 + 1, sizeof *lo->u16) < 0 ||
        dynbuf_reserve_array(&lo->u16map, &lo->cap_u16map, n16 + 1, sizeof *lo->u16map) < 0)
        return oom(err, errlen);
    /* ICU works on UTF-16: u16map takes its indices back to code points */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = cps[i];
        allow[i] = 0;
        lo->u16map[k] = i;
        if (cp > 0xFFFF) {
            lo->u16[k++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            lo->u16map[k] = i;
            lo->u16[k++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            lo->u16[k++] = (uint16_t)cp;
        }
    }
    lo->u16map[k] = n;
    UErrorCode st = U_ZERO_ERROR;
    if (lo->breaker == NULL) {
        lo->breaker = ubrk_open(UBRK_LINE, "", NULL, 0, &st);
        if (U_FAILURE(st)) {
            lo->breaker = NULL;
            snprintf(err, errlen, "layout: no line break iterator (ICU: %s)", u_errorName(st));
            return -1;
        }
    }
    UBreakIterator *it = lo->breaker;
    ubrk_setText(it, (const UChar *)lo->u16, (int32_t)n16, &st);
    if (U_FAILURE(st)) {
        snprintf(err, errlen, "layout: line breaking failed (ICU: %s)", u_errorName(st));
        return -1;
    }
    for (int32_t b = ubrk_first(it); b != UBRK_DONE; b = ubrk_next(it)) {
        size_t i = lo->u16map[b];
        if (i > 0 && i < n) allow[i] = 1;
    }
    /* the text is ours and about to change: the iterator must not keep it */
    ubrk_setText(it, NULL, 0, &st);
    return 0;
}

/* Break classes of the paragraph [p, e): UAX #14 opportunities kept only at
 * cluster starts, which shape_paragraph() marked LAYOUT_BRK_CHAR in brk[]. */
static int find_breaks(layout_t *lo, size_t p, size_t e, char *err, size_t errlen)
{
    if (e == p) return 0;
    if (dynbuf_reserve_array(&lo->allow, &lo->cap_allow, e - p, 1) < 0) return oom(err, errlen);
    if (layout_uax14(lo, lo->cps + p, e - p, lo->allow, err, errlen) < 0) return -1;
    for (size_t i = p; i < e; i++) {
        if (i == p)
            lo->brk[i] = LAYOUT_BRK_CHAR;
        else if (lo->brk[i] == LAYOUT_BRK_CHAR && lo->allow[i - p])
            lo->brk[i] = LAYOUT_BRK_ALLOW;
        lo->space[i] = (unsigned char)is_space(lo->cps[i]);
    }
    return 0;
}

static int px_ceil(long w26) { return (int)((w26 + 63) >> 6); }

/* Places line [a, b) of a paragraph whose runs are lo->runs[r0, r1). */
static int place_line(layout_t *lo, const layout_font_t *font, size_t r0, size_t r1, size_t a,
                      size_t b, size_t e, int rtl, char *err, size_t errlen)
{
    if (dynbuf_reserve_array(&lo->lines, &lo->cap_lines, lo->nlines + 1, sizeof *lo->lines) < 0)
        return oom(err, errlen);
    /* A line that ends inside the paragraph other than before a space (a word
     * split, a break after a hyphen or between ideographs) is shaped again
     * alone: the paragraph's shaping kerned or joined its last glyph with the
     * next line's first. */
    if (b < e && a < b && !is_space(lo->cps[b])) {
        size_t n0 = lo->nruns;
        if (shape_runs(lo, font, a, b, a, b, err, errlen) < 0) return -1;
        r0 = n0;
        r1 = lo->nruns;
    }
    layout_line_t *ln = &lo->lines[lo->nlines++];
    *ln = (layout_line_t){.start = a, .end = b, .rtl = rtl, .first = lo->nplaced};
    /* the runs the line touches, and their levels */
    size_t np = 0;
    for (size_t r = r0; r < r1; r++)
        if (lo->runs[r].start < b && lo->runs[r].start + lo->runs[r].len > a) np++;
    if (dynbuf_reserve_array(&lo->order, &lo->cap_order, 2 * np + 1, sizeof *lo->order) < 0)
        return oom(err, errlen);
    size_t *piece = lo->order + np;
    unsigned char lv[64], *levels = np <= sizeof lv ? lv : malloc(np);
    if (levels == NULL) return oom(err, errlen);
    np = 0;
    for (size_t r = r0; r < r1; r++)
        if (lo->runs[r].start < b && lo->runs[r].start + lo->runs[r].len > a) {
            levels[np] = lo->runs[r].level;
            piece[np++] = r;
        }
    layout_bidi_reorder(levels, np, lo->order);
    if (levels != lv) free(levels);
    long pen = 0;
    for (size_t k = 0; k < np; k++) {
        const struct layout_run_info *ri = &lo->runs[piece[lo->order[k]]];
        for (size_t gi = ri->g0; gi < ri->g0 + ri->ng; gi++) {
            const layout_glyph_t *g = &lo->glyphs[gi];
            if (g->cluster < a || g->cluster >= b) continue;
            if (dynbuf_reserve_array(&lo->placed, &lo->cap_placed, lo->nplaced + 1,
                                     sizeof *lo->placed) < 0)
                return oom(err, errlen);
            lo->placed[lo->nplaced++] = (layout_placed_t){
                .glyph = gi, .x = pen + g->x_offset, .y = g->y_offset};
            pen += g->advance;
        }
    }
    ln = &lo->lines[lo->nlines - 1];
    ln->count = lo->nplaced - ln->first;
    ln->width = px_ceil(pen);
    int avail = lo->width - 2 * lo->padding;
    ln->x = rtl && ln->width < avail ? avail - ln->width : 0;
    return 0;
}

static int layout_paragraph(layout_t *lo, const layout_font_t *font, size_t p, size_t e, long avail,
                            char *err, size_t errlen)
{
    int par = layout_bidi_levels(lo->cps + p, e - p, 0, lo->levels + p);
    if (par < 0) return oom(err, errlen);
    for (size_t i = p; i < e; i++) lo->brk[i] = LAYOUT_BRK_NONE;
    if (assign_faces(lo, font, p, e, err, errlen) < 0) return -1;
    size_t r0 = lo->nruns;
    if (shape_paragraph(lo, font, p, e, err, errlen) < 0 || find_breaks(lo, p, e, err, errlen) < 0)
        return -1;
    size_t r1 = lo->nruns;
    /* One line at a time: a line shaped again alone (place_line) can come out
     * wider than the paragraph's widths said; it then gives back clusters
     * until it fits (or is one cluster), and the next line starts after it. */
    size_t pos = p;
    do {
        lo->nspans = 0;
        if (layout_wrap(lo->prefix, lo->brk, lo->space, pos, e, avail, 1, &lo->spans, &lo->nspans,
                        &lo->cap_spans) < 0)
            return oom(err, errlen);
        size_t a = lo->spans[0].start, b = lo->spans[0].end;
        size_t nlines = lo->nlines, nplaced = lo->nplaced, nruns = lo->nruns, nglyphs = lo->nglyphs;
        for (;;) {
            if (place_line(lo, font, r0, r1, a, b, e, par, err, errlen) < 0) return -1;
            size_t c = b;
            while (c > a + 1 && lo->brk[c - 1] == LAYOUT_BRK_NONE) c--;
            if ((long)lo->lines[lo->nlines - 1].width * 64 <= avail || c <= a + 1) break;
            b = c - 1;
            lo->nlines = nlines;
            lo->nplaced = nplaced;
            lo->nruns = nruns;
            lo->nglyphs = nglyphs;
        }
        pos = b;
        while (pos < e && lo->space[pos]) pos++;
    } while (pos < e);
    return 0;
}

static void trim_empty_lines(layout_t *lo)
{
    size_t first = 0;
    while (first < lo->nlines && lo->lines[first].start == lo->lines[first].end) first++;
    size_t last = lo->nlines;
    while (last > first && lo->lines[last - 1].start == lo->lines[last - 1].end) last--;
    memmove(lo->lines, lo->lines + first, (last - first) * sizeof *lo->lines);
    lo->nlines = last - first;
}

/* Extra rows above the first line / below the last one so that no glyph's ink
 * leaves the band, whatever line it is on. */
static void fit_ink(layout_t *lo, const layout_font_t *font)
{
    int top = 0, bottom = 0;
    for (size_t l = 0; l < lo->nlines; l++) {
        const layout_line_t *ln = &lo->lines[l];
        int above = lo->padding + font->ascender + (int)l * lo->line_height;
        int below = lo->padding - font->descender + (int)(lo->nlines - 1 - l) * lo->line_height;
        for (size_t k = ln->first; k < ln->first + ln->count; k++) {
            const layout_glyph_t *g = &lo->glyphs[lo->placed[k].glyph];
            int dy = layout_round26(lo->placed[k].y);
            if (g->ink_top + dy - above > top) top = g->ink_top + dy - above;
            if (g->ink_bottom - dy - below > bottom) bottom = g->ink_bottom - dy - below;
        }
    }
    lo->top_extra = top;
    lo->bottom_extra = bottom;
}

int layout_compute(layout_t *lo, const layout_font_t *font, const char *text, size_t text_len,
                   int width, int padding, char *err, size_t errlen)
{
    lo->ncps = lo->nlines = lo->nglyphs = lo->nruns = lo->nplaced = 0;
    lo->width = width;
    lo->padding = padding;
    lo->ascender = font->ascender;
    lo->line_height = font->ascender - font->descender;

    /* At most one code point per byte. */
    if (reserve_cps(lo, text_len, err, errlen) < 0) return -1;
    size_t pos = 0;
    while (pos < text_len) {
        size_t at = pos;
        int32_t cp = utf8_next(text, text_len, &pos);
        if (cp < 0) {
            snprintf(err, errlen, "layout: invalid UTF-8 at byte %zu", at);
            return -1;
        }
        lo->offsets[lo->ncps] = at;
        lo->scps[lo->ncps] = cp == '\t' ? ' ' : (uint32_t)cp;
        lo->cps[lo->ncps++] = (uint32_t)cp;
    }
    lo->offsets[lo->ncps] = text_len;
    /* newlines belong to no paragraph: their entries must still be defined */
    memset(lo->brk, LAYOUT_BRK_NONE, lo->ncps + 1);
    memset(lo->space, 0, lo->ncps + 1);
    memset(lo->levels, 0, lo->ncps + 1);

    long avail = (long)(width - 2 * padding) * 64;
    size_t p = 0;
    for (;;) {
        size_t e = p;
        while (e < lo->ncps && !is_newline(lo->cps[e])) e++;
        if (layout_paragraph(lo, font, p, e, avail, err, errlen) < 0) return -1;
        if (e == lo->ncps) break;
        p = e + 1;
        if (lo->cps[e] == '\r' && p < lo->ncps && lo->cps[p] == '\n') p++;
    }
    trim_empty_lines(lo);
    fit_ink(lo, font);
    lo->band_height = (int)lo->nlines * lo->line_height + 2 * padding + lo->top_extra +
                      lo->bottom_extra;
    return 0;
}

int layout_baseline(const layout_t *lo, size_t i)
{
    return lo->top_extra + lo->padding + lo->ascender + (int)i * lo->line_height;
}

/* Appends len bytes to out as far as they fit (keeping room for the NUL) and
 * counts them all, like snprintf. */
static void put(char *out, size_t outlen, size_t *n, const char *s, size_t len)
{
    if (out != NULL && *n + 1 < outlen) {
        size_t room = outlen - 1 - *n;
        memcpy(out + *n, s, len < room ? len : room);
    }
    *n += len;
}

/* A JSON string of bytes s[0, len). */
static void put_string(char *out, size_t outlen, size_t *n, const char *s, size_t len)
{
    put(out, outlen, n, "\"", 1);
    for (size_t b = 0; b < len; b++) {
        unsigned char c = (unsigned char)s[b];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(out, outlen, n, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char num[8];
            int k = snprintf(num, sizeof num, "\\u%04x", c);
            put(out, outlen, n, num, (size_t)k);
        } else {
            put(out, outlen, n, (const char *)&s[b], 1);
        }
    }
    put(out, outlen, n, "\"", 1);
}

/* The faces line l uses, each once, in order of first use. */
static void put_fonts(const layout_t *lo, const layout_font_t *font, size_t l, char *out,
                      size_t outlen, size_t *n)
{
    const layout_line_t *ln = &lo->lines[l];
    put(out, outlen, n, "[", 1);
    int listed = 0;
    for (size_t k = ln->first; k < ln->first + ln->count; k++) {
        int face = lo->glyphs[lo->placed[k].glyph].face;
        int seen = 0;
        for (size_t j = ln->first; j < k && !seen; j++)
            seen = lo->glyphs[lo->placed[j].glyph].face == face;
        if (seen) continue;
        char buf[32];
        const char *name = font != NULL && font->face_name != NULL
                               ? font->face_name(font->ctx, face)
                               : NULL;
        if (name == NULL) {
            snprintf(buf, sizeof buf, "face %d", face);
            name = buf;
        }
        if (listed++) put(out, outlen, n, ",", 1);
        put_string(out, outlen, n, name, strlen(name));
    }
    put(out, outlen, n, "]", 1);
}

size_t layout_format_json(const layout_t *lo, const layout_font_t *font, const char *text,
                          char *out, size_t outlen)
{
    size_t n = 0;
    char num[64];
    int k = snprintf(num, sizeof num, "{\"width\":%d,\"lines\":[", lo->width);
    put(out, outlen, &n, num, (size_t)k);
    for (size_t l = 0; l < lo->nlines; l++) {
        const layout_line_t *ln = &lo->lines[l];
        if (l) put(out, outlen, &n, ",", 1);
        put_string(out, outlen, &n, text + lo->offsets[ln->start],
                   lo->offsets[ln->end] - lo->offsets[ln->start]);
    }
    put(out, outlen, &n, "],\"directions\":[", 16);
    for (size_t l = 0; l < lo->nlines; l++) {
        if (l) put(out, outlen, &n, ",", 1);
        put(out, outlen, &n, lo->lines[l].rtl ? "\"rtl\"" : "\"ltr\"", 5);
    }
    put(out, outlen, &n, "],\"fonts\":[", 11);
    for (size_t l = 0; l < lo->nlines; l++) {
        if (l) put(out, outlen, &n, ",", 1);
        put_fonts(lo, font, l, out, outlen, &n);
    }
    k = snprintf(num, sizeof num, "],\"line_height\":%d,\"band_height\":%d}", lo->line_height,
                 lo->band_height);
    put(out, outlen, &n, num, (size_t)k);
    if (out != NULL && outlen) out[n < outlen ? n : outlen - 1] = 0;
    return n;
}

void layout_free(layout_t *lo)
{
    free(lo->cps);
    free(lo->scps);
    free(lo->offsets);
    free(lo->levels);
    free(lo->faces);
    free(lo->scripts);
    free(lo->prefix);
    free(lo->brk);
    free(lo->space);
    free(lo->glyphs);
    free(lo->runs);
    free(lo->placed);
    free(lo->spans);
    free(lo->order);
    free(lo->lines);
    free(lo->u16);
    free(lo->u16map);
    free(lo->allow);
    if (lo->breaker != NULL) ubrk_close(lo->breaker);
    memset(lo, 0, sizeof *lo);
}
