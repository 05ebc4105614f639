/* server.c - the Ulfius instance: start, dispatch of every request through
 * the router, graceful stop (see server.h). */
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <ulfius.h>

#include "accesslog.h"
#include "call.h"
#include "connguard.h"
#include "docs.h"
#include "front.h"
#include "handlers.h"
#include "images.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "problem.h"
#include "router.h"
#include "timeutil.h"

#define CONNECTION_TIMEOUT_S 60 /* idle keep-alive; above the longest ?wait */
#define THREAD_STACK_BYTES (512 * 1024)
/* Descriptors besides the connections: backend pool, logs, Redis subscriber,
 * and the files of the ready image responses (images.h). */
#define SPARE_FDS (256 + API_IMAGES_READY_SLOTS + API_IMAGES_READY_COPIES_MAX)
/* A request line that may be a stored image's (hot_candidate): "/api/images/"
 * and an id, or an id and "/thumbnail", with room to spare. */
#define HOT_URI_MAX 128

struct api_server {
    api_env_t env; /* what the handlers share (call.h) */
    struct _u_instance inst;
    int inst_ready;
    struct sockaddr_storage addr;
    char *docs_html;         /* env.docs_html, owned here */
    _Atomic int in_progress; /* requests between their request line and completion */
    api_accesslog_t *alog;   /* one line per request (accesslog.h) */
    api_connguard_t *guard;  /* env.guard, owned here: cuts slow requests (connguard.h) */
    /* Ulfius's MHD handler behind front_handler() (front.h); handler NULL
     * when front_handler() is not MHD's handler. */
    api_front_inner_t ulfius;
};

/* A request answered (or declined) by front_handler() before Ulfius sees it.
 * MHD runs a connection's requests one after another on the connection's
 * own thread (thread per connection), the completion callback included, so
 * its state is thread-local and its con_cls only one of two markers: no
 * allocation for it. */
typedef struct hot_req {
    char uri[HOT_URI_MAX]; /* the request target as sent (MHD decodes its copy in place) */
    api_resp_t *ready;     /* HOT_READY: the image response to queue, one reference */
    api_list_page_t *page; /* HOT_READY: or the list page to queue, one reference */
    api_match_t match;
    char id[UUID_STR_LEN];
    int head;   /* a HEAD, else a GET */
    int corked; /* the socket whose TCP_CORK answer_hot() set, else -1 */
    uint64_t t0;
} hot_req_t;
static __thread hot_req_t tl_hot = {.corked = -1};
/* Their addresses are the con_cls of a request line that may be a stored
 * image's (undecided), and of a request front_handler() answers. */
static const char HOT_CANDIDATE, HOT_READY;

static const api_handler_fn HANDLERS[API_HANDLER_COUNT] = {
    [API_HANDLER_LIST] = api_handle_list,
    [API_HANDLER_UPLOAD] = api_handle_upload,
    [API_HANDLER_IMAGE] = api_handle_image,
    [API_HANDLER_DELETE] = api_handle_delete,
    [API_HANDLER_THUMBNAIL] = api_handle_thumbnail,
    [API_HANDLER_HEALTH] = api_handle_health,
    [API_HANDLER_OPENAPI] = api_handle_openapi,
    [API_HANDLER_DOCS] = api_handle_docs,
    [API_HANDLER_METRICS] = api_handle_metrics,
    [API_HANDLER_ASSET] = api_handle_asset,
    [API_HANDLER_SWAGGER_ASSET] = api_handle_swagger_asset,
    [API_HANDLER_EVENTS] = api_handle_events,
    [API_HANDLER_PAGE] = api_handle_page,
};

static void name_thread(void)
{
    static __thread int thread_named;
    if (!thread_named) {
        log_set_thread_name("http");
        thread_named = 1;
    }
}

/* Every request: route (router.h), refuse (404, 405, 401, 403) or call the
 * handler, then count it and log it. */
static int dispatch(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    uint64_t t0 = time_mono_ns();
    name_thread();
    api_server_t *s = user_data;
    api_connguard_handler(s->guard); /* the body is in: the request is no longer policed */
    const config_t *cfg = s->env.cfg;
    api_call_t c = {.env = &s->env, .req = req, .resp = resp};
    const char *m = req->http_verb != NULL ? req->http_verb : "";
    /* http_url is the request target as sent (Ulfius keeps MHD's raw URI);
     * url_path is its path, still encoded (the router decodes segments). */
    const char *url = req->http_url != NULL ? req->http_url : "";
    const char *query = strchr(url, '?');
    const char *path = req->url_path != NULL ? req->url_path : "";
    char nul_param[64];
    api_match_outcome_t outcome = api_route_match(m, path, &c.match);
    if (api_url_has_nul(path, strlen(path))) {
        /* A decoded %00 would end the segment early: "<id>%00x" would read
         * as <id>. No resource has a NUL in its name. */
        c.match.handler = API_HANDLER_NONE;
        api_reply_problem(&c, 404, NULL, NULL,
                          "the path holds an encoded NUL (%00): no resource has such a name", NULL,
                          0, NULL);
    } else
        switch (outcome) {
        case API_MATCH_NO_PATH:
            api_reply_not_found(&c);
            break;
        case API_MATCH_NO_METHOD:
            api_set_header(&c, "Allow", c.match.allow);
            api_reply_problem(&c, 405, NULL, NULL, "this method is not allowed on this resource",
                              NULL, 0, NULL);
            break;
        case API_MATCH_FOUND: {
            int ok = api_authorized(&c.match, api_req_header(&c, "Authorization"), cfg->api_token,
                                    cfg->api_token_reads);
            if (!ok && cfg->api_token[0] == '\0') {
                /* Only a DELETE is refused without a configured token: anyone
                 * could delete otherwise. */
                api_reply_problem(&c, 403, NULL, NULL, "deletion is disabled: set API_TOKEN", NULL,
                                  0, NULL);
            } else if (!ok) {
                api_set_header(&c, "WWW-Authenticate", "Bearer realm=\"imgcap\"");
                api_reply_problem(&c, 401, NULL, NULL, "a valid bearer token is required", NULL, 0,
                                  NULL);
            } else if (query != NULL &&
                       api_query_nul_param(query + 1, nul_param, sizeof nul_param)) {
                /* MHD decodes query values in place into C strings: a %00 would
                 * silently cut the value ("limit=1%00abc" read as "limit=1"). */
                api_reply_field_error(&c, nul_param,
                                      "holds an encoded NUL (%00), which no value may hold");
            } else {
                HANDLERS[c.match.handler](&c);
            }
            break;
        }
        }
    api_call_release(&c);
    uint64_t elapsed = time_mono_ns() - t0;
    double secs = (double)elapsed / 1e9;
    int status = (int)resp->status;
    api_metrics_observe(c.match.route, m, status, secs);
    const char *why = status < 400 ? NULL : c.why[0] != '\0' ? c.why : api_status_title(status);
    if (c.match.handler == API_HANDLER_HEALTH && status == 200)
        api_accesslog_probe(s->alog, m, url, status, elapsed);
    else
        api_accesslog_request(s->alog, m, url, status, elapsed, c.id[0] != '\0' ? c.id : "-", why);
    /* Always COMPLETE: U_CALLBACK_ERROR would replace our body with a plain 500. */
    return U_CALLBACK_COMPLETE;
}

/* ---- reads without Ulfius ---- */

/* Whether a request target may be a stored image's, judged before its method
 * and headers are known: those go to front_handler() first. Anything else
 * (a query string, "//api/...", a long target) is Ulfius's from the start. */
static int hot_candidate(const char *uri)
{
    static const char prefix[] = "/api/images";
    if (strncmp(uri, prefix, sizeof prefix - 1) != 0 || strlen(uri) >= HOT_URI_MAX) return 0;
    const char *rest = uri + sizeof prefix - 1;
    if (rest[0] == '/') return strchr(rest, '?') == NULL; /* an image or thumbnail */
    return rest[0] == '\0' || rest[0] == '?';             /* the list */
}

/* The limit of a list target that asks for nothing but the newest page:
 * "/api/images" or "/api/images?limit=<digits>". 0 and *limit set, or -1
 * for any other query (a filter, `before`, an escape: Ulfius's). */
static int newest_page_limit(const char *uri, int *limit)
{
    const char *q = strchr(uri, '?');
    char err[160];
    if (q == NULL) return api_parse_limit(NULL, limit, err, sizeof err);
    if (strncmp(q + 1, "limit=", 6) != 0) return -1;
    const char *v = q + 7;
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 4 || v[n] != '\0') return -1;
    return api_parse_limit(v, limit, err, sizeof err);
}

/* The cached newest page of limit (listcache.h), with its ready responses;
 * NULL when it is not cached, is stale, or the events subscription is down:
 * exactly when api_handle_list() would not answer it from the cache either. */
static api_list_page_t *newest_page(api_server_t *s, int limit)
{
    if (!api_events_connected(s->env.ev)) return NULL;
    api_list_stamp_t stamp = {.events = api_events_changes(s->env.ev),
                              .forgets = api_images_forgets(s->env.images)};
    api_list_page_t *p = api_listcache_get(s->env.lists, limit, &stamp, time_mono_ms());
    if (p != NULL && p->att == NULL) {
        api_list_page_release(p);
        p = NULL;
    }
    return p;
}

/* Takes a hot request when nothing about it needs Ulfius: GET or HEAD, no
 * body, no If-None-Match, authorized, and either an image or thumbnail route
 * with a valid id whose response is ready (images.h, api_images_ready) into
 * tl_hot.ready, or the list's newest page, cached, into tl_hot.page. The same
 * route, authorization and id checks as dispatch(). Returns 1 when taken, 0
 * to hand the request to Ulfius, which then answers it exactly as it would
 * have without this path. */
static int take_hot(api_server_t *s, struct MHD_Connection *con, const char *method)
{
    hot_req_t *h = &tl_hot;
    h->t0 = time_mono_ns();
    const char *uri = h->uri;
    size_t path_len = strcspn(uri, "?");
    /* MHD answers a HEAD with the headers of the same response (its
     * Content-Length the body's size) and sends no body. */
    if ((strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) ||
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length") != NULL ||
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Transfer-Encoding") != NULL ||
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "If-None-Match") != NULL ||
        api_url_has_nul(uri, strlen(uri)))
        return 0;
    h->head = method[0] == 'H';
    char path[HOT_URI_MAX];
    memcpy(path, uri, path_len);
    path[path_len] = '\0';
    if (api_route_match(method, path, &h->match) != API_MATCH_FOUND ||
        (h->match.handler != API_HANDLER_IMAGE && h->match.handler != API_HANDLER_THUMBNAIL &&
         h->match.handler != API_HANDLER_LIST))
        return 0;
    const config_t *cfg = s->env.cfg;
    if (!api_authorized(&h->match,
                        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization"),
                        cfg->api_token, cfg->api_token_reads))
        return 0;
    if (h->match.handler == API_HANDLER_LIST) {
        int limit;
        if (newest_page_limit(uri, &limit) != 0) return 0;
        snprintf(h->id, sizeof h->id, "-");
        h->page = newest_page(s, limit);
        return h->page != NULL;
    }
    char err[160];
    if (api_parse_id(h->match.param, h->id, err, sizeof err) != 0) return 0;
    h->ready = api_images_ready(s->env.images, h->id, h->match.handler == API_HANDLER_THUMBNAIL);
    return h->ready != NULL;
}

/* Gives back what take_hot() took and an answer did not. */
static void hot_release(hot_req_t *h)
{
    api_resp_release(h->ready);
    h->ready = NULL;
    api_list_page_release(h->page);
    h->page = NULL;
}

/* Corks con's socket for a file response (TCP_CORK): MHD 0.9.75 sends its
 * header with send() and then the file with sendfile(), without MSG_MORE or
 * a cork of its own, so without this the 200-odd header bytes leave as a
 * segment of their own: one more transmission, and on loopback one more
 * delivery and wakeup of the client. Corked, the header and the body leave
 * as full segments, the last one when request_completed() uncorks (nginx's
 * tcp_nopush does the same: two setsockopt() calls around the response).
 * A failure costs only the extra segment, so it is not logged. */
static void cork(hot_req_t *h, struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con,
                                                                 MHD_CONNECTION_INFO_CONNECTION_FD);
    int on = 1;
    if (ci != NULL && setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0)
        h->corked = ci->connect_fd;
}

/* Sends what cork() held: the response is complete (or abandoned). */
static void uncork(hot_req_t *h)
{
    if (h->corked < 0) return;
    int off = 0;
    if (setsockopt(h->corked, IPPROTO_TCP, TCP_CORK, &off, sizeof off) != 0)
        log_warn("cannot uncork a response's socket: %s", strerror(errno));
    h->corked = -1;
}

/* Queues the taken response; then the same metrics and access log line as
 * dispatch(). */
static enum MHD_Result answer_hot(api_server_t *s, struct MHD_Connection *con)
{
    hot_req_t *h = &tl_hot;
    name_thread();
    api_connguard_handler(s->guard);
    /* MHD takes its own reference: the entry may be evicted while it sends. */
    struct MHD_Response *r = h->ready != NULL ? api_images_ready_response(h->ready)
                                              : api_ready_set_pick(h->page->att);
    /* A list page is one buffer, which MHD sends with its header in one call;
     * a HEAD has no body. */
    if (h->ready != NULL && !h->head) cork(h, con);
    enum MHD_Result q = MHD_queue_response(con, MHD_HTTP_OK, r);
    hot_release(h);
    if (q != MHD_YES) {
        log_error("id=%s cannot queue a ready response: the connection is closed", h->id);
        return MHD_NO;
    }
    uint64_t elapsed = time_mono_ns() - h->t0;
    const char *m = h->head ? "HEAD" : "GET";
    api_metrics_observe(h->match.route, m, 200, (double)elapsed / 1e9);
    api_accesslog_request(s->alog, m, h->uri, 200, elapsed, h->id, NULL);
    return MHD_YES;
}

/* MHD's access handler (front.h). A hot request is taken on MHD's first
 * call (headers in) and answered on the next: a response queued on the
 * first call makes MHD close the connection after it (0.9.75 treats it as
 * an early reply to a request whose body it will not read). Every other
 * request, and a hot one declined, goes to Ulfius's handler, which gets its
 * per-request state then (ulfius_uri_logger, as uri_logger() would have made
 * it). */
#if MHD_VERSION >= 0x00097002
static enum MHD_Result
#else
static int
#endif
front_handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **con_cls)
{
    api_server_t *s = cls;
    if (*con_cls == &HOT_READY) return answer_hot(s, con);
    if (*con_cls == &HOT_CANDIDATE) {
        if (take_hot(s, con, method)) {
            *con_cls = (void *)&HOT_READY;
            return MHD_YES;
        }
        void *ulfius_req = ulfius_uri_logger(NULL, tl_hot.uri);
        if (ulfius_req == NULL) return MHD_NO;
        *con_cls = ulfius_req;
    }
    return s->ulfius.handler(s->ulfius.cls, con, url, method, version, upload_data,
                             upload_data_size, con_cls);
}

/* ---- lifecycle ---- */

int api_server_backend_size(const config_t *cfg)
{
    int n = cfg->api_workers * 4;
    return n < 16 ? 16 : n;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
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
    api_server_t *s = cls;
    api_connguard_request_line(s->guard, con);
    atomic_fetch_add_explicit(&s->in_progress, 1, memory_order_seq_cst);
    if (s->ulfius.handler != NULL && hot_candidate(uri)) {
        snprintf(tl_hot.uri, sizeof tl_hot.uri, "%s", uri);
        return (void *)&HOT_CANDIDATE;
    }
    return ulfius_uri_logger(NULL, uri);
}

static void request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    api_server_t *s = cls;
    api_connguard_completed(s->guard, con, toe);
    if (*con_cls == &HOT_READY || *con_cls == &HOT_CANDIDATE) {
        /* front_handler()'s: nothing allocated but a response not queued
         * (the client went away in between). */
        uncork(&tl_hot);
        hot_release(&tl_hot);
        *con_cls = NULL;
    } else
        mhd_request_completed(NULL, con, con_cls, toe);
    atomic_fetch_sub_explicit(&s->in_progress, 1, memory_order_seq_cst);
}

static int resolve_bind(api_server_t *s, unsigned int *flags, char *err, size_t errlen)
{
    const config_t *cfg = s->env.cfg;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    const char *host = cfg->api_host[0] != '\0' ? cfg->api_host : NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->api_port);
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "API_HOST %s: %s", host != NULL ? host : "(any)", gai_strerror(rc));
        return -1;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    if (res->ai_family == AF_INET6) *flags |= MHD_USE_IPv6;
    freeaddrinfo(res);
    return 0;
}

/* Each connection is a descriptor: raises the soft RLIMIT_NOFILE (often
 * 1024) towards the hard one so that API_CONNECTION_LIMIT connections fit;
 * a hard limit below that is logged, and MHD then refuses connections once
 * descriptors run out. */
static void raise_nofile(void)
{
    rlim_t want = API_CONNECTION_LIMIT + SPARE_FDS;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
    rlim_t cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (cur > rl.rlim_cur) {
        rl.rlim_cur = cur;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)cur,
                     strerror(errno));
    }
    if (cur < want)
        log_warn("open files limited to %llu (ulimit -n): fewer than the %d connections the "
                 "api accepts",
                 (unsigned long long)cur, API_CONNECTION_LIMIT);
}

/* The guard's periodic call (connguard.h): deleted files must not stay
 * held open by ready responses nobody asks for (images.h). */
static void sweep_ready(void *arg)
{
    size_t n = api_images_sweep_ready(arg);
    if (n > 0) log_debug("closed %zu ready response(s) of deleted or replaced files", n);
}

/* The events actor's call for a deleted image (events.h). */
static void forget_deleted(void *arg, const char *id) { api_images_forget(arg, id); }

/* Frees what api_server_start() set up, whatever part of it succeeded. */
static void server_free(api_server_t *s)
{
    api_events_on_deleted(s->env.ev, NULL, NULL);
    if (s->inst_ready) ulfius_clean_instance(&s->inst);
    api_connguard_free(s->guard); /* after MHD: its last callbacks use the guard */
    free(s->docs_html);
    api_images_free(s->env.images);
    api_listcache_free(s->env.lists);
    api_space_free(s->env.space);
    api_accesslog_close(s->alog);
    free(s);
}

api_server_t *api_server_start(const config_t *cfg, api_events_t *ev, char *err, size_t errlen)
{
    api_server_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->env.cfg = cfg;
    s->env.ev = ev;
    /* One thread per connection, not MHD's epoll thread pool (server.h).
     * Measured on loopback: with 8 pool threads, of 8 requests ?wait=10 held
     * at once five took 10 s and two 20 s (queued behind another's wait on
     * the same thread), and an event stream would hold a pool thread for its
     * whole life. With 3200 slow connections held, a pool kept about 9 KiB
     * less per connection resident (30 MiB in all against 60) and answered
     * /health no faster (p99 under 6 ms both): slow clients are bounded by
     * the limits and the guard (connguard.h), not by the threading model. */
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    s->env.images = api_images_new(cfg->storage_dir);
    s->env.space = api_space_new(cfg);
    s->env.lists = api_listcache_new();
    s->alog = api_accesslog_open("api", cfg->log_dir, cfg->log_stderr);
    /* After the images: the guard's thread sweeps their ready responses. */
    s->guard = s->env.images != NULL ? api_connguard_start(sweep_ready, s->env.images) : NULL;
    s->env.guard = s->guard;
    s->docs_html = api_docs_html(cfg->swagger_ui_url, cfg->api_token[0] != '\0', &s->env.docs_len);
    s->env.docs_html = s->docs_html;
    if (s->env.images == NULL || s->env.space == NULL || s->env.lists == NULL || s->alog == NULL ||
        s->docs_html == NULL || s->guard == NULL) {
        snprintf(err, errlen, "out of memory or no thread for the access log or the guard");
        goto fail;
    }
    api_events_on_deleted(ev, forget_deleted, s->env.images);
    if (resolve_bind(s, &flags, err, errlen) != 0) goto fail;
    raise_nofile();
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
     * 404 and 405 (router.h says why). */
    if (ulfius_add_endpoint_by_val(&s->inst, "*", "*", NULL, 0, dispatch, s) != U_OK) {
        snprintf(err, errlen, "cannot add the endpoint");
        goto fail;
    }

    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL}, /* must come first */
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, s},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_logger, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)api_connguard_notify, s->guard},
        {MHD_OPTION_SOCK_ADDR, 0, &s->addr},
        {MHD_OPTION_CONNECTION_LIMIT, API_CONNECTION_LIMIT, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->api_per_ip_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK_BYTES, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* s->ulfius is set inside the start, before MHD accepts a connection. */
    api_front_arm(front_handler, s, &s->ulfius);
    int started = ulfius_start_framework_with_mhd_options(&s->inst, flags, ops) == U_OK;
    if (!api_front_disarm() && started)
        log_warn("Ulfius did not start MHD through MHD_start_daemon: stored images are served "
                 "through Ulfius (slower)");
    if (!started) {
        snprintf(err, errlen, "cannot listen on %s:%d (see the microhttpd message above)",
                 cfg->api_host, cfg->api_port);
        goto fail;
    }
    log_info("listening on %s:%d, up to %d connections (a thread each, %d per client address), "
             "%d backend connections, uploads up to %lld bytes",
             cfg->api_host, cfg->api_port, API_CONNECTION_LIMIT, cfg->api_per_ip_connections,
             api_server_backend_size(cfg), cfg->max_upload_bytes);
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
    while (atomic_load_explicit(&s->in_progress, memory_order_seq_cst) > 0 &&
           time_mono_ms() < deadline)
        time_sleep_ms(10, NULL);
    return atomic_load_explicit(&s->in_progress, memory_order_seq_cst);
}

void api_server_stop(api_server_t *s)
{
    if (s == NULL) return;
    ulfius_stop_framework(&s->inst);
    server_free(s);
}
