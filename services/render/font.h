/* font.h - the caption fonts: which file (fontconfig), fallback per
 * character, shaping (HarfBuzz) and glyphs (FreeType) with per-font caches.
 *
 * A render_font_t holds its own FT_Library, faces, HarfBuzz fonts and caches,
 * so it belongs to one thread (one per render worker). The main face (from
 * FONT_NAME / FONT_PATH) is asked first for every character; one it lacks is
 * looked up in the faces opened so far, then in the best installed font that
 * has it (fontconfig, FcFontSort with the character in FC_CHARSET), opened on
 * demand. A character no installed font has is drawn as the main face's
 * .notdef and logged once. The choice per character is cached.
 *
 * Emoji come from a colour bitmap font (Noto Color Emoji: CBDT strikes) when
 * that is the best match: the strike is scaled to the font size (about the
 * line height) and drawn in gray, its luminance over black, because the
 * caption band is black and white. */
#ifndef IMGCAP_RENDER_FONT_H
#define IMGCAP_RENDER_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

typedef struct render_font render_font_t;

/* A rendered glyph: 8-bit coverage, `rows` rows of `width` bytes, `pitch`
 * bytes apart; bitmap_left/top place it relative to the pen and baseline. */
typedef struct render_glyph {
    layout_glyph_t lg; /* face, index, advance, ink extents */
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

/* Opens path at size_px pixels. Returns the font, which the caller closes with
 * render_font_close(), or NULL with err set (not a usable scalable font). */
render_font_t *render_font_open(const char *path, int size_px, char *err, size_t errlen);
void render_font_close(render_font_t *f);

/* Glyph `index` of face `face` (as the layout's glyphs name them), rendered.
 * The result stays valid until the next call on f. Returns it, or NULL with
 * err set (a FreeType failure or a face that does not exist). */
const render_glyph_t *render_font_glyph(render_font_t *f, int face, unsigned index, char *err,
                                        size_t errlen);

/* A layout_font_t that picks faces from f and shapes with HarfBuzz. */
layout_font_t render_font_layout(render_font_t *f);

/* Number of faces opened so far (main + fallbacks), for tests and logs. */
int render_font_face_count(const render_font_t *f);

#endif
