/* fuzz_idem.c - the Idempotency-Key header and the value stored under a key
 * (services/api/idem.c).
 *
 * The header comes from any client: api_idem_parse_key() must never read or
 * write out of bounds, must accept exactly 1..API_IDEM_KEY_MAX printable
 * ASCII bytes, must accept a bare token as itself, and a key it accepts,
 * quoted again, must read back as the same key. The stored value is read
 * from Redis: api_idem_value_parse() must not crash on any bytes, and what it
 * accepts must format back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/idem.h"

static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[1024];
    if (size >= sizeof s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    char key[API_IDEM_KEY_MAX + 1], err[256];
    int ok = api_idem_parse_key(s, key, err, sizeof err) == 0;
    size_t n = strlen(s), tokens = 0;
    while (tokens < n && is_tchar((unsigned char)s[tokens])) tokens++;
    if (tokens == n && n >= 1 && n <= API_IDEM_KEY_MAX && (!ok || strcmp(key, s) != 0))
        abort(); /* a bare token is its own key */
    if (ok) {
        size_t klen = strlen(key);
        if (klen < 1 || klen > API_IDEM_KEY_MAX) abort();
        for (size_t i = 0; i < klen; i++)
            if (key[i] < 0x20 || key[i] > 0x7e) abort();
        char quoted[2 * API_IDEM_KEY_MAX + 3], again[API_IDEM_KEY_MAX + 1];
        size_t q = 0;
        quoted[q++] = '"';
        for (size_t i = 0; i < klen; i++) {
            if (key[i] == '"' || key[i] == '\\') quoted[q++] = '\\';
            quoted[q++] = key[i];
        }
        quoted[q++] = '"';
        quoted[q] = '\0';
        if (api_idem_parse_key(quoted, again, err, sizeof err) != 0 || strcmp(again, key) != 0)
            abort();
    }

    api_idem_value_t v;
    if (api_idem_value_parse((const char *)data, size, &v) == 0) {
        char out[API_IDEM_VALUE_MAX];
        api_idem_value_format(&v, out);
        if (memchr(data, '\0', size) == NULL &&
            (strlen(out) != size || memcmp(out, data, size) != 0))
            abort();
    }
    return 0;
}
