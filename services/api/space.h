/* space.h - STORAGE_DIR's free space as the api sees it: one statvfs() at
 * most every API_SPACE_MAX_AGE_MS, shared by every request (the upload gate,
 * /health, /metrics; services/api/README.md, Storage pressure).
 *
 * Why cached: every upload asks, and a statvfs() per upload would cost a
 * system call (and, on a network filesystem, a round trip) for an answer
 * that changes slowly. Half a second is short enough that uploads are
 * accepted again by themselves soon after space comes back. Thread-safe: one
 * mutex, held for the copy and, once per period, for the statvfs(). */
#ifndef IMGCAP_API_SPACE_H
#define IMGCAP_API_SPACE_H

#include <stdint.h>

#include "config.h"
#include "storage.h"

#define API_SPACE_MAX_AGE_MS 500

typedef struct api_space api_space_t;

/* The reader of cfg's STORAGE_DIR and STORAGE_MIN_FREE (cfg must outlive
 * it). Freed with api_space_free(). Returns NULL when out of memory. */
api_space_t *api_space_new(const config_t *cfg);
void api_space_free(api_space_t *s); /* NULL is fine */

/* The space read at most API_SPACE_MAX_AGE_MS before now_ms (monotonic ms:
 * time_mono_ms()), reading it again when the last reading is older. Returns
 * 0 with *out set, or -1 with err set when the last reading failed. */
int api_space_get(api_space_t *s, uint64_t now_ms, storage_space_t *out, char *err, size_t errlen);

#endif
