/* actor.h - a named thread with a mailbox (shared/README.md, Actors and mailboxes).
 *
 * An actor runs fn(actor) until fn returns. fn reads actor->inbox and checks
 * actor_should_stop(). Connections (hiredis, PGconn, FreeType faces) belong to
 * exactly one actor and are created inside fn. */
#ifndef IMGCAP_ACTOR_H
#define IMGCAP_ACTOR_H

#include <pthread.h>
#include "mailbox.h"
#include "timeutil.h"

typedef struct actor actor_t;
typedef void (*actor_fn)(actor_t *self);

struct actor {
    char name[32];
    pthread_t thread;
    mailbox_t *inbox; /* owned by the actor; NULL if it has none */
    actor_fn fn;
    void *ctx;        /* the service's state, not owned */
    stop_flag_t stop; /* set by actor_stop() */
    int started;
};

/* Creates the actor's inbox (capacity 0 = no inbox) and starts its thread, which
 * names itself `name` in log lines. Returns 0, or -1 (logged). */
int actor_start(actor_t *a, const char *name, size_t inbox_capacity, actor_fn fn, void *ctx);

/* Asks the actor to stop: sets the flag; the inbox is left open so that work
 * already queued can drain. */
void actor_stop(actor_t *a);

int actor_should_stop(const actor_t *a);

/* Waits for the thread to return, then frees the inbox. */
void actor_join(actor_t *a);

/* Process-wide stop flag set by SIGINT/SIGTERM once actor_install_signals() ran. */
extern stop_flag_t actor_shutdown_requested;
void actor_install_signals(void);

/* Number of online CPUs (>= 1). */
int actor_cpu_count(void);

#endif
