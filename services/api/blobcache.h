/* blobcache.h - a bounded in-memory cache of stored image files, so a repeated
 * GET /api/images/{id} is answered from memory instead of an open, a read and
 * a close of the file.
 *
 * Stored images never change (services/persist/README.md, Write path), so a copy stays right while
 * its file exists; the caller checks that with one stat() of the resolved
 * path per hit (api_blob_current) and evicts a copy whose file has vanished
 * or was replaced.
 *
 * Ownership: a blob is reference counted. api_blob_new() returns one
 * reference; api_blobcache_put() takes a reference of its own; every reference
 * (from new or get) is given back with api_blob_release(). A blob the cache
 * drops stays valid for whoever still holds a reference (a response being
 * sent), so eviction never waits for readers.
 *
 * Bounds: at most `slots` blobs (4-way sets, a full set replaces its least
 * recently used) and at most max_bytes of file data; over the byte bound
 * random blobs go (see api_blobcache_put). Thread-safe: one mutex held for a
 * pointer copy, never during I/O. */
#ifndef IMGCAP_API_BLOBCACHE_H
#define IMGCAP_API_BLOBCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define API_BLOB_ID_MAX 40    /* a key: an image id, or the id and a short suffix */
#define API_BLOB_PATH_MAX 256 /* longer paths are simply not cached */

typedef struct api_blob {
    char id[API_BLOB_ID_MAX];     /* the key: the image id, or id + suffix (images.c) */
    char path[API_BLOB_PATH_MAX]; /* the resolved file the bytes came from */
    dev_t dev;                    /* identity of that file when it was read */
    ino_t ino;
    int64_t mtime_ns;
    size_t len;
    _Atomic unsigned long refs;
    unsigned char data[]; /* len bytes */
} api_blob_t;

typedef struct api_blobcache api_blobcache_t;

/* A blob of len bytes (data uninitialised) for id and path, with one
 * reference. Returns NULL when out of memory or when id or path do not fit. */
api_blob_t *api_blob_new(const char *id, const char *path, size_t len);

void api_blob_release(api_blob_t *b); /* NULL is fine */

/* Whether path still names the file b was read from (same device, inode,
 * size and modification time): one stat(). */
int api_blob_current(const api_blob_t *b);

/* A cache of at most slots blobs (rounded up to a multiple of 4) and max_bytes
 * of data. Freed with api_blobcache_free(), which releases the cache's
 * references. Returns NULL when out of memory. */
api_blobcache_t *api_blobcache_new(size_t slots, size_t max_bytes);
void api_blobcache_free(api_blobcache_t *c);

/* A new reference to the blob cached for id, or NULL. */
api_blob_t *api_blobcache_get(api_blobcache_t *c, const char *id);

/* Caches b under b->id (the cache takes its own reference), replacing an
 * older blob of that id. A blob larger than max_bytes is not cached. */
void api_blobcache_put(api_blobcache_t *c, api_blob_t *b);

void api_blobcache_evict(api_blobcache_t *c, const char *id);

/* Cached blobs and their bytes (tests, metrics). */
void api_blobcache_usage(api_blobcache_t *c, size_t *count, size_t *bytes);

#endif
