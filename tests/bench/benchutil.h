/* benchutil.h - what the benchmark programs (floors.c, loadgen.c, queueops.c)
 * share: reading an input file, and the clocks. Header-only: each program is
 * one translation unit built by bench.mk. */
#ifndef IMGCAP_BENCHUTIL_H
#define IMGCAP_BENCHUTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The whole file at path in a new buffer the caller frees, its size in *len;
 * NULL (with the reason on stderr, prefixed by prog) when it cannot be read
 * or is empty. */
static inline unsigned char *bench_read_file(const char *prog, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf) fprintf(stderr, "%s: cannot read %s\n", prog, path);
    *len = (size_t)n;
    return buf;
}

/* Milliseconds of clock (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME to
 * compare with timestamps of other processes). */
static inline double bench_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
