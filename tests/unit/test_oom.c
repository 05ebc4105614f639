/* Out of memory in the pure modules (tests/unit/alloc_fail.h): each operation
 * runs with its first allocation failing, then its second, ... until a run in
 * which none failed. A failed run must return its error (never crash, never
 * half-succeed) and leave its context usable: the next run on the same
 * context succeeds or fails only at its own chosen allocation. Leaks on these
 * paths are what make test-sanitize and make test-valgrind look for. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "render/font.h"
#include "render/layout.h"
#include "render/render.h"
#include "render/thumb.h"
#include "unit_util.h"
#include "wire.h"

START_TEST(injector_fails_exactly_the_chosen_allocation)
{
    fx_alloc_fail_after(1);
    void *a = malloc(8);
    void *b = malloc(8);
    void *c = calloc(1, 8);
    int failed = fx_alloc_failed();
    ck_assert(failed);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(c);
    free(a);
    free(c);
    long runs = 0, failures = 0;
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        char *x = strdup("x");
        char *y = strdup("y");
        failed = fx_alloc_failed();
        runs++;
        failures += failed;
        ck_assert_int_eq(x == NULL || y == NULL, failed);
        free(x);
        free(y);
    }
    ck_assert_int_eq(runs, 3); /* the first fails, the second, then neither */
    ck_assert_int_eq(failures, 2);
    ck_assert_int_eq(fx_alloc_loop_runs(), 3);
}
END_TEST

START_TEST(font_open)
{
    const char *path = fx_font_path();
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        char err[256] = "";
        render_font_t *f = render_font_open(path, 16, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_ptr_null(f);
            ck_assert_msg(strstr(err, "out of memory") != NULL, "%s", err);
        } else {
            ck_assert_msg(f != NULL, "%s", err);
            ck_assert_int_ge(render_font_face_count(f), 1);
        }
        render_font_close(f);
    }
    ck_assert_int_gt(fx_alloc_loop_runs(), 3);
}
END_TEST

/* A 96x64 RGB picture as a JPEG (the caller frees .p). */
static buf_t small_jpeg(void)
{
    enum { W = 96, H = 64 };
    static unsigned char px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (unsigned char)(i * 7);
    fx_jpeg_spec_t spec = {0};
    return fx_jpeg_encode(px, W * 3, W, H, 3, &spec);
}

START_TEST(caption_on_one_context)
{
    render_opts_t o = fx_render_opts();
    render_ctx_t *ctx = fx_render_ctx(&o);
    buf_t in = small_jpeg();
    /* Latin, Cyrillic and an emoji: the fallback faces open inside the loop. */
    const char text[] = "Caption \xd0\x9a\xd0\xb0\xd0\xbc\xd0\xb5\xd1\x80\xd0\xb0 "
                        "\xf0\x9f\x98\x80 and a line long enough to wrap";
    unsigned char *first = NULL;
    size_t first_len = 0;
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        unsigned char *out = NULL;
        size_t out_len = 0;
        int w = 0, h = 0;
        char err[256] = "";
        int rc = render_caption(ctx, in.p, in.n, text, sizeof text - 1, &out, &out_len, &w, &h, err,
                                sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_null(out);
            ck_assert(err[0] != '\0');
        } else {
            ck_assert_msg(rc == 0, "%s", err);
            ck_assert_int_eq(w, 96);
            ck_assert_int_gt(h, 64);
            first = out;
            first_len = out_len;
            out = NULL;
        }
        free(out);
    }
    ck_assert_ptr_nonnull(first);
    /* The context that saw every failure renders what a fresh one does. */
    render_ctx_t *fresh = fx_render_ctx(&o);
    unsigned char *again = NULL;
    size_t again_len = 0;
    int w, h;
    char err[256];
    ck_assert_int_eq(render_caption(fresh, in.p, in.n, text, sizeof text - 1, &again, &again_len,
                                    &w, &h, err, sizeof err),
                     0);
    ck_assert_uint_eq(again_len, first_len);
    ck_assert(memcmp(again, first, first_len) == 0);
    free(again);
    free(first);
    render_ctx_free(fresh);
    free(in.p);
    render_ctx_free(ctx);
    ck_assert_int_gt(fx_alloc_loop_runs(), 5);
}
END_TEST

START_TEST(context_new)
{
    render_opts_t o = fx_render_opts();
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        char err[256] = "";
        render_ctx_t *ctx = render_ctx_new(&o, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_ptr_null(ctx);
            ck_assert(err[0] != '\0');
        } else {
            ck_assert_msg(ctx != NULL, "%s", err);
        }
        render_ctx_free(ctx);
    }
}
END_TEST

START_TEST(thumbnail)
{
    buf_t in = fx_data_file("camera_674x480.jpg");
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        render_thumb_t *t = render_thumb_new(160, 40000000);
        if (t == NULL) {
            ck_assert(fx_alloc_failed());
            continue;
        }
        const unsigned char *out = NULL;
        size_t out_len = 0;
        int w = 0, h = 0;
        char err[256] = "";
        int rc = render_thumb_make(t, in.p, in.n, &out, &out_len, &w, &h, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_null(out);
            ck_assert(err[0] != '\0');
        } else {
            ck_assert_msg(rc == 0, "%s", err);
            ck_assert_int_eq(w, 160);
            ck_assert_int_eq(h, 114);
            ck_assert(out_len > 2 && out[0] == 0xff && out[1] == 0xd8);
        }
        render_thumb_free(t);
    }
    free(in.p);
}
END_TEST

/* Thumbnails of sources that take the other decode paths: CMYK (Adobe's
 * inverted and plain), YCCK, a gray picture with an ICC profile, and a
 * sampling whose planes are read as scanlines. */
START_TEST(thumbnail_of_other_sources)
{
    fx_img_t cam = fx_camera(0);
    const fx_jpeg_spec_t specs[] = {
        {.cmyk = 1},
        {.cmyk = 1, .ycck = 1},
        {.gray = 1, .icc_space = "GRAY"},
        {.h0 = 4, .v0 = 1},
        {.h0 = 1, .v0 = 2, .h1 = 1, .v1 = 2},
        {.icc_space = "RGB "},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        buf_t in = fx_jpeg_encode(cam.px, (size_t)cam.w * 3, cam.w, cam.h, 3, &specs[i]);
        render_thumb_t *t = render_thumb_new(100, 40000000);
        ck_assert_ptr_nonnull(t);
        for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
            const unsigned char *out = NULL;
            size_t out_len = 0;
            int w = 0, h = 0;
            char err[256] = "";
            int rc = render_thumb_make(t, in.p, in.n, &out, &out_len, &w, &h, err, sizeof err);
            if (fx_alloc_failed()) {
                ck_assert_int_eq(rc, -1);
                ck_assert(err[0] != '\0');
            } else {
                ck_assert_msg(rc == 0, "spec %zu: %s", i, err);
                ck_assert_int_eq(w > h ? w : h, 100);
                buf_t b = {(unsigned char *)out, out_len};
                fx_img_t th = fx_jpeg_decode(&b, 0);
                ck_assert_int_eq(th.w, w);
                ck_assert_int_eq(th.h, h);
                fx_img_free(&th);
            }
        }
        render_thumb_free(t);
        free(in.p);
    }
    ck_assert_ptr_null(render_thumb_new(0, 40000000)); /* no size, no context */
    fx_img_free(&cam);
}
END_TEST

/* A fresh layout per run, so every array grows inside the loop: paragraphs
 * (CR LF, U+2028), Hebrew and Arabic between Latin words, Thai (dictionary
 * breaks), an emoji and a word too long for a line. */
START_TEST(layout_of_mixed_text)
{
    render_font_t *f = fx_font_open(16);
    layout_font_t lf = render_font_layout(f);
    const char text[] = "First line\r\nsecond \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d world "
                        "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7\xe2\x80\xa8"
                        "\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5"
                        "\xe0\xb8\x84\xe0\xb8\xa3\xe0\xb8\xb1\xe0\xb8\x9a \xf0\x9f\x98\x80 "
                        "Donaudampfschifffahrtsgesellschaftskapitaen";
    size_t lines = 0;
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        layout_t lo = {0};
        char err[256] = "";
        int rc = layout_compute(&lo, &lf, text, sizeof text - 1, 160, 4, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_int_eq(rc, -1);
            ck_assert(err[0] != '\0');
        } else {
            ck_assert_msg(rc == 0, "%s", err);
            lines = lo.nlines;
        }
        layout_free(&lo);
    }
    ck_assert_int_ge(lines, 4); /* three paragraphs, the long word on its own */
    ck_assert_int_gt(fx_alloc_loop_runs(), 5);
    /* A font that could not be opened for lack of memory is not taken for
     * missing: after the failures, every character gets the face a context
     * that never saw one gives it (no box where a fallback font has glyphs). */
    render_font_t *fresh = fx_font_open(16);
    layout_font_t lf_fresh = render_font_layout(fresh);
    layout_t after = {0}, want = {0};
    char err[256] = "";
    ck_assert_msg(layout_compute(&after, &lf, text, sizeof text - 1, 160, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(
        layout_compute(&want, &lf_fresh, text, sizeof text - 1, 160, 4, err, sizeof err) == 0, "%s",
        err);
    ck_assert_uint_eq(after.ncps, want.ncps);
    for (size_t i = 0; i < want.ncps; i++) {
        uint32_t cp = want.scps[i];
        if (cp < 0x20 || cp == 0x85 || cp == 0x2028 || cp == 0x2029) continue; /* separators */
        const char *name = lf.face_name(lf.ctx, after.faces[i]);
        const char *wname = lf_fresh.face_name(lf_fresh.ctx, want.faces[i]);
        ck_assert_msg(strcmp(name != NULL ? name : "", wname != NULL ? wname : "") == 0,
                      "U+%04X: face %s after allocation failures, %s in a fresh context",
                      want.scps[i], name, wname);
    }
    layout_free(&after);
    layout_free(&want);
    render_font_close(fresh);
    render_font_close(f);
}
END_TEST

START_TEST(wire_round_trip)
{
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xd9};
    wire_msg_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "0192f0c8-1234-7abc-8def-0123456789ab");
    snprintf(m.received_at, sizeof m.received_at, "2026-12-06T10:00:00.000Z");
    snprintf(m.description, sizeof m.description, "a description");
    m.jpeg = jpeg;
    m.jpeg_len = sizeof jpeg;
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        unsigned char *buf = NULL;
        size_t len = 0;
        char err[256] = "";
        int rc = wire_encode(&m, &buf, &len, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_null(buf);
            ck_assert(err[0] != '\0');
            continue;
        }
        ck_assert_msg(rc == 0, "%s", err);
        wire_msg_t back;
        ck_assert_int_eq(wire_decode(buf, len, &back, err, sizeof err), 0);
        ck_assert_str_eq(back.id, m.id);
        ck_assert_uint_eq(back.jpeg_len, sizeof jpeg);
        free(buf);
    }
}
END_TEST

Suite *oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("oom");
    tcase_set_timeout(tc, 120);
    /* fontconfig's state, which fallback lookups create (as test_render_font.c). */
    tcase_add_checked_fixture(tc, NULL, render_font_shutdown);
    tcase_add_test(tc, injector_fails_exactly_the_chosen_allocation);
    tcase_add_test(tc, font_open);
    tcase_add_test(tc, caption_on_one_context);
    tcase_add_test(tc, context_new);
    tcase_add_test(tc, thumbnail);
    tcase_add_test(tc, thumbnail_of_other_sources);
    tcase_add_test(tc, layout_of_mixed_text);
    tcase_add_test(tc, wire_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
