/* Unit tests of services/api/respcache.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/respcache.h"

static int freed[64]; /* how many times each object's destructor ran */

static void obj_free(void *obj) { freed[*(int *)obj]++; }

static int objs[64];

static void key_of(int i, char *out) { snprintf(out, 40, "01a22270-304e-7170-8151-8b05%08d", i); }

static api_resp_t *entry(int i)
{
    char key[40];
    key_of(i, key);
    objs[i] = i;
    api_resp_t *e = api_resp_new(key, &objs[i], obj_free);
    ck_assert_ptr_nonnull(e);
    return e;
}

static int cached(api_respcache_t *c, int i)
{
    char key[40];
    key_of(i, key);
    api_resp_t *e = api_respcache_get(c, key);
    api_resp_release(e);
    return e != NULL;
}

START_TEST(the_last_reference_frees_the_object_once)
{
    memset(freed, 0, sizeof freed);
    api_respcache_t *c = api_respcache_new(16);
    ck_assert_ptr_nonnull(c);
    api_resp_t *e = entry(1);
    api_respcache_put(c, e);
    api_resp_release(e); /* the cache's reference is left */
    ck_assert_int_eq(freed[1], 0);
    char key[40];
    key_of(1, key);
    api_resp_t *got = api_respcache_get(c, key);
    ck_assert_ptr_eq(got, e);
    ck_assert_ptr_eq(got->obj, &objs[1]);
    ck_assert_uint_eq(api_respcache_count(c), 1);
    /* Evicted while a response is being sent: still valid, freed after. */
    api_respcache_evict(c, key);
    ck_assert_ptr_null(api_respcache_get(c, key));
    ck_assert_uint_eq(api_respcache_count(c), 0);
    ck_assert_int_eq(freed[1], 0);
    api_resp_release(got);
    ck_assert_int_eq(freed[1], 1);
    api_respcache_free(c);
    ck_assert_int_eq(freed[1], 1);
}
END_TEST

START_TEST(a_put_replaces_the_same_key_and_free_releases_all)
{
    memset(freed, 0, sizeof freed);
    api_respcache_t *c = api_respcache_new(16);
    api_resp_t *a = entry(2);
    api_respcache_put(c, a);
    api_resp_release(a);
    objs[3] = 3;
    char key[40];
    key_of(2, key);
    api_resp_t *b = api_resp_new(key, &objs[3], obj_free); /* same key, another object */
    api_respcache_put(c, b);
    api_resp_release(b);
    ck_assert_int_eq(freed[2], 1);
    ck_assert_uint_eq(api_respcache_count(c), 1);
    api_resp_t *got = api_respcache_get(c, key);
    ck_assert_ptr_eq(got->obj, &objs[3]);
    api_resp_release(got);
    api_respcache_free(c);
    ck_assert_int_eq(freed[3], 1);
}
END_TEST

START_TEST(a_full_cache_keeps_its_bound_and_the_recently_used)
{
    memset(freed, 0, sizeof freed);
    api_respcache_t *c = api_respcache_new(4); /* one set of 4 ways */
    for (int i = 1; i <= 4; i++) {
        api_resp_t *e = entry(i);
        api_respcache_put(c, e);
        api_resp_release(e);
    }
    ck_assert(cached(c, 1)); /* 1 used again: 2 is now the least recently used */
    api_resp_t *e = entry(5);
    api_respcache_put(c, e);
    api_resp_release(e);
    ck_assert_uint_eq(api_respcache_count(c), 4);
    ck_assert(!cached(c, 2));
    ck_assert_int_eq(freed[2], 1);
    ck_assert(cached(c, 1) && cached(c, 3) && cached(c, 4) && cached(c, 5));
    api_respcache_free(c);
    for (int i = 1; i <= 5; i++) ck_assert_int_eq(freed[i], 1);
}
END_TEST

START_TEST(a_key_too_long_is_refused)
{
    char key[API_RESP_KEY_MAX + 1];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    ck_assert_ptr_null(api_resp_new(key, &objs[0], obj_free));
    api_resp_release(NULL);
}
END_TEST

static int keep_even(const api_resp_t *e, void *arg)
{
    (*(int *)arg)++;
    return *(int *)e->obj % 2 == 0;
}

START_TEST(a_sweep_drops_what_keep_refuses_and_nothing_else)
{
    memset(freed, 0, sizeof freed);
    api_respcache_t *c = api_respcache_new(256);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < 8; i++) {
        api_resp_t *e = entry(i);
        api_respcache_put(c, e);
        api_resp_release(e);
    }
    size_t before = api_respcache_count(c);
    ck_assert_uint_eq(before, 8); /* 256 slots: no set filled up */
    int calls = 0;
    size_t dropped = api_respcache_sweep(c, keep_even, &calls);
    ck_assert_int_eq(calls, (int)before); /* each entry asked once */
    ck_assert_uint_eq(api_respcache_count(c), before - dropped);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(cached(c, i), i % 2 == 0);
        ck_assert_int_eq(freed[i], i % 2);
    }
    ck_assert_uint_eq(dropped, 4);
    calls = 0;
    ck_assert_uint_eq(api_respcache_sweep(c, keep_even, &calls), 0);
    api_respcache_free(c);
}
END_TEST

Suite *api_respcache_suite(void)
{
    Suite *s = suite_create("api_respcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, the_last_reference_frees_the_object_once);
    tcase_add_test(tc, a_put_replaces_the_same_key_and_free_releases_all);
    tcase_add_test(tc, a_full_cache_keeps_its_bound_and_the_recently_used);
    tcase_add_test(tc, a_key_too_long_is_refused);
    tcase_add_test(tc, a_sweep_drops_what_keep_refuses_and_nothing_else);
    suite_add_tcase(s, tc);
    return s;
}
