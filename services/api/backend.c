/* backend.c - thread-local Redis and PostgreSQL connections (see backend.h). */
#include "backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "timeutil.h"

#define BACKEND_RETRY_MS 1000

static const struct {
    const char *name, *sql;
    int nparams;
} SQL[API_SQL_COUNT] = {
    [API_SQL_LIST] = {"api_list",
                      "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description FROM images "
                      "ORDER BY id DESC LIMIT $1::int", 1},
    [API_SQL_LIST_BEFORE] = {"api_list_before",
                             "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description FROM images "
                             "WHERE id < $1::uuid ORDER BY id DESC LIMIT $2::int", 2},
    [API_SQL_GET] = {"api_get", "SELECT path, bytes FROM images WHERE id = $1::uuid", 1},
    [API_SQL_PING] = {"api_ping", "SELECT 1", 0},
};

typedef struct conns {
    rqueue_t *rq;
    uint64_t rq_retry_at; /* monotonic ms before which we do not reconnect */
    PGconn *pg;
    uint64_t pg_retry_at;
} conns_t;

static const config_t *CFG;
static pthread_key_t KEY;
static pthread_once_t KEY_ONCE = PTHREAD_ONCE_INIT;

static void conns_free(void *p)
{
    conns_t *c = p;
    if (c == NULL)
        return;
    rqueue_close(c->rq);
    if (c->pg != NULL)
        PQfinish(c->pg);
    free(c);
}

static void make_key(void)
{
    pthread_key_create(&KEY, conns_free);
}

void api_backend_init(const config_t *cfg)
{
    CFG = cfg;
    pthread_once(&KEY_ONCE, make_key);
}

static conns_t *thread_conns(void)
{
    conns_t *c = pthread_getspecific(KEY);
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return NULL;
        pthread_setspecific(KEY, c);
    }
    return c;
}

void api_backend_release_thread(void)
{
    conns_free(pthread_getspecific(KEY));
    pthread_setspecific(KEY, NULL);
}

rqueue_t *api_backend_redis(char *err, size_t errlen)
{
    conns_t *c = thread_conns();
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->rq != NULL)
        return c->rq;
    if (time_mono_ms() < c->rq_retry_at) {
        snprintf(err, errlen, "Redis is unreachable (retrying shortly)");
        return NULL;
    }
    c->rq = rqueue_open(CFG->redis_url, CFG->redis_prefix, NULL, 0, err, errlen);
    if (c->rq == NULL) {
        c->rq_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
        log_warn("redis: %s", err);
    }
    return c->rq;
}

static int prepare_all(PGconn *pg, char *err, size_t errlen)
{
    for (int i = 0; i < API_SQL_COUNT; i++) {
        PGresult *r = PQprepare(pg, SQL[i].name, SQL[i].sql, SQL[i].nparams, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "prepare %s: %s", SQL[i].name, PQerrorMessage(pg));
        PQclear(r);
        if (!ok)
            return -1;
    }
    return 0;
}

/* Opens the thread's connection if needed. 0 or -1 with err. */
static int pg_ready(conns_t *c, char *err, size_t errlen)
{
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (time_mono_ms() < c->pg_retry_at) {
        snprintf(err, errlen, "PostgreSQL is unreachable (retrying shortly)");
        return -1;
    }
    c->pg = pgconn_connect(CFG->database_url, 0, NULL);
    if (c->pg == NULL) {
        snprintf(err, errlen, "PostgreSQL is unreachable");
        c->pg_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
        return -1;
    }
    if (prepare_all(c->pg, err, errlen) != 0) {
        log_error("postgres: %s", err);
        PQfinish(c->pg);
        c->pg = NULL;
        c->pg_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
        return -1;
    }
    return 0;
}

PGresult *api_backend_query(api_sql_t which, int nparams, const char *const *params,
                            char *err, size_t errlen)
{
    conns_t *c = thread_conns();
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pg_ready(c, err, errlen) != 0)
            return NULL;
        PGresult *r = PQexecPrepared(c->pg, SQL[which].name, nparams, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            return r;
        snprintf(err, errlen, "%s: %s", SQL[which].name, PQerrorMessage(c->pg));
        PQclear(r);
        /* A lost connection gets one fresh try; a query error does not. */
        if (PQstatus(c->pg) == CONNECTION_OK)
            return NULL;
        log_warn("postgres: connection lost (%s), reconnecting", err);
    }
    return NULL;
}
