/* backend.h - the API's connections to Redis and PostgreSQL: a small bounded
 * pool of connection pairs that request handlers check out and return.
 *
 * Why a checkout pool: HTTP runs one thread per connection (server.h), so
 * thread-local connections would open a Redis and a PostgreSQL connection per
 * TCP connection. A pool of api_backend_size slots bounds them instead. A slot
 * is used by exactly one thread between acquire and release (hiredis contexts
 * and PGconn are not thread-safe but may change threads between uses), so the
 * "one connection, one user" rule holds; a handler never
 * keeps a slot while it sleeps (?wait releases it between checks).
 *
 * Connections open lazily. A call that finds its connection dead reconnects
 * once; when the server is down a slot does not retry for BACKEND_RETRY_MS,
 * so a burst of requests answers 503 at once instead of each one waiting for
 * a connect attempt. */
#ifndef IMGCAP_API_BACKEND_H
#define IMGCAP_API_BACKEND_H

#include <libpq-fe.h>

#include "config.h"
#include "rqueue.h"

typedef struct api_conn api_conn_t;

/* Creates the pool of size slots (no connection is opened yet). cfg must
 * outlive the pool. Returns 0, or -1 when out of memory. */
int api_backend_init(const config_t *cfg, int size);

/* Closes every connection and frees the pool. All slots must be released. */
void api_backend_shutdown(void);

/* Takes a free slot, waiting up to timeout_ms while all are in use (a server
 * that hangs instead of refusing can hold every slot). Returns the slot, or
 * NULL (logged) on timeout: the functions below accept it and fail with
 * "busy". */
api_conn_t *api_backend_acquire(int timeout_ms);
void api_backend_release(api_conn_t *c); /* NULL is fine */

/* Threads waiting in api_backend_acquire() right now (tests: a release is
 * known to wake a waiter only once one waits). */
int api_backend_waiting(void);

/* The slot's Redis connection, opened on first use. Returns it (owned by the
 * slot: do not close it), or NULL with err set when Redis is unreachable. */
rqueue_t *api_backend_redis(api_conn_t *c, char *err, size_t errlen);

/* Runs one of the API's prepared statements on the slot's PostgreSQL
 * connection, reconnecting once if the connection was lost (that is logged).
 * Returns a result with PGRES_TUPLES_OK the caller frees with PQclear(), or
 * NULL with err set (server down or query failed). */
typedef enum {
    API_SQL_LIST = 0,    /* $1 limit */
    API_SQL_LIST_BEFORE, /* $1 before id, $2 limit */
    API_SQL_GET,         /* $1 id -> path, bytes, thumb_bytes, deleted: always one row, path
                            NULL when there is no row, deleted 't' when the id was deleted */
    API_SQL_PING,
    API_SQL_EVENTS, /* $1 uuid[] -> id, received_at, description, stored_at, camera,
                       thumb_bytes */
    API_SQL_DELETE, /* $1 id, $2 in_pipeline -> 'deleted' | 'gone' | 'unknown' */
    API_SQL_COUNT
} api_sql_t;
PGresult *api_backend_query(api_conn_t *c, api_sql_t which, int nparams, const char *const *params,
                            char *err, size_t errlen);

/* Runs sql with text parameters $1..$nparams (PQexecParams: planned for
 * these values, for queries whose text varies, such as the filtered list of
 * listquery.h), reconnecting once like api_backend_query(). Returns a result
 * with PGRES_TUPLES_OK the caller frees with PQclear(), or NULL with err set. */
PGresult *api_backend_query_text(api_conn_t *c, const char *sql, int nparams,
                                 const char *const *params, char *err, size_t errlen);

#endif
