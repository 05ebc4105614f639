/* row.h - what persist stores for one message: the file's place under
 * STORAGE_DIR and the images row (services/persist/README.md, Write path). Pure: no I/O. */
#ifndef IMGCAP_PERSIST_ROW_H
#define IMGCAP_PERSIST_ROW_H

#include <stddef.h>
#include "uuid.h"
#include "wire.h"

/* "YYYY/MM/DD/" + 36-character id + ".jpg" + NUL, with room to spare. */
#define PERSIST_PATH_MAX 64
#define PERSIST_ROW_NPARAMS 9

/* The INSERT the committer prepares; parameters in persist_row_params() order
 * ($1 id, $2 received_at, $3 description, $4 path, $5 width, $6 height,
 * $7 bytes, $8 camera, $9 thumb_bytes), all sent as text. A redelivered id
 * inserts nothing. */
extern const char PERSIST_INSERT_SQL[];

/* The same INSERT for n rows in one statement (1 <= n <= max rows, see
 * persist_insert_sql()): "VALUES ($1..$9), ($10..$18), ..." with each row's
 * parameters in persist_row_params() order, one block of 9 after the other. */
#define PERSIST_INSERT_SQL_MAX(n) (256 + (size_t)(n)*128)

/* Writes the n-row INSERT into out (PERSIST_INSERT_SQL_MAX(n) bytes are
 * enough). For n = 1 it is PERSIST_INSERT_SQL. Returns 0, or -1 when n is 0
 * or out is too small. Pure. */
int persist_insert_sql(size_t n, char *out, size_t outlen);

/* One images row as text parameters. Plain values, no pointers: a row can be
 * copied and outlives the payload it was built from. */
typedef struct persist_row {
    char id[UUID_STR_LEN]; /* lowercase */
    char received_at[32];  /* normalized RFC 3339 UTC with milliseconds */
    char description[WIRE_MAX_DESCRIPTION_BYTES + 1];
    char path[PERSIST_PATH_MAX]; /* relative to STORAGE_DIR */
    char width[16], height[16];  /* "" = unknown -> NULL */
    char bytes[24];
    char camera[WIRE_MAX_CAMERA + 1];  /* "" = none -> NULL */
    char thumb_bytes[24];              /* "" = no thumbnail -> NULL */
    char thumb_path[PERSIST_PATH_MAX]; /* "YYYY/MM/DD/<id>.thumb.jpg", not a parameter: the
                                        * file persist writes when thumb_bytes is set and
                                        * removes with the image */
} persist_row_t;

/* Writes the STORAGE_DIR-relative path of image `id` received at `received_at`
 * (RFC 3339): "YYYY/MM/DD/<id>.jpg", the date in UTC, the id lowercased.
 * Returns 0, or -1 with err set (invalid id or timestamp, out too small). */
int persist_path_build(const char *id, const char *received_at, char *out, size_t outlen, char *err,
                       size_t errlen);

/* Fills row from a decoded message. Returns 0, or -1 with err set when the
 * message cannot become a row (a permanent error: the message is poison). */
int persist_row_build(const wire_msg_t *m, persist_row_t *row, char *err, size_t errlen);

/* Points values[] at row's fields in $1..$9 order; NULL for unknown sizes,
 * no camera and no thumbnail.
 * The pointers live as long as row. */
void persist_row_params(const persist_row_t *row, const char *values[PERSIST_ROW_NPARAMS]);

/* Writes the PostgreSQL array literal of ids[0..n) ("{id,id,...}", "{}" for
 * none), the text of a uuid[] parameter. The ids must be canonical UUIDs
 * (nothing in them needs quoting). Returns 0, or -1 when out is too small. */
int persist_uuid_array(const char *const *ids, size_t n, char *out, size_t outlen);

#endif
