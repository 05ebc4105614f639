/* rowcache.c - set-associative cache of stored images (see rowcache.h). */
#include "rowcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cachesets.h"

_Static_assert(API_ROWCACHE_KEY_MAX <= API_CACHESETS_KEY_MAX, "every cached key fits a slot's key");

typedef struct row {
    char path[API_ROWCACHE_PATH_MAX];
    long long bytes;
} row_t;

struct api_rowcache {
    pthread_mutex_t mu;
    api_cachesets_t sets; /* which slot holds which key */
    row_t *rows;          /* sets.vals: the row of each slot */
};

api_rowcache_t *api_rowcache_new(size_t slots)
{
    api_rowcache_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) return NULL;
    rc->rows = api_cachesets_init(&rc->sets, slots, sizeof *rc->rows);
    if (rc->rows == NULL) {
        free(rc);
        return NULL;
    }
    pthread_mutex_init(&rc->mu, NULL);
    return rc;
}

void api_rowcache_free(api_rowcache_t *rc)
{
    if (rc == NULL) return;
    pthread_mutex_destroy(&rc->mu);
    api_cachesets_fini(&rc->sets);
    free(rc);
}

int api_rowcache_get(api_rowcache_t *rc, const char *key, char *path, long long *bytes)
{
    uint64_t h = api_cachesets_hash(key); /* before the mutex: most of a lookup's work */
    pthread_mutex_lock(&rc->mu);
    size_t i = api_cachesets_get(&rc->sets, key, h);
    if (i != API_CACHESETS_NONE) {
        memcpy(path, rc->rows[i].path, sizeof rc->rows[i].path);
        *bytes = rc->rows[i].bytes;
    }
    pthread_mutex_unlock(&rc->mu);
    return i != API_CACHESETS_NONE;
}

void api_rowcache_put(api_rowcache_t *rc, const char *key, const char *path, long long bytes)
{
    size_t plen = strlen(path);
    if (plen >= API_ROWCACHE_PATH_MAX || strlen(key) >= API_ROWCACHE_KEY_MAX) return;
    uint64_t h = api_cachesets_hash(key);
    pthread_mutex_lock(&rc->mu);
    size_t i = api_cachesets_put(&rc->sets, key, h); /* a row is copied over: nothing to release */
    if (i != API_CACHESETS_NONE) {
        memcpy(rc->rows[i].path, path, plen + 1);
        rc->rows[i].bytes = bytes;
    }
    pthread_mutex_unlock(&rc->mu);
}

void api_rowcache_evict(api_rowcache_t *rc, const char *key)
{
    uint64_t h = api_cachesets_hash(key);
    pthread_mutex_lock(&rc->mu);
    api_cachesets_evict(&rc->sets, key, h);
    pthread_mutex_unlock(&rc->mu);
}
