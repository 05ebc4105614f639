/* font.c - font file resolution (fontconfig) and cached glyph rendering
 * (FreeType). See font.h. */
#include "font.h"

#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define MAX_FACES 8          /* main + fallbacks opened on demand */
#define CACHE_SLOTS 2048     /* power of two; cleared when 3/4 full */

typedef struct cache_entry {
    uint32_t cp;
    int used;
    render_glyph_t g;
    unsigned char *bits;     /* owned; g.bitmap points here */
} cache_entry_t;

struct render_font {
    FT_Library lib;
    FT_Face faces[MAX_FACES];
    char *face_paths[MAX_FACES]; /* owned */
    int nfaces;
    int size_px;
    cache_entry_t *cache;    /* CACHE_SLOTS entries, owned */
    size_t cached;
};

/* fontconfig's current configuration is process-wide; one caller at a time. */
static pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;

static char fc_added[8][1024]; /* application font dirs given to fontconfig */
static int fc_nadded;

static void fc_add_dir_locked(const char *dir)
{
    if (!dir || !dir[0])
        return;
    for (int i = 0; i < fc_nadded; i++)
        if (strcmp(fc_added[i], dir) == 0)
            return;
    if (access(dir, R_OK | X_OK) != 0) {
        log_warn("font: fonts dir %s not readable, not searched", dir);
        return;
    }
    if (!FcConfigAppFontAddDir(NULL, (const FcChar8 *)dir))
        log_warn("font: fontconfig could not add fonts dir %s", dir);
    if (fc_nadded < 8)
        snprintf(fc_added[fc_nadded++], sizeof fc_added[0], "%s", dir);
}

void render_font_shutdown(void)
{
    pthread_mutex_lock(&fc_lock);
    FcFini();
    fc_nadded = 0;
    pthread_mutex_unlock(&fc_lock);
}

int render_font_resolve(const char *font_path, const char *font_name, const char *fonts_dir,
                        char *out, size_t outlen, char *err, size_t errlen)
{
    if (font_path && font_path[0]) {
        if (access(font_path, R_OK) != 0) {
            snprintf(err, errlen, "FONT_PATH %s is not readable", font_path);
            return -1;
        }
        snprintf(out, outlen, "%s", font_path);
        log_info("font: %s (FONT_PATH)", out);
        return 0;
    }
    int found = 0;
    pthread_mutex_lock(&fc_lock);
    if (FcInit()) {
        fc_add_dir_locked(fonts_dir);
        FcPattern *pat = FcNameParse((const FcChar8 *)(font_name && font_name[0]
                                                           ? font_name : "DejaVu Sans"));
        if (pat) {
            FcPatternAddBool(pat, FC_SCALABLE, FcTrue);
            FcConfigSubstitute(NULL, pat, FcMatchPattern);
            FcDefaultSubstitute(pat);
            FcResult res;
            FcPattern *m = FcFontMatch(NULL, pat, &res);
            FcChar8 *file = NULL, *family = NULL;
            if (m && FcPatternGetString(m, FC_FILE, 0, &file) == FcResultMatch) {
                FcPatternGetString(m, FC_FAMILY, 0, &family);
                snprintf(out, outlen, "%s", (const char *)file);
                log_info("font: FONT_NAME \"%s\" -> %s (family \"%s\")", font_name, out,
                         family ? (const char *)family : "?");
                found = 1;
            }
            if (m)
                FcPatternDestroy(m);
            FcPatternDestroy(pat);
        }
    } else {
        log_warn("font: fontconfig failed to initialise");
    }
    pthread_mutex_unlock(&fc_lock);
    if (found)
        return 0;
    snprintf(out, outlen, "%s/DejaVuSans.ttf", fonts_dir && fonts_dir[0] ? fonts_dir : ".");
    if (access(out, R_OK) != 0) {
        snprintf(err, errlen, "no font for FONT_NAME \"%s\" and %s is missing", font_name,
                 out);
        return -1;
    }
    log_info("font: FONT_NAME \"%s\" not matched by fontconfig, using %s", font_name, out);
    return 0;
}

static int add_face(render_font_t *f, const char *path, int index, char *err, size_t errlen)
{
    FT_Face face;
    FT_Error e = FT_New_Face(f->lib, path, index, &face);
    if (e) {
        snprintf(err, errlen, "cannot open font %s (FreeType error %d)", path, e);
        return -1;
    }
    if (!FT_IS_SCALABLE(face) || FT_Set_Pixel_Sizes(face, 0, (FT_UInt)f->size_px) != 0) {
        snprintf(err, errlen, "font %s is not a scalable font", path);
        FT_Done_Face(face);
        return -1;
    }
    char *copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "font: out of memory");
        FT_Done_Face(face);
        return -1;
    }
    f->faces[f->nfaces] = face;
    f->face_paths[f->nfaces] = copy;
    f->nfaces++;
    return 0;
}

render_font_t *render_font_open(const char *path, int size_px, char *err, size_t errlen)
{
    render_font_t *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "font: out of memory");
        return NULL;
    }
    f->size_px = size_px;
    f->cache = calloc(CACHE_SLOTS, sizeof *f->cache);
    if (!f->cache) {
        snprintf(err, errlen, "font: out of memory");
        free(f);
        return NULL;
    }
    if (FT_Init_FreeType(&f->lib) != 0) {
        snprintf(err, errlen, "FreeType failed to initialise");
        free(f->cache);
        free(f);
        return NULL;
    }
    if (add_face(f, path, 0, err, errlen) < 0) {
        render_font_close(f);
        return NULL;
    }
    return f;
}

static void cache_clear(render_font_t *f)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(f->cache[i].bits);
        f->cache[i].bits = NULL;
        f->cache[i].used = 0;
    }
    f->cached = 0;
}

void render_font_close(render_font_t *f)
{
    if (!f)
        return;
    if (f->cache) {
        cache_clear(f);
        free(f->cache);
    }
    for (int i = 0; i < f->nfaces; i++) {
        FT_Done_Face(f->faces[i]);
        free(f->face_paths[i]);
    }
    if (f->lib)
        FT_Done_FreeType(f->lib);
    free(f);
}

int render_font_face_count(const render_font_t *f)
{
    return f->nfaces;
}

/* Asks fontconfig for a scalable font that has cp and opens it. Returns the
 * face number, or -1 when there is none (or no room for another face). */
static int open_fallback(render_font_t *f, uint32_t cp)
{
    if (f->nfaces >= MAX_FACES)
        return -1;
    char path[1024] = "";
    int index = 0;
    pthread_mutex_lock(&fc_lock);
    FcPattern *pat = FcPatternCreate();
    FcCharSet *cs = FcCharSetCreate();
    if (pat && cs && FcCharSetAddChar(cs, cp) && FcPatternAddCharSet(pat, FC_CHARSET, cs) &&
        FcPatternAddBool(pat, FC_SCALABLE, FcTrue)) {
        FcConfigSubstitute(NULL, pat, FcMatchPattern);
        FcDefaultSubstitute(pat);
        FcResult res;
        FcFontSet *set = FcFontSort(NULL, pat, FcTrue, NULL, &res);
        for (int i = 0; set && i < set->nfont && !path[0]; i++) {
            FcCharSet *have;
            FcChar8 *file;
            FcBool scalable;
            if (FcPatternGetCharSet(set->fonts[i], FC_CHARSET, 0, &have) != FcResultMatch ||
                !FcCharSetHasChar(have, cp) ||
                FcPatternGetBool(set->fonts[i], FC_SCALABLE, 0, &scalable) != FcResultMatch ||
                !scalable ||
                FcPatternGetString(set->fonts[i], FC_FILE, 0, &file) != FcResultMatch)
                continue;
            if (FcPatternGetInteger(set->fonts[i], FC_INDEX, 0, &index) != FcResultMatch)
                index = 0;
            snprintf(path, sizeof path, "%s", (const char *)file);
        }
        if (set)
            FcFontSetDestroy(set);
    }
    if (cs)
        FcCharSetDestroy(cs);
    if (pat)
        FcPatternDestroy(pat);
    pthread_mutex_unlock(&fc_lock);
    if (!path[0])
        return -1;
    for (int i = 0; i < f->nfaces; i++)
        if (strcmp(f->face_paths[i], path) == 0)
            return FT_Get_Char_Index(f->faces[i], cp) ? i : -1;
    char err[256];
    if (add_face(f, path, index, err, sizeof err) < 0) {
        log_warn("font: fallback for U+%04X: %s", cp, err);
        return -1;
    }
    log_info("font: fallback font %s for U+%04X", path, cp);
    return f->nfaces - 1;
}

/* Where cp comes from: (face, glyph index); index 0 of face 0 is the box. */
static void find_glyph(render_font_t *f, uint32_t cp, int *face, FT_UInt *index)
{
    for (int i = 0; i < f->nfaces; i++) {
        FT_UInt gi = FT_Get_Char_Index(f->faces[i], cp);
        if (gi) {
            *face = i;
            *index = gi;
            return;
        }
    }
    /* control characters are in no font: no point asking fontconfig */
    int control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
    int k = control ? -1 : open_fallback(f, cp);
    if (k >= 0) {
        *face = k;
        *index = FT_Get_Char_Index(f->faces[k], cp);
        return;
    }
    log_warn("font: no font has U+%04X, drawing the missing-glyph box", cp);
    *face = 0;
    *index = 0;
}

static int render_into(render_font_t *f, cache_entry_t *e, uint32_t cp, char *err,
                       size_t errlen)
{
    int face;
    FT_UInt gi;
    find_glyph(f, cp, &face, &gi);
    FT_Face fc = f->faces[face];
    FT_Error fe = FT_Load_Glyph(fc, gi, FT_LOAD_RENDER | FT_LOAD_TARGET_NORMAL);
    if (fe) {
        snprintf(err, errlen, "FreeType cannot render U+%04X (error %d)", cp, fe);
        return -1;
    }
    FT_GlyphSlot s = fc->glyph;
    const FT_Bitmap *bm = &s->bitmap;
    if (bm->pixel_mode != FT_PIXEL_MODE_GRAY && bm->pixel_mode != FT_PIXEL_MODE_MONO &&
        bm->rows && bm->width) {
        snprintf(err, errlen, "U+%04X: unsupported bitmap mode %d", cp, bm->pixel_mode);
        return -1;
    }
    int w = (int)bm->width, h = (int)bm->rows;
    unsigned char *bits = NULL;
    if (w && h) {
        bits = malloc((size_t)w * (size_t)h);
        if (!bits) {
            snprintf(err, errlen, "font: out of memory");
            return -1;
        }
        for (int y = 0; y < h; y++) {
            const unsigned char *src = bm->buffer + (ptrdiff_t)y * bm->pitch;
            unsigned char *dst = bits + (size_t)y * (size_t)w;
            if (bm->pixel_mode == FT_PIXEL_MODE_GRAY) {
                memcpy(dst, src, (size_t)w);
            } else {
                for (int x = 0; x < w; x++)
                    dst[x] = (src[x >> 3] & (0x80 >> (x & 7))) ? 255 : 0;
            }
        }
    }
    e->cp = cp;
    e->used = 1;
    e->bits = bits;
    render_glyph_t *g = &e->g;
    g->lg.face = face;
    g->lg.index = gi;
    /* Unhinted advance (16.16 -> 26.6): lines are measured as the font was
     * designed, as HarfBuzz/Pillow and every shaping engine measure them, and
     * the pen keeps its fractional position (draw rounds per glyph). Hinted
     * advances drift by up to half a pixel per glyph, ~15 px on a long line. */
    g->lg.advance = s->linearHoriAdvance >> 10;
    g->lg.ink_top = h ? s->bitmap_top : 0;
    g->lg.ink_bottom = h ? h - s->bitmap_top : 0;
    g->bitmap_left = s->bitmap_left;
    g->bitmap_top = s->bitmap_top;
    g->width = w;
    g->rows = h;
    g->pitch = w;
    g->bitmap = bits;
    return 0;
}

const render_glyph_t *render_font_glyph(render_font_t *f, uint32_t cp, char *err,
                                        size_t errlen)
{
    size_t mask = CACHE_SLOTS - 1;
    size_t i = (cp * 2654435761u) & mask;
    while (f->cache[i].used) {
        if (f->cache[i].cp == cp)
            return &f->cache[i].g;
        i = (i + 1) & mask;
    }
    if (f->cached >= CACHE_SLOTS / 4 * 3) {
        cache_clear(f);
        i = (cp * 2654435761u) & mask;
    }
    if (render_into(f, &f->cache[i], cp, err, errlen) < 0)
        return NULL;
    f->cached++;
    return &f->cache[i].g;
}

static int layout_glyph_cb(void *ctx, uint32_t cp, layout_glyph_t *g, char *err,
                           size_t errlen)
{
    const render_glyph_t *rg = render_font_glyph(ctx, cp, err, errlen);
    if (!rg)
        return -1;
    *g = rg->lg;
    return 0;
}

static long layout_kerning_cb(void *ctx, const layout_glyph_t *a, const layout_glyph_t *b)
{
    render_font_t *f = ctx;
    FT_Face face = f->faces[a->face];
    FT_Vector v;
    if (!FT_HAS_KERNING(face) || FT_Get_Kerning(face, a->index, b->index,
                                                FT_KERNING_UNFITTED, &v) != 0)
        return 0;
    return v.x;
}

static int round26(FT_Pos v)
{
    return (int)(v >= 0 ? (v + 32) >> 6 : -((-v + 32) >> 6));
}

layout_font_t render_font_layout(render_font_t *f)
{
    const FT_Size_Metrics *m = &f->faces[0]->size->metrics;
    layout_font_t lf = {
        .ctx = f,
        .glyph = layout_glyph_cb,
        .kerning = layout_kerning_cb,
        .ascender = round26(m->ascender),
        .descender = round26(m->descender),
    };
    return lf;
}
