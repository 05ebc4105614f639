/* fuzz_wire.c - wire_decode() on arbitrary bytes (design section 4).
 *
 * A payload comes out of Redis, so anything a buggy or hostile producer could
 * have written must be refused with an error, never read out of bounds. When
 * a payload is accepted, encoding the decoded message and decoding that again
 * must give the same message: the two halves of the format agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_msg_t m, m2;
    char err[256];
    if (wire_decode(data, size, &m, err, sizeof err) != 0) {
        if (memchr(err, '\0', sizeof err) == NULL) abort();
        return 0;
    }
    if (m.jpeg < data || m.jpeg + m.jpeg_len != data + size) abort();

    unsigned char *out = NULL;
    size_t outlen = 0;
    if (wire_encode(&m, &out, &outlen, err, sizeof err) != 0) abort();
    if (wire_decode(out, outlen, &m2, err, sizeof err) != 0) abort();
    if (strcmp(m.id, m2.id) != 0 || strcmp(m.received_at, m2.received_at) != 0 ||
        strcmp(m.description, m2.description) != 0 || m.jpeg_len != m2.jpeg_len ||
        m.width != m2.width || m.height != m2.height || memcmp(m.jpeg, m2.jpeg, m.jpeg_len) != 0)
        abort();
    free(out);
    return 0;
}
