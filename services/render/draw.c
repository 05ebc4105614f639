/* draw.c - band fill and glyph blending. */
#include "draw.h"

#include <string.h>

static void fill_black(unsigned char *px, size_t stride, int width, int height, draw_space_t space)
{
    for (int y = 0; y < height; y++) {
        unsigned char *row = px + (size_t)y * stride;
        if (space == DRAW_YCBCR) {
            for (int x = 0; x < width; x++) {
                row[3 * x] = 0;
                row[3 * x + 1] = 128;
                row[3 * x + 2] = 128;
            }
        } else {
            memset(row, 0, (size_t)width * (space == DRAW_GRAY ? 1 : 3));
        }
    }
}

static void blit(unsigned char *px, size_t stride, int width, int height, draw_space_t space,
                 const render_glyph_t *g, int x0, int y0)
{
    int nc = space == DRAW_GRAY ? 1 : 3;
    /* only luma for YCbCr; every channel for RGB (white = all 255) */
    int lit = space == DRAW_RGB ? 3 : 1;
    /* the glyph's columns inside the image, clipped once for all its rows */
    int gx0 = x0 < 0 ? -x0 : 0;
    int gx1 = x0 + g->width > width ? width - x0 : g->width;
    for (int gy = 0; gy < g->rows; gy++) {
        int y = y0 + gy;
        if (y < 0 || y >= height) continue;
        const unsigned char *src = g->bitmap + (size_t)gy * (size_t)g->pitch;
        unsigned char *row = px + (size_t)y * stride;
        if (nc == 1) {
            /* max() without a branch: the compiler vectorizes this */
            for (int gx = gx0; gx < gx1; gx++) {
                unsigned char *d = row + (x0 + gx);
                *d = *d > src[gx] ? *d : src[gx];
            }
            continue;
        }
        for (int gx = gx0; gx < gx1; gx++) {
            unsigned char cov = src[gx];
            unsigned char *p = row + (size_t)(x0 + gx) * (size_t)nc;
            for (int c = 0; c < lit; c++) p[c] = p[c] > cov ? p[c] : cov;
        }
    }
}

int render_draw_band(unsigned char *px, size_t stride, int width, int height, draw_space_t space,
                     const layout_t *lo, render_font_t *f, char *err, size_t errlen)
{
    fill_black(px, stride, width, height, space);
    for (size_t l = 0; l < lo->nlines; l++) {
        const layout_line_t *ln = &lo->lines[l];
        int base = layout_baseline(lo, l), left = lo->padding + ln->x;
        for (size_t k = ln->first; k < ln->first + ln->count; k++) {
            const layout_placed_t *pl = &lo->placed[k];
            const layout_glyph_t *lg = &lo->glyphs[pl->glyph];
            const render_glyph_t *g = render_font_glyph(f, lg->face, lg->index, err, errlen);
            if (g == NULL) return -1;
            if (!g->rows) continue;
            /* per glyph rounding of the fractional pen, as before shaping */
            int x = left + (int)((pl->x + 32) >> 6) + g->bitmap_left;
            int y = base - (int)((pl->y + 32) >> 6) - g->bitmap_top;
            blit(px, stride, width, height, space, g, x, y);
        }
    }
    return 0;
}
