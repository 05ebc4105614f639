/* Unit tests of services/api/blobcache.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/blobcache.h"

static void id_of(int i, char *out) { snprintf(out, 40, "01a22270-304e-7170-8151-8b05%08d", i); }

static api_blob_t *blob(int i, size_t len)
{
    char id[40];
    id_of(i, id);
    api_blob_t *b = api_blob_new(id, "/nonexistent", len);
    ck_assert_ptr_nonnull(b);
    memset(b->data, i & 0xff, len);
    return b;
}

static int cached(api_blobcache_t *c, int i)
{
    char id[40];
    id_of(i, id);
    api_blob_t *b = api_blobcache_get(c, id);
    api_blob_release(b);
    return b != NULL;
}

START_TEST(put_get_evict_and_references)
{
    api_blobcache_t *c = api_blobcache_new(16, 1 << 20);
    api_blob_t *b = blob(1, 100);
    char id[40];
    id_of(1, id);
    ck_assert_ptr_null(api_blobcache_get(c, id));
    api_blobcache_put(c, b);
    api_blob_t *got = api_blobcache_get(c, id);
    ck_assert_ptr_eq(got, b);
    ck_assert_uint_eq(got->len, 100);
    ck_assert_uint_eq(got->data[99], 1);
    /* Evicted while two references are out: both stay valid. */
    api_blobcache_evict(c, id);
    ck_assert_ptr_null(api_blobcache_get(c, id));
    ck_assert_uint_eq(got->data[0], 1);
    api_blob_release(got);
    ck_assert_uint_eq(b->data[50], 1);
    api_blob_release(b);
    size_t n, bytes;
    api_blobcache_usage(c, &n, &bytes);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(bytes, 0);
    api_blobcache_free(c);
}
END_TEST

START_TEST(byte_bound_holds_and_keeps_the_newest)
{
    /* Room for 3 blobs of 1000 bytes in plenty of slots. */
    api_blobcache_t *c = api_blobcache_new(64, 3000);
    size_t n, bytes;
    for (int i = 1; i <= 50; i++) {
        api_blob_t *b = blob(i, 1000);
        api_blobcache_put(c, b);
        api_blob_release(b);
        ck_assert(cached(c, i));
        api_blobcache_usage(c, &n, &bytes);
        ck_assert_uint_eq(n, i < 3 ? (size_t)i : 3);
        ck_assert_uint_eq(bytes, n * 1000);
    }
    int kept = 0;
    for (int i = 1; i <= 50; i++) kept += cached(c, i);
    ck_assert_int_eq(kept, 3);
    /* Larger than the whole bound: not cached, nothing dropped. */
    api_blob_t *b = blob(51, 3001);
    api_blobcache_put(c, b);
    api_blob_release(b);
    ck_assert(!cached(c, 51));
    api_blobcache_usage(c, &n, &bytes);
    ck_assert_uint_eq(n, 3);
    api_blobcache_free(c); /* releases the cache's references: no leak */
}
END_TEST

START_TEST(full_set_replaces_its_least_recently_used_way)
{
    /* One set of 4 ways: the fifth id replaces the oldest of the set. */
    api_blobcache_t *c = api_blobcache_new(4, 1 << 20);
    for (int i = 1; i <= 4; i++) {
        api_blob_t *b = blob(i, 10);
        api_blobcache_put(c, b);
        api_blob_release(b);
    }
    ck_assert(cached(c, 1));
    api_blob_t *b = blob(5, 10);
    api_blobcache_put(c, b);
    api_blob_release(b);
    ck_assert(!cached(c, 2));
    ck_assert(cached(c, 1) && cached(c, 3) && cached(c, 4) && cached(c, 5));
    /* The same id again replaces itself, not another way. */
    b = blob(5, 20);
    api_blobcache_put(c, b);
    api_blob_release(b);
    size_t n, bytes;
    api_blobcache_usage(c, &n, &bytes);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(bytes, 50);
    api_blobcache_free(c);
}
END_TEST

START_TEST(current_follows_the_file)
{
    char path[] = "/tmp/imgcap-blobcache-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "abcd", 4), 4);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    api_blob_t *b = api_blob_new("01a22270-304e-7170-8151-8b0500000001", path, 4);
    ck_assert_ptr_nonnull(b);
    b->dev = st.st_dev;
    b->ino = st.st_ino;
    b->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    ck_assert(api_blob_current(b));
    b->ino++; /* another file under the same name */
    ck_assert(!api_blob_current(b));
    b->ino--;
    unlink(path);
    ck_assert(!api_blob_current(b));
    api_blob_release(b);
    char longp[300];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ck_assert_ptr_null(api_blob_new("id", longp, 1));
}
END_TEST

Suite *api_blobcache_suite(void)
{
    Suite *s = suite_create("api_blobcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, put_get_evict_and_references);
    tcase_add_test(tc, byte_bound_holds_and_keeps_the_newest);
    tcase_add_test(tc, full_set_replaces_its_least_recently_used_way);
    tcase_add_test(tc, current_follows_the_file);
    suite_add_tcase(s, tc);
    return s;
}
