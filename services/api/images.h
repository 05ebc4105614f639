/* images.h - GET/HEAD /api/images/{id}: a stored image from memory or disk,
 * the pipeline state of one that is not stored yet, and ?wait
 * (services/api/README.md, Reads and ?wait, Caches). */
#ifndef IMGCAP_API_IMAGES_H
#define IMGCAP_API_IMAGES_H

#include <stddef.h>

#include "call.h"

/* The caches of stored images (row cache: id -> resolved path; blob cache:
 * id -> file bytes) and the resolved STORAGE_DIR. storage_dir must outlive
 * them. Returns them (caller frees with api_images_free()) or NULL when out
 * of memory. */
api_images_t *api_images_new(const char *storage_dir);
void api_images_free(api_images_t *im); /* NULL is fine */

/* The images and bytes the blob cache holds (for /metrics). */
void api_images_usage(api_images_t *im, size_t *images, size_t *bytes);

/* The handler of GET/HEAD /api/images/{id} (c->match.param). */
void api_handle_image(api_call_t *c);

#endif
