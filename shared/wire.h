/* wire.h - the payload of one queued message (shared/README.md, Wire format):
 *
 *   "IMGCAP1\n" <header: one line of JSON> "\n" <JPEG bytes>
 *
 * header = {"id","received_at","description","content_length"[,"width","height"]}.
 * Pure functions: no I/O. */
#ifndef IMGCAP_WIRE_H
#define IMGCAP_WIRE_H

#include <stddef.h>
#include "uuid.h"

#define WIRE_MAGIC "IMGCAP1\n"
#define WIRE_MAX_DESCRIPTION_BYTES 800 /* 200 code points of at most 4 bytes */

typedef struct wire_msg {
    char id[UUID_STR_LEN];
    char received_at[32]; /* RFC 3339 UTC with milliseconds */
    char description[WIRE_MAX_DESCRIPTION_BYTES + 1];
    int width, height;         /* 0 when unknown (before render) */
    const unsigned char *jpeg; /* points into the buffer given to wire_decode */
    size_t jpeg_len;
} wire_msg_t;

/* Encodes m into a new buffer. The caller owns *out and frees it with free().
 * Returns 0, or -1 with err set (description not UTF-8 or too long, bad id). */
int wire_encode(const wire_msg_t *m, unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* Decodes buf. m->jpeg points into buf, which must outlive m. Checks the magic,
 * the JSON, the required fields, UTF-8, the id and content_length. Returns 0, or
 * -1 with err set (a permanent error: the payload is poison). */
int wire_decode(const unsigned char *buf, size_t len, wire_msg_t *m, char *err, size_t errlen);

#endif
