/* Unit tests of services/api/rowcache.c. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "api/rowcache.h"
#include "uuid.h"

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

START_TEST(keys_of_an_image_and_its_thumbnail)
{
    api_rowcache_t *rc = api_rowcache_new(64);
    char path[API_ROWCACHE_PATH_MAX];
    long long bytes = 0;
    api_rowcache_put(rc, ID_A, "/data/a.jpg", 40000);
    api_rowcache_put(rc, ID_A ".t", "/data/a.thumb.jpg", 9000);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A ".t", path, &bytes), 1);
    ck_assert_str_eq(path, "/data/a.thumb.jpg");
    ck_assert_int_eq(bytes, 9000);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1);
    ck_assert_str_eq(path, "/data/a.jpg");
    api_rowcache_evict(rc, ID_A);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 0);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A ".t", path, &bytes), 1);
    /* A key of API_ROWCACHE_KEY_MAX bytes or more is not cached. */
    char key[API_ROWCACHE_KEY_MAX + 1];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    api_rowcache_put(rc, key, "/x", 1);
    ck_assert_int_eq(api_rowcache_get(rc, key, path, &bytes), 0);
    key[API_ROWCACHE_KEY_MAX - 1] = '\0';
    api_rowcache_put(rc, key, "/x", 1);
    ck_assert_int_eq(api_rowcache_get(rc, key, path, &bytes), 1);
    api_rowcache_free(rc);
}
END_TEST

START_TEST(full_set_replaces_its_oldest_and_long_paths_are_skipped)
{
    /* One set of 4 ways. */
    api_rowcache_t *rc = api_rowcache_new(4);
    char path[API_ROWCACHE_PATH_MAX], longp[API_ROWCACHE_PATH_MAX + 10], id[UUID_STR_LEN];
    long long bytes;
    for (unsigned i = 1; i <= 4; i++) {
        snprintf(id, sizeof id, "01a22270-304e-7170-8151-8b050000000%u", i);
        api_rowcache_put(rc, id, "/x", i);
    }
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1); /* 1 is now the newest */
    api_rowcache_put(rc, "01a22270-304e-7170-8151-8b0500000005", "/5", 5);
    ck_assert_int_eq(api_rowcache_get(rc, ID_B, path, &bytes), 0); /* 2 was the oldest */
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1);
    ck_assert_int_eq(bytes, 1);
    ck_assert_int_eq(api_rowcache_get(rc, "01a22270-304e-7170-8151-8b0500000005", path, &bytes), 1);
    ck_assert_str_eq(path, "/5");
    /* The same id again replaces itself. */
    api_rowcache_put(rc, ID_A, "/a2", 10);
    ck_assert_int_eq(api_rowcache_get(rc, ID_A, path, &bytes), 1);
    ck_assert_str_eq(path, "/a2");
    ck_assert_int_eq(api_rowcache_get(rc, "01a22270-304e-7170-8151-8b0500000003", path, &bytes), 1);
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    api_rowcache_put(rc, ID_B, longp, 3);
    ck_assert_int_eq(api_rowcache_get(rc, ID_B, path, &bytes), 0);
    api_rowcache_free(rc);
}
END_TEST

START_TEST(thousands_of_ids_fit)
{
    /* 3000 ids in 8192 slots: direct mapping had 674 of them sharing a slot
     * (a walk over all of them missed those every time). */
    api_rowcache_t *rc = api_rowcache_new(8192);
    char path[API_ROWCACHE_PATH_MAX], id[UUID_STR_LEN];
    long long bytes;
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "01a22270-304e-7170-8151-8b05%08u", i);
        api_rowcache_put(rc, id, "/p", i);
    }
    int hits = 0;
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "01a22270-304e-7170-8151-8b05%08u", i);
        hits += api_rowcache_get(rc, id, path, &bytes);
    }
    ck_assert_int_ge(hits, 2970); /* 2994: a handful of sets got a fifth id */
    api_rowcache_free(rc);
}
END_TEST

Suite *api_rowcache_suite(void)
{
    Suite *s = suite_create("api_rowcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, put_get_evict);
    tcase_add_test(tc, keys_of_an_image_and_its_thumbnail);
    tcase_add_test(tc, full_set_replaces_its_oldest_and_long_paths_are_skipped);
    tcase_add_test(tc, thousands_of_ids_fit);
    suite_add_tcase(s, tc);
    return s;
}
