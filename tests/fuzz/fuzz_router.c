/* fuzz_router.c - the request routing of the API (services/api/router.c):
 * route matching with its percent-decoding of the "*" segment, the decoder
 * alone with the encoded-NUL checks, and the bearer token check, all on bytes straight from the
 * request. Input: a selector byte, then a method, the URL path (or the Authorization header)
 * separated by a NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"

/* An exact-size heap copy of [s, s + n) plus a NUL, so ASan sees a read past it. */
static char *copy(const uint8_t *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL) return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    const uint8_t *nul = memchr(rest, '\0', len);
    size_t alen = nul != NULL ? (size_t)(nul - rest) : len;
    char *a = copy(rest, alen);
    char *b = nul != NULL ? copy(nul + 1, len - alen - 1) : copy(rest, 0);
    if (a == NULL || b == NULL) goto out;
    switch (data[0] % 3) {
    case 0: {
        api_match_t m;
        memset(&m, 0xAA, sizeof m); /* every member must be set */
        api_match_outcome_t r = api_route_match(a, b, &m);
        if (memchr(m.param, '\0', sizeof m.param) == NULL) abort();
        if (r == API_MATCH_FOUND &&
            (m.handler <= API_HANDLER_NONE || m.handler >= API_HANDLER_COUNT || m.allow == NULL))
            abort();
        if (r == API_MATCH_NO_METHOD && (m.handler != API_HANDLER_NONE || m.allow == NULL)) abort();
        if (r == API_MATCH_NO_PATH &&
            (m.route != API_ROUTE_OTHER || m.allow != NULL || m.param[0] != '\0'))
            abort();
        if (r != API_MATCH_NO_PATH && ((int)m.route < 0 || (int)m.route >= (int)API_ROUTE_OTHER))
            abort();
        if ((m.is_post != 0 && m.is_post != 1) || (m.is_delete != 0 && m.is_delete != 1) ||
            (m.is_post && m.is_delete))
            abort();
        (void)api_authorized(&m, b, "tok", 1);
        /* Without a configured token nothing may be deleted. */
        if (m.is_delete && api_authorized(&m, b, "", 0)) abort();
        break;
    }
    case 1: {
        /* Decoded output is never longer than the input, always terminated. */
        size_t outlen = (size_t)(data[0] / 3) % 48 + 1;
        char *out = malloc(outlen);
        if (out == NULL) break;
        size_t n = api_url_decode(b, strlen(b), out, outlen);
        if (n >= outlen || n > strlen(b) || out[n] != '\0') abort();
        /* A decoded NUL comes only from a "%00" the NUL checks find, in the
         * path and in whichever query parameter holds it. */
        int has_nul = api_url_has_nul(b, strlen(b));
        if (!has_nul && memchr(out, '\0', n) != NULL) abort();
        char name[16];
        if (api_query_nul_param(b, name, sizeof name) != has_nul) abort();
        free(out);
        break;
    }
    default:
        /* a is the configured token, b the header: a header of exactly
         * "Bearer <a>" must pass, and the check must not read past either. */
        if (a[0] != '\0' && a[0] != ' ') { /* a token does not start with a space */
            char *h = malloc(alen + 8);
            if (h == NULL) break;
            memcpy(h, "Bearer ", 7);
            memcpy(h + 7, a, alen + 1);
            if (api_bearer_ok(h, a) != 1) abort();
            free(h);
        }
        (void)api_bearer_ok(b, a);
        break;
    }
out:
    free(a);
    free(b);
    return 0;
}
