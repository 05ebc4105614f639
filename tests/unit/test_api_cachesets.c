/* Unit tests of services/api/cachesets.c: the sets of keys behind the api's
 * three caches (set choice, least recently used victim, evict, the walk of
 * a sweep). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "api/cachesets.h"
#include "api/idhash.h"

static void key_of(int i, char *out) { snprintf(out, 40, "01a22270-304e-7170-8151-8b05%08d", i); }

/* put with the hash every cache uses. */
static size_t put(api_cachesets_t *cs, const char *key)
{
    return api_cachesets_put(cs, key, api_cachesets_hash(key));
}

static size_t find(const api_cachesets_t *cs, const char *key)
{
    return api_cachesets_find(cs, key, api_cachesets_hash(key));
}

START_TEST(sizes_round_up_to_whole_sets)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 0, sizeof(int)));
    ck_assert_uint_eq(cs.nsets, 1);
    ck_assert_uint_eq(api_cachesets_size(&cs), API_CACHESETS_WAYS);
    api_cachesets_fini(&cs);
    int *vals = api_cachesets_init(&cs, 5, sizeof(int));
    ck_assert_ptr_nonnull(vals);
    ck_assert_ptr_eq(vals, cs.vals);
    ck_assert_uint_eq(cs.nsets, 2);
    ck_assert_uint_eq(cs.count, 0);
    for (size_t i = 0; i < api_cachesets_size(&cs); i++) {
        ck_assert(!api_cachesets_occupied(&cs, i));
        ck_assert_int_eq(vals[i], 0); /* one zeroed value a slot */
    }
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(a_key_lands_in_the_set_of_its_hash)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 64, sizeof(int)));
    ck_assert_uint_eq(api_cachesets_hash("abc"), api_id_hash("abc"));
    char key[40];
    for (int i = 0; i < 12; i++) {
        key_of(i, key);
        uint64_t h = api_cachesets_hash(key);
        size_t slot = api_cachesets_put(&cs, key, h), first = (size_t)(h % 16) * API_CACHESETS_WAYS;
        ck_assert_uint_eq(api_cachesets_set_of(&cs, h), first);
        ck_assert_uint_ge(slot, first);
        ck_assert_uint_lt(slot, first + API_CACHESETS_WAYS);
        ck_assert_str_eq(cs.slots[slot].key, key);
        ck_assert_uint_eq(find(&cs, key), slot);
    }
    ck_assert_uint_le(cs.count, 12); /* a set may have filled up */
    ck_assert_uint_ge(cs.count, 4);
    key_of(99, key);
    ck_assert_uint_eq(find(&cs, key), API_CACHESETS_NONE);
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(the_same_key_keeps_its_slot_and_a_full_set_replaces_its_least_recently_used)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 4, sizeof(int))); /* one set of 4 ways */
    char key[40];
    size_t slot[6];
    for (int i = 1; i <= 4; i++) {
        key_of(i, key);
        slot[i] = put(&cs, key);
        ck_assert_uint_eq(slot[i], (size_t)(i - 1)); /* empty slots first, in order */
    }
    ck_assert_uint_eq(cs.count, 4);
    key_of(1, key);
    ck_assert_uint_eq(api_cachesets_get(&cs, key, api_cachesets_hash(key)), slot[1]);
    key_of(2, key);
    ck_assert_uint_eq(find(&cs, key), slot[2]); /* a find is not a use */
    key_of(5, key);
    slot[5] = put(&cs, key);
    ck_assert_uint_eq(slot[5], slot[2]); /* 2 was the least recently used, 1 was got */
    ck_assert_uint_eq(cs.count, 4);
    key_of(2, key);
    ck_assert_uint_eq(find(&cs, key), API_CACHESETS_NONE);
    /* A put of a held key is a use of its own slot, not another's. */
    key_of(3, key);
    ck_assert_uint_eq(put(&cs, key), slot[3]);
    ck_assert_uint_eq(cs.count, 4);
    key_of(6, key);
    ck_assert_uint_eq(put(&cs, key), slot[4]); /* 4 is now the least recently used */
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(evict_empties_the_slot_and_an_empty_slot_goes_before_the_oldest)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 4, sizeof(int)));
    char key[40];
    for (int i = 1; i <= 4; i++) {
        key_of(i, key);
        put(&cs, key);
    }
    key_of(3, key);
    size_t at = find(&cs, key);
    ck_assert_uint_eq(api_cachesets_evict(&cs, key, api_cachesets_hash(key)), at);
    ck_assert(!api_cachesets_occupied(&cs, at));
    ck_assert_uint_eq(cs.count, 3);
    ck_assert_uint_eq(find(&cs, key), API_CACHESETS_NONE);
    ck_assert_uint_eq(api_cachesets_evict(&cs, key, api_cachesets_hash(key)), API_CACHESETS_NONE);
    ck_assert_uint_eq(cs.count, 3);
    api_cachesets_clear(&cs, at); /* already empty: nothing changes */
    ck_assert_uint_eq(cs.count, 3);
    key_of(7, key);
    ck_assert_uint_eq(put(&cs, key), at); /* the free slot, not 1 (the oldest) */
    key_of(1, key);
    ck_assert_uint_ne(find(&cs, key), API_CACHESETS_NONE);
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(equal_hashes_are_told_apart_by_the_key)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 8, sizeof(int)));
    size_t a = api_cachesets_put(&cs, "a", 7), b = api_cachesets_put(&cs, "b", 7);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_eq(api_cachesets_find(&cs, "a", 7), a);
    ck_assert_uint_eq(api_cachesets_find(&cs, "b", 7), b);
    ck_assert_uint_eq(api_cachesets_find(&cs, "c", 7), API_CACHESETS_NONE);
    /* The empty key is a key like any other. */
    size_t e = api_cachesets_put(&cs, "", 7);
    ck_assert_uint_eq(api_cachesets_find(&cs, "", 7), e);
    ck_assert_uint_eq(cs.count, 3);
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(a_key_too_long_gets_no_slot)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 8, sizeof(int)));
    char key[API_CACHESETS_KEY_MAX + 1];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    ck_assert_uint_eq(put(&cs, key), API_CACHESETS_NONE);
    key[API_CACHESETS_KEY_MAX] = '\0'; /* 40 bytes: one too many */
    ck_assert_uint_eq(put(&cs, key), API_CACHESETS_NONE);
    ck_assert_uint_eq(cs.count, 0);
    key[API_CACHESETS_KEY_MAX - 1] = '\0'; /* 39 bytes fit */
    size_t at = put(&cs, key);
    ck_assert_uint_ne(at, API_CACHESETS_NONE);
    ck_assert_str_eq(cs.slots[at].key, key);
    api_cachesets_fini(&cs);
}
END_TEST

START_TEST(next_walks_round_to_the_occupied_slots)
{
    api_cachesets_t cs;
    ck_assert_ptr_nonnull(api_cachesets_init(&cs, 16, sizeof(int)));
    ck_assert_uint_eq(api_cachesets_next(&cs, 0), API_CACHESETS_NONE);
    char key[40];
    key_of(1, key);
    size_t a = put(&cs, key);
    for (size_t from = 0; from < 16; from++) ck_assert_uint_eq(api_cachesets_next(&cs, from), a);
    /* A second key: from every slot, whichever comes first going round. */
    key_of(2, key);
    size_t b = put(&cs, key);
    ck_assert_uint_ne(b, a);
    size_t lo = a < b ? a : b, hi = a < b ? b : a;
    for (size_t from = 0; from < 16; from++) {
        size_t want = from <= lo || from > hi ? lo : hi;
        ck_assert_uint_eq(api_cachesets_next(&cs, from), want);
    }
    /* A sweep's walk: each set's slots, the occupied ones. */
    size_t seen = 0;
    for (size_t set = 0; set < cs.nsets; set++)
        for (size_t i = set * API_CACHESETS_WAYS; i < (set + 1) * API_CACHESETS_WAYS; i++)
            seen += (size_t)api_cachesets_occupied(&cs, i);
    ck_assert_uint_eq(seen, cs.count);
    api_cachesets_clear(&cs, lo);
    api_cachesets_clear(&cs, hi);
    ck_assert_uint_eq(api_cachesets_next(&cs, 3), API_CACHESETS_NONE);
    api_cachesets_fini(&cs);
}
END_TEST

Suite *api_cachesets_suite(void)
{
    Suite *s = suite_create("api_cachesets");
    TCase *tc = tcase_create("sets");
    tcase_add_test(tc, sizes_round_up_to_whole_sets);
    tcase_add_test(tc, a_key_lands_in_the_set_of_its_hash);
    tcase_add_test(tc, the_same_key_keeps_its_slot_and_a_full_set_replaces_its_least_recently_used);
    tcase_add_test(tc, evict_empties_the_slot_and_an_empty_slot_goes_before_the_oldest);
    tcase_add_test(tc, equal_hashes_are_told_apart_by_the_key);
    tcase_add_test(tc, a_key_too_long_gets_no_slot);
    tcase_add_test(tc, next_walks_round_to_the_occupied_slots);
    suite_add_tcase(s, tc);
    return s;
}
