/* call.h - one HTTP request being answered: what its handler may use (the
 * server's shared parts, the matched route, a backend slot) and the helpers
 * every handler answers with (services/api/README.md, the table of files).
 *
 * A call lives on the stack of server.c's dispatch() for one request, on the
 * connection's own thread; handlers (handlers.h, images.h) fill its response.
 * Every reply helper sets the whole answer: status, body and Content-Type. */
#ifndef IMGCAP_API_CALL_H
#define IMGCAP_API_CALL_H

#include <jansson.h>
#include <ulfius.h>

#include "accesslog.h"
#include "backend.h"
#include "config.h"
#include "connguard.h"
#include "events.h"
#include "listcache.h"
#include "router.h"
#include "space.h"
#include "upload.h"

#define API_PROBLEM_VALIDATION "urn:imgcap:problem:validation-error"
#define API_PROBLEM_FAILED "urn:imgcap:problem:image-failed"
#define API_PROBLEM_QUEUE_FULL "urn:imgcap:problem:queue-full"
#define API_PROBLEM_UNAVAILABLE "urn:imgcap:problem:dependency-unavailable"
#define API_PROBLEM_STORAGE_FULL "urn:imgcap:problem:storage-full"
#define API_PROBLEM_QUEUE_MEMORY_FULL "urn:imgcap:problem:queue-memory-full"
#define API_PROBLEM_BAD_KEY "urn:imgcap:problem:idempotency-key-invalid"
#define API_PROBLEM_KEY_REUSED "urn:imgcap:problem:idempotency-key-reused"
#define API_PROBLEM_KEY_IN_USE "urn:imgcap:problem:idempotency-key-in-use"

/* Stored images never change. */
#define API_CACHE_IMMUTABLE "public, max-age=31536000, immutable"
/* Pages and embedded files keep their URLs across versions of the api: a
 * cache revalidates them each time (a 304 thanks to their ETag). */
#define API_CACHE_REVALIDATE "no-cache"
/* The block of a streamed body (a large stored image or embedded file). */
#define API_STREAM_BLOCK (64 * 1024)

typedef struct api_images api_images_t;

/* What the server shares with every handler; owned by server.c, lives as
 * long as the server. */
typedef struct api_env {
    const config_t *cfg;
    api_events_t *ev;
    api_images_t *images;   /* the image reads' caches (images.h) */
    api_listcache_t *lists; /* the newest list pages (listcache.h) */
    api_space_t *space;     /* STORAGE_DIR's free space (space.h) */
    api_connguard_t *guard; /* open connections, slow requests (connguard.h) */
    const char *docs_html;
    size_t docs_len;
} api_env_t;

typedef struct api_call {
    const api_env_t *env;
    api_match_t match; /* the route, and its "*" segment in match.param */
    const struct _u_request *req;
    struct _u_response *resp;
    char id[UUID_STR_LEN];               /* the image this request is about, for the access log */
    char why[API_ACCESSLOG_WHY_MAX + 1]; /* a problem's detail, for the access log */
    api_conn_t *conn; /* backend slot, taken on first use, returned by dispatch() */
} api_call_t;

typedef void (*api_handler_fn)(api_call_t *c);

/* The call's backend slot, taken on first use (waiting up to 5 s for a free
 * one). NULL when every slot stayed busy: the backend calls then fail like an
 * unreachable server and the handler answers 503. */
api_conn_t *api_call_conn(api_call_t *c);

/* Returns the slot, if any (before sleeping, and when the call ends). */
void api_call_release(api_call_t *c);

/* A request header (case-insensitive name) or query parameter; NULL when absent. */
const char *api_req_header(const api_call_t *c, const char *name);
const char *api_req_query(const api_call_t *c, const char *name);

void api_set_header(api_call_t *c, const char *name, const char *value);

/* ETag and Cache-Control together: what a cache needs to keep a response
 * and revalidate it. */
void api_set_cache_headers(api_call_t *c, const char *etag, const char *cache_control);

/* The body [body, body + len) (copied) with status and type. */
void api_reply_bytes(api_call_t *c, int status, const char *type, const char *body, size_t len);

/* A problem document (problem.h; extra is stolen, may be NULL); the detail,
 * or the first field error, also goes to the access log line. */
void api_reply_problem(api_call_t *c, int status, const char *type, const char *title,
                       const char *detail, const api_field_error_t *errs, int nerrs, json_t *extra);

/* 422: one query or path parameter is not valid. */
void api_reply_field_error(api_call_t *c, const char *field, const char *message);

/* 500 for an unexpected server-side failure: the cause (printf-like) goes to
 * the log, the client gets a problem document without internals. */
void api_reply_internal(api_call_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 503 + Retry-After (seconds, as text) of problem type (NULL: about:blank). */
void api_reply_unavailable(api_call_t *c, const char *type, const char *detail,
                           const char *retry_after);

/* 404: nothing at this path. */
void api_reply_not_found(api_call_t *c);

/* doc serialized compactly (stolen; NULL, when building it ran out of
 * memory, answers 500). */
void api_reply_json(api_call_t *c, int status, json_t *doc);

/* A response of status without a body whose Content-Length says len (a HEAD,
 * a 304). Returns 0, or -1 when out of memory with nothing answered. */
int api_reply_bodiless(api_call_t *c, int status, unsigned long long len);

/* 304 for a resource whose 200 body has bytes bytes (<= 0: unknown). The
 * caller sets the resource's ETag and Cache-Control. */
void api_reply_not_modified(api_call_t *c, long long bytes);

#endif
