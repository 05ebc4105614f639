/* config.h - service configuration from built-in defaults, the .env file and the
 * environment, in increasing priority (shared/README.md, Configuration).
 *
 * Parsing is pure: config_parse() takes a lookup function, so unit tests feed it
 * a table instead of the process environment. config_load() is the I/O wrapper
 * that reads IMGCAP_ENV_FILE (default ./.env) and getenv(). */
#ifndef IMGCAP_CONFIG_H
#define IMGCAP_CONFIG_H

#include <stddef.h>

typedef struct config {
    char redis_url[512];         /* REDIS_URL  redis://host:port/db or unix:///path */
    char redis_prefix[64];       /* REDIS_PREFIX, default "imgcap:" */
    char redis_sentinels[1024];  /* REDIS_SENTINELS host:port,... ("" = REDIS_URL's host) */
    char redis_master_name[128]; /* REDIS_MASTER_NAME, the primary's name in Sentinel */
    int redis_wait_replicas;     /* REDIS_WAIT_REPLICAS, WAIT for this many replicas (0 = no) */
    int redis_wait_timeout_ms;   /* REDIS_WAIT_TIMEOUT_MS, bound on that WAIT */
    int redis_timeout_ms;        /* REDIS_TIMEOUT_MS, bound on one Redis command */
    char database_url[1024];     /* DATABASE_URL, a libpq conninfo or URI */
    char storage_dir[1024];      /* STORAGE_DIR */
    char font_name[256];         /* FONT_NAME, resolved with fontconfig */
    char font_path[1024];        /* FONT_PATH, overrides FONT_NAME when set */
    char fonts_dir[1024];        /* FONTS_DIR, the project's fonts/ (always searched) */
    int font_size;               /* FONT_SIZE px, 4..256 */
    int text_padding;            /* TEXT_PADDING px, 0..256 */
    int band_mode;               /* BAND_MODE extend|overlay -> render's band_mode_t */
    int jpeg_quality;            /* JPEG_QUALITY 1..100 */
    char api_host[256];          /* API_HOST */
    int api_port;                /* API_PORT */
    long long max_upload_bytes;  /* MAX_UPLOAD_BYTES */
    long long max_pixels;        /* MAX_PIXELS */
    long queue_max_depth;        /* QUEUE_MAX_DEPTH, applies to q:render and q:persist */
    int max_attempts;            /* MAX_ATTEMPTS */
    int lease_seconds;           /* LEASE_SECONDS */
    int api_workers;             /* API_WORKERS, 0 in the file = CPU count */
    int render_workers;          /* RENDER_WORKERS */
    int persist_workers;         /* PERSIST_WORKERS */
    char log_dir[1024];          /* LOG_DIR */
    int log_level;               /* LOG_LEVEL debug|info|warn|error -> log_level_t */
    int log_stderr;              /* LOG_STDERR 0|1: log lines copied to stderr too */
    int shutdown_seconds;        /* SHUTDOWN_SECONDS */
    char swagger_ui_url[512];    /* SWAGGER_UI_URL, base URL of swagger-ui-dist assets;
                                    empty = the copy embedded in the api */
    char api_token[256];         /* API_TOKEN, empty = uploads open */
    int api_token_reads;         /* API_TOKEN_READS 0|1 */
    int idempotency_ttl;         /* IDEMPOTENCY_TTL s, how long an Idempotency-Key is kept */
    char consumer_name[128];     /* CONSUMER_NAME: base of consumer names, empty = hostname */
    char sql_dir[1024];          /* SQL_DIR, the numbered schema scripts (deploy/sql) */
    int events_max_clients;      /* EVENTS_MAX_CLIENTS, open GET /api/events streams */
    int api_per_ip_connections;  /* API_PER_IP_CONNECTIONS, 0 = no per-address limit */
    int thumbnail_size;          /* THUMBNAIL_SIZE px, the longer side of a thumbnail; 0: none */
    long long retention_s;       /* RETENTION in seconds ("90s", "12h", "30d"); 0 = forever */
    long long storage_min_free;  /* STORAGE_MIN_FREE in bytes ("500MB", "2GB")... */
    int storage_min_free_bp;     /* ...or in basis points of the filesystem ("5%" = 500);
                                    the other one is 0 */
    int storage_recycle;         /* STORAGE_RECYCLE 0|1: delete the oldest images to keep
                                    STORAGE_MIN_FREE free */
    int storage_sync;            /* STORAGE_SYNC filesystem|file -> CONFIG_STORAGE_SYNC_* */
} config_t;

/* How persist makes a batch's files durable (STORAGE_SYNC). */
enum {
    CONFIG_STORAGE_SYNC_FILESYSTEM = 0, /* one syncfs of STORAGE_DIR's filesystem per batch */
    CONFIG_STORAGE_SYNC_FILE = 1,       /* an fsync of each file, by the worker that wrote it */
};

/* Parses a duration: a whole number and a unit, s m h d or w ("90s", "12h",
 * "30d"). Returns 0 with *seconds set (> 0), or -1 when s is not one. Pure. */
int config_parse_duration(const char *s, long long *seconds);

/* Parses an amount of disk space: bytes with an optional unit (B, KB MB GB TB
 * in powers of 1000, KiB MiB GiB TiB in powers of 1024: "500MB", "2GiB"), or
 * a percentage of the filesystem with up to two decimals ("5%", "2.5%").
 * Returns 0 with exactly one of *bytes and *bp (basis points, 100 = 1 %)
 * nonzero, or both 0 for "0"; -1 when s is not one. Pure. */
int config_parse_space(const char *s, long long *bytes, int *bp);

/* Returns the value of `name` or NULL when unset. */
typedef const char *(*config_lookup_fn)(const char *name, void *ctx);

/* Fills cfg with defaults (CPU count for worker pools). Never fails. */
void config_defaults(config_t *cfg);

/* Applies every variable `lookup` knows on top of cfg. Returns 0, or -1 with
 * err set (naming the variable and what was wrong with its value). */
int config_parse(config_t *cfg, config_lookup_fn lookup, void *ctx, char *err, size_t errlen);

/* A parsed .env file: KEY=VALUE lines, '#' comments, optional "export ",
 * single or double quotes around the value. */
typedef struct config_env config_env_t;

/* Parses the text of a .env file. Returns a new table the caller frees with
 * config_env_free(), or NULL with err set (naming the bad line). */
config_env_t *config_env_parse(const char *text, size_t len, char *err, size_t errlen);
const char *config_env_get(const config_env_t *env, const char *name);
void config_env_free(config_env_t *env);

/* defaults <- .env (IMGCAP_ENV_FILE or ./.env, absent is fine) <- environment.
 * Returns 0, or -1 with err set. */
int config_load(config_t *cfg, char *err, size_t errlen);

#endif
