/* pgconn.h - PostgreSQL connection helpers shared by api and persist. One PGconn
 * per thread (libpq). */
#ifndef IMGCAP_PGCONN_H
#define IMGCAP_PGCONN_H

#include <libpq-fe.h>

#include "timeutil.h"

/* Connects to conninfo, retrying with jittered backoff (each attempt logged)
 * until it works, *stop becomes nonzero, or wait_ms passes (-1 = forever).
 * Returns a connection the caller owns (PQfinish), or NULL (logged). */
PGconn *pgconn_connect(const char *conninfo, int wait_ms, stop_flag_t *stop);

/* Makes sure conn is usable: if it is CONNECTION_BAD, PQreset once. Returns 0
 * when usable, or -1 (logged). *was_reset = 1 after a successful reset, so
 * prepared statements must be prepared again. */
int pgconn_ensure(PGconn *conn, int *was_reset);

/* Applies deploy/sql/NNN_*.sql files from sql_dir that are not yet in
 * schema_migrations, in order, each in its own transaction, under an advisory
 * lock so concurrent starters do not race. Returns 0, or -1 (logged). */
int pgconn_migrate(PGconn *conn, const char *sql_dir);

#endif
