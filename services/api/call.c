/* call.c - a request's backend slot and the response helpers (see call.h). */
#include "call.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "problem.h"

#define BACKEND_WAIT_MS 5000
/* A bodiless response (304, HEAD) of a stream of this size: MHD sends its
 * Content-Length and never calls the reader, so the block it allocates and
 * zeroes for the reader need not be large. */
#define NO_BODY_BLOCK 64

api_conn_t *api_call_conn(api_call_t *c)
{
    if (c->conn == NULL) c->conn = api_backend_acquire(BACKEND_WAIT_MS);
    return c->conn;
}

void api_call_release(api_call_t *c)
{
    api_backend_release(c->conn);
    c->conn = NULL;
}

const char *api_req_header(const api_call_t *c, const char *name)
{
    return u_map_get_case(c->req->map_header, name);
}

const char *api_req_query(const api_call_t *c, const char *name)
{
    return u_map_get(c->req->map_url, name);
}

void api_set_header(api_call_t *c, const char *name, const char *value)
{
    u_map_put(c->resp->map_header, name, value);
}

void api_set_cache_headers(api_call_t *c, const char *etag, const char *cache_control)
{
    api_set_header(c, "ETag", etag);
    api_set_header(c, "Cache-Control", cache_control);
}

void api_reply_bytes(api_call_t *c, int status, const char *type, const char *body, size_t len)
{
    api_set_header(c, "Content-Type", type);
    if (ulfius_set_binary_body_response(c->resp, (unsigned int)status, body, len) != U_OK) {
        log_error("cannot set a response body of %zu bytes (out of memory)", len);
        c->resp->status = 500;
    }
}

/* Used when even building the problem document failed (out of memory). */
static const char FALLBACK_500[] =
    "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500}";

void api_reply_problem(api_call_t *c, int status, const char *type, const char *title,
                       const char *detail, const api_field_error_t *errs, int nerrs, json_t *extra)
{
    /* What the access log line of a refused request says (the first field
     * error names the culprit of a validation problem). */
    const char *said = detail != NULL ? detail : title != NULL ? title : api_status_title(status);
    if (nerrs > 0)
        snprintf(c->why, sizeof c->why, "%s (%s: %s)", said, errs[0].field, errs[0].message);
    else
        snprintf(c->why, sizeof c->why, "%s", said);
    char *doc = api_problem_json(status, type, title, detail, errs, nerrs, extra);
    if (doc == NULL) /* a detail or field text that is not UTF-8: keep the status */
        doc = api_problem_json(status, type, title, NULL, NULL, 0, NULL);
    json_decref(extra);
    if (doc == NULL) {
        log_error("cannot build the problem document for status %d", status);
        api_reply_bytes(c, 500, API_PROBLEM_CONTENT_TYPE, FALLBACK_500, sizeof FALLBACK_500 - 1);
        return;
    }
    api_reply_bytes(c, status, API_PROBLEM_CONTENT_TYPE, doc, strlen(doc));
    free(doc);
}

void api_reply_field_error(api_call_t *c, const char *field, const char *message)
{
    api_field_error_t e;
    snprintf(e.field, sizeof e.field, "%s", field);
    snprintf(e.message, sizeof e.message, "%s", message);
    api_reply_problem(c, 422, API_PROBLEM_VALIDATION, NULL, "a parameter is not valid", &e, 1,
                      NULL);
}

void api_reply_internal(api_call_t *c, const char *fmt, ...)
{
    char what[PATH_MAX * 2 + 256]; /* room for two paths and a reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    log_error("id=%s %s %s: %s", c->id[0] != '\0' ? c->id : "-", c->req->http_verb,
              c->req->url_path, what);
    api_reply_problem(c, 500, NULL, NULL, "an unexpected error occurred; it has been logged", NULL,
                      0, NULL);
}

void api_reply_unavailable(api_call_t *c, const char *type, const char *detail,
                           const char *retry_after)
{
    api_set_header(c, "Retry-After", retry_after);
    api_reply_problem(c, 503, type, NULL, detail, NULL, 0, NULL);
}

void api_reply_not_found(api_call_t *c)
{
    api_reply_problem(c, 404, NULL, NULL, "there is no resource at this path", NULL, 0, NULL);
}

void api_reply_json(api_call_t *c, int status, json_t *doc)
{
    char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (s == NULL) {
        api_reply_internal(c, "cannot serialize a JSON response (out of memory)");
        return;
    }
    api_reply_bytes(c, status, "application/json", s, strlen(s));
    free(s);
}

static ssize_t no_body(void *cls, uint64_t offset, char *buf, size_t max)
{
    (void)cls, (void)offset, (void)buf, (void)max;
    return U_STREAM_END;
}

int api_reply_bodiless(api_call_t *c, int status, unsigned long long len)
{
    return ulfius_set_stream_response(c->resp, (unsigned int)status, no_body, NULL, len,
                                      NO_BODY_BLOCK, NULL) == U_OK
               ? 0
               : -1;
}

/* A 304 carries no body, and RFC 9110 (8.6) lets its Content-Length only be
 * the size of the 200 body. MHD adds "Content-Length: 0" to an empty buffer
 * response, so the 304 is a bodiless stream response of the file's size
 * (MHD never reads a body for 304); without a known size it is an empty
 * buffer with the wrong but harmless length 0. */
void api_reply_not_modified(api_call_t *c, long long bytes)
{
    if (bytes <= 0 || api_reply_bodiless(c, 304, (unsigned long long)bytes) != 0)
        c->resp->status = 304;
}
