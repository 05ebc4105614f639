/* exif.h - the one EXIF fact render needs: IFD0's Orientation tag (0x0112).
 * Pure, no allocation. */
#ifndef IMGCAP_RENDER_EXIF_H
#define IMGCAP_RENDER_EXIF_H

#include <stddef.h>

/* data/len: the payload of an APP1 marker ("Exif\0\0" + TIFF). Returns the
 * orientation 1..8, or 0 when the marker is not EXIF, has no orientation or
 * is malformed. When value_off is not NULL and the result is nonzero, it gets
 * the offset in data of the tag's 16-bit value (to rewrite it in a copy). */
int render_exif_orientation(const unsigned char *data, size_t len, size_t *value_off);

/* Rewrites the orientation value at value_off (from render_exif_orientation)
 * in a copy of the marker, in the marker's byte order. */
void render_exif_set_orientation(unsigned char *data, size_t len, size_t value_off, int value);

#endif
