/* images.h - GET/HEAD /api/images/{id} and /api/images/{id}/thumbnail: a
 * stored image or its thumbnail from memory or disk, the pipeline state of
 * one that is not stored yet, and ?wait; DELETE /api/images/{id}
 * (services/api/README.md, Reads and ?wait, Caches, Deletion). */
#ifndef IMGCAP_API_IMAGES_H
#define IMGCAP_API_IMAGES_H

#include <stddef.h>

#include "call.h"
#include "respcache.h"

/* The caches of stored images and thumbnails (row cache: key -> resolved
 * path; blob cache: key -> file bytes) and the resolved STORAGE_DIR. storage_dir must outlive
 * them. Returns them (caller frees with api_images_free()) or NULL when out
 * of memory. */
api_images_t *api_images_new(const char *storage_dir);
void api_images_free(api_images_t *im); /* NULL is fine */

/* The images and bytes the blob cache holds (for /metrics). */
void api_images_usage(api_images_t *im, size_t *images, size_t *bytes);

/* Drops every cached copy of image id (the image and its thumbnail) and
 * keeps reads that were under way from caching it again: the image was
 * deleted. Thread-safe. */
void api_images_forget(api_images_t *im, const char *id);

/* Ready responses kept open (respcache.h): each holds a descriptor, which
 * the server's open-file limit must leave room for. */
#define API_IMAGES_READY_SLOTS 4096
/* Copies of each ready response (images.c, ready_set_t says why); each
 * holds a descriptor. */
#define API_IMAGES_READY_STRIPES 4
/* Copies beyond each file's first, all files together: the descriptors a
 * hot file's extra copies may hold (images.c, ready_copy). */
#define API_IMAGES_READY_COPIES_MAX 1024

/* A ready answer as MHD responses: API_IMAGES_READY_STRIPES copies, so that
 * the connections sending it do not all take one response's mutex
 * (images.c says why). */
typedef struct api_ready_set {
    /* r[0] always; a file's other copies are made the first time a thread
     * of their stripe asks (api_ready_set_pick), so a file read by one
     * connection at a time holds one descriptor, not four. */
    struct MHD_Response *r[API_IMAGES_READY_STRIPES];
    /* Makes another copy of r[0], or NULL: then r[0] serves. NULL for a set
     * made whole at once (the list's pages). */
    struct MHD_Response *(*copy)(const struct api_ready_set *set);
    int fd;                       /* r[0]'s file, which a copy dups (copy != NULL) */
    uint64_t size;                /* its size */
    char etag[UUID_STR_LEN + 10]; /* its ETag */
} api_ready_set_t;

/* Destroys the set's responses (NULL ones skipped) and frees it; NULL is fine. */
void api_ready_set_free(void *set);

/* The copy this thread queues (a thread keeps one). */
struct MHD_Response *api_ready_set_pick(api_ready_set_t *set);

/* The response of GET/HEAD of image id (thumb 0) or of its thumbnail (thumb
 * 1) when it can be answered at once from what this api already knows: the
 * file's path in the row cache, the file still in place. The caller queues
 * api_images_ready_response(e) (status 200) and releases the entry. NULL
 * otherwise (not cached, file gone, a deletion seen meanwhile, out of
 * memory): the caller answers through api_handle_image() /
 * api_handle_thumbnail(), which look everything up. Thread-safe; never
 * touches PostgreSQL or Redis. */
api_resp_t *api_images_ready(api_images_t *im, const char *id, int thumb);

/* Closes every ready response whose file was deleted or replaced since it
 * was opened (ready_current in images.c). An open descriptor keeps a deleted
 * file's disk space: without this an entry no read asks for again would hold
 * a file the janitor (retention, STORAGE_RECYCLE) or a DELETE on another api
 * removed until the entry is evicted. Called about every API_SLOW_TICK_MS
 * from the connection guard's thread; a response still being sent keeps its
 * file until that send ends. Returns how many were closed. */
size_t api_images_sweep_ready(api_images_t *im);

/* The MHD response of a ready entry this thread queues (one of its copies). */
struct MHD_Response *api_images_ready_response(const api_resp_t *e);

/* The deletions api_images_forget() has seen: a list page made before one
 * is not answered from the list's cache (listcache.h). */
unsigned long api_images_forgets(api_images_t *im);

/* The handler of GET/HEAD /api/images/{id} (c->match.param). */
void api_handle_image(api_call_t *c);

/* The handler of GET/HEAD /api/images/{id}/thumbnail. */
void api_handle_thumbnail(api_call_t *c);

/* The handler of DELETE /api/images/{id}: 204, 404, 422 or 503 (dispatch()
 * has checked the token). */
void api_handle_delete(api_call_t *c);

#endif
