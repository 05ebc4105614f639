/* upload.h - the pure half of POST /api/images: multipart/form-data parsing and
 * the validation table of docs/api.md (413 / 415 / 422).
 *
 * No I/O and no allocation: parts point into the request body, which the caller
 * keeps alive while it uses them. The HTTP layer (handlers.c) only moves bytes in
 * and the verdict out, so every status decision is unit-tested here. */
#ifndef IMGCAP_API_UPLOAD_H
#define IMGCAP_API_UPLOAD_H

#include <stddef.h>

#define API_DESCRIPTION_MAX_CHARS 200 /* code points */
#define API_MULTIPART_MAX_PARTS 16    /* more is a client bug or an attack */
#define API_MAX_FIELD_ERRORS 4

/* One multipart part. name/filename are not NUL-terminated. */
typedef struct api_part {
    const char *name;
    size_t name_len;
    const char *filename; /* NULL when the part has no filename parameter */
    size_t filename_len;
    const unsigned char *data;
    size_t len;
} api_part_t;

typedef enum { API_BOUNDARY_FOUND = 0, API_BOUNDARY_NOT_MULTIPART = 1 } api_boundary_t;

/* Copies the boundary parameter of a multipart/form-data Content-Type into out
 * (quotes removed). Returns API_BOUNDARY_FOUND, API_BOUNDARY_NOT_MULTIPART when
 * the type is not multipart/form-data at all, or -1 when it is but the
 * boundary is missing or invalid (RFC 2046: 1..70 characters). */
int api_multipart_boundary(const char *content_type, char *out, size_t outlen);

/* Splits body into parts (RFC 7578, CRLF line ends; a preamble and epilogue
 * are ignored). Returns the number of parts (<= maxparts), or -1 with err set
 * when the framing is broken or there are more than maxparts parts. */
int api_multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                        api_part_t *parts, int maxparts, char *err, size_t errlen);

typedef struct api_field_error {
    char field[32];
    char message[160];
} api_field_error_t;

/* The verdict on an upload. status 0 = accepted: image/description (and
 * camera, when given) point into the body. Otherwise an HTTP status with a title, a detail and the
 * field errors of the problem document. */
typedef struct api_upload {
    int status;
    const char *title;
    char detail[256];
    api_field_error_t errors[API_MAX_FIELD_ERRORS];
    int nerrors;
    const unsigned char *image;
    size_t image_len;
    const char *description;
    size_t description_len;
    const char *camera; /* NULL when no camera part was sent */
    size_t camera_len;
} api_upload_t;

/* The fields of one request as the HTTP layer saw them. */
typedef struct api_upload_input {
    const char *content_type;  /* request header, NULL when absent */
    long long declared_length; /* Content-Length header, -1 when absent */
    size_t body_len;           /* bytes received (may be capped at max+1) */
    const api_part_t *image;   /* NULL when the part is missing */
    int image_count;           /* how many parts were named "image" */
    const api_part_t *description;
    int description_count;
    const api_part_t *camera; /* optional: NULL when absent */
    int camera_count;
} api_upload_input_t;

/* Decides in this order: 413 (declared or received body over max_bytes),
 * 422 for every field error (image missing/empty/repeated, description
 * missing/repeated/empty/not UTF-8/over 200 code points, camera repeated or
 * not 1..64 of A-Z a-z 0-9 . _ - (wire_camera_is_valid), an empty camera
 * part included), except that an image
 * present but not starting with FF D8 FF answers 415. Fills *out; returns
 * out->status. Content-Type checks (415 not multipart) are the caller's, via
 * api_multipart_boundary(). */
int api_upload_validate(const api_upload_input_t *in, long long max_bytes, api_upload_t *out);

/* Finds the parts named image, description and camera and validates them: the whole
 * pipeline of a request body, for the HTTP layer and the tests. parts is
 * scratch space of API_MULTIPART_MAX_PARTS entries. */
int api_upload_check(const char *content_type, long long declared_length, const unsigned char *body,
                     size_t body_len, long long max_bytes,
                     api_part_t parts[API_MULTIPART_MAX_PARTS], api_upload_t *out);

#endif
