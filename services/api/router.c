/* router.c - route matching, URL segment decoding and the token check (see
 * router.h). */
#include "router.h"

#include <string.h>
#include <strings.h>

typedef struct route {
    api_route_t id;
    const char *path;  /* its segments, '/'-separated; "*" is the decoded segment */
    const char *allow; /* methods for 405's Allow header */
    api_handler_t get; /* GET and HEAD */
    api_handler_t post;
    api_handler_t del; /* DELETE */
    int read_auth;     /* guarded by API_TOKEN when API_TOKEN_READS=1 */
} route_t;

/* First match wins. The asset routes cannot take each other's paths: a "*"
 * is exactly one segment. */
static const route_t ROUTES[] = {
    {API_ROUTE_IMAGES, "api/images", "GET, HEAD, POST", API_HANDLER_LIST, API_HANDLER_UPLOAD,
     API_HANDLER_NONE, 1},
    {API_ROUTE_IMAGE, "api/images/*", "GET, HEAD, DELETE", API_HANDLER_IMAGE, API_HANDLER_NONE,
     API_HANDLER_DELETE, 1},
    {API_ROUTE_THUMBNAIL, "api/images/*/thumbnail", "GET, HEAD", API_HANDLER_THUMBNAIL,
     API_HANDLER_NONE, API_HANDLER_NONE, 1},
    {API_ROUTE_HEALTH, "health", "GET, HEAD", API_HANDLER_HEALTH, API_HANDLER_NONE,
     API_HANDLER_NONE, 0},
    {API_ROUTE_OPENAPI, "api/openapi.json", "GET, HEAD", API_HANDLER_OPENAPI, API_HANDLER_NONE,
     API_HANDLER_NONE, 0},
    {API_ROUTE_DOCS, "docs", "GET, HEAD", API_HANDLER_DOCS, API_HANDLER_NONE, API_HANDLER_NONE, 0},
    {API_ROUTE_METRICS, "metrics", "GET, HEAD", API_HANDLER_METRICS, API_HANDLER_NONE,
     API_HANDLER_NONE, 0},
    {API_ROUTE_ASSETS, "assets/*", "GET, HEAD", API_HANDLER_ASSET, API_HANDLER_NONE,
     API_HANDLER_NONE, 0},
    {API_ROUTE_ASSETS, "assets/swagger-ui/*", "GET, HEAD", API_HANDLER_SWAGGER_ASSET,
     API_HANDLER_NONE, API_HANDLER_NONE, 0},
    {API_ROUTE_EVENTS, "api/events", "GET, HEAD", API_HANDLER_EVENTS, API_HANDLER_NONE,
     API_HANDLER_NONE, 1},
    {API_ROUTE_PAGE, "", "GET, HEAD", API_HANDLER_PAGE, API_HANDLER_NONE, API_HANDLER_NONE, 0},
};

static int hex_value(char h)
{
    return h >= '0' && h <= '9'   ? h - '0'
           : h >= 'a' && h <= 'f' ? h - 'a' + 10
           : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                  : -1;
}

size_t api_url_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

int api_url_has_nul(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '%' && s[i + 1] == '0' && s[i + 2] == '0') return 1;
    return 0;
}

int api_query_nul_param(const char *query, char *name, size_t namelen)
{
    const char *p = query != NULL ? query : "";
    while (*p != '\0') {
        size_t len = strcspn(p, "&");
        if (api_url_has_nul(p, len)) {
            size_t klen = strcspn(p, "=&");
            if (klen >= namelen) klen = namelen - 1;
            memcpy(name, p, klen);
            name[klen] = '\0';
            return 1;
        }
        p += len;
        if (*p == '&') p++;
    }
    return 0;
}

/* 1 if url_path is the path of r, its "*" segment decoded into param. */
static int path_matches(const route_t *r, const char *url_path, char *param, size_t paramlen)
{
    const char *u = url_path, *f = r->path;
    for (;;) {
        while (*u == '/') u++;
        if (*f == '\0') return *u == '\0';
        size_t ul = strcspn(u, "/"), fl = strcspn(f, "/");
        if (ul == 0) return 0;
        if (fl == 1 && f[0] == '*')
            api_url_decode(u, ul, param, paramlen);
        else if (ul != fl || memcmp(u, f, ul) != 0)
            return 0;
        u += ul;
        f += fl;
        if (*f == '/') f++;
    }
}

api_match_outcome_t api_route_match(const char *method, const char *url_path, api_match_t *m)
{
    const char *meth = method != NULL ? method : "";
    m->route = API_ROUTE_OTHER;
    m->handler = API_HANDLER_NONE;
    m->allow = NULL;
    m->is_post = strcmp(meth, "POST") == 0;
    m->is_delete = strcmp(meth, "DELETE") == 0;
    m->read_auth = 0;
    m->param[0] = '\0';
    const route_t *r = NULL;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0] && r == NULL; i++)
        if (path_matches(&ROUTES[i], url_path != NULL ? url_path : "", m->param, sizeof m->param))
            r = &ROUTES[i];
    if (r == NULL) {
        m->param[0] = '\0'; /* what a route that did not match decoded */
        return API_MATCH_NO_PATH;
    }
    m->route = r->id;
    m->allow = r->allow;
    m->read_auth = r->read_auth;
    if (strcmp(meth, "GET") == 0 || strcmp(meth, "HEAD") == 0)
        m->handler = r->get;
    else if (m->is_post)
        m->handler = r->post;
    else if (m->is_delete)
        m->handler = r->del;
    return m->handler == API_HANDLER_NONE ? API_MATCH_NO_METHOD : API_MATCH_FOUND;
}

/* 1 if a equals b, in time independent of where the first difference is
 * (it depends on a's length only: a is the client's). */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb > 0 ? lb : 1)]);
    return diff == 0;
}

int api_bearer_ok(const char *authorization, const char *token)
{
    const char *h = authorization;
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    return token_equal(h, token);
}

int api_authorized(const api_match_t *m, const char *authorization, const char *token,
                   int token_reads)
{
    /* Deleting is never open: without a configured token it is disabled. */
    if (m->is_delete) return token[0] != '\0' && api_bearer_ok(authorization, token);
    if (token[0] == '\0') return 1;
    if (!m->is_post && !(token_reads && m->read_auth)) return 1;
    return api_bearer_ok(authorization, token);
}
