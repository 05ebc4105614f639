/* server.c - Ulfius instance, routing and request handlers (see server.h). */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ulfius.h>

#include "accesslog.h"
#include "backend.h"
#include "blobcache.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "problem.h"
#include "rowcache.h"
#include "rqueue.h"
#include "timeutil.h"
#include "upload.h"
#include "utf8.h"
#include "uuid.h"
#include "wire.h"

/* services/api/openapi.json, embedded at build time (Makefile rule). */
extern const unsigned char api_openapi_json[];
extern const unsigned long api_openapi_json_len;

#define PROBLEM_VALIDATION "urn:imgcap:problem:validation-error"
#define PROBLEM_FAILED "urn:imgcap:problem:image-failed"
#define PROBLEM_QUEUE_FULL "urn:imgcap:problem:queue-full"
#define PROBLEM_UNAVAILABLE "urn:imgcap:problem:dependency-unavailable"

#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define STREAM_BLOCK (64 * 1024)
#define CONNECTION_TIMEOUT_S 60 /* idle keep-alive; above the longest ?wait */
#define THREAD_STACK_BYTES (512 * 1024)
#define ROWCACHE_SLOTS 8192 /* about 2.3 MB: the hot working set of reads */
/* Stored files kept in memory: 32 MiB is about 700 typical (~45 KB)
 * captioned photos, and keeps the api under the 64 MB of resident memory a
 * service may take (about 20 MB without the cache); a file above
 * BLOB_MAX_BYTES is streamed from disk. */
#define BLOB_SLOTS 4096
#define BLOB_CACHE_BYTES (32u * 1024 * 1024)
#define BLOB_MAX_BYTES (1024 * 1024)

typedef struct call call_t;
typedef void (*handler_fn)(call_t *c);

typedef struct route {
    api_route_t id;
    const char *path;  /* its segments, '/'-separated; "*" is the {id} segment */
    const char *allow; /* methods for 405's Allow header */
    handler_fn get;    /* GET and HEAD */
    handler_fn post;
    int read_auth; /* guarded by API_TOKEN when API_TOKEN_READS=1 */
} route_t;

struct api_server {
    const config_t *cfg;
    api_events_t *ev;
    struct _u_instance inst;
    int inst_ready;
    struct sockaddr_storage addr;
    char *docs_html;
    size_t docs_len;
    pthread_mutex_t storage_mu;
    char storage_real[PATH_MAX];
    atomic_int in_progress; /* requests between their request line and completion */
    api_rowcache_t *cache;  /* stored images: id -> resolved path */
    api_blobcache_t *blobs; /* stored images: id -> file bytes */
    api_accesslog_t *alog;  /* one line per request (accesslog.h) */
};

struct call {
    api_server_t *srv;
    const route_t *route;
    const struct _u_request *req;
    struct _u_response *resp;
    char param[UUID_STR_LEN + 1]; /* the route's {id} segment, decoded; longer is cut */
    char id[UUID_STR_LEN];        /* the image this request is about, for the access log */
    char why[API_ACCESSLOG_WHY_MAX + 1]; /* a problem's detail, for the access log */
    api_conn_t *conn;             /* backend slot, taken on first use, returned by dispatch() */
};

#define BACKEND_WAIT_MS 5000

/* NULL when every slot stayed busy: the backend calls then fail like an
 * unreachable server and the handler answers 503. */
static api_conn_t *conn_of(call_t *c)
{
    if (c->conn == NULL) c->conn = api_backend_acquire(BACKEND_WAIT_MS);
    return c->conn;
}

static void conn_release(call_t *c)
{
    api_backend_release(c->conn);
    c->conn = NULL;
}

/* ---- responses ---- */

static void set_header(call_t *c, const char *name, const char *value)
{
    u_map_put(c->resp->map_header, name, value);
}

static void reply_bytes(call_t *c, int status, const char *type, const char *body, size_t len)
{
    set_header(c, "Content-Type", type);
    if (ulfius_set_binary_body_response(c->resp, (unsigned int)status, body, len) != U_OK) {
        log_error("cannot set a response body of %zu bytes (out of memory)", len);
        c->resp->status = 500;
    }
}

/* Used when even building the problem document failed (out of memory). */
static const char FALLBACK_500[] =
    "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500}";

static void reply_problem(call_t *c, int status, const char *type, const char *title,
                          const char *detail, const api_field_error_t *errs, int nerrs,
                          json_t *extra)
{
    /* What the access log line of a refused request says (the first field
     * error names the culprit of a validation problem). */
    const char *said = detail ? detail : title ? title : api_status_title(status);
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
        reply_bytes(c, 500, API_PROBLEM_CONTENT_TYPE, FALLBACK_500, sizeof FALLBACK_500 - 1);
        return;
    }
    reply_bytes(c, status, API_PROBLEM_CONTENT_TYPE, doc, strlen(doc));
    free(doc);
}

static void reply_field_error(call_t *c, const char *field, const char *message)
{
    api_field_error_t e;
    snprintf(e.field, sizeof e.field, "%s", field);
    snprintf(e.message, sizeof e.message, "%s", message);
    reply_problem(c, 422, PROBLEM_VALIDATION, NULL, "a parameter is not valid", &e, 1, NULL);
}

/* An unexpected server-side failure: the cause goes to the log, the client
 * gets a problem+json 500 without internals. */
static void reply_internal(call_t *c, const char *what)
{
    log_error("id=%s %s %s: %s", c->id[0] ? c->id : "-", c->req->http_verb, c->req->url_path, what);
    reply_problem(c, 500, NULL, NULL, "an unexpected error occurred; it has been logged", NULL, 0,
                  NULL);
}

static void reply_unavailable(call_t *c, const char *type, const char *detail,
                              const char *retry_after)
{
    set_header(c, "Retry-After", retry_after);
    reply_problem(c, 503, type, NULL, detail, NULL, 0, NULL);
}

/* Steals doc. */
static void reply_json(call_t *c, int status, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (s == NULL) {
        reply_internal(c, "cannot serialize a JSON response (out of memory)");
        return;
    }
    reply_bytes(c, status, "application/json", s, strlen(s));
    free(s);
}

static const char *req_header(call_t *c, const char *name)
{
    return u_map_get_case(c->req->map_header, name);
}

static const char *req_query(call_t *c, const char *name)
{
    return u_map_get(c->req->map_url, name);
}

/* ---- POST /api/images ---- */

static long long declared_length(call_t *c)
{
    const char *s = req_header(c, "Content-Length");
    if (s == NULL || *s == '\0') return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) return -1;
    return v;
}

static void handle_upload(call_t *c)
{
    const config_t *cfg = c->srv->cfg;
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    if (api_upload_check(req_header(c, "Content-Type"), declared_length(c), c->req->binary_body,
                         c->req->binary_body_length, cfg->max_upload_bytes, parts, &v) != 0) {
        reply_problem(c, v.status, v.status == 422 ? PROBLEM_VALIDATION : NULL, v.title, v.detail,
                      v.errors, v.nerrors, NULL);
        return;
    }

    char err[256];
    rqueue_t *rq = api_backend_redis(conn_of(c), err, sizeof err);
    if (rq == NULL) {
        reply_unavailable(c, PROBLEM_UNAVAILABLE, "the queue (Redis) is unreachable", "2");
        return;
    }
    /* A dead connection is only noticed by the command that fails on it and
     * rqueue reconnects on the next call: idempotent reads get one retry, so a
     * restarted Redis costs no error (this LLEN also vets the connection the
     * enqueue will use, which must not be retried blindly). */
    long long waiting = rqueue_waiting(rq, RQ_QUEUE_RENDER);
    if (waiting < 0) waiting = rqueue_waiting(rq, RQ_QUEUE_RENDER);
    if (waiting < 0) {
        log_warn("redis: LLEN q:render failed: %s", rqueue_error(rq));
        reply_unavailable(c, PROBLEM_UNAVAILABLE, "the queue (Redis) is unreachable", "2");
        return;
    }
    if (waiting >= cfg->queue_max_depth) {
        reply_unavailable(c, PROBLEM_QUEUE_FULL,
                          "the render queue is full (QUEUE_MAX_DEPTH); retry later", "1");
        return;
    }

    wire_msg_t m;
    memset(&m, 0, sizeof m);
    uint64_t now = time_now_ms();
    if (uuid_v7_make(now, m.id) != 0) {
        reply_internal(c, "uuid_v7_make failed: no randomness");
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", m.id);
    time_format_rfc3339_ms(now, m.received_at, sizeof m.received_at);
    /* At most 200 code points of at most 4 bytes: validated, so it fits. */
    memcpy(m.description, v.description, v.description_len);
    m.description[v.description_len] = '\0';
    m.jpeg = v.image;
    m.jpeg_len = v.image_len;
    unsigned char *payload = NULL;
    size_t plen = 0;
    if (wire_encode(&m, &payload, &plen, err, sizeof err) != 0) {
        reply_internal(c, err);
        return;
    }
    int rc = rqueue_enqueue(rq, RQ_QUEUE_RENDER, m.id, payload, plen);
    free(payload);
    if (rc != 0) {
        log_error("id=%s enqueue failed: %s", m.id, rqueue_error(rq));
        reply_unavailable(c, PROBLEM_UNAVAILABLE, "the queue (Redis) is unreachable", "2");
        return;
    }
    api_metrics_upload_accepted();
    char location[64];
    snprintf(location, sizeof location, "/api/images/%s", m.id);
    set_header(c, "Location", location);
    reply_json(c, 202,
               json_pack("{s:s, s:s, s:s, s:s%}", "id", m.id, "status", "queued", "received_at",
                         m.received_at, "description", m.description, v.description_len));
}

/* ---- GET /api/images ---- */

static void handle_list(call_t *c)
{
    char err[160], before[UUID_STR_LEN] = "";
    int limit;
    if (api_parse_limit(req_query(c, "limit"), &limit, err, sizeof err) != 0) {
        reply_field_error(c, "limit", err);
        return;
    }
    const char *b = req_query(c, "before");
    if (b != NULL && api_parse_id(b, before, err, sizeof err) != 0) {
        reply_field_error(c, "before", err);
        return;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more tells whether a next page exists */
    const char *params[2] = {before, lim};
    char dberr[512];
    PGresult *r = before[0] ? api_backend_query(conn_of(c), API_SQL_LIST_BEFORE, 2, params, dberr,
                                                sizeof dberr)
                            : api_backend_query(conn_of(c), API_SQL_LIST, 1, params + 1, dberr,
                                                sizeof dberr);
    if (r == NULL) {
        log_warn("list: %s", dberr);
        reply_unavailable(c, PROBLEM_UNAVAILABLE, "the database is unreachable", "2");
        return;
    }
    int rows = PQntuples(r);
    int n = rows > limit ? limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < n && items != NULL; i++) {
        char url[64];
        snprintf(url, sizeof url, "/api/images/%s", PQgetvalue(r, i, 0));
        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, i, 0),
                                               "received_at", PQgetvalue(r, i, 1), "description",
                                               PQgetvalue(r, i, 2), "url", url));
    }
    json_t *next = json_null();
    if (rows > limit) {
        char url[128], link[160];
        snprintf(url, sizeof url, "/api/images?limit=%d&before=%s", limit, PQgetvalue(r, n - 1, 0));
        snprintf(link, sizeof link, "<%s>; rel=\"next\"", url);
        set_header(c, "Link", link);
        json_decref(next);
        next = json_string(url);
    }
    PQclear(r);
    reply_json(c, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}

/* ---- GET/HEAD /api/images/{id} ---- */

typedef enum { IMG_ERROR, IMG_STORED, IMG_PENDING, IMG_FAILED, IMG_UNKNOWN } img_state_t;

typedef struct lookup {
    img_state_t state;
    char path[1024];    /* IMG_STORED: relative to STORAGE_DIR */
    long long bytes;    /* IMG_STORED: file size from the row, -1 if unknown */
    int cached;         /* IMG_STORED from the row cache: path is resolved */
    rq_status_t status; /* IMG_PENDING / IMG_FAILED */
    char err[512];      /* IMG_ERROR: what was unreachable */
} lookup_t;

static void look_up(api_conn_t *conn, const char *id, lookup_t *out)
{
    memset(out, 0, sizeof *out);
    const char *params[1] = {id};
    PGresult *r = api_backend_query(conn, API_SQL_GET, 1, params, out->err, sizeof out->err);
    if (r == NULL) {
        out->state = IMG_ERROR;
        return;
    }
    if (PQntuples(r) > 0) {
        snprintf(out->path, sizeof out->path, "%s", PQgetvalue(r, 0, 0));
        out->bytes = PQgetisnull(r, 0, 1) ? -1 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
        out->state = IMG_STORED;
        return;
    }
    PQclear(r);
    rqueue_t *rq = api_backend_redis(conn, out->err, sizeof out->err);
    if (rq == NULL) {
        out->state = IMG_ERROR;
        return;
    }
    if (rqueue_get_status(rq, id, &out->status) != 0 &&
        rqueue_get_status(rq, id, &out->status) != 0) { /* one retry: see handle_upload */
        snprintf(out->err, sizeof out->err, "%s", rqueue_error(rq));
        out->state = IMG_ERROR;
        return;
    }
    if (out->status.stage[0] == '\0')
        out->state = IMG_UNKNOWN;
    else if (strcmp(out->status.stage, "failed") == 0)
        out->state = IMG_FAILED;
    else
        out->state = IMG_PENDING; /* "stored" here means the row is being committed */
}

/* The resolved STORAGE_DIR, computed once it exists (persist may create it
 * after the API starts). */
static int storage_root(api_server_t *s, char *out)
{
    pthread_mutex_lock(&s->storage_mu);
    if (s->storage_real[0] == '\0' && realpath(s->cfg->storage_dir, s->storage_real) == NULL)
        s->storage_real[0] = '\0';
    snprintf(out, PATH_MAX, "%s", s->storage_real);
    pthread_mutex_unlock(&s->storage_mu);
    return out[0] ? 0 : -1;
}

typedef struct file_stream {
    int fd;
} file_stream_t;

static ssize_t file_stream_read(void *cls, uint64_t offset, char *buf, size_t max)
{
    file_stream_t *f = cls;
    ssize_t n;
    do {
        n = pread(f->fd, buf, max, (off_t)offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        log_error("reading a stored image failed: %s", strerror(errno));
        return U_STREAM_ERROR;
    }
    return n == 0 ? U_STREAM_END : n;
}

static void file_stream_free(void *cls)
{
    file_stream_t *f = cls;
    close(f->fd);
    free(f);
}

/* Resolves relpath inside STORAGE_DIR into real (a PATH_MAX buffer), refusing
 * any path that escapes it. 0, or -1 after answering 500. */
static int resolve_stored(call_t *c, const char *relpath, char *real)
{
    char root[PATH_MAX], full[PATH_MAX * 2], why[PATH_MAX + 128];
    if (storage_root(c->srv, root) != 0) {
        snprintf(why, sizeof why, "STORAGE_DIR %s: %s", c->srv->cfg->storage_dir, strerror(errno));
        reply_internal(c, why);
        return -1;
    }
    snprintf(full, sizeof full, "%s/%s", root, relpath);
    if (realpath(full, real) == NULL) {
        snprintf(why, sizeof why, "stored file %s: %s", relpath, strerror(errno));
        reply_internal(c, why);
        return -1;
    }
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
        snprintf(why, sizeof why, "refusing stored path %s: it escapes STORAGE_DIR", relpath);
        reply_internal(c, why);
        return -1;
    }
    return 0;
}

static ssize_t no_body(void *cls, uint64_t offset, char *buf, size_t max)
{
    (void)cls, (void)offset, (void)buf, (void)max;
    return U_STREAM_END;
}

/* A bodiless response (304, HEAD) of a stream of this size: MHD sends its
 * Content-Length and never calls the reader, so the block it allocates and
 * zeroes for the reader need not be large. */
#define NO_BODY_BLOCK 64

/* Sets up the 200 with b's bytes. 0, or ENOMEM with nothing answered.
 *
 * A body buffer rather than a stream: MHD sends the headers and a buffer body
 * in one sendmsg(), a stream in two sends after zeroing a block for it (the
 * stream measured ~10 % fewer requests/s). Ulfius copies the body twice on
 * the way (here, then into MHD's buffer); no call of its API avoids that. */
static int send_blob(call_t *c, const char *etag, const api_blob_t *b)
{
    int head = c->req->http_verb != NULL && strcmp(c->req->http_verb, "HEAD") == 0;
    if (head && b->len > 0) {
        if (ulfius_set_stream_response(c->resp, 200, no_body, NULL, b->len, NO_BODY_BLOCK, NULL) !=
            U_OK)
            return ENOMEM;
    } else if (ulfius_set_binary_body_response(c->resp, 200, (const char *)b->data, b->len) !=
               U_OK) {
        return ENOMEM;
    }
    set_header(c, "Content-Type", "image/jpeg");
    set_header(c, "ETag", etag);
    set_header(c, "Cache-Control", CACHE_IMMUTABLE);
    return 0;
}

/* Reads the whole regular file open as fd (st its fstat) into a new blob. */
static api_blob_t *read_blob(const char *id, const char *real, int fd, const struct stat *st,
                             int *e)
{
    api_blob_t *b = api_blob_new(id, real, (size_t)st->st_size);
    if (b == NULL) {
        *e = ENOMEM;
        return NULL;
    }
    size_t got = 0;
    while (got < b->len) {
        ssize_t n = pread(fd, b->data + got, b->len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *e = n < 0 ? errno : EIO; /* shorter than its fstat: being replaced */
            api_blob_release(b);
            return NULL;
        }
        got += (size_t)n;
    }
    b->dev = st->st_dev;
    b->ino = st->st_ino;
    b->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    return b;
}

/* Sets up the 200 with the file at real: read into the blob cache when it is
 * small enough, streamed otherwise. 0, or an errno value with nothing
 * answered yet. */
static int send_file(call_t *c, const char *id, const char *etag, const char *real)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (e == 0 && st.st_size <= BLOB_MAX_BYTES) {
        api_blob_t *b = read_blob(id, real, fd, &st, &e);
        close(fd);
        if (b == NULL) return e;
        api_blobcache_put(c->srv->blobs, b);
        e = send_blob(c, etag, b);
        api_blob_release(b);
        return e;
    }
    if (e != 0) {
        close(fd);
        return e;
    }
    file_stream_t *f = malloc(sizeof *f);
    if (f == NULL) {
        close(fd);
        return ENOMEM;
    }
    f->fd = fd;
    /* Streamed with pread() in 64 KiB blocks: memory per request stays
     * bounded whatever the file size. MHD sends Content-Length from the
     * stream size and, for HEAD, never calls the reader. */
    if (ulfius_set_stream_response(c->resp, 200, file_stream_read, file_stream_free,
                                   (uint64_t)st.st_size, STREAM_BLOCK, f) != U_OK) {
        file_stream_free(f);
        return ENOMEM;
    }
    set_header(c, "Content-Type", "image/jpeg");
    set_header(c, "ETag", etag);
    set_header(c, "Cache-Control", CACHE_IMMUTABLE);
    return 0;
}

/* A 304 carries no body, and RFC 9110 (8.6) lets its Content-Length only be
 * the size of the 200 body. MHD adds "Content-Length: 0" to an empty buffer
 * response, so the 304 is a bodiless stream response of the file's size
 * (MHD never reads a body for 304); without a known size it is an empty
 * buffer with the wrong but harmless length 0. */
static void not_modified(call_t *c, long long bytes)
{
    if (bytes <= 0 || ulfius_set_stream_response(c->resp, 304, no_body, NULL, (uint64_t)bytes,
                                                 NO_BODY_BLOCK, NULL) != U_OK)
        c->resp->status = 304;
}

/* Cuts s at its first invalid UTF-8 sequence. */
static void utf8_truncate_valid(char *s)
{
    size_t len = strlen(s), pos = 0;
    while (pos < len) {
        size_t at = pos;
        if (utf8_next(s, len, &pos) < 0) {
            s[at] = '\0';
            return;
        }
    }
}

/* Finds where id stands, holding the request up to wait_s seconds while it is
 * in the pipeline. */
static void find_image(call_t *c, const char *id, int wait_s, int use_cache, lookup_t *lk)
{
    memset(lk, 0, sizeof *lk);
    if (use_cache && api_rowcache_get(c->srv->cache, id, lk->path, &lk->bytes)) {
        lk->state = IMG_STORED;
        lk->cached = 1;
        return;
    }
    api_waiter_t *w = NULL;
    uint64_t deadline = time_mono_ms() + (uint64_t)wait_s * 1000;
    for (;;) {
        look_up(conn_of(c), id, lk);
        if (lk->state != IMG_PENDING || wait_s == 0) break;
        conn_release(c); /* never hold a backend slot while sleeping */
        if (w == NULL) {
            /* Register, then look again: an event between the first look and
             * the registration would otherwise be missed. */
            w = api_waiter_add(c->srv->ev, id);
            if (w == NULL) break; /* too many waiters or stopping: answer now */
            continue;
        }
        uint64_t now = time_mono_ms();
        if (now >= deadline) break;
        uint64_t left = deadline - now;
        if (api_waiter_wait(c->srv->ev, w, left > 1000 ? 1000 : (int)left) < 0) break;
    }
    api_waiter_remove(c->srv->ev, w);
}

/* Answers a stored image (200, 304 or 500). Returns 1 without answering when
 * a cached entry's file has vanished: the caller evicts it and looks again. */
static int serve_stored(call_t *c, const char *id, const lookup_t *lk)
{
    char etag[UUID_STR_LEN + 2], real[PATH_MAX], why[PATH_MAX + 64];
    snprintf(etag, sizeof etag, "\"%s\"", id);
    if (api_etag_matches(req_header(c, "If-None-Match"), etag)) {
        set_header(c, "ETag", etag);
        set_header(c, "Cache-Control", CACHE_IMMUTABLE);
        not_modified(c, lk->bytes);
        return 0;
    }
    if (lk->cached)
        snprintf(real, sizeof real, "%s", lk->path);
    else if (resolve_stored(c, lk->path, real) != 0)
        return 0;
    int e = send_file(c, id, etag, real);
    if (e != 0 && lk->cached) return 1;
    if (e != 0) {
        snprintf(why, sizeof why, "stored file %s: %s", real, strerror(e));
        reply_internal(c, why);
        return 0;
    }
    if (!lk->cached) api_rowcache_put(c->srv->cache, id, real, lk->bytes);
    return 0;
}

/* Answers from the blob cache (200 or 304). Returns 1 without answering when
 * the file the blob was read from is gone or was replaced. */
static int serve_blob(call_t *c, const char *id, api_blob_t *b)
{
    char etag[UUID_STR_LEN + 2];
    snprintf(etag, sizeof etag, "\"%s\"", id);
    if (api_etag_matches(req_header(c, "If-None-Match"), etag)) {
        set_header(c, "ETag", etag);
        set_header(c, "Cache-Control", CACHE_IMMUTABLE);
        not_modified(c, (long long)b->len);
        return 0;
    }
    if (!api_blob_current(b)) return 1;
    if (send_blob(c, etag, b) != 0) reply_internal(c, "cannot set up a response (out of memory)");
    return 0;
}

static void handle_image(call_t *c)
{
    char err[160], id[UUID_STR_LEN];
    int wait_s;
    if (api_parse_id(c->param, id, err, sizeof err) != 0) {
        reply_field_error(c, "id", err);
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    if (api_parse_wait(req_query(c, "wait"), &wait_s, err, sizeof err) != 0) {
        reply_field_error(c, "wait", err);
        return;
    }

    lookup_t lk;
    int use_cache = 1;
    api_blob_t *b = api_blobcache_get(c->srv->blobs, id);
    if (b != NULL) {
        int r = serve_blob(c, id, b);
        api_blob_release(b);
        if (r == 0) return;
        log_warn("id=%s cached file is gone, looking the image up again", id);
        api_blobcache_evict(c->srv->blobs, id);
        api_rowcache_evict(c->srv->cache, id);
        use_cache = 0;
    }
    find_image(c, id, wait_s, use_cache, &lk);
    if (lk.state == IMG_STORED && serve_stored(c, id, &lk) == 1) {
        log_warn("id=%s cached file is gone, looking the image up again", id);
        api_blobcache_evict(c->srv->blobs, id);
        api_rowcache_evict(c->srv->cache, id);
        find_image(c, id, wait_s, 0, &lk);
        if (lk.state == IMG_STORED) serve_stored(c, id, &lk);
    }
    switch (lk.state) {
    case IMG_STORED:
        return;
    case IMG_PENDING:
        set_header(c, "Retry-After", "1");
        reply_json(c, 202, json_pack("{s:s, s:s}", "id", id, "status", lk.status.stage));
        return;
    case IMG_FAILED: {
        /* The stored reason may have been cut inside a UTF-8 sequence. */
        utf8_truncate_valid(lk.status.error);
        const char *reason = lk.status.error[0] ? lk.status.error : "processing failed";
        /* The pipeline state is "state" here ("status" is the problem's HTTP
         * status, 422); the 202 of the same resource names the stage "status",
         * as it is no problem document. */
        json_t *extra = json_pack("{s:s, s:s, s:s}", "id", id, "state", "failed", "reason", reason);
        char detail[600];
        snprintf(detail, sizeof detail, "the image could not be processed: %s", reason);
        reply_problem(c, 422, PROBLEM_FAILED, "Image processing failed", detail, NULL, 0, extra);
        return;
    }
    case IMG_UNKNOWN:
        reply_problem(c, 404, NULL, NULL, "no image with this id", NULL, 0, NULL);
        return;
    case IMG_ERROR:
        log_warn("id=%s lookup failed: %s", id, lk.err);
        reply_unavailable(c, PROBLEM_UNAVAILABLE, "the database or the queue is unreachable", "2");
        return;
    }
}

/* ---- /health, /metrics, /api/openapi.json, /docs ---- */

static json_t *queue_json(const rq_stats_t *s, int ok)
{
    if (!ok) return json_pack("{s:n, s:n, s:n}", "waiting", "in_flight", "dead");
    return json_pack("{s:I, s:I, s:I}", "waiting", (json_int_t)s->waiting, "in_flight",
                     (json_int_t)s->in_flight, "dead", (json_int_t)s->dead);
}

/* Reads both queues' stats. 1 when Redis answered. */
static int read_stats(call_t *c, rq_stats_t *render, rq_stats_t *persist)
{
    const config_t *cfg = c->srv->cfg;
    char err[256];
    rqueue_t *rq = api_backend_redis(conn_of(c), err, sizeof err);
    long lease_ms = (long)cfg->lease_seconds * 1000;
    if (rq == NULL) return 0;
    if (rqueue_stats(rq, RQ_QUEUE_RENDER, lease_ms, render) != 0 &&
        rqueue_stats(rq, RQ_QUEUE_RENDER, lease_ms, render) != 0) { /* one retry */
        log_warn("redis: stats failed: %s", rqueue_error(rq));
        return 0;
    }
    if (rqueue_stats(rq, RQ_QUEUE_PERSIST, lease_ms, persist) != 0) {
        log_warn("redis: stats failed: %s", rqueue_error(rq));
        return 0;
    }
    return 1;
}

static void handle_health(call_t *c)
{
    rq_stats_t render = {0}, persist = {0};
    int redis_ok = read_stats(c, &render, &persist);
    char err[512];
    PGresult *r = api_backend_query(conn_of(c), API_SQL_PING, 0, NULL, err, sizeof err);
    int pg_ok = r != NULL;
    if (r != NULL)
        PQclear(r);
    else
        log_warn("health: %s", err);
    int ok = redis_ok && pg_ok;
    json_t *workers = redis_ok ? json_pack("{s:I, s:I}", "render", (json_int_t)render.consumers,
                                           "persist", (json_int_t)persist.consumers)
                               : json_pack("{s:n, s:n}", "render", "persist");
    reply_json(c, ok ? 200 : 503,
               json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:o}", "status", ok ? "ok" : "unavailable",
                         "redis", redis_ok ? "ok" : "down", "postgres", pg_ok ? "ok" : "down",
                         "queues", "render", queue_json(&render, redis_ok), "persist",
                         queue_json(&persist, redis_ok), "workers", workers));
}

static void handle_metrics(call_t *c)
{
    rq_stats_t render = {0}, persist = {0};
    int redis_ok = read_stats(c, &render, &persist);
    api_queue_gauges_t g = {.render = redis_ok ? &render : NULL,
                            .persist = redis_ok ? &persist : NULL,
                            .waiters = api_events_waiters(c->srv->ev),
                            .events_subscribed = api_events_connected(c->srv->ev)};
    api_blobcache_usage(c->srv->blobs, &g.cached_images, &g.cached_bytes);
    char *text = api_metrics_render(&g);
    if (text == NULL) {
        reply_internal(c, "cannot render metrics (out of memory)");
        return;
    }
    reply_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

static void handle_openapi(call_t *c)
{
    reply_bytes(c, 200, "application/json", (const char *)api_openapi_json,
                (size_t)api_openapi_json_len);
}

static void handle_docs(call_t *c)
{
    reply_bytes(c, 200, "text/html; charset=utf-8", c->srv->docs_html, c->srv->docs_len);
}

static void handle_not_found(call_t *c)
{
    reply_problem(c, 404, NULL, NULL, "there is no resource at this path", NULL, 0, NULL);
}

/* ---- dispatch ---- */

/* Compares in time independent of where the first difference is. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static int authorized(call_t *c, int is_post)
{
    const config_t *cfg = c->srv->cfg;
    if (cfg->api_token[0] == '\0') return 1;
    if (!is_post && !(cfg->api_token_reads && c->route->read_auth)) return 1;
    const char *h = req_header(c, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    return token_equal(h, cfg->api_token);
}

static const route_t ROUTES[] = {
    {API_ROUTE_IMAGES, "api/images", "GET, HEAD, POST", handle_list, handle_upload, 1},
    {API_ROUTE_IMAGE, "api/images/*", "GET, HEAD", handle_image, NULL, 1},
    {API_ROUTE_HEALTH, "health", "GET, HEAD", handle_health, NULL, 0},
    {API_ROUTE_OPENAPI, "api/openapi.json", "GET, HEAD", handle_openapi, NULL, 0},
    {API_ROUTE_DOCS, "docs", "GET, HEAD", handle_docs, NULL, 0},
    {API_ROUTE_METRICS, "metrics", "GET, HEAD", handle_metrics, NULL, 0},
};
static const route_t NOT_FOUND = {API_ROUTE_OTHER, NULL, NULL, NULL, NULL, 0};

static int hex_value(char h)
{
    return h >= '0' && h <= '9'   ? h - '0'
           : h >= 'a' && h <= 'f' ? h - 'a' + 10
           : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                  : -1;
}

/* Copies the URL segment [s, s + n) into out (size outlen) with %XX decoded,
 * cut to fit. */
static void segment_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* The route of url_path, matched segment by segment as Ulfius matches its
 * endpoints (empty segments are skipped, so "//api/images/" is
 * "/api/images"), and its "*" segment decoded into param. Routing here rather
 * than with one Ulfius endpoint per route: Ulfius splits the URL and every
 * endpoint's format into allocated strings on each request, about a tenth
 * of the CPU of a cached image read. */
static const route_t *route_of(const char *url_path, char *param, size_t paramlen)
{
    param[0] = '\0';
    for (size_t r = 0; r < sizeof ROUTES / sizeof ROUTES[0]; r++) {
        const char *u = url_path ? url_path : "", *f = ROUTES[r].path;
        int ok = 1;
        while (ok) {
            while (*u == '/') u++;
            if (*f == '\0') {
                ok = *u == '\0';
                break;
            }
            size_t ul = strcspn(u, "/"), fl = strcspn(f, "/");
            if (ul == 0) {
                ok = 0;
                break;
            }
            if (fl == 1 && f[0] == '*')
                segment_decode(u, ul, param, paramlen);
            else
                ok = ul == fl && memcmp(u, f, ul) == 0;
            u += ul;
            f += fl;
            if (*f == '/') f++;
        }
        if (ok) return &ROUTES[r];
    }
    return &NOT_FOUND;
}

static int dispatch(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    uint64_t t0 = time_mono_ns();
    static __thread int thread_named;
    if (!thread_named) {
        log_set_thread_name("http");
        thread_named = 1;
    }
    call_t c = {.srv = user_data, .req = req, .resp = resp};
    const route_t *route = c.route = route_of(req->url_path, c.param, sizeof c.param);
    const char *m = req->http_verb ? req->http_verb : "";
    int is_get = strcmp(m, "GET") == 0, is_head = strcmp(m, "HEAD") == 0;
    int is_post = strcmp(m, "POST") == 0;
    handler_fn fn = (is_get || is_head) ? route->get : is_post ? route->post : NULL;
    if (route->allow == NULL) {
        handle_not_found(&c);
    } else if (fn == NULL) {
        set_header(&c, "Allow", route->allow);
        reply_problem(&c, 405, NULL, NULL, "this method is not allowed on this resource", NULL, 0,
                      NULL);
    } else if (!authorized(&c, is_post)) {
        set_header(&c, "WWW-Authenticate", "Bearer realm=\"imgcap\"");
        reply_problem(&c, 401, NULL, NULL, "a valid bearer token is required", NULL, 0, NULL);
    } else {
        fn(&c);
    }
    conn_release(&c);
    uint64_t elapsed = time_mono_ns() - t0;
    double secs = (double)elapsed / 1e9;
    int status = (int)resp->status;
    api_metrics_observe(route->id, m, status, secs);
    const char *why = status < 400 ? NULL : c.why[0] ? c.why : api_status_title(status);
    api_accesslog_request(c.srv->alog, m, req->http_url ? req->http_url : "", status, elapsed,
                          c.id[0] ? c.id : "-", why);
    /* Always COMPLETE: U_CALLBACK_ERROR would replace our body with a plain 500. */
    return U_CALLBACK_COMPLETE;
}

/* ---- lifecycle ---- */

int api_server_backend_size(const config_t *cfg)
{
    int n = cfg->api_workers * 4;
    return n < 16 ? 16 : n;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    log_warn("microhttpd: %s", line);
}

/* Ulfius's request bookkeeping, wrapped to count requests in progress so a
 * graceful stop can wait for their responses (MHD calls the completion for
 * every request whose request line it logged). */
static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)con;
    api_server_t *s = cls;
    atomic_fetch_add(&s->in_progress, 1);
    return ulfius_uri_logger(NULL, uri);
}

static void request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    api_server_t *s = cls;
    mhd_request_completed(NULL, con, con_cls, toe);
    atomic_fetch_sub(&s->in_progress, 1);
}

/* Escapes s for an HTML attribute. Returns a new string (free()) or NULL. */
static char *html_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += (*p == '&') ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"') ? 6 : 1;
    char *out = malloc(n + 1), *o = out;
    if (out == NULL) return NULL;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&'   ? "&amp;"
                          : *p == '<' ? "&lt;"
                          : *p == '>' ? "&gt;"
                          : *p == '"' ? "&quot;"
                                      : NULL;
        if (rep) {
            memcpy(o, rep, strlen(rep));
            o += strlen(rep);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static int build_docs(api_server_t *s)
{
    char base[sizeof s->cfg->swagger_ui_url];
    snprintf(base, sizeof base, "%s", s->cfg->swagger_ui_url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') base[--bl] = '\0';
    char *esc = html_escape(base);
    if (esc == NULL) return -1;
    int n = asprintf(&s->docs_html,
                     "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>imgcap API - Swagger UI</title>\n"
                     "<link rel=\"stylesheet\" href=\"%s/swagger-ui.css\">\n</head>\n<body>\n"
                     "<div id=\"swagger-ui\"></div>\n"
                     "<script src=\"%s/swagger-ui-bundle.js\"></script>\n<script>\n"
                     "window.ui = SwaggerUIBundle({url: \"/api/openapi.json\", "
                     "dom_id: \"#swagger-ui\", deepLinking: true,\n"
                     "  presets: [SwaggerUIBundle.presets.apis, "
                     "SwaggerUIBundle.SwaggerUIStandalonePreset],\n"
                     "  layout: \"BaseLayout\"});\n</script>\n</body>\n</html>\n",
                     esc, esc);
    free(esc);
    if (n < 0) {
        s->docs_html = NULL;
        return -1;
    }
    s->docs_len = (size_t)n;
    return 0;
}

static int resolve_bind(api_server_t *s, unsigned int *flags, char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    const char *host = s->cfg->api_host[0] ? s->cfg->api_host : NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg->api_port);
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "API_HOST %s: %s", host ? host : "(any)", gai_strerror(rc));
        return -1;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    if (res->ai_family == AF_INET6) *flags |= MHD_USE_IPv6;
    freeaddrinfo(res);
    return 0;
}

/* Frees what api_server_start() set up, whatever part of it succeeded. */
static void server_free(api_server_t *s)
{
    if (s->inst_ready) ulfius_clean_instance(&s->inst);
    free(s->docs_html);
    api_rowcache_free(s->cache);
    api_blobcache_free(s->blobs);
    api_accesslog_close(s->alog);
    pthread_mutex_destroy(&s->storage_mu);
    free(s);
}

api_server_t *api_server_start(const config_t *cfg, api_events_t *ev, char *err, size_t errlen)
{
    api_server_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->ev = ev;
    pthread_mutex_init(&s->storage_mu, NULL);
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    s->cache = api_rowcache_new(ROWCACHE_SLOTS);
    s->blobs = api_blobcache_new(BLOB_SLOTS, BLOB_CACHE_BYTES);
    s->alog = api_accesslog_open("api", cfg->log_dir, cfg->log_stderr);
    if (s->cache == NULL || s->blobs == NULL || s->alog == NULL || build_docs(s) != 0) {
        snprintf(err, errlen, "out of memory or no thread for the access log");
        goto fail;
    }
    if (resolve_bind(s, &flags, err, errlen) != 0) goto fail;
    if (ulfius_init_instance(&s->inst, (unsigned int)cfg->api_port, NULL, NULL) != U_OK) {
        snprintf(err, errlen, "ulfius_init_instance failed");
        goto fail;
    }
    s->inst_ready = 1;
    /* Binary-safe bodies, no second parsed copy: see server.h. */
    s->inst.check_utf8 = 0;
    s->inst.allowed_post_processor = U_POST_PROCESS_NONE;
    s->inst.max_post_body_size = (size_t)cfg->max_upload_bytes + 1;

    /* One endpoint for every method and path: dispatch() routes, answers
     * 404 and 405 (see route_of()). */
    if (ulfius_add_endpoint_by_val(&s->inst, "*", "*", NULL, 0, dispatch, s) != U_OK) {
        snprintf(err, errlen, "cannot add the endpoint");
        goto fail;
    }

    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL}, /* must come first */
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, s},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_logger, s},
        {MHD_OPTION_SOCK_ADDR, 0, &s->addr},
        {MHD_OPTION_CONNECTION_LIMIT, API_CONNECTION_LIMIT, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, API_PER_IP_CONNECTION_LIMIT, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK_BYTES, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (ulfius_start_framework_with_mhd_options(&s->inst, flags, ops) != U_OK) {
        snprintf(err, errlen, "cannot listen on %s:%d (see the microhttpd message above)",
                 cfg->api_host, cfg->api_port);
        goto fail;
    }
    log_info("listening on %s:%d, up to %d connections (a thread each), %d backend "
             "connections, uploads up to %lld bytes",
             cfg->api_host, cfg->api_port, API_CONNECTION_LIMIT, api_server_backend_size(cfg),
             cfg->max_upload_bytes);
    return s;

fail:
    server_free(s);
    return NULL;
}

void api_server_quiesce(api_server_t *s)
{
    if (s->inst.mhd_daemon != NULL) {
        MHD_socket fd = MHD_quiesce_daemon(s->inst.mhd_daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
}

int api_server_drain(api_server_t *s, int timeout_ms)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    while (atomic_load(&s->in_progress) > 0 && time_mono_ms() < deadline) time_sleep_ms(10, NULL);
    return atomic_load(&s->in_progress);
}

void api_server_stop(api_server_t *s)
{
    if (s == NULL) return;
    ulfius_stop_framework(&s->inst);
    server_free(s);
}
