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

/* A file written by persist_store_write_pending() and not yet durable: its
 * temp file, still open, and the name it gets once its data is durable. */
#define PERSIST_STORE_REL_MAX 96
typedef struct persist_pending {
    int fd;                              /* the temp file; -1: none (renamed or discarded) */
    const char *relpath;                 /* the final name under STORAGE_DIR (borrowed) */
    char tmp_rel[PERSIST_STORE_REL_MAX]; /* the temp file's, under STORAGE_DIR */
} persist_pending_t;

/* Sets out[0..n) to files[0..n) with nothing pending: fd -1, no temp file,
 * relpath borrowing files[i].relpath. For a caller that writes the files
 * with persist_store_write_files() but keeps pending slots for them (a
 * persist_store_discard() of such slots does nothing);
 * persist_store_write_pending() starts with it too. */
void persist_store_pending_init(persist_pending_t *out, const persist_file_t *files, size_t n);

/* The first half of persist_store_write_files(), for a caller that makes
 * many files durable at once: creates the missing directories (as there),
 * then for each file a temp file ".<name>.XXXXXX" beside it, write; no fsync,
 * no rename. out[i] is files[i]'s pending file, left open (out[i].relpath
 * borrows files[i].relpath). persist_store_settle() makes them durable and
 * renames them; persist_store_discard() removes them. Returns 0, or -1 with
 * err set and nothing left behind (out[] all discarded). */
int persist_store_write_pending(const char *storage_dir, const persist_file_t *files, size_t n,
                                persist_pending_t *out, char *err, size_t errlen);

/* Makes the pending files p[0..n) durable and renames each onto its final
 * name (the caller then fsyncs their directories, persist_store_sync_dirs()):
 * one syncfs() per distinct directory (usually one for all), which writes
 * back every dirty page and inode of that filesystem and flushes the device
 * cache once, instead of one fsync per file; then for each file
 * sync_file_range(WAIT) on its own descriptor, which reports any writeback
 * error of its pages since it was created (a failed page is never renamed
 * into place); then close and rename. Each renamed entry gets fd -1 and an
 * empty tmp_rel. Returns 0, or -1 with err set at the first failure: the
 * entries not renamed yet stay pending, and must be discarded and written
 * again from their bytes (a page whose writeback failed may be marked clean:
 * syncing it again proves nothing). */
int persist_store_settle(const char *storage_dir, persist_pending_t *const *p, size_t n, char *err,
                         size_t errlen);

/* Closes and removes the pending files of p[0..n) that are still pending
 * (fd >= 0); the others are left alone. */
void persist_store_discard(const char *storage_dir, persist_pending_t *p, size_t n);

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
