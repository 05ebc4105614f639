/* orient.h - applies an EXIF orientation to decoded pixels, so the output is
 * upright and can carry orientation 1. Pure. */
#ifndef IMGCAP_RENDER_ORIENT_H
#define IMGCAP_RENDER_ORIENT_H

#include <stddef.h>

/* Width and height after orientation o (1..8; 5..8 swap the axes). */
void render_orient_size(int w, int h, int o, int *vw, int *vh);

/* src: w x h pixels of nc bytes, rows packed. dst: the upright image (size
 * from render_orient_size), rows dst_stride bytes apart. */
void render_orient_pixels(const unsigned char *src, int w, int h, int nc, int o, unsigned char *dst,
                          size_t dst_stride);

#endif
