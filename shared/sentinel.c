/* sentinel.c - pure parsers for Sentinel discovery (see sentinel.h). */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL_DEFAULT_PORT 26379

static int parse_port(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 5) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) return -1;
    *out = (int)v;
    return 0;
}

/* One "host[:port]" or "[v6][:port]" entry of len bytes, spaces trimmed. */
static int parse_entry(const char *s, size_t len, sentinel_addr_t *out, char *err, size_t errlen)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    const char *host = s, *port = NULL;
    size_t hlen = len, plen = 0;
    if (len > 0 && *s == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            snprintf(err, errlen, "REDIS_SENTINELS: missing ']' in '%.*s'", (int)len, s);
            return -1;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':') {
                snprintf(err, errlen, "REDIS_SENTINELS: expected ':' after ']' in '%.*s'", (int)len,
                         s);
                return -1;
            }
            port = close + 2;
            plen = rest - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL) {
                snprintf(err, errlen, "REDIS_SENTINELS: write an IPv6 address in brackets: '%.*s'",
                         (int)len, s);
                return -1;
            }
            hlen = (size_t)(colon - s);
            port = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof out->host) {
        snprintf(err, errlen, "REDIS_SENTINELS: missing or too long host in '%.*s'", (int)len, s);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        if (host[i] == ' ' || host[i] == '\t' || host[i] == '[' || host[i] == ']') {
            snprintf(err, errlen, "REDIS_SENTINELS: bad host in '%.*s'", (int)len, s);
            return -1;
        }
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = SENTINEL_DEFAULT_PORT;
    if (port != NULL && parse_port(port, plen, &out->port) < 0) {
        snprintf(err, errlen, "REDIS_SENTINELS: bad port in '%.*s'", (int)len, s);
        return -1;
    }
    return 0;
}

int sentinel_parse_list(const char *text, sentinel_addr_t *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (n == max) {
            snprintf(err, errlen, "REDIS_SENTINELS: more than %d sentinels", max);
            return -1;
        }
        if (parse_entry(p, len, &out[n], err, errlen) < 0) return -1;
        n++;
        if (p[len] == '\0') break;
        p += len + 1;
    }
    return n;
}

int sentinel_parse_master_addr(const redisReply *r, sentinel_addr_t *out, char *err, size_t errlen)
{
    if (r == NULL) {
        snprintf(err, errlen, "sentinel: no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) return SENTINEL_NO_MASTER;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "sentinel: %.*s", (int)r->len, r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "sentinel: unexpected reply to get-master-addr-by-name");
        return -1;
    }
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->len == 0 || h->len >= sizeof out->host || memchr(h->str, '\0', h->len) != NULL) {
        snprintf(err, errlen, "sentinel: bad primary host in reply");
        return -1;
    }
    int port;
    if (parse_port(p->str, p->len, &port) < 0) {
        snprintf(err, errlen, "sentinel: bad primary port in reply");
        return -1;
    }
    memcpy(out->host, h->str, h->len);
    out->host[h->len] = '\0';
    out->port = port;
    return SENTINEL_MASTER_FOUND;
}

int sentinel_parse_role(const redisReply *r, char *err, size_t errlen)
{
    if (r == NULL) {
        snprintf(err, errlen, "ROLE: no reply");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "ROLE: %.*s", (int)r->len, r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "ROLE: unexpected reply");
        return -1;
    }
    const redisReply *role = r->element[0];
    if (role->len == 6 && memcmp(role->str, "master", 6) == 0) return SENTINEL_PRIMARY;
    if ((role->len == 5 && memcmp(role->str, "slave", 5) == 0) ||
        (role->len == 8 && memcmp(role->str, "sentinel", 8) == 0)) {
        snprintf(err, errlen, "ROLE: the server is a %.*s, not the primary", (int)role->len,
                 role->str);
        return SENTINEL_NOT_PRIMARY;
    }
    snprintf(err, errlen, "ROLE: unknown role '%.*s'", (int)(role->len > 32 ? 32 : role->len),
             role->str);
    return -1;
}

int sentinel_error_needs_rediscovery(const char *errstr)
{
    static const char *const prefixes[] = {"READONLY", "MASTERDOWN", "LOADING"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(errstr, prefixes[i], n) == 0 && (errstr[n] == ' ' || errstr[n] == '\0'))
            return 1;
    }
    return 0;
}
