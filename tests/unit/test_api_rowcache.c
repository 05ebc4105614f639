/* Unit tests of services/api/rowcache.c. */
#include <check.h>
#include <string.h>

#include "api/rowcache.h"

#define ID_A "01a22270-304e-7170-8151-8b0500000001"
#define ID_B "01a22270-304e-7170-8151-8b0500000002"

START_TEST(put_get_evict)
{
    api_rowcache_t *rc = api_rowcache_new(64);
    char path[API_ROWCACHE_PATH_MAX];
    long long bytes = 0;
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 0);
    api_rowcache_put(rc, ID_A, "/data/2026/11/28/a.jpg", 37417);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1);
    ck_assert_str_eq(path, "/data/2026/11/28/a.jpg");
    ck_assert_int_eq(bytes, 37417);
    ck_assert_int_eq(api_rowcache_get(rc, ID_B, path, &bytes), 0);
    api_rowcache_evict(rc, ID_B); /* not there: no effect on A */
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1);
    api_rowcache_evict(rc, ID_A);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 0);
    api_rowcache_free(rc);
}
END_TEST

START_TEST(one_slot_replaces_and_long_paths_are_skipped)
{
    api_rowcache_t *rc = api_rowcache_new(1);
    char path[API_ROWCACHE_PATH_MAX], longp[API_ROWCACHE_PATH_MAX + 10];
    long long bytes;
    api_rowcache_put(rc, ID_A, "/a", 1);
    api_rowcache_put(rc, ID_B, "/b", 2);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 0);
    ck_assert_int_eq(api_rowcache_get(rc, ID_B, path, &bytes), 1);
    ck_assert_str_eq(path, "/b");
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    api_rowcache_put(rc, ID_A, longp, 3);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 0);
    ck_assert_int_eq(api_rowcache_get(rc, ID_B, path, &bytes), 1);
    api_rowcache_free(rc);
}
END_TEST

Suite *api_rowcache_suite(void)
{
    Suite *s = suite_create("api_rowcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, put_get_evict);
    tcase_add_test(tc, one_slot_replaces_and_long_paths_are_skipped);
    suite_add_tcase(s, tc);
    return s;
}
