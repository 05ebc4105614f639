/* draw.h - paints the caption band: black, with antialiased white glyphs
 * placed by a layout. */
#ifndef IMGCAP_RENDER_DRAW_H
#define IMGCAP_RENDER_DRAW_H

#include <stddef.h>

#include "font.h"
#include "layout.h"

/* How pixels are stored: 1 component (grayscale), 3 RGB, or 3 YCbCr (whose
 * chroma stays neutral: the band is black and white). */
typedef enum { DRAW_GRAY, DRAW_RGB, DRAW_YCBCR } draw_space_t;

/* Fills rows [0, height) of px (stride bytes apart, `width` pixels) with black
 * and draws lo's lines from f in white, blending coverage with max() so that
 * overlapping glyphs stay white. Ink outside the rectangle is cut off (only
 * possible when a glyph is wider than the image). Returns 0, or -1 with err
 * set when a glyph cannot be rendered. */
int render_draw_band(unsigned char *px, size_t stride, int width, int height, draw_space_t space,
                     const layout_t *lo, render_font_t *f, char *err, size_t errlen);

#endif
