/* listpage.h - the JSON of a GET /api/images page, written straight into a
 * buffer from the rows (pure: no I/O, no DOM).
 *
 * Why not jansson: a page of 100 items built as a DOM and dumped cost the api
 * about three quarters of its CPU per list request (an object, six keys and
 * six strings allocated per item, then walked again to print). Written
 * directly, a page is one pass over each field. The bytes are the ones
 * jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) prints for the
 * same document (the unit test compares both), so clients see no change:
 *   {"items":[{"id":..,"received_at":..,"description":..,"camera":..|null,
 *              "url":"/api/images/<id>","thumbnail_url":"/api/images/<id>/thumbnail"|null},
 *             ...],"next":"<url>"|null}
 *
 * Errors: each function returns 0, or -1 when the buffer's cap or memory ran
 * out, or when a field is not valid UTF-8 (text from PostgreSQL with a UTF8
 * database always is; a page is refused whole rather than shown with an item
 * silently missing). */
#ifndef IMGCAP_API_LISTPAGE_H
#define IMGCAP_API_LISTPAGE_H

#include "dynbuf.h"

/* One row of the page; camera NULL: none. The strings are borrowed. */
typedef struct api_listpage_item {
    const char *id;
    const char *received_at;
    const char *description;
    const char *camera;
    int has_thumbnail;
} api_listpage_item_t;

/* Starts a page in b (b's contents are replaced). */
int api_listpage_begin(dynbuf_t *b);
/* Appends an item; index 0 for the first item of the page. The id must be a
 * canonical lower-case UUID (it is also written into the URLs unescaped). */
int api_listpage_add(dynbuf_t *b, const api_listpage_item_t *item, int index);
/* Ends the page with its next link (NULL: null). ptr[len] is NUL after it. */
int api_listpage_end(dynbuf_t *b, const char *next_url);

/* Appends s (len bytes, valid UTF-8) as a JSON string: quotes, and escapes
 * for '"', '\\' and control characters as jansson prints them. */
int api_listpage_add_string(dynbuf_t *b, const char *s, size_t len);

#endif
