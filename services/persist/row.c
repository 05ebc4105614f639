/* row.c - path and row building for persist (pure; see row.h). */
#include "row.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "storage.h"
#include "timeutil.h"

const char PERSIST_INSERT_SQL[] =
    "INSERT INTO images (id, received_at, description, path, width, height, bytes, camera, "
    "thumb_bytes) "
    "VALUES ($1::uuid, $2::timestamptz, $3, $4, $5::int, $6::int, $7::int, $8, $9::int) "
    "ON CONFLICT (id) DO NOTHING";

int persist_insert_sql(size_t n, char *out, size_t outlen)
{
    /* The column list and the casts of PERSIST_INSERT_SQL, one VALUES tuple
     * per row with its parameters numbered on. */
    static const char head[] = "INSERT INTO images (id, received_at, description, path, width, "
                               "height, bytes, camera, thumb_bytes) VALUES ";
    static const char tail[] = " ON CONFLICT (id) DO NOTHING";
    if (n == 0 || outlen < sizeof head) return -1;
    size_t len = sizeof head - 1;
    memcpy(out, head, len);
    for (size_t i = 0; i < n; i++) {
        size_t p = i * PERSIST_ROW_NPARAMS;
        int w = snprintf(out + len, outlen - len,
                         "%s($%zu::uuid, $%zu::timestamptz, $%zu, $%zu, $%zu::int, $%zu::int, "
                         "$%zu::int, $%zu, $%zu::int)",
                         i > 0 ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8,
                         p + 9);
        if (w < 0 || (size_t)w >= outlen - len) return -1;
        len += (size_t)w;
    }
    if (outlen - len < sizeof tail) return -1;
    memcpy(out + len, tail, sizeof tail);
    return 0;
}

static void persist_lower_id(const char *id, char out[UUID_STR_LEN])
{
    for (int i = 0; i < UUID_STR_LEN - 1; i++)
        out[i] = (char)((id[i] >= 'A' && id[i] <= 'F') ? id[i] - 'A' + 'a' : id[i]);
    out[UUID_STR_LEN - 1] = '\0';
}

int persist_path_build(const char *id, const char *received_at, char *out, size_t outlen, char *err,
                       size_t errlen)
{
    /* The id becomes a file name: only a canonical UUID may, so no value of it
     * can climb out of STORAGE_DIR. */
    if (!uuid_is_valid(id)) {
        snprintf(err, errlen, "invalid id");
        return -1;
    }
    uint64_t ms;
    if (time_parse_rfc3339(received_at, &ms) < 0) {
        snprintf(err, errlen, "invalid received_at \"%.40s\"", received_at);
        return -1;
    }
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        snprintf(err, errlen, "received_at out of range");
        return -1;
    }
    char lid[UUID_STR_LEN];
    persist_lower_id(id, lid);
    int n = snprintf(out, outlen, "%04d/%02d/%02d/%s.jpg", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, lid);
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "path buffer too small");
        return -1;
    }
    return 0;
}

int persist_row_build(const wire_msg_t *m, persist_row_t *row, char *err, size_t errlen)
{
    memset(row, 0, sizeof *row);
    if (persist_path_build(m->id, m->received_at, row->path, sizeof row->path, err, errlen) < 0)
        return -1;
    if (m->jpeg_len == 0 || m->jpeg_len > INT_MAX) {
        snprintf(err, errlen, "image size %zu out of range", m->jpeg_len);
        return -1;
    }
    if (m->thumb_len > INT_MAX) {
        snprintf(err, errlen, "thumbnail size %zu out of range", m->thumb_len);
        return -1;
    }
    if (storage_thumb_path(row->path, row->thumb_path, sizeof row->thumb_path) < 0) {
        snprintf(err, errlen, "thumbnail path buffer too small");
        return -1;
    }
    uint64_t ms;
    time_parse_rfc3339(m->received_at, &ms); /* validated by persist_path_build */
    time_format_rfc3339_ms(ms, row->received_at, sizeof row->received_at);
    persist_lower_id(m->id, row->id);
    snprintf(row->description, sizeof row->description, "%s", m->description);
    if (m->width > 0 && m->height > 0) {
        snprintf(row->width, sizeof row->width, "%d", m->width);
        snprintf(row->height, sizeof row->height, "%d", m->height);
    }
    snprintf(row->bytes, sizeof row->bytes, "%zu", m->jpeg_len);
    snprintf(row->camera, sizeof row->camera, "%s", m->camera);
    if (m->thumb != NULL && m->thumb_len > 0)
        snprintf(row->thumb_bytes, sizeof row->thumb_bytes, "%zu", m->thumb_len);
    return 0;
}

void persist_row_params(const persist_row_t *row, const char *values[PERSIST_ROW_NPARAMS])
{
    values[0] = row->id;
    values[1] = row->received_at;
    values[2] = row->description;
    values[3] = row->path;
    values[4] = row->width[0] ? row->width : NULL;
    values[5] = row->height[0] ? row->height : NULL;
    values[6] = row->bytes;
    values[7] = row->camera[0] ? row->camera : NULL;
    values[8] = row->thumb_bytes[0] ? row->thumb_bytes : NULL;
}

int persist_uuid_array(const char *const *ids, size_t n, char *out, size_t outlen)
{
    size_t len = 0;
    if (outlen < 3) return -1;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t idlen = strlen(ids[i]);
        if (len + idlen + 3 > outlen) return -1; /* ",", "}", NUL */
        if (i > 0) out[len++] = ',';
        memcpy(out + len, ids[i], idlen);
        len += idlen;
    }
    out[len++] = '}';
    out[len] = '\0';
    return 0;
}
