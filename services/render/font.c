/* font.c - font file resolution (fontconfig) and cached glyph rendering
 * (FreeType). See font.h. */
#include "font.h"

#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <harfbuzz/hb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define MAX_FACES 32      /* main + fallbacks opened on demand */
#define CACHE_SLOTS 2048  /* glyph bitmaps; power of two; cleared when 3/4 full */
#define CHOICE_SLOTS 1024 /* face per code point; power of two; cleared when 3/4 full */
#define MISSING_LOGGED 64 /* code points no font has, logged once each */

typedef struct cache_entry {
    uint32_t key; /* face << 24 | glyph index */
    int used;
    render_glyph_t g;
    unsigned char *bits; /* owned; g.bitmap points here */
} cache_entry_t;

typedef struct choice {
    uint32_t cp;
    int face; /* -1 = empty slot */
} choice_t;

typedef struct face {
    FT_Face ft;
    hb_font_t *hb;
    char *path; /* owned */
    int index;
    int color;    /* a colour bitmap strike (emoji), drawn scaled */
    double scale; /* strike pixels -> caption pixels (color only) */
} face_t;

struct render_font {
    FT_Library lib;
    face_t faces[MAX_FACES];
    int nfaces;
    int size_px;
    cache_entry_t *cache; /* CACHE_SLOTS entries, owned */
    size_t cached;
    choice_t *choices; /* CHOICE_SLOTS entries, owned */
    size_t nchoices;
    uint32_t missing[MISSING_LOGGED];
    int nmissing;
    int emoji;              /* the emoji font's face; -1 none, -2 not looked up yet */
    hb_buffer_t *buf;       /* reused by every shaping call */
    layout_glyph_t *shaped; /* the last run's glyphs, owned */
    size_t shaped_cap;
};

/* fontconfig's current configuration is process-wide; one caller at a time. */
static pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;

static char fc_added[8][1024]; /* application font dirs given to fontconfig */
static int fc_nadded;

static void fc_add_dir_locked(const char *dir)
{
    if (dir == NULL || !dir[0]) return;
    for (int i = 0; i < fc_nadded; i++)
        if (strcmp(fc_added[i], dir) == 0) return;
    if (access(dir, R_OK | X_OK) != 0) {
        log_warn("font: fonts dir %s not readable, not searched", dir);
        return;
    }
    if (!FcConfigAppFontAddDir(NULL, (const FcChar8 *)dir))
        log_warn("font: fontconfig could not add fonts dir %s", dir);
    if (fc_nadded < 8) snprintf(fc_added[fc_nadded++], sizeof fc_added[0], "%s", dir);
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
    if (font_path != NULL && font_path[0]) {
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
        FcPattern *pat = FcNameParse(
            (const FcChar8 *)(font_name != NULL && font_name[0] ? font_name : "DejaVu Sans"));
        if (pat != NULL) {
            FcPatternAddBool(pat, FC_SCALABLE, FcTrue);
            FcConfigSubstitute(NULL, pat, FcMatchPattern);
            FcDefaultSubstitute(pat);
            FcResult res;
            FcPattern *m = FcFontMatch(NULL, pat, &res);
            FcChar8 *file = NULL, *family = NULL;
            if (m != NULL && FcPatternGetString(m, FC_FILE, 0, &file) == FcResultMatch) {
                FcPatternGetString(m, FC_FAMILY, 0, &family);
                snprintf(out, outlen, "%s", (const char *)file);
                log_info("font: FONT_NAME \"%s\" -> %s (family \"%s\")", font_name, out,
                         family ? (const char *)family : "?");
                found = 1;
            }
            if (m != NULL) FcPatternDestroy(m);
            FcPatternDestroy(pat);
        }
    } else {
        log_warn("font: fontconfig failed to initialise");
    }
    pthread_mutex_unlock(&fc_lock);
    if (found) return 0;
    snprintf(out, outlen, "%s/DejaVuSans.ttf", fonts_dir != NULL && fonts_dir[0] ? fonts_dir : ".");
    if (access(out, R_OK) != 0) {
        snprintf(err, errlen, "no font for FONT_NAME \"%s\" and %s is missing", font_name, out);
        return -1;
    }
    log_info("font: FONT_NAME \"%s\" not matched by fontconfig, using %s", font_name, out);
    return 0;
}

/* add_face's answer when memory ran out (the font itself may be fine): the
 * caller must not take the font for missing, or a caption would be drawn with
 * boxes for good where a later try would have had its glyphs. */
#define FONT_OOM (-3)

/* Opens face `index` of path at f's size: an outline font scaled, or a colour
 * bitmap font (emoji) at the strike nearest above the size, scaled when
 * drawn. The HarfBuzz font reads the file itself (its own OpenType
 * functions, unhinted, scaled to 26.6 pixels), as hb-shape does. Returns 0,
 * or -1 (an unusable font) or FONT_OOM with err set. */
static int add_face(render_font_t *f, const char *path, int index, char *err, size_t errlen)
{
    if (f->nfaces >= MAX_FACES) {
        snprintf(err, errlen, "font: more than %d faces", MAX_FACES);
        return -1;
    }
    FT_Face ft;
    FT_Error e = FT_New_Face(f->lib, path, index, &ft);
    if (e) {
        snprintf(err, errlen, "cannot open font %s (FreeType error %d)", path, e);
        return e == FT_Err_Out_Of_Memory ? FONT_OOM : -1;
    }
    face_t *fc = &f->faces[f->nfaces];
    memset(fc, 0, sizeof *fc);
    if (FT_IS_SCALABLE(ft)) {
        if (FT_Set_Pixel_Sizes(ft, 0, (FT_UInt)f->size_px) != 0) goto not_usable;
    } else if (FT_HAS_COLOR(ft) && FT_HAS_FIXED_SIZES(ft) && ft->num_fixed_sizes > 0) {
        int best = 0;
        for (int i = 1; i < ft->num_fixed_sizes; i++) {
            FT_Pos have = ft->available_sizes[best].y_ppem, cand = ft->available_sizes[i].y_ppem;
            long want = (long)f->size_px * 64;
            if ((have < want && cand > have) || (cand >= want && cand < have)) best = i;
        }
        if (FT_Select_Size(ft, best) != 0 || ft->available_sizes[best].y_ppem <= 0) goto not_usable;
        fc->color = 1;
        fc->scale = (double)f->size_px * 64.0 / (double)ft->available_sizes[best].y_ppem;
    } else {
        goto not_usable;
    }
    hb_blob_t *blob = hb_blob_create_from_file_or_fail(path);
    hb_face_t *hf = blob != NULL ? hb_face_create(blob, (unsigned)index) : NULL;
    hb_blob_destroy(blob);
    fc->hb = hf != NULL ? hb_font_create(hf) : NULL;
    hb_face_destroy(hf);
    fc->path = strdup(path);
    if (fc->hb == NULL || fc->path == NULL) {
        /* FreeType read the file, so HarfBuzz failing on it is memory too. */
        snprintf(err, errlen, "font %s: out of memory", path);
        hb_font_destroy(fc->hb);
        free(fc->path);
        fc->path = NULL;
        FT_Done_Face(ft);
        return FONT_OOM;
    }
    hb_font_set_scale(fc->hb, f->size_px * 64, f->size_px * 64);
    fc->ft = ft;
    fc->index = index;
    f->nfaces++;
    return 0;
not_usable:
    snprintf(err, errlen, "font %s is not a scalable font", path);
    FT_Done_Face(ft);
    return -1;
}

render_font_t *render_font_open(const char *path, int size_px, char *err, size_t errlen)
{
    render_font_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        snprintf(err, errlen, "font: out of memory");
        return NULL;
    }
    f->size_px = size_px;
    f->emoji = -2;
    f->cache = calloc(CACHE_SLOTS, sizeof *f->cache);
    f->choices = malloc(CHOICE_SLOTS * sizeof *f->choices);
    f->buf = hb_buffer_create();
    if (f->cache == NULL || f->choices == NULL || !hb_buffer_allocation_successful(f->buf)) {
        snprintf(err, errlen, "font: out of memory");
        render_font_close(f);
        return NULL;
    }
    for (size_t i = 0; i < CHOICE_SLOTS; i++) f->choices[i].face = -1;
    if (FT_Init_FreeType(&f->lib) != 0) {
        snprintf(err, errlen, "FreeType failed to initialise");
        render_font_close(f);
        return NULL;
    }
    if (add_face(f, path, 0, err, errlen) < 0 || f->faces[0].color) {
        if (f->nfaces) snprintf(err, errlen, "font %s is not a scalable font", path);
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
    if (f == NULL) return;
    if (f->cache != NULL) {
        cache_clear(f);
        free(f->cache);
    }
    free(f->choices);
    free(f->shaped);
    hb_buffer_destroy(f->buf);
    for (int i = 0; i < f->nfaces; i++) {
        hb_font_destroy(f->faces[i].hb);
        FT_Done_Face(f->faces[i].ft);
        free(f->faces[i].path);
    }
    if (f->lib != NULL) FT_Done_FreeType(f->lib);
    free(f);
}

int render_font_face_count(const render_font_t *f) { return f->nfaces; }

/* Asks fontconfig for a scalable font that has cp and opens it. Returns the
 * face number, or -1 when there is none (or no room for another face). */
static int open_fallback(render_font_t *f, uint32_t cp)
{
    if (f->nfaces >= MAX_FACES) return -1;
    char path[1024] = "";
    int index = 0;
    pthread_mutex_lock(&fc_lock);
    FcPattern *pat = FcPatternCreate();
    FcCharSet *cs = FcCharSetCreate();
    if (pat != NULL && cs != NULL && FcCharSetAddChar(cs, cp) &&
        FcPatternAddCharSet(pat, FC_CHARSET, cs) && FcPatternAddBool(pat, FC_SCALABLE, FcTrue)) {
        FcConfigSubstitute(NULL, pat, FcMatchPattern);
        FcDefaultSubstitute(pat);
        FcResult res;
        FcFontSet *set = FcFontSort(NULL, pat, FcTrue, NULL, &res);
        for (int i = 0; set != NULL && i < set->nfont && !path[0]; i++) {
            FcCharSet *have;
            FcChar8 *file;
            FcBool scalable;
            if (FcPatternGetCharSet(set->fonts[i], FC_CHARSET, 0, &have) != FcResultMatch ||
                !FcCharSetHasChar(have, cp) ||
                FcPatternGetBool(set->fonts[i], FC_SCALABLE, 0, &scalable) != FcResultMatch ||
                !scalable || FcPatternGetString(set->fonts[i], FC_FILE, 0, &file) != FcResultMatch)
                continue;
            if (FcPatternGetInteger(set->fonts[i], FC_INDEX, 0, &index) != FcResultMatch) index = 0;
            snprintf(path, sizeof path, "%s", (const char *)file);
        }
        if (set != NULL) FcFontSetDestroy(set);
    }
    if (cs != NULL) FcCharSetDestroy(cs);
    if (pat != NULL) FcPatternDestroy(pat);
    pthread_mutex_unlock(&fc_lock);
    if (!path[0]) return -1;
    for (int i = 0; i < f->nfaces; i++)
        if (strcmp(f->faces[i].path, path) == 0 && f->faces[i].index == index)
            return FT_Get_Char_Index(f->faces[i].ft, cp) ? i : -1;
    char err[256];
    int rc = add_face(f, path, index, err, sizeof err);
    if (rc < 0) {
        log_warn("font: fallback for U+%04X: %s", cp, err);
        return rc;
    }
    log_info("font: fallback font %s (%s) for U+%04X", path,
             f->faces[f->nfaces - 1].ft->family_name ? f->faces[f->nfaces - 1].ft->family_name
                                                     : "?",
             cp);
    return f->nfaces - 1;
}

static void log_missing(render_font_t *f, uint32_t cp)
{
    for (int i = 0; i < f->nmissing; i++)
        if (f->missing[i] == cp) return;
    if (f->nmissing < MISSING_LOGGED) {
        f->missing[f->nmissing++] = cp;
        log_warn("font: no font has U+%04X, drawing the missing-glyph box", cp);
    }
}

/* Characters whose default presentation is emoji (Emoji_Presentation=Yes in
 * Unicode 15's emoji-data.txt, as ranges). */
static const uint32_t emoji_ranges[][2] = {
    {0x231A, 0x231B},   {0x23E9, 0x23EC},   {0x23F0, 0x23F0},   {0x23F3, 0x23F3},
    {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2648, 0x2653},   {0x267F, 0x267F},
    {0x2693, 0x2693},   {0x26A1, 0x26A1},   {0x26AA, 0x26AB},   {0x26BD, 0x26BE},
    {0x26C4, 0x26C5},   {0x26CE, 0x26CE},   {0x26D4, 0x26D4},   {0x26EA, 0x26EA},
    {0x26F2, 0x26F3},   {0x26F5, 0x26F5},   {0x26FA, 0x26FA},   {0x26FD, 0x26FD},
    {0x2705, 0x2705},   {0x270A, 0x270B},   {0x2728, 0x2728},   {0x274C, 0x274C},
    {0x274E, 0x274E},   {0x2753, 0x2755},   {0x2757, 0x2757},   {0x2795, 0x2797},
    {0x27B0, 0x27B0},   {0x27BF, 0x27BF},   {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},
    {0x2B55, 0x2B55},   {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E},
    {0x1F191, 0x1F19A}, {0x1F1E6, 0x1F1FF}, {0x1F201, 0x1F201}, {0x1F21A, 0x1F21A},
    {0x1F22F, 0x1F22F}, {0x1F232, 0x1F236}, {0x1F238, 0x1F23A}, {0x1F250, 0x1F251},
    {0x1F300, 0x1F320}, {0x1F32D, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393},
    {0x1F3A0, 0x1F3CA}, {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4},
    {0x1F3F8, 0x1F43E}, {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D},
    {0x1F54B, 0x1F54E}, {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596},
    {0x1F5A4, 0x1F5A4}, {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC},
    {0x1F6D0, 0x1F6D2}, {0x1F6D5, 0x1F6D7}, {0x1F6DC, 0x1F6DF}, {0x1F6EB, 0x1F6EC},
    {0x1F6F4, 0x1F6FC}, {0x1F7E0, 0x1F7EB}, {0x1F7F0, 0x1F7F0}, {0x1F90C, 0x1F93A},
    {0x1F93C, 0x1F945}, {0x1F947, 0x1F9FF}, {0x1FA70, 0x1FA7C}, {0x1FA80, 0x1FA88},
    {0x1FA90, 0x1FABD}, {0x1FABF, 0x1FAC5}, {0x1FACE, 0x1FADB}, {0x1FAE0, 0x1FAE8},
    {0x1FAF0, 0x1FAF8},
};

static int emoji_presentation(uint32_t cp)
{
    size_t lo = 0, hi = sizeof emoji_ranges / sizeof emoji_ranges[0];
    if (cp < emoji_ranges[0][0]) return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < emoji_ranges[mid][0])
            hi = mid;
        else if (cp > emoji_ranges[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* The installed emoji font (fontconfig's "emoji" family), opened at the first
 * emoji. Returns its face, -1 when there is none, or FONT_OOM (looked for
 * again next time). */
static int emoji_face(render_font_t *f)
{
    if (f->emoji != -2) return f->emoji;
    f->emoji = -1;
    char path[1024] = "";
    int index = 0;
    pthread_mutex_lock(&fc_lock);
    FcPattern *pat = FcNameParse((const FcChar8 *)"emoji:color=true");
    if (pat != NULL) {
        FcConfigSubstitute(NULL, pat, FcMatchPattern);
        FcDefaultSubstitute(pat);
        FcResult res;
        FcPattern *m = FcFontMatch(NULL, pat, &res);
        FcChar8 *file;
        FcBool color;
        if (m != NULL && FcPatternGetString(m, FC_FILE, 0, &file) == FcResultMatch &&
            FcPatternGetBool(m, FC_COLOR, 0, &color) == FcResultMatch && color) {
            snprintf(path, sizeof path, "%s", (const char *)file);
            if (FcPatternGetInteger(m, FC_INDEX, 0, &index) != FcResultMatch) index = 0;
        }
        if (m != NULL) FcPatternDestroy(m);
        FcPatternDestroy(pat);
    }
    pthread_mutex_unlock(&fc_lock);
    if (!path[0]) return -1;
    for (int i = 0; i < f->nfaces; i++)
        if (strcmp(f->faces[i].path, path) == 0 && f->faces[i].index == index) return f->emoji = i;
    char err[256];
    int rc = add_face(f, path, index, err, sizeof err);
    if (rc < 0) {
        log_warn("font: emoji font: %s", err);
        if (rc == FONT_OOM) f->emoji = -2;
        return rc;
    }
    log_info("font: emoji font %s", path);
    return f->emoji = f->nfaces - 1;
}

/* The face that draws cp when no neighbour decides: the first face opened so
 * far that has it (the main face first), else a fallback from fontconfig,
 * else face 0 (its .notdef); FONT_OOM when a font it needed could not be
 * opened for lack of memory. Emoji-presentation characters go to the emoji
 * font first: a text font's outline of them (DejaVu Sans has the faces) is
 * not what a writer of an emoji meant. */
static int choose_face(render_font_t *f, uint32_t cp)
{
    if (emoji_presentation(cp)) {
        int e = emoji_face(f);
        if (e == FONT_OOM) return FONT_OOM;
        if (e >= 0 && FT_Get_Char_Index(f->faces[e].ft, cp)) return e;
    }
    for (int i = 0; i < f->nfaces; i++)
        if (FT_Get_Char_Index(f->faces[i].ft, cp)) return i;
    /* control characters are in no font: no point asking fontconfig */
    int control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
    int k = control ? -1 : open_fallback(f, cp);
    if (k >= 0 || k == FONT_OOM) return k;
    if (!control) log_missing(f, cp);
    return 0;
}

/* Format characters that mean nothing on their own (joiners, variation and
 * tag selectors): they stay with the character before them even when its
 * face has no glyph for them (HarfBuzz then hides them). */
static int default_ignorable(uint32_t cp)
{
    return cp == 0x200C || cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0xE0020 && cp <= 0xE01EF);
}

/* The first face that has cp, not counting colour (emoji) faces: a text
 * presentation asked for with U+FE0E. */
static int text_face(render_font_t *f, uint32_t cp)
{
    for (int i = 0; i < f->nfaces; i++)
        if (!f->faces[i].color && FT_Get_Char_Index(f->faces[i].ft, cp)) return i;
    return choose_face(f, cp);
}

static int face_for_cb(void *ctx, uint32_t cp, int prev, int flags)
{
    render_font_t *f = ctx;
    int cling = flags & LAYOUT_FACE_CLING;
    if (flags & LAYOUT_FACE_EMOJI) {
        int e = emoji_face(f);
        if (e == FONT_OOM) return -1;
        if (e >= 0 && FT_Get_Char_Index(f->faces[e].ft, cp)) return e;
    }
    if (flags & LAYOUT_FACE_TEXT) {
        int t = text_face(f, cp);
        return t == FONT_OOM ? -1 : t;
    }
    /* An emoji font keeps only what belongs to the emoji (joiners, modifiers,
     * more emoji); its space is far wider than the text's. */
    if (cling && prev >= 0 && prev < f->nfaces && f->faces[prev].color && !default_ignorable(cp) &&
        !emoji_presentation(cp))
        cling = 0;
    /* And an emoji after text goes to the emoji font as at the start of a
     * paragraph: a text font's outline of it (DejaVu Sans has some) is not
     * what its writer meant, wherever it stands. */
    if (cling && emoji_presentation(cp) && !(prev >= 0 && prev < f->nfaces && f->faces[prev].color))
        cling = 0;
    if (cling && prev >= 0 && prev < f->nfaces &&
        (default_ignorable(cp) || FT_Get_Char_Index(f->faces[prev].ft, cp)))
        return prev;
    size_t mask = CHOICE_SLOTS - 1;
    size_t i = (cp * 2654435761u) & mask;
    while (f->choices[i].face >= 0) {
        if (f->choices[i].cp == cp) return f->choices[i].face;
        i = (i + 1) & mask;
    }
    int face = choose_face(f, cp);
    if (face == FONT_OOM) return -1; /* not remembered: the next caption tries again */
    if (f->nchoices >= CHOICE_SLOTS / 4 * 3) {
        for (size_t k = 0; k < CHOICE_SLOTS; k++) f->choices[k].face = -1;
        f->nchoices = 0;
        i = (cp * 2654435761u) & mask;
    }
    f->choices[i].cp = cp;
    f->choices[i].face = face;
    f->nchoices++;
    return face;
}

/* A colour glyph (premultiplied BGRA) as gray coverage: its luminance over
 * black, box-filtered down by fc->scale. */
static unsigned char *color_to_gray(const FT_Bitmap *bm, double scale, int *w, int *h)
{
    int sw = (int)bm->width, sh = (int)bm->rows;
    int dw = (int)(sw * scale + 0.5), dh = (int)(sh * scale + 0.5);
    if (dw < 1) dw = 1;
    if (dh < 1) dh = 1;
    unsigned char *out = malloc((size_t)dw * (size_t)dh);
    if (out == NULL) return NULL;
    for (int y = 0; y < dh; y++) {
        int y0 = (int)(y / scale), y1 = (int)((y + 1) / scale);
        if (y1 <= y0) y1 = y0 + 1;
        if (y1 > sh) y1 = sh;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)(x / scale), x1 = (int)((x + 1) / scale);
            if (x1 <= x0) x1 = x0 + 1;
            if (x1 > sw) x1 = sw;
            unsigned sum = 0, n = 0;
            for (int sy = y0; sy < y1; sy++) {
                const unsigned char *row = bm->buffer + (ptrdiff_t)sy * bm->pitch;
                for (int sx = x0; sx < x1; sx++, n++) {
                    const unsigned char *p = row + 4 * sx; /* B, G, R, A */
                    sum += (19u * p[0] + 183u * p[1] + 54u * p[2]) >> 8;
                }
            }
            out[(size_t)y * (size_t)dw + (size_t)x] = (unsigned char)(n ? sum / n : 0);
        }
    }
    *w = dw;
    *h = dh;
    return out;
}

static int render_into(render_font_t *f, cache_entry_t *e, int face, unsigned gi, char *err,
                       size_t errlen)
{
    const face_t *fc = &f->faces[face];
    FT_Error fe = FT_Load_Glyph(fc->ft, gi,
                                fc->color ? FT_LOAD_COLOR | FT_LOAD_RENDER
                                          : FT_LOAD_RENDER | FT_LOAD_TARGET_NORMAL);
    if (fe) {
        snprintf(err, errlen, "FreeType cannot render glyph %u of %s (error %d)", gi, fc->path, fe);
        return -1;
    }
    FT_GlyphSlot s = fc->ft->glyph;
    const FT_Bitmap *bm = &s->bitmap;
    int w = (int)bm->width, h = (int)bm->rows, left = s->bitmap_left, top = s->bitmap_top;
    unsigned char *bits = NULL;
    if (w && h && bm->pixel_mode == FT_PIXEL_MODE_BGRA) {
        bits = color_to_gray(bm, fc->color ? fc->scale : 1.0, &w, &h);
        if (bits == NULL) {
            snprintf(err, errlen, "font: out of memory");
            return -1;
        }
        if (fc->color) {
            left = (int)(left * fc->scale + (left < 0 ? -0.5 : 0.5));
            top = (int)(top * fc->scale + (top < 0 ? -0.5 : 0.5));
        }
    } else if (w && h) {
        if (bm->pixel_mode != FT_PIXEL_MODE_GRAY && bm->pixel_mode != FT_PIXEL_MODE_MONO) {
            snprintf(err, errlen, "glyph %u of %s: unsupported bitmap mode %d", gi, fc->path,
                     bm->pixel_mode);
            return -1;
        }
        bits = malloc((size_t)w * (size_t)h);
        if (bits == NULL) {
            snprintf(err, errlen, "font: out of memory");
            return -1;
        }
        for (int y = 0; y < h; y++) {
            const unsigned char *src = bm->buffer + (ptrdiff_t)y * bm->pitch;
            unsigned char *dst = bits + (size_t)y * (size_t)w;
            if (bm->pixel_mode == FT_PIXEL_MODE_GRAY) {
                memcpy(dst, src, (size_t)w);
            } else {
                for (int x = 0; x < w; x++) dst[x] = (src[x >> 3] & (0x80 >> (x & 7))) ? 255 : 0;
            }
        }
    }
    e->used = 1;
    e->bits = bits;
    render_glyph_t *g = &e->g;
    memset(&g->lg, 0, sizeof g->lg);
    g->lg.face = face;
    g->lg.index = gi;
    g->lg.ink_top = h ? top : 0;
    g->lg.ink_bottom = h ? h - top : 0;
    g->bitmap_left = left;
    g->bitmap_top = top;
    g->width = w;
    g->rows = h;
    g->pitch = w;
    g->bitmap = bits;
    return 0;
}

const render_glyph_t *render_font_glyph(render_font_t *f, int face, unsigned index, char *err,
                                        size_t errlen)
{
    if (face < 0 || face >= f->nfaces || index > 0xFFFFFF) {
        snprintf(err, errlen, "font: no glyph %u in face %d", index, face);
        return NULL;
    }
    uint32_t key = (uint32_t)face << 24 | index;
    size_t mask = CACHE_SLOTS - 1;
    size_t i = (key * 2654435761u) & mask;
    while (f->cache[i].used) {
        if (f->cache[i].key == key) return &f->cache[i].g;
        i = (i + 1) & mask;
    }
    if (f->cached >= CACHE_SLOTS / 4 * 3) {
        cache_clear(f);
        i = (key * 2654435761u) & mask;
    }
    if (render_into(f, &f->cache[i], face, index, err, errlen) < 0) return NULL;
    f->cache[i].key = key;
    f->cached++;
    return &f->cache[i].g;
}

static int shape_cb(void *ctx, const layout_run_t *run, const layout_glyph_t **out, size_t *n,
                    char *err, size_t errlen)
{
    render_font_t *f = ctx;
    if (run->face < 0 || run->face >= f->nfaces) {
        snprintf(err, errlen, "font: no face %d", run->face);
        return -1;
    }
    hb_buffer_t *buf = f->buf;
    hb_buffer_clear_contents(buf);
    hb_buffer_add_codepoints(buf, run->cps + run->ctx_start, (int)run->ctx_len,
                             (unsigned)(run->start - run->ctx_start), (int)run->len);
    hb_buffer_set_direction(buf, run->rtl ? HB_DIRECTION_RTL : HB_DIRECTION_LTR);
    hb_buffer_set_script(buf, (hb_script_t)run->script);
    hb_buffer_guess_segment_properties(buf); /* the language: the default one */
    hb_shape(f->faces[run->face].hb, buf, NULL, 0);
    if (!hb_buffer_allocation_successful(buf)) {
        snprintf(err, errlen, "shaping: out of memory");
        return -1;
    }
    unsigned count;
    const hb_glyph_info_t *info = hb_buffer_get_glyph_infos(buf, &count);
    const hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(buf, &count);
    if (count > f->shaped_cap) {
        layout_glyph_t *p = realloc(f->shaped, count * sizeof *p);
        if (p == NULL) {
            snprintf(err, errlen, "shaping: out of memory");
            return -1;
        }
        f->shaped = p;
        f->shaped_cap = count;
    }
    for (unsigned k = 0; k < count; k++) {
        const render_glyph_t *rg = render_font_glyph(f, run->face, info[k].codepoint, err, errlen);
        if (rg == NULL) return -1;
        layout_glyph_t *g = &f->shaped[k];
        *g = rg->lg;
        g->cluster = run->ctx_start + info[k].cluster;
        g->advance = pos[k].x_advance;
        g->x_offset = pos[k].x_offset;
        g->y_offset = pos[k].y_offset;
    }
    *out = f->shaped;
    *n = count;
    return 0;
}

static const char *face_name_cb(void *ctx, int face)
{
    const render_font_t *f = ctx;
    if (face < 0 || face >= f->nfaces) return NULL;
    return f->faces[face].ft->family_name;
}

layout_font_t render_font_layout(render_font_t *f)
{
    const FT_Size_Metrics *m = &f->faces[0].ft->size->metrics;
    layout_font_t lf = {
        .ctx = f,
        .face_for = face_for_cb,
        .shape = shape_cb,
        .face_name = face_name_cb,
        .ascender = layout_round26(m->ascender),
        .descender = layout_round26(m->descender),
    };
    return lf;
}
