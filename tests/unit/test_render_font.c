/* Unit tests of services/render/font.c: font resolution, shaping against
 * HarfBuzz's own hb-shape (Debian's libharfbuzz-bin) on the fonts the image
 * ships (deploy/deps.sh), fallback faces per character, emoji, and the
 * missing-glyph box. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/font.h"
#include "render/layout.h"
#include "unit_util.h"

/* ---- shaping against hb-shape ---- */

typedef struct hb_ref {
    unsigned gid, cluster;
    long dx, dy, adv;
} hb_ref_t;

/* hb-shape's output "[g=c@dx,dy+adv|...]" (no glyph names) into refs. */
static size_t parse_hb_shape(const char *s, hb_ref_t *refs, size_t max)
{
    size_t n = 0;
    if (*s == '[') s++;
    while (*s && *s != ']' && *s != '\n' && n < max) {
        hb_ref_t *r = &refs[n++];
        memset(r, 0, sizeof *r);
        char *end;
        r->gid = (unsigned)strtoul(s, &end, 10);
        s = end;
        if (*s == '=') {
            r->cluster = (unsigned)strtoul(s + 1, &end, 10);
            s = end;
        }
        if (*s == '@') {
            r->dx = strtol(s + 1, &end, 10);
            r->dy = strtol(end + 1, &end, 10);
            s = end;
        }
        if (*s == '+') {
            r->adv = strtol(s + 1, &end, 10);
            s = end;
        }
        if (*s == '|') s++;
    }
    return n;
}

/* Lays text out on one line in the font fontconfig gives for family (its own
 * main font: no fallback) and compares the glyphs, clusters and positions
 * with hb-shape's for the same file, face, size and language. */
static void expect_like_hb_shape(const char *family, const char *text, int size)
{
    char path[1024], err[256];
    ck_assert_msg(render_font_resolve(NULL, family, "", path, sizeof path, err, sizeof err) == 0,
                  "%s", err);
    render_font_t *f = render_font_open(path, size, err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    layout_font_t lf = render_font_layout(f);
    const char *got_family = lf.face_name(lf.ctx, 0);
    ck_assert_msg(got_family != NULL && strcmp(got_family, family) == 0,
                  "font \"%s\" is not installed (got %s): deploy/deps.sh", family, path);
    layout_t lo = {0};
    ck_assert_msg(layout_compute(&lo, &lf, text, strlen(text), 100000, 0, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(lo.nlines, 1);

    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "hb-shape --no-glyph-names --font-size=%d --language=c '%s' '%s' 2>&1", size * 64,
             path, text);
    FILE *p = popen(cmd, "r"); /* NOLINT(cert-env33-c): fixed test texts and paths */
    ck_assert_ptr_nonnull(p);
    static char out[65536];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    ck_assert_msg(pclose(p) == 0, "hb-shape failed (libharfbuzz-bin): %s", out);
    static hb_ref_t ref[4096];
    size_t n = parse_hb_shape(out, ref, 4096);
    const layout_line_t *ln = &lo.lines[0];
    ck_assert_msg(ln->count == n, "%s: %zu glyphs, hb-shape %zu: %s", family, ln->count, n, out);
    long pen = 0;
    for (size_t k = 0; k < n; k++) {
        const layout_placed_t *pl = &lo.placed[ln->first + k];
        const layout_glyph_t *g = &lo.glyphs[pl->glyph];
        ck_assert_msg(g->face == 0 && g->index == ref[k].gid && g->cluster == ref[k].cluster &&
                          pl->x == pen + ref[k].dx && pl->y == ref[k].dy &&
                          g->advance == ref[k].adv,
                      "%s glyph %zu: %u=%zu x %ld y %ld +%ld; hb-shape %u=%u x %ld y %ld +%ld",
                      family, k, g->index, g->cluster, pl->x, pl->y, g->advance, ref[k].gid,
                      ref[k].cluster, pen + ref[k].dx, ref[k].dy, ref[k].adv);
        pen += ref[k].adv;
    }
    ck_assert_int_eq(ln->width, (int)((pen + 63) >> 6));
    layout_free(&lo);
    render_font_close(f);
}

START_TEST(shaping_like_hb_shape)
{
    /* joining (Arabic), marks and conjuncts (Indic), clusters (Thai),
     * kerning (Latin, Cyrillic), ideographs */
    expect_like_hb_shape("DejaVu Sans", "AVATAR Wave To You, Tokyo. LT Ty", 28);
    expect_like_hb_shape("DejaVu Sans",
                         "\xd0\x9a\xd0\xb0\xd0\xbc\xd0\xb5\xd1\x80\xd0\xb0 17 \xd0\xbd\xd0\xb0 "
                         "\xd0\xbf\xd0\xb5\xd1\x80\xd0\xb5\xd0\xba\xd1\x80\xd1\x91\xd1\x81\xd1"
                         "\x82\xd0\xba\xd0\xb5",
                         40);
    expect_like_hb_shape("Noto Sans Arabic",
                         "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8"
                         "\xb9\xd8\xa7\xd9\x84\xd9\x85 \xd9\x84\xd8\xa7",
                         28);
    expect_like_hb_shape("DejaVu Sans",
                         "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8"
                         "\xb9\xd8\xa7\xd9\x84\xd9\x85",
                         28);
    expect_like_hb_shape("Noto Sans Hebrew",
                         "\xd7\xa9\xd6\xb8\xd7\x81\xd7\x9c\xd7\x95\xd6\xb9\xd7\x9d \xd7\xa2\xd7"
                         "\x95\xd7\x9c\xd7\x9d",
                         28);
    expect_like_hb_shape("Noto Sans Devanagari",
                         "\xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7\xe0\xa4\xa4\xe0\xa5\x8d\xe0\xa4"
                         "\xb0\xe0\xa4\xbf\xe0\xa4\xaf \xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0"
                         "\xa5\x8d\xe0\xa4\xb0\xe0\xa5\x80 \xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8"
                         "\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87",
                         28);
    expect_like_hb_shape("Noto Sans Bengali",
                         "\xe0\xa6\xac\xe0\xa6\xbe\xe0\xa6\x82\xe0\xa6\xb2\xe0\xa6\xbe \xe0\xa6"
                         "\x95\xe0\xa7\x8d\xe0\xa6\xb7\xe0\xa6\xae\xe0\xa6\xbe",
                         28);
    expect_like_hb_shape("Noto Sans Tamil",
                         "\xe0\xae\xa4\xe0\xae\xae\xe0\xae\xbf\xe0\xae\xb4\xe0\xaf\x8d \xe0\xae"
                         "\x95\xe0\xaf\x8a\xe0\xae\xb4\xe0\xae\xbf",
                         28);
    expect_like_hb_shape("Noto Sans Thai",
                         "\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8"
                         "\xb5\xe0\xb8\x84\xe0\xb8\xa3\xe0\xb8\xb1\xe0\xb8\x9a \xe0\xb8\x81\xe0"
                         "\xb8\xb3\xe0\xb9\x89",
                         28);
    expect_like_hb_shape(
        "Noto Sans Arabic",
        "\xd9\x83\xd8\xa7\xd9\x85\xd9\x8a\xd8\xb1\xd8\xa7 \xd8\xa7\xd9\x84\xd9\x85"
        "\xd8\xb1\xd9\x88\xd8\xb1 \xd9\x81\xd9\x8a \xd8\xb4\xd8\xa7\xd8\xb1\xd8\xb9 "
        "\xd8\xa7\xd9\x84\xd8\xb4\xd9\x8a\xd8\xae \xd8\xb2\xd8\xa7\xd9\x8a\xd8\xaf",
        28);
    expect_like_hb_shape("Noto Sans Devanagari",
                         "\xe0\xa4\x95\xe0\xa5\x88\xe0\xa4\xae\xe0\xa4\xb0\xe0\xa4\xbe \xe0\xa4\xa6"
                         "\xe0\xa4\xbf\xe0\xa4\xb2\xe0\xa5\x8d\xe0\xa4\xb2\xe0\xa5\x80 \xe0\xa4\xae"
                         "\xe0\xa5\x87\xe0\xa4\x82 \xe0\xa4\xaf\xe0\xa4\xbe\xe0\xa4\xa4\xe0\xa4\xbe"
                         "\xe0\xa4\xaf\xe0\xa4\xbe\xe0\xa4\xa4 \xe0\xa4\x9f\xe0\xa5\x8d\xe0\xa4\xb0"
                         "\xe0\xa4\x95",
                         28);
    expect_like_hb_shape(
        "Noto Sans Khmer",
        "\xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x98\xe1\x9f\x81\xe1\x9e\x9a\xe1\x9f\x89\xe1"
        "\x9e\xb6\xe1\x9e\x85\xe1\x9e\x9a\xe1\x9e\xb6\xe1\x9e\x85\xe1\x9e\x9a\xe1\x9e"
        "\x8e\xe1\x9f\x8d",
        28);
    expect_like_hb_shape("Noto Sans Myanmar",
                         "\xe1\x80\x80\xe1\x80\x84\xe1\x80\xba\xe1\x80\x99\xe1\x80\x9b\xe1\x80\xac "
                         "\xe1\x80\x99\xe1\x80\xbc\xe1\x80\xad\xe1\x80\xaf\xe1\x80\xb7",
                         28);
    expect_like_hb_shape("Noto Sans Malayalam",
                         "\xe0\xb4\x95\xe0\xb5\x8d\xe0\xb4\xaf\xe0\xb4\xbe\xe0\xb4\xae\xe0\xb4\xb1 "
                         "\xe0\xb4\xa8\xe0\xb4\x97\xe0\xb4\xb0\xe0\xb4\x82",
                         28);
    expect_like_hb_shape(
        "Noto Sans CJK JP",
        "\xec\xb9\xb4\xeb\xa9\x94\xeb\x9d\xbc \xea\xb5\x90\xed\x86\xb5 \xec\x84\x9c"
        "\xec\x9a\xb8",
        28);
    expect_like_hb_shape("Noto Sans CJK JP",
                         "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95\xef\xbc\x8c\xe6\x97"
                         "\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82",
                         28);
}
END_TEST

/* Fallback: one caption in many scripts with DejaVu Sans as FONT_NAME. Each
 * character gets a face that has it (no .notdef), the main face first, and
 * an emoji with its skin-tone modifier stays one glyph of the emoji font. */
START_TEST(fallback_per_character)
{
    char err[256];
    render_font_t *f = fx_font_open(28);
    layout_font_t lf = render_font_layout(f);
    /* Latin, Arabic (DejaVu has it), Devanagari, Thai, CJK, thumbs up + tone */
    const char *text = "Cam \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xe0\xa4\xa8\xe0\xa4\xae"
                       "\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 \xe0\xb8\xaa\xe0\xb8"
                       "\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5 \xe4\xb8\xad\xe6"
                       "\x96\x87 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd";
    layout_t lo = {0};
    ck_assert_msg(layout_compute(&lo, &lf, text, strlen(text), 100000, 0, err, sizeof err) == 0,
                  "%s", err);
    for (size_t i = 0; i < lo.nglyphs; i++)
        ck_assert_msg(lo.glyphs[i].index != 0, "glyph %zu (U+%04X) is .notdef", i,
                      lo.cps[lo.glyphs[i].cluster]);
    const struct {
        uint32_t cp;
        const char *family;
    } want[] = {
        {'C', "DejaVu Sans"},       {0x0645, "DejaVu Sans"},      {0x0928, "Noto Sans Devanagari"},
        {0x0E2A, "Noto Sans Thai"}, {0x4E2D, "Noto Sans CJK JP"}, {0x1F44D, "Noto Color Emoji"}};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        size_t i = 0;
        while (i < lo.ncps && lo.cps[i] != want[w].cp) i++;
        ck_assert_uint_lt(i, lo.ncps);
        const char *name = lf.face_name(lf.ctx, lo.faces[i]);
        ck_assert_msg(name != NULL && strcmp(name, want[w].family) == 0, "U+%04X from %s, want %s",
                      want[w].cp, name != NULL ? name : "?", want[w].family);
    }
    /* the thumbs up and its modifier: one cluster, one glyph */
    size_t thumbs = 0;
    for (size_t i = 0; i < lo.nglyphs; i++) thumbs += lo.cps[lo.glyphs[i].cluster] == 0x1F44D;
    ck_assert_uint_eq(thumbs, 1);
    ck_assert_int_eq(lo.faces[lo.ncps - 1], lo.faces[lo.ncps - 2]);
    layout_free(&lo);
    render_font_close(f);
}
END_TEST

/* U+FE0F asks for the emoji font, U+FE0E for a text font; without either a
 * character keeps its default presentation. */
START_TEST(emoji_variation_selectors)
{
    char err[256];
    render_font_t *f = fx_font_open(28);
    layout_font_t lf = render_font_layout(f);
    const struct {
        const char *text;
        const char *family;
    } cases[] = {
        {"\xe2\x9d\xa4\xef\xb8\x8f", "Noto Color Emoji"},  /* heart + VS16 */
        {"\xe2\x9d\xa4", "DejaVu Sans"},                   /* heart: text by default */
        {"\xf0\x9f\x98\x80", "Noto Color Emoji"},          /* grinning face: emoji */
        {"\xf0\x9f\x98\x80\xef\xb8\x8e", "DejaVu Sans"},   /* + VS15: text */
        {"1\xef\xb8\x8f\xe2\x83\xa3", "Noto Color Emoji"}, /* keycap one */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        layout_t lo = {0};
        ck_assert_int_eq(layout_compute(&lo, &lf, cases[c].text, strlen(cases[c].text), 1000, 0,
                                        err, sizeof err),
                         0);
        const char *name = lf.face_name(lf.ctx, lo.faces[0]);
        ck_assert_msg(name != NULL && strcmp(name, cases[c].family) == 0, "case %zu: %s, want %s",
                      c, name != NULL ? name : "?", cases[c].family);
        for (size_t i = 1; i < lo.ncps; i++) ck_assert_int_eq(lo.faces[i], lo.faces[0]);
        ck_assert_uint_eq(lo.nglyphs >= 1, 1);
        ck_assert_uint_ne(lo.glyphs[0].index, 0);
        layout_free(&lo);
    }
    render_font_close(f);
}
END_TEST

/* Emoji are drawn at about the line height, from the colour strike scaled. */
START_TEST(emoji_scaled_to_line_height)
{
    char err[256];
    for (int size = 12; size <= 48; size += 12) {
        render_font_t *f = fx_font_open(size);
        layout_font_t lf = render_font_layout(f);
        layout_t lo = {0};
        const char *text = "\xf0\x9f\x98\x80"; /* grinning face */
        ck_assert_int_eq(layout_compute(&lo, &lf, text, strlen(text), 1000, 0, err, sizeof err), 0);
        ck_assert_uint_eq(lo.nglyphs, 1);
        const render_glyph_t *g = render_font_glyph(f, lo.glyphs[0].face, lo.glyphs[0].index, err,
                                                    sizeof err);
        ck_assert_ptr_nonnull(g);
        int lh = lo.line_height;
        ck_assert_msg(g->rows >= lh * 3 / 4 && g->rows <= lh + 2, "size %d: emoji %d rows, line %d",
                      size, g->rows, lh);
        /* gray, with ink (the face is yellow: bright) */
        int bright = 0;
        for (int k = 0; k < g->rows * g->width; k++) bright += g->bitmap[k] > 128;
        ck_assert_int_gt(bright, g->rows * g->width / 4);
        layout_free(&lo);
        render_font_close(f);
    }
}
END_TEST

START_TEST(font_resolution)
{
    char dir[1024], path[1024], err[256];
    fx_root_path(dir, sizeof dir, "fonts");
    ck_assert_msg(render_font_resolve("", "DejaVu Sans", dir, path, sizeof path, err, sizeof err) ==
                      0,
                  "%s", err);
    ck_assert_ptr_nonnull(strstr(path, "DejaVuSans.ttf"));
    /* fonts-liberation2 is a dependency of the render image (deploy/deps.sh) */
    ck_assert_msg(render_font_resolve(NULL, "Arial", dir, path, sizeof path, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(strstr(path, "LiberationSans") != NULL, "Arial -> %s", path);
    ck_assert_int_eq(
        render_font_resolve(fx_font_path(), "Arial", "", path, sizeof path, err, sizeof err), 0);
    ck_assert_str_eq(path, fx_font_path());
    ck_assert_int_eq(
        render_font_resolve("/nonexistent.ttf", "Arial", "", path, sizeof path, err, sizeof err),
        -1);
    ck_assert_ptr_nonnull(strstr(err, "FONT_PATH"));
}
END_TEST

START_TEST(missing_glyphs_not_dropped)
{
    render_font_t *f = fx_font_open(12);
    layout_font_t lf = render_font_layout(f);
    layout_t lo = {0};
    char err[256];
    /* U+10FFFD (private use) is in no font: DejaVu's .notdef box, with an
     * advance and ink; a CJK ideograph comes from a fallback face */
    const char *text = "\xf4\x8f\xbf\xbd\xe4\xb8\xad";
    ck_assert_int_eq(layout_compute(&lo, &lf, text, strlen(text), 300, 4, err, sizeof err), 0);
    ck_assert_uint_eq(lo.nglyphs, 2);
    ck_assert_int_eq(lo.glyphs[0].face, 0);
    ck_assert_uint_eq(lo.glyphs[0].index, 0);
    ck_assert_int_gt(lo.glyphs[0].advance, 0);
    const render_glyph_t *g = render_font_glyph(f, 0, 0, err, sizeof err);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_gt(g->rows * g->width, 0);
    ck_assert_int_gt(lo.glyphs[1].face, 0);
    ck_assert_uint_gt(lo.glyphs[1].index, 0);
    ck_assert_int_gt(lo.glyphs[1].advance, 0);
    layout_free(&lo);
    render_font_close(f);
}
END_TEST

Suite *render_font_suite(void)
{
    Suite *s = suite_create("render_font");
    TCase *tc = tcase_create("fonts");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, render_font_shutdown);
    tcase_add_test(tc, shaping_like_hb_shape);
    tcase_add_test(tc, fallback_per_character);
    tcase_add_test(tc, emoji_scaled_to_line_height);
    tcase_add_test(tc, emoji_variation_selectors);
    tcase_add_test(tc, font_resolution);
    tcase_add_test(tc, missing_glyphs_not_dropped);
    suite_add_tcase(s, tc);
    return s;
}
