/* Unit tests of shared/config.c at the edges of its syntax: .env lines the
 * parser accepts and refuses, numbers with an exponent, durations and amounts
 * of space just outside what they allow, 0 for "off" and for "one worker per
 * core". Every refusal names the variable and its value. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "unit_util.h"

START_TEST(env_lines_accepted)
{
    const char *text = "  A = spaced value \t\n"
                       "B=x#not-a-comment\n"
                       "C=y\t# a comment after a tab\n"
                       "export=plain name\n"
                       "D='single quoted' trailing\n"
                       "\t# indented comment\n"
                       "E=last line without a newline";
    char err[128];
    config_env_t *env = config_env_parse(text, strlen(text), err, sizeof err);
    ck_assert_msg(env != NULL, "%s", err);
    ck_assert_str_eq(config_env_get(env, "A"), "spaced value");
    ck_assert_str_eq(config_env_get(env, "B"), "x#not-a-comment");
    ck_assert_str_eq(config_env_get(env, "C"), "y");
    ck_assert_str_eq(config_env_get(env, "export"), "plain name");
    ck_assert_str_eq(config_env_get(env, "D"), "single quoted");
    ck_assert_str_eq(config_env_get(env, "E"), "last line without a newline");
    config_env_free(env);
}
END_TEST

START_TEST(env_lines_refused)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"1ABC=x\n", ".env line 1: expected NAME=value"},
        {"A B=x\n", ".env line 1: expected NAME=value"},
        {"=x\n", ".env line 1: expected NAME=value"},
        {"OK=1\nA\n", ".env line 2: expected NAME=value"},
        {"A='open\n", ".env line 1: unterminated quote"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[128] = "";
        config_env_t *env = config_env_parse(cases[i].text, strlen(cases[i].text), err, sizeof err);
        ck_assert_msg(env == NULL, "%s", cases[i].text);
        ck_assert_str_eq(err, cases[i].err);
    }
}
END_TEST

/* fx_config_parse() of one variable: 0, or -1 with err. */
static int parse_one(config_t *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const char *pairs[] = {name, value, NULL};
    return fx_config_parse(cfg, pairs, err, errlen);
}

START_TEST(numbers)
{
    config_t cfg;
    char err[256];
    ck_assert_int_eq(parse_one(&cfg, "MAX_PIXELS", "40e6", err, sizeof err), 0);
    ck_assert_int_eq(cfg.max_pixels, 40000000);
    ck_assert_int_eq(parse_one(&cfg, "MAX_PIXELS", "4E2", err, sizeof err), 0);
    ck_assert_int_eq(cfg.max_pixels, 400);
    static const char *const bad[] = {"4e19", "4e-1", "e5", "12x", "4e2x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_one(&cfg, "MAX_PIXELS", bad[i], err, sizeof err) == -1, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "MAX_PIXELS: '"));
        ck_assert_ptr_nonnull(strstr(err, "is not a whole number in 1.."));
    }
    /* 0 turns thumbnails off; another value must be in range. */
    ck_assert_int_eq(parse_one(&cfg, "THUMBNAIL_SIZE", "0", err, sizeof err), 0);
    ck_assert_int_eq(cfg.thumbnail_size, 0);
    ck_assert_int_eq(parse_one(&cfg, "THUMBNAIL_SIZE", "8", err, sizeof err), -1);
    ck_assert_str_eq(err, "THUMBNAIL_SIZE: '8' is not 0 (off) or a whole number in 16..2048");
    /* 0 workers: one per core. */
    ck_assert_int_eq(parse_one(&cfg, "RENDER_WORKERS", "0", err, sizeof err), 0);
    ck_assert_int_ge(cfg.render_workers, 1);
    ck_assert_int_eq(parse_one(&cfg, "API_PORT", "0", err, sizeof err), -1);
    ck_assert_str_eq(err, "API_PORT: '0' is not a whole number in 1..65535");
}
END_TEST

START_TEST(durations_and_space)
{
    long long v;
    ck_assert_int_eq(config_parse_duration("0s", &v), -1);
    ck_assert_int_eq(config_parse_duration("-1d", &v), -1);
    ck_assert_int_eq(config_parse_duration("5", &v), -1);
    ck_assert_int_eq(config_parse_duration("5y", &v), -1);
    ck_assert_int_eq(config_parse_duration("36600d", &v), 0); /* 100 years: the cap */
    ck_assert_int_eq(config_parse_duration("36700d", &v), -1);
    long long b;
    int bp;
    ck_assert_int_eq(config_parse_space("100%", &b, &bp), 0);
    ck_assert_int_eq(bp, 10000);
    ck_assert_int_eq(config_parse_space("2.25%", &b, &bp), 0);
    ck_assert_int_eq(bp, 225);
    static const char *const bad[] = {
        "101%", "100.5%", "5.123%", "5.5", "5%%", "5XB", "-5MB", "5 MB", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(config_parse_space(bad[i], &b, &bp) == -1, "%s", bad[i]);
    config_t cfg;
    char err[256];
    ck_assert_int_eq(parse_one(&cfg, "RETENTION", "soon", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "RETENTION: 'soon' is not a duration"));
    ck_assert_int_eq(parse_one(&cfg, "STORAGE_MIN_FREE", "lots", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "STORAGE_MIN_FREE: 'lots' is not an amount of space"));
}
END_TEST

Suite *config_edges_suite(void)
{
    Suite *s = suite_create("config_edges");
    TCase *tc = tcase_create("config_edges");
    tcase_add_test(tc, env_lines_accepted);
    tcase_add_test(tc, env_lines_refused);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, durations_and_space);
    suite_add_tcase(s, tc);
    return s;
}
