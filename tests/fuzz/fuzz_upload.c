/* fuzz_upload.c - POST /api/images validation on arbitrary requests
 * (services/api/upload.c: Content-Type boundary, multipart framing, verdict).
 *
 * Input layout: the Content-Type header value, a NUL byte, then the body (no
 * NUL: the whole input is the body with the fuzzer's default content type).
 * Whatever the input, the verdict is one of the documented statuses, and an
 * accepted upload points inside the body at a JPEG SOI, at 1..200 code
 * points of UTF-8 and, when it has a camera, at a camera name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/upload.h"
#include "utf8.h"
#include "wire.h"

#define MAX_BYTES 4096 /* small, so the fuzzer also reaches the 413 path */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ctype = "multipart/form-data; boundary=xyz";
    char *ct_copy = NULL;
    const uint8_t *nul = memchr(data, '\0', size);
    const uint8_t *body = data;
    size_t body_len = size;
    if (nul) {
        ct_copy = strndup((const char *)data, (size_t)(nul - data));
        if (!ct_copy) return 0;
        ctype = ct_copy;
        body = nul + 1;
        body_len = size - (size_t)(nul + 1 - data);
    }
    /* An exact-size heap copy, so ASan sees a read one byte past the body. */
    unsigned char *copy = malloc(body_len ? body_len : 1);
    if (!copy) {
        free(ct_copy);
        return 0;
    }
    if (body_len) memcpy(copy, body, body_len);

    api_part_t parts[API_MULTIPART_MAX_PARTS];
    api_upload_t v;
    long long declared = size % 3 == 0 ? -1 : (long long)body_len;
    int st = api_upload_check(ctype, declared, copy, body_len, MAX_BYTES, parts, &v);
    switch (st) {
    case 0:
        if (v.image < copy || v.image + v.image_len > copy + body_len || v.image_len < 3 ||
            v.image[0] != 0xFF || v.image[1] != 0xD8 || v.image[2] != 0xFF)
            abort();
        if ((const unsigned char *)v.description < copy ||
            (const unsigned char *)v.description + v.description_len > copy + body_len)
            abort();
        long chars = utf8_count(v.description, v.description_len);
        if (chars < 1 || chars > API_DESCRIPTION_MAX_CHARS) abort();
        if (v.camera != NULL && ((const unsigned char *)v.camera < copy ||
                                 (const unsigned char *)v.camera + v.camera_len > copy + body_len ||
                                 !wire_camera_is_valid(v.camera, v.camera_len)))
            abort();
        if (v.camera == NULL && v.camera_len != 0) abort();
        break;
    case 413:
    case 415:
    case 422:
        if (v.title == NULL || v.nerrors < 1 || v.nerrors > API_MAX_FIELD_ERRORS) abort();
        for (int i = 0; i < v.nerrors; i++)
            if (memchr(v.errors[i].message, '\0', sizeof v.errors[i].message) == NULL) abort();
        break;
    default:
        abort();
    }
    free(copy);
    free(ct_copy);
    return 0;
}
