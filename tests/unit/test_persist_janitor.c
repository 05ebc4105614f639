/* Unit tests of services/persist/janitor.c's pure part: how often retention
 * runs. */
#include <check.h>

#include "persist/janitor.h"

START_TEST(retention_interval_is_half_capped)
{
    ck_assert_int_eq(persist_janitor_retention_interval_s(1), 1); /* at least a second */
    ck_assert_int_eq(persist_janitor_retention_interval_s(2), 1);
    ck_assert_int_eq(persist_janitor_retention_interval_s(3), 1);
    ck_assert_int_eq(persist_janitor_retention_interval_s(90), 45);
    ck_assert_int_eq(persist_janitor_retention_interval_s(120), 60);
    ck_assert_int_eq(persist_janitor_retention_interval_s(121), 60);
    ck_assert_int_eq(persist_janitor_retention_interval_s(30LL * 86400), 60); /* "30d" */
    ck_assert_int_eq(persist_janitor_retention_interval_s(1LL << 40), 60);
}
END_TEST

START_TEST(tombstones_outlive_the_status_ttl)
{
    /* The Redis status of an id lives 7 days; its tombstone must live longer
     * so the api never reports a pipeline stage for a deleted image. */
    ck_assert_int_gt(PERSIST_JANITOR_PRUNE_AFTER_S, 7 * 86400);
}
END_TEST

Suite *persist_janitor_suite(void)
{
    Suite *s = suite_create("persist_janitor");
    TCase *tc = tcase_create("janitor");
    tcase_add_test(tc, retention_interval_is_half_capped);
    tcase_add_test(tc, tombstones_outlive_the_status_ttl);
    suite_add_tcase(s, tc);
    return s;
}
