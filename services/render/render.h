/* render.h - one caption job, bytes in and bytes out (services/render/README.md): the
 * JPEG gets a black band with the wrapped text, below the picture (extend) or
 * over its bottom (overlay). No Redis, no files: used by the service's worker
 * actors and by `imgcap-render --once`.
 *
 * Lossless path: when the picture's height is a whole number of MCU rows, the
 * mode is extend and no EXIF rotation is needed, the picture's DCT
 * coefficients are copied unchanged and only the band is encoded, with the
 * source's quantization tables and sampling; decoding the output (without
 * fancy upsampling) gives exactly the input's pixels above the band. A
 * baseline single-scan source whose tables can code the band is not even
 * re-entropy-coded: its scan bytes are spliced in front of the band
 * (splice.h); same coefficients, every marker of the source kept.
 * Otherwise the image is decoded, made upright, captioned and re-encoded at
 * JPEG_QUALITY. EXIF (orientation reset to 1) and ICC profiles are kept; a CMYK
 * input becomes an ordinary YCbCr JPEG (its CMYK profile is dropped).
 *
 * A render_ctx_t holds a FreeType font and reusable buffers: one per thread. */
#ifndef IMGCAP_RENDER_RENDER_H
#define IMGCAP_RENDER_RENDER_H

#include <stddef.h>

#include "config.h"
#include "font.h"
#include "layout.h"

/* Where the band goes: below the picture, or over its bottom. BAND_MODE's
 * values, in the order config.c parses them into config_t.band_mode. */
typedef enum { BAND_EXTEND = 0, BAND_OVERLAY = 1 } band_mode_t;

typedef struct render_opts {
    const char *font_file; /* from render_font_resolve() */
    int font_size;         /* px */
    int text_padding;      /* px */
    band_mode_t band_mode;
    int jpeg_quality;     /* re-encode path only */
    long long max_pixels; /* inputs with more pixels are refused */
    int no_splice;        /* 1: the lossless path always copies coefficients
                             (tests and benchmarks compare the two) */
} render_opts_t;

typedef struct render_ctx render_ctx_t;

/* Opens the font. Returns the context, which the caller frees with
 * render_ctx_free(), or NULL with err set. */
render_ctx_t *render_ctx_new(const render_opts_t *opts, char *err, size_t errlen);
void render_ctx_free(render_ctx_t *ctx);

/* Captions jpeg[0..len) with text (UTF-8). On success returns 0, *out is a new
 * buffer the caller frees with free(), and *out_w x *out_h its size. On a
 * failure (not a JPEG, corrupt or truncated data, over max_pixels, ...)
 * returns -1 with err set (libjpeg's message where it has one); *out is NULL
 * then. */
int render_caption(render_ctx_t *ctx, const unsigned char *jpeg, size_t len, const char *text,
                   size_t text_len, unsigned char **out, size_t *out_len, int *out_w, int *out_h,
                   char *err, size_t errlen);

/* Reads only the JPEG's header and lays text out for its upright width. The
 * layout belongs to ctx and stays valid until the next call on ctx. Returns 0
 * with *out set, or -1 with err set. */
int render_layout_jpeg(render_ctx_t *ctx, const unsigned char *jpeg, size_t len, const char *text,
                       size_t text_len, const layout_t **out, char *err, size_t errlen);

/* Which path the last successful render_caption() took: "lossless" or
 * "reencode" (for logs and tests). */
const char *render_last_path(const render_ctx_t *ctx);

/* The context's fonts (for naming the faces of a layout it computed). */
render_font_t *render_font_of(render_ctx_t *ctx);

/* 1 when the last successful render_caption() took the lossless path by the
 * entropy splice, 0 otherwise (for logs and tests). */
int render_last_spliced(const render_ctx_t *ctx);

#endif
