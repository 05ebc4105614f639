/* wire.h - the payload of one queued message (shared/README.md, Wire format):
 *
 *   "IMGCAP1\n" <header: one line of JSON> "\n" <JPEG bytes> [<thumbnail JPEG bytes>]
 *
 * header = {"id","received_at","description","content_length"
 *           [,"camera"][,"width","height"][,"thumbnail_length"]}.
 * content_length counts the JPEG's bytes, thumbnail_length the thumbnail's
 * that follow it (render adds it); together they are every byte after the
 * header line. Pure functions: no I/O. */
#ifndef IMGCAP_WIRE_H
#define IMGCAP_WIRE_H

#include <stddef.h>
#include "uuid.h"

#define WIRE_MAGIC "IMGCAP1\n"
#define WIRE_MAX_DESCRIPTION_BYTES 800 /* 200 code points of at most 4 bytes */
#define WIRE_MAX_CAMERA 64             /* characters of a camera name */

typedef struct wire_msg {
    char id[UUID_STR_LEN];
    char received_at[32]; /* RFC 3339 UTC with milliseconds */
    char description[WIRE_MAX_DESCRIPTION_BYTES + 1];
    char camera[WIRE_MAX_CAMERA + 1]; /* "" = none given */
    int width, height;                /* 0 when unknown (before render) */
    const unsigned char *jpeg;        /* points into the buffer given to wire_decode */
    size_t jpeg_len;
    const unsigned char *thumb; /* the thumbnail JPEG, NULL before render; into the buffer too */
    size_t thumb_len;
} wire_msg_t;

/* 1 when s[0..len) is a camera name: 1..WIRE_MAX_CAMERA characters of
 * A-Z a-z 0-9 . _ - (safe in a URL, a log line and a file name), else 0. */
int wire_camera_is_valid(const char *s, size_t len);

/* Encodes m into a new buffer (the thumbnail after the JPEG when thumb_len >
 * 0). The caller owns *out and frees it with free(). Returns 0, or -1 with
 * err set (description not UTF-8 or too long, bad id, bad camera). */
int wire_encode(const wire_msg_t *m, unsigned char **out, size_t *outlen, char *err, size_t errlen);

/* The head of m's encoding: every byte before the JPEG (the magic and the
 * header line), into a new buffer the caller frees. The head, then m->jpeg,
 * then the thumbnail (when thumb_len > 0) are wire_encode's bytes: a caller
 * that can send the parts as they are (rqueue_enqueue) never copies the
 * JPEG into one buffer first. Returns 0, or -1 with err set (as wire_encode). */
int wire_encode_head(const wire_msg_t *m, unsigned char **out, size_t *outlen, char *err,
                     size_t errlen);

/* Decodes buf. m->jpeg (and m->thumb) point into buf, which must outlive m.
 * Checks the magic, the JSON, the required fields, UTF-8, the id, the camera
 * and that content_length (+ thumbnail_length) are the bytes that follow.
 * Returns 0, or -1 with err set (a permanent error: the payload is poison). */
int wire_decode(const unsigned char *buf, size_t len, wire_msg_t *m, char *err, size_t errlen);

#endif
