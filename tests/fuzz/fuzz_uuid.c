/* fuzz_uuid.c - UUID checks and the UUIDv7 time (shared/uuid.c).
 *
 * Ids arrive in URLs, queue entries and payloads: uuid_is_valid() must never
 * read past the string and must accept exactly the canonical 8-4-4-4-12 hex
 * form. uuid_v7_make() ids must be valid v7 ids whose time is at least the
 * time asked for and never goes back (ids of one process sort in creation
 * order even when the clock steps back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

static int canonical(const char *s)
{
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    if (size >= sizeof s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int valid = uuid_is_valid(s);
    if (valid != canonical(s)) abort();
    static int64_t last;
    if (size >= 6) {
        uint64_t ms = 0;
        memcpy(&ms, data, 6);
        ms &= (UINT64_C(1) << 46) - 1; /* far from the 48-bit field's end */
        char id[UUID_STR_LEN];
        if (uuid_v7_make(ms, id) == 0) {
            int64_t t = uuid_v7_time_ms(id);
            if (!uuid_is_valid(id) || t < (int64_t)ms || t < last) abort();
            last = t;
        }
    }
    return 0;
}
