/* connguard.c - open connections and the watchdog that cuts slow requests
 * (see connguard.h). */
#include "connguard.h"

#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received (glibc's lacks it) */
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "timeutil.h"

api_slow_verdict_t api_slow_verdict(uint64_t elapsed_ms, uint64_t bytes, uint64_t silent_ms)
{
    if (silent_ms >= API_SLOW_IDLE_MS) return API_SLOW_IDLE;
    if (elapsed_ms <= API_SLOW_GRACE_MS) return API_SLOW_OK;
    /* Bytes owed after the grace; elapsed is at most hours, so no overflow. */
    uint64_t owed = (elapsed_ms - API_SLOW_GRACE_MS) * API_SLOW_MIN_RATE / 1000;
    return bytes >= owed ? API_SLOW_OK : API_SLOW_DEADLINE;
}

typedef enum {
    PH_WAITING = 0, /* for a request: new, or after a response (keep-alive) */
    PH_REQUEST,     /* a request is arriving: policed */
    PH_HANDLER,     /* its handler runs or its response is sent: left to MHD */
    PH_CUT,         /* shut down by the watchdog; MHD closes it */
} phase_t;

typedef struct conn {
    struct conn *prev, *next;
    int fd;
    phase_t phase;
    api_slow_verdict_t cut; /* why the watchdog cut it; API_SLOW_OK when it did not */
    int counted;            /* the cut is in the metrics */
    uint64_t wait_ms;       /* when it began waiting for its next request */
    uint64_t checked_ms;    /* last look that saw no byte of that request */
    uint64_t start_ms;      /* about when the request's first byte arrived */
    uint64_t base_bytes;    /* bytes received before the request */
    int base_known;         /* base_bytes is set; else the watchdog's next look sets it */
} conn_t;

/* Cuts are logged at most this often, as one line: an attack of thousands
 * of connections must not flood the log (/metrics counts each one). */
#define CUT_LOG_PERIOD_MS 60000

struct api_connguard {
    pthread_mutex_t mu; /* the list, every conn_t field, the counts below, stop */
    pthread_cond_t cv;  /* wakes the watchdog to stop */
    conn_t *head;
    int open;
    unsigned cuts_unlogged;
    uint64_t next_log_ms; /* no cut line before this */
    int stop;
    pthread_t thread;
    void (*tick)(void *arg); /* called after each look, mu not held; NULL = none */
    void *tick_arg;
};

/* The connection whose request this thread handles: MHD runs one thread per
 * connection (server.h), and the handler's callback has no MHD connection. */
static __thread conn_t *tl_conn;

/* Received bytes and ms since the last data, from the kernel. Returns 0, or
 * -1 when the socket cannot be asked; *bytes is UINT64_MAX when the kernel
 * does not count them (before Linux 4.1): such a request is only idle-checked. */
static int tcp_progress(int fd, uint64_t *bytes, uint64_t *silent_ms)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    *silent_ms = ti.tcpi_last_data_recv;
    *bytes = len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received
                 ? ti.tcpi_bytes_received
                 : UINT64_MAX;
    return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* One look at c (mu held): starts policing a request whose first bytes
 * arrived, cuts one that is over its deadline. */
static void check(api_connguard_t *g, conn_t *c, uint64_t now)
{
    if (c->phase != PH_WAITING && c->phase != PH_REQUEST) return;
    uint64_t bytes, silent;
    if (tcp_progress(c->fd, &bytes, &silent) != 0) return; /* closing: MHD sees it too */
    if (!c->base_known) {
        /* The first look after a response (see api_connguard_completed):
         * what has arrived counts as before the next request. A request
         * already under way (its request line parsed) so loses the credit of
         * its bytes received before this look, at most a tick's worth: it is
         * judged slightly more strictly, never more leniently. */
        c->base_bytes = bytes != UINT64_MAX ? bytes : 0;
        c->base_known = 1;
        if (c->phase == PH_WAITING) {
            c->checked_ms = now;
            return;
        }
    }
    if (c->phase == PH_WAITING) {
        if (bytes == UINT64_MAX || bytes <= c->base_bytes) {
            c->checked_ms = now;
            return;
        }
        c->phase = PH_REQUEST;
        c->start_ms = max_u64(c->wait_ms, c->checked_ms);
    }
    uint64_t got = bytes == UINT64_MAX ? UINT64_MAX : bytes - c->base_bytes;
    uint64_t elapsed = now > c->start_ms ? now - c->start_ms : 0;
    api_slow_verdict_t v = api_slow_verdict(elapsed, got, silent);
    if (v == API_SLOW_OK) return;
    c->cut = v;
    c->phase = PH_CUT;
    g->cuts_unlogged++;
    /* MHD's thread reads the end of the stream and closes the connection. */
    if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
        log_warn("cannot cut a slow connection: %s", strerror(errno));
}

static void *watchdog_main(void *arg)
{
    api_connguard_t *g = arg;
    log_set_thread_name("connguard");
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec until;
        time_deadline(CLOCK_MONOTONIC, API_SLOW_TICK_MS, &until);
        pthread_cond_timedwait(&g->cv, &g->mu, &until);
        uint64_t now = time_mono_ms();
        for (conn_t *c = g->head; c != NULL && !g->stop; c = c->next) check(g, c, now);
        if (g->cuts_unlogged > 0 && now >= g->next_log_ms) {
            log_warn("cut %u connection(s) whose request arrived too slowly or stalled, of %d "
                     "open (imgcap_api_connections_cut_total counts them by reason)",
                     g->cuts_unlogged, g->open);
            g->cuts_unlogged = 0;
            g->next_log_ms = now + CUT_LOG_PERIOD_MS;
        }
        if (g->tick != NULL && !g->stop) {
            pthread_mutex_unlock(&g->mu);
            g->tick(g->tick_arg);
            pthread_mutex_lock(&g->mu);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

api_connguard_t *api_connguard_start(void (*tick)(void *arg), void *arg)
{
    api_connguard_t *g = calloc(1, sizeof *g);
    if (g == NULL) {
        log_error("connection guard: out of memory");
        return NULL;
    }
    g->tick = tick;
    g->tick_arg = arg;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&g->thread, NULL, watchdog_main, g);
    if (rc != 0) {
        log_error("connection guard: cannot start its thread: %s", strerror(rc));
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

void api_connguard_free(api_connguard_t *g)
{
    if (g == NULL) return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    while (g->head != NULL) { /* none once MHD stopped; kept for safety */
        conn_t *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* The reason to count for c's cut, or -1 (mu held). Pass header_done < 0 when
 * it is not known (no request line: so the header was not done either). */
static int take_cut_reason(conn_t *c, int header_done)
{
    if (c->cut == API_SLOW_OK || c->counted) return -1;
    c->counted = 1;
    if (c->cut == API_SLOW_IDLE) return API_CUT_IDLE;
    return header_done > 0 ? API_CUT_BODY_TIMEOUT : API_CUT_HEADER_TIMEOUT;
}

void api_connguard_notify(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    api_connguard_t *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(
            con, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *c = fd != NULL ? calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (c == NULL) {
            log_warn("connection guard: out of memory: a connection is not policed");
            return;
        }
        c->fd = fd->connect_fd;
        c->base_known = 1; /* nothing received before the first request */
        c->wait_ms = c->checked_ms = time_mono_ms();
        pthread_mutex_lock(&g->mu);
        c->next = g->head;
        if (g->head != NULL) g->head->prev = c;
        g->head = c;
        g->open++;
        pthread_mutex_unlock(&g->mu);
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_CLOSED) return;
    conn_t *c = *socket_context;
    if (c == NULL) return;
    *socket_context = NULL;
    /* MHD closes the socket after this returns: once c is off the list the
     * watchdog cannot shut a reused descriptor down. */
    pthread_mutex_lock(&g->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    g->open--;
    int reason = take_cut_reason(c, -1);
    pthread_mutex_unlock(&g->mu);
    if (reason >= 0) api_metrics_connection_cut((api_cut_reason_t)reason);
    free(c);
}

static conn_t *conn_of(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

void api_connguard_request_line(api_connguard_t *g, struct MHD_Connection *con)
{
    conn_t *c = conn_of(con);
    tl_conn = c;
    if (c == NULL) return;
    pthread_mutex_lock(&g->mu);
    if (c->phase == PH_WAITING) {
        c->phase = PH_REQUEST;
        c->start_ms = max_u64(c->wait_ms, c->checked_ms);
    }
    pthread_mutex_unlock(&g->mu);
}

void api_connguard_handler(api_connguard_t *g)
{
    conn_t *c = tl_conn;
    if (c == NULL) return;
    pthread_mutex_lock(&g->mu);
    if (c->phase == PH_REQUEST) c->phase = PH_HANDLER;
    pthread_mutex_unlock(&g->mu);
}

void api_connguard_completed(api_connguard_t *g, struct MHD_Connection *con,
                             enum MHD_RequestTerminationCode toe)
{
    conn_t *c = conn_of(con);
    tl_conn = NULL;
    if (c == NULL) return;
    /* On the connection's own thread MHD's state is stable: whether it had
     * the whole header tells a slow header from a slow body. */
    int header_done = MHD_get_connection_info(con, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) != NULL;
    uint64_t now = time_mono_ms();
    pthread_mutex_lock(&g->mu);
    int reason = take_cut_reason(c, header_done);
    if (reason < 0 && toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) reason = API_CUT_IDLE;
    if (c->phase != PH_CUT) {
        c->phase = PH_WAITING;
        c->wait_ms = c->checked_ms = now;
        /* The received byte count the next request is measured from is read
         * by the watchdog's next look, not here: a getsockopt(TCP_INFO) per
         * request was one syscall in six of a cached read, and the watchdog
         * reads it anyway. Bytes that arrive before that look (at most
         * API_SLOW_TICK_MS) count as before the next request, as pipelined
         * bytes already did; the request line's callback still starts
         * policing it (api_connguard_request_line), and check() says what a
         * request under way before that look is credited. */
        c->base_known = 0;
    }
    pthread_mutex_unlock(&g->mu);
    if (reason >= 0) api_metrics_connection_cut((api_cut_reason_t)reason);
}

int api_connguard_open(api_connguard_t *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->open;
    pthread_mutex_unlock(&g->mu);
    return n;
}
