#include <check.h>
#include <pthread.h>
#include <stdint.h>

#include "mailbox.h"
#include "timeutil.h"

START_TEST(fifo_and_bounds)
{
    mailbox_t *mb = mailbox_new(2);
    int a = 1, b = 2, c = 3;
    void *out;
    ck_assert_int_eq(mailbox_push(mb, &a, 0), 0);
    ck_assert_int_eq(mailbox_push(mb, &b, 0), 0);
    ck_assert_int_eq(mailbox_push(mb, &c, 0), 1); /* full: pushes back */
    ck_assert_uint_eq(mailbox_size(mb), 2);
    ck_assert_int_eq(mailbox_pop(mb, &out, 0), 0);
    ck_assert_ptr_eq(out, &a);
    ck_assert_int_eq(mailbox_push(mb, &c, 0), 0);
    ck_assert_int_eq(mailbox_pop(mb, &out, 0), 0);
    ck_assert_ptr_eq(out, &b);
    ck_assert_int_eq(mailbox_pop(mb, &out, 0), 0);
    ck_assert_ptr_eq(out, &c);
    ck_assert_int_eq(mailbox_pop(mb, &out, 10), 1); /* empty: times out */
    mailbox_free(mb);
}
END_TEST

START_TEST(close_drains_then_fails)
{
    mailbox_t *mb = mailbox_new(4);
    int a = 1;
    void *out;
    ck_assert_int_eq(mailbox_push(mb, &a, 0), 0);
    mailbox_close(mb);
    ck_assert_int_eq(mailbox_push(mb, &a, 0), -1);
    ck_assert_int_eq(mailbox_pop(mb, &out, -1), 0);
    ck_assert_int_eq(mailbox_pop(mb, &out, -1), -1);
    mailbox_free(mb);
}
END_TEST

#define PRODUCERS 4
#define PER_PRODUCER 20000

static void *producer(void *arg)
{
    mailbox_t *mb = arg;
    for (uintptr_t i = 1; i <= PER_PRODUCER; i++) mailbox_push(mb, (void *)i, -1);
    return NULL;
}

typedef struct {
    mailbox_t *mb;
    uint64_t sum, count;
} consumer_arg_t;

static void *consumer(void *arg)
{
    consumer_arg_t *c = arg;
    void *item;
    while (mailbox_pop(c->mb, &item, -1) == 0) {
        c->sum += (uintptr_t)item;
        c->count++;
    }
    return NULL;
}

START_TEST(many_threads_lose_nothing)
{
    mailbox_t *mb = mailbox_new(8);
    pthread_t p[PRODUCERS], c[2];
    consumer_arg_t ca[2] = {{mb, 0, 0}, {mb, 0, 0}};
    for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, consumer, &ca[i]);
    for (int i = 0; i < PRODUCERS; i++) pthread_create(&p[i], NULL, producer, mb);
    for (int i = 0; i < PRODUCERS; i++) pthread_join(p[i], NULL);
    mailbox_close(mb);
    for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
    uint64_t n = PER_PRODUCER;
    ck_assert_uint_eq(ca[0].count + ca[1].count, PRODUCERS * n);
    ck_assert_uint_eq(ca[0].sum + ca[1].sum, PRODUCERS * n * (n + 1) / 2);
    mailbox_free(mb);
}
END_TEST

Suite *mailbox_suite(void)
{
    Suite *s = suite_create("mailbox");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fifo_and_bounds);
    tcase_add_test(tc, close_drains_then_fails);
    tcase_add_test(tc, many_threads_lose_nothing);
    suite_add_tcase(s, tc);
    return s;
}
