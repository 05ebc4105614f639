/* dynbuf.h - a growable byte buffer with a hard cap, and the same growth
 * rule for arrays of any element (modelled on curl's dynbuf).
 *
 * A dynbuf_t is ptr[0, len) in use out of cap allocated bytes; it never grows
 * past max bytes, so a buffer fed by a peer or an upload has a bound on the
 * memory it can take. Growth doubles the allocation (at least to what is
 * asked for, at most max), so appending n bytes one at a time costs O(n).
 * The fields are public: a writer that reserved room may fill ptr + len
 * directly and then set len.
 *
 * Errors: every function that can fail returns 0, or -1 with the buffer
 * unchanged (contents, len and cap as before): past max, or out of memory.
 * Not thread-safe: one owner at a time. */
#ifndef IMGCAP_DYNBUF_H
#define IMGCAP_DYNBUF_H

#include <stddef.h>
#include <stdint.h>

/* No cap beyond what realloc grants: for buffers whose size the caller has
 * already bounded (an image checked against MAX_PIXELS). */
#define DYNBUF_NO_MAX SIZE_MAX

typedef struct dynbuf {
    unsigned char *ptr; /* NULL until the first growth; owned by the buffer */
    size_t len;         /* bytes in use */
    size_t cap;         /* bytes allocated */
    size_t max;         /* cap never exceeds this */
    /* the allocator, realloc when NULL: tests inject a failing one */
    void *(*realloc_fn)(void *, size_t);
} dynbuf_t;

/* An empty buffer that will hold at most max bytes. Allocates nothing. A
 * zeroed dynbuf_t has max 0 and refuses every byte: init it first. */
void dynbuf_init(dynbuf_t *b, size_t max);
/* Frees the memory; b is then empty (as after init, same max). */
void dynbuf_free(dynbuf_t *b);
/* len = 0, memory kept. */
void dynbuf_reset(dynbuf_t *b);
/* Frees the memory when more than keep bytes are allocated (len = 0 then):
 * reused buffers keep a usual size and drop a rare huge one. */
void dynbuf_trim(dynbuf_t *b, size_t keep);

/* The growing part of dynbuf_reserve() and dynbuf_reserve_array(), out of
 * line: callers use those two. */
int dynbuf_grow(dynbuf_t *b, size_t n);
int dynbuf_grow_array(void *arrp, size_t *cap, size_t need, size_t elem);

/* Makes cap at least n bytes, contents kept. Returns 0, or -1 (n over max,
 * or out of memory). Inline when there is room already: writers reserve
 * before every block or glyph. */
static inline int dynbuf_reserve(dynbuf_t *b, size_t n)
{
    return n <= b->cap ? 0 : dynbuf_grow(b, n);
}

/* Appends n bytes of p. Returns 0, or -1 (len + n over max, or out of
 * memory). */
int dynbuf_add(dynbuf_t *b, const void *p, size_t n);
/* Appends the formatted text, without its NUL (ptr[len] is NUL after a
 * success, inside cap). Returns 0, or -1 (over max, out of memory, or a
 * format error). */
int dynbuf_addf(dynbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The growth rule for a plain array: makes *cap (in elements) at least need
 * elements of elem bytes, growing *arrp with realloc, contents kept. For
 * arrays whose element type the callers index directly (a dynbuf_t would
 * need a cast at every use). Returns 0, or -1 (need x elem overflows, or
 * out of memory) with *arrp and *cap unchanged. */
static inline int dynbuf_reserve_array(void *arrp, size_t *cap, size_t need, size_t elem)
{
    return need <= *cap ? 0 : dynbuf_grow_array(arrp, cap, need, elem);
}

#endif
