/* storage.h - how much room STORAGE_DIR's filesystem has, against
 * STORAGE_MIN_FREE (docs/operations.md, Retention and disk space).
 *
 * The api refuses uploads while the storage is low (they would only fill
 * Redis), /health reports it, and persist's janitor deletes the oldest images
 * while it is low when STORAGE_RECYCLE=1. All of them ask here, so they agree
 * on what "low" means. */
#ifndef IMGCAP_STORAGE_H
#define IMGCAP_STORAGE_H

#include <stddef.h>

#include "config.h"

typedef struct storage_space {
    long long free_bytes;     /* available to an unprivileged writer (f_bavail) */
    long long total_bytes;    /* size of the filesystem */
    long long min_free_bytes; /* STORAGE_MIN_FREE, a percentage resolved against total */
    int low;                  /* free_bytes < min_free_bytes */
} storage_space_t;

/* The thumbnail's path beside an image's: "YYYY/MM/DD/<id>.jpg" ->
 * "YYYY/MM/DD/<id>.thumb.jpg". Returns 0, or -1 when image_path does not end
 * in ".jpg" or out is too small. Pure. */
int storage_thumb_path(const char *image_path, char *out, size_t outlen);

/* STORAGE_MIN_FREE in bytes for a filesystem of total bytes. Pure. */
long long storage_min_free_bytes(const config_t *cfg, long long total);

/* Fills out from statvfs() of dir, or of its nearest existing ancestor while
 * dir does not exist yet (the api may start before persist creates it), and
 * cfg's STORAGE_MIN_FREE. Returns 0, or -1 with err set. */
int storage_space_read(const char *dir, const config_t *cfg, storage_space_t *out, char *err,
                       size_t errlen);

#endif
