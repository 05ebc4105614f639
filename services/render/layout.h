/* layout.h - where the caption's glyphs go. Pure: the font
 * is reached only through a layout_font_t, so tests can lay out with the real
 * DejaVu Sans or with a fake fixed-advance font and assert exact results.
 *
 * Rules: UTF-8 -> code points -> advances with kerning; greedy word wrap by
 * measured width to `width - 2*padding`; whitespace at a break (wrapped or
 * explicit) is dropped, so no line starts or ends with spaces; a word longer
 * than a line is split between characters; explicit newlines are kept (empty
 * lines included), but leading and trailing empty lines are not, so the first
 * line is never empty. Line height = ascender - descender (size metrics).
 * Band height = lines * line_height + 2 * padding, plus the rows (if any) that
 * glyphs reaching above the ascender on the first line or below the descender
 * on the last line need so that no glyph is clipped (top_extra/bottom_extra;
 * 0 for DejaVu Sans at the default padding). */
#ifndef RENDER_LAYOUT_H
#define RENDER_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* One glyph as the font provider sees it. All lengths in pixels except
 * advance, which is 26.6 fixed point (as FreeType reports it). */
typedef struct layout_glyph {
    int face;           /* which face of the provider (kerning only within one) */
    unsigned index;     /* glyph index in that face; 0 = missing-glyph box */
    long advance;       /* 26.6 */
    int ink_top;        /* rows of ink above the baseline (may be <= 0) */
    int ink_bottom;     /* rows of ink below the baseline (may be <= 0) */
} layout_glyph_t;

typedef struct layout_font {
    void *ctx;
    /* Fills *g for code point cp. Returns 0, or -1 with err set. */
    int (*glyph)(void *ctx, uint32_t cp, layout_glyph_t *g, char *err, size_t errlen);
    /* Kerning (26.6, usually <= 0) between left and right, same face. NULL = none. */
    long (*kerning)(void *ctx, const layout_glyph_t *left, const layout_glyph_t *right);
    int ascender;       /* px above the baseline, from the size metrics */
    int descender;      /* px, <= 0 */
} layout_font_t;

typedef struct layout_line {
    size_t start, end;  /* code point range [start, end) in layout_t.cps */
    int width;          /* px, measured: ceil of the 26.6 pen advance */
} layout_line_t;

/* A computed layout. Zero-initialise it; layout_compute() reuses its arrays
 * across calls; the owner releases them with layout_free(). */
typedef struct layout {
    uint32_t *cps;          /* code points of the text */
    size_t *offsets;        /* byte offset of each code point in the text, +1 entry */
    layout_glyph_t *glyphs; /* glyph of each code point */
    long *x;                /* pen x (26.6) of each code point from its line start */
    long *kern;             /* internal: kerning before each code point */
    long *prefix;           /* internal: running advance + kerning, ncps + 1 */
    size_t ncps, cap_cps;
    layout_line_t *lines;
    size_t nlines, cap_lines;

    int width;              /* image width given to layout_compute */
    int padding;
    int line_height;
    int ascender;
    int top_extra, bottom_extra;
    int band_height;
} layout_t;

/* Lays out text (UTF-8, text_len bytes) for an image `width` px wide. Returns
 * 0, or -1 with err set (invalid UTF-8, out of memory, glyph lookup failure). */
int layout_compute(layout_t *lo, const layout_font_t *font, const char *text,
                   size_t text_len, int width, int padding, char *err, size_t errlen);

/* Baseline y of line i, from the top of the band. */
int layout_baseline(const layout_t *lo, size_t i);

/* Writes the layout as one line of JSON (no newline):
 * {"width":W,"lines":["..",..],"line_height":H,"band_height":B}. Returns the
 * length the full string needs (like snprintf); out may be NULL with outlen 0. */
size_t layout_format_json(const layout_t *lo, const char *text, char *out, size_t outlen);

void layout_free(layout_t *lo);

#endif
