/* thumb.h - the thumbnail of a rendered image (services/render/README.md,
 * Thumbnails): a JPEG whose longer side is THUMBNAIL_SIZE px, aspect kept,
 * never upscaled. Bytes in, bytes out: no Redis, no files.
 *
 * The source is decoded by libjpeg at the smallest scale M/8 whose longer side
 * is still at least the target (the IDCT does most of the shrinking, and most
 * of the picture is never produced at full size), as raw Y, Cb and Cr planes;
 * each plane is shrunk to its exact size in the thumbnail (chroma to 4:2:0) by
 * an area average (each thumbnail sample is the mean of the source area it
 * covers, weights to 1/256 of a row and 1/16384 of a column), and the planes
 * are encoded as they are: baseline, 4:2:0, quality 80. A grayscale source
 * gives a grayscale thumbnail; YCbCr stays YCbCr (no colour conversion either
 * way); RGB, CMYK and YCCK sources become YCbCr (Adobe's inverted CMYK handled
 * as render.c does). An ICC profile whose
 * colour space matches the thumbnail's (gray or RGB) is kept; EXIF is not
 * (render's output is upright).
 *
 * A render_thumb_t holds the libjpeg objects and buffers reused across calls:
 * one per thread. */
#ifndef IMGCAP_RENDER_THUMB_H
#define IMGCAP_RENDER_THUMB_H

#include <stddef.h>

/* Quality and sampling of every thumbnail. */
#define RENDER_THUMB_QUALITY 80

typedef struct render_thumb render_thumb_t;

/* A context for thumbnails whose longer side is size px (>= 1) of sources of
 * at most max_pixels pixels. The caller frees it with render_thumb_free().
 * Returns NULL when out of memory (or size < 1). */
render_thumb_t *render_thumb_new(int size, long long max_pixels);
void render_thumb_free(render_thumb_t *t);

/* The thumbnail's size for a w x h source: the longer side becomes size, the
 * other is scaled alike and rounded to the nearest pixel (halves up), at
 * least 1; a source whose longer side is at most size keeps its size. */
void render_thumb_geometry(int w, int h, int size, int *tw, int *th);

/* The M of the M/8 decode scale for a source of longer side longest: the
 * smallest M (1..8) whose decoded longer side, ceil(longest * M / 8) as
 * libjpeg rounds it, is at least size; 8 when longest <= size. */
int render_thumb_scale(int longest, int size);

/* Makes the thumbnail of jpeg[0..len). On success returns 0, *out points to
 * the thumbnail JPEG, which belongs to t and stays valid until the next call
 * on t or render_thumb_free(), and *out_w x *out_h is its size. On a failure
 * (not a JPEG, corrupt or truncated data, over max_pixels) returns -1 with err
 * set (libjpeg's message where it has one); *out is NULL then. */
int render_thumb_make(render_thumb_t *t, const unsigned char *jpeg, size_t len,
                      const unsigned char **out, size_t *out_len, int *out_w, int *out_h, char *err,
                      size_t errlen);

#endif
