/* fuzz_exif.c - the EXIF Orientation reader (services/render/exif.c) on
 * arbitrary APP1 payloads: offsets inside a TIFF header are attacker data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/exif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so ASan sees a read one byte past the marker. */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    size_t off = (size_t)-1;
    int o = render_exif_orientation(copy, size, &off);
    if (o < 0 || o > 8) abort();
    if (o > 0) {
        if (off > size || size - off < 2) abort();
        render_exif_set_orientation(copy, size, off, 1);
        size_t off2;
        if (render_exif_orientation(copy, size, &off2) != 1 || off2 != off) abort();
    }
    free(copy);
    return 0;
}
