/* orient.c - EXIF orientation as a pixel mapping: for each upright (x, y), the
 * stored (sx, sy). Orientations 5..8 store the picture transposed. */
#include "orient.h"

#include <string.h>

void render_orient_size(int w, int h, int o, int *vw, int *vh)
{
    *vw = o >= 5 ? h : w;
    *vh = o >= 5 ? w : h;
}

void render_orient_pixels(const unsigned char *src, int w, int h, int nc, int o,
                          unsigned char *dst, size_t dst_stride)
{
    int vw, vh;
    render_orient_size(w, h, o, &vw, &vh);
    size_t sstride = (size_t)w * (size_t)nc;
    for (int y = 0; y < vh; y++) {
        unsigned char *d = dst + (size_t)y * dst_stride;
        for (int x = 0; x < vw; x++, d += nc) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            case 8: sx = w - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            memcpy(d, src + (size_t)sy * sstride + (size_t)sx * (size_t)nc, (size_t)nc);
        }
    }
}
