/* accesslog.c - batched access log of the API (see accesslog.h). */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define BUF_BYTES (64 * 1024)
#define LINE_MAX_BYTES 4096
/* ` why="..."` at its longest: every byte escaped to four. */
#define WHY_ROOM (8 + 4 * API_ACCESSLOG_WHY_MAX)

struct api_accesslog {
    pthread_mutex_t mu; /* buf, len, last_line_ms, stop */
    pthread_cond_t cv;  /* wakes the flusher early: close */
    /* The writing of a batch: spare, fd, open_failed_logged. Writes happen
     * outside mu, so request threads only ever wait for a memcpy, not for
     * the disk, unless a whole buffer fills while the other is written. */
    pthread_mutex_t io_mu;
    pthread_t flusher;
    int stop;
    int fd; /* -1 while the file cannot be opened */
    int to_stderr;
    int pid;
    int open_failed_logged;
    uint64_t last_line_ms; /* monotonic time of the latest line */
    char service[32];
    char path[PATH_MAX]; /* "" = no file */
    char *buf, *spare;   /* point into bufs: filled / being written */
    size_t len;          /* bytes in buf */
    char bufs[2][BUF_BYTES];
};

/* Caller holds io_mu. Reopens the path when it no longer names the open file
 * (rotated away) or when it could not be opened before. */
static void reopen_if_rotated(api_accesslog_t *a)
{
    if (a->path[0] == '\0') return;
    struct stat named, open_st;
    if (a->fd >= 0 && stat(a->path, &named) == 0 && fstat(a->fd, &open_st) == 0 &&
        named.st_dev == open_st.st_dev && named.st_ino == open_st.st_ino)
        return;
    int fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (!a->open_failed_logged)
            log_error("access log: cannot open %s: %s (lines go to stderr only)", a->path,
                      strerror(errno));
        a->open_failed_logged = 1;
        return;
    }
    a->open_failed_logged = 0;
    if (a->fd >= 0) close(a->fd);
    a->fd = fd;
}

void api_accesslog_flush(api_accesslog_t *a)
{
    pthread_mutex_lock(&a->io_mu);
    pthread_mutex_lock(&a->mu);
    char *full = a->buf;
    size_t n = a->len;
    a->buf = a->spare; /* written by the previous flush, which is over */
    a->spare = full;
    a->len = 0;
    pthread_mutex_unlock(&a->mu);
    reopen_if_rotated(a);
    if (n > 0 && a->fd >= 0) log_write_all(a->fd, full, n);
    if (n > 0 && (a->to_stderr || a->fd < 0)) log_write_all(STDERR_FILENO, full, n);
    pthread_mutex_unlock(&a->io_mu);
}

static void *flusher_main(void *arg)
{
    api_accesslog_t *a = arg;
    log_set_thread_name("accesslog");
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec until;
        time_deadline(CLOCK_MONOTONIC, API_ACCESSLOG_FLUSH_MS, &until);
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
        pthread_mutex_unlock(&a->mu);
        api_accesslog_flush(a);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

api_accesslog_t *api_accesslog_open(const char *service, const char *dir, int to_stderr)
{
    api_accesslog_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        log_error("access log: out of memory");
        return NULL;
    }
    snprintf(a->service, sizeof a->service, "%s", service);
    if (dir != NULL && dir[0] != '\0') snprintf(a->path, sizeof a->path, "%s/%s.log", dir, service);
    a->fd = -1;
    a->buf = a->bufs[0];
    a->spare = a->bufs[1];
    a->to_stderr = to_stderr;
    a->pid = (int)getpid();
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->io_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    reopen_if_rotated(a); /* no other thread yet: io_mu not needed */
    int rc = pthread_create(&a->flusher, NULL, flusher_main, a);
    if (rc != 0) {
        log_error("access log: cannot start its thread: %s", strerror(rc));
        if (a->fd >= 0) close(a->fd);
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->io_mu);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    return a;
}

/* Appends s to out[*o..room), cut to fit. */
static void put(char *out, size_t room, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (n > room - *o) n = room - *o;
    memcpy(out + *o, s, n);
    *o += n;
}

static void put_uint(char *out, size_t room, size_t *o, uint64_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0 && *o < room) out[(*o)++] = digits[--n];
}

/* time_format_rfc3339_ms()'s text, its seconds part formatted once per
 * second per thread: snprintf was a third of a line's cost. line has room. */
static void put_timestamp(char *line, size_t *len, uint64_t unix_ms)
{
    static __thread uint64_t cached_s = UINT64_MAX;
    static __thread char cached[40]; /* "2026-11-28T12:34:56." */
    static __thread size_t cached_len;
    uint64_t sec = unix_ms / 1000;
    if (sec != cached_s) {
        time_format_rfc3339_ms(sec * 1000, cached, sizeof cached);
        cached_len = strlen(cached) - 4; /* up to the '.', without "000Z" */
        cached_s = sec;
    }
    memcpy(line, cached, cached_len);
    unsigned ms = (unsigned)(unix_ms % 1000);
    line[cached_len] = (char)('0' + ms / 100);
    line[cached_len + 1] = (char)('0' + ms / 10 % 10);
    line[cached_len + 2] = (char)('0' + ms % 10);
    line[cached_len + 3] = 'Z';
    *len = cached_len + 4;
}

/* Appends ` why="<text>"` (line has WHY_ROOM left): text escaped by
 * log_escape, and its quotes as \x22 (log_escape leaves no bare backslash, so
 * this reads as the same escape). A cut text ends on a whole UTF-8 character. */
static void put_why(char *line, size_t room, size_t *len, const char *why)
{
    size_t n = strnlen(why, API_ACCESSLOG_WHY_MAX);
    if (why[n] != '\0')
        while (n > 0 && ((unsigned char)why[n] & 0xC0) == 0x80) n--;
    put(line, room, len, " why=\"");
    for (size_t i = 0; i < n;) {
        size_t run = strcspn(why + i, "\"");
        if (run > n - i) run = n - i;
        *len += log_escape(line + *len, room - *len, why + i, run);
        i += run;
        if (i < n) {
            put(line, room, len, "\\x22");
            i++;
        }
    }
    put(line, room, len, "\"");
}

static void accesslog_line(api_accesslog_t *a, log_level_t level, const char *method,
                           const char *url, int status, uint64_t elapsed_ns, const char *id,
                           const char *why)
{
    if (!log_enabled(level)) return;
    char msg[LINE_MAX_BYTES];
    size_t m = 0, room = sizeof msg;
    uint64_t tenths_ms = (elapsed_ns + 50000) / 100000;
    put(msg, room, &m, method);
    put(msg, room, &m, " ");
    put(msg, room, &m, url);
    put(msg, room, &m, " ");
    put_uint(msg, room, &m, status < 0 ? 0 : (uint64_t)status);
    put(msg, room, &m, " ");
    put_uint(msg, room, &m, tenths_ms / 10);
    put(msg, room, &m, ".");
    put_uint(msg, room, &m, tenths_ms % 10);
    put(msg, room, &m, "ms id=");
    put(msg, room, &m, id);

    char line[LINE_MAX_BYTES + 256 + WHY_ROOM];
    size_t len = 0, lroom = sizeof line - 1; /* one byte kept for the newline */
    put_timestamp(line, &len, time_now_ms());
    put(line, lroom, &len, level == LOG_DEBUG ? " DEBUG " : " INFO ");
    put(line, lroom, &len, a->service);
    put(line, lroom, &len, "[");
    put_uint(line, lroom, &len, (uint64_t)a->pid);
    put(line, lroom, &len, "] http: ");
    len += log_escape(line + len, lroom - WHY_ROOM - len, msg, m);
    if (why != NULL && why[0] != '\0') put_why(line, lroom, &len, why);
    line[len++] = '\n';

    uint64_t now = time_mono_ms();
    pthread_mutex_lock(&a->mu);
    while (a->len + len > BUF_BYTES) {
        pthread_mutex_unlock(&a->mu);
        api_accesslog_flush(a);
        pthread_mutex_lock(&a->mu);
    }
    memcpy(a->buf + a->len, line, len);
    a->len += len;
    /* The first line after a quiet spell is written at once: batching pays
     * only under load, and a lone request's line should not wait. */
    int now_too = a->len == len && now - a->last_line_ms >= API_ACCESSLOG_IDLE_MS;
    a->last_line_ms = now;
    pthread_mutex_unlock(&a->mu);
    if (now_too) api_accesslog_flush(a);
}

void api_accesslog_request(api_accesslog_t *a, const char *method, const char *url, int status,
                           uint64_t elapsed_ns, const char *id, const char *why)
{
    accesslog_line(a, LOG_INFO, method, url, status, elapsed_ns, id, why);
}

void api_accesslog_probe(api_accesslog_t *a, const char *method, const char *url, int status,
                         uint64_t elapsed_ns)
{
    accesslog_line(a, LOG_DEBUG, method, url, status, elapsed_ns, "-", NULL);
}

void api_accesslog_close(api_accesslog_t *a)
{
    if (a == NULL) return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->flusher, NULL);
    api_accesslog_flush(a);
    if (a->fd >= 0) close(a->fd);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->io_mu);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
