/* Unit tests of shared/config.c's config_load(): the environment over the .env
 * file named by IMGCAP_ENV_FILE, a file larger than one read, a file that
 * cannot be opened, values a variable cannot take (too long, not a boolean),
 * and every allocation of reading the file failing in turn
 * (alloc_fail.h). The environment is restored after each test: under
 * CK_FORK=no the suites share one process. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "config.h"
#include "unit_util.h"

static char dir[128], path[256];

static void setup(void)
{
    fx_tempdir(dir, sizeof dir, "config");
    snprintf(path, sizeof path, "%s/test.env", dir);
    setenv("IMGCAP_ENV_FILE", path, 1);
}

static void teardown(void)
{
    unsetenv("IMGCAP_ENV_FILE");
    unsetenv("API_PORT");
    unsetenv("API_HOST");
    unsetenv("LOG_STDERR");
    fx_rmtree(dir);
}

/* A .env file of well over one 4 KiB read: comment lines, then the
 * assignments given. */
static void write_env(const char *assignments)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++) fprintf(f, "# comment line %d of a long .env file\n", i);
    fputs(assignments, f);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(large_file_and_environment_over_it)
{
    write_env("API_PORT=8100\nAPI_HOST=10.0.0.1\nAPI_PORT=8200\n");
    setenv("API_HOST", "127.0.0.2", 1);
    config_t cfg;
    char err[256] = "";
    ck_assert_msg(config_load(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(cfg.api_port, 8200);        /* the last assignment wins */
    ck_assert_str_eq(cfg.api_host, "127.0.0.2"); /* the environment wins */
    ck_assert_int_eq(cfg.log_stderr, 1);         /* a default stays */
}
END_TEST

START_TEST(explicit_file_that_cannot_be_opened)
{
    config_t cfg;
    char err[256] = "";
    ck_assert_int_eq(config_load(&cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "IMGCAP_ENV_FILE: cannot open"));
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
}
END_TEST

START_TEST(values_a_variable_cannot_take)
{
    config_t cfg;
    char err[256] = "";
    char host[400];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    write_env("");
    setenv("API_HOST", host, 1);
    ck_assert_int_eq(config_load(&cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "API_HOST: value too long (max 255 bytes)");
    unsetenv("API_HOST");
    setenv("LOG_STDERR", "maybe", 1);
    ck_assert_int_eq(config_load(&cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "LOG_STDERR: 'maybe' is not a boolean (0/1)");
    setenv("LOG_STDERR", "No", 1);
    ck_assert_int_eq(config_load(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(cfg.log_stderr, 0);
}
END_TEST

START_TEST(reading_the_file_out_of_memory)
{
    write_env("API_PORT=8300\nREDIS_PREFIX=\"quoted:\" # a comment\n");
    for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
        config_t cfg;
        char err[256] = "";
        int rc = config_load(&cfg, err, sizeof err);
        if (fx_alloc_failed()) {
            ck_assert_int_eq(rc, -1);
            ck_assert_msg(strstr(err, "out of memory") != NULL, "%s", err);
        } else {
            ck_assert_msg(rc == 0, "%s", err);
            ck_assert_int_eq(cfg.api_port, 8300);
            ck_assert_str_eq(cfg.redis_prefix, "quoted:");
        }
    }
    ck_assert_int_gt(fx_alloc_loop_runs(), 3);
}
END_TEST

Suite *config_load_suite(void)
{
    Suite *s = suite_create("config_load");
    TCase *tc = tcase_create("config_load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, large_file_and_environment_over_it);
    tcase_add_test(tc, explicit_file_that_cannot_be_opened);
    tcase_add_test(tc, values_a_variable_cannot_take);
    tcase_add_test(tc, reading_the_file_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
