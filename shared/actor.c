/* actor.c - named threads with mailboxes, and the process stop signal. */
#include "actor.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

stop_flag_t actor_shutdown_requested;

static void *actor_main(void *arg)
{
    actor_t *a = arg;
    log_set_thread_name(a->name);
    pthread_setname_np(pthread_self(), a->name); /* best effort: 15 chars */
    a->fn(a);
    return NULL;
}

int actor_start(actor_t *a, const char *name, size_t inbox_capacity, actor_fn fn, void *ctx)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->fn = fn;
    a->ctx = ctx;
    if (inbox_capacity > 0) {
        a->inbox = mailbox_new(inbox_capacity);
        if (a->inbox == NULL) {
            log_error("actor %s: out of memory for its mailbox", name);
            return -1;
        }
    }
    int rc = pthread_create(&a->thread, NULL, actor_main, a);
    if (rc != 0) {
        log_error("actor %s: cannot start thread: %s", name, strerror(rc));
        mailbox_free(a->inbox);
        a->inbox = NULL;
        return -1;
    }
    a->started = 1;
    return 0;
}

void actor_stop(actor_t *a) { atomic_store(&a->stop, 1); }

int actor_should_stop(const actor_t *a)
{
    return atomic_load(&a->stop) || atomic_load(&actor_shutdown_requested);
}

void actor_join(actor_t *a)
{
    if (a->started) pthread_join(a->thread, NULL);
    a->started = 0;
    mailbox_free(a->inbox);
    a->inbox = NULL;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    atomic_store(&actor_shutdown_requested, 1);
}

void actor_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int actor_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
