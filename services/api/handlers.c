/* handlers.c - uploads, the list, the event stream, /health, /metrics, the
 * embedded files and /docs (see handlers.h). */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "idem.h"
#include "images.h"
#include "listpage.h"
#include "listquery.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "rqueue.h"
#include "sse.h"
#include "timeutil.h"
#include "uuid.h"
#include "wire.h"

#define SSE_BLOCK (16 * 1024) /* a read of an event stream hands over at most this */
/* A list page: a usual item is under 400 bytes; the worst (200 control
 * characters, each escaped to six bytes) under 1.5 KiB, so API_LIMIT_MAX
 * items fit in 2 MiB, the cap that bounds a page's buffer. */
#define LIST_ITEM_TYPICAL_BYTES 400
#define LIST_PAGE_MAX_BYTES ((size_t)2 << 20)
_Static_assert(API_LIMIT_MAX * 1536 + 4096 <= LIST_PAGE_MAX_BYTES, "a full page fits its buffer");

/* ---- POST /api/images ---- */

static long long declared_length(const api_call_t *c)
{
    const char *s = api_req_header(c, "Content-Length");
    if (s == NULL || *s == '\0') return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) return -1;
    return v;
}

#define REDIS_DOWN_DETAIL "the queue (Redis) is unreachable; the upload was not accepted"

/* 503 for an upload that was surely not written: retrying is safe, with or
 * without a key. title NULL: the status's own. */
static void refuse_not_accepted(api_call_t *c, const char *type, const char *title,
                                const char *detail, const char *retry_after)
{
    api_set_header(c, "Retry-After", retry_after);
    api_reply_problem(c, 503, type, title, detail, NULL, 0,
                      json_pack("{s:s}", "outcome", "not-accepted"));
}

/* 1 after answering 503 storage-full when STORAGE_DIR's free space is under
 * STORAGE_MIN_FREE (an accepted upload would only wait in Redis for room, or
 * fill the disk); 0 otherwise, also when the space cannot be measured (that
 * is logged, and persist fails on its own if the disk is full). */
static int refused_for_storage(api_call_t *c)
{
    storage_space_t sp;
    char err[256];
    if (api_space_get(c->env->space, time_mono_ms(), &sp, err, sizeof err) != 0) {
        log_warn("upload: cannot measure STORAGE_DIR's free space: %s", err);
        return 0;
    }
    if (!sp.low) return 0;
    char detail[256];
    snprintf(detail, sizeof detail,
             "STORAGE_DIR has %lld bytes free, under STORAGE_MIN_FREE (%lld bytes); retry later",
             sp.free_bytes, sp.min_free_bytes);
    api_metrics_upload_refused_storage();
    refuse_not_accepted(c, API_PROBLEM_STORAGE_FULL, "Storage full", detail, "30");
    return 1;
}

/* 503 after an enqueue that failed: `unknown` when it may have been written
 * (its reply lost, or on the primary but short of replicas). Only a retry
 * with the same Idempotency-Key cannot store such an upload twice. */
static void refuse_enqueue(api_call_t *c, int unknown, int keyed)
{
    if (!unknown) {
        refuse_not_accepted(c, API_PROBLEM_UNAVAILABLE, NULL, REDIS_DOWN_DETAIL, "2");
        return;
    }
    api_set_header(c, "Retry-After", "2");
    api_reply_problem(c, 503, API_PROBLEM_UNAVAILABLE, NULL,
                      keyed ? "the queue (Redis) did not confirm the upload: it may have been "
                              "accepted. Retry with the same Idempotency-Key: the answer is then "
                              "its id if it was, and it is never stored twice"
                            : "the queue (Redis) did not confirm the upload: it may have been "
                              "accepted, and a retry may store it twice. Send an Idempotency-Key "
                              "header to retry safely",
                      NULL, 0, json_pack("{s:s}", "outcome", "unknown"));
}

/* The 202 of an upload: the first answer, or a replay of it for a retry with
 * the same key (the same body, `Idempotent-Replayed: true`). */
static void reply_accepted(api_call_t *c, const char *id, const char *received_at,
                           const api_upload_t *v, int replayed)
{
    char location[64], camera[WIRE_MAX_CAMERA + 1];
    if (v->camera != NULL) { /* validated: 1..WIRE_MAX_CAMERA of A-Z a-z 0-9 . _ - */
        memcpy(camera, v->camera, v->camera_len);
        camera[v->camera_len] = '\0';
    }
    snprintf(location, sizeof location, "/api/images/%s", id);
    api_set_header(c, "Location", location);
    if (replayed) api_set_header(c, "Idempotent-Replayed", "true");
    api_reply_json(c, 202,
                   json_pack("{s:s, s:s, s:s, s:s%, s:s?}", "id", id, "status", RQ_STAGE_QUEUED,
                             "received_at", received_at, "description", v->description,
                             v->description_len, "camera", v->camera != NULL ? camera : NULL));
}

/* The answer to an upload whose key was stored by an earlier request: the
 * same 202 if it is the same upload, else 422. */
static void reply_found(api_call_t *c, const char *found, const char *fingerprint,
                        const api_upload_t *v)
{
    api_idem_value_t was;
    if (api_idem_value_parse(found, strlen(found), &was) != 0) {
        api_reply_internal(c, "an Idempotency-Key holds a value that is not one");
        return;
    }
    if (strcmp(was.fingerprint, fingerprint) != 0) {
        api_reply_problem(c, 422, API_PROBLEM_KEY_REUSED, "Idempotency-Key reused",
                          "this Idempotency-Key was used for another upload (another "
                          "description, camera or image); use a new key for a new upload",
                          NULL, 0, json_pack("{s:s}", "id", was.id));
        return;
    }
    api_metrics_upload_replayed();
    snprintf(c->id, sizeof c->id, "%s", was.id);
    reply_accepted(c, was.id, was.received_at, v, 1);
}

void api_handle_upload(api_call_t *c)
{
    const config_t *cfg = c->env->cfg;
    char key[API_IDEM_KEY_MAX + 1], err[256];
    const char *key_header = api_req_header(c, "Idempotency-Key");
    if (key_header != NULL && api_idem_parse_key(key_header, key, err, sizeof err) != 0) {
        api_reply_problem(c, 400, API_PROBLEM_BAD_KEY, "Invalid Idempotency-Key", err, NULL, 0,
                          NULL);
        return;
    }
    if (refused_for_storage(c)) return;
    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    if (api_upload_check(api_req_header(c, "Content-Type"), declared_length(c), c->req->binary_body,
                         c->req->binary_body_length, cfg->max_upload_bytes, parts, &v) != 0) {
        api_reply_problem(c, v.status, v.status == 422 ? API_PROBLEM_VALIDATION : NULL, v.title,
                          v.detail, v.errors, v.nerrors, NULL);
        return;
    }

    rqueue_t *rq = api_backend_redis(api_call_conn(c), err, sizeof err);
    if (rq == NULL) {
        log_warn("upload refused: redis: %s", err);
        refuse_not_accepted(c, API_PROBLEM_UNAVAILABLE, NULL, REDIS_DOWN_DETAIL, "2");
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
        refuse_not_accepted(c, API_PROBLEM_UNAVAILABLE, NULL, REDIS_DOWN_DETAIL, "2");
        return;
    }
    if (waiting >= cfg->queue_max_depth) {
        refuse_not_accepted(c, API_PROBLEM_QUEUE_FULL, NULL,
                            "the render queue is full (QUEUE_MAX_DEPTH); retry later", "1");
        return;
    }

    wire_msg_t m;
    memset(&m, 0, sizeof m);
    uint64_t now = time_now_ms();
    if (uuid_v7_make(now, m.id) != 0) {
        api_reply_internal(c, "uuid_v7_make failed: no randomness");
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", m.id);
    time_format_rfc3339_ms(now, m.received_at, sizeof m.received_at);
    /* At most 200 code points of at most 4 bytes: validated, so it fits. */
    memcpy(m.description, v.description, v.description_len);
    m.description[v.description_len] = '\0';
    if (v.camera != NULL) { /* validated: 1..WIRE_MAX_CAMERA bytes */
        memcpy(m.camera, v.camera, v.camera_len);
        m.camera[v.camera_len] = '\0';
    }
    m.jpeg = v.image;
    m.jpeg_len = v.image_len;

    /* The key is stored in the enqueue's own MULTI/EXEC: never a key without
     * its upload, nor an upload without its key. */
    rq_enqueue_t opt = {.key = NULL};
    api_idem_value_t val;
    char name[API_IDEM_NAME_MAX], scope[API_IDEM_SCOPE_LEN], value[API_IDEM_VALUE_MAX];
    if (key_header != NULL) {
        if (api_idem_fingerprint(v.description, v.description_len, v.camera, v.camera_len, v.image,
                                 v.image_len, val.fingerprint) != 0 ||
            api_idem_scope(cfg->api_token, scope) != 0) {
            api_reply_internal(c, "cannot hash the upload for its Idempotency-Key");
            return;
        }
        snprintf(val.id, sizeof val.id, "%s", m.id);
        snprintf(val.received_at, sizeof val.received_at, "%s", m.received_at);
        api_idem_value_format(&val, value);
        api_idem_name(scope, key, name);
        opt.key = name;
        opt.key_value = value;
        opt.key_ttl_s = cfg->idempotency_ttl;
    }

    /* The payload goes to Redis as two parts, the wire head and the JPEG
     * where the request body holds it: the upload's bytes are never copied
     * in this process (rqueue_enqueue sends them from there). */
    unsigned char *head = NULL;
    size_t head_len = 0;
    if (wire_encode_head(&m, &head, &head_len, err, sizeof err) != 0) {
        api_reply_internal(c, "%s", err);
        return;
    }
    struct iovec payload[2] = {{head, head_len}, {(void *)m.jpeg, m.jpeg_len}};
    int rc = rqueue_enqueue(rq, RQ_QUEUE_RENDER, m.id, payload, 2, &opt);
    free(head);
    if (rc == RQ_KEY_EXISTS) {
        reply_found(c, opt.found, val.fingerprint, &v);
        return;
    }
    if (rc == RQ_KEY_BUSY) {
        api_set_header(c, "Retry-After", "1");
        api_reply_problem(c, 409, API_PROBLEM_KEY_IN_USE, "Idempotency-Key in use",
                          "another request with this Idempotency-Key is being accepted; retry "
                          "with the same key",
                          NULL, 0, NULL);
        return;
    }
    if (rc != 0 && rqueue_error_is_oom(rq)) {
        /* Redis answered, but it is at maxmemory and evicts nothing: the
         * upload was not queued (the MULTI was discarded whole). Only memory
         * freed by the pipeline or the operator helps, so a longer wait. */
        log_warn("id=%s upload refused: %s", m.id, rqueue_error(rq));
        refuse_not_accepted(c, API_PROBLEM_QUEUE_MEMORY_FULL, "Queue memory full",
                            "Redis is at its memory limit (maxmemory) and refuses new uploads; "
                            "uploads accepted before are kept; retry later",
                            "10");
        return;
    }
    if (rc != 0) {
        log_error("id=%s enqueue failed (%s): %s", m.id,
                  opt.unknown ? "may have been written" : "nothing written", rqueue_error(rq));
        refuse_enqueue(c, opt.unknown, key_header != NULL);
        return;
    }
    api_metrics_upload_accepted();
    reply_accepted(c, m.id, m.received_at, &v, 0);
}

/* ---- GET /api/images ---- */

/* The cached page's ready responses (images.h, api_ready_set_t), which
 * server.c's front handler queues without Ulfius: each copy owns a copy of
 * the body (MHD frees it with the response), so a response being sent never
 * depends on the page. NULL when out of memory (the page is then answered
 * through Ulfius only). */
static api_ready_set_t *list_responses(const char *body, size_t len, const char *link)
{
    api_ready_set_t *set = calloc(1, sizeof *set);
    for (int i = 0; set != NULL && i < API_IMAGES_READY_STRIPES; i++) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                                 MHD_RESPMEM_MUST_COPY);
        set->r[i] = r;
        if (r == NULL ||
            MHD_add_response_header(r, "Content-Type", "application/json") != MHD_YES ||
            (link != NULL && link[0] != '\0' &&
             MHD_add_response_header(r, "Link", link) != MHD_YES)) {
            api_ready_set_free(set);
            return NULL;
        }
    }
    return set;
}

void api_handle_list(api_call_t *c)
{
    api_list_params_t in = {.limit = api_req_query(c, "limit"),
                            .before = api_req_query(c, "before"),
                            .from = api_req_query(c, "from"),
                            .to = api_req_query(c, "to"),
                            .q = api_req_query(c, "q"),
                            .camera = api_req_query(c, "camera")};
    api_list_query_t q;
    const char *field;
    char err[160];
    if (api_listquery_parse(&in, &q, &field, err, sizeof err) != 0) {
        api_reply_field_error(c, field, err);
        return;
    }
    /* The newest pages come from the list's cache while the events
     * subscription is live (listcache.h: what it guarantees). The stamp is
     * read before the query, so an event that arrives during it makes the
     * page it yields a miss. */
    int cacheable = !api_listquery_filtered(&q) && q.before[0] == '\0' &&
                    api_events_connected(c->env->ev);
    api_list_stamp_t stamp = {.events = api_events_changes(c->env->ev),
                              .forgets = api_images_forgets(c->env->images)};
    uint64_t began_ms = time_mono_ms();
    if (cacheable) {
        api_list_page_t *cached = api_listcache_get(c->env->lists, q.limit, &stamp, began_ms);
        if (cached != NULL) {
            if (cached->link[0] != '\0') api_set_header(c, "Link", cached->link);
            api_reply_bytes(c, 200, "application/json", cached->body, cached->len);
            api_list_page_release(cached);
            return;
        }
    }
    char dberr[512];
    PGresult *r;
    if (api_listquery_filtered(&q)) {
        /* Built for its filters, planned for its values (listquery.h). */
        api_list_sql_t *sql = malloc(sizeof *sql);
        if (sql == NULL || api_listquery_build(&q, sql) != 0) {
            free(sql);
            api_reply_internal(c, "list: cannot build the query");
            return;
        }
        r = api_backend_query_text(api_call_conn(c), sql->sql, sql->nparams, sql->params, dberr,
                                   sizeof dberr);
        free(sql);
    } else {
        char lim[16];
        snprintf(lim, sizeof lim, "%d",
                 q.limit + 1); /* one more tells whether a next page exists */
        const char *params[2] = {q.before, lim};
        r = q.before[0] != '\0' ? api_backend_query(api_call_conn(c), API_SQL_LIST_BEFORE, 2,
                                                    params, dberr, sizeof dberr)
                                : api_backend_query(api_call_conn(c), API_SQL_LIST, 1, params + 1,
                                                    dberr, sizeof dberr);
    }
    if (r == NULL) {
        log_warn("list: %s", dberr);
        api_reply_unavailable(c, API_PROBLEM_UNAVAILABLE, "the database is unreachable", "2");
        return;
    }
    int rows = PQntuples(r);
    int n = rows > q.limit ? q.limit : rows;
    /* The page is written straight from the rows (listpage.h says why). */
    dynbuf_t page;
    dynbuf_init(&page, LIST_PAGE_MAX_BYTES);
    int bad = dynbuf_reserve(&page, (size_t)n * LIST_ITEM_TYPICAL_BYTES + 64) != 0 ||
              api_listpage_begin(&page) != 0;
    for (int i = 0; i < n && !bad; i++) {
        api_listpage_item_t it = {.id = PQgetvalue(r, i, 0),
                                  .received_at = PQgetvalue(r, i, 1),
                                  .description = PQgetvalue(r, i, 2),
                                  .camera = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
                                  .has_thumbnail = !PQgetisnull(r, i, 4)};
        bad = api_listpage_add(&page, &it, i) != 0;
    }
    char *url = NULL, *link = NULL;
    if (!bad && rows > q.limit) {
        link = malloc(API_LISTQUERY_URL_MAX + 16);
        url = malloc(API_LISTQUERY_URL_MAX);
        long len = url != NULL && link != NULL ? api_listquery_next_url(&q, PQgetvalue(r, n - 1, 0),
                                                                        url, API_LISTQUERY_URL_MAX)
                                               : -1;
        if (len > 0) {
            snprintf(link, API_LISTQUERY_URL_MAX + 16, "<%s>; rel=\"next\"", url);
            api_set_header(c, "Link", link);
        } else {
            bad = 1;
        }
    }
    PQclear(r);
    if (!bad) bad = api_listpage_end(&page, url) != 0;
    free(url);
    if (bad) {
        api_reply_internal(
            c, "list: cannot write the page (out of memory, or a row that is not UTF-8)");
    } else {
        api_reply_bytes(c, 200, "application/json", (const char *)page.ptr, page.len);
        if (cacheable)
            api_listcache_put(
                c->env->lists, q.limit, &stamp, began_ms, (const char *)page.ptr, page.len, link,
                list_responses((const char *)page.ptr, page.len, link), api_ready_set_free);
    }
    free(link);
    dynbuf_free(&page);
}

/* ---- GET /api/events ---- */

typedef struct event_stream {
    api_sse_t *hub;
    api_sse_client_t *client;
} event_stream_t;

/* Runs on the connection's thread and may block there (up to the
 * heartbeat): libmicrohttpd gives each connection a thread of its own. */
static ssize_t event_stream_read(void *cls, uint64_t offset, char *buf, size_t max)
{
    (void)offset;
    event_stream_t *es = cls;
    ssize_t n = api_sse_read(es->hub, es->client, buf, max);
    return n > 0 ? n : U_STREAM_END;
}

static void event_stream_free(void *cls)
{
    event_stream_t *es = cls;
    api_sse_detach(es->hub, es->client);
    free(es);
}

void api_handle_events(api_call_t *c)
{
    if (c->req->http_verb != NULL && strcmp(c->req->http_verb, "HEAD") == 0) {
        /* The stream's headers and no stream: MHD 0.9.75 still sends the last
         * chunk ("0\r\n\r\n") after the headers of a HEAD answer of unknown
         * size, bytes a kept-alive connection would read as the start of the
         * next answer. An empty body of known size is sent as headers only
         * (with Content-Length: 0), and takes no stream slot. */
        api_set_header(c, "Content-Type", "text/event-stream; charset=utf-8");
        api_set_header(c, "Cache-Control", "no-cache");
        c->resp->status = 200; /* no body set: Ulfius sends an empty one */
        return;
    }
    api_sse_t *hub = api_events_hub(c->env->ev);
    api_sse_refusal_t why;
    event_stream_t *es = malloc(sizeof *es);
    api_sse_client_t *client = es != NULL ? api_sse_attach(hub, &why) : NULL;
    if (client == NULL) {
        free(es);
        if (es == NULL || why == API_SSE_NOMEM)
            api_reply_internal(c, "cannot open an event stream (out of memory)");
        else
            api_reply_unavailable(c, NULL,
                                  why == API_SSE_FULL
                                      ? "too many event streams are open (EVENTS_MAX_CLIENTS)"
                                      : "the service is stopping",
                                  "5");
        return;
    }
    es->hub = hub;
    es->client = client;
    if (ulfius_set_stream_response(c->resp, 200, event_stream_read, event_stream_free,
                                   U_STREAM_SIZE_UNKNOWN, SSE_BLOCK, es) != U_OK) {
        event_stream_free(es);
        api_reply_internal(c, "cannot set up an event stream (out of memory)");
        return;
    }
    api_set_header(c, "Content-Type", "text/event-stream; charset=utf-8");
    api_set_header(c, "Cache-Control", "no-cache");
    api_set_header(c, "X-Accel-Buffering", "no"); /* nginx: pass events on at once */
}

/* ---- /health, /metrics ---- */

static json_t *queue_json(const rq_stats_t *s, int ok)
{
    if (!ok) return json_pack("{s:n, s:n, s:n}", "waiting", "in_flight", "dead");
    return json_pack("{s:I, s:I, s:I}", "waiting", (json_int_t)s->waiting, "in_flight",
                     (json_int_t)s->in_flight, "dead", (json_int_t)s->dead);
}

/* Reads both queues' stats. 0, or -1 when Redis did not answer (logged). */
static int read_stats(api_call_t *c, rq_stats_t *render, rq_stats_t *persist)
{
    const config_t *cfg = c->env->cfg;
    char err[256];
    rqueue_t *rq = api_backend_redis(api_call_conn(c), err, sizeof err);
    long lease_ms = (long)cfg->lease_seconds * 1000;
    if (rq == NULL) {
        log_warn("redis: stats unavailable: %s", err);
        return -1;
    }
    if (rqueue_stats(rq, RQ_QUEUE_RENDER, lease_ms, render) != 0 &&
        rqueue_stats(rq, RQ_QUEUE_RENDER, lease_ms, render) != 0) { /* one retry */
        log_warn("redis: stats failed: %s", rqueue_error(rq));
        return -1;
    }
    if (rqueue_stats(rq, RQ_QUEUE_PERSIST, lease_ms, persist) != 0) {
        log_warn("redis: stats failed: %s", rqueue_error(rq));
        return -1;
    }
    return 0;
}

/* The "storage" member of /health; *low set when the free space is under
 * STORAGE_MIN_FREE. */
static json_t *storage_json(api_call_t *c, int *low)
{
    storage_space_t sp;
    char err[256];
    *low = 0;
    if (api_space_get(c->env->space, time_mono_ms(), &sp, err, sizeof err) != 0) {
        log_warn("health: %s", err);
        return json_pack("{s:s, s:s}", "status", "unknown", "reason", err);
    }
    json_t *doc = json_pack("{s:s, s:I, s:I, s:I}", "status", sp.low ? "low" : "ok", "free_bytes",
                            (json_int_t)sp.free_bytes, "total_bytes", (json_int_t)sp.total_bytes,
                            "min_free_bytes", (json_int_t)sp.min_free_bytes);
    if (sp.low) {
        char reason[200];
        snprintf(reason, sizeof reason,
                 "%lld bytes free, under STORAGE_MIN_FREE (%lld bytes): uploads are refused",
                 sp.free_bytes, sp.min_free_bytes);
        json_object_set_new(doc, "reason", json_string(reason));
        *low = 1;
    }
    return doc;
}

/* The "redis_memory" member of /health (null while Redis is down); *full set
 * when Redis is over its maxmemory: it then refuses every write that would
 * grow it, uploads included (with noeviction, the policy imgcap needs). */
static json_t *redis_memory_json(api_call_t *c, int redis_ok, int *full)
{
    *full = 0;
    char err[256];
    rqueue_t *rq = redis_ok ? api_backend_redis(api_call_conn(c), err, sizeof err) : NULL;
    long long used, max;
    if (rq == NULL) return json_null();
    if (rqueue_memory(rq, &used, &max) != 0) {
        log_warn("health: redis memory: %s", rqueue_error(rq));
        return json_pack("{s:s, s:s}", "status", "unknown", "reason", rqueue_error(rq));
    }
    *full = max > 0 && used > max;
    json_t *doc = json_pack("{s:s, s:I, s:I}", "status", *full ? "full" : "ok", "used_bytes",
                            (json_int_t)used, "max_bytes", (json_int_t)max);
    if (*full) {
        char reason[200];
        snprintf(reason, sizeof reason,
                 "Redis uses %lld bytes, over its maxmemory (%lld bytes): uploads are refused",
                 used, max);
        json_object_set_new(doc, "reason", json_string(reason));
    }
    return doc;
}

void api_handle_health(api_call_t *c)
{
    rq_stats_t render = {0}, persist = {0};
    int redis_ok = read_stats(c, &render, &persist) == 0;
    int mem_full;
    json_t *redis_memory = redis_memory_json(c, redis_ok, &mem_full);
    char err[512];
    PGresult *r = api_backend_query(api_call_conn(c), API_SQL_PING, 0, NULL, err, sizeof err);
    int pg_ok = r != NULL;
    if (r != NULL)
        PQclear(r);
    else
        log_warn("health: %s", err);
    int ok = redis_ok && pg_ok, low;
    json_t *storage = storage_json(c, &low);
    /* Low storage or a full Redis degrades (uploads are refused) but reads
     * still work: still 200, so that a load balancer keeps sending reads. */
    const char *status = !ok ? "unavailable" : low || mem_full ? "degraded" : "ok";
    json_t *workers = redis_ok ? json_pack("{s:I, s:I}", "render", (json_int_t)render.consumers,
                                           "persist", (json_int_t)persist.consumers)
                               : json_pack("{s:n, s:n}", "render", "persist");
    api_reply_json(c, ok ? 200 : 503,
                   json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:o, s:o, s:o}", "status", status,
                             "redis", redis_ok ? "ok" : "down", "postgres", pg_ok ? "ok" : "down",
                             "queues", "render", queue_json(&render, redis_ok), "persist",
                             queue_json(&persist, redis_ok), "workers", workers, "storage", storage,
                             "redis_memory", redis_memory));
}

/* The deletion counters every process keeps in Redis. 0, or -1 (logged). */
static int read_store_counters(api_call_t *c, api_store_counters_t *out)
{
    static const char *const names[] = {RQ_COUNTER_DELETED_API, RQ_COUNTER_DELETED_RETENTION,
                                        RQ_COUNTER_DELETED_RECYCLE, RQ_COUNTER_FILES_PURGED};
    long long v[4];
    char err[256];
    rqueue_t *rq = api_backend_redis(api_call_conn(c), err, sizeof err);
    if (rq == NULL) {
        log_warn("redis: counters unavailable: %s", err);
        return -1;
    }
    if (rqueue_counters_get(rq, names, 4, v) != 0) {
        log_warn("redis: counters failed: %s", rqueue_error(rq));
        return -1;
    }
    out->deleted_api = v[0];
    out->deleted_retention = v[1];
    out->deleted_recycle = v[2];
    out->files_purged = v[3];
    return 0;
}

void api_handle_metrics(api_call_t *c)
{
    api_events_t *ev = c->env->ev;
    rq_stats_t render = {0}, persist = {0};
    int redis_ok = read_stats(c, &render, &persist) == 0;
    api_store_counters_t counters;
    storage_space_t space;
    char err[256];
    api_queue_gauges_t g = {.render = redis_ok ? &render : NULL,
                            .persist = redis_ok ? &persist : NULL,
                            .waiters = api_events_waiters(ev),
                            .events_subscribed = api_events_connected(ev)};
    if (redis_ok && read_store_counters(c, &counters) == 0) g.counters = &counters;
    if (api_space_get(c->env->space, time_mono_ms(), &space, err, sizeof err) == 0)
        g.storage = &space;
    else
        log_warn("metrics: %s", err);
    api_images_usage(c->env->images, &g.cached_images, &g.cached_bytes);
    api_sse_stats(api_events_hub(ev), &g.event_streams, &g.event_streams_cut);
    g.events_dropped = api_events_dropped(ev);
    if (c->env->guard != NULL) g.connections = api_connguard_open(c->env->guard);
    char *text = api_metrics_render(&g);
    if (text == NULL) {
        api_reply_internal(c, "cannot render metrics (out of memory)");
        return;
    }
    api_reply_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

/* ---- embedded files, /docs ---- */

static ssize_t asset_stream_read(void *cls, uint64_t offset, char *buf, size_t max)
{
    const api_asset_t *a = cls;
    if (offset >= a->len) return U_STREAM_END;
    size_t n = a->len - (size_t)offset < max ? a->len - (size_t)offset : max;
    memcpy(buf, a->data + offset, n);
    return (ssize_t)n;
}

/* Answers an embedded file: 200, or 304 when If-None-Match names its ETag.
 * A large file is streamed from the binary's memory rather than copied into
 * a response buffer per request. */
static void serve_asset(api_call_t *c, const api_asset_t *a)
{
    api_set_cache_headers(c, a->etag, API_CACHE_REVALIDATE);
    if (api_etag_matches(api_req_header(c, "If-None-Match"), a->etag)) {
        api_reply_not_modified(c, (long long)a->len);
        return;
    }
    if (a->len <= API_STREAM_BLOCK) {
        api_reply_bytes(c, 200, api_asset_content_type(a->name), (const char *)a->data, a->len);
        return;
    }
    if (ulfius_set_stream_response(c->resp, 200, asset_stream_read, NULL, a->len, API_STREAM_BLOCK,
                                   (void *)a) != U_OK) {
        api_reply_internal(c, "cannot set up a response (out of memory)");
        return;
    }
    api_set_header(c, "Content-Type", api_asset_content_type(a->name));
}

static void serve_named_asset(api_call_t *c, const char *name)
{
    const api_asset_t *a = api_asset_find(name);
    if (a == NULL) {
        api_reply_not_found(c);
        return;
    }
    serve_asset(c, a);
}

void api_handle_openapi(api_call_t *c) { serve_named_asset(c, "openapi.json"); }

/* services/api/web/index.html */
void api_handle_page(api_call_t *c) { serve_named_asset(c, "index.html"); }

/* The page's own files (services/api/web/). */
void api_handle_asset(api_call_t *c)
{
    /* index.html and openapi.json have their own routes; a name with a '/'
     * cannot come from one URL segment. */
    if (strcmp(c->match.param, "index.html") == 0 || strcmp(c->match.param, "openapi.json") == 0) {
        api_reply_not_found(c);
        return;
    }
    serve_named_asset(c, c->match.param);
}

/* The vendored swagger-ui-dist files. */
void api_handle_swagger_asset(api_call_t *c)
{
    char name[64];
    snprintf(name, sizeof name, "swagger-ui/%s", c->match.param);
    serve_named_asset(c, name);
}

void api_handle_docs(api_call_t *c)
{
    api_set_header(c, "Cache-Control", API_CACHE_REVALIDATE);
    api_reply_bytes(c, 200, "text/html; charset=utf-8", c->env->docs_html, c->env->docs_len);
}
