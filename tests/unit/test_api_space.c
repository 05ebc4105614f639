/* Unit tests of services/api/space.c: STORAGE_DIR's free space, read at most
 * every API_SPACE_MAX_AGE_MS. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/space.h"
#include "config.h"

START_TEST(reads_then_keeps_the_reading_for_its_period)
{
    config_t cfg;
    config_defaults(&cfg);
    char tmpl[] = "/tmp/imgcap-space-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(cfg.storage_dir, sizeof cfg.storage_dir, "%s", tmpl);
    cfg.storage_min_free = 0;
    cfg.storage_min_free_bp = 0;
    api_space_t *s = api_space_new(&cfg);
    ck_assert_ptr_nonnull(s);
    storage_space_t sp;
    char err[256];
    uint64_t t0 = 1000000;
    ck_assert_int_eq(api_space_get(s, t0, &sp, err, sizeof err), 0);
    ck_assert_int_gt(sp.total_bytes, 0);
    ck_assert_int_eq(sp.min_free_bytes, 0);
    ck_assert_int_eq(sp.low, 0);

    /* The minimum changes (as the filesystem's free space would): within the
     * period the reading is the old one ... */
    cfg.storage_min_free_bp = 10000; /* 100 %: anything less than all free is low */
    ck_assert_int_eq(api_space_get(s, t0 + API_SPACE_MAX_AGE_MS - 1, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.min_free_bytes, 0);
    ck_assert_int_eq(sp.low, 0);
    /* ... after it, a new one. */
    ck_assert_int_eq(api_space_get(s, t0 + API_SPACE_MAX_AGE_MS, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.min_free_bytes, sp.total_bytes);
    ck_assert_int_eq(sp.low, sp.free_bytes < sp.total_bytes);
    /* And back: the reading follows by itself, no restart. */
    cfg.storage_min_free_bp = 0;
    ck_assert_int_eq(api_space_get(s, t0 + 2 * API_SPACE_MAX_AGE_MS, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.low, 0);
    /* A clock that went backwards (another caller's earlier now) reads again
     * rather than keeping a reading from the future forever. */
    cfg.storage_min_free = 123;
    ck_assert_int_eq(api_space_get(s, t0, &sp, err, sizeof err), 0);
    ck_assert_int_eq(sp.min_free_bytes, 123);
    api_space_free(s);
    api_space_free(NULL);
    rmdir(tmpl);
}
END_TEST

START_TEST(a_failed_reading_is_an_error_until_the_next_one)
{
    config_t cfg;
    config_defaults(&cfg);
    /* Longer than any path statvfs() takes: storage_space_read refuses it. */
    memset(cfg.storage_dir, 'a', sizeof cfg.storage_dir - 1);
    cfg.storage_dir[0] = '/';
    cfg.storage_dir[sizeof cfg.storage_dir - 1] = '\0';
    api_space_t *s = api_space_new(&cfg);
    ck_assert_ptr_nonnull(s);
    storage_space_t sp;
    char err[256] = "";
    ck_assert_int_eq(api_space_get(s, 5000, &sp, err, sizeof err), -1);
    ck_assert_int_gt((int)strlen(err), 0);
    err[0] = '\0';
    ck_assert_int_eq(api_space_get(s, 5001, &sp, err, sizeof err), -1);
    ck_assert_int_gt((int)strlen(err), 0); /* the kept failure says why again */
    snprintf(cfg.storage_dir, sizeof cfg.storage_dir, "/tmp");
    ck_assert_int_eq(api_space_get(s, 5000 + API_SPACE_MAX_AGE_MS, &sp, err, sizeof err), 0);
    ck_assert_int_gt(sp.total_bytes, 0);
    api_space_free(s);
}
END_TEST

Suite *api_space_suite(void)
{
    Suite *s = suite_create("api_space");
    TCase *tc = tcase_create("space");
    tcase_add_test(tc, reads_then_keeps_the_reading_for_its_period);
    tcase_add_test(tc, a_failed_reading_is_an_error_until_the_next_one);
    suite_add_tcase(s, tc);
    return s;
}
