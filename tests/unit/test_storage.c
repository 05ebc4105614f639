/* Unit tests of shared/storage.c: STORAGE_MIN_FREE resolved against a
 * filesystem, and statvfs of a directory that does not exist yet. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage.h"

START_TEST(min_free_bytes_or_percent)
{
    config_t cfg;
    config_defaults(&cfg);
    cfg.storage_min_free = 500;
    cfg.storage_min_free_bp = 0;
    ck_assert_int_eq(storage_min_free_bytes(&cfg, 1000000), 500);
    cfg.storage_min_free = 0;
    cfg.storage_min_free_bp = 250; /* 2.5 % */
    ck_assert_int_eq(storage_min_free_bytes(&cfg, 1000000), 25000);
    cfg.storage_min_free_bp = 10000;
    ck_assert_int_eq(storage_min_free_bytes(&cfg, 1000000), 1000000);
}
END_TEST

START_TEST(thumbnail_beside_the_image)
{
    char out[64];
    ck_assert_int_eq(
        storage_thumb_path("2026/12/06/0192f0c8-1234-7abc-8def-0123456789ab.jpg", out, sizeof out),
        0);
    ck_assert_str_eq(out, "2026/12/06/0192f0c8-1234-7abc-8def-0123456789ab.thumb.jpg");
    ck_assert_int_eq(storage_thumb_path("a.png", out, sizeof out), -1);
    ck_assert_int_eq(storage_thumb_path("x.jpg", out, 8), -1); /* "x.thumb.jpg" needs 12 */
}
END_TEST

START_TEST(reads_the_filesystem_of_a_missing_dir)
{
    config_t cfg;
    config_defaults(&cfg);
    char tmpl[] = "/tmp/imgcap-storage-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char missing[256];
    snprintf(missing, sizeof missing, "%s/not/yet", tmpl);
    storage_space_t sp;
    char err[256];
    ck_assert_int_eq(storage_space_read(missing, &cfg, &sp, err, sizeof err), 0);
    struct statvfs st;
    ck_assert_int_eq(statvfs(tmpl, &st), 0);
    ck_assert_int_eq(sp.total_bytes, (long long)st.f_blocks * (long long)st.f_frsize);
    ck_assert_int_gt(sp.total_bytes, 0);
    ck_assert_int_le(sp.free_bytes, sp.total_bytes);

    /* Everything free is below a minimum of 100 %: low. None at 0: never low. */
    cfg.storage_min_free = 0;
    cfg.storage_min_free_bp = 10000;
    ck_assert_int_eq(storage_space_read(tmpl, &cfg, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.low, sp.free_bytes < sp.total_bytes);
    cfg.storage_min_free_bp = 0;
    ck_assert_int_eq(storage_space_read(tmpl, &cfg, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.low, 0);
    ck_assert_int_eq(sp.min_free_bytes, 0);
    rmdir(tmpl);
}
END_TEST

Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, min_free_bytes_or_percent);
    tcase_add_test(tc, thumbnail_beside_the_image);
    tcase_add_test(tc, reads_the_filesystem_of_a_missing_dir);
    suite_add_tcase(s, tc);
    return s;
}
