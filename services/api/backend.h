/* backend.h - the API's connections to Redis and PostgreSQL.
 *
 * Ownership: every MHD worker thread lazily opens its own rqueue_t and PGconn
 * and keeps them in thread-local storage; a pthread key destructor closes them
 * when the thread exits (MHD_stop_daemon joins its pool). Why thread-local and
 * not an actor pool: a request handler already runs on one fixed pool thread,
 * so a thread-owned connection keeps the "one connection, one thread" rule of
 * design section 7 with no hop through a mailbox and no lock per query, and
 * the number of connections is bounded by the pool size (API threads + 1).
 *
 * Failure: a call that finds its connection dead drops it and reconnects once
 * (so a restarted Redis/PostgreSQL costs no error); when the server is down the
 * thread does not retry for BACKEND_RETRY_MS, so a burst of requests answers
 * 503 at once instead of each one waiting for a connect attempt. */
#ifndef IMGCAP_API_BACKEND_H
#define IMGCAP_API_BACKEND_H

#include <libpq-fe.h>

#include "config.h"
#include "rqueue.h"

/* Remembers cfg (which must outlive every thread using the backend). */
void api_backend_init(const config_t *cfg);

/* The calling thread's Redis connection, opened on first use; NULL with err
 * set when Redis is unreachable. Do not close it. */
rqueue_t *api_backend_redis(char *err, size_t errlen);

/* Runs one of the API's prepared statements on the thread's PostgreSQL
 * connection, reconnecting once if the connection was lost. Returns a result
 * with PGRES_TUPLES_OK the caller frees with PQclear(), or NULL with err set
 * (server down or query failed). */
typedef enum {
    API_SQL_LIST = 0,    /* $1 limit */
    API_SQL_LIST_BEFORE, /* $1 before id, $2 limit */
    API_SQL_GET,         /* $1 id -> path, bytes */
    API_SQL_PING,
    API_SQL_COUNT
} api_sql_t;
PGresult *api_backend_query(api_sql_t which, int nparams, const char *const *params,
                            char *err, size_t errlen);

/* Closes the calling thread's connections now (main thread at exit). */
void api_backend_release_thread(void);

#endif
