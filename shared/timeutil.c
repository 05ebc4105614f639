/* timeutil.c - clocks, RFC 3339 timestamps and backoff. */
#include "timeutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t time_now_ms(void) { return clock_ns(CLOCK_REALTIME) / 1000000ull; }
uint64_t time_mono_ms(void) { return clock_ns(CLOCK_MONOTONIC) / 1000000ull; }
uint64_t time_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

void time_format_rfc3339_ms(uint64_t unix_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
}

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *value = v;
    return 0;
}

int time_parse_rfc3339(const char *s, uint64_t *unix_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, se, ms = 0;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &se))
        return -1;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0) return -1;
        for (; digits < 3; digits++) ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (strcmp(p, "+00:00") == 0) {
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || t < 0) return -1;
    *unix_ms = (uint64_t)t * 1000u + (uint64_t)ms;
    return 0;
}

void time_deadline(clockid_t clock, int timeout_ms, struct timespec *out)
{
    clock_gettime(clock, out);
    out->tv_sec += timeout_ms / 1000;
    out->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

void time_sleep_ms(int ms, stop_flag_t *stop)
{
    while (ms > 0 && !(stop != NULL && atomic_load(stop))) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

int time_backoff_ms(int attempt, int base_ms, int cap_ms)
{
    long hi = base_ms;
    for (int i = 0; i < attempt && hi < cap_ms; i++) hi *= 2;
    if (hi > cap_ms) hi = cap_ms;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (unsigned)rand();
    return base_ms + (int)(r % (unsigned)(hi - base_ms + 1));
}
