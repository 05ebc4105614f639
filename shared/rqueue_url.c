/* rqueue_url.c - REDIS_URL parsing, see rqueue_url.h. */
#include "rqueue_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rq_url_parse(const char *url, rq_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        if (*path != '/' || strlen(path) >= sizeof out->path) {
            snprintf(err, errlen, "REDIS_URL: unix:// needs an absolute socket path");
            return -1;
        }
        snprintf(out->path, sizeof out->path, "%s", path);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL: '%s' must start with redis:// or unix://", url);
        return -1;
    }
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon != NULL ? colon + 1 : p;
        size_t len = (size_t)(at - pw);
        if (len >= sizeof out->password) {
            snprintf(err, errlen, "REDIS_URL: password too long");
            return -1;
        }
        memcpy(out->password, pw, len);
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof out->host) {
        snprintf(err, errlen, "REDIS_URL: missing or too long host in '%s'", url);
        return -1;
    }
    memcpy(out->host, p, hlen);
    p += hlen;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            snprintf(err, errlen, "REDIS_URL: bad port in '%s'", url);
            return -1;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1] != '\0') {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != '\0' || db < 0 || db > 1000) {
            snprintf(err, errlen, "REDIS_URL: bad database number in '%s'", url);
            return -1;
        }
        out->db = (int)db;
    }
    return 0;
}
