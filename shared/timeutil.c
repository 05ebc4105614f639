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

/* Reads "YYYY-MM-DD" 'T' (or 't', or a space) "hh:mm:ss", the part both RFC
 * 3339 parsers share, into its six fields; ranges are the caller's to check. */
static int read_date_time(const char **p, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
    if (read_digits(p, 4, y) || *(*p)++ != '-' || read_digits(p, 2, mo) || *(*p)++ != '-' ||
        read_digits(p, 2, d) || (**p != 'T' && **p != 't' && **p != ' '))
        return -1;
    (*p)++;
    if (read_digits(p, 2, h) || *(*p)++ != ':' || read_digits(p, 2, mi) || *(*p)++ != ':' ||
        read_digits(p, 2, se))
        return -1;
    return 0;
}

int time_parse_rfc3339(const char *s, uint64_t *unix_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, se, ms = 0;
    if (read_date_time(&p, &y, &mo, &d, &h, &mi, &se) < 0) return -1;
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

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (the
 * civil-from-days algorithm's inverse, valid for every year used here). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

#define US_PER_S 1000000LL
#define US_PER_DAY (86400LL * US_PER_S)
/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z */
#define US_MIN (-62135596800LL * US_PER_S)
#define US_END (253402300800LL * US_PER_S)

int time_parse_rfc3339_us(const char *s, int64_t *unix_us)
{
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (read_date_time(&p, &y, &mo, &d, &h, &mi, &se) < 0) return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return -1;
    int64_t frac = 0; /* microseconds, rounded up */
    if (*p == '.') {
        p++;
        int digits = 0, rest = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
            else if (*p != '0')
                rest = 1;
            digits++;
            p++;
        }
        if (digits == 0) return -1;
        for (; digits < 6; digits++) frac *= 10;
        frac += rest;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_s = sign * (oh * 3600LL + om * 60LL);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + se - offset_s;
    int64_t us = secs * US_PER_S + frac;
    if (us < US_MIN || us >= US_END) return -1;
    *unix_us = us;
    return 0;
}

int time_format_rfc3339_us(int64_t unix_us, char *out, size_t outlen)
{
    if (unix_us < US_MIN || unix_us >= US_END || outlen < TIME_RFC3339_US_LEN) return -1;
    int64_t days = unix_us / US_PER_DAY, rem = unix_us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / US_PER_S, frac = rem % US_PER_S;
    int n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d, (int)(secs / 3600),
                     (int)(secs / 60 % 60), (int)(secs % 60));
    if (frac != 0) {
        int digits = 6;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        n += snprintf(out + n, outlen - (size_t)n, ".%0*lld", digits, (long long)frac);
    }
    snprintf(out + n, outlen - (size_t)n, "Z");
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
