/* janitor.h - persist's janitor actor (services/persist/README.md, Janitor):
 * one per persist process, with its own PGconn and its own Redis connection.
 *
 *   retention  RETENTION > 0: every persist_janitor_retention_interval_s(),
 *              imgcap_expire(now() - RETENTION, 500, 'retention') until a
 *              batch comes back short
 *   recycle    STORAGE_RECYCLE=1 while STORAGE_DIR is low: the 50 oldest
 *              images at a time, until it is no longer low or nothing is left
 *   purge      removes the files of image_deletions rows not yet purged, then
 *              marks them purged; woken at once by NOTIFY imgcap_purge
 *   prune      forgets retention/recycle tombstones purged over 8 days ago
 *   counters   RQ_COUNTER_DELETED_RETENTION / _RECYCLE, RQ_COUNTER_FILES_PURGED
 *
 * Every PostgreSQL error is logged and retried with backoff; Redis being down
 * only delays the counters. Stops promptly once its actor is asked to stop or
 * the process shutdown is requested. */
#ifndef IMGCAP_PERSIST_JANITOR_H
#define IMGCAP_PERSIST_JANITOR_H

#include "actor.h"

/* imgcap_expire's batch sizes and the purge's. */
#define PERSIST_JANITOR_EXPIRE_BATCH 500
#define PERSIST_JANITOR_RECYCLE_BATCH 50
#define PERSIST_JANITOR_PURGE_BATCH 200

/* Tombstones of reason retention/recycle are forgotten this long after their
 * purge: longer than the Redis status TTL (7 days), so that the api answers
 * 404 for such an id rather than a stale pipeline status. */
#define PERSIST_JANITOR_PRUNE_AFTER_S (8 * 86400)

/* Seconds between retention passes for RETENTION retention_s (> 0): half of
 * it, at most 60 and at least 1. Pure. */
int persist_janitor_retention_interval_s(long long retention_s);

/* The actor body; self->ctx is a persist_ctx_t (persist.h). Start it with
 * no inbox; stop it with actor_stop() + actor_join(). */
void persist_janitor_run(actor_t *self);

#endif
