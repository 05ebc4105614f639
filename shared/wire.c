/* wire.c - encode/decode the versioned payload of a queued message. */
#include "wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define MAGIC_LEN (sizeof WIRE_MAGIC - 1)

int wire_camera_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > WIRE_MAX_CAMERA) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The head of m's encoding (the magic and the header line) at the start of a
 * new buffer with room for `room` more bytes after it; *hlen_out gets the head's
 * length. Returns the buffer (the caller's to free), or NULL with err set. */
static unsigned char *encode_head(const wire_msg_t *m, size_t room, size_t *hlen_out, char *err,
                                  size_t errlen)
{
    size_t dlen = strlen(m->description);
    if (!uuid_is_valid(m->id)) {
        snprintf(err, errlen, "invalid id");
        return NULL;
    }
    if (utf8_count(m->description, dlen) < 0) {
        snprintf(err, errlen, "description is not valid UTF-8");
        return NULL;
    }
    size_t clen = strlen(m->camera);
    if (clen > 0 && !wire_camera_is_valid(m->camera, clen)) {
        snprintf(err, errlen, "invalid camera name");
        return NULL;
    }
    json_t *h = json_pack("{s:s, s:s, s:s%, s:I}", "id", m->id, "received_at", m->received_at,
                          "description", m->description, dlen, "content_length",
                          (json_int_t)m->jpeg_len);
    if (h == NULL) {
        snprintf(err, errlen, "cannot build header");
        return NULL;
    }
    if (m->width > 0 && m->height > 0) {
        json_object_set_new(h, "width", json_integer(m->width));
        json_object_set_new(h, "height", json_integer(m->height));
    }
    if (clen > 0) json_object_set_new(h, "camera", json_string(m->camera));
    if (m->thumb_len > 0)
        json_object_set_new(h, "thumbnail_length", json_integer((json_int_t)m->thumb_len));
    /* JSON_ENSURE_ASCII is off: UTF-8 stays UTF-8; jansson escapes control
     * characters, so the header never contains a raw newline. */
    char *header = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (header == NULL) {
        snprintf(err, errlen, "cannot serialise header");
        return NULL;
    }
    size_t jlen = strlen(header);
    size_t hlen = MAGIC_LEN + jlen + 1;
    unsigned char *buf = malloc(hlen + room);
    if (buf == NULL) {
        free(header);
        snprintf(err, errlen, "out of memory (%zu bytes)", hlen + room);
        return NULL;
    }
    memcpy(buf, WIRE_MAGIC, MAGIC_LEN);
    memcpy(buf + MAGIC_LEN, header, jlen);
    buf[MAGIC_LEN + jlen] = '\n';
    free(header);
    *hlen_out = hlen;
    return buf;
}

int wire_encode_head(const wire_msg_t *m, unsigned char **out, size_t *outlen, char *err,
                     size_t errlen)
{
    *out = encode_head(m, 0, outlen, err, errlen);
    return *out != NULL ? 0 : -1;
}

int wire_encode(const wire_msg_t *m, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
    size_t hlen;
    unsigned char *buf = encode_head(m, m->jpeg_len + m->thumb_len, &hlen, err, errlen);
    if (buf == NULL) return -1;
    if (m->jpeg_len) memcpy(buf + hlen, m->jpeg, m->jpeg_len);
    if (m->thumb_len) memcpy(buf + hlen + m->jpeg_len, m->thumb, m->thumb_len);
    *out = buf;
    *outlen = hlen + m->jpeg_len + m->thumb_len;
    return 0;
}

static int copy_string(json_t *h, const char *key, char *dst, size_t cap, char *err, size_t errlen)
{
    json_t *v = json_object_get(h, key);
    if (!json_is_string(v)) {
        snprintf(err, errlen, "header field %s missing or not a string", key);
        return -1;
    }
    size_t len = json_string_length(v);
    if (len >= cap) {
        snprintf(err, errlen, "header field %s too long (%zu bytes)", key, len);
        return -1;
    }
    memcpy(dst, json_string_value(v), len);
    dst[len] = '\0';
    if (memchr(dst, '\0', len) != NULL || utf8_count(dst, len) < 0) {
        snprintf(err, errlen, "header field %s is not valid UTF-8 text", key);
        return -1;
    }
    return 0;
}

int wire_decode(const unsigned char *buf, size_t len, wire_msg_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (len < MAGIC_LEN || memcmp(buf, WIRE_MAGIC, MAGIC_LEN) != 0) {
        snprintf(err, errlen, "bad magic (not an IMGCAP1 payload)");
        return -1;
    }
    const unsigned char *hstart = buf + MAGIC_LEN;
    const unsigned char *nl = memchr(hstart, '\n', len - MAGIC_LEN);
    if (nl == NULL) {
        snprintf(err, errlen, "header line not terminated");
        return -1;
    }
    json_error_t jerr;
    json_t *h = json_loadb((const char *)hstart, (size_t)(nl - hstart), JSON_REJECT_DUPLICATES,
                           &jerr);
    if (h == NULL || !json_is_object(h)) {
        snprintf(err, errlen, "header is not a JSON object: %s",
                 h != NULL ? "wrong type" : jerr.text);
        json_decref(h);
        return -1;
    }
    int rc = -1;
    if (copy_string(h, "id", m->id, sizeof m->id, err, errlen) < 0 ||
        copy_string(h, "received_at", m->received_at, sizeof m->received_at, err, errlen) < 0 ||
        copy_string(h, "description", m->description, sizeof m->description, err, errlen) < 0)
        goto out;
    if (!uuid_is_valid(m->id)) {
        snprintf(err, errlen, "header id is not a UUID");
        goto out;
    }
    json_t *cam = json_object_get(h, "camera");
    if (cam != NULL) {
        if (!json_is_string(cam) ||
            !wire_camera_is_valid(json_string_value(cam), json_string_length(cam))) {
            snprintf(err, errlen, "header field camera is not a camera name");
            goto out;
        }
        memcpy(m->camera, json_string_value(cam), json_string_length(cam) + 1);
    }
    json_t *cl = json_object_get(h, "content_length");
    json_t *tl = json_object_get(h, "thumbnail_length");
    size_t body = len - (size_t)(nl + 1 - buf);
    if (tl != NULL && (!json_is_integer(tl) || json_integer_value(tl) <= 0 ||
                       (size_t)json_integer_value(tl) > body)) {
        snprintf(err, errlen, "thumbnail_length is not a size within the %zu bytes that follow",
                 body);
        goto out;
    }
    size_t thumb = tl != NULL ? (size_t)json_integer_value(tl) : 0;
    if (!json_is_integer(cl) || json_integer_value(cl) < 0 ||
        (size_t)json_integer_value(cl) != body - thumb) {
        snprintf(err, errlen, "content_length does not match the %zu bytes that follow", body);
        goto out;
    }
    json_t *w = json_object_get(h, "width"), *hh = json_object_get(h, "height");
    if (json_is_integer(w) && json_is_integer(hh) && json_integer_value(w) > 0 &&
        json_integer_value(hh) > 0 && json_integer_value(w) < 1000000 &&
        json_integer_value(hh) < 1000000) {
        m->width = (int)json_integer_value(w);
        m->height = (int)json_integer_value(hh);
    }
    m->jpeg = nl + 1;
    m->jpeg_len = body - thumb;
    if (thumb > 0) {
        m->thumb = m->jpeg + m->jpeg_len;
        m->thumb_len = thumb;
    }
    rc = 0;
out:
    json_decref(h);
    return rc;
}
