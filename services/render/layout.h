/* layout.h - where the caption's glyphs go. Pure: fonts are reached only
 * through a layout_font_t (which face has a character, and shaping), so tests
 * can lay out with the real fonts or with a fake font and assert exact results.
 *
 * Pipeline, per paragraph (text between newlines):
 *  1. UTF-8 -> code points.
 *  2. Bidirectional levels by the Unicode Bidirectional Algorithm (FriBiDi);
 *     the paragraph direction is that of its first strong character (LTR when
 *     it has none).
 *  3. A face per code point (the provider's fallback: FONT_NAME first); marks,
 *     joiners, variation selectors and common characters (spaces,
 *     punctuation, digits) stay in the previous character's face when it has
 *     them, so that clusters and words are not split between fonts.
 *  4. Runs of one face, bidi level and script are shaped (HarfBuzz through the
 *     provider) with the whole paragraph as context. A cluster's width is the
 *     sum of its glyphs' advances (kerning and marks included).
 *  5. Break opportunities: the Unicode line breaking algorithm (UAX #14) by
 *     ICU's line break iterator, which also breaks Thai, Lao, Khmer and
 *     Burmese between words with its dictionaries and keeps the CJK rules (no
 *     line starts with closing punctuation); kept only at cluster boundaries.
 *  6. Greedy wrap by shaped width to `width - 2*padding` (layout_wrap(),
 *     pure): the longest run of whole segments that fits; whitespace at a
 *     break (wrapped or explicit) is dropped, so no line starts or ends with
 *     spaces; a segment longer than a line is split between clusters;
 *     explicit newlines are kept (empty lines included), but leading and
 *     trailing empty lines are not, so the first line is never empty.
 *  7. Each line's pieces of runs are put in visual order (rule L2 on the
 *     runs' levels; each run's glyphs are already in visual order) and placed
 *     with their shaped advances and offsets.
 *
 * Alignment: a line of a left-to-right paragraph starts at the left padding; a
 * line of a right-to-left paragraph ends at the right padding (its right edge
 * at width - padding), as RTL readers expect.
 * Line height = ascender - descender of the main face (size metrics).
 * Band height = lines * line_height + 2 * padding, plus the rows (if any) that
 * glyphs reaching above the ascender on the first line or below the descender
 * on the last line need so that no glyph is clipped (top_extra/bottom_extra). */
#ifndef IMGCAP_RENDER_LAYOUT_H
#define IMGCAP_RENDER_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* One shaped glyph. Lengths in 26.6 fixed point except the ink rows. */
typedef struct layout_glyph {
    int face;       /* which face of the provider */
    unsigned index; /* glyph index in that face; 0 = .notdef (missing glyph) */
    size_t cluster; /* first code point of its cluster (index in layout_t.cps) */
    long advance;   /* x advance, 26.6 */
    long x_offset;  /* 26.6, from the pen */
    long y_offset;  /* 26.6, upwards */
    int ink_top;    /* rows of ink above the baseline (may be <= 0), without y_offset */
    int ink_bottom; /* rows of ink below the baseline (may be <= 0), without y_offset */
} layout_glyph_t;

/* A run to shape: cps[start, start + len) in one face, one direction, one
 * script; cps[ctx_start, ctx_start + ctx_len) (the paragraph) is context. */
typedef struct layout_run {
    const uint32_t *cps;
    size_t ctx_start, ctx_len;
    size_t start, len;
    int face;
    int rtl;
    uint32_t script; /* ISO 15924 tag as HarfBuzz spells it (hb_script_t) */
} layout_run_t;

typedef struct layout_font {
    void *ctx;
    /* The face for cp; prev_face is the previous code point's face in the
     * paragraph (-1 at its start); flags are LAYOUT_FACE_*. A code point no
     * face has gets face 0 (its .notdef). -1 only when a face it needed could
     * not be opened for lack of memory: the layout then fails (the next
     * layout tries the font again) rather than draw boxes into a caption
     * that is kept. */
    int (*face_for)(void *ctx, uint32_t cp, int prev_face, int flags);
    /* Shapes run. *out points to *n glyphs in visual order (left to right)
     * owned by the provider, valid until its next call; each cluster is an
     * index into run->cps. Returns 0, or -1 with err set. */
    int (*shape)(void *ctx, const layout_run_t *run, const layout_glyph_t **out, size_t *n,
                 char *err, size_t errlen);
    /* Family name of a face, for --layout; NULL = "face N". */
    const char *(*face_name)(void *ctx, int face);
    int ascender;  /* px above the baseline, from the size metrics */
    int descender; /* px, <= 0 */
} layout_font_t;

/* Hints to layout_font_t.face_for(). */
enum {
    LAYOUT_FACE_CLING = 1, /* stay in prev_face if it has cp (marks, joiners, common characters) */
    LAYOUT_FACE_EMOJI = 2, /* U+FE0F follows: emoji presentation asked for */
    LAYOUT_FACE_TEXT = 4,  /* U+FE0E follows: text presentation asked for */
};

/* Break classes, before code point i. */
enum {
    LAYOUT_BRK_NONE = 0,  /* inside a cluster: never */
    LAYOUT_BRK_CHAR = 1,  /* between clusters: only when a segment is wider than a line */
    LAYOUT_BRK_ALLOW = 2, /* a line break opportunity */
};

typedef struct layout_span {
    size_t start, end;
} layout_span_t;

/* A glyph placed on a line. */
typedef struct layout_placed {
    size_t glyph; /* index in layout_t.glyphs */
    long x;       /* 26.6 from the line's left edge, x_offset included */
    long y;       /* 26.6 upwards from the baseline (y_offset) */
} layout_placed_t;

typedef struct layout_line {
    size_t start, end;   /* code point range [start, end) in layout_t.cps */
    int width;           /* px, measured: ceil of the 26.6 pen advance */
    int rtl;             /* 1 when its paragraph is right-to-left */
    int x;               /* px from the padding to the line's left edge (alignment) */
    size_t first, count; /* its glyphs: layout_t.placed[first, first + count) */
} layout_line_t;

/* A computed layout. Zero-initialise it; layout_compute() reuses its arrays
 * across calls; the owner releases them with layout_free(). */
typedef struct layout {
    uint32_t *cps;         /* code points of the text */
    uint32_t *scps;        /* the code points as shaped (a tab as a space) */
    size_t *offsets;       /* byte offset of each code point in the text, +1 entry */
    unsigned char *levels; /* bidi embedding level of each code point */
    int *faces;            /* face of each code point */
    uint32_t *scripts;     /* script of each code point */
    long *prefix;          /* running cluster widths (26.6), ncps + 1 */
    unsigned char *brk;    /* LAYOUT_BRK_* before each code point */
    unsigned char *space;  /* 1 = dropped at a break */
    size_t ncps, cap_cps;
    layout_glyph_t *glyphs; /* every run's glyphs, runs in logical order */
    size_t nglyphs, cap_glyphs;
    struct layout_run_info *runs;
    size_t nruns, cap_runs;
    layout_placed_t *placed;
    size_t nplaced, cap_placed;
    layout_span_t *spans; /* internal: one paragraph's wrapped lines */
    size_t nspans, cap_spans;
    size_t *order; /* internal: visual order of a line's runs */
    size_t cap_order;
    layout_line_t *lines;
    size_t nlines, cap_lines;
    uint16_t *u16;  /* internal: a paragraph in UTF-16, for ICU */
    size_t *u16map; /* internal: UTF-16 index -> code point index */
    size_t cap_u16, cap_u16map;
    unsigned char *allow; /* internal: layout_uax14() of a paragraph */
    size_t cap_allow;
    struct UBreakIterator *breaker; /* ICU line break iterator, opened once */

    int width; /* image width given to layout_compute */
    int padding;
    int line_height;
    int ascender;
    int top_extra, bottom_extra;
    int band_height;
} layout_t;

/* A 26.6 fixed-point value (FreeType's and HarfBuzz's unit) rounded to the
 * nearest pixel, halves away from zero: one rule for the font's metrics and
 * the glyphs' positions. */
static inline int layout_round26(long v)
{
    return (int)(v >= 0 ? (v + 32) >> 6 : -((-v + 32) >> 6));
}

/* Lays out text (UTF-8, text_len bytes) for an image `width` px wide. Returns
 * 0, or -1 with err set (invalid UTF-8, out of memory, shaping failure). */
int layout_compute(layout_t *lo, const layout_font_t *font, const char *text, size_t text_len,
                   int width, int padding, char *err, size_t errlen);

/* Greedy wrap of items [start, end): prefix[i] is the 26.6 width of the items
 * before i (width of [a, b) = prefix[b] - prefix[a]); brk[i] the LAYOUT_BRK_*
 * class before item i; space[i] 1 for whitespace, dropped at a break. Appends
 * each line (the first max_lines only, unless max_lines is 0) to *spans (grown as needed; *cap its
 * capacity, *n its count). An empty or all-space range is one empty line. Returns 0, or -1 when
 * out of memory. */
int layout_wrap(const long *prefix, const unsigned char *brk, const unsigned char *space,
                size_t start, size_t end, long avail, size_t max_lines, layout_span_t **spans,
                size_t *n, size_t *cap);

/* UAX #14 line break opportunities of cps[0, n) by ICU (its buffers and
 * iterator kept in lo): allow[i] = 1 when a line may break before cps[i]
 * (0 < i < n; allow[0] = 0). Returns 0, or -1 with err set. */
int layout_uax14(layout_t *lo, const uint32_t *cps, size_t n, unsigned char *allow, char *err,
                 size_t errlen);

/* Bidi levels of a paragraph of n code points by FriBiDi, rule L1 applied to
 * whitespace at its end and before segment separators. dir: 0 auto (first
 * strong character, LTR without one), 1 LTR, 2 RTL. Returns the paragraph
 * level (0 or 1), or -1 when out of memory. */
int layout_bidi_levels(const uint32_t *cps, size_t n, int dir, unsigned char *levels);

/* Rule L2: the visual order (left to right) of n items with these levels;
 * order[k] is the logical index of the k-th item from the left. */
void layout_bidi_reorder(const unsigned char *levels, size_t n, size_t *order);

/* Baseline y of line i, from the top of the band. */
int layout_baseline(const layout_t *lo, size_t i);

/* Writes the layout as one line of JSON (no newline):
 * {"width":W,"lines":["..",..],"directions":["ltr"|"rtl",..],
 *  "fonts":[["family",..],..],"line_height":H,"band_height":B}
 * (lines in logical order; fonts: the faces each line uses, each once, in
 * visual order of first use).
 * Returns the length the full string needs (like snprintf); out may be NULL
 * with outlen 0. */
size_t layout_format_json(const layout_t *lo, const layout_font_t *font, const char *text,
                          char *out, size_t outlen);

void layout_free(layout_t *lo);

#endif
