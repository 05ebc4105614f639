/* store.c - atomic, durable file writes (see store.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
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
            if (!slash || slash == path) {
                frc = persist_fsync_dir(slash ? "/" : ".", err, errlen);
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
        if (saved == '\0')
            return 0;
    }
}

static int persist_write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int persist_store_write(const char *storage_dir, const char *relpath, const void *data,
                        size_t len, char *err, size_t errlen)
{
    char final[PERSIST_STORE_PATH_MAX], dir[PERSIST_STORE_PATH_MAX], tmp[PERSIST_STORE_PATH_MAX];
    int n = snprintf(final, sizeof final, "%s/%s", storage_dir, relpath);
    const char *base = strrchr(final, '/');
    if (n < 0 || (size_t)n >= sizeof final || !base) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    snprintf(dir, sizeof dir, "%.*s", (int)(base - final), final);
    /* Dot-prefixed so a directory listing never mistakes it for an image. */
    n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, base + 1);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (persist_mkdirs(dir, err, errlen) < 0)
        return -1;

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
    else if (fsync(fd) < 0)
        step = "fsync";
    int saved = errno;
    if (close(fd) < 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, final) < 0) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        snprintf(err, errlen, "%s %s: %s", step, step[0] == 'r' ? final : tmp,
                 strerror(saved));
        unlink(tmp);
        return -1;
    }
    return persist_fsync_dir(dir, err, errlen);
}

int persist_store_remove(const char *storage_dir, const char *relpath, char *err,
                         size_t errlen)
{
    char path[PERSIST_STORE_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", storage_dir, relpath);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
