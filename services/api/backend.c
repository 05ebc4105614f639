/* backend.c - the pool of Redis and PostgreSQL connections (see backend.h). */
#include "backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pgconn.h"
#include "timeutil.h"

#define BACKEND_RETRY_MS 1000

static const struct {
    const char *name, *sql;
    int nparams;
} SQL[API_SQL_COUNT] = {
    /* images.id, not the output column id::text: only the uuid has an index, so
     * ordering by the text would scan and sort the whole table. */
    [API_SQL_LIST] = {"api_list",
                      "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description, camera, thumb_bytes "
                      "FROM images ORDER BY images.id DESC LIMIT $1::int",
                      1},
    [API_SQL_LIST_BEFORE] = {"api_list_before",
                             "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description, camera, "
                             "thumb_bytes FROM images "
                             "WHERE images.id < $1::uuid ORDER BY images.id DESC LIMIT $2::int",
                             2},
    /* One round trip tells a stored image from a deleted one: a deleted id
     * may still have a status in Redis, which must not make it "pending". */
    [API_SQL_GET] = {"api_get",
                     "SELECT i.path, i.bytes, i.thumb_bytes, d.id IS NOT NULL "
                     "FROM (VALUES ($1::uuid)) AS v (id) "
                     "LEFT JOIN images i ON i.id = v.id "
                     "LEFT JOIN image_deletions d ON d.id = v.id",
                     1},
    [API_SQL_PING] = {"api_ping", "SELECT 1", 0},
    [API_SQL_EVENTS] = {"api_events",
                        "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description, "
                        "to_char(stored_at AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), camera, thumb_bytes FROM images "
                        "WHERE id = ANY($1::uuid[])",
                        1},
    /* deploy/sql/002_frame_store.sql explains the function and its races. */
    [API_SQL_DELETE] = {"api_delete", "SELECT imgcap_delete_image($1::uuid, $2::boolean)", 2},
};

struct api_conn {
    rqueue_t *rq;
    uint64_t rq_retry_at; /* monotonic ms before which we do not reconnect */
    PGconn *pg;
    uint64_t pg_retry_at;
    api_conn_t *next_free;
};

static struct {
    const config_t *cfg;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    api_conn_t *slots;
    int size;
    int waiting; /* threads inside api_backend_acquire() waiting for a slot */
    api_conn_t *free_list;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER};

int api_backend_init(const config_t *cfg, int size)
{
    P.cfg = cfg;
    P.slots = calloc((size_t)size, sizeof *P.slots);
    if (P.slots == NULL) return -1;
    P.size = size;
    for (int i = 0; i < size; i++) {
        P.slots[i].next_free = P.free_list;
        P.free_list = &P.slots[i];
    }
    return 0;
}

void api_backend_shutdown(void)
{
    for (int i = 0; i < P.size; i++) {
        rqueue_close(P.slots[i].rq);
        if (P.slots[i].pg != NULL) PQfinish(P.slots[i].pg);
    }
    free(P.slots);
    P.slots = NULL;
    P.free_list = NULL;
    P.size = 0;
}

api_conn_t *api_backend_acquire(int timeout_ms)
{
    struct timespec ts;
    time_deadline(CLOCK_REALTIME, timeout_ms, &ts);
    pthread_mutex_lock(&P.mu);
    P.waiting++;
    while (P.free_list == NULL)
        if (pthread_cond_timedwait(&P.freed, &P.mu, &ts) != 0) break;
    P.waiting--;
    api_conn_t *c = P.free_list;
    if (c != NULL) P.free_list = c->next_free;
    pthread_mutex_unlock(&P.mu);
    if (c == NULL)
        log_warn("backend: all %d Redis/PostgreSQL slots busy for %d ms", P.size, timeout_ms);
    return c;
}

int api_backend_waiting(void)
{
    pthread_mutex_lock(&P.mu);
    int n = P.waiting;
    pthread_mutex_unlock(&P.mu);
    return n;
}

void api_backend_release(api_conn_t *c)
{
    if (c == NULL) return;
    pthread_mutex_lock(&P.mu);
    c->next_free = P.free_list;
    P.free_list = c;
    pthread_cond_signal(&P.freed);
    pthread_mutex_unlock(&P.mu);
}

static const char BUSY[] = "every backend connection is busy";

rqueue_t *api_backend_redis(api_conn_t *c, char *err, size_t errlen)
{
    if (c == NULL) {
        snprintf(err, errlen, "%s", BUSY);
        return NULL;
    }
    if (c->rq != NULL) return c->rq;
    if (time_mono_ms() < c->rq_retry_at) {
        snprintf(err, errlen, "Redis is unreachable (retrying shortly)");
        return NULL;
    }
    c->rq = rqueue_open(P.cfg->redis_url, P.cfg->redis_prefix, NULL, 0, NULL, err, errlen);
    if (c->rq == NULL) c->rq_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
    return c->rq;
}

static int prepare_all(PGconn *pg, char *err, size_t errlen)
{
    for (int i = 0; i < API_SQL_COUNT; i++) {
        PGresult *r = PQprepare(pg, SQL[i].name, SQL[i].sql, SQL[i].nparams, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) snprintf(err, errlen, "prepare %s: %s", SQL[i].name, PQerrorMessage(pg));
        PQclear(r);
        if (!ok) return -1;
    }
    return 0;
}

/* Opens the thread's connection if needed. 0 or -1 with err. */
static int pg_ready(api_conn_t *c, char *err, size_t errlen)
{
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK) return 0;
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (time_mono_ms() < c->pg_retry_at) {
        snprintf(err, errlen, "PostgreSQL is unreachable (retrying shortly)");
        return -1;
    }
    c->pg = pgconn_connect(P.cfg->database_url, 0, NULL);
    if (c->pg == NULL) {
        snprintf(err, errlen, "PostgreSQL is unreachable");
        c->pg_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
        return -1;
    }
    if (prepare_all(c->pg, err, errlen) != 0) {
        PQfinish(c->pg);
        c->pg = NULL;
        c->pg_retry_at = time_mono_ms() + BACKEND_RETRY_MS;
        return -1;
    }
    return 0;
}

/* One statement, prepared (name) or not (sql with its parameters), with
 * one fresh try after a lost connection; a query error gets none. */
static PGresult *exec_once_more(api_conn_t *c, const char *name, const char *sql, int nparams,
                                const char *const *params, char *err, size_t errlen)
{
    if (c == NULL) {
        snprintf(err, errlen, "%s", BUSY);
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pg_ready(c, err, errlen) != 0) return NULL;
        PGresult *r = name != NULL ? PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0)
                                   : PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
        snprintf(err, errlen, "%s: %s", name != NULL ? name : "query", PQerrorMessage(c->pg));
        PQclear(r);
        if (PQstatus(c->pg) == CONNECTION_OK) return NULL;
        log_warn("postgres: connection lost (%s), reconnecting", err);
    }
    return NULL;
}

PGresult *api_backend_query(api_conn_t *c, api_sql_t which, int nparams, const char *const *params,
                            char *err, size_t errlen)
{
    return exec_once_more(c, SQL[which].name, NULL, nparams, params, err, errlen);
}

PGresult *api_backend_query_text(api_conn_t *c, const char *sql, int nparams,
                                 const char *const *params, char *err, size_t errlen)
{
    return exec_once_more(c, NULL, sql, nparams, params, err, errlen);
}
