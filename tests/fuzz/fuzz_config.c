/* fuzz_config.c - the .env parser and the variable table (shared/config.c).
 *
 * .env files are written by hand and mounted from the host, so any text must
 * either parse or be refused with a line number; whatever parses is then fed
 * to config_parse() through a lookup over the parsed table, as config_load()
 * does, and every accepted value must land inside its documented range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *lookup_env(const char *name, void *ctx)
{
    return config_env_get((const config_env_t *)ctx, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    config_env_t *env = config_env_parse((const char *)data, size, err, sizeof err);
    if (!env) {
        if (memchr(err, '\0', sizeof err) == NULL) abort();
        return 0;
    }
    config_t cfg;
    config_defaults(&cfg);
    if (config_parse(&cfg, lookup_env, env, err, sizeof err) == 0) {
        if (cfg.font_size < 4 || cfg.font_size > 256 || cfg.jpeg_quality < 1 ||
            cfg.jpeg_quality > 100 || cfg.api_port < 1 || cfg.api_port > 65535 ||
            cfg.max_pixels < 1 || cfg.queue_max_depth < 1 || cfg.max_attempts < 1 ||
            cfg.api_workers < 1 || cfg.render_workers < 1 || cfg.persist_workers < 1 ||
            cfg.band_mode < 0 || cfg.band_mode > 1 || /* extend, overlay */
            memchr(cfg.redis_url, '\0', sizeof cfg.redis_url) == NULL ||
            memchr(cfg.api_token, '\0', sizeof cfg.api_token) == NULL ||
            (cfg.thumbnail_size != 0 && cfg.thumbnail_size < 16) || cfg.thumbnail_size > 2048 ||
            cfg.retention_s < 0 || cfg.storage_min_free < 0 || cfg.storage_min_free_bp < 0 ||
            cfg.storage_min_free_bp > 10000 ||
            (cfg.storage_min_free > 0 && cfg.storage_min_free_bp > 0))
            abort();
    }
    config_env_free(env);
    return 0;
}
