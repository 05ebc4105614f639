/* server.h - the HTTP side of the API: the Ulfius instance, its start and
 * graceful stop; every request goes through the router (router.h) to a
 * handler (handlers.h, images.h) (services/api/README.md).
 *
 * Threading: libmicrohttpd runs one thread per connection, at most
 * API_CONNECTION_LIMIT connections (MHD closes further ones at once), each
 * closed after CONNECTION_TIMEOUT_S idle seconds. Why not MHD's thread
 * pool: a ?wait request blocks its thread (Ulfius has no suspend/resume), and
 * in pool mode every other connection multiplexed on that thread - keep-alive
 * ones, and new ones accepted in the same batch, as an integration test showed -
 * stalls behind it for up to 30 s. With a thread per connection a held request
 * delays nobody else. Redis and PostgreSQL connections are therefore not per
 * thread but a bounded checkout pool of api_server_backend_size() slots
 * (backend.h), and at most API_MAX_WAITERS requests may be held by ?wait at
 * once (events.h); beyond that ?wait answers at once.
 *
 * Slow clients: a thread per connection costs little while it waits (its
 * stack is virtual memory until touched: about 15 KiB resident per slow
 * connection with MHD's buffer, so some 135 MiB at API_CONNECTION_LIMIT;
 * tests/integration/test_slow_clients.py bounds it), so the limit is set
 * high and what a slow client may hold is
 * bounded three ways: API_PER_IP_CONNECTIONS per client address, the guard
 * (connguard.h) that cuts a request arriving too slowly, and MHD's idle
 * timeout. A thread pool (MHD_USE_EPOLL) would hold slow connections even
 * more cheaply but brings back the stall above for ?wait and the event
 * stream, and slow connections would still take slots: the limits, not the
 * threading model, are what keep the api answering.
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

/* Connections at once, a thread each. With API_PER_IP_CONNECTIONS = 64 (the
 * default), 50 client addresses hold at most 3200 of them and taking them all
 * needs 128 addresses, each of which must also keep every request above the
 * guard's rate (connguard.h): 8 MiB/s in all. Against more, the reverse proxy
 * of docs/operations.md. Docker's port publishing keeps client addresses
 * (iptables DNAT); behind a proxy that does not, API_PER_IP_CONNECTIONS must
 * be raised (or 0) and the proxy limits connections per client. */
#define API_CONNECTION_LIMIT 8192
/* ?wait requests held at once (events.h). */
#define API_MAX_WAITERS 512

typedef struct api_server api_server_t;

/* Number of backend (Redis + PostgreSQL) connection slots for cfg:
 * max(4 * API_WORKERS, 16). */
int api_server_backend_size(const config_t *cfg);

/* Binds API_HOST:API_PORT and starts serving. cfg and ev must outlive the
 * server. Returns the server (caller stops it with api_server_stop()), or
 * NULL with err set. */
api_server_t *api_server_start(const config_t *cfg, api_events_t *ev, char *err, size_t errlen);

/* Stops accepting connections (first step of a graceful stop). */
void api_server_quiesce(api_server_t *s);

/* Waits up to timeout_ms for the requests in progress to be answered (idle
 * keep-alive connections do not count). Returns how many are left. */
int api_server_drain(api_server_t *s, int timeout_ms);

/* Closes every connection (after waiting for running handlers), frees the
 * server. */
void api_server_stop(api_server_t *s);

#endif
