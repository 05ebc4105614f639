/* utf8.h - strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF. Pure functions, no allocation. */
#ifndef IMGCAP_UTF8_H
#define IMGCAP_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*pos] and advances *pos. Returns the code point,
 * or -1 on an invalid or truncated sequence (then *pos advances by one byte). */
int32_t utf8_next(const char *s, size_t len, size_t *pos);

/* Returns the number of code points in s, or -1 if s is not valid UTF-8.
 * A NUL byte counts as invalid: descriptions are text. */
long utf8_count(const char *s, size_t len);

/* Writes the UTF-8 encoding of cp into out (4 bytes room). Returns its length,
 * 0 for an invalid code point. */
int utf8_encode(uint32_t cp, char out[4]);

#endif
