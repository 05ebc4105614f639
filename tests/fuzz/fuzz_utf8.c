/* fuzz_utf8.c - the strict UTF-8 decoder (shared/utf8.c) against a reference.
 *
 * The description check of the API and the renderer's code point loop both
 * trust utf8_next(), so it is compared with an independent, table-driven
 * definition of RFC 3629 on every input, and utf8_encode() must give back
 * the exact bytes of every sequence it accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* RFC 3629 section 4 (the syntax of UTF-8 byte sequences), spelled out
 * independently of utf8.c. Returns the length of the valid sequence at s, or 0. */
static size_t ref_seq_len(const unsigned char *s, size_t left)
{
    /* Lead byte ranges with their length and the allowed second-byte range. */
    static const struct {
        unsigned char first, last, len, lo, hi;
    } rows[] = {
        {0x00, 0x7F, 1, 0x00, 0x00}, {0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
        {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF},
        {0xF0, 0xF0, 4, 0x90, 0xBF}, {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (s[0] < rows[r].first || s[0] > rows[r].last) continue;
        size_t n = rows[r].len;
        if (n == 1) return 1;
        if (left < n || s[1] < rows[r].lo || s[1] > rows[r].hi) return 0;
        for (size_t i = 2; i < n; i++)
            if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        return n;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t pos = 0;
    long ref_count = 0;
    int ref_valid = 1;
    while (pos < size) {
        size_t before = pos;
        size_t n = ref_seq_len(data + pos, size - pos);
        int32_t cp = utf8_next(s, size, &pos);
        if (n == 0) {
            if (cp != -1 || pos != before + 1) abort();
            ref_valid = 0;
            continue;
        }
        if (cp < 0 || pos != before + n) abort();
        char enc[4];
        if (utf8_encode((uint32_t)cp, enc) != (int)n || memcmp(enc, data + before, n) != 0) abort();
        if (cp == 0) ref_valid = 0; /* NUL is not text (utf8.h) */
        ref_count++;
    }
    long count = utf8_count(s, size);
    if (ref_valid ? count != ref_count : count != -1) abort();
    return 0;
}
