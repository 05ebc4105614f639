/* blobcache.c - bounded in-memory cache of stored image files (see blobcache.h). */
#include "blobcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "idhash.h"

#define WAYS 4

typedef struct slot {
    api_blob_t *b; /* NULL = empty */
    uint64_t used; /* tick of the last get or put: least recently used goes */
} slot_t;

struct api_blobcache {
    pthread_mutex_t mu;
    size_t nsets, max_bytes, bytes, count;
    uint64_t tick;
    uint64_t rng;  /* xorshift state for eviction over the byte bound */
    slot_t *slots; /* nsets * WAYS */
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
    c->nsets = (slots + WAYS - 1) / WAYS;
    if (c->nsets == 0) c->nsets = 1;
    c->slots = calloc(c->nsets * WAYS, sizeof *c->slots);
    if (c->slots == NULL) {
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
    for (size_t i = 0; i < c->nsets * WAYS; i++) api_blob_release(c->slots[i].b);
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

static slot_t *set_of(api_blobcache_t *c, const char *id)
{
    return &c->slots[(api_id_hash(id) % c->nsets) * WAYS];
}

/* Caller holds mu. Releasing under it only frees memory: a blob still being
 * sent keeps its own reference. */
static void drop(api_blobcache_t *c, slot_t *s)
{
    api_blob_t *b = s->b;
    if (b == NULL) return;
    c->bytes -= b->len;
    c->count--;
    s->b = NULL;
    api_blob_release(b);
}

api_blob_t *api_blobcache_get(api_blobcache_t *c, const char *id)
{
    api_blob_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, id);
    for (int w = 0; w < WAYS; w++) {
        if (set[w].b != NULL && strcmp(set[w].b->id, id) == 0) {
            found = set[w].b;
            atomic_fetch_add(&found->refs, 1);
            set[w].used = ++c->tick;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void api_blobcache_put(api_blobcache_t *c, api_blob_t *b)
{
    if (b->len > c->max_bytes) return;
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, b->id), *victim = &set[0];
    for (int w = 0; w < WAYS; w++) {
        if (set[w].b != NULL && strcmp(set[w].b->id, b->id) == 0) {
            victim = &set[w];
            break;
        }
        if (victim->b != NULL && (set[w].b == NULL || set[w].used < victim->used)) victim = &set[w];
    }
    drop(c, victim);
    atomic_fetch_add(&b->refs, 1);
    victim->b = b;
    victim->used = ++c->tick;
    c->bytes += b->len;
    c->count++;
    /* Over the byte bound: random blobs elsewhere go. Not the least recently
     * used: a client walking through more images than fit (a crawler, a
     * backup) would then evict each one just before its next turn and never
     * hit; random eviction keeps about the fraction that fits. O(1) expected:
     * probe from a random slot to the next occupied one. */
    while (c->bytes > c->max_bytes && c->count > 1) {
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        size_t n = c->nsets * WAYS, i = (size_t)(c->rng % n);
        while (c->slots[i].b == NULL || c->slots[i].b == b) i = (i + 1) % n;
        drop(c, &c->slots[i]);
    }
    pthread_mutex_unlock(&c->mu);
}

void api_blobcache_evict(api_blobcache_t *c, const char *id)
{
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, id);
    for (int w = 0; w < WAYS; w++)
        if (set[w].b != NULL && strcmp(set[w].b->id, id) == 0) drop(c, &set[w]);
    pthread_mutex_unlock(&c->mu);
}

void api_blobcache_usage(api_blobcache_t *c, size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&c->mu);
    *count = c->count;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
