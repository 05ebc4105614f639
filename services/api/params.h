/* params.h - pure parsers for the query and path parameters of the API and the
 * If-None-Match matcher (docs/api.md). Each parser returns 0 with the value
 * in *out, or -1 with a message for the problem document's errors[] in err.
 * A NULL input means "parameter absent" and yields the default. */
#ifndef IMGCAP_API_PARAMS_H
#define IMGCAP_API_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000
#define API_WAIT_MAX 30

/* limit: 1..1000, default 100 (s NULL or ""). Returns 0, or -1 with err set. */
int api_parse_limit(const char *s, int *out, char *err, size_t errlen);

/* wait: 0..30 seconds, default 0 (s NULL or ""). Returns 0, or -1 with err
 * set. */
int api_parse_wait(const char *s, int *out, char *err, size_t errlen);

/* An image id or a `before` cursor: a canonical UUID, copied lowercased. NULL
 * is an error here (absence is the caller's business). Returns 0, or -1 with
 * err set. */
int api_parse_id(const char *s, char out[UUID_STR_LEN], char *err, size_t errlen);

/* from / to of the list: an RFC 3339 date-time with Z or an offset, the
 * fraction optional (time_parse_rfc3339_us: rounded up to the microsecond).
 * A space where the offset's sign belongs is read as '+': an unencoded '+'
 * in a query string arrives decoded as a space. NULL is an error here.
 * Returns 0 with *unix_us, or -1 with err set. */
int api_parse_time(const char *s, int64_t *unix_us, char *err, size_t errlen);

#define API_Q_MAX_CHARS 200 /* code points, like a description */

/* q of the list: 1..200 code points of UTF-8 (NULL is an error here).
 * Returns 0, or -1 with err set. */
int api_parse_q(const char *s, char *err, size_t errlen);

/* camera of the list: a camera name (wire_camera_is_valid: 1..64 of A-Z a-z
 * 0-9 . _ -; NULL is an error here). Returns 0, or -1 with err set. */
int api_parse_camera(const char *s, char *err, size_t errlen);

/* 1 if an If-None-Match header value matches etag (a quoted strong tag such as
 * "\"0190...\""): "*" or any listed tag, weak or strong, per RFC 9110 section
 * 13.1.2 (weak comparison). 0 otherwise or when the header is NULL. */
int api_etag_matches(const char *if_none_match, const char *etag);

#endif
