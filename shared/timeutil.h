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

/* The absolute time timeout_ms from now on `clock`, for pthread_cond_timedwait
 * (CLOCK_MONOTONIC for condvars created with that clock, else CLOCK_REALTIME). */
void time_deadline(clockid_t clock, int timeout_ms, struct timespec *out);

/* Sleeps ms milliseconds, waking early when *stop becomes nonzero (polled). */
void time_sleep_ms(int ms, stop_flag_t *stop);

/* Exponential backoff with full jitter: a random delay in [base, min(cap, base<<attempt)]. */
int time_backoff_ms(int attempt, int base_ms, int cap_ms);

#endif
