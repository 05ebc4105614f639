/* sse.h - the hub of GET /api/events: Server-Sent Events fanned out to every
 * open stream, each with its own bounded buffer.
 *
 * Each stream is one HTTP response whose body the connection's thread pulls
 * with api_sse_read() (libmicrohttpd runs a thread per connection, so a
 * reader may block). api_sse_broadcast() formats an event once and appends
 * it to every stream's buffer without waiting for any of them: a stream
 * whose client reads too slowly for its buffer (API_SSE_CLIENT_BYTES) is cut
 * off (its buffer freed, its next read ends the response) instead of
 * stalling the others or growing. A client that reconnects catches up from
 * GET /api/images: events are hints, not a log.
 *
 * Pure: threads and memory only, no I/O (the feed in feed.h looks rows up
 * and calls api_sse_broadcast()). Thread-safe. */
#ifndef IMGCAP_API_SSE_H
#define IMGCAP_API_SSE_H

#include <stddef.h>
#include <sys/types.h>

#define API_SSE_CLIENT_BYTES (64 * 1024) /* about 200 stored events */
#define API_SSE_HEARTBEAT_MS 10000       /* comment line when idle, under 15 s */
#define API_SSE_RETRY_MS 3000            /* the "retry:" sent to clients */

typedef struct api_sse api_sse_t;
typedef struct api_sse_client api_sse_client_t;

/* A hub of at most max_clients streams, each buffering at most client_bytes,
 * sending a comment after heartbeat_ms without an event. Returns NULL when out
 * of memory. Free with api_sse_free() once every client is detached. */
api_sse_t *api_sse_new(int max_clients, size_t client_bytes, int heartbeat_ms);
void api_sse_free(api_sse_t *h);

typedef enum { API_SSE_OK = 0, API_SSE_FULL, API_SSE_STOPPING, API_SSE_NOMEM } api_sse_refusal_t;

/* A new stream, whose first bytes set the client's retry delay. Returns it, or
 * NULL with *why set (max_clients are open, the hub is stopping or memory ran
 * out). */
api_sse_client_t *api_sse_attach(api_sse_t *h, api_sse_refusal_t *why);

/* Copies up to max bytes of the stream's output into buf, waiting up to the
 * heartbeat for some (then it is a comment line). Returns the byte count, or
 * 0 when the stream is over: cut off for being slow, or the hub is stopping
 * (what was buffered is delivered first). */
ssize_t api_sse_read(api_sse_t *h, api_sse_client_t *c, char *buf, size_t max);

/* Ends and frees a stream (any thread, once its reader is done). */
void api_sse_detach(api_sse_t *h, api_sse_client_t *c);

/* Appends "event: <event>\ndata: <data>\n\n" to every open stream. Returns
 * how many streams were cut off because their buffer was full, or -1 when
 * the event cannot be formatted (empty or multi-line event name). */
int api_sse_broadcast(api_sse_t *h, const char *event, const char *data);

/* Shutdown: refuses new streams and ends the open ones after their buffered
 * output. */
void api_sse_quiesce(api_sse_t *h);

/* Ends every open stream after its buffered output; new ones are welcome.
 * For when events may have been missed: clients reconnect and catch up. */
void api_sse_end_all(api_sse_t *h);

/* Open streams, and streams cut off for being slow since the start. */
void api_sse_stats(api_sse_t *h, int *clients, unsigned long long *cut_off);

/* Formats one event into out: "event: <event>\n", then one "data: " line per
 * line of data ("\n", "\r\n" or "\r" end a line), then an empty line. Returns
 * the length, or the length needed (>= outlen: nothing usable written) like
 * snprintf, or -1 when event is empty or holds a line break. */
long api_sse_format(char *out, size_t outlen, const char *event, const char *data);

#endif
