/* store.h - durable, atomic image files under STORAGE_DIR (services/persist/README.md, Write path).
 *
 * A file is written to a temp file in its final directory, its data fsynced,
 * then renamed into place; the directory is fsynced afterwards, once for every
 * file renamed into it meanwhile (persist_store_sync_dirs(): the committer does
 * it once per batch, before COMMIT). A rename is atomic and the data it points
 * to is on disk before it happens, so after a crash the path holds either
 * nothing (the rename was lost: the row was never committed either) or the
 * whole image, and a redelivered message simply replaces it with the same
 * bytes. Safe to call from several threads, also for the same path at once
 * (each call has its own temp file). */
#ifndef IMGCAP_PERSIST_STORE_H
#define IMGCAP_PERSIST_STORE_H

#include <stddef.h>

#include "timeutil.h"

/* Writes data to storage_dir/relpath like persist_store_write_files() and
 * then fsyncs its directory: returns 0 once the file is durable under its
 * name, or -1 with err set (the step and errno's text: disk full,
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
 * and its thumbnail): creates the missing directories (fsyncing the parent of
 * each new one, so its entry is durable at once), then for each file a temp
 * file ".<name>.XXXXXX" beside it, write, fsync, close, rename onto the final
 * name. It does NOT fsync the directory: after it returns 0 every file is
 * visible and its content durable, but its name is durable only once
 * persist_store_sync_dirs() has synced its directory; a crash before that may
 * lose the name (never leave a partial file under it). Returns 0, or -1 with
 * err set on the first failure (files renamed before it stay: a retry
 * replaces them with the same bytes), or when the paths are not in one
 * directory. */
int persist_store_write_files(const char *storage_dir, const persist_file_t *files, size_t n,
                              char *err, size_t errlen);

/* Most paths one persist_store_sync_dirs() takes: an image and its thumbnail
 * for each of PERSIST_BATCH_MAX rows. */
#define PERSIST_STORE_SYNC_MAX 128

/* The distinct directories of relpaths[0..n) (each path's part before its
 * last '/', "" when it has none): writes to first[] the index of the first
 * path in each one, in order of appearance, and returns how many (<= n).
 * Pure. */
size_t persist_store_distinct_dirs(const char *const *relpaths, size_t n, size_t *first);

/* fsyncs each distinct directory of relpaths[0..n) (n <= PERSIST_STORE_SYNC_MAX,
 * relative to storage_dir) once: when it returns, every rename into them
 * that completed before the call (persist_store_write_files(), from any
 * thread) is durable. The committer calls it for the files of a batch before
 * COMMIT, so that a committed row's files are durable under their names; all
 * images of a day share one directory, so a batch usually costs one fsync.
 * Returns how many directories it synced, or -1 with err set (the first that
 * failed: the caller retries the whole call and commits nothing meanwhile). */
long persist_store_sync_dirs(const char *storage_dir, const char *const *relpaths, size_t n,
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

/* Removes storage_dir/relpath; a missing file is fine. Returns how many files
 * it removed (1, or 0 when there was none), or -1 with err set. */
int persist_store_remove(const char *storage_dir, const char *relpath, char *err, size_t errlen);

#endif
