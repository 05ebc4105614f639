/* Unit tests of shared/config.c: defaults, variables from a table, the
 * .env file, and the Redis high-availability variables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "render/render.h" /* band_mode_t */
#include "unit_util.h"

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
    ck_assert_int_eq(cfg.api_per_ip_connections, 64);
    ck_assert_str_eq(cfg.swagger_ui_url, ""); /* served by the api */
}
END_TEST

START_TEST(overrides)
{
    const char *pairs[] = {"FONT_SIZE",
                           "16",
                           "BAND_MODE",
                           "overlay",
                           "LOG_LEVEL",
                           "debug",
                           "MAX_PIXELS",
                           "40e6",
                           "STORAGE_DIR",
                           "/data/images",
                           "RENDER_WORKERS",
                           "0",
                           "API_TOKEN_READS",
                           "1",
                           "TEXT_PADDING",
                           "",
                           "EVENTS_MAX_CLIENTS",
                           "3",
                           NULL};
    config_t cfg;
    char err[256];
    ck_assert_int_eq(fx_config_parse(&cfg, pairs, err, sizeof err), 0);
    ck_assert_int_eq(cfg.font_size, 16);
    ck_assert_int_eq(cfg.band_mode, BAND_OVERLAY);
    ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
    ck_assert_int_eq(cfg.max_pixels, 40000000);
    ck_assert_str_eq(cfg.storage_dir, "/data/images");
    ck_assert_int_ge(cfg.render_workers, 1); /* 0 = CPU count */
    ck_assert_int_eq(cfg.api_token_reads, 1);
    ck_assert_int_eq(cfg.text_padding, 4); /* empty = default */
    ck_assert_int_eq(cfg.events_max_clients, 3);
    ck_assert_int_eq(cfg.idempotency_ttl, 86400); /* the default */
    const char *ttl[] = {"IDEMPOTENCY_TTL", "5", NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, ttl, err, sizeof err), 0);
    ck_assert_int_eq(cfg.idempotency_ttl, 5);
}
END_TEST

START_TEST(malformed_values_name_the_variable)
{
    static const char *cases[][2] = {
        {"FONT_SIZE", "12px"},
        {"FONT_SIZE", "0"},
        {"API_PORT", "70000"},
        {"BAND_MODE", "below"},
        {"LOG_LEVEL", "loud"},
        {"JPEG_QUALITY", "101"},
        {"MAX_ATTEMPTS", "-1"},
        {"LEASE_SECONDS", "x"},
        {"API_TOKEN_READS", "maybe"},
        {"QUEUE_MAX_DEPTH", "0"},
        {"EVENTS_MAX_CLIENTS", "0"},
        {"EVENTS_MAX_CLIENTS", "5000"},
        {"API_PER_IP_CONNECTIONS", "-1"},
        {"API_PER_IP_CONNECTIONS", "8193"},
        {"API_PER_IP_CONNECTIONS", "64k"},
        {"IDEMPOTENCY_TTL", "0"},
        {"IDEMPOTENCY_TTL", "2592001"},
        {"IDEMPOTENCY_TTL", "1d"},
        {"STORAGE_SYNC", "batch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pairs[] = {cases[i][0], cases[i][1], NULL};
        config_t cfg;
        char err[256] = "";
        ck_assert_int_eq(fx_config_parse(&cfg, pairs, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[i][0]) != NULL, "error '%s' does not name %s", err,
                      cases[i][0]);
    }
}
END_TEST

START_TEST(frame_store_variables)
{
    config_t cfg;
    char err[256];
    const char *none[] = {NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, none, err, sizeof err), 0);
    ck_assert_int_eq(cfg.thumbnail_size, 320);
    ck_assert_int_eq(cfg.retention_s, 0); /* keep forever */
    ck_assert_int_eq(cfg.storage_min_free, 1000LL * 1000 * 1000);
    ck_assert_int_eq(cfg.storage_min_free_bp, 0);
    ck_assert_int_eq(cfg.storage_recycle, 0);
    ck_assert_int_eq(cfg.storage_sync, CONFIG_STORAGE_SYNC_FILE);
    const char *sync_file[] = {"STORAGE_SYNC", "File", NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, sync_file, err, sizeof err), 0);
    ck_assert_int_eq(cfg.storage_sync, CONFIG_STORAGE_SYNC_FILE);
    const char *sync_fs[] = {"STORAGE_SYNC", "filesystem", NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, sync_fs, err, sizeof err), 0);
    ck_assert_int_eq(cfg.storage_sync, CONFIG_STORAGE_SYNC_FILESYSTEM);

    const char *set[] = {
        "RETENTION", "30d", "STORAGE_MIN_FREE", "2.5%", "STORAGE_RECYCLE", "1", "THUMBNAIL_SIZE",
        "200",       NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, set, err, sizeof err), 0);
    ck_assert_int_eq(cfg.retention_s, 30LL * 86400);
    ck_assert_int_eq(cfg.storage_min_free, 0);
    ck_assert_int_eq(cfg.storage_min_free_bp, 250);
    ck_assert_int_eq(cfg.storage_recycle, 1);
    ck_assert_int_eq(cfg.thumbnail_size, 200);
    const char *off[] = {"THUMBNAIL_SIZE", "0", NULL}; /* no thumbnails */
    ck_assert_int_eq(fx_config_parse(&cfg, off, err, sizeof err), 0);
    ck_assert_int_eq(cfg.thumbnail_size, 0);

    const char *bad[][3] = {{"RETENTION", "30", NULL},         {"RETENTION", "-5s", NULL},
                            {"RETENTION", "1y", NULL},         {"RETENTION", "0s", NULL},
                            {"STORAGE_MIN_FREE", "5 %", NULL}, {"STORAGE_MIN_FREE", "101%", NULL},
                            {"STORAGE_MIN_FREE", "2QB", NULL}, {"STORAGE_MIN_FREE", "1.234%", NULL},
                            {"THUMBNAIL_SIZE", "8", NULL},     {"THUMBNAIL_SIZE", "-1", NULL},
                            {"THUMBNAIL_SIZE", "2049", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(fx_config_parse(&cfg, bad[i], err, sizeof err), -1);
        ck_assert_msg(strstr(err, bad[i][0]) != NULL, "%s: %s", bad[i][0], err);
    }
}
END_TEST

START_TEST(durations_and_space)
{
    long long v, b;
    int bp;
    ck_assert_int_eq(config_parse_duration("90s", &v), 0);
    ck_assert_int_eq(v, 90);
    ck_assert_int_eq(config_parse_duration("15m", &v), 0);
    ck_assert_int_eq(v, 900);
    ck_assert_int_eq(config_parse_duration("12h", &v), 0);
    ck_assert_int_eq(v, 43200);
    ck_assert_int_eq(config_parse_duration("2w", &v), 0);
    ck_assert_int_eq(v, 14 * 86400);
    ck_assert_int_eq(config_parse_duration("h", &v), -1);
    ck_assert_int_eq(config_parse_duration("1hh", &v), -1);
    ck_assert_int_eq(config_parse_duration("99999999999999d", &v), -1);

    ck_assert_int_eq(config_parse_space("500MB", &b, &bp), 0);
    ck_assert_int_eq(b, 500LL * 1000 * 1000);
    ck_assert_int_eq(bp, 0);
    ck_assert_int_eq(config_parse_space("2GiB", &b, &bp), 0);
    ck_assert_int_eq(b, 2LL << 30);
    ck_assert_int_eq(config_parse_space("4096", &b, &bp), 0);
    ck_assert_int_eq(b, 4096);
    ck_assert_int_eq(config_parse_space("5%", &b, &bp), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(bp, 500);
    ck_assert_int_eq(config_parse_space("0.5%", &b, &bp), 0);
    ck_assert_int_eq(bp, 50);
    ck_assert_int_eq(config_parse_space("0", &b, &bp), 0);
    ck_assert_int_eq(b + bp, 0);
    ck_assert_int_eq(config_parse_space("9999999999TB", &b, &bp), -1);
    ck_assert_int_eq(config_parse_space("5.%", &b, &bp), -1);
    ck_assert_int_eq(config_parse_space("MB", &b, &bp), -1);
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

/* The Sentinel and WAIT variables (what rqueue makes of them: test_rqha.c). */
START_TEST(redis_ha_variables)
{
    config_t cfg;
    char err[256];
    ck_assert_int_eq(fx_config_parse(&cfg, fx_redis_ha_variables, err, sizeof err), 0);
    ck_assert_str_eq(cfg.redis_master_name, "city");
    ck_assert_str_eq(cfg.redis_sentinels, "10.231.0.11:26379,10.231.0.12");
    ck_assert_int_eq(cfg.redis_wait_replicas, 1);
    ck_assert_int_eq(cfg.redis_wait_timeout_ms, 500);
    ck_assert_int_eq(cfg.redis_timeout_ms, 3000);

    static const char *const bad_list[] = {"REDIS_SENTINELS", "a:1,,b", NULL};
    ck_assert_int_eq(fx_config_parse(&cfg, bad_list, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "REDIS_SENTINELS"));
}
END_TEST

START_TEST(per_address_connection_limit)
{
    config_t cfg;
    char err[256];
    /* 0 turns the limit off (behind a proxy); the api's whole limit is the most. */
    static const char *const values[] = {"0", "1", "500", "8192"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *pairs[] = {"API_PER_IP_CONNECTIONS", values[i], NULL};
        ck_assert_int_eq(fx_config_parse(&cfg, pairs, err, sizeof err), 0);
        ck_assert_int_eq(cfg.api_per_ip_connections, atoi(values[i]));
    }
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
    tcase_add_test(tc, frame_store_variables);
    tcase_add_test(tc, durations_and_space);
    tcase_add_test(tc, redis_ha_variables);
    tcase_add_test(tc, per_address_connection_limit);
    suite_add_tcase(s, tc);
    return s;
}
