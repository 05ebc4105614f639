/* config.c - defaults <- .env <- environment (shared/README.md, Configuration). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actor.h"
#include "log.h"
#include "sentinel.h"

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->redis_url, sizeof cfg->redis_url, "redis://127.0.0.1:6379");
    snprintf(cfg->redis_prefix, sizeof cfg->redis_prefix, "imgcap:");
    snprintf(cfg->redis_master_name, sizeof cfg->redis_master_name, "imgcap");
    cfg->redis_wait_timeout_ms = 1000;
    cfg->redis_timeout_ms = 10000;
    snprintf(cfg->database_url, sizeof cfg->database_url,
             "postgresql://imgcap@127.0.0.1:5432/imgcap");
    snprintf(cfg->storage_dir, sizeof cfg->storage_dir, "./var/images");
    snprintf(cfg->font_name, sizeof cfg->font_name, "DejaVu Sans");
    snprintf(cfg->fonts_dir, sizeof cfg->fonts_dir, "fonts");
    cfg->font_size = 12;
    cfg->text_padding = 4;
    cfg->band_mode = 0; /* extend */
    cfg->storage_sync = CONFIG_STORAGE_SYNC_FILE;
    cfg->jpeg_quality = 90;
    snprintf(cfg->api_host, sizeof cfg->api_host, "0.0.0.0");
    cfg->api_port = 8000;
    cfg->max_upload_bytes = 10LL * 1024 * 1024;
    cfg->max_pixels = 40000000LL;
    cfg->queue_max_depth = 10000;
    cfg->max_attempts = 5;
    cfg->lease_seconds = 30;
    int cpus = actor_cpu_count();
    cfg->api_workers = cpus;
    cfg->render_workers = cpus;
    cfg->persist_workers = cpus;
    snprintf(cfg->log_dir, sizeof cfg->log_dir, "./var/log");
    cfg->log_level = LOG_INFO;
    cfg->log_stderr = 1;
    cfg->shutdown_seconds = 10;
    cfg->swagger_ui_url[0] = '\0'; /* served by the api itself (/assets/swagger-ui) */
    snprintf(cfg->sql_dir, sizeof cfg->sql_dir, "deploy/sql");
    cfg->events_max_clients = 256;
    /* 50 client addresses hold at most 3200 of the api's 8192 connections
     * (services/api/server.h). */
    cfg->api_per_ip_connections = 64;
    /* A day: a client retrying an upload does so within minutes; a key kept
     * longer costs Redis memory (~200 bytes) for nothing. */
    cfg->idempotency_ttl = 86400;
    cfg->thumbnail_size = 320;
    cfg->retention_s = 0; /* keep forever */
    /* 1 GB: what both queues at the default QUEUE_MAX_DEPTH hold in typical
     * (~50 KB) images must still fit after uploads stop (docs/operations.md,
     * Retention and disk space). */
    cfg->storage_min_free = 1000LL * 1000 * 1000;
    cfg->storage_min_free_bp = 0;
    cfg->storage_recycle = 0;
}

int config_parse_duration(const char *s, long long *seconds)
{
    static const struct {
        char unit;
        long long seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    char *end;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || n <= 0 || end[0] == '\0' || end[1] != '\0') return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (end[0] == units[i].unit) {
            /* 100 years is more than any retention means; it also keeps every
             * product below overflow. */
            if (n > 100LL * 366 * 86400 / units[i].seconds) return -1;
            *seconds = n * units[i].seconds;
            return 0;
        }
    return -1;
}

int config_parse_space(const char *s, long long *bytes, int *bp)
{
    static const struct {
        const char *unit;
        long long factor;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KB", 1000LL},
                 {"MB", 1000LL * 1000},
                 {"GB", 1000LL * 1000 * 1000},
                 {"TB", 1000LL * 1000 * 1000 * 1000},
                 {"KiB", 1LL << 10},
                 {"MiB", 1LL << 20},
                 {"GiB", 1LL << 30},
                 {"TiB", 1LL << 40}};
    *bytes = 0;
    *bp = 0;
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    char *end;
    long long n = strtoll(s, &end, 10);
    if (errno != 0) return -1;
    if (*end == '.' || *end == '%') {
        /* A percentage: whole part, up to two decimals, '%'. */
        long long frac = 0;
        int digits = 0;
        if (*end == '.') {
            for (end++; *end >= '0' && *end <= '9'; end++) {
                if (++digits > 2) return -1;
                frac = frac * 10 + (*end - '0');
            }
            if (digits == 0) return -1;
            if (digits == 1) frac *= 10;
        }
        if (end[0] != '%' || end[1] != '\0' || n > 100) return -1;
        long long v = n * 100 + frac;
        if (v > 10000) return -1;
        *bp = (int)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].unit) == 0) {
            if (n > LLONG_MAX / units[i].factor) return -1;
            *bytes = n * units[i].factor;
            return 0;
        }
    return -1;
}

/* Each variable: name, kind, where to store it, and bounds for numbers. */
typedef enum {
    V_STR,
    V_INT,
    V_INT_OFF, /* int: 0 (off), or min..max */
    V_LL,
    V_LOG_LEVEL,
    V_CHOICE, /* int: the index of the value in choices (case-insensitive) */
    V_BOOL,
    V_WORKERS,
    V_DURATION, /* long long seconds, config_parse_duration */
    V_SPACE,    /* storage_min_free + storage_min_free_bp, config_parse_space */
} vkind_t;

/* BAND_MODE's values; the index is render's band_mode_t (render.h). */
static const char *const band_modes[] = {"extend", "overlay", NULL};
/* STORAGE_SYNC's values; the index is config_t.storage_sync. */
static const char *const storage_syncs[] = {"filesystem", "file", NULL};

typedef struct {
    const char *name;
    vkind_t kind;
    size_t offset;
    size_t size; /* string capacity */
    long long min, max;
    const char *const *choices; /* V_CHOICE: the values, NULL-terminated */
} var_t;

#define STR(n, f)                                                               \
    {                                                                           \
        n, V_STR, offsetof(config_t, f), sizeof(((config_t *)0)->f), 0, 0, NULL \
    }
#define NUM(n, k, f, lo, hi)                         \
    {                                                \
        n, k, offsetof(config_t, f), 0, lo, hi, NULL \
    }
#define CHOICE(n, f, values)                                \
    {                                                       \
        n, V_CHOICE, offsetof(config_t, f), 0, 0, 0, values \
    }

static const var_t config_vars[] = {
    STR("REDIS_URL", redis_url),
    STR("REDIS_PREFIX", redis_prefix),
    STR("REDIS_SENTINELS", redis_sentinels),
    STR("REDIS_MASTER_NAME", redis_master_name),
    NUM("REDIS_WAIT_REPLICAS", V_INT, redis_wait_replicas, 0, 64),
    NUM("REDIS_WAIT_TIMEOUT_MS", V_INT, redis_wait_timeout_ms, 1, 5000),
    NUM("REDIS_TIMEOUT_MS", V_INT, redis_timeout_ms, 1000, 60000),
    STR("DATABASE_URL", database_url),
    STR("STORAGE_DIR", storage_dir),
    STR("FONT_NAME", font_name),
    STR("FONT_PATH", font_path),
    STR("FONTS_DIR", fonts_dir),
    NUM("FONT_SIZE", V_INT, font_size, 4, 256),
    NUM("TEXT_PADDING", V_INT, text_padding, 0, 256),
    CHOICE("BAND_MODE", band_mode, band_modes),
    NUM("JPEG_QUALITY", V_INT, jpeg_quality, 1, 100),
    STR("API_HOST", api_host),
    NUM("API_PORT", V_INT, api_port, 1, 65535),
    NUM("MAX_UPLOAD_BYTES", V_LL, max_upload_bytes, 1024, 1LL << 32),
    NUM("MAX_PIXELS", V_LL, max_pixels, 1, 1LL << 32),
    NUM("QUEUE_MAX_DEPTH", V_LL, queue_max_depth, 1, 100000000),
    NUM("MAX_ATTEMPTS", V_INT, max_attempts, 1, 1000),
    NUM("LEASE_SECONDS", V_INT, lease_seconds, 1, 86400),
    NUM("API_WORKERS", V_WORKERS, api_workers, 0, 1024),
    NUM("RENDER_WORKERS", V_WORKERS, render_workers, 0, 1024),
    NUM("PERSIST_WORKERS", V_WORKERS, persist_workers, 0, 1024),
    STR("LOG_DIR", log_dir),
    NUM("LOG_LEVEL", V_LOG_LEVEL, log_level, 0, 0),
    NUM("LOG_STDERR", V_BOOL, log_stderr, 0, 1),
    NUM("SHUTDOWN_SECONDS", V_INT, shutdown_seconds, 0, 3600),
    STR("SWAGGER_UI_URL", swagger_ui_url),
    STR("API_TOKEN", api_token),
    NUM("API_TOKEN_READS", V_BOOL, api_token_reads, 0, 1),
    NUM("IDEMPOTENCY_TTL", V_INT, idempotency_ttl, 1, 30 * 86400),
    STR("CONSUMER_NAME", consumer_name),
    STR("SQL_DIR", sql_dir),
    NUM("EVENTS_MAX_CLIENTS", V_INT, events_max_clients, 1, 1024),
    /* 0..API_CONNECTION_LIMIT (services/api/server.h). */
    NUM("API_PER_IP_CONNECTIONS", V_INT, api_per_ip_connections, 0, 8192),
    NUM("THUMBNAIL_SIZE", V_INT_OFF, thumbnail_size, 16, 2048),
    NUM("RETENTION", V_DURATION, retention_s, 0, 0),
    NUM("STORAGE_MIN_FREE", V_SPACE, storage_min_free, 0, 0),
    NUM("STORAGE_RECYCLE", V_BOOL, storage_recycle, 0, 1),
    CHOICE("STORAGE_SYNC", storage_sync, storage_syncs),
};

static int parse_ll(const char *s, long long *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    /* Allow 1e6-style values for MAX_PIXELS ("40e6"), as they are often written. */
    if (*end == 'e' || *end == 'E') {
        char *eend;
        long exp = strtol(end + 1, &eend, 10);
        if (*eend || exp < 0 || exp > 18 || end == s) return -1;
        while (exp-- > 0) {
            if (v > LLONG_MAX / 10 || v < LLONG_MIN / 10) return -1;
            v *= 10;
        }
        end = eend;
    }
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int apply_var(config_t *cfg, const var_t *v, const char *value, char *err, size_t errlen)
{
    char *base = (char *)cfg + v->offset;
    long long n;
    switch (v->kind) {
    case V_STR:
        if (strlen(value) >= v->size) {
            snprintf(err, errlen, "%s: value too long (max %zu bytes)", v->name, v->size - 1);
            return -1;
        }
        memcpy(base, value, strlen(value) + 1);
        return 0;
    case V_LOG_LEVEL: {
        int lvl = log_level_parse(value);
        if (lvl < 0) {
            snprintf(err, errlen, "%s: '%s' is not one of debug, info, warn, error", v->name,
                     value);
            return -1;
        }
        *(int *)base = lvl;
        return 0;
    }
    case V_CHOICE: {
        char list[80] = "";
        for (int i = 0; v->choices[i] != NULL; i++) {
            if (!strcasecmp(value, v->choices[i])) {
                *(int *)base = i;
                return 0;
            }
            size_t at = strlen(list);
            snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", v->choices[i]);
        }
        snprintf(err, errlen, "%s: '%s' is not one of %s", v->name, value, list);
        return -1;
    }
    case V_BOOL:
        if (!strcmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "yes"))
            *(int *)base = 1;
        else if (!strcmp(value, "0") || !strcasecmp(value, "false") || !strcasecmp(value, "no") ||
                 !*value)
            *(int *)base = 0;
        else {
            snprintf(err, errlen, "%s: '%s' is not a boolean (0/1)", v->name, value);
            return -1;
        }
        return 0;
    case V_DURATION:
        if (config_parse_duration(value, &n) < 0) {
            snprintf(err, errlen,
                     "%s: '%s' is not a duration (a whole number and s, m, h, d or w: "
                     "90s, 12h, 30d)",
                     v->name, value);
            return -1;
        }
        *(long long *)base = n;
        return 0;
    case V_SPACE:
        if (config_parse_space(value, &cfg->storage_min_free, &cfg->storage_min_free_bp) < 0) {
            snprintf(err, errlen,
                     "%s: '%s' is not an amount of space (bytes with a unit: 500MB, 2GB, "
                     "1GiB; or a percentage of the filesystem: 5%%)",
                     v->name, value);
            return -1;
        }
        return 0;
    case V_INT_OFF:
        if (parse_ll(value, &n) < 0 || (n != 0 && (n < v->min || n > v->max))) {
            snprintf(err, errlen, "%s: '%s' is not 0 (off) or a whole number in %lld..%lld",
                     v->name, value, v->min, v->max);
            return -1;
        }
        *(int *)base = (int)n;
        return 0;
    case V_INT:
    case V_LL:
    case V_WORKERS:
        if (parse_ll(value, &n) < 0 || n < v->min || n > v->max) {
            snprintf(err, errlen, "%s: '%s' is not a whole number in %lld..%lld", v->name, value,
                     v->min, v->max);
            return -1;
        }
        if (v->kind == V_WORKERS && n == 0) n = actor_cpu_count();
        if (v->kind == V_LL)
            *(long long *)base = n;
        else
            *(int *)base = (int)n;
        return 0;
    }
    return -1;
}

int config_parse(config_t *cfg, config_lookup_fn lookup, void *ctx, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof config_vars / sizeof config_vars[0]; i++) {
        const var_t *v = &config_vars[i];
        const char *value = lookup(v->name, ctx);
        if (value == NULL) continue;
        /* Empty means "use the default": docker compose passes empty strings
         * for variables that .env leaves blank. */
        if (!*value) continue;
        if (apply_var(cfg, v, value, err, errlen) < 0) return -1;
    }
    if (cfg->queue_max_depth < 1) {
        snprintf(err, errlen, "QUEUE_MAX_DEPTH: must be at least 1");
        return -1;
    }
    if (cfg->redis_sentinels[0]) {
        sentinel_addr_t addrs[SENTINEL_MAX];
        if (sentinel_parse_list(cfg->redis_sentinels, addrs, SENTINEL_MAX, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ---- .env files ---- */

typedef struct {
    char *name, *value;
} env_pair_t;

struct config_env {
    env_pair_t *pairs;
    size_t count, cap;
};

void config_env_free(config_env_t *env)
{
    if (env == NULL) return;
    for (size_t i = 0; i < env->count; i++) {
        free(env->pairs[i].name);
        free(env->pairs[i].value);
    }
    free(env->pairs);
    free(env);
}

static int env_add(config_env_t *env, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (env->count == env->cap) {
        size_t cap = env->cap ? env->cap * 2 : 32;
        env_pair_t *p = realloc(env->pairs, cap * sizeof *p);
        if (p == NULL) return -1;
        env->pairs = p;
        env->cap = cap;
    }
    char *n = strndup(name, nlen), *v = strndup(value, vlen);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    env->pairs[env->count].name = n;
    env->pairs[env->count].value = v;
    env->count++;
    return 0;
}

static int is_name_char(char c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

config_env_t *config_env_parse(const char *text, size_t len, char *err, size_t errlen)
{
    config_env_t *env = calloc(1, sizeof *env);
    if (env == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        lineno++;
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        const char *p = text + pos, *e = text + end;
        pos = end + 1;
        if (e > p && e[-1] == '\r') e--;
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        if (p == e || *p == '#') continue;
        if (e - p > 7 && !strncmp(p, "export ", 7)) p += 7;
        const char *name = p;
        while (p < e && is_name_char(*p, p == name)) p++;
        size_t nlen = (size_t)(p - name);
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        if (nlen == 0 || p == e || *p != '=') {
            snprintf(err, errlen, ".env line %d: expected NAME=value", lineno);
            config_env_free(env);
            return NULL;
        }
        p++;
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        const char *v = p, *vend = e;
        if (p < e && (*p == '"' || *p == '\'')) {
            char q = *p;
            const char *close = memchr(p + 1, q, (size_t)(e - p - 1));
            if (close == NULL) {
                snprintf(err, errlen, ".env line %d: unterminated quote", lineno);
                config_env_free(env);
                return NULL;
            }
            v = p + 1;
            vend = close;
        } else {
            /* Unquoted: a " #" starts a comment; trailing blanks are dropped. */
            for (const char *c = v; c < e; c++)
                if (*c == '#' && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
                    vend = c;
                    break;
                }
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
        }
        if (env_add(env, name, nlen, v, (size_t)(vend - v)) < 0) {
            snprintf(err, errlen, "out of memory");
            config_env_free(env);
            return NULL;
        }
    }
    return env;
}

const char *config_env_get(const config_env_t *env, const char *name)
{
    /* Last assignment wins, as in a shell. */
    for (size_t i = env->count; i-- > 0;)
        if (!strcmp(env->pairs[i].name, name)) return env->pairs[i].value;
    return NULL;
}

static const char *lookup_env_then_file(const char *name, void *ctx)
{
    const char *v = getenv(name);
    if (v != NULL) return v;
    return ctx != NULL ? config_env_get((const config_env_t *)ctx, name) : NULL;
}

int config_load(config_t *cfg, char *err, size_t errlen)
{
    config_defaults(cfg);
    const char *path = getenv("IMGCAP_ENV_FILE");
    int explicit_path = path != NULL && *path;
    if (!explicit_path) path = ".env";

    config_env_t *env = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (explicit_path) {
            snprintf(err, errlen, "IMGCAP_ENV_FILE: cannot open %s: %s", path, strerror(errno));
            return -1;
        }
    } else {
        char *text = NULL;
        size_t len = 0, cap = 0;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (len + n > cap) {
                cap = (len + n) * 2;
                char *t = realloc(text, cap);
                if (t == NULL) {
                    free(text);
                    fclose(f);
                    snprintf(err, errlen, "out of memory reading %s", path);
                    return -1;
                }
                text = t;
            }
            memcpy(text + len, chunk, n);
            len += n;
        }
        fclose(f);
        char perr[256];
        env = config_env_parse(text != NULL ? text : "", len, perr, sizeof perr);
        free(text);
        if (env == NULL) {
            snprintf(err, errlen, "%s: %s", path, perr);
            return -1;
        }
    }
    int rc = config_parse(cfg, lookup_env_then_file, env, err, errlen);
    config_env_free(env);
    return rc;
}
