/* dynbuf.c - growable buffers with a hard cap (see dynbuf.h). */
#include "dynbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation is at least this many bytes: tiny buffers would
 * otherwise be reallocated at 1, 2, 4, ... bytes. */
#define DYNBUF_FIRST_BYTES 64

/* The next capacity for need (cap < need <= max): double, at least the first
 * size, at most max, at least need. */
static size_t grown(size_t cap, size_t need, size_t max, size_t first)
{
    size_t n = cap > max / 2 ? max : cap * 2;
    if (n < first) n = first;
    if (n > max) n = max;
    if (n < need) n = need;
    return n;
}

void dynbuf_init(dynbuf_t *b, size_t max) { *b = (dynbuf_t){.max = max}; }

void dynbuf_free(dynbuf_t *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void dynbuf_reset(dynbuf_t *b) { b->len = 0; }

void dynbuf_trim(dynbuf_t *b, size_t keep)
{
    if (b->cap > keep) dynbuf_free(b);
}

int dynbuf_grow(dynbuf_t *b, size_t n)
{
    if (n <= b->cap) return 0;
    if (n > b->max) return -1;
    size_t want = grown(b->cap, n, b->max, DYNBUF_FIRST_BYTES);
    void *(*re)(void *, size_t) = b->realloc_fn != NULL ? b->realloc_fn : realloc;
    unsigned char *p = re(b->ptr, want);
    if (p == NULL) return -1;
    b->ptr = p;
    b->cap = want;
    return 0;
}

int dynbuf_add(dynbuf_t *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    if (n > b->max - b->len || dynbuf_reserve(b, b->len + n) < 0) return -1;
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    return 0;
}

int dynbuf_addf(dynbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *room = b->cap > b->len ? (char *)b->ptr + b->len : NULL;
    int k = vsnprintf(room, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) return -1;
    size_t need = (size_t)k + 1; /* with the NUL vsnprintf writes */
    if ((size_t)k < b->cap - b->len) {
        b->len += (size_t)k;
        return 0;
    }
    if (need > b->max - b->len || dynbuf_reserve(b, b->len + need) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->ptr + b->len, need, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
    return 0;
}

int dynbuf_grow_array(void *arrp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t max = SIZE_MAX / elem;
    if (need > max) return -1;
    size_t want = grown(*cap, need, max, (DYNBUF_FIRST_BYTES + elem - 1) / elem);
    /* arrp is the address of a T *, read and written as a void * (both have
     * one representation on every platform this builds for) */
    void **arr = arrp;
    void *p = realloc(*arr, want * elem);
    if (p == NULL) return -1;
    *arr = p;
    *cap = want;
    return 0;
}
