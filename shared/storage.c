/* storage.c - free space of STORAGE_DIR's filesystem (see storage.h). */
#include "storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

int storage_thumb_path(const char *image_path, char *out, size_t outlen)
{
    size_t n = strlen(image_path);
    if (n < 4 || strcmp(image_path + n - 4, ".jpg") != 0) return -1;
    int w = snprintf(out, outlen, "%.*s.thumb.jpg", (int)(n - 4), image_path);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

long long storage_min_free_bytes(const config_t *cfg, long long total)
{
    if (cfg->storage_min_free_bp > 0)
        return (long long)((double)total * cfg->storage_min_free_bp / 10000.0);
    return cfg->storage_min_free;
}

int storage_space_read(const char *dir, const config_t *cfg, storage_space_t *out, char *err,
                       size_t errlen)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "STORAGE_DIR: path too long");
        return -1;
    }
    struct statvfs st;
    while (statvfs(path, &st) != 0) {
        /* Not created yet: the filesystem it will be on is its parent's. */
        char *slash = strrchr(path, '/');
        if (errno != ENOENT || slash == NULL) {
            snprintf(err, errlen, "statvfs %s: %s", path, strerror(errno));
            return -1;
        }
        if (slash == path)
            path[1] = '\0';
        else
            *slash = '\0';
    }
    out->free_bytes = (long long)st.f_bavail * (long long)st.f_frsize;
    out->total_bytes = (long long)st.f_blocks * (long long)st.f_frsize;
    out->min_free_bytes = storage_min_free_bytes(cfg, out->total_bytes);
    out->low = out->free_bytes < out->min_free_bytes;
    return 0;
}
