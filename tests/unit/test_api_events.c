/* Unit tests of services/api/events.c's registry of ?wait requests: bounded,
 * timed, woken and refused at shutdown. The subscriber actor is started with
 * a Redis that cannot be reached (a socket path that does not exist), so it
 * only retries in the background: what an event does to a waiter needs a real
 * Redis and is covered by tests/integration (test_api.py, test_events.py). */
#include <check.h>
#include <pthread.h>

#include "api/events.h"
#include "unit_util.h"

static config_t cfg;

static api_events_t *start(int max_waiters)
{
    config_defaults(&cfg);
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "unix:///nonexistent/imgcap-unit.sock");
    cfg.events_max_clients = 2;
    api_events_t *ev = api_events_start(&cfg, max_waiters);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

START_TEST(waiters_are_bounded_and_time_out)
{
    api_events_t *ev = start(2);
    ck_assert_int_eq(api_events_connected(ev), 0);
    ck_assert_ptr_nonnull(api_events_hub(ev));
    api_waiter_t *a = api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ab");
    api_waiter_t *b = api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ab");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(api_events_waiters(ev), 2);
    /* a third request holding ?wait answers without waiting */
    ck_assert_ptr_null(api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ac"));
    /* no event: the wait ends with its timeout */
    ck_assert_int_eq(api_waiter_wait(ev, a, 20), 0);
    api_waiter_remove(ev, b);
    ck_assert_int_eq(api_events_waiters(ev), 1);
    api_waiter_t *c = api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ac");
    ck_assert_ptr_nonnull(c);
    api_waiter_remove(ev, a);
    api_waiter_remove(ev, c);
    api_waiter_remove(ev, NULL);
    ck_assert_int_eq(api_events_waiters(ev), 0);
    ck_assert_uint_eq(api_events_dropped(ev), 0);
    api_events_stop(ev);
}
END_TEST

typedef struct held {
    api_events_t *ev;
    api_waiter_t *w;
    int rc;
} held_t;

static void *hold(void *arg)
{
    held_t *h = arg;
    h->rc = api_waiter_wait(h->ev, h->w, 30000);
    return NULL;
}

/* Quiescing answers every held request at once (-1: stopping), refuses new
 * waiters and new event streams. */
START_TEST(quiesce_wakes_waiters_and_refuses_new_ones)
{
    api_events_t *ev = start(8);
    held_t h = {ev, api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ab"), 0};
    ck_assert_ptr_nonnull(h.w);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold, &h), 0);
    api_events_quiesce(ev);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(h.rc, -1);
    ck_assert_ptr_null(api_waiter_add(ev, "01935f1e-7c2a-7b3e-8f00-0123456789ac"));
    ck_assert_int_eq(api_waiter_wait(ev, h.w, 30000), -1);
    api_sse_refusal_t why;
    ck_assert_ptr_null(api_sse_attach(api_events_hub(ev), &why));
    ck_assert_int_eq(why, API_SSE_STOPPING);
    api_waiter_remove(ev, h.w);
    api_events_stop(ev);
}
END_TEST

Suite *api_events_suite(void)
{
    Suite *s = suite_create("api_events");
    TCase *tc = tcase_create("waiters");
    tcase_add_test(tc, waiters_are_bounded_and_time_out);
    tcase_add_test(tc, quiesce_wakes_waiters_and_refuses_new_ones);
    suite_add_tcase(s, tc);
    return s;
}
