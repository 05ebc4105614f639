/* fuzz_params.c - the query, path and header parsers of the API
 * (services/api/params.c): limit, wait, image ids and If-None-Match, all
 * straight from the request. Input: a selector byte, then the text (cut at the
 * first NUL, as a C string from the HTTP layer would be). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/params.h"

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
    switch (data[0] % 4) {
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
