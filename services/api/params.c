/* params.c - query/path parameter parsers and If-None-Match (see params.h). */
#include "params.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Strict decimal: digits only (no sign, space or exponent), at most 9 of them
 * so the value fits an int whatever the client sends. */
static int parse_small_uint(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_range(const char *s, const char *name, long lo, long hi, long dflt, int *out,
                       char *err, size_t errlen)
{
    long v = dflt;
    if (s != NULL && (parse_small_uint(s, &v) != 0 || v < lo || v > hi)) {
        snprintf(err, errlen, "%s must be an integer from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int api_parse_limit(const char *s, int *out, char *err, size_t errlen)
{
    return parse_range(s, "limit", 1, API_LIMIT_MAX, API_LIMIT_DEFAULT, out, err, errlen);
}

int api_parse_wait(const char *s, int *out, char *err, size_t errlen)
{
    return parse_range(s, "wait", 0, API_WAIT_MAX, 0, out, err, errlen);
}

int api_parse_id(const char *s, char out[UUID_STR_LEN], char *err, size_t errlen)
{
    if (s == NULL || !uuid_is_valid(s)) {
        snprintf(err, errlen, "must be a UUID such as 0192f5e4-7a3b-7c3d-8e4f-123456789abc");
        return -1;
    }
    for (int i = 0; i < UUID_STR_LEN - 1; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[UUID_STR_LEN - 1] = '\0';
    return 0;
}

int api_etag_matches(const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL) return 0;
    size_t elen = strlen(etag);
    const char *p = if_none_match;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '\0') return 0;
        if (*p == '*') {
            const char *q = p + 1;
            while (*q == ' ' || *q == '\t') q++;
            if (*q == '\0' || *q == ',') return 1;
        }
        if (p[0] == 'W' && p[1] == '/') p += 2;
        const char *start = p;
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') p++;
            if (*p == '"') p++;
        } else {
            while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') p++;
        }
        if ((size_t)(p - start) == elen && memcmp(start, etag, elen) == 0) return 1;
        while (*p != '\0' && *p != ',') p++;
    }
}
