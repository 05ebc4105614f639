/* mailbox.h - a bounded multi-producer multi-consumer FIFO of pointers, the inbox
 * of an actor (shared/README.md). A full mailbox blocks the sender (backpressure)
 * instead of growing. The mailbox never owns the items: whoever pops one owns it. */
#ifndef IMGCAP_MAILBOX_H
#define IMGCAP_MAILBOX_H

#include <stddef.h>

typedef struct mailbox mailbox_t;

/* What a push or a pop did. None is a failure: a timeout and a closed mailbox
 * are how actors learn to wait again or to stop. */
typedef enum {
    MAILBOX_CLOSED = -1, /* closed (push), closed and drained (pop) */
    MAILBOX_OK = 0,
    MAILBOX_TIMEOUT = 1
} mailbox_rc_t;

/* A mailbox of at most capacity items (>= 1). Caller frees with mailbox_free().
 * Returns NULL when out of memory or capacity is 0. */
mailbox_t *mailbox_new(size_t capacity);

/* Frees the mailbox; items still inside are not freed (drain it first). */
void mailbox_free(mailbox_t *mb);

/* Appends item, waiting up to timeout_ms (-1 = forever) for room. Returns
 * MAILBOX_OK, MAILBOX_TIMEOUT, or MAILBOX_CLOSED (item not taken). */
mailbox_rc_t mailbox_push(mailbox_t *mb, void *item, int timeout_ms);

/* Removes the oldest item into *item, waiting up to timeout_ms (-1 = forever).
 * Returns MAILBOX_OK, MAILBOX_TIMEOUT, or MAILBOX_CLOSED once the mailbox is
 * closed and empty. */
mailbox_rc_t mailbox_pop(mailbox_t *mb, void **item, int timeout_ms);

/* After close, pushes fail and pops drain what is left, then fail. Idempotent. */
void mailbox_close(mailbox_t *mb);

size_t mailbox_size(mailbox_t *mb);
size_t mailbox_capacity(const mailbox_t *mb);

#endif
