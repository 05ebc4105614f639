/* orient.c - EXIF orientation as a pixel mapping: for each upright (x, y), the
 * stored (sx, sy). Orientations 5..8 store the picture transposed:
 *   2: (w-1-x, y)   3: (w-1-x, h-1-y)   4: (x, h-1-y)     5: (y, x)
 *   6: (y, h-1-x)   7: (w-1-y, h-1-x)   8: (w-1-y, x) */
#include "orient.h"

#include <stddef.h>
#include <string.h>

void render_orient_size(int w, int h, int o, int *vw, int *vh)
{
    *vw = o >= 5 ? h : w;
    *vh = o >= 5 ? w : h;
}

void render_orient_pixels(const unsigned char *src, int w, int h, int nc, int o, unsigned char *dst,
                          size_t dst_stride)
{
    int vw, vh;
    render_orient_size(w, h, o, &vw, &vh);
    /* (sx, sy) is affine in (x, y): the source byte offset is
     * base + x * ax + y * ay, so each output row is one strided walk. */
    ptrdiff_t row = (ptrdiff_t)w * nc, last_row = (ptrdiff_t)(h - 1) * row,
              last_col = (ptrdiff_t)(w - 1) * nc;
    ptrdiff_t base, ax, ay;
    /* One orientation per line: the switch reads as the table it is. */
    /* clang-format off */
    switch (o) {
    case 2: base = last_col;            ax = -nc;  ay = row;  break;
    case 3: base = last_row + last_col; ax = -nc;  ay = -row; break;
    case 4: base = last_row;            ax = nc;   ay = -row; break;
    case 5: base = 0;                   ax = row;  ay = nc;   break;
    case 6: base = last_row;            ax = -row; ay = nc;   break;
    case 7: base = last_row + last_col; ax = -row; ay = -nc;  break;
    case 8: base = last_col;            ax = row;  ay = -nc;  break;
    default: base = 0;                  ax = nc;   ay = row;  break;
    }
    /* clang-format on */
    for (int y = 0; y < vh; y++) {
        const unsigned char *s = src + base + (ptrdiff_t)y * ay;
        unsigned char *d = dst + (size_t)y * dst_stride;
        if (nc == 3) {
            for (int x = 0; x < vw; x++, s += ax, d += 3) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
        } else if (nc == 1) {
            for (int x = 0; x < vw; x++, s += ax) *d++ = *s;
        } else {
            for (int x = 0; x < vw; x++, s += ax, d += nc) memcpy(d, s, (size_t)nc);
        }
    }
}
