/* Unit tests of shared/dynbuf.c: appends, growth, the hard cap, an
 * allocation failure (an injected allocator) and the array rule. In each
 * failure the buffer must be left as it was. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"

START_TEST(adds_bytes_and_text)
{
    dynbuf_t b;
    dynbuf_init(&b, 1024);
    ck_assert_ptr_null(b.ptr);
    ck_assert_int_eq(dynbuf_add(&b, "abc", 3), 0);
    ck_assert_int_eq(dynbuf_add(&b, "", 0), 0);
    ck_assert_int_eq(dynbuf_addf(&b, "-%d-%s", 42, "x"), 0);
    ck_assert_uint_eq(b.len, 8);
    ck_assert(memcmp(b.ptr, "abc-42-x", 8) == 0);
    ck_assert_uint_eq(b.ptr[b.len], 0); /* addf leaves a NUL after the text */
    dynbuf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_ge(b.cap, 8); /* memory kept */
    dynbuf_free(&b);
    ck_assert_ptr_null(b.ptr);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.max, 1024);
}
END_TEST

/* One byte at a time to 10000: contents exact, and the allocation doubles
 * (a few dozen reallocations at most, never one per byte). */
START_TEST(grows_by_doubling)
{
    dynbuf_t b;
    dynbuf_init(&b, DYNBUF_NO_MAX);
    size_t changes = 0, cap = 0;
    for (int i = 0; i < 10000; i++) {
        unsigned char c = (unsigned char)(i * 7);
        ck_assert_int_eq(dynbuf_add(&b, &c, 1), 0);
        if (b.cap != cap) changes++;
        cap = b.cap;
    }
    ck_assert_uint_le(changes, 10);
    ck_assert_uint_le(b.cap, 2 * 10000);
    for (int i = 0; i < 10000; i++) ck_assert_uint_eq(b.ptr[i], (unsigned char)(i * 7));
    /* a text longer than the room left: formatted again after growing */
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    size_t len = b.len;
    ck_assert_int_eq(dynbuf_addf(&b, "%s!", big), 0);
    ck_assert_uint_eq(b.len, len + sizeof big);
    ck_assert_uint_eq(b.ptr[b.len - 1], '!');
    ck_assert_uint_eq(b.ptr[len], 'q');
    dynbuf_free(&b);
}
END_TEST

/* Past max every call fails and leaves the buffer as it was; up to max
 * exactly works, and the allocation never exceeds max. */
START_TEST(refuses_growth_past_max)
{
    dynbuf_t b;
    dynbuf_init(&b, 100);
    char data[101];
    memset(data, 'd', sizeof data);
    ck_assert_int_eq(dynbuf_add(&b, data, 60), 0);
    unsigned char *p = b.ptr;
    size_t cap = b.cap;
    ck_assert_int_eq(dynbuf_add(&b, data, 41), -1);
    ck_assert_int_eq(dynbuf_addf(&b, "%.*s", 41, data), -1);
    ck_assert_int_eq(dynbuf_reserve(&b, 101), -1);
    ck_assert_int_eq(dynbuf_add(&b, data, SIZE_MAX), -1); /* len + n would overflow */
    ck_assert_uint_eq(b.len, 60);
    ck_assert_ptr_eq(b.ptr, p);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_int_eq(dynbuf_add(&b, data, 40), 0);
    ck_assert_uint_eq(b.len, 100);
    ck_assert_uint_eq(b.cap, 100);
    ck_assert_int_eq(dynbuf_add(&b, data, 1), -1);
    /* addf needs room for its NUL too */
    dynbuf_reset(&b);
    ck_assert_int_eq(dynbuf_addf(&b, "%.*s", 99, data), 0);
    ck_assert_int_eq(dynbuf_addf(&b, "x"), -1);
    ck_assert_uint_eq(b.len, 99);
    dynbuf_free(&b);
    dynbuf_init(&b, 0); /* a zero cap: nothing fits, nothing is allocated */
    ck_assert_int_eq(dynbuf_add(&b, "a", 1), -1);
    ck_assert_ptr_null(b.ptr);
}
END_TEST

static int fail_after; /* realloc calls left before the injected failure */

static void *failing_realloc(void *p, size_t n)
{
    if (fail_after-- <= 0) return NULL;
    return realloc(p, n);
}

/* An allocation that fails: -1, contents, len and cap unchanged, and the
 * buffer still usable (and freeable) afterwards. */
START_TEST(survives_allocation_failure)
{
    dynbuf_t b;
    dynbuf_init(&b, DYNBUF_NO_MAX);
    b.realloc_fn = failing_realloc;
    fail_after = 1;
    ck_assert_int_eq(dynbuf_add(&b, "hello", 5), 0);
    unsigned char *p = b.ptr;
    size_t cap = b.cap;
    char big[4096] = {0};
    ck_assert_int_eq(dynbuf_add(&b, big, sizeof big), -1);
    ck_assert_int_eq(dynbuf_addf(&b, "%4096d", 1), -1);
    ck_assert_int_eq(dynbuf_reserve(&b, 1 << 20), -1);
    ck_assert_ptr_eq(b.ptr, p);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_uint_eq(b.len, 5);
    ck_assert(memcmp(b.ptr, "hello", 5) == 0);
    fail_after = 1;
    ck_assert_int_eq(dynbuf_add(&b, big, sizeof big), 0);
    ck_assert_uint_eq(b.len, 5 + sizeof big);
    dynbuf_free(&b);
}
END_TEST

/* Frees a buffer over the kept size, keeps one under it. */
START_TEST(trims_only_large_buffers)
{
    dynbuf_t b;
    dynbuf_init(&b, DYNBUF_NO_MAX);
    ck_assert_int_eq(dynbuf_reserve(&b, 1000), 0);
    ck_assert_uint_ge(b.cap, 1000);
    b.len = 10;
    dynbuf_trim(&b, 4096);
    ck_assert_ptr_nonnull(b.ptr);
    ck_assert_uint_eq(b.len, 10);
    dynbuf_trim(&b, 999);
    ck_assert_ptr_null(b.ptr);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(reserves_arrays)
{
    typedef struct {
        double x;
        int y;
    } item_t;
    item_t *a = NULL;
    size_t cap = 0;
    ck_assert_int_eq(dynbuf_reserve_array(&a, &cap, 3, sizeof *a), 0);
    ck_assert_uint_ge(cap, 3);
    for (int i = 0; i < 3; i++) a[i] = (item_t){i * 0.5, i};
    ck_assert_int_eq(dynbuf_reserve_array(&a, &cap, 1000, sizeof *a), 0);
    ck_assert_uint_ge(cap, 1000);
    ck_assert_int_eq(a[2].y, 2); /* contents kept */
    item_t *before = a;
    size_t cap_before = cap;
    /* need x elem past SIZE_MAX: refused before any allocation */
    ck_assert_int_eq(dynbuf_reserve_array(&a, &cap, SIZE_MAX / sizeof *a + 1, sizeof *a), -1);
    ck_assert_ptr_eq(a, before);
    ck_assert_uint_eq(cap, cap_before);
    ck_assert_int_eq(dynbuf_reserve_array(&a, &cap, 10, sizeof *a), 0); /* already there */
    ck_assert_uint_eq(cap, cap_before);
    free(a);
}
END_TEST

Suite *dynbuf_suite(void)
{
    Suite *s = suite_create("dynbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, adds_bytes_and_text);
    tcase_add_test(tc, grows_by_doubling);
    tcase_add_test(tc, refuses_growth_past_max);
    tcase_add_test(tc, survives_allocation_failure);
    tcase_add_test(tc, trims_only_large_buffers);
    tcase_add_test(tc, reserves_arrays);
    suite_add_tcase(s, tc);
    return s;
}
