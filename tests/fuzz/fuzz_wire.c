/* fuzz_wire.c - wire_decode() on arbitrary bytes (shared/README.md, Wire format), and the
 * row persist builds from what it decoded.
 *
 * A payload comes out of Redis, so anything a buggy or hostile producer could
 * have written must be refused with an error, never read out of bounds. When
 * a payload is accepted, encoding the decoded message and decoding that again
 * must give the same message: the two halves of the format agree. The row of
 * an accepted payload either is refused or has a path of the one documented
 * shape, YYYY/MM/DD/<id>.jpg, that cannot leave STORAGE_DIR. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persist/row.h"
#include "wire.h"

/* "YYYY/MM/DD/" + a 36-character lowercase id + ".jpg", nothing else. */
static int path_is_contained(const char *p)
{
    static const char shape[] = "dddd/dd/dd/";
    if (strlen(p) != 11 + 36 + 4 || strcmp(p + 47, ".jpg") != 0) return 0;
    for (int i = 0; i < 11; i++)
        if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != '/') return 0;
    for (int i = 11; i < 47; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') || p[i] == '-'))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_msg_t m, m2;
    char err[256];
    if (wire_decode(data, size, &m, err, sizeof err) != 0) {
        if (memchr(err, '\0', sizeof err) == NULL) abort();
        return 0;
    }
    if (m.jpeg < data || m.jpeg + m.jpeg_len + m.thumb_len != data + size) abort();
    if ((m.thumb != NULL) != (m.thumb_len > 0)) abort();
    if (m.camera[0] != '\0' && !wire_camera_is_valid(m.camera, strlen(m.camera))) abort();

    unsigned char *out = NULL;
    size_t outlen = 0;
    if (wire_encode(&m, &out, &outlen, err, sizeof err) != 0) abort();
    if (wire_decode(out, outlen, &m2, err, sizeof err) != 0) abort();
    if (strcmp(m.id, m2.id) != 0 || strcmp(m.received_at, m2.received_at) != 0 ||
        strcmp(m.description, m2.description) != 0 || m.jpeg_len != m2.jpeg_len ||
        m.width != m2.width || m.height != m2.height || memcmp(m.jpeg, m2.jpeg, m.jpeg_len) != 0 ||
        strcmp(m.camera, m2.camera) != 0 || m.thumb_len != m2.thumb_len ||
        (m.thumb_len > 0 && memcmp(m.thumb, m2.thumb, m.thumb_len) != 0))
        abort();
    free(out);

    persist_row_t row;
    if (persist_row_build(&m, &row, err, sizeof err) == 0) {
        if (!path_is_contained(row.path) || strcmp(row.description, m.description) != 0) abort();
        const char *values[PERSIST_ROW_NPARAMS];
        persist_row_params(&row, values);
        if (values[0] == NULL || values[3] != row.path) abort();
    }
    return 0;
}
