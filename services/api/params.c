/* params.c - query/path parameter parsers and If-None-Match (see params.h). */
#include "params.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"
#include "utf8.h"
#include "wire.h"

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

#define TIME_TEXT_MAX 64 /* longer is no time we accept (fractions included) */

int api_parse_time(const char *s, int64_t *unix_us, char *err, size_t errlen)
{
    char buf[TIME_TEXT_MAX + 1];
    size_t n = s != NULL ? strnlen(s, sizeof buf) : 0;
    if (s != NULL && n < sizeof buf) {
        memcpy(buf, s, n + 1);
        /* "...:SS[.f] HH:MM" is "...:SS[.f]+HH:MM" whose '+' was decoded as a
         * space: the only space a time may hold otherwise is at index 10. */
        if (n >= 6 && buf[n - 6] == ' ' && n - 6 > 10) buf[n - 6] = '+';
        if (time_parse_rfc3339_us(buf, unix_us) == 0) return 0;
    }
    snprintf(err, errlen,
             "must be an RFC 3339 date-time with Z or an offset, such as "
             "2026-12-06T09:30:00Z or 2026-12-06T10:30:00.250+01:00");
    return -1;
}

int api_parse_q(const char *s, char *err, size_t errlen)
{
    long chars = s != NULL ? utf8_count(s, strlen(s)) : 0;
    if (s == NULL || chars == 0) {
        snprintf(err, errlen, "must be 1 to %d characters of text", API_Q_MAX_CHARS);
        return -1;
    }
    if (chars < 0) {
        snprintf(err, errlen, "is not valid UTF-8 text");
        return -1;
    }
    if (chars > API_Q_MAX_CHARS) {
        snprintf(err, errlen, "has %ld characters; at most %d are allowed", chars, API_Q_MAX_CHARS);
        return -1;
    }
    return 0;
}

int api_parse_camera(const char *s, char *err, size_t errlen)
{
    if (s == NULL || !wire_camera_is_valid(s, strlen(s))) {
        snprintf(err, errlen, "must be a camera name: 1 to %d characters of A-Z a-z 0-9 . _ -",
                 WIRE_MAX_CAMERA);
        return -1;
    }
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
