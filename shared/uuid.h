/* uuid.h - UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids
 * sort by creation time. Strings are lowercase 8-4-4-4-12. */
#ifndef IMGCAP_UUID_H
#define IMGCAP_UUID_H

#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Makes a new UUIDv7 for time unix_ms. Monotonic within a process: a second id
 * in the same millisecond gets a larger counter. Thread-safe. Returns 0, or -1
 * when the system has no randomness (getrandom failed). */
int uuid_v7_make(uint64_t unix_ms, char out[UUID_STR_LEN]);

/* 1 if s is a canonical UUID string (any version, lowercase or uppercase). */
int uuid_is_valid(const char *s);

/* The Unix milliseconds of a v7 id, or -1 if s is not a valid v7. */
int64_t uuid_v7_time_ms(const char *s);

#endif
