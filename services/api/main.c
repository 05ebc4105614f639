/* main.c - imgcap-api: the HTTP front of imgcap (services/api/README.md).
 *
 * Starts the events actor and the HTTP server, then waits for SIGINT/SIGTERM.
 * Redis and PostgreSQL may be down at start or at any time: the API stays up,
 * answers 503 where it needs them (and /health says which one is down), and
 * reconnects on its own, so a missing dependency never makes it crash-loop. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "actor.h"
#include "backend.h"
#include "check.h"
#include "events.h"
#include "rqha.h"
#include "service.h"
#include "server.h"
#include "config.h"
#include "log.h"
#include "timeutil.h"

#define CHECK_TIMEOUT_MS 4000 /* under the compose healthcheck timeout (5 s) */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgcap-api [--help | --check]\n"
            "\n"
            "Serves the imgcap HTTP API (docs/api.md):\n"
            "  POST /api/images            upload a JPEG and a description (multipart)\n"
            "  GET  /api/images            list stored images, newest first\n"
            "  GET  /api/images/{id}       the captioned JPEG (?wait=N to wait for it)\n"
            "  GET  /api/images/{id}/thumbnail  its thumbnail\n"
            "  DELETE /api/images/{id}     delete it (needs API_TOKEN)\n"
            "  GET  /api/events            stored/failed/deleted events (Server-Sent Events)\n"
            "  GET  /                      the gallery page; /docs Swagger UI\n"
            "  GET  /health, /metrics, /api/openapi.json, /assets/...\n"
            "\n"
            "--check asks the API on API_HOST:API_PORT for GET /health and exits 0 when it\n"
            "answers 200 (Redis and PostgreSQL reachable), 1 otherwise: the Docker\n"
            "healthcheck.\n"
            "\n"
            "Configuration comes from the environment and the .env file\n"
            "(IMGCAP_ENV_FILE, default ./.env). Used here: API_HOST, API_PORT, API_WORKERS\n"
            "(Redis/PostgreSQL connections = max(4*API_WORKERS, 16)), REDIS_URL, REDIS_PREFIX,\n"
            "DATABASE_URL, STORAGE_DIR, STORAGE_MIN_FREE, MAX_UPLOAD_BYTES, QUEUE_MAX_DEPTH,\n"
            "LEASE_SECONDS, SWAGGER_UI_URL, API_TOKEN, API_TOKEN_READS, IDEMPOTENCY_TTL,\n"
            "EVENTS_MAX_CLIENTS, API_PER_IP_CONNECTIONS, LOG_DIR, LOG_LEVEL, SHUTDOWN_SECONDS.\n");
}

int main(int argc, char **argv)
{
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return SERVICE_EXIT_OK;
        }
        if (strcmp(argv[i], "--check") == 0) {
            check = 1;
            continue;
        }
        fprintf(stderr, "imgcap-api: unknown argument %s\n", argv[i]);
        usage(stderr);
        return SERVICE_EXIT_USAGE;
    }

    /* Not service_config(): that one would link the consumer into the api. */
    static config_t cfg;
    char err[1024];
    if (config_load(&cfg, err, sizeof err) != 0 || rq_ha_configure(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "imgcap-api: configuration: %s\n", err);
        return SERVICE_EXIT_CONFIG;
    }
    if (check) {
        char body[2048];
        int status = api_check_health(&cfg, CHECK_TIMEOUT_MS, body, sizeof body);
        printf("%d %s\n", status, body);
        return status == 200 ? SERVICE_EXIT_OK : SERVICE_EXIT_FAILURE;
    }
    log_set_stderr_copy(cfg.log_stderr);
    if (log_open("api", cfg.log_dir, (log_level_t)cfg.log_level) != 0)
        log_warn("cannot open the log file in %s, logging to stderr only", cfg.log_dir);
    log_set_thread_name("main");
    actor_install_signals();
    if (api_backend_init(&cfg, api_server_backend_size(&cfg)) != 0) {
        log_error("cannot create the backend pool: out of memory");
        log_close();
        return SERVICE_EXIT_FAILURE;
    }
    api_events_t *ev = api_events_start(&cfg, API_MAX_WAITERS);
    if (ev == NULL) {
        log_error("cannot start the events actor");
        api_backend_shutdown();
        log_close();
        return SERVICE_EXIT_FAILURE;
    }
    api_server_t *srv = api_server_start(&cfg, ev, err, sizeof err);
    if (srv == NULL) {
        log_error("cannot start the HTTP server: %s", err);
        api_events_stop(ev);
        api_backend_shutdown();
        log_close();
        return SERVICE_EXIT_FAILURE;
    }
    log_info("imgcap-api started");

    while (!atomic_load(&actor_shutdown_requested)) time_sleep_ms(200, &actor_shutdown_requested);

    log_info("stopping: no new connections, waking held requests");
    api_server_quiesce(srv);
    api_events_quiesce(ev);
    int left = api_server_drain(srv, cfg.shutdown_seconds * 1000);
    if (left > 0)
        log_warn("%d requests still in progress after SHUTDOWN_SECONDS: closing them", left);
    api_server_stop(srv);
    api_events_stop(ev);
    api_backend_shutdown();
    log_info("imgcap-api stopped");
    log_close();
    return SERVICE_EXIT_OK;
}
