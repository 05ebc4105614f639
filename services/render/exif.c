/* exif.c - reads the Orientation tag of IFD0 with bounds checks on every
 * offset: the marker comes from an untrusted upload. */
#include "exif.h"

#include <string.h>

static unsigned rd16(const unsigned char *p, int be)
{
    return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static unsigned long rd32(const unsigned char *p, int be)
{
    return be ? (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 |
                    p[3]
              : (unsigned long)p[3] << 24 | (unsigned long)p[2] << 16 | (unsigned long)p[1] << 8 |
                    p[0];
}

static int tiff_order(const unsigned char *t, size_t tlen, int *be)
{
    if (tlen < 8) return -1;
    if (t[0] == 'M' && t[1] == 'M')
        *be = 1;
    else if (t[0] == 'I' && t[1] == 'I')
        *be = 0;
    else
        return -1;
    return rd16(t + 2, *be) == 42 ? 0 : -1;
}

int render_exif_orientation(const unsigned char *data, size_t len, size_t *value_off)
{
    if (len < 6 || memcmp(data, "Exif\0\0", 6) != 0) return 0;
    const unsigned char *t = data + 6;
    size_t tlen = len - 6;
    int be;
    if (tiff_order(t, tlen, &be) < 0) return 0;
    unsigned long ifd = rd32(t + 4, be);
    if (ifd > tlen - 2) return 0;
    unsigned n = rd16(t + ifd, be);
    for (unsigned i = 0; i < n; i++) {
        unsigned long e = ifd + 2 + 12ul * i;
        if (tlen < 12 || e > tlen - 12) return 0;
        if (rd16(t + e, be) != 0x0112) continue;
        /* SHORT, count 1: the value sits in the first two bytes of the field */
        if (rd16(t + e + 2, be) != 3 || rd32(t + e + 4, be) != 1) return 0;
        unsigned v = rd16(t + e + 8, be);
        if (v < 1 || v > 8) return 0;
        if (value_off != NULL) *value_off = 6 + e + 8;
        return (int)v;
    }
    return 0;
}

void render_exif_set_orientation(unsigned char *data, size_t len, size_t value_off, int value)
{
    int be;
    if (len < 6 || value_off + 2 > len || tiff_order(data + 6, len - 6, &be) < 0) return;
    data[value_off + (be ? 0 : 1)] = 0;
    data[value_off + (be ? 1 : 0)] = (unsigned char)value;
}
