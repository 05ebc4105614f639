/* connguard.h - slow clients: the api's open connections and a watchdog
 * thread that cuts a request whose header or body arrives too slowly
 * (services/api/README.md, Slow clients).
 *
 * libmicrohttpd has only an idle timeout (MHD_OPTION_CONNECTION_TIMEOUT),
 * which any client resets by sending one byte before it expires: a slowloris
 * holds a connection and its thread for as long as it likes. The guard adds
 * what a reverse proxy such as nginx has (client_header_timeout,
 * client_body_timeout), in Apache mod_reqtimeout's form:
 *
 *   - a request gets API_SLOW_GRACE_MS from its first byte, plus one second
 *     per API_SLOW_MIN_RATE bytes it has sent: a request line and header
 *     trickled byte by byte is cut after the grace, an upload must average at
 *     least API_SLOW_MIN_RATE bytes/s once the grace is over;
 *   - within a request, the client may not stay silent for API_SLOW_IDLE_MS.
 *
 * A request is policed from its first byte until its handler starts (the
 * whole body has then been read); the response and an idle keep-alive
 * connection are left to libmicrohttpd's idle timeout.
 *
 * How: MHD tells the guard when a connection opens and closes
 * (MHD_OPTION_NOTIFY_CONNECTION), when a request line is parsed, when the
 * handler starts and when a request completes (server.c). The watchdog wakes
 * every API_SLOW_TICK_MS and reads each policed socket's received byte count
 * and time since its last data from the kernel (TCP_INFO), so it needs no
 * hook into MHD's reads. A request over its deadline is cut with
 * shutdown(2): MHD's connection thread then sees the end of the stream and
 * closes the connection itself. MHD calls the closed-notification before it
 * closes the socket, and the guard holds its mutex around both, so a
 * shutdown never reaches a descriptor already reused. Every cut is counted
 * in /metrics (imgcap_api_connections_cut_total{reason}): header_timeout or
 * body_timeout (told apart, on the connection's own thread, by whether MHD
 * had the whole header), or idle (also MHD's own timeout ending a request,
 * e.g. a response the client stopped reading). */
#ifndef IMGCAP_API_CONNGUARD_H
#define IMGCAP_API_CONNGUARD_H

#include <microhttpd.h>
#include <stdint.h>

#define API_SLOW_GRACE_MS 10000 /* a request's first seconds, whatever its rate */
#define API_SLOW_MIN_RATE 1024  /* bytes/s a request must average after the grace */
#define API_SLOW_IDLE_MS 20000  /* longest silence within a request */
#define API_SLOW_TICK_MS 500    /* how often the watchdog looks */

typedef enum {
    API_SLOW_OK = 0,
    API_SLOW_DEADLINE, /* slower than the grace + bytes / API_SLOW_MIN_RATE */
    API_SLOW_IDLE,     /* silent for API_SLOW_IDLE_MS */
} api_slow_verdict_t;

/* The rule, pure: a request that started elapsed_ms ago, of which bytes have
 * been received, the last of them silent_ms ago. */
api_slow_verdict_t api_slow_verdict(uint64_t elapsed_ms, uint64_t bytes, uint64_t silent_ms);

typedef struct api_connguard api_connguard_t;

/* Starts the watchdog thread. NULL (logged) when out of memory or threads.
 * tick(arg), when tick is not NULL, is called on that thread after each look
 * (about every API_SLOW_TICK_MS), without the guard's mutex held: a periodic
 * chore that needs no thread of its own (server.c: closing the ready
 * responses of deleted files). */
api_connguard_t *api_connguard_start(void (*tick)(void *arg), void *arg);

/* Stops the watchdog and frees the guard. Call after the MHD daemon stopped
 * (every connection closed). NULL is a no-op. */
void api_connguard_free(api_connguard_t *g);

/* MHD_OPTION_NOTIFY_CONNECTION's callback, cls = the guard. */
void api_connguard_notify(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);

/* The request line of con's next request was parsed (URI log callback, on
 * the connection's thread). */
void api_connguard_request_line(api_connguard_t *g, struct MHD_Connection *con);

/* The handler of the connection's request starts: the body has been read
 * (dispatch, on the connection's thread, after api_connguard_request_line). */
void api_connguard_handler(api_connguard_t *g);

/* con's request completed or was aborted with toe (MHD_OPTION_NOTIFY_COMPLETED,
 * on the connection's thread): counts a cut, waits for the next request. */
void api_connguard_completed(api_connguard_t *g, struct MHD_Connection *con,
                             enum MHD_RequestTerminationCode toe);

/* Connections open now. */
int api_connguard_open(api_connguard_t *g);

#endif
