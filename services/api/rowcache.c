/* rowcache.c - set-associative cache of stored images (see rowcache.h). */
#include "rowcache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idhash.h"

#define WAYS 4

typedef struct entry {
    char id[API_ROWCACHE_KEY_MAX]; /* the key; "" = empty slot */
    char path[API_ROWCACHE_PATH_MAX];
    long long bytes;
    uint64_t used; /* tick of the last get or put: a full set replaces its oldest */
} entry_t;

struct api_rowcache {
    pthread_mutex_t mu;
    size_t nsets;
    uint64_t tick;
    entry_t *entries; /* nsets * WAYS */
};

api_rowcache_t *api_rowcache_new(size_t slots)
{
    api_rowcache_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) return NULL;
    rc->nsets = slots > WAYS ? (slots + WAYS - 1) / WAYS : 1;
    rc->entries = calloc(rc->nsets * WAYS, sizeof *rc->entries);
    if (rc->entries == NULL) {
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
    free(rc->entries);
    free(rc);
}

static entry_t *set_of(api_rowcache_t *rc, const char *id)
{
    return &rc->entries[(api_id_hash(id) % rc->nsets) * WAYS];
}

/* Caller holds mu. */
static entry_t *find(entry_t *set, const char *id)
{
    for (int w = 0; w < WAYS; w++)
        if (set[w].id[0] != '\0' && strcmp(set[w].id, id) == 0) return &set[w];
    return NULL;
}

int api_rowcache_get(api_rowcache_t *rc, const char *id, char *path, long long *bytes)
{
    pthread_mutex_lock(&rc->mu);
    entry_t *e = find(set_of(rc, id), id);
    if (e != NULL) {
        memcpy(path, e->path, sizeof e->path);
        *bytes = e->bytes;
        e->used = ++rc->tick;
    }
    pthread_mutex_unlock(&rc->mu);
    return e != NULL;
}

void api_rowcache_put(api_rowcache_t *rc, const char *id, const char *path, long long bytes)
{
    size_t plen = strlen(path), ilen = strlen(id);
    if (plen >= API_ROWCACHE_PATH_MAX || ilen >= API_ROWCACHE_KEY_MAX) return;
    pthread_mutex_lock(&rc->mu);
    entry_t *set = set_of(rc, id), *e = find(set, id);
    for (int w = 0; e == NULL && w < WAYS; w++)
        if (set[w].id[0] == '\0') e = &set[w];
    if (e == NULL) {
        e = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].used < e->used) e = &set[w];
    }
    memcpy(e->id, id, ilen + 1);
    memcpy(e->path, path, plen + 1);
    e->bytes = bytes;
    e->used = ++rc->tick;
    pthread_mutex_unlock(&rc->mu);
}

void api_rowcache_evict(api_rowcache_t *rc, const char *id)
{
    pthread_mutex_lock(&rc->mu);
    entry_t *e = find(set_of(rc, id), id);
    if (e != NULL) e->id[0] = '\0';
    pthread_mutex_unlock(&rc->mu);
}
