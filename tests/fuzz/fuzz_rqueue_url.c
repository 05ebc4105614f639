/* fuzz_rqueue_url.c - REDIS_URL parsing (shared/rqueue_url.c).
 *
 * The URL comes from the environment or a .env file written by hand: any
 * text must parse into bounded, NUL-terminated fields with a port in range,
 * or be refused with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rqueue_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char url[2048], err[256];
    if (size >= sizeof url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    rq_url_t u;
    if (rq_url_parse(url, &u, err, sizeof err) != 0) {
        if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') abort();
        return 0;
    }
    if (memchr(u.host, '\0', sizeof u.host) == NULL ||
        memchr(u.path, '\0', sizeof u.path) == NULL ||
        memchr(u.password, '\0', sizeof u.password) == NULL)
        abort();
    if (u.path[0] == '\0' && (u.host[0] == '\0' || u.port < 1 || u.port > 65535)) abort();
    if (u.db < 0) abort();
    return 0;
}
