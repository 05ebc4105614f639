/* server.h - the HTTP side of the API: the Ulfius instance, its start and
 * graceful stop; every request goes through the router (router.h) to a
 * handler (handlers.h, images.h) (services/api/README.md).
 *
 * Threading: libmicrohttpd runs one thread per connection, at most
 * API_CONNECTION_LIMIT connections (further ones wait in the listen backlog),
 * each closed after CONNECTION_TIMEOUT_S idle seconds. Why not MHD's thread
 * pool: a ?wait request blocks its thread (Ulfius has no suspend/resume), and
 * in pool mode every other connection multiplexed on that thread - keep-alive
 * ones, and new ones accepted in the same batch, as an integration test showed -
 * stalls behind it for up to 30 s. With a thread per connection a held request
 * delays nobody else. Redis and PostgreSQL connections are therefore not per
 * thread but a bounded checkout pool of api_server_backend_size() slots
 * (backend.h), and at most API_CONNECTION_LIMIT/2 requests may be held by
 * ?wait at once (events.h); beyond that ?wait answers at once.
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

#define API_CONNECTION_LIMIT 1024
/* Connections one client address may hold. Slow clients (slowloris) trickle a
 * byte before each idle timeout, so the idle timeout alone never frees their
 * threads; this bound keeps one address from taking the whole pool. Docker's
 * port publishing keeps client addresses (iptables DNAT); behind a proxy that
 * does not, raise it or let the proxy enforce header timeouts. */
#define API_PER_IP_CONNECTION_LIMIT 128

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
