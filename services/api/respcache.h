/* respcache.h - a bounded cache of ready responses to GET /api/images/{id}
 * (and .../thumbnail): each entry an open stored file wrapped in a
 * libmicrohttpd response with its headers set, shared by every connection
 * that sends it (images.h, api_images_ready; services/api/README.md, Reads
 * without Ulfius).
 *
 * Why: a hit costs one fstat() and MHD_queue_response(): no allocation, no
 * open(), and the body goes from the page cache to the socket with
 * sendfile(2), never through the api's memory.
 *
 * Ownership: an entry is reference counted. api_resp_new() returns one
 * reference; api_respcache_put() takes one of its own; every reference (from
 * new or get) is given back with api_resp_release(), and the last one calls
 * the entry's destructor (for a response: MHD_destroy_response, which closes
 * the file once no connection is sending it any more). An evicted entry stays
 * valid for whoever holds a reference.
 *
 * Bounds: at most `slots` entries (4-way sets, a full set replaces its least
 * recently used entry); each holds a descriptor, so the server's open-file
 * limit counts them. Thread-safe: one mutex held for a pointer copy. Pure: the
 * destructor is the caller's, so the cache itself does no I/O. */
#ifndef IMGCAP_API_RESPCACHE_H
#define IMGCAP_API_RESPCACHE_H

#include <stddef.h>
#include <stdint.h>

#define API_RESP_KEY_MAX 40 /* a key: an image id, or the id and a short suffix */

typedef struct api_resp {
    char key[API_RESP_KEY_MAX];
    void *obj;                /* the response (struct MHD_Response *), owned */
    void (*obj_free)(void *); /* its destructor, called once with the last reference */
    int fd;                   /* the file obj sends; obj closes it */
    uint64_t size;            /* the file's identity when it was opened: */
    int64_t mtime_ns;         /* size and modification time */
    _Atomic unsigned long refs;
} api_resp_t;

typedef struct api_respcache api_respcache_t;

/* An entry for key holding obj (freed with obj_free when the last reference
 * goes), with one reference. NULL when out of memory or key does not fit;
 * obj is then not taken (the caller still owns it). */
api_resp_t *api_resp_new(const char *key, void *obj, void (*obj_free)(void *));

void api_resp_release(api_resp_t *e); /* NULL is fine */

/* A cache of at most slots entries (rounded up to a multiple of 4); NULL when
 * out of memory. api_respcache_free() releases the cache's references. */
api_respcache_t *api_respcache_new(size_t slots);
void api_respcache_free(api_respcache_t *c);

/* A new reference to the entry of key, or NULL. */
api_resp_t *api_respcache_get(api_respcache_t *c, const char *key);

/* Caches e under e->key (the cache takes its own reference), replacing an
 * older entry of that key. */
void api_respcache_put(api_respcache_t *c, api_resp_t *e);

void api_respcache_evict(api_respcache_t *c, const char *key);

/* Drops every entry for which keep(e, arg) returns 0 (e.g. its file was
 * deleted: an entry holds the file open, so its disk space comes back only
 * once the entry goes). The mutex is taken once per 4-way set, so a get or
 * put waits for at most 4 keep() calls. Returns how many were dropped. */
size_t api_respcache_sweep(api_respcache_t *c, int (*keep)(const api_resp_t *e, void *arg),
                           void *arg);

size_t api_respcache_count(api_respcache_t *c);

#endif
