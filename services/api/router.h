/* router.h - which handler answers a request, and whether it may (pure: no
 * HTTP library, no I/O; services/api/README.md, Routing).
 *
 * A path is matched segment by segment against a fixed table, as Ulfius
 * matches its endpoints: empty segments are skipped ("//api/images/" is
 * "/api/images"), segments compare case-sensitively, and the "*" segment of
 * a route (the image id, an asset name) is percent-decoded into the match.
 * The server routes with this rather than with one Ulfius endpoint per
 * route: Ulfius splits the URL and every endpoint's format into allocated
 * strings on each request, about a tenth of the CPU of a cached image read. */
#ifndef IMGCAP_API_ROUTER_H
#define IMGCAP_API_ROUTER_H

#include <stddef.h>

#include "metrics.h"
#include "uuid.h"

/* The handler a matched request goes to (handlers.h, images.h). */
typedef enum {
    API_HANDLER_NONE = 0,  /* no route (404) or a method the route does not take (405) */
    API_HANDLER_LIST,      /* GET/HEAD /api/images */
    API_HANDLER_UPLOAD,    /* POST /api/images */
    API_HANDLER_IMAGE,     /* GET/HEAD /api/images/{id} */
    API_HANDLER_DELETE,    /* DELETE /api/images/{id} */
    API_HANDLER_THUMBNAIL, /* GET/HEAD /api/images/{id}/thumbnail */
    API_HANDLER_HEALTH,
    API_HANDLER_OPENAPI,
    API_HANDLER_DOCS,
    API_HANDLER_METRICS,
    API_HANDLER_ASSET,         /* /assets/{name} */
    API_HANDLER_SWAGGER_ASSET, /* /assets/swagger-ui/{name} */
    API_HANDLER_EVENTS,
    API_HANDLER_PAGE, /* / */
    API_HANDLER_COUNT
} api_handler_t;

typedef enum {
    API_MATCH_FOUND = 0, /* handler set */
    API_MATCH_NO_PATH,   /* 404 */
    API_MATCH_NO_METHOD, /* 405 with allow */
} api_match_outcome_t;

/* The decoded "*" segment: room for an image id and one byte more, so that a
 * longer segment (cut to fit) is never a valid id. */
#define API_ROUTE_PARAM_SIZE (UUID_STR_LEN + 1)

typedef struct api_match {
    api_route_t route;     /* the metrics label; API_ROUTE_OTHER when no path matched */
    api_handler_t handler; /* API_HANDLER_NONE unless API_MATCH_FOUND */
    const char *allow;     /* the path's methods, for 405's Allow; NULL when no path matched */
    int is_post;           /* the method is POST (an upload: always guarded by API_TOKEN) */
    int is_delete;         /* the method is DELETE: needs API_TOKEN configured and sent */
    int read_auth;         /* a read guarded by API_TOKEN when API_TOKEN_READS=1 */
    char param[API_ROUTE_PARAM_SIZE]; /* the "*" segment, decoded, cut to fit */
} api_match_t;

/* Matches method ("GET", "HEAD", "POST", ...; case-sensitive, NULL is no
 * method) and url_path (without the query; NULL is "") against the routes,
 * filling *m. GET and HEAD go to the same handler. */
api_match_outcome_t api_route_match(const char *method, const char *url_path, api_match_t *m);

/* Copies the URL segment [s, s + n) into out (outlen > 0 bytes) with every
 * %XX (two hex digits, either case) decoded and everything else, '+' and a
 * '%' without two hex digits included, copied as it is; cut to fit and
 * NUL-terminated. Returns the number of bytes written before the NUL (a %00
 * writes a NUL byte inside that count). */
size_t api_url_decode(const char *s, size_t n, char *out, size_t outlen);

/* 1 if [s, s + n) holds an encoded NUL ("%00"). Decoded, it would end a C
 * string early: the router's segment, and the query values MHD decodes in
 * place, would silently lose what follows it ("limit=1%00abc" read as
 * "limit=1"), so a URL holding one is refused instead (server.c). */
int api_url_has_nul(const char *s, size_t n);

/* For a raw query string (what follows '?', not decoded): 1 if one of its
 * parameters holds an encoded NUL, its raw name (cut to fit) in name; else 0. */
int api_query_nul_param(const char *query, char *name, size_t namelen);

/* 1 if the Authorization header value (NULL when absent) is "Bearer "
 * (scheme case-insensitive), optional further spaces, then exactly token; 0
 * otherwise. Takes the same time wherever the first difference is. */
int api_bearer_ok(const char *authorization, const char *token);

/* 1 if a request matched as m may be answered: API_TOKEN (token) is empty,
 * or the request is a read that API_TOKEN_READS (token_reads) does not
 * guard, or authorization carries the token (api_bearer_ok). 0 otherwise.
 * A DELETE always needs the token: 0 while none is configured (the caller
 * answers 403 then, 401 otherwise). */
int api_authorized(const api_match_t *m, const char *authorization, const char *token,
                   int token_reads);

#endif
