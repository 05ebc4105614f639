/* cachesets.c - the 4-way sets of keys behind the api's caches (see cachesets.h). */
#include "cachesets.h"

#include <stdlib.h>

#include "idhash.h"

void *api_cachesets_init(api_cachesets_t *cs, size_t slots, size_t val_size)
{
    cs->nsets = (slots + API_CACHESETS_WAYS - 1) / API_CACHESETS_WAYS;
    if (cs->nsets == 0) cs->nsets = 1;
    cs->count = 0;
    cs->tick = 0;
    cs->slots = calloc(cs->nsets * API_CACHESETS_WAYS, sizeof *cs->slots);
    cs->vals = cs->slots != NULL ? calloc(cs->nsets * API_CACHESETS_WAYS, val_size) : NULL;
    if (cs->vals == NULL) {
        free(cs->slots);
        cs->slots = NULL;
    }
    return cs->vals;
}

void api_cachesets_fini(api_cachesets_t *cs)
{
    free(cs->slots);
    free(cs->vals);
    cs->slots = NULL;
    cs->vals = NULL;
    cs->count = 0;
}

/* Out of line on purpose: inlined into a get, where the hash must live
 * across the pthread_mutex_lock() call, GCC 12 -O2 spends one more register
 * move per byte of the key (7 instructions a byte instead of 6, about 37 more
 * per get of an id); a call costs fewer. */
uint64_t api_cachesets_hash(const char *key) { return api_id_hash(key); }

size_t api_cachesets_put(api_cachesets_t *cs, const char *key, uint64_t hash)
{
    size_t len = strlen(key);
    if (len >= API_CACHESETS_KEY_MAX) return API_CACHESETS_NONE;
    size_t i = api_cachesets_find(cs, key, hash);
    if (i == API_CACHESETS_NONE) {
        /* An empty slot has used 0, below every tick: the first smallest
         * is the first empty slot, else the least recently used. */
        size_t first = api_cachesets_set_of(cs, hash);
        i = first;
        for (size_t j = first + 1; j < first + API_CACHESETS_WAYS; j++)
            if (cs->slots[j].used < cs->slots[i].used) i = j;
        if (cs->slots[i].used == 0) cs->count++;
        cs->slots[i].hash = hash;
        memcpy(cs->slots[i].key, key, len + 1);
    }
    cs->slots[i].used = ++cs->tick;
    return i;
}

void api_cachesets_clear(api_cachesets_t *cs, size_t slot)
{
    if (cs->slots[slot].used == 0) return;
    cs->slots[slot].used = 0;
    cs->count--;
}

size_t api_cachesets_evict(api_cachesets_t *cs, const char *key, uint64_t hash)
{
    size_t i = api_cachesets_find(cs, key, hash);
    if (i != API_CACHESETS_NONE) api_cachesets_clear(cs, i);
    return i;
}

size_t api_cachesets_next(const api_cachesets_t *cs, size_t from)
{
    size_t n = api_cachesets_size(cs);
    if (cs->count == 0) return API_CACHESETS_NONE;
    for (size_t i = from % n;; i = (i + 1) % n)
        if (cs->slots[i].used != 0) return i;
}
