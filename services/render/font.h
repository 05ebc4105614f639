/* font.h - the caption font: which file (fontconfig), and glyphs from it
 * (FreeType) with a per-font cache of rendered bitmaps.
 *
 * A render_font_t holds its own FT_Library and faces, so it belongs to one
 * thread (one per render worker). Code points the main face lacks are looked up
 * in fallback fonts found with fontconfig (FcCharSet); if none has them, the
 * main face's missing-glyph box (glyph 0) is drawn, never nothing. */
#ifndef RENDER_FONT_H
#define RENDER_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

typedef struct render_font render_font_t;

/* A rendered glyph: 8-bit coverage, `rows` rows of `width` bytes, `pitch`
 * bytes apart; bitmap_left/top place it relative to the pen and baseline. */
typedef struct render_glyph {
    layout_glyph_t lg;         /* face, index, advance, ink extents */
    int bitmap_left, bitmap_top;
    int width, rows, pitch;
    const unsigned char *bitmap; /* owned by the font */
} render_glyph_t;

/* Picks the font file: font_path if not empty; else font_name matched with
 * fontconfig (FcConfigSubstitute, FcDefaultSubstitute, FcFontMatch), with
 * fonts_dir added as an application font directory so that the project's
 * fonts/ always take part; else fonts_dir/DejaVuSans.ttf. Logs the choice.
 * Returns 0 with the path in out, or -1 with err set. */
int render_font_resolve(const char *font_path, const char *font_name, const char *fonts_dir,
                        char *out, size_t outlen, char *err, size_t errlen);

/* Releases fontconfig's process-wide state (FcFini) once no render_font_t
 * is in use; a later resolve or fallback lookup initialises it again. */
void render_font_shutdown(void);

/* Opens path at size_px pixels. Caller owns the result (render_font_close()).
 * NULL with err set when the file is not a usable scalable font. */
render_font_t *render_font_open(const char *path, int size_px, char *err, size_t errlen);
void render_font_close(render_font_t *f);

/* The glyph for cp (from the main face, a fallback face, or the box). The
 * result stays valid until the next call on f. NULL with err set on a FreeType
 * failure. */
const render_glyph_t *render_font_glyph(render_font_t *f, uint32_t cp, char *err,
                                        size_t errlen);

/* A layout_font_t that reads glyphs and kerning from f. */
layout_font_t render_font_layout(render_font_t *f);

/* Number of faces opened so far (main + fallbacks), for tests and logs. */
int render_font_face_count(const render_font_t *f);

#endif
