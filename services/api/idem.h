/* idem.h - the Idempotency-Key of an upload (docs/api.md, Idempotent uploads):
 * the header's syntax, the request's fingerprint, the key's name in Redis and
 * the value stored under it with the upload. Pure: no I/O (the hashing is
 * libcrypto's SHA-256). */
#ifndef IMGCAP_API_IDEM_H
#define IMGCAP_API_IDEM_H

#include <stddef.h>

#include "uuid.h"

/* Longest key, in bytes of its value (without quotes or escapes). */
#define API_IDEM_KEY_MAX 255
/* A fingerprint: SHA-256 in lowercase hex, with its NUL. */
#define API_IDEM_FP_LEN 65
/* A scope: "open", or the first 128 bits of the token's SHA-256 in hex. */
#define API_IDEM_SCOPE_LEN 33
/* The Redis key's name after REDIS_PREFIX: "idem:<scope>:<key>". */
#define API_IDEM_NAME_MAX (5 + API_IDEM_SCOPE_LEN + API_IDEM_KEY_MAX + 1)
/* The stored value: "<fingerprint> <id> <received_at>". */
#define API_IDEM_VALUE_MAX 160

/* Reads an Idempotency-Key field value: a quoted string (a Structured Field
 * String, RFC 8941: printable ASCII, \" and \\ escaped) or a bare token
 * (RFC 9110 tchar), 1..API_IDEM_KEY_MAX bytes once unquoted; surrounding
 * spaces are ignored. `"abc"` and `abc` are the same key. Writes the key,
 * NUL-terminated, to out (API_IDEM_KEY_MAX + 1 bytes). Returns 0, or -1 with
 * err set. */
int api_idem_parse_key(const char *value, char out[API_IDEM_KEY_MAX + 1], char *err, size_t errlen);

/* The fingerprint of an upload: SHA-256 over its description, camera (NULL:
 * none, which differs from every camera) and image bytes, each preceded by
 * its length so no byte can move from one part to the next unseen. Returns 0,
 * or -1 when libcrypto fails (out of memory). */
int api_idem_fingerprint(const char *description, size_t dlen, const char *camera, size_t clen,
                         const unsigned char *image, size_t ilen, char out[API_IDEM_FP_LEN]);

/* The scope of the keys of a caller: "open" without API_TOKEN, else the first
 * 128 bits of the token's SHA-256 in hex (the token itself never reaches
 * Redis). Returns 0, or -1 when libcrypto fails. */
int api_idem_scope(const char *token, char out[API_IDEM_SCOPE_LEN]);

/* "idem:<scope>:<key>" into out (API_IDEM_NAME_MAX bytes). */
void api_idem_name(const char *scope, const char *key, char out[API_IDEM_NAME_MAX]);

/* What a key remembers of the upload it was stored with. */
typedef struct api_idem_value {
    char fingerprint[API_IDEM_FP_LEN];
    char id[UUID_STR_LEN];
    char received_at[40];
} api_idem_value_t;

/* Formats v into out (API_IDEM_VALUE_MAX bytes). */
void api_idem_value_format(const api_idem_value_t *v, char out[API_IDEM_VALUE_MAX]);

/* Parses a stored value. Returns 0, or -1 when s is not one. */
int api_idem_value_parse(const char *s, size_t len, api_idem_value_t *v);

#endif
