/* fuzz_params.c - the query, path and header parsers of the API
 * (services/api/params.c): limit, wait, image ids, If-None-Match and the
 * list's from/to (an accepted time formats and parses back to itself), q and
 * camera, all straight from the request. Input: a selector byte, then the text (cut at the
 * first NUL, as a C string from the HTTP layer would be). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/params.h"
#include "timeutil.h"
#include "utf8.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    /* An exact-size heap string, so ASan sees a read past its NUL. */
    size_t len = strnlen((const char *)data + 1, size - 1);
    char *s = malloc(len + 1);
    if (!s) return 0;
    memcpy(s, data + 1, len);
    s[len] = '\0';
    char err[256];
    int v = -12345;
    char id[UUID_STR_LEN];
    int64_t us = 0, back = 0;
    char ts[TIME_RFC3339_US_LEN];
    switch (data[0] % 7) {
    case 0:
        if (api_parse_limit(s, &v, err, sizeof err) == 0 && (v < 1 || v > API_LIMIT_MAX)) abort();
        break;
    case 1:
        if (api_parse_wait(s, &v, err, sizeof err) == 0 && (v < 0 || v > API_WAIT_MAX)) abort();
        break;
    case 2:
        if (api_parse_id(s, id, err, sizeof err) == 0 &&
            (strlen(id) != UUID_STR_LEN - 1 || !uuid_is_valid(id)))
            abort();
        break;
    case 4:
        if (api_parse_time(s, &us, err, sizeof err) == 0 &&
            (time_format_rfc3339_us(us, ts, sizeof ts) != 0 ||
             time_parse_rfc3339_us(ts, &back) != 0 || back != us))
            abort();
        break;
    case 5:
        if (api_parse_q(s, err, sizeof err) == 0) {
            long n = utf8_count(s, strlen(s));
            if (n < 1 || n > API_Q_MAX_CHARS) abort();
        }
        break;
    case 6:
        if (api_parse_camera(s, err, sizeof err) == 0 && !wire_camera_is_valid(s, strlen(s)))
            abort();
        break;
    default: {
        /* The tag the API would send for some id, against the fuzzed header. */
        const char *etag = "\"0190a3b4-0000-7000-8000-000000000000\"";
        int m = api_etag_matches(s, etag);
        if (m != 0 && m != 1) abort();
        if (api_etag_matches(etag, etag) != 1) abort();
        break;
    }
    }
    free(s);
    return 0;
}
