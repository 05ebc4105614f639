/* Unit tests of the ready responses' copies (services/api/images.c,
 * api_ready_set_pick): a set made with one copy grows the others on demand,
 * one per stripe, and a set made whole never calls for one. */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>

#include "api/images.h"

static int copies_made;

static struct MHD_Response *buffer_response(void)
{
    static const char body[] = "ready";
    return MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
}

static struct MHD_Response *counting_copy(const api_ready_set_t *set)
{
    (void)set;
    __atomic_add_fetch(&copies_made, 1, __ATOMIC_RELAXED);
    return buffer_response();
}

static void *pick_twice(void *arg)
{
    api_ready_set_t *set = arg;
    struct MHD_Response *a = api_ready_set_pick(set);
    struct MHD_Response *b = api_ready_set_pick(set);
    return a == b ? a : NULL; /* a thread keeps its copy */
}

START_TEST(copies_are_made_once_per_stripe_on_demand)
{
    copies_made = 0;
    api_ready_set_t *set = calloc(1, sizeof *set);
    ck_assert_ptr_nonnull(set);
    set->r[0] = buffer_response();
    set->copy = counting_copy;
    set->fd = -1;
    /* More threads than stripes: every stripe is asked for at least once
     * (threads take stripes in turn), some twice. */
    enum { THREADS = 3 * API_IMAGES_READY_STRIPES };
    pthread_t t[THREADS];
    void *got[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, pick_twice, set), 0);
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], &got[i]), 0);
        ck_assert_ptr_nonnull(got[i]);
    }
    int present = 0;
    for (int s = 0; s < API_IMAGES_READY_STRIPES; s++) present += set->r[s] != NULL;
    ck_assert_int_eq(present, API_IMAGES_READY_STRIPES);
    /* Each stripe but the first made at most once; a race may make one more
     * that is destroyed at once, never kept. */
    ck_assert_int_ge(copies_made, API_IMAGES_READY_STRIPES - 1);
    for (int i = 0; i < THREADS; i++) {
        int known = 0;
        for (int s = 0; s < API_IMAGES_READY_STRIPES; s++) known |= got[i] == (void *)set->r[s];
        ck_assert_msg(known, "thread %d was answered with a copy the set does not hold", i);
    }
    api_ready_set_free(set); /* every copy destroyed: ASan and valgrind see no leak */
}
END_TEST

START_TEST(a_set_made_whole_never_asks_for_a_copy)
{
    copies_made = 0;
    api_ready_set_t *set = calloc(1, sizeof *set);
    ck_assert_ptr_nonnull(set);
    set->r[0] = buffer_response();
    set->fd = -1; /* copy NULL: r[0] serves a stripe without its own */
    pthread_t t[API_IMAGES_READY_STRIPES];
    void *got[API_IMAGES_READY_STRIPES];
    for (int i = 0; i < API_IMAGES_READY_STRIPES; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, pick_twice, set), 0);
    for (int i = 0; i < API_IMAGES_READY_STRIPES; i++) {
        ck_assert_int_eq(pthread_join(t[i], &got[i]), 0);
        ck_assert_ptr_eq(got[i], set->r[0]);
    }
    ck_assert_int_eq(copies_made, 0);
    for (int s = 1; s < API_IMAGES_READY_STRIPES; s++) ck_assert_ptr_null(set->r[s]);
    api_ready_set_free(set);
}
END_TEST

Suite *api_readyset_suite(void)
{
    Suite *s = suite_create("api_readyset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, copies_are_made_once_per_stripe_on_demand);
    tcase_add_test(tc, a_set_made_whole_never_asks_for_a_copy);
    suite_add_tcase(s, tc);
    return s;
}
