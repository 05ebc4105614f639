/* Unit tests of shared/rqha.c's configuration: what rq_ha_configure() makes
 * of the Sentinel and WAIT variables (their parsing: test_config.c). */
#include <check.h>
#include <string.h>

#include "rqha.h"
#include "unit_util.h"

START_TEST(sentinel_and_wait_settings)
{
    config_t cfg;
    char err[256];
    ck_assert_int_eq(fx_config_parse(&cfg, fx_redis_ha_variables, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_configure(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_enabled(), 1);
    ck_assert_int_eq(rq_ha_wait_replicas(), 1);
    ck_assert_int_eq(rq_ha_wait_timeout_ms(), 500);
    ck_assert_int_eq(rq_ha_timeout_ms(), 3000);

    /* A WAIT that could use up the whole command timeout is refused at start. */
    static const char *const long_wait[] = {"REDIS_WAIT_REPLICAS",
                                            "1",
                                            "REDIS_WAIT_TIMEOUT_MS",
                                            "3000",
                                            "REDIS_TIMEOUT_MS",
                                            "4000",
                                            NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, long_wait, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_configure(&cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "REDIS_WAIT_TIMEOUT_MS"));

    config_defaults(&cfg);
    ck_assert_int_eq(rq_ha_configure(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_enabled(), 0);
    ck_assert_int_eq(rq_ha_wait_replicas(), 0);
    ck_assert_int_eq(rq_ha_timeout_ms(), 10000);
}
END_TEST

Suite *rqha_suite(void)
{
    Suite *s = suite_create("rqha");
    TCase *tc = tcase_create("configure");
    tcase_add_test(tc, sentinel_and_wait_settings);
    suite_add_tcase(s, tc);
    return s;
}
