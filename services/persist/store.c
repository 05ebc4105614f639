/* store.c - atomic, durable file writes (see store.h). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PERSIST_STORE_PATH_MAX 4096

static int persist_fsync_dir(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "fsync directory %s: %s", dir, strerror(saved));
        return -1;
    }
    return 0;
}

/* mkdir -p of path (modified in place while walking, restored on return),
 * fsyncing the parent of every directory created so the new entries survive a
 * crash together with the file. */
static int persist_mkdirs(char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        int rc = mkdir(path, 0755);
        if (rc < 0 && errno != EEXIST) {
            snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
            *p = saved;
            return -1;
        }
        if (rc == 0) {
            char *slash = strrchr(path, '/');
            int frc;
            if (slash == NULL || slash == path) {
                frc = persist_fsync_dir(slash != NULL ? "/" : ".", err, errlen);
            } else {
                *slash = '\0';
                frc = persist_fsync_dir(path, err, errlen);
                *slash = '/';
            }
            if (frc < 0) {
                *p = saved;
                return -1;
            }
        }
        *p = saved;
        if (saved == '\0') return 0;
    }
}

static int persist_write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* storage_dir/relpath split into its directory and its final path. Returns 0,
 * or -1 with err set. */
static int persist_split_path(const char *storage_dir, const char *relpath,
                              char final[PERSIST_STORE_PATH_MAX], char dir[PERSIST_STORE_PATH_MAX],
                              char *err, size_t errlen)
{
    int n = snprintf(final, PERSIST_STORE_PATH_MAX, "%s/%s", storage_dir, relpath);
    const char *base = strrchr(final, '/');
    if (n < 0 || n >= PERSIST_STORE_PATH_MAX || base == NULL) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    snprintf(dir, PERSIST_STORE_PATH_MAX, "%.*s", (int)(base - final), final);
    return 0;
}

/* The temp-file half of both ways to write a file: a temp file beside final
 * (in dir, which exists), mode 0644, all of data written; nothing synced,
 * nothing renamed. tmp gets its path (PERSIST_STORE_PATH_MAX); tmp_max is the
 * most characters, terminator included, that path may take: the caller's
 * limit on what it keeps of it (at most PERSIST_STORE_PATH_MAX). Returns the
 * open descriptor, or -1 with err set and nothing left behind (the temp file
 * closed and removed). */
static int persist_temp_write(const char *final, const char *dir, const void *data, size_t len,
                              size_t tmp_max, char tmp[PERSIST_STORE_PATH_MAX], char *err,
                              size_t errlen)
{
    /* Dot-prefixed so a directory listing never mistakes it for an image; the
     * sweeper recognizes the shape ".<name>.jpg.XXXXXX". */
    int n = snprintf(tmp, PERSIST_STORE_PATH_MAX, "%s/.%s.XXXXXX", dir, strrchr(final, '/') + 1);
    if (n < 0 || (size_t)n >= tmp_max || (size_t)n >= PERSIST_STORE_PATH_MAX) {
        snprintf(err, errlen, "path too long: the temp file beside %s", final);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "create temp file in %s: %s", dir, strerror(errno));
        return -1;
    }
    const char *step = NULL;
    if (fchmod(fd, 0644) < 0)
        step = "chmod";
    else if (persist_write_all(fd, data, len) < 0)
        step = "write";
    if (step != NULL) {
        snprintf(err, errlen, "%s %s: %s", step, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    return fd;
}

/* Temp file, write, fsync, rename onto final (in dir, which exists); no
 * directory fsync. Returns 0, or -1 with err set (the temp file removed). */
static int persist_write_one(const char *final, const char *dir, const void *data, size_t len,
                             char *err, size_t errlen)
{
    char tmp[PERSIST_STORE_PATH_MAX];
    int fd = persist_temp_write(final, dir, data, len, sizeof tmp, tmp, err, errlen);
    if (fd < 0) return -1;
    /* fsync, not fdatasync. fdatasync would be enough here: it flushes the
     * data and what reading it back needs (the size, the block mapping: a
     * fresh file changes both), and the rest of the inode (mode, times) and
     * the name reach the disk with the directory's fsync after the rename,
     * which on ext4 and xfs commits the journal up to a later point than the
     * fchmod. But it is no cheaper: a fresh file's size and allocation are
     * exactly what fdatasync must commit, one journal commit either way, and
     * measured on the persist path (2000 images, fdatasync for both files)
     * its CPU per image was within the run-to-run noise of fsync's. */
    const char *step = NULL;
    if (fsync(fd) < 0) step = "fsync";
    int saved = errno;
    if (close(fd) < 0 && step == NULL) {
        step = "close";
        saved = errno;
    }
    if (step == NULL && rename(tmp, final) < 0) {
        step = "rename";
        saved = errno;
    }
    if (step != NULL) {
        snprintf(err, errlen, "%s %s: %s", step, step[0] == 'r' ? final : tmp, strerror(saved));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* What persist_store_write_files() and persist_store_write_pending() check
 * and prepare before writing: at least one file, every path valid and all in
 * one directory, that directory created (persist_mkdirs). final gets the
 * first file's full path, dir the directory's (both PERSIST_STORE_PATH_MAX).
 * Returns 0, or -1 with err set. */
static int persist_files_dir(const char *storage_dir, const persist_file_t *files, size_t n,
                             char *final, char *dir, char *err, size_t errlen)
{
    char other[PERSIST_STORE_PATH_MAX], other_dir[PERSIST_STORE_PATH_MAX];
    if (n == 0) {
        snprintf(err, errlen, "no file to write");
        return -1;
    }
    if (persist_split_path(storage_dir, files[0].relpath, final, dir, err, errlen) < 0) return -1;
    for (size_t i = 1; i < n; i++) {
        if (persist_split_path(storage_dir, files[i].relpath, other, other_dir, err, errlen) < 0)
            return -1;
        if (strcmp(other_dir, dir) != 0) {
            snprintf(err, errlen, "%s and %s are not in one directory", files[0].relpath,
                     files[i].relpath);
            return -1;
        }
    }
    if (persist_mkdirs(dir, err, errlen) < 0) return -1;
    return 0;
}

int persist_store_write_files(const char *storage_dir, const persist_file_t *files, size_t n,
                              char *err, size_t errlen)
{
    char final[PERSIST_STORE_PATH_MAX], dir[PERSIST_STORE_PATH_MAX];
    if (persist_files_dir(storage_dir, files, n, final, dir, err, errlen) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) snprintf(final, sizeof final, "%s/%s", storage_dir, files[i].relpath);
        if (persist_write_one(final, dir, files[i].data, files[i].len, err, errlen) < 0) return -1;
    }
    /* No directory fsync here: the renames become durable with the caller's
     * persist_store_sync_dirs() (the committer's, once per batch). */
    return 0;
}

/* Temp file beside final (in dir, which exists), written, left open: out
 * gets its descriptor and its name relative to storage_dir. Returns 0, or -1
 * with err set (the temp file removed). */
static int persist_write_open(const char *storage_dir, const char *final, const char *dir,
                              const void *data, size_t len, persist_pending_t *out, char *err,
                              size_t errlen)
{
    char tmp[PERSIST_STORE_PATH_MAX];
    /* Only the part below storage_dir/ is kept, in out->tmp_rel: the temp
     * path may not be longer than that prefix and tmp_rel together. */
    size_t root = strlen(storage_dir) + 1;
    size_t tmp_max = root + sizeof out->tmp_rel;
    int fd = persist_temp_write(final, dir, data, len, tmp_max, tmp, err, errlen);
    if (fd < 0) return -1;
    out->fd = fd;
    /* tmp is dir's path plus more, and dir starts with storage_dir/. */
    memcpy(out->tmp_rel, tmp + root, strlen(tmp + root) + 1);
    return 0;
}

void persist_store_pending_init(persist_pending_t *out, const persist_file_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i].fd = -1;
        out[i].relpath = files[i].relpath;
        out[i].tmp_rel[0] = '\0';
    }
}

int persist_store_write_pending(const char *storage_dir, const persist_file_t *files, size_t n,
                                persist_pending_t *out, char *err, size_t errlen)
{
    char final[PERSIST_STORE_PATH_MAX], dir[PERSIST_STORE_PATH_MAX];
    persist_store_pending_init(out, files, n);
    if (persist_files_dir(storage_dir, files, n, final, dir, err, errlen) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) snprintf(final, sizeof final, "%s/%s", storage_dir, files[i].relpath);
        if (persist_write_open(storage_dir, final, dir, files[i].data, files[i].len, &out[i], err,
                               errlen) < 0) {
            persist_store_discard(storage_dir, out, i);
            return -1;
        }
    }
    return 0;
}

int persist_store_settle(const char *storage_dir, persist_pending_t *const *p, size_t n, char *err,
                         size_t errlen)
{
    const char *rel[PERSIST_STORE_SYNC_MAX] = {NULL};
    size_t first[PERSIST_STORE_SYNC_MAX];
    if (n > PERSIST_STORE_SYNC_MAX) {
        snprintf(err, errlen, "%zu files to settle, at most %d", n, PERSIST_STORE_SYNC_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) rel[i] = p[i]->relpath;
    /* One syncfs per directory (the filesystem of each; a batch's files
     * usually share one directory): the writeback of every file and inode in
     * one pass and one cache flush, where an fsync per file costs a
     * synchronous inode write and a flush each. Since Linux 5.8 syncfs also
     * reports writeback errors of the filesystem. */
    size_t k = persist_store_distinct_dirs(rel, n, first);
    for (size_t d = 0; d < k; d++) {
        if (syncfs(p[first[d]]->fd) < 0) {
            snprintf(err, errlen, "syncfs for %s: %s", p[first[d]]->tmp_rel, strerror(errno));
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char tmp[PERSIST_STORE_PATH_MAX], final[PERSIST_STORE_PATH_MAX];
        /* The file's own error check, whatever syncfs said about others:
         * WAIT_AFTER reports a writeback error of this file's pages since its
         * descriptor was opened (its errseq), and writes and waits for any
         * page still dirty. Only then may the name point to it. */
        if (sync_file_range(p[i]->fd, 0, 0,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
            snprintf(err, errlen, "writeback of %s: %s", p[i]->tmp_rel, strerror(errno));
            return -1;
        }
        int a = snprintf(tmp, sizeof tmp, "%s/%s", storage_dir, p[i]->tmp_rel);
        int b = snprintf(final, sizeof final, "%s/%s", storage_dir, p[i]->relpath);
        if (a < 0 || (size_t)a >= sizeof tmp || b < 0 || (size_t)b >= sizeof final) {
            snprintf(err, errlen, "path too long");
            return -1;
        }
        if (close(p[i]->fd) < 0) {
            p[i]->fd = -1; /* closed anyway; the temp file is removed by discard */
            snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
            return -1;
        }
        p[i]->fd = -1;
        if (rename(tmp, final) < 0) {
            snprintf(err, errlen, "rename %s: %s", final, strerror(errno));
            return -1;
        }
        p[i]->tmp_rel[0] = '\0';
    }
    return 0;
}

void persist_store_discard(const char *storage_dir, persist_pending_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].fd >= 0) close(p[i].fd);
        p[i].fd = -1;
        if (p[i].tmp_rel[0] == '\0') continue;
        char tmp[PERSIST_STORE_PATH_MAX];
        int w = snprintf(tmp, sizeof tmp, "%s/%s", storage_dir, p[i].tmp_rel);
        if (w > 0 && (size_t)w < sizeof tmp && unlink(tmp) < 0 && errno != ENOENT)
            log_warn("cannot remove temp file %s: %s (the sweeper will)", tmp, strerror(errno));
        p[i].tmp_rel[0] = '\0';
    }
}

int persist_store_write(const char *storage_dir, const char *relpath, const void *data, size_t len,
                        char *err, size_t errlen)
{
    persist_file_t f = {.relpath = relpath, .data = data, .len = len};
    if (persist_store_write_files(storage_dir, &f, 1, err, errlen) < 0) return -1;
    return persist_store_sync_dirs(storage_dir, &relpath, 1, err, errlen) < 0 ? -1 : 0;
}

/* Length of relpath's directory part (before its last '/'; 0 for none). */
static size_t persist_dir_len(const char *relpath)
{
    const char *slash = strrchr(relpath, '/');
    return slash == NULL ? 0 : (size_t)(slash - relpath);
}

size_t persist_store_distinct_dirs(const char *const *relpaths, size_t n, size_t *first)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = persist_dir_len(relpaths[i]);
        size_t j = 0;
        while (j < k && !(persist_dir_len(relpaths[first[j]]) == len &&
                          memcmp(relpaths[first[j]], relpaths[i], len) == 0))
            j++;
        if (j == k) first[k++] = i;
    }
    return k;
}

long persist_store_sync_dirs(const char *storage_dir, const char *const *relpaths, size_t n,
                             char *err, size_t errlen)
{
    size_t first[PERSIST_STORE_SYNC_MAX];
    if (n > PERSIST_STORE_SYNC_MAX) {
        snprintf(err, errlen, "%zu paths to sync, at most %d", n, PERSIST_STORE_SYNC_MAX);
        return -1;
    }
    size_t k = persist_store_distinct_dirs(relpaths, n, first);
    for (size_t i = 0; i < k; i++) {
        const char *rel = relpaths[first[i]];
        size_t len = persist_dir_len(rel);
        char dir[PERSIST_STORE_PATH_MAX];
        int w = len == 0 ? snprintf(dir, sizeof dir, "%s", storage_dir)
                         : snprintf(dir, sizeof dir, "%s/%.*s", storage_dir, (int)len, rel);
        if (w < 0 || (size_t)w >= sizeof dir) {
            snprintf(err, errlen, "path too long");
            return -1;
        }
        if (persist_fsync_dir(dir, err, errlen) < 0) return -1;
    }
    return (long)k;
}

int persist_store_remove(const char *storage_dir, const char *relpath, char *err, size_t errlen)
{
    char path[PERSIST_STORE_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", storage_dir, relpath);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (unlink(path) == 0) return 1;
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
    return -1;
}

/* 1 when name is one of persist_store_write()'s temp files: "." + a stored
 * file's name + "." + mkostemp()'s six characters. */
static int persist_is_temp_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 + 5 + 7 || name[0] != '.' || name[n - 7] != '.' ||
        memcmp(name + n - 11, ".jpg", 4) != 0)
        return 0;
    for (size_t i = n - 6; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return 1;
}

/* Storage is YYYY/MM/DD/<file>: deeper trees are not ours to walk. */
#define SWEEP_MAX_DEPTH 4

/* Removes the old temp files in storage_dir and its subdirectories down to
 * SWEEP_MAX_DEPTH levels; an explicit stack of open directories, no
 * recursion. */
static long persist_sweep_tree(const char *storage_dir, time_t older_than, stop_flag_t *stop)
{
    DIR *open_dirs[SWEEP_MAX_DEPTH];
    size_t dir_len[SWEEP_MAX_DEPTH]; /* length of each one's path in path[] */
    char path[PERSIST_STORE_PATH_MAX];
    long removed = 0;
    int depth = 0;
    size_t len = (size_t)snprintf(path, sizeof path, "%s", storage_dir);
    if (len >= sizeof path || (open_dirs[0] = opendir(path)) == NULL) {
        log_warn("sweep: cannot read %s: %s", storage_dir, strerror(errno));
        return 0;
    }
    dir_len[0] = len;
    while (depth >= 0) {
        struct dirent *e = stop != NULL && atomic_load(stop) ? NULL : readdir(open_dirs[depth]);
        if (e == NULL) {
            closedir(open_dirs[depth--]);
            continue;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        len = dir_len[depth];
        int n = snprintf(path + len, sizeof path - len, "/%s", e->d_name);
        if (n < 0 || (size_t)n >= sizeof path - len) continue;
        struct stat st;
        if (lstat(path, &st) < 0) continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode)) {
            if (depth + 1 >= SWEEP_MAX_DEPTH) continue;
            DIR *d = opendir(path);
            if (d == NULL) {
                log_warn("sweep: cannot read %s: %s", path, strerror(errno));
                continue;
            }
            open_dirs[++depth] = d;
            dir_len[depth] = len + (size_t)n;
        } else if (S_ISREG(st.st_mode) && persist_is_temp_name(e->d_name) &&
                   st.st_mtime <= older_than) {
            if (unlink(path) == 0)
                removed++;
            else if (errno != ENOENT)
                log_warn("sweep: cannot remove %s: %s", path, strerror(errno));
        }
    }
    return removed;
}

long persist_store_sweep(const char *storage_dir, int min_age_s, stop_flag_t *stop, char *err,
                         size_t errlen)
{
    struct stat st;
    if (stat(storage_dir, &st) < 0) {
        if (errno == ENOENT) return 0; /* nothing stored yet: nothing to sweep */
        snprintf(err, errlen, "STORAGE_DIR %s: %s", storage_dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "STORAGE_DIR %s: not a directory", storage_dir);
        return -1;
    }
    return persist_sweep_tree(storage_dir, time(NULL) - min_age_s, stop);
}
