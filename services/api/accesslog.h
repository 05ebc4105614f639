/* accesslog.h - the API's access log: one INFO line per answered request, in
 * the service log's line format (log.h) and destinations (LOG_DIR/api.log and
 * stderr), written in batches.
 *
 * Why batches: log_write() makes two write(2) calls and a getpid() per line;
 * for a cached image read that was about an eighth of the request's CPU. A
 * line that comes API_ACCESSLOG_IDLE_MS or more after the previous one is
 * written at once, as before; lines closer together (a busy server) collect
 * in a 64 KiB buffer that is written when full, by a flusher thread every
 * API_ACCESSLOG_FLUSH_MS, and on close. The price, under load only: a line
 * reaches the file up to API_ACCESSLOG_FLUSH_MS after its request, so it may
 * follow WARN/ERROR lines logged later, and the buffered lines are lost if
 * the process crashes (a clean stop writes them all).
 *
 * The file is opened on its own descriptor; a log rotation (the file renamed
 * or removed, then SIGHUP for log.c) is noticed by the next flush, which
 * reopens the path. Lines are suppressed when LOG_LEVEL is above info.
 * Thread-safe, and lines keep their order: two buffers, one filled under a
 * mutex while the other is written under a second one. */
#ifndef IMGCAP_API_ACCESSLOG_H
#define IMGCAP_API_ACCESSLOG_H

#include <stdint.h>

#define API_ACCESSLOG_FLUSH_MS 100
#define API_ACCESSLOG_IDLE_MS 20
#define API_ACCESSLOG_WHY_MAX 300

typedef struct api_accesslog api_accesslog_t;

/* Starts the access log of service (the name in its lines) writing to
 * dir/<service>.log (none when dir is NULL or "") and, when to_stderr or while
 * that file cannot be opened, to stderr (LOG_STDERR, as log_set_stderr_copy()). The caller closes
 * it with api_accesslog_close(). NULL (logged) when out of memory or the thread cannot start; an
 * unopenable file is logged and retried at each flush. */
api_accesslog_t *api_accesslog_open(const char *service, const char *dir, int to_stderr);

/* Appends the line of one answered request, with "http" as its thread:
 * "<method> <url> <status> <ms, one decimal>ms id=<id>[ why="<why>"]".
 * why says why a request was refused or failed (the caller passes one for
 * 4xx and 5xx answers; NULL or "" for none): without it a 4xx line told an
 * operator nothing. It is escaped like the rest of the line (log_escape) and
 * its quotes as \x22 too, so the field ends at the line's last quote whatever
 * the client sent; cut to API_ACCESSLOG_WHY_MAX bytes. Formatted by hand:
 * printf took most of a line's cost. */
void api_accesslog_request(api_accesslog_t *a, const char *method, const char *url, int status,
                           uint64_t elapsed_ns, const char *id, const char *why);

/* The same line at DEBUG, for an answered health probe: a container
 * engine's healthcheck asks every few seconds, and at INFO those lines would
 * bury the rest (imgcap_http_requests_total still counts them). */
void api_accesslog_probe(api_accesslog_t *a, const char *method, const char *url, int status,
                         uint64_t elapsed_ns);

/* Writes what is buffered now (reopening the file if it was rotated). */
void api_accesslog_flush(api_accesslog_t *a);

/* Flushes, stops the flusher and frees. NULL is fine. */
void api_accesslog_close(api_accesslog_t *a);

#endif
