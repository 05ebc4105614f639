/* Actors and mailboxes under concurrency (shared/README.md, Actors and mailboxes), written for
 * `make test-tsan`: several worker actors drain one bounded pipeline while the
 * main thread pushes, then everything is stopped the way services stop
 * (actor_stop, close, join). ThreadSanitizer checks the handoffs; the counts
 * check that backpressure and shutdown lose nothing. Runs in `make unit` too. */
#include <check.h>
#include <stdint.h>

#include "actor.h"
#include "mailbox.h"

#define WORKERS 3
#define ITEMS 20000

typedef struct {
    mailbox_t *out; /* the collector's inbox, not owned */
} worker_ctx_t;

/* Forwards every item of its inbox, doubled, until asked to stop and drained. */
static void worker_fn(actor_t *self)
{
    worker_ctx_t *w = self->ctx;
    for (;;) {
        void *item;
        int rc = mailbox_pop(self->inbox, &item, 20);
        if (rc == 0) {
            mailbox_push(w->out, (void *)((uintptr_t)item * 2), -1);
            continue;
        }
        if (rc < 0 || actor_should_stop(self)) break;
    }
}

typedef struct {
    uint64_t sum, count;
} totals_t;

static void collector_fn(actor_t *self)
{
    totals_t *t = self->ctx;
    void *item;
    while (mailbox_pop(self->inbox, &item, -1) == 0) {
        t->sum += (uintptr_t)item;
        t->count++;
    }
}

START_TEST(pipeline_of_actors_loses_nothing)
{
    actor_t workers[WORKERS], collector;
    totals_t totals = {0, 0};
    ck_assert_int_eq(actor_start(&collector, "collector", 4, collector_fn, &totals), 0);
    worker_ctx_t wctx = {collector.inbox};
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(actor_start(&workers[i], "worker", 2, worker_fn, &wctx), 0);
    for (uintptr_t i = 1; i <= ITEMS; i++)
        ck_assert_int_eq(mailbox_push(workers[i % WORKERS].inbox, (void *)i, -1), 0);
    /* Shutdown order of a service: stop intake, let workers drain, then
     * close the next stage's inbox so its actor returns. */
    for (int i = 0; i < WORKERS; i++) {
        mailbox_close(workers[i].inbox);
        actor_stop(&workers[i]);
    }
    for (int i = 0; i < WORKERS; i++) actor_join(&workers[i]);
    mailbox_close(collector.inbox);
    actor_join(&collector);
    ck_assert_uint_eq(totals.count, ITEMS);
    ck_assert_uint_eq(totals.sum, (uint64_t)ITEMS * (ITEMS + 1));
}
END_TEST

static void idle_fn(actor_t *self)
{
    while (!actor_should_stop(self)) {
        void *item;
        (void)mailbox_pop(self->inbox, &item, 5);
    }
}

/* actor_stop() from another thread ends an actor that only polls the flag. */
START_TEST(stop_flag_reaches_polling_actor)
{
    actor_t a[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(actor_start(&a[i], "idle", 1, idle_fn, NULL), 0);
    for (int i = 0; i < WORKERS; i++) actor_stop(&a[i]);
    for (int i = 0; i < WORKERS; i++) {
        actor_join(&a[i]);
        ck_assert_ptr_null(a[i].inbox);
    }
}
END_TEST

Suite *actor_suite(void)
{
    Suite *s = suite_create("actor");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pipeline_of_actors_loses_nothing);
    tcase_add_test(tc, stop_flag_reaches_polling_actor);
    suite_add_tcase(s, tc);
    return s;
}
