/* Unit tests of services/render/font.c's choice of a face per character, seen
 * through a layout (layout_t.faces) and the faces' family names: emoji and
 * their text and emoji presentation selectors, characters no font has
 * (face 0, the missing-glyph box), control characters, and fonts that cannot
 * be the main font. Uses the fonts deploy/deps.sh installs (Noto Color Emoji,
 * Noto Sans Thai), as test_render_font.c does. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/font.h"
#include "render/layout.h"
#include "unit_util.h"

/* The family of the face the layout gave to the code point at index i. */
static const char *family_at(const layout_t *lo, const layout_font_t *lf, size_t i)
{
    ck_assert_uint_lt(i, lo->ncps);
    const char *name = lf->face_name(lf->ctx, lo->faces[i]);
    return name != NULL ? name : "";
}

static void lay_out(layout_t *lo, const layout_font_t *lf, const char *text)
{
    char err[256];
    ck_assert_msg(layout_compute(lo, lf, text, strlen(text), 400, 4, err, sizeof err) == 0, "%s",
                  err);
}

START_TEST(presentation_selectors)
{
    render_font_t *f = fx_font_open(16);
    layout_font_t lf = render_font_layout(f);
    layout_t lo = {0};
    /* U+2764 HEAVY BLACK HEART: DejaVu Sans has it; FE0E asks for text, FE0F
     * for emoji. */
    lay_out(&lo, &lf, "a\xe2\x9d\xa4\xef\xb8\x8e b\xe2\x9d\xa4\xef\xb8\x8f c");
    ck_assert_str_eq(family_at(&lo, &lf, 0), "DejaVu Sans");
    ck_assert_str_eq(family_at(&lo, &lf, 1), "DejaVu Sans");      /* heart + FE0E */
    ck_assert_str_eq(family_at(&lo, &lf, 5), "Noto Color Emoji"); /* heart + FE0F */
    ck_assert_int_eq(lo.faces[6], lo.faces[5]);                   /* the selector clings */
    layout_free(&lo);
    /* An emoji that starts a paragraph: the emoji font. */
    memset(&lo, 0, sizeof lo);
    lay_out(&lo, &lf, "\xf0\x9f\x98\x80 x");
    ck_assert_str_eq(family_at(&lo, &lf, 0), "Noto Color Emoji");
    ck_assert_str_eq(family_at(&lo, &lf, 2), "DejaVu Sans");
    layout_free(&lo);
    /* The same emoji after text (DejaVu Sans has an outline of U+1F600, and
     * the space before it is in DejaVu Sans): still the emoji font. */
    memset(&lo, 0, sizeof lo);
    lay_out(&lo, &lf, "x \xf0\x9f\x98\x80 y");
    ck_assert_str_eq(family_at(&lo, &lf, 0), "DejaVu Sans");
    ck_assert_str_eq(family_at(&lo, &lf, 2), "Noto Color Emoji");
    ck_assert_str_eq(family_at(&lo, &lf, 4), "DejaVu Sans");
    layout_free(&lo);
    render_font_close(f);
}
END_TEST

START_TEST(characters_no_font_has)
{
    render_font_t *f = fx_font_open(16);
    layout_font_t lf = render_font_layout(f);
    int faces_before = render_font_face_count(f);
    /* Private-use code points (U+E000..): no installed font maps them. More
     * of them than the font logs; and a control character, never looked up. */
    char text[512];
    size_t n = 0;
    for (int i = 0; i < 80; i++) {
        unsigned cp = 0xE000 + (unsigned)i;
        text[n++] = (char)(0xE0 | (cp >> 12));
        text[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        text[n++] = (char)(0x80 | (cp & 0x3F));
    }
    text[n++] = 'x';
    text[n++] = '\x01';
    text[n] = '\0';
    layout_t lo = {0};
    lay_out(&lo, &lf, text);
    for (size_t i = 0; i < 80; i++) ck_assert_int_eq(lo.faces[i], 0);
    ck_assert_int_eq(lo.faces[81], 0);
    layout_free(&lo);
    /* Looking for them opened no face that could not draw them. */
    ck_assert_int_eq(render_font_face_count(f), faces_before);
    render_font_close(f);
}
END_TEST

START_TEST(fonts_that_cannot_be_the_main_font)
{
    char err[256] = "";
    /* A colour bitmap font: its glyphs are pictures, not outlines. */
    render_font_t *f = render_font_open("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", 16,
                                        err, sizeof err);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err, "is not a scalable font"));
    char path[1024];
    fx_root_path(path, sizeof path, "tests/data/not_a_jpeg.jpg");
    f = render_font_open(path, 16, err, sizeof err);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err, "cannot open font"));
    /* FONT_PATH wins over FONT_NAME, and must be readable. */
    char out[1024];
    ck_assert_int_eq(render_font_resolve("/nonexistent.ttf", "DejaVu Sans", NULL, out, sizeof out,
                                         err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "FONT_PATH /nonexistent.ttf is not readable");
    /* No FONT_NAME: DejaVu Sans. */
    ck_assert_int_eq(render_font_resolve("", "", NULL, out, sizeof out, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(out, "DejaVuSans"));
}
END_TEST

Suite *render_font_faces_suite(void)
{
    Suite *s = suite_create("render_font_faces");
    TCase *tc = tcase_create("render_font_faces");
    tcase_add_checked_fixture(tc, NULL, render_font_shutdown);
    tcase_add_test(tc, presentation_selectors);
    tcase_add_test(tc, characters_no_font_has);
    tcase_add_test(tc, fonts_that_cannot_be_the_main_font);
    suite_add_tcase(s, tc);
    return s;
}
