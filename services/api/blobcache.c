/* blobcache.c - bounded in-memory cache of stored image files (see blobcache.h). */
#include "blobcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cachesets.h"

_Static_assert(API_BLOB_ID_MAX <= API_CACHESETS_KEY_MAX, "every blob id fits a slot's key");

struct api_blobcache {
    pthread_mutex_t mu;
    api_cachesets_t sets; /* which slot holds which id */
    api_blob_t **blobs;   /* sets.vals: the blob of each slot (a reference), NULL when empty */
    size_t max_bytes, bytes;
    uint64_t rng; /* xorshift state for eviction over the byte bound */
};

api_blob_t *api_blob_new(const char *id, const char *path, size_t len)
{
    size_t il = strlen(id), pl = strlen(path);
    if (il >= API_BLOB_ID_MAX || pl >= API_BLOB_PATH_MAX) return NULL;
    api_blob_t *b = malloc(sizeof *b + len);
    if (b == NULL) return NULL;
    memcpy(b->id, id, il + 1);
    memcpy(b->path, path, pl + 1);
    b->dev = 0;
    b->ino = 0;
    b->mtime_ns = 0;
    b->len = len;
    atomic_init(&b->refs, 1);
    return b;
}

void api_blob_release(api_blob_t *b)
{
    if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

int api_blob_current(const api_blob_t *b)
{
    struct stat st;
    if (stat(b->path, &st) != 0) return 0;
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return st.st_dev == b->dev && st.st_ino == b->ino && (size_t)st.st_size == b->len &&
           mt == b->mtime_ns;
}

api_blobcache_t *api_blobcache_new(size_t slots, size_t max_bytes)
{
    api_blobcache_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->blobs = api_cachesets_init(&c->sets, slots, sizeof *c->blobs);
    if (c->blobs == NULL) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    c->rng = 0x9e3779b97f4a7c15ULL;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_blobcache_free(api_blobcache_t *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < api_cachesets_size(&c->sets); i++) api_blob_release(c->blobs[i]);
    pthread_mutex_destroy(&c->mu);
    api_cachesets_fini(&c->sets);
    free(c);
}

/* Caller holds mu and has emptied slot i in sets (or is about to fill it).
 * Releasing under mu only frees memory: a blob still being sent keeps its
 * own reference. */
static void drop(api_blobcache_t *c, size_t i)
{
    api_blob_t *b = c->blobs[i];
    if (b == NULL) return;
    c->bytes -= b->len;
    c->blobs[i] = NULL;
    api_blob_release(b);
}

api_blob_t *api_blobcache_get(api_blobcache_t *c, const char *id)
{
    uint64_t h = api_cachesets_hash(id); /* before the mutex: most of a lookup's work */
    api_blob_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    size_t i = api_cachesets_get(&c->sets, id, h);
    if (i != API_CACHESETS_NONE) {
        found = c->blobs[i];
        atomic_fetch_add(&found->refs, 1);
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void api_blobcache_put(api_blobcache_t *c, api_blob_t *b)
{
    if (b->len > c->max_bytes) return;
    uint64_t h = api_cachesets_hash(b->id);
    pthread_mutex_lock(&c->mu);
    size_t at = api_cachesets_put(&c->sets, b->id, h); /* b->id always fits (api_blob_new) */
    if (at == API_CACHESETS_NONE) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    drop(c, at); /* the id's older blob, or the set's least recently used */
    atomic_fetch_add(&b->refs, 1);
    c->blobs[at] = b;
    c->bytes += b->len;
    /* Over the byte bound: random blobs elsewhere go. Not the least recently
     * used: a client walking through more images than fit (a crawler, a
     * backup) would then evict each one just before its next turn and never
     * hit; random eviction keeps about the fraction that fits. O(1) expected:
     * probe from a random slot to the next occupied one. */
    while (c->bytes > c->max_bytes && c->sets.count > 1) {
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        size_t n = api_cachesets_size(&c->sets);
        size_t i = api_cachesets_next(&c->sets, (size_t)(c->rng % n));
        if (i == at) i = api_cachesets_next(&c->sets, (i + 1) % n); /* count > 1: another */
        api_cachesets_clear(&c->sets, i);
        drop(c, i);
    }
    pthread_mutex_unlock(&c->mu);
}

void api_blobcache_evict(api_blobcache_t *c, const char *id)
{
    uint64_t h = api_cachesets_hash(id);
    pthread_mutex_lock(&c->mu);
    size_t i = api_cachesets_evict(&c->sets, id, h);
    if (i != API_CACHESETS_NONE) drop(c, i);
    pthread_mutex_unlock(&c->mu);
}

void api_blobcache_usage(api_blobcache_t *c, size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&c->mu);
    *count = c->sets.count;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
