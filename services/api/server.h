/* server.h - the HTTP side of the API: Ulfius instance, routes, handlers
 * (design section 3).
 *
 * Threading: libmicrohttpd runs a bounded pool of api_server_pool_size()
 * threads (internal epoll per thread). A handler runs on the pool thread that
 * owns its connection, and the Redis/PostgreSQL connections it uses belong to
 * that thread (backend.h). A ?wait request holds its thread (Ulfius has no
 * suspend/resume), so the pool is sized max(API_WORKERS*4, 16) and at most
 * half of it may be holding waiters (events.h): the other half always serves.
 * While a thread holds a waiter, other keep-alive connections it owns wait
 * too (at most the wait time); new connections go to the free threads.
 *
 * Request bodies: Ulfius reads the whole body before any callback runs, so a
 * 413 cannot be answered before the upload is received. Memory is bounded
 * instead: Ulfius's own multipart parser is off (it would keep a second copy
 * and drops binary parts unless check_utf8 = 0), the raw body is capped at
 * MAX_UPLOAD_BYTES + 1 bytes (max_post_body_size; the rest is read from the
 * socket and discarded), and upload.c parses the parts in place. A declared
 * Content-Length over the limit, or a capped body, answers 413. */
#ifndef IMGCAP_API_SERVER_H
#define IMGCAP_API_SERVER_H

#include "config.h"
#include "events.h"

typedef struct api_server api_server_t;

/* Number of MHD pool threads for cfg. */
int api_server_pool_size(const config_t *cfg);

/* Binds API_HOST:API_PORT and starts serving. cfg and ev must outlive the
 * server. Returns the server (caller stops it with api_server_stop()) or
 * NULL with err set. */
api_server_t *api_server_start(const config_t *cfg, api_events_t *ev, char *err,
                               size_t errlen);

/* Stops accepting connections (first step of a graceful stop). */
void api_server_quiesce(api_server_t *s);

/* Waits for running handlers, closes every connection, frees the server. */
void api_server_stop(api_server_t *s);

#endif
