/* Unit tests of services/render/orient.c: the eight EXIF orientations applied
 * to pixels. */
#include <check.h>
#include <string.h>

#include "render/orient.h"

START_TEST(orient_pixels)
{
    /* 3x2 picture, pixel value = its index:  0 1 2 / 3 4 5 */
    const unsigned char src[6] = {0, 1, 2, 3, 4, 5};
    const unsigned char want[9][6] = {{0},
                                      {0, 1, 2, 3, 4, 5},
                                      {2, 1, 0, 5, 4, 3},
                                      {5, 4, 3, 2, 1, 0},
                                      {3, 4, 5, 0, 1, 2},
                                      {0, 3, 1, 4, 2, 5},
                                      {3, 0, 4, 1, 5, 2},
                                      {5, 2, 4, 1, 3, 0},
                                      {2, 5, 1, 4, 0, 3}};
    for (int o = 1; o <= 8; o++) {
        unsigned char dst[6];
        int vw, vh;
        render_orient_size(3, 2, o, &vw, &vh);
        ck_assert_int_eq(vw, o >= 5 ? 2 : 3);
        render_orient_pixels(src, 3, 2, 1, o, dst, (size_t)vw);
        ck_assert_msg(memcmp(dst, want[o], 6) == 0, "orientation %d", o);
    }
}
END_TEST

Suite *render_orient_suite(void)
{
    Suite *s = suite_create("render_orient");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, orient_pixels);
    suite_add_tcase(s, tc);
    return s;
}
