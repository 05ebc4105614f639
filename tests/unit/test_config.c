#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "render/render.h" /* band_mode_t */
#include "rqha.h"
#include "rqueue.h"

typedef struct {
    const char *const *pairs; /* name, value, ..., NULL */
} table_t;

static const char *table_lookup(const char *name, void *ctx)
{
    const table_t *t = ctx;
    for (const char *const *p = t->pairs; *p; p += 2)
        if (!strcmp(*p, name)) return p[1];
    return NULL;
}

static int parse(config_t *cfg, const char *const *pairs, char *err, size_t errlen)
{
    table_t t = {pairs};
    config_defaults(cfg);
    return config_parse(cfg, table_lookup, &t, err, errlen);
}

START_TEST(defaults)
{
    config_t cfg;
    config_defaults(&cfg);
    ck_assert_int_eq(cfg.font_size, 12);
    ck_assert_int_eq(cfg.text_padding, 4);
    ck_assert_int_eq(cfg.api_port, 8000);
    ck_assert_int_eq(cfg.max_upload_bytes, 10 * 1024 * 1024);
    ck_assert_int_eq(cfg.max_pixels, 40000000);
    ck_assert_int_eq(cfg.max_attempts, 5);
    ck_assert_int_eq(cfg.lease_seconds, 30);
    ck_assert_int_eq(cfg.jpeg_quality, 90);
    ck_assert_int_eq(cfg.band_mode, BAND_EXTEND);
    ck_assert_str_eq(cfg.redis_prefix, "imgcap:");
    ck_assert_str_eq(cfg.font_name, "DejaVu Sans");
    ck_assert_int_ge(cfg.render_workers, 1);
    ck_assert_int_eq(cfg.events_max_clients, 256);
    ck_assert_str_eq(cfg.swagger_ui_url, ""); /* served by the api */
}
END_TEST

START_TEST(overrides)
{
    const char *pairs[] = {"FONT_SIZE", "16", "BAND_MODE", "overlay", "LOG_LEVEL", "debug",
                           "MAX_PIXELS", "40e6", "STORAGE_DIR", "/data/images",
                           "RENDER_WORKERS", "0", "API_TOKEN_READS", "1",
                           "TEXT_PADDING", "", "EVENTS_MAX_CLIENTS", "3", NULL};
    config_t cfg;
    char err[256];
    ck_assert_int_eq(parse(&cfg, pairs, err, sizeof err), 0);
    ck_assert_int_eq(cfg.font_size, 16);
    ck_assert_int_eq(cfg.band_mode, BAND_OVERLAY);
    ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
    ck_assert_int_eq(cfg.max_pixels, 40000000);
    ck_assert_str_eq(cfg.storage_dir, "/data/images");
    ck_assert_int_ge(cfg.render_workers, 1); /* 0 = CPU count */
    ck_assert_int_eq(cfg.api_token_reads, 1);
    ck_assert_int_eq(cfg.text_padding, 4); /* empty = default */
    ck_assert_int_eq(cfg.events_max_clients, 3);
}
END_TEST

START_TEST(malformed_values_name_the_variable)
{
    static const char *cases[][2] = {
        {"FONT_SIZE", "12px"}, {"FONT_SIZE", "0"},      {"API_PORT", "70000"},
        {"BAND_MODE", "below"}, {"LOG_LEVEL", "loud"},  {"JPEG_QUALITY", "101"},
        {"MAX_ATTEMPTS", "-1"}, {"LEASE_SECONDS", "x"}, {"API_TOKEN_READS", "maybe"},
        {"QUEUE_MAX_DEPTH", "0"}, {"EVENTS_MAX_CLIENTS", "0"}, {"EVENTS_MAX_CLIENTS", "5000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pairs[] = {cases[i][0], cases[i][1], NULL};
        config_t cfg;
        char err[256] = "";
        ck_assert_int_eq(parse(&cfg, pairs, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[i][0]) != NULL, "error '%s' does not name %s", err,
                      cases[i][0]);
    }
}
END_TEST

START_TEST(env_file)
{
    const char *text = "# comment\n"
                       "\n"
                       "FONT_NAME=\"DejaVu Sans\"\n"
                       "export FONT_SIZE=14  # px\n"
                       "STORAGE_DIR='./var/my images'\r\n"
                       "EMPTY=\n"
                       "FONT_SIZE=15\n";
    char err[128];
    config_env_t *env = config_env_parse(text, strlen(text), err, sizeof err);
    ck_assert_ptr_nonnull(env);
    ck_assert_str_eq(config_env_get(env, "FONT_NAME"), "DejaVu Sans");
    ck_assert_str_eq(config_env_get(env, "FONT_SIZE"), "15"); /* last wins */
    ck_assert_str_eq(config_env_get(env, "STORAGE_DIR"), "./var/my images");
    ck_assert_str_eq(config_env_get(env, "EMPTY"), "");
    ck_assert_ptr_null(config_env_get(env, "MISSING"));
    config_env_free(env);

    ck_assert_ptr_null(config_env_parse("JUST_A_NAME\n", 12, err, sizeof err));
    ck_assert(strstr(err, "line 1") != NULL);
    ck_assert_ptr_null(config_env_parse("A=1\nB=\"open\n", 12, err, sizeof err));
    ck_assert(strstr(err, "line 2") != NULL);
}
END_TEST

START_TEST(redis_urls)
{
    rq_url_t u;
    char err[256];
    ck_assert_int_eq(rqueue_parse_url("redis://127.0.0.1:6390", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6390);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(rqueue_parse_url("redis://:s3cret@redis/2", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "redis");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_str_eq(u.password, "s3cret");
    ck_assert_int_eq(u.db, 2);
    ck_assert_int_eq(rqueue_parse_url("unix:///run/redis.sock", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.path, "/run/redis.sock");
    ck_assert_int_eq(rqueue_parse_url("http://x", &u, err, sizeof err), -1);
    ck_assert_int_eq(rqueue_parse_url("redis://host:99999", &u, err, sizeof err), -1);
    ck_assert_int_eq(rqueue_parse_url("redis://", &u, err, sizeof err), -1);
    ck_assert(strstr(err, "REDIS_URL") != NULL);
}
END_TEST

/* The Sentinel and WAIT variables, and what rqueue_configure() makes of them. */
START_TEST(redis_ha_variables)
{
    config_t cfg;
    char err[256];
    static const char *const ok[] = {"REDIS_SENTINELS",
                                     "10.231.0.11:26379,10.231.0.12",
                                     "REDIS_MASTER_NAME",
                                     "city",
                                     "REDIS_WAIT_REPLICAS",
                                     "1",
                                     "REDIS_WAIT_TIMEOUT_MS",
                                     "500",
                                     "REDIS_TIMEOUT_MS",
                                     "3000",
                                     NULL};
    ck_assert_int_eq(parse(&cfg, ok, err, sizeof err), 0);
    ck_assert_str_eq(cfg.redis_master_name, "city");
    ck_assert_int_eq(cfg.redis_wait_replicas, 1);
    ck_assert_int_eq(cfg.redis_wait_timeout_ms, 500);
    ck_assert_int_eq(cfg.redis_timeout_ms, 3000);
    ck_assert_int_eq(rqueue_configure(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_enabled(), 1);
    ck_assert_int_eq(rq_ha_wait_replicas(), 1);

    static const char *const bad_list[] = {"REDIS_SENTINELS", "a:1,,b", NULL};
    ck_assert_int_eq(parse(&cfg, bad_list, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "REDIS_SENTINELS"));

    /* A WAIT that could use up the whole command timeout is refused at start. */
    static const char *const long_wait[] = {"REDIS_WAIT_REPLICAS",
                                            "1",
                                            "REDIS_WAIT_TIMEOUT_MS",
                                            "3000",
                                            "REDIS_TIMEOUT_MS",
                                            "4000",
                                            NULL};
    ck_assert_int_eq(parse(&cfg, long_wait, err, sizeof err), 0);
    ck_assert_int_eq(rqueue_configure(&cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "REDIS_WAIT_TIMEOUT_MS"));

    config_defaults(&cfg);
    ck_assert_int_eq(rqueue_configure(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(rq_ha_enabled(), 0);
    ck_assert_int_eq(rq_ha_wait_replicas(), 0);
    ck_assert_int_eq(rq_ha_timeout_ms(), 10000);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, overrides);
    tcase_add_test(tc, malformed_values_name_the_variable);
    tcase_add_test(tc, env_file);
    tcase_add_test(tc, redis_urls);
    tcase_add_test(tc, redis_ha_variables);
    suite_add_tcase(s, tc);
    return s;
}
