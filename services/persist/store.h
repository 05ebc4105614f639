/* store.h - durable, atomic image files under STORAGE_DIR (services/persist/README.md, Write path).
 *
 * A file is written to a temp file in its final directory, fsynced, renamed
 * into place and the directory fsynced, so after a crash the path holds either
 * nothing or the whole image, and a redelivered message simply replaces it
 * with the same bytes. Safe to call from several threads, also for the same
 * path at once (each call has its own temp file). */
#ifndef IMGCAP_PERSIST_STORE_H
#define IMGCAP_PERSIST_STORE_H

#include <stddef.h>

#include "timeutil.h"

/* Writes data to storage_dir/relpath, creating the missing directories of
 * relpath (each new directory's entry fsynced too). Returns 0 once the file
 * is durable, or -1 with err set (the step and errno's text: disk full,
 * permissions, transient from the caller's point of view). */
int persist_store_write(const char *storage_dir, const char *relpath, const void *data, size_t len,
                        char *err, size_t errlen);

/* One file of persist_store_write_files(): relpath under STORAGE_DIR and its
 * bytes (not owned). */
typedef struct persist_file {
    const char *relpath;
    const void *data;
    size_t len;
} persist_file_t;

/* Writes files[0..n) (1 <= n), which must all lie in one directory (an image
 * and its thumbnail), like persist_store_write() (each its own temp file,
 * fsync, rename) with one directory fsync for all of them: after it returns 0
 * every file is durable. Returns -1 with err set on the first failure (files
 * renamed before it stay: a retry replaces them with the same bytes), or when
 * the paths are not in one directory. */
int persist_store_write_files(const char *storage_dir, const persist_file_t *files, size_t n,
                              char *err, size_t errlen);

/* Removes the temp files a killed writer left behind (".<name>.jpg.XXXXXX",
 * see persist_store_write()) anywhere below storage_dir, when their last
 * change is at least min_age_s seconds old: a younger one may be another
 * persist's write in progress on the same volume. Stops early when *stop is
 * set. Returns how many it removed, or -1 with err set when storage_dir
 * cannot be read. An unreadable subdirectory or a file that cannot be removed
 * is not a failure of the sweep: it is logged and skipped. */
long persist_store_sweep(const char *storage_dir, int min_age_s, stop_flag_t *stop, char *err,
                         size_t errlen);

/* fsyncs directory dir (e.g. after removing files in it, so that the
 * removal survives a crash). Returns 0, or -1 with err set. */
int persist_store_sync_dir(const char *dir, char *err, size_t errlen);

/* Removes storage_dir/relpath; a missing file is fine. Returns 0, or -1 with
 * err set. */
int persist_store_remove(const char *storage_dir, const char *relpath, char *err, size_t errlen);

#endif
