/* utf8.c - strict UTF-8 decoding (RFC 3629, Unicode Table 3-7). */
#include "utf8.h"

int32_t utf8_next(const char *str, size_t len, size_t *pos)
{
    const unsigned char *s = (const unsigned char *)str + *pos;
    size_t left = len - *pos;
    unsigned char c = s[0];
    if (c < 0x80) {
        *pos += 1;
        return c;
    }
    int n;
    uint32_t cp;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        *pos += 1;
        return -1;
    }
    if (left < (size_t)n || s[1] < lo || s[1] > hi) {
        *pos += 1;
        return -1;
    }
    for (int i = 1; i < n; i++) {
        if (i > 1 && (s[i] & 0xC0) != 0x80) {
            *pos += 1;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *pos += (size_t)n;
    return (int32_t)cp;
}

long utf8_count(const char *s, size_t len)
{
    size_t pos = 0;
    long count = 0;
    while (pos < len) {
        int32_t cp = utf8_next(s, len, &pos);
        if (cp <= 0) return -1;
        count++;
    }
    return count;
}

int utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}
