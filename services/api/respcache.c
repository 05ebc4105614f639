/* respcache.c - bounded cache of ready image responses (see respcache.h). */
#include "respcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "idhash.h"

#define WAYS 4

typedef struct slot {
    api_resp_t *e; /* NULL = empty */
    uint64_t used; /* tick of the last get or put: least recently used goes */
} slot_t;

struct api_respcache {
    pthread_mutex_t mu;
    size_t nsets, count;
    uint64_t tick;
    slot_t *slots; /* nsets * WAYS */
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
    c->nsets = (slots + WAYS - 1) / WAYS;
    if (c->nsets == 0) c->nsets = 1;
    c->slots = calloc(c->nsets * WAYS, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_respcache_free(api_respcache_t *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < c->nsets * WAYS; i++) api_resp_release(c->slots[i].e);
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

static slot_t *set_of(api_respcache_t *c, const char *key)
{
    return &c->slots[(api_id_hash(key) % c->nsets) * WAYS];
}

/* Caller holds mu. The release under it never blocks: a response still
 * being sent holds MHD's own reference, so at most a descriptor is closed. */
static void drop(api_respcache_t *c, slot_t *s)
{
    if (s->e == NULL) return;
    api_resp_release(s->e);
    s->e = NULL;
    c->count--;
}

api_resp_t *api_respcache_get(api_respcache_t *c, const char *key)
{
    api_resp_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, key);
    for (int w = 0; w < WAYS; w++) {
        if (set[w].e != NULL && strcmp(set[w].e->key, key) == 0) {
            found = set[w].e;
            atomic_fetch_add(&found->refs, 1);
            set[w].used = ++c->tick;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void api_respcache_put(api_respcache_t *c, api_resp_t *e)
{
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, e->key), *victim = &set[0];
    for (int w = 0; w < WAYS; w++) {
        if (set[w].e != NULL && strcmp(set[w].e->key, e->key) == 0) {
            victim = &set[w];
            break;
        }
        if (victim->e != NULL && (set[w].e == NULL || set[w].used < victim->used)) victim = &set[w];
    }
    drop(c, victim);
    atomic_fetch_add(&e->refs, 1);
    victim->e = e;
    victim->used = ++c->tick;
    c->count++;
    pthread_mutex_unlock(&c->mu);
}

void api_respcache_evict(api_respcache_t *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    slot_t *set = set_of(c, key);
    for (int w = 0; w < WAYS; w++)
        if (set[w].e != NULL && strcmp(set[w].e->key, key) == 0) drop(c, &set[w]);
    pthread_mutex_unlock(&c->mu);
}

size_t api_respcache_sweep(api_respcache_t *c, int (*keep)(const api_resp_t *e, void *arg),
                           void *arg)
{
    size_t dropped = 0;
    for (size_t set = 0; set < c->nsets; set++) {
        pthread_mutex_lock(&c->mu);
        for (int w = 0; w < WAYS; w++) {
            slot_t *s = &c->slots[set * WAYS + w];
            if (s->e != NULL && !keep(s->e, arg)) {
                drop(c, s);
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
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
