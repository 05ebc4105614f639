/* upload.c - multipart/form-data parsing and upload validation (see upload.h). */
#include "upload.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "wire.h"

#define BOUNDARY_MAX 70 /* RFC 2046 section 5.1.1 */

static int is_space(char c) { return c == ' ' || c == '\t'; }

int api_multipart_boundary(const char *content_type, char *out, size_t outlen)
{
    static const char type[] = "multipart/form-data";
    if (content_type == NULL) return API_BOUNDARY_NOT_MULTIPART;
    const char *p = content_type;
    while (is_space(*p)) p++;
    if (strncasecmp(p, type, sizeof type - 1) != 0) return API_BOUNDARY_NOT_MULTIPART;
    p += sizeof type - 1;
    if (*p != '\0' && *p != ';' && !is_space(*p))
        return API_BOUNDARY_NOT_MULTIPART; /* e.g. multipart/form-dataX */
    /* Parameters: ; name=value or ; name="quoted" (RFC 9110 section 5.6.6). */
    while (*p != '\0') {
        while (is_space(*p) || *p == ';') p++;
        const char *name = p;
        while (*p != '\0' && *p != '=' && *p != ';') p++;
        size_t name_len = (size_t)(p - name);
        while (name_len > 0 && is_space(name[name_len - 1])) name_len--;
        if (*p != '=') continue;
        p++;
        char value[BOUNDARY_MAX + 2];
        size_t n = 0;
        int too_long = 0;
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0') p++;
                if (n < sizeof value - 1)
                    value[n++] = *p;
                else
                    too_long = 1;
                p++;
            }
            if (*p != '"') return -1; /* unterminated quoted string */
            p++;
        } else {
            while (*p != '\0' && *p != ';' && !is_space(*p)) {
                if (n < sizeof value - 1)
                    value[n++] = *p;
                else
                    too_long = 1;
                p++;
            }
        }
        value[n] = '\0';
        if (name_len == 8 && strncasecmp(name, "boundary", 8) == 0) {
            if (n == 0 || n > BOUNDARY_MAX || too_long || n + 1 > outlen) return -1;
            memcpy(out, value, n + 1);
            return API_BOUNDARY_FOUND;
        }
    }
    return -1;
}

/* Finds needle in [hay, hay+len). */
static const unsigned char *find(const unsigned char *hay, size_t len, const char *needle,
                                 size_t nlen)
{
    return memmem(hay, len, needle, nlen);
}

/* Reads one Content-Disposition parameter value starting at p (after '=').
 * Returns the position after it; *val and *vlen point into the header. */
static const char *param_value(const char *p, const char *end, const char **val, size_t *vlen)
{
    if (p < end && *p == '"') {
        p++;
        *val = p;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) p++;
            p++;
        }
        *vlen = (size_t)(p - *val);
        return p < end ? p + 1 : p;
    }
    *val = p;
    while (p < end && *p != ';' && !is_space(*p)) p++;
    *vlen = (size_t)(p - *val);
    return p;
}

/* Parses the value of a Content-Disposition header line: form-data; name=..;
 * filename=... Returns 0, or -1 when it is not form-data with a name. */
static int parse_disposition(const char *p, const char *end, api_part_t *part)
{
    while (p < end && is_space(*p)) p++;
    if ((size_t)(end - p) < 9 || strncasecmp(p, "form-data", 9) != 0) return -1;
    p += 9;
    while (p < end) {
        while (p < end && (is_space(*p) || *p == ';')) p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';') p++;
        size_t name_len = (size_t)(p - name);
        while (name_len > 0 && is_space(name[name_len - 1])) name_len--;
        if (p >= end || *p != '=') continue;
        p++;
        while (p < end && is_space(*p)) p++;
        const char *val;
        size_t vlen;
        p = param_value(p, end, &val, &vlen);
        if (name_len == 4 && strncasecmp(name, "name", 4) == 0) {
            part->name = val;
            part->name_len = vlen;
        } else if (name_len == 8 && strncasecmp(name, "filename", 8) == 0) {
            part->filename = val;
            part->filename_len = vlen;
        }
    }
    return part->name != NULL ? 0 : -1;
}

/* Parses the header block [h, end) of one part. */
static int parse_part_headers(const char *h, const char *end, api_part_t *part)
{
    static const char cd[] = "content-disposition:";
    int found = 0;
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        if (eol == NULL) eol = end;
        if ((size_t)(eol - h) >= sizeof cd - 1 && strncasecmp(h, cd, sizeof cd - 1) == 0) {
            if (found || parse_disposition(h + sizeof cd - 1, eol, part) != 0) return -1;
            found = 1;
        }
        h = eol + (eol < end ? 2 : 0);
    }
    return found ? 0 : -1;
}

int api_multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                        api_part_t *parts, int maxparts, char *err, size_t errlen)
{
    char delim[BOUNDARY_MAX + 5];
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > BOUNDARY_MAX) {
        snprintf(err, errlen, "invalid boundary");
        return -1;
    }
    /* delim = CRLF "--" boundary; the first delimiter may lack the CRLF. */
    int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const unsigned char *end = body + len;
    const unsigned char *p;
    if (len >= (size_t)dlen - 2 && memcmp(body, delim + 2, (size_t)dlen - 2) == 0) {
        p = body + dlen - 2;
    } else {
        p = find(body, len, delim, (size_t)dlen);
        if (p == NULL) {
            snprintf(err, errlen, "no multipart boundary found in the body");
            return -1;
        }
        p += dlen;
    }
    int n = 0;
    for (;;) {
        /* p is just after a delimiter: "--" closes, else padding and CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return n;
        while (p < end && is_space((char)*p)) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            snprintf(err, errlen, "multipart body is truncated or malformed");
            return -1;
        }
        p += 2;
        if (n == maxparts) {
            snprintf(err, errlen, "more than %d multipart parts", maxparts);
            return -1;
        }
        api_part_t *part = &parts[n];
        memset(part, 0, sizeof *part);
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            /* no headers at all, so no name */
            snprintf(err, errlen, "multipart part %d has no Content-Disposition", n + 1);
            return -1;
        }
        const unsigned char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL) {
            snprintf(err, errlen, "multipart part %d: headers are not terminated", n + 1);
            return -1;
        }
        if (parse_part_headers((const char *)p, (const char *)hend, part) != 0) {
            snprintf(err, errlen,
                     "multipart part %d: missing or invalid Content-Disposition form-data name",
                     n + 1);
            return -1;
        }
        const unsigned char *content = hend + 4;
        const unsigned char *next = find(content, (size_t)(end - content), delim, (size_t)dlen);
        if (next == NULL) {
            snprintf(err, errlen, "multipart part %d is not closed by a boundary", n + 1);
            return -1;
        }
        part->data = content;
        part->len = (size_t)(next - content);
        n++;
        p = next + dlen;
    }
}

static void add_error(api_upload_t *out, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(api_upload_t *out, const char *field, const char *fmt, ...)
{
    if (out->nerrors == API_MAX_FIELD_ERRORS) return;
    api_field_error_t *e = &out->errors[out->nerrors++];
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static int verdict(api_upload_t *out, int status, const char *title, const char *detail)
{
    out->status = status;
    out->title = title;
    snprintf(out->detail, sizeof out->detail, "%s", detail);
    return status;
}

int api_upload_validate(const api_upload_input_t *in, long long max_bytes, api_upload_t *out)
{
    memset(out, 0, sizeof *out);
    if (in->declared_length > max_bytes || (long long)in->body_len > max_bytes) {
        add_error(out, "body", "the request body is larger than %lld bytes", max_bytes);
        return verdict(out, 413, "Content Too Large", "the upload is larger than MAX_UPLOAD_BYTES");
    }

    int image_ok = 0;
    if (in->image == NULL || in->image_count == 0)
        add_error(out, "image", "the image part is missing");
    else if (in->image_count > 1)
        add_error(out, "image", "the image part is sent %d times; send it once", in->image_count);
    else if (in->image->len == 0)
        add_error(out, "image", "the image part is empty");
    else
        image_ok = 1;

    if (image_ok) {
        const unsigned char *d = in->image->data;
        if (in->image->len < 3 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF) {
            out->nerrors = 0;
            add_error(out, "image", "not a JPEG: the data must start with FF D8 FF");
            return verdict(out, 415, "Unsupported Media Type", "the image is not a JPEG");
        }
    }

    const api_part_t *desc = in->description;
    int desc_ok = 0;
    if (desc == NULL || in->description_count == 0) {
        add_error(out, "description", "the description part is missing");
    } else if (in->description_count > 1) {
        add_error(out, "description", "the description part is sent %d times; send it once",
                  in->description_count);
    } else if (desc->len == 0) {
        add_error(out, "description", "the description is empty");
    } else {
        long chars = utf8_count((const char *)desc->data, desc->len);
        if (chars < 0)
            add_error(out, "description", "the description is not valid UTF-8 text");
        else if (chars > API_DESCRIPTION_MAX_CHARS)
            add_error(out, "description",
                      "the description has %ld characters; at most 200 are allowed", chars);
        else
            desc_ok = 1;
    }

    /* Optional; when sent it must be a camera name (an empty part is not
     * "no camera": a client that sends the part meant one). */
    const api_part_t *cam = in->camera;
    int cam_ok = 1;
    if (cam != NULL && in->camera_count > 1) {
        add_error(out, "camera", "the camera part is sent %d times; send it once",
                  in->camera_count);
        cam_ok = 0;
    } else if (cam != NULL && in->camera_count == 1 &&
               !wire_camera_is_valid((const char *)cam->data, cam->len)) {
        add_error(out, "camera", "%s",
                  cam->len == 0 ? "the camera part is empty; leave it out for no camera"
                                : "the camera must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        cam_ok = 0;
    }

    if (!image_ok || !desc_ok || !cam_ok)
        return verdict(out, 422, "Unprocessable Content", "the upload is not valid");

    out->image = in->image->data;
    out->image_len = in->image->len;
    out->description = (const char *)desc->data;
    out->description_len = desc->len;
    if (cam != NULL && in->camera_count == 1) {
        out->camera = (const char *)cam->data;
        out->camera_len = cam->len;
    }
    return 0;
}

static int name_is(const api_part_t *p, const char *name)
{
    size_t n = strlen(name);
    return p->name_len == n && memcmp(p->name, name, n) == 0;
}

int api_upload_check(const char *content_type, long long declared_length, const unsigned char *body,
                     size_t body_len, long long max_bytes,
                     api_part_t parts[API_MULTIPART_MAX_PARTS], api_upload_t *out)
{
    api_upload_input_t in = {
        .content_type = content_type, .declared_length = declared_length, .body_len = body_len};
    memset(out, 0, sizeof *out);
    if (declared_length > max_bytes || (long long)body_len > max_bytes)
        return api_upload_validate(&in, max_bytes, out);

    char boundary[BOUNDARY_MAX + 1];
    int b = api_multipart_boundary(content_type, boundary, sizeof boundary);
    if (b != API_BOUNDARY_FOUND) {
        add_error(out, "Content-Type", "%s",
                  b == API_BOUNDARY_NOT_MULTIPART
                      ? "must be multipart/form-data"
                      : "multipart/form-data needs a valid boundary parameter");
        return verdict(out, 415, "Unsupported Media Type",
                       "the request body must be multipart/form-data");
    }
    char err[160];
    int n = api_multipart_parse(body, body_len, boundary, parts, API_MULTIPART_MAX_PARTS, err,
                                sizeof err);
    if (n < 0) {
        add_error(out, "body", "%s", err);
        return verdict(out, 422, "Unprocessable Content", "the multipart body is malformed");
    }
    for (int i = 0; i < n; i++) {
        if (name_is(&parts[i], "image")) {
            if (in.image_count++ == 0) in.image = &parts[i];
        } else if (name_is(&parts[i], "description")) {
            if (in.description_count++ == 0) in.description = &parts[i];
        } else if (name_is(&parts[i], "camera")) {
            if (in.camera_count++ == 0) in.camera = &parts[i];
        }
    }
    return api_upload_validate(&in, max_bytes, out);
}
