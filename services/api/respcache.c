/* respcache.c - bounded cache of ready image responses (see respcache.h). */
#include "respcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cachesets.h"

_Static_assert(API_RESP_KEY_MAX <= API_CACHESETS_KEY_MAX, "every entry's key fits a slot's key");

struct api_respcache {
    pthread_mutex_t mu;
    api_cachesets_t sets; /* which slot holds which key */
    api_resp_t **ents;    /* sets.vals: the entry of each slot (a reference), NULL when empty */
};

api_resp_t *api_resp_new(const char *key, void *obj, void (*obj_free)(void *))
{
    size_t kl = strlen(key);
    if (kl >= API_RESP_KEY_MAX) return NULL;
    api_resp_t *e = calloc(1, sizeof *e);
    if (e == NULL) return NULL;
    memcpy(e->key, key, kl + 1);
    e->obj = obj;
    e->obj_free = obj_free;
    e->fd = -1;
    atomic_init(&e->refs, 1);
    return e;
}

void api_resp_release(api_resp_t *e)
{
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1) return;
    if (e->obj_free != NULL) e->obj_free(e->obj);
    free(e);
}

api_respcache_t *api_respcache_new(size_t slots)
{
    api_respcache_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->ents = api_cachesets_init(&c->sets, slots, sizeof *c->ents);
    if (c->ents == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_respcache_free(api_respcache_t *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < api_cachesets_size(&c->sets); i++) api_resp_release(c->ents[i]);
    pthread_mutex_destroy(&c->mu);
    api_cachesets_fini(&c->sets);
    free(c);
}

/* Caller holds mu and has emptied slot i in sets (or is about to fill it).
 * The release under mu never blocks: a response still being sent holds
 * MHD's own reference, so at most a descriptor is closed. */
static void drop(api_respcache_t *c, size_t i)
{
    api_resp_release(c->ents[i]);
    c->ents[i] = NULL;
}

api_resp_t *api_respcache_get(api_respcache_t *c, const char *key)
{
    uint64_t h = api_cachesets_hash(key); /* before the mutex: most of a lookup's work */
    api_resp_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    size_t i = api_cachesets_get(&c->sets, key, h);
    if (i != API_CACHESETS_NONE) {
        found = c->ents[i];
        atomic_fetch_add(&found->refs, 1);
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void api_respcache_put(api_respcache_t *c, api_resp_t *e)
{
    uint64_t h = api_cachesets_hash(e->key);
    pthread_mutex_lock(&c->mu);
    size_t i = api_cachesets_put(&c->sets, e->key, h); /* e->key always fits (api_resp_new) */
    if (i != API_CACHESETS_NONE) {
        drop(c, i); /* the key's older entry, or the set's least recently used */
        atomic_fetch_add(&e->refs, 1);
        c->ents[i] = e;
    }
    pthread_mutex_unlock(&c->mu);
}

void api_respcache_evict(api_respcache_t *c, const char *key)
{
    uint64_t h = api_cachesets_hash(key);
    pthread_mutex_lock(&c->mu);
    size_t i = api_cachesets_evict(&c->sets, key, h);
    if (i != API_CACHESETS_NONE) drop(c, i);
    pthread_mutex_unlock(&c->mu);
}

size_t api_respcache_sweep(api_respcache_t *c, int (*keep)(const api_resp_t *e, void *arg),
                           void *arg)
{
    size_t dropped = 0;
    for (size_t set = 0; set < c->sets.nsets; set++) {
        pthread_mutex_lock(&c->mu);
        size_t first = set * API_CACHESETS_WAYS;
        for (size_t i = first; i < first + API_CACHESETS_WAYS; i++) {
            if (api_cachesets_occupied(&c->sets, i) && !keep(c->ents[i], arg)) {
                api_cachesets_clear(&c->sets, i);
                drop(c, i);
                dropped++;
            }
        }
        pthread_mutex_unlock(&c->mu);
    }
    return dropped;
}

size_t api_respcache_count(api_respcache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->sets.count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
