/* rowcache.h - a bounded cache of stored images: key -> resolved file path and
 * size, so a repeated GET /api/images/{id} (or .../thumbnail) needs no
 * PostgreSQL round trip and no realpath() walk. The key is the image id, or
 * the id and a suffix for another file of the image (images.c: ".t", the
 * thumbnail).
 *
 * Entries cannot go stale while the system runs as designed: a row and its
 * file are written once and never changed (services/persist/README.md, Write path: INSERT ... ON
 * CONFLICT DO NOTHING). Only an operator deleting images breaks that, so the
 * caller evicts an entry whose file has vanished and looks the id up again,
 * and a deleted image's entries are evicted when the deletion is seen.
 *
 * 4-way set-associative: a new entry in a full set replaces its least
 * recently used one. (Direct mapping left about a fifth of 3000 ids sharing
 * a slot of 8192, and a walk over them all missed those every time.) Fixed
 * memory, thread-safe with one mutex held for a copy. Pure: no I/O. */
#ifndef IMGCAP_API_ROWCACHE_H
#define IMGCAP_API_ROWCACHE_H

#include <stddef.h>

#define API_ROWCACHE_PATH_MAX 256 /* longer paths are simply not cached */
#define API_ROWCACHE_KEY_MAX 40   /* keys of this length or longer are not cached */

typedef struct api_rowcache api_rowcache_t;

/* A cache of `slots` entries (rounded up to a multiple of 4). The caller frees it with
 * api_rowcache_free(). Returns NULL when out of memory. */
api_rowcache_t *api_rowcache_new(size_t slots);
void api_rowcache_free(api_rowcache_t *rc);

/* 1 and the entry copied out when key is cached, 0 otherwise. path needs
 * API_ROWCACHE_PATH_MAX bytes. */
int api_rowcache_get(api_rowcache_t *rc, const char *key, char *path, long long *bytes);

void api_rowcache_put(api_rowcache_t *rc, const char *key, const char *path, long long bytes);
void api_rowcache_evict(api_rowcache_t *rc, const char *key);

#endif
