/* Unit tests of services/render/layout.c at the edges of its text handling,
 * with DejaVu Sans: every mandatory break of UAX #14 starts a line (CR LF
 * once), the spaces dropped at a break are the breaking ones only, a
 * right-to-left line is aligned right, and the --layout JSON escapes what
 * JSON must. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "render/font.h"
#include "render/layout.h"
#include "unit_util.h"

static render_font_t *font;
static layout_font_t lf;

static void setup(void)
{
    font = fx_font_open(16);
    lf = render_font_layout(font);
}

static void teardown(void)
{
    render_font_close(font);
    render_font_shutdown();
}

/* The text of line i. */
static void line_text(const layout_t *lo, const char *text, size_t i, char *out, size_t outlen)
{
    size_t a = lo->offsets[lo->lines[i].start], b = lo->offsets[lo->lines[i].end];
    ck_assert_uint_lt(b - a, outlen);
    memcpy(out, text + a, b - a);
    out[b - a] = '\0';
}

START_TEST(mandatory_breaks)
{
    /* VT, FF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR, CR alone, CR LF. */
    const char text[] = "a\x0b"
                        "b\x0c"
                        "c\xc2\x85"
                        "d\xe2\x80\xa8"
                        "e\xe2\x80\xa9"
                        "f\rg\r\nh";
    layout_t lo = {0};
    char err[256];
    ck_assert_msg(layout_compute(&lo, &lf, text, sizeof text - 1, 400, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(lo.nlines, 8);
    const char *want = "abcdefgh";
    for (size_t i = 0; i < 8; i++) {
        char got[16];
        line_text(&lo, text, i, got, sizeof got);
        ck_assert_int_eq(got[0], want[i]);
        ck_assert_uint_eq(strlen(got), 1);
    }
    layout_free(&lo);
}
END_TEST

START_TEST(breaking_and_gluing_spaces)
{
    /* Each word needs its own line: OGHAM SPACE MARK, EM SPACE and
     * IDEOGRAPHIC SPACE break, and are dropped there. */
    const char text[] = "wordnumberone\xe1\x9a\x80wordnumbertwo\xe2\x80\x83wordnumberthree"
                        "\xe3\x80\x80wordnumberfour";
    layout_t lo = {0};
    char err[256];
    ck_assert_msg(layout_compute(&lo, &lf, text, sizeof text - 1, 200, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(lo.nlines, 4);
    char got[64];
    const char *const want[] = {"wordnumberone", "wordnumbertwo", "wordnumberthree",
                                "wordnumberfour"};
    for (size_t i = 0; i < 4; i++) {
        line_text(&lo, text, i, got, sizeof got);
        ck_assert_str_eq(got, want[i]);
    }
    /* NO-BREAK SPACE glues: the pair it joins is never split, the line
     * breaks at the ordinary space before it. */
    const char glued[] = "aaaaaaaaaaaa bbbb\xc2\xa0"
                         "cccccc";
    ck_assert_msg(layout_compute(&lo, &lf, glued, sizeof glued - 1, 200, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(lo.nlines, 2);
    line_text(&lo, glued, 1, got, sizeof got);
    ck_assert_str_eq(got, "bbbb\xc2\xa0"
                          "cccccc");
    layout_free(&lo);
}
END_TEST

START_TEST(right_to_left_aligned_right)
{
    const char text[] = "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"; /* Hebrew, one short word */
    layout_t lo = {0};
    char err[256];
    ck_assert_msg(layout_compute(&lo, &lf, text, sizeof text - 1, 400, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(lo.nlines, 1);
    ck_assert_int_eq(lo.lines[0].rtl, 1);
    ck_assert_int_eq(lo.lines[0].x + lo.lines[0].width, 400 - 2 * 4);
    layout_free(&lo);
}
END_TEST

START_TEST(json_escapes)
{
    const char text[] = "say \"hi\" \\ tab\there \x01";
    layout_t lo = {0};
    char err[256];
    ck_assert_msg(layout_compute(&lo, &lf, text, sizeof text - 1, 400, 4, err, sizeof err) == 0,
                  "%s", err);
    size_t need = layout_format_json(&lo, &lf, text, NULL, 0);
    char *out = malloc(need + 1);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(layout_format_json(&lo, &lf, text, out, need + 1), need);
    ck_assert_uint_eq(strlen(out), need);
    ck_assert_ptr_nonnull(strstr(out, "\"say \\\"hi\\\" \\\\ tab\\u0009here \\u0001\""));
    /* A buffer too small: cut, terminated, the full length still counted. */
    char small[16];
    ck_assert_uint_eq(layout_format_json(&lo, &lf, text, small, sizeof small), need);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert(memcmp(small, out, sizeof small - 1) == 0);
    free(out);
    layout_free(&lo);
}
END_TEST

Suite *render_layout_edges_suite(void)
{
    Suite *s = suite_create("render_layout_edges");
    TCase *tc = tcase_create("render_layout_edges");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mandatory_breaks);
    tcase_add_test(tc, breaking_and_gluing_spaces);
    tcase_add_test(tc, right_to_left_aligned_right);
    tcase_add_test(tc, json_escapes);
    suite_add_tcase(s, tc);
    return s;
}
