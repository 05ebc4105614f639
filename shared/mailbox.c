/* mailbox.c - bounded ring buffer guarded by one mutex and two condition
 * variables. Contention is low (a handful of actors per mailbox), so a lock is
 * simpler and as fast as anything lock-free here. */
#include "mailbox.h"

#include "timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void **items;
    size_t capacity, head, count;
    int closed;
};

mailbox_t *mailbox_new(size_t capacity)
{
    if (capacity == 0) return NULL;
    mailbox_t *mb = calloc(1, sizeof *mb);
    if (mb == NULL) return NULL;
    mb->items = calloc(capacity, sizeof *mb->items);
    if (mb->items == NULL) {
        free(mb);
        return NULL;
    }
    mb->capacity = capacity;
    pthread_mutex_init(&mb->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mb->not_empty, &ca);
    pthread_cond_init(&mb->not_full, &ca);
    pthread_condattr_destroy(&ca);
    return mb;
}

void mailbox_free(mailbox_t *mb)
{
    if (mb == NULL) return;
    pthread_mutex_destroy(&mb->lock);
    pthread_cond_destroy(&mb->not_empty);
    pthread_cond_destroy(&mb->not_full);
    free(mb->items);
    free(mb);
}

/* Waits on cond until pred holds, or sets timed_out. */
#define WAIT_UNTIL(mb, cond, pred, timeout_ms)                                            \
    do {                                                                                  \
        struct timespec dl_;                                                              \
        if ((timeout_ms) >= 0) time_deadline(CLOCK_MONOTONIC, (timeout_ms), &dl_);        \
        while (!(pred)) {                                                                 \
            if ((timeout_ms) < 0) {                                                       \
                pthread_cond_wait(&(cond), &(mb)->lock);                                  \
            } else if (pthread_cond_timedwait(&(cond), &(mb)->lock, &dl_) == ETIMEDOUT && \
                       !(pred)) {                                                         \
                timed_out = 1;                                                            \
                break;                                                                    \
            }                                                                             \
        }                                                                                 \
    } while (0)

mailbox_rc_t mailbox_push(mailbox_t *mb, void *item, int timeout_ms)
{
    int timed_out = 0;
    pthread_mutex_lock(&mb->lock);
    WAIT_UNTIL(mb, mb->not_full, mb->closed || mb->count < mb->capacity, timeout_ms);
    mailbox_rc_t rc;
    if (mb->closed) {
        rc = MAILBOX_CLOSED;
    } else if (timed_out) {
        rc = MAILBOX_TIMEOUT;
    } else {
        mb->items[(mb->head + mb->count) % mb->capacity] = item;
        mb->count++;
        pthread_cond_signal(&mb->not_empty);
        rc = MAILBOX_OK;
    }
    pthread_mutex_unlock(&mb->lock);
    return rc;
}

mailbox_rc_t mailbox_pop(mailbox_t *mb, void **item, int timeout_ms)
{
    int timed_out = 0;
    pthread_mutex_lock(&mb->lock);
    WAIT_UNTIL(mb, mb->not_empty, mb->closed || mb->count > 0, timeout_ms);
    mailbox_rc_t rc;
    if (mb->count > 0) {
        *item = mb->items[mb->head];
        mb->head = (mb->head + 1) % mb->capacity;
        mb->count--;
        pthread_cond_signal(&mb->not_full);
        rc = MAILBOX_OK;
    } else {
        rc = timed_out ? MAILBOX_TIMEOUT : MAILBOX_CLOSED;
    }
    pthread_mutex_unlock(&mb->lock);
    return rc;
}

void mailbox_close(mailbox_t *mb)
{
    pthread_mutex_lock(&mb->lock);
    mb->closed = 1;
    pthread_cond_broadcast(&mb->not_empty);
    pthread_cond_broadcast(&mb->not_full);
    pthread_mutex_unlock(&mb->lock);
}

size_t mailbox_size(mailbox_t *mb)
{
    pthread_mutex_lock(&mb->lock);
    size_t n = mb->count;
    pthread_mutex_unlock(&mb->lock);
    return n;
}

size_t mailbox_capacity(const mailbox_t *mb) { return mb->capacity; }
