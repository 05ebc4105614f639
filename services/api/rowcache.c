/* rowcache.c - direct-mapped cache of stored images (see rowcache.h). */
#include "rowcache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

typedef struct entry {
    char id[UUID_STR_LEN]; /* "" = empty slot */
    char path[API_ROWCACHE_PATH_MAX];
    long long bytes;
} entry_t;

struct api_rowcache {
    pthread_mutex_t mu;
    size_t slots;
    entry_t *entries;
};

api_rowcache_t *api_rowcache_new(size_t slots)
{
    api_rowcache_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) return NULL;
    rc->entries = calloc(slots ? slots : 1, sizeof *rc->entries);
    if (rc->entries == NULL) {
        free(rc);
        return NULL;
    }
    rc->slots = slots ? slots : 1;
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

/* FNV-1a: ids are random enough in their low bits, but the first 12 hex digits
 * are a timestamp, so hash the whole string. */
static entry_t *slot_of(api_rowcache_t *rc, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return &rc->entries[h % rc->slots];
}

int api_rowcache_get(api_rowcache_t *rc, const char *id, char *path, long long *bytes)
{
    int hit = 0;
    pthread_mutex_lock(&rc->mu);
    entry_t *e = slot_of(rc, id);
    if (e->id[0] != '\0' && strcmp(e->id, id) == 0) {
        memcpy(path, e->path, sizeof e->path);
        *bytes = e->bytes;
        hit = 1;
    }
    pthread_mutex_unlock(&rc->mu);
    return hit;
}

void api_rowcache_put(api_rowcache_t *rc, const char *id, const char *path, long long bytes)
{
    size_t plen = strlen(path), ilen = strlen(id);
    if (plen >= API_ROWCACHE_PATH_MAX || ilen >= UUID_STR_LEN) return;
    pthread_mutex_lock(&rc->mu);
    entry_t *e = slot_of(rc, id);
    memcpy(e->id, id, ilen + 1);
    memcpy(e->path, path, plen + 1);
    e->bytes = bytes;
    pthread_mutex_unlock(&rc->mu);
}

void api_rowcache_evict(api_rowcache_t *rc, const char *id)
{
    pthread_mutex_lock(&rc->mu);
    entry_t *e = slot_of(rc, id);
    if (strcmp(e->id, id) == 0) e->id[0] = '\0';
    pthread_mutex_unlock(&rc->mu);
}
