/* Unit tests of services/api/listcache.c. */
#include <check.h>
#include <string.h>

#include "api/listcache.h"

static const api_list_stamp_t S1 = {.events = 1, .forgets = 0};

START_TEST(a_page_is_answered_under_its_stamp_only)
{
    api_listcache_t *c = api_listcache_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(api_listcache_get(c, 100, &S1, 1000));
    api_listcache_put(c, 100, &S1, 1000, "{\"items\":[]}", 12, "</next>; rel=\"next\"", NULL, NULL);
    api_list_page_t *p = api_listcache_get(c, 100, &S1, 1500);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->len, 12);
    ck_assert(memcmp(p->body, "{\"items\":[]}", 12) == 0);
    ck_assert_str_eq(p->link, "</next>; rel=\"next\"");
    api_list_page_release(p);
    /* Another limit, an event, a deletion seen: misses. */
    ck_assert_ptr_null(api_listcache_get(c, 99, &S1, 1500));
    api_list_stamp_t ev = {.events = 2, .forgets = 0}, del = {.events = 1, .forgets = 1};
    ck_assert_ptr_null(api_listcache_get(c, 100, &ev, 1500));
    ck_assert_ptr_null(api_listcache_get(c, 100, &del, 1500));
    api_listcache_free(c);
}
END_TEST

START_TEST(a_page_expires_after_its_max_age)
{
    api_listcache_t *c = api_listcache_new();
    api_listcache_put(c, 10, &S1, 5000, "[]", 2, NULL, NULL, NULL);
    api_list_page_t *p = api_listcache_get(c, 10, &S1, 5000 + API_LISTCACHE_MAX_AGE_MS - 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->link, "");
    api_list_page_release(p);
    ck_assert_ptr_null(api_listcache_get(c, 10, &S1, 5000 + API_LISTCACHE_MAX_AGE_MS));
    /* A clock read before the page was made (another thread's) is fresh. */
    p = api_listcache_get(c, 10, &S1, 4990);
    ck_assert_ptr_nonnull(p);
    api_list_page_release(p);
    api_listcache_free(c);
}
END_TEST

START_TEST(a_replaced_page_stays_valid_for_its_reader)
{
    api_listcache_t *c = api_listcache_new();
    api_listcache_put(c, 10, &S1, 100, "old", 3, NULL, NULL, NULL);
    api_list_page_t *old = api_listcache_get(c, 10, &S1, 100);
    api_listcache_put(c, 10, &S1, 200, "newer", 5, NULL, NULL, NULL);
    ck_assert(memcmp(old->body, "old", 3) == 0);
    api_list_page_release(old);
    api_list_page_t *p = api_listcache_get(c, 10, &S1, 200);
    ck_assert_uint_eq(p->len, 5);
    api_list_page_release(p);
    api_listcache_free(c);
}
END_TEST

START_TEST(limits_beyond_the_slots_replace_the_oldest_and_long_links_are_not_cached)
{
    api_listcache_t *c = api_listcache_new();
    for (int i = 1; i <= API_LISTCACHE_SLOTS + 1; i++)
        api_listcache_put(c, i, &S1, (uint64_t)(100 + i), "x", 1, NULL, NULL, NULL);
    ck_assert_ptr_null(api_listcache_get(c, 1, &S1, 150)); /* the oldest went */
    for (int i = 2; i <= API_LISTCACHE_SLOTS + 1; i++) {
        api_list_page_t *p = api_listcache_get(c, i, &S1, 150);
        ck_assert_ptr_nonnull(p);
        api_list_page_release(p);
    }
    char link[API_LISTCACHE_LINK_MAX + 1];
    memset(link, 'l', sizeof link - 1);
    link[sizeof link - 1] = '\0';
    api_listcache_put(c, 500, &S1, 150, "x", 1, link, NULL, NULL);
    ck_assert_ptr_null(api_listcache_get(c, 500, &S1, 150));
    api_listcache_free(c);
}
END_TEST

static int att_freed;
static void att_free(void *att) { att_freed += *(int *)att; }

START_TEST(the_attachment_goes_with_its_page)
{
    static int one = 1;
    att_freed = 0;
    api_listcache_t *c = api_listcache_new();
    api_listcache_put(c, 10, &S1, 100, "a", 1, NULL, &one, att_free);
    api_list_page_t *p = api_listcache_get(c, 10, &S1, 100);
    ck_assert_ptr_eq(p->att, &one);
    api_listcache_put(c, 10, &S1, 200, "b", 1, NULL, NULL, NULL); /* replaces it */
    ck_assert_int_eq(att_freed, 0);                               /* still referenced */
    api_list_page_release(p);
    ck_assert_int_eq(att_freed, 1);
    /* Not cached (a link too long): freed at once. */
    char link[API_LISTCACHE_LINK_MAX + 1];
    memset(link, 'l', sizeof link - 1);
    link[sizeof link - 1] = '\0';
    api_listcache_put(c, 11, &S1, 200, "x", 1, link, &one, att_free);
    ck_assert_int_eq(att_freed, 2);
    api_listcache_put(c, 12, &S1, 200, "x", 1, NULL, &one, att_free);
    api_listcache_free(c);
    ck_assert_int_eq(att_freed, 3);
}
END_TEST

Suite *api_listcache_suite(void)
{
    Suite *s = suite_create("api_listcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, a_page_is_answered_under_its_stamp_only);
    tcase_add_test(tc, a_page_expires_after_its_max_age);
    tcase_add_test(tc, a_replaced_page_stays_valid_for_its_reader);
    tcase_add_test(tc, the_attachment_goes_with_its_page);
    tcase_add_test(tc, limits_beyond_the_slots_replace_the_oldest_and_long_links_are_not_cached);
    suite_add_tcase(s, tc);
    return s;
}
