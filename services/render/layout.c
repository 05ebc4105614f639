/* layout.c - greedy word wrap by measured width (see layout.h for the rules). */
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static int is_newline(uint32_t cp)
{
    return cp == '\n' || cp == '\r';
}

/* Break opportunities that are dropped at a break. No-break spaces (U+00A0,
 * U+2007, U+202F) are deliberately absent: they glue words together. */
static int is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x2006) ||
           (cp >= 0x2008 && cp <= 0x200B) || cp == 0x205F || cp == 0x3000;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static int reserve_cps(layout_t *lo, size_t n, char *err, size_t errlen)
{
    if (n + 1 <= lo->cap_cps)
        return 0;
    size_t want = lo->cap_cps ? lo->cap_cps : 64;
    while (want < n + 1)
        want *= 2;
    /* Each array is resized separately; on failure the ones already grown stay
     * valid and cap_cps is only raised once all of them are. */
    void *p;
    if (!(p = realloc(lo->cps, want * sizeof *lo->cps)))
        goto oom;
    lo->cps = p;
    if (!(p = realloc(lo->offsets, want * sizeof *lo->offsets)))
        goto oom;
    lo->offsets = p;
    if (!(p = realloc(lo->glyphs, want * sizeof *lo->glyphs)))
        goto oom;
    lo->glyphs = p;
    if (!(p = realloc(lo->x, want * sizeof *lo->x)))
        goto oom;
    lo->x = p;
    if (!(p = realloc(lo->prefix, want * sizeof *lo->prefix)))
        goto oom;
    lo->prefix = p;
    if (!(p = realloc(lo->kern, want * sizeof *lo->kern)))
        goto oom;
    lo->kern = p;
    lo->cap_cps = want;
    return 0;
oom:
    snprintf(err, errlen, "layout: out of memory");
    return -1;
}

/* Kerning applied before glyph i (0 at a paragraph start or across faces). */
static long kern_before(const layout_t *lo, const layout_font_t *font, size_t i)
{
    if (i == 0 || !font->kerning || is_newline(lo->cps[i]) || is_newline(lo->cps[i - 1]))
        return 0;
    const layout_glyph_t *a = &lo->glyphs[i - 1], *b = &lo->glyphs[i];
    if (a->face != b->face)
        return 0;
    return font->kerning(font->ctx, a, b);
}

/* 26.6 width of code points [a, b) laid out as one line. */
static long span_width(const layout_t *lo, const long *kern, size_t a, size_t b)
{
    if (b <= a)
        return 0;
    return lo->prefix[b] - lo->prefix[a] - kern[a];
}

static int px_ceil(long w26)
{
    return (int)((w26 + 63) >> 6);
}

static int emit_line(layout_t *lo, const long *kern, size_t a, size_t b, char *err,
                     size_t errlen)
{
    if (grow((void **)&lo->lines, &lo->cap_lines, lo->nlines + 1, sizeof *lo->lines) < 0) {
        snprintf(err, errlen, "layout: out of memory");
        return -1;
    }
    layout_line_t *ln = &lo->lines[lo->nlines++];
    ln->start = a;
    ln->end = b;
    ln->width = px_ceil(span_width(lo, kern, a, b));
    for (size_t i = a; i < b; i++)
        lo->x[i] = lo->prefix[i] - lo->prefix[a] - kern[a] + kern[i];
    return 0;
}

/* Wraps the paragraph [p, end) (no newlines inside). */
static int wrap_paragraph(layout_t *lo, const long *kern, size_t p, size_t end, long avail,
                          char *err, size_t errlen)
{
    size_t line_start = p;
    while (line_start < end && is_space(lo->cps[line_start]))
        line_start++;
    if (line_start == end)
        return emit_line(lo, kern, end, end, err, errlen);

    size_t line_end = line_start, pos = line_start;
    while (pos < end) {
        size_t ws = pos;
        while (ws < end && is_space(lo->cps[ws]))
            ws++;
        if (ws == end)
            break;
        size_t we = ws;
        while (we < end && !is_space(lo->cps[we]))
            we++;
        if (span_width(lo, kern, line_start, we) <= avail) {
            line_end = pos = we;
            continue;
        }
        if (line_end > line_start) {
            if (emit_line(lo, kern, line_start, line_end, err, errlen) < 0)
                return -1;
            line_start = line_end = pos = ws;
            continue;
        }
        /* The word alone is wider than a line: take as many characters as fit,
         * at least one so that a line narrower than any glyph still advances. */
        size_t k = line_start + 1;
        while (k < we && span_width(lo, kern, line_start, k + 1) <= avail)
            k++;
        if (emit_line(lo, kern, line_start, k, err, errlen) < 0)
            return -1;
        line_start = line_end = pos = k;
    }
    if (line_end > line_start)
        return emit_line(lo, kern, line_start, line_end, err, errlen);
    return 0;
}

static void trim_empty_lines(layout_t *lo)
{
    size_t first = 0;
    while (first < lo->nlines && lo->lines[first].start == lo->lines[first].end)
        first++;
    size_t last = lo->nlines;
    while (last > first && lo->lines[last - 1].start == lo->lines[last - 1].end)
        last--;
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
        int below = lo->padding - font->descender +
                    (int)(lo->nlines - 1 - l) * lo->line_height;
        for (size_t i = ln->start; i < ln->end; i++) {
            const layout_glyph_t *g = &lo->glyphs[i];
            if (g->ink_top - above > top)
                top = g->ink_top - above;
            if (g->ink_bottom - below > bottom)
                bottom = g->ink_bottom - below;
        }
    }
    lo->top_extra = top;
    lo->bottom_extra = bottom;
}

int layout_compute(layout_t *lo, const layout_font_t *font, const char *text,
                   size_t text_len, int width, int padding, char *err, size_t errlen)
{
    lo->ncps = lo->nlines = 0;
    lo->width = width;
    lo->padding = padding;
    lo->ascender = font->ascender;
    lo->line_height = font->ascender - font->descender;

    /* At most one code point per byte. */
    if (reserve_cps(lo, text_len, err, errlen) < 0)
        return -1;
    size_t pos = 0;
    while (pos < text_len) {
        size_t at = pos;
        int32_t cp = utf8_next(text, text_len, &pos);
        if (cp < 0) {
            snprintf(err, errlen, "layout: invalid UTF-8 at byte %zu", at);
            return -1;
        }
        lo->offsets[lo->ncps] = at;
        lo->cps[lo->ncps++] = (uint32_t)cp;
    }
    lo->offsets[lo->ncps] = text_len;

    for (size_t i = 0; i < lo->ncps; i++) {
        uint32_t cp = lo->cps[i];
        layout_glyph_t *g = &lo->glyphs[i];
        if (is_newline(cp)) {
            memset(g, 0, sizeof *g);
            continue;
        }
        if (font->glyph(font->ctx, cp == '\t' ? ' ' : cp, g, err, errlen) < 0)
            return -1;
    }
    long *kern = lo->kern;
    lo->prefix[0] = 0;
    for (size_t i = 0; i < lo->ncps; i++) {
        kern[i] = kern_before(lo, font, i);
        lo->prefix[i + 1] = lo->prefix[i] + lo->glyphs[i].advance + kern[i];
    }
    kern[lo->ncps] = 0;

    long avail = (long)(width - 2 * padding) * 64;
    int rc = 0;
    size_t p = 0;
    while (rc == 0 && p <= lo->ncps) {
        size_t e = p;
        while (e < lo->ncps && !is_newline(lo->cps[e]))
            e++;
        rc = wrap_paragraph(lo, kern, p, e, avail, err, errlen);
        if (e == lo->ncps)
            break;
        p = e + 1;
        if (lo->cps[e] == '\r' && p < lo->ncps && lo->cps[p] == '\n')
            p++;
    }
    if (rc < 0)
        return -1;
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
    if (out && *n + 1 < outlen) {
        size_t room = outlen - 1 - *n;
        memcpy(out + *n, s, len < room ? len : room);
    }
    *n += len;
}

size_t layout_format_json(const layout_t *lo, const char *text, char *out, size_t outlen)
{
    size_t n = 0;
    char num[64];
    int k = snprintf(num, sizeof num, "{\"width\":%d,\"lines\":[", lo->width);
    put(out, outlen, &n, num, (size_t)k);
    for (size_t l = 0; l < lo->nlines; l++) {
        const layout_line_t *ln = &lo->lines[l];
        put(out, outlen, &n, l ? ",\"" : "\"", l ? 2 : 1);
        for (size_t b = lo->offsets[ln->start]; b < lo->offsets[ln->end]; b++) {
            unsigned char c = (unsigned char)text[b];
            if (c == '"' || c == '\\') {
                char esc[2] = {'\\', (char)c};
                put(out, outlen, &n, esc, 2);
            } else if (c < 0x20 || c == 0x7f) {
                k = snprintf(num, sizeof num, "\\u%04x", c);
                put(out, outlen, &n, num, (size_t)k);
            } else {
                put(out, outlen, &n, (const char *)&text[b], 1);
            }
        }
        put(out, outlen, &n, "\"", 1);
    }
    k = snprintf(num, sizeof num, "],\"line_height\":%d,\"band_height\":%d}", lo->line_height,
                 lo->band_height);
    put(out, outlen, &n, num, (size_t)k);
    if (out && outlen)
        out[n < outlen ? n : outlen - 1] = 0;
    return n;
}

void layout_free(layout_t *lo)
{
    free(lo->cps);
    free(lo->offsets);
    free(lo->glyphs);
    free(lo->x);
    free(lo->prefix);
    free(lo->kern);
    free(lo->lines);
    memset(lo, 0, sizeof *lo);
}
