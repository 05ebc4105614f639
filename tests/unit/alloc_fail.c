/* alloc_fail.c - the counted allocator of the unit tests (see alloc_fail.h),
 * linked with -Wl,--wrap=malloc,--wrap=calloc,... by the Makefile's
 * unit-tests rule: a call to malloc from the project's objects lands in
 * __wrap_malloc, and __real_malloc is the allocator it would have called
 * (glibc's, or a sanitizer's or valgrind's replacement). check itself is
 * linked statically (libcheck_pic.a), so its own allocations are counted
 * too: a test ends the armed window (fx_alloc_failed()) before it asserts. */
#include "alloc_fail.h"

#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Allocations left before the one that fails; -1: none fails. Atomic: the
 * threaded suites allocate from several threads. */
static _Atomic long countdown = -1;
static _Atomic int triggered;
static long loop_n = -1, loop_runs;

void fx_alloc_fail_after(long n)
{
    atomic_store(&triggered, 0);
    atomic_store(&countdown, n < 0 ? -1 : n);
}

int fx_alloc_failed(void)
{
    atomic_store(&countdown, -1);
    return atomic_load(&triggered);
}

void fx_alloc_loop_start(void)
{
    fx_alloc_fail_after(-1);
    loop_n = -1;
    loop_runs = 0;
}

int fx_alloc_loop_next(void)
{
    if (loop_n >= 0 && !fx_alloc_failed()) { /* (which disarms) */
        fx_alloc_fail_after(-1);
        return 0;
    }
    fx_alloc_fail_after(++loop_n);
    loop_runs++;
    return 1;
}

long fx_alloc_loop_runs(void) { return loop_runs; }

/* Whether this allocation is the one to fail. */
static int fail_now(void)
{
    long c = atomic_load(&countdown);
    while (c >= 0) {
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
            if (c != 0) return 0;
            atomic_store(&triggered, 1);
            return 1;
        }
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return fail_now() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }
