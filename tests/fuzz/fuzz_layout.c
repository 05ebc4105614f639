/* fuzz_layout.c - the caption layout (services/render/layout.c) on arbitrary
 * descriptions in any script and widths: bidi (FriBiDi), line breaking (ICU),
 * runs, wrap and reordering. Input: width (2 bytes), padding, mode, text.
 * Mode bit 0 lays out with the real fonts (DejaVu Sans from IMGCAP_ROOT/fonts
 * and fontconfig's fallbacks, shaped by HarfBuzz); otherwise a fake font whose
 * metrics come from the code point, so that very wide, zero-width, negative
 * and tall glyphs, ligatures (one glyph for two code points), decompositions
 * (two glyphs for one) and offset marks all occur. Lines must cover the text
 * in order, hold only glyphs of their own code points, and fit the band. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/font.h"
#include "render/layout.h"

static int fake_face_for(void *ctx, uint32_t cp, int prev, int flags)
{
    (void)ctx;
    if ((flags & LAYOUT_FACE_CLING) && prev >= 0 && cp % 3) return prev;
    return (int)(cp % 3);
}

static layout_glyph_t out[2 * 65536 + 2];

static int fake_shape(void *ctx, const layout_run_t *run, const layout_glyph_t **res, size_t *n,
                      char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    size_t k = 0;
    for (size_t i = run->start; i < run->start + run->len; i++) {
        uint32_t cp = run->cps[i];
        /* pairs whose sum is a multiple of 7 ligate into one glyph */
        int lig = i + 1 < run->start + run->len && (cp + run->cps[i + 1]) % 7 == 0;
        int parts = cp % 11 == 0 ? 2 : 1;
        for (int p = 0; p < parts; p++) {
            layout_glyph_t *g = &out[k++];
            g->face = run->face;
            g->index = cp % 97;
            g->cluster = i;
            g->advance = (long)(cp % 23) * 64 + (cp % 5 == 0 ? 0 : 17) - (lig ? 40 : 0);
            g->x_offset = (long)(cp % 3) - 1;
            g->y_offset = (long)(cp % 13) * 16 - 96;
            g->ink_top = (int)(cp % 19) - 3;
            g->ink_bottom = (int)(cp % 7) - 2;
        }
        if (lig) i++;
    }
    if (run->rtl)
        for (size_t a = 0, b = k ? k - 1 : 0; a < b; a++, b--) {
            layout_glyph_t t = out[a];
            out[a] = out[b];
            out[b] = t;
        }
    *res = out;
    *n = k;
    return 0;
}

static render_font_t *real;

static void close_real(void)
{
    render_font_close(real);
    render_font_shutdown();
}

static int open_real(void)
{
    if (real) return 0;
    const char *root = getenv("IMGCAP_ROOT");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/fonts/DejaVuSans.ttf", root ? root : ".");
    real = render_font_open(path, 16, err, sizeof err);
    if (!real) {
        fprintf(stderr, "fuzz_layout: %s (set IMGCAP_ROOT to the repository)\n", err);
        return -1;
    }
    atexit(close_real);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int width = 1 + (data[0] | data[1] << 8) % 2048;
    int padding = data[2] % 40;
    int use_real = data[3] & 1;
    const char *text = (const char *)data + 4;
    size_t len = size - 4;
    layout_font_t font = {.ctx = NULL,
                          .face_for = fake_face_for,
                          .shape = fake_shape,
                          .ascender = 11,
                          .descender = -3};
    if (use_real) {
        if (open_real() < 0) abort();
        font = render_font_layout(real);
    }
    layout_t lo;
    memset(&lo, 0, sizeof lo);
    char err[256];
    if (layout_compute(&lo, &font, text, len, width, padding, err, sizeof err) == 0) {
        size_t prev = 0;
        for (size_t i = 0; i < lo.nlines; i++) {
            const layout_line_t *ln = &lo.lines[i];
            if (ln->start < prev || ln->end < ln->start || ln->end > lo.ncps) abort();
            prev = ln->end;
            if (layout_baseline(&lo, i) > lo.band_height || ln->x < 0 ||
                ln->first + ln->count > lo.nplaced)
                abort();
            for (size_t k = ln->first; k < ln->first + ln->count; k++) {
                size_t c = lo.glyphs[lo.placed[k].glyph].cluster;
                if (lo.placed[k].glyph >= lo.nglyphs || c < ln->start || c >= ln->end) abort();
            }
        }
        if (lo.band_height < 2 * padding) abort();
        size_t need = layout_format_json(&lo, &font, text, NULL, 0);
        char *json = malloc(need + 1);
        if (!json || layout_format_json(&lo, &font, text, json, need + 1) != need ||
            strlen(json) != need)
            abort();
        free(json);
    }
    layout_free(&lo);
    return 0;
}
