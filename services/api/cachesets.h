/* cachesets.h - the 4-way sets of keys behind the api's bounded caches
 * (respcache.c, blobcache.c, rowcache.c): which slot holds a key, which
 * slot a new key takes (its own, else an empty one, else the least recently
 * used of its set), evicting a key, and walking the slots for a sweep.
 *
 * What it holds: per slot the key, its hash and the tick of its last use,
 * and an array of values, one per slot, whose type only the cache knows (a
 * pointer to a reference-counted entry, or a row copied in). The cache keeps
 * its own mutex: nothing here is thread-safe, every call is made with the
 * cache's lock held.
 *
 * Ownership: both arrays are this module's (api_cachesets_init allocates
 * them, api_cachesets_fini frees them). What a value points to is the
 * cache's: this module never reads, frees or releases it. When
 * api_cachesets_put() or api_cachesets_evict() returns a slot, the value at
 * that slot (the key's older entry, or the least recently used entry of the
 * set that the new key replaces) is the cache's to release, before it stores
 * the new one there; on api_cachesets_fini() the cache releases what is
 * left first.
 *
 * Hot path: api_cachesets_get() is inline and takes the key's hash from the
 * caller (api_cachesets_hash), who computes it before taking its mutex: the
 * hash is most of a lookup's instructions, and nothing shared is needed for
 * it, so the lock is held for the probe alone. A probed slot is compared by
 * its stored hash first, so a key that only shares the set costs no
 * strcmp(). No allocation, no indirect call. Pure: no I/O. */
#ifndef IMGCAP_API_CACHESETS_H
#define IMGCAP_API_CACHESETS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define API_CACHESETS_WAYS 4
#define API_CACHESETS_KEY_MAX 40    /* a key: an image id, or the id and a short suffix */
#define API_CACHESETS_NONE SIZE_MAX /* no slot */

typedef struct api_cacheslot {
    uint64_t used; /* tick of the last get or put; 0 = empty */
    uint64_t hash; /* api_id_hash(key) */
    char key[API_CACHESETS_KEY_MAX];
} api_cacheslot_t;

typedef struct api_cachesets {
    size_t nsets;           /* set s holds slots s * WAYS .. s * WAYS + WAYS - 1 */
    size_t count;           /* occupied slots */
    uint64_t tick;          /* last tick given out: ticks start at 1 */
    api_cacheslot_t *slots; /* nsets * WAYS */
    void *vals;             /* nsets * WAYS values of the cache's (api_cachesets_init) */
} api_cachesets_t;

/* Sets for `slots` slots (rounded up to a multiple of WAYS, at least one
 * set), all empty, and the cache's array of what each slot holds: one
 * zeroed value of val_size bytes per slot, indexed by slot, returned (and
 * kept in cs->vals). NULL when out of memory (nothing to free then). */
void *api_cachesets_init(api_cachesets_t *cs, size_t slots, size_t val_size);
void api_cachesets_fini(api_cachesets_t *cs);

/* The hash every other call takes with its key: api_id_hash (idhash.h). */
uint64_t api_cachesets_hash(const char *key);

static inline size_t api_cachesets_size(const api_cachesets_t *cs)
{
    return cs->nsets * API_CACHESETS_WAYS;
}

static inline int api_cachesets_occupied(const api_cachesets_t *cs, size_t slot)
{
    return cs->slots[slot].used != 0;
}

/* The first slot of the set key's hash lands in. */
static inline size_t api_cachesets_set_of(const api_cachesets_t *cs, uint64_t hash)
{
    return (size_t)(hash % cs->nsets) * API_CACHESETS_WAYS;
}

/* The slot holding key (hash = api_id_hash(key)), or API_CACHESETS_NONE.
 * Does not count as a use. */
static inline size_t api_cachesets_find(const api_cachesets_t *cs, const char *key, uint64_t hash)
{
    size_t first = api_cachesets_set_of(cs, hash);
    for (size_t i = first; i < first + API_CACHESETS_WAYS; i++) {
        const api_cacheslot_t *s = &cs->slots[i];
        /* The hash first: it tells almost every other key apart in one
         * compare; an emptied slot keeps its old hash, hence used. */
        if (s->hash == hash && s->used != 0 && strcmp(s->key, key) == 0) return i;
    }
    return API_CACHESETS_NONE;
}

/* api_cachesets_find(), and a hit counts as a use (least recently used goes
 * last). */
static inline size_t api_cachesets_get(api_cachesets_t *cs, const char *key, uint64_t hash)
{
    size_t i = api_cachesets_find(cs, key, hash);
    if (i != API_CACHESETS_NONE) cs->slots[i].used = ++cs->tick;
    return i;
}

/* The slot key goes to, now holding key and used: key's own slot, else the
 * first empty one of its set, else the set's least recently used.
 * API_CACHESETS_NONE when key does not fit (API_CACHESETS_KEY_MAX bytes or
 * more). Whatever the cache kept at the returned slot is its to release. */
size_t api_cachesets_put(api_cachesets_t *cs, const char *key, uint64_t hash);

/* Empties the slot holding key and returns it (its entry is the cache's to
 * release), or API_CACHESETS_NONE when key is not held. */
size_t api_cachesets_evict(api_cachesets_t *cs, const char *key, uint64_t hash);

/* Empties slot (the cache releases its entry); an empty slot stays empty. */
void api_cachesets_clear(api_cachesets_t *cs, size_t slot);

/* The first occupied slot at or after `from`, going round to slot 0 after
 * the last, or API_CACHESETS_NONE when every slot is empty. A sweep walks a
 * set's slots with api_cachesets_occupied(); this finds an entry from a
 * random slot in O(1) expected while the sets are reasonably full. */
size_t api_cachesets_next(const api_cachesets_t *cs, size_t from);

#endif
