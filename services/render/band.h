/* band.h - the caption band as quantized DCT blocks, computed directly.
 *
 * The lossless routes append the band's blocks to the picture's, quantized
 * with the picture's own tables and laid out with its sampling. Asking libjpeg
 * for them meant encoding the band to a JPEG and reading its coefficients
 * back: two entropy passes and a colour conversion for a picture that is
 * black and white. Here the band is drawn once as a gray plane; luma blocks
 * that hold no ink are one DC value, the others go through the float AAN
 * forward DCT (libjpeg's JDCT_FLOAT, jfdctflt.c) and its rounding; chroma of a
 * YCbCr source is neutral, so every chroma block is zero.
 *
 * Padding follows libjpeg's idea: the plane is extended to whole MCUs by
 * repeating its last column and row, so edge blocks compress as well as
 * libjpeg's. Decoders crop padding away: it is never seen. */
#ifndef IMGCAP_RENDER_BAND_H
#define IMGCAP_RENDER_BAND_H

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE */

#include <jpeglib.h>

#include "font.h"
#include "layout.h"

/* The band's blocks of each component, rows of stride[ci] blocks, row-major.
 * blocks[ci] and plane belong to the struct: render_band_compute() reuses and
 * grows them, render_band_free() frees them. A zeroed struct is empty. */
typedef struct render_band {
    int height; /* pixel rows of the band */
    int ncomp;
    int height_in_blocks[MAX_COMPONENTS]; /* libjpeg's: rows of blocks with pixels */
    int stride[MAX_COMPONENTS];           /* blocks per row, whole MCUs */
    int rows[MAX_COMPONENTS];             /* block rows held, whole MCUs */
    JBLOCK *blocks[MAX_COMPONENTS];
    size_t cap[MAX_COMPONENTS]; /* blocks allocated */
    unsigned char *plane;       /* the drawn gray band, padded */
    size_t plane_cap;
} render_band_t;

/* 1 when render_band_compute() can lay a band out for src: a grayscale or
 * YCbCr source (colour space as libjpeg guessed it) whose luma is sampled an
 * integral number of times more finely than every component, with usable
 * quantization tables (no zero entry). */
int render_band_supported(const struct jpeg_decompress_struct *src);

/* Draws lo's lines (font f) as a band of height rows and fills b with its
 * blocks for src (after jpeg_read_header(); render_band_supported()).
 * Returns 0, or -1 with err set (out of memory, a glyph that cannot be
 * rendered). */
int render_band_compute(render_band_t *b, j_decompress_ptr src, int height, const layout_t *lo,
                        render_font_t *f, char *err, size_t errlen);

/* The first block of block row r of component ci. */
static inline JBLOCKROW render_band_row(const render_band_t *b, int ci, int r)
{
    return b->blocks[ci] + (size_t)r * (size_t)b->stride[ci];
}

/* Frees what b holds and empties it. */
void render_band_free(render_band_t *b);

/* Shrinks b's buffers to nothing when they exceed keep_bytes (a rare huge
 * band must not stay pinned in a long-lived worker). */
void render_band_trim(render_band_t *b, size_t keep_bytes);

/* libjpeg's JDCT_FLOAT divisors (jcdctmgr.c) for quantization table qt
 * (natural order): one multiplier per coefficient. */
void render_band_divisors(const UINT16 *qt, float div[DCTSIZE2]);

/* The forward DCT and quantization of one 8x8 block of samples (rows `pitch`
 * bytes apart), as libjpeg's JDCT_FLOAT path computes them. Exposed for the
 * unit tests. */
void render_band_fdct(const unsigned char *px, size_t pitch, const float div[DCTSIZE2],
                      JCOEF out[DCTSIZE2]);

#endif
