/* listquery.h - GET /api/images with filters (docs/api.md): the
 * parameters parsed into one query, the SQL text and text parameters it
 * becomes, and the URL of its next page. Pure: no I/O, no allocation.
 *
 * The SQL (PostgreSQL, run with PQexecParams so that each query is planned
 * for its own values) reads images newest first by id, a keyset on the
 * primary key:
 *   - from/to become an id range on the primary key (a UUIDv7 carries its
 *     received_at's unix milliseconds in its first 48 bits) and, for the
 *     exact bound, received_at >= from / received_at < to;
 *   - q becomes lower(description) LIKE '%' || lower(<q, LIKE-escaped>) ||
 *     '%' ESCAPE '\', which the trigram index on lower(description) serves
 *     from three characters on;
 *   - camera: camera >= camera AND camera <= camera, ORDER BY camera DESC,
 *     id DESC. The same rows and order as camera = camera ORDER BY id DESC
 *     (a deterministic collation is equal only on equal bytes), but no
 *     longer a constant that makes the camera column drop out of the ORDER
 *     BY: only the index on (camera, id) gives that order, so it is used
 *     whatever the statistics say. With camera = ... the planner reads the
 *     primary key backward whenever a camera is frequent, and a camera
 *     whose frames are all old then costs a scan of every newer row;
 *   - before: id < before;
 *   - ORDER BY id DESC LIMIT limit + 1 (one more row says a next page exists).
 * Its columns, like the api's prepared list statements (backend.c): id,
 * received_at (RFC 3339 UTC, milliseconds), description, camera (NULL =
 * none), thumb_bytes (NULL = no thumbnail). */
#ifndef IMGCAP_API_LISTQUERY_H
#define IMGCAP_API_LISTQUERY_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

/* One list request, parsed and checked. */
typedef struct api_list_query {
    int limit;                 /* 1..API_LIMIT_MAX */
    char before[UUID_STR_LEN]; /* "" = the first page */
    int has_from, has_to;
    int64_t from_us, to_us; /* unix microseconds: from inclusive, to exclusive */
    const char *q;          /* NULL = none; else 1..200 code points of UTF-8 (borrowed) */
    const char *camera;     /* NULL = none; else a camera name (borrowed) */
} api_list_query_t;

/* The query parameters as received (NULL = absent). */
typedef struct api_list_params {
    const char *limit, *before, *from, *to, *q, *camera;
} api_list_params_t;

/* Parses every parameter (params.h) into out, which borrows q and camera
 * from in. A malformed parameter, or a `to` not after `from`, fails with
 * *field naming it ("limit", "before", "from", "to", "q", "camera").
 * Returns 0, or -1 with *field and err set. */
int api_listquery_parse(const api_list_params_t *in, api_list_query_t *out, const char **field,
                        char *err, size_t errlen);

/* 1 when from, to, q or camera is set (the query is built here), 0 when only
 * limit/before are (the api's prepared statements serve it). */
int api_listquery_filtered(const api_list_query_t *q);

#define API_LISTQUERY_MAX_PARAMS 8
#define API_LISTQUERY_SQL_MAX 1024
/* q LIKE-escaped: every byte at most doubled (200 code points of at most 4 bytes). */
#define API_LISTQUERY_PATTERN_MAX (2 * 4 * 200)

/* A built query: sql with placeholders $1..$nparams, params[i] the text of
 * $(i+1), pointing into this struct or into the query's q/camera (so it is
 * valid while both are). */
typedef struct api_list_sql {
    char sql[API_LISTQUERY_SQL_MAX];
    int nparams;
    const char *params[API_LISTQUERY_MAX_PARAMS];
    char from_id[UUID_STR_LEN], to_id[UUID_STR_LEN];
    char from_ts[32], to_ts[32];
    char pattern[API_LISTQUERY_PATTERN_MAX + 1];
    char limit[16];
} api_list_sql_t;

/* Builds the SQL of q (any combination of filters, none included). Returns
 * 0, or -1 when q holds what api_listquery_parse() never produces (a limit
 * out of range, a q too long or a time outside 0001..9999). */
int api_listquery_build(const api_list_query_t *q, api_list_sql_t *out);

/* s's LIKE pattern: % _ and \ each preceded by \ (for ESCAPE '\'). Returns
 * the pattern's length, or -1 when out (with its NUL) is too small. */
long api_like_escape(const char *s, char *out, size_t outlen);

/* The smallest UUID of millisecond unix_ms (clamped to 0 .. 2^48 - 1):
 * "xxxxxxxx-xxxx-0000-0000-000000000000", below every UUIDv7 of that
 * millisecond and above every one of earlier milliseconds (the SQL function
 * imgcap_uuid_floor() of deploy/sql/002_frame_store.sql). */
void api_uuid_floor(int64_t unix_ms, char out[UUID_STR_LEN]);

/* s[0..len) percent-encoded: every byte but the unreserved A-Z a-z 0-9 - . _ ~
 * (RFC 3986) as %XX (upper-case hex), into out with a NUL. Returns the encoded
 * length, or -1 when out is too small. */
long api_percent_encode(const char *s, size_t len, char *out, size_t outlen);

/* Long enough for every next URL: q percent-encoded (800 bytes x 3) and the
 * other parameters. */
#define API_LISTQUERY_URL_MAX 4096

/* The URL of the page after the one that ended with last_id:
 * /api/images?limit=N&before=<last_id>[&from=..][&to=..][&q=..][&camera=..],
 * every filter of q kept (from/to in UTC, time_format_rfc3339_us), each value
 * percent-encoded. Returns its length, or -1 when out is too small. */
long api_listquery_next_url(const api_list_query_t *q, const char *last_id, char *out,
                            size_t outlen);

#endif
