/* rqueue_url.h - REDIS_URL parsing (pure, no I/O; shared/README.md, Queues). */
#ifndef IMGCAP_RQUEUE_URL_H
#define IMGCAP_RQUEUE_URL_H

#include <stddef.h>

/* A parsed REDIS_URL. */
typedef struct rq_url {
    char host[256];
    int port;       /* 6379 by default */
    char path[512]; /* unix socket path, "" for TCP */
    char password[256];
    int db;
} rq_url_t;

/* Parses redis://[:password@]host[:port][/db] or unix:///path.sock into
 * *out. Returns 0, or -1 with one line in err naming REDIS_URL. */
int rq_url_parse(const char *url, rq_url_t *out, char *err, size_t errlen);

#endif
