/* timeutil.h - clocks and RFC 3339 timestamps. */
#ifndef IMGCAP_TIMEUTIL_H
#define IMGCAP_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A flag one thread sets and others poll (stop requests). Atomic, so the
 * sanitizers (TSan) and the compiler see the cross-thread handoff. */
typedef _Atomic int stop_flag_t;

uint64_t time_now_ms(void);  /* Unix time in milliseconds (CLOCK_REALTIME) */
uint64_t time_mono_ms(void); /* CLOCK_MONOTONIC milliseconds, for timeouts */
uint64_t time_mono_ns(void);

/* "2026-11-28T12:34:56.789Z" for unix_ms; out needs 25 bytes. */
void time_format_rfc3339_ms(uint64_t unix_ms, char *out, size_t outlen);

/* Parses the format above (also without milliseconds, and with a +00:00
 * offset). Returns 0 with *unix_ms filled, or -1 when s is not such a time. */
int time_parse_rfc3339(const char *s, uint64_t *unix_ms);

/* Any RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"
 * ('t' or a space for 'T', 'z' for 'Z'), a real calendar day, seconds 00..60
 * (a leap second counts as the start of the next second), in UTC a year from
 * 0001 to 9999. A fraction of any length is rounded up to the microsecond: on
 * microsecond timestamps x, "x >= t" and "x < t" then mean what they meant
 * for the exact t. Returns 0 with *unix_us (microseconds since 1970, negative
 * before it) filled, or -1 when s is not such a time. */
int time_parse_rfc3339_us(const char *s, int64_t *unix_us);

/* unix_us as "YYYY-MM-DDTHH:MM:SS[.f]Z" in UTC, the fraction only when it is
 * not zero and without trailing zeros (at most 6 digits); the inverse of
 * time_parse_rfc3339_us() for the years it accepts. out needs
 * TIME_RFC3339_US_LEN bytes. Returns 0, or -1 when the year is outside
 * 0001..9999 or out is too small. */
#define TIME_RFC3339_US_LEN 28
int time_format_rfc3339_us(int64_t unix_us, char *out, size_t outlen);

/* The absolute time timeout_ms from now on `clock`, for pthread_cond_timedwait
 * (CLOCK_MONOTONIC for condvars created with that clock, else CLOCK_REALTIME). */
void time_deadline(clockid_t clock, int timeout_ms, struct timespec *out);

/* Sleeps ms milliseconds, waking early when *stop becomes nonzero (polled). */
void time_sleep_ms(int ms, stop_flag_t *stop);

/* Exponential backoff with full jitter: a random delay in [base, min(cap, base<<attempt)]. */
int time_backoff_ms(int attempt, int base_ms, int cap_ms);

#endif
