/* fuzz_layout.c - the caption layout (services/render/layout.c) on arbitrary
 * descriptions and widths, with a fake font whose glyph metrics come from the
 * code point so that very wide, zero-width, negative-kerning and tall glyphs
 * all occur. Lines must cover the text in order and fit the band height. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/layout.h"

static int fake_glyph(void *ctx, uint32_t cp, layout_glyph_t *g, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    g->face = (int)(cp & 1);
    g->index = cp % 97;
    g->advance = (long)(cp % 23) * 64 + (cp % 5 == 0 ? 0 : 17);
    g->ink_top = (int)(cp % 19) - 3;
    g->ink_bottom = (int)(cp % 7) - 2;
    return 0;
}

static long fake_kerning(void *ctx, const layout_glyph_t *l, const layout_glyph_t *r)
{
    (void)ctx;
    return -(long)((l->index + r->index) % 40);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int width = 1 + (data[0] | data[1] << 8) % 2048;
    int padding = data[2] % 40;
    const char *text = (const char *)data + 3;
    size_t len = size - 3;
    layout_font_t font = {
        .ctx = NULL, .glyph = fake_glyph, .kerning = fake_kerning, .ascender = 11, .descender = -3};
    layout_t lo;
    memset(&lo, 0, sizeof lo);
    char err[256];
    if (layout_compute(&lo, &font, text, len, width, padding, err, sizeof err) == 0) {
        size_t prev = 0;
        for (size_t i = 0; i < lo.nlines; i++) {
            if (lo.lines[i].start < prev || lo.lines[i].end < lo.lines[i].start ||
                lo.lines[i].end > lo.ncps)
                abort();
            prev = lo.lines[i].end;
            if (layout_baseline(&lo, i) > lo.band_height) abort();
        }
        if (lo.band_height < 2 * padding) abort();
        size_t need = layout_format_json(&lo, text, NULL, 0);
        char *json = malloc(need + 1);
        if (!json || layout_format_json(&lo, text, json, need + 1) != need || strlen(json) != need)
            abort();
        free(json);
    }
    layout_free(&lo);
    return 0;
}
