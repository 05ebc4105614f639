/* Unit tests of services/api/router.c (route matching, URL segment decoding,
 * the API token check) and docs.c (the /docs page). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/docs.h"
#include "api/router.h"

#define ID "018f3c2a-7b1d-7c3e-9a4f-0123456789ab"

/* Matches and checks the outcome, route and handler in one line. */
static void expect(const char *method, const char *path, api_match_outcome_t outcome,
                   api_route_t route, api_handler_t handler, api_match_t *m)
{
    api_match_outcome_t got = api_route_match(method, path, m);
    const char *ms = method != NULL ? method : "(null)", *ps = path != NULL ? path : "(null)";
    ck_assert_msg(got == outcome, "%s %s: outcome %d, want %d", ms, ps, (int)got, (int)outcome);
    ck_assert_msg(m->route == route, "%s %s: route %d, want %d", ms, ps, (int)m->route, (int)route);
    ck_assert_msg(m->handler == handler, "%s %s: handler %d, want %d", ms, ps, (int)m->handler,
                  (int)handler);
}

START_TEST(every_route)
{
    api_match_t m;
    expect("GET", "/api/images", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_LIST, &m);
    ck_assert_str_eq(m.allow, "GET, HEAD, POST");
    ck_assert_int_eq(m.read_auth, 1);
    ck_assert_int_eq(m.is_post, 0);
    expect("HEAD", "/api/images", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_LIST, &m);
    expect("POST", "/api/images", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_UPLOAD, &m);
    ck_assert_int_eq(m.is_post, 1);
    expect("GET", "/api/images/" ID, API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE, &m);
    ck_assert_str_eq(m.param, ID);
    ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
    ck_assert_int_eq(m.read_auth, 1);
    ck_assert_int_eq(m.is_delete, 0);
    expect("HEAD", "/api/images/" ID, API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE, &m);
    expect("DELETE", "/api/images/" ID, API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_DELETE, &m);
    ck_assert_str_eq(m.param, ID);
    ck_assert_int_eq(m.is_delete, 1);
    ck_assert_int_eq(m.is_post, 0);
    expect("GET", "/api/images/" ID "/thumbnail", API_MATCH_FOUND, API_ROUTE_THUMBNAIL,
           API_HANDLER_THUMBNAIL, &m);
    ck_assert_str_eq(m.param, ID);
    ck_assert_str_eq(m.allow, "GET, HEAD");
    ck_assert_int_eq(m.read_auth, 1);
    expect("HEAD", "/api/images/" ID "/thumbnail", API_MATCH_FOUND, API_ROUTE_THUMBNAIL,
           API_HANDLER_THUMBNAIL, &m);
    expect("GET", "/health", API_MATCH_FOUND, API_ROUTE_HEALTH, API_HANDLER_HEALTH, &m);
    ck_assert_int_eq(m.read_auth, 0);
    expect("GET", "/api/openapi.json", API_MATCH_FOUND, API_ROUTE_OPENAPI, API_HANDLER_OPENAPI, &m);
    expect("GET", "/docs", API_MATCH_FOUND, API_ROUTE_DOCS, API_HANDLER_DOCS, &m);
    expect("GET", "/metrics", API_MATCH_FOUND, API_ROUTE_METRICS, API_HANDLER_METRICS, &m);
    expect("GET", "/assets/gallery.css", API_MATCH_FOUND, API_ROUTE_ASSETS, API_HANDLER_ASSET, &m);
    ck_assert_str_eq(m.param, "gallery.css");
    expect("GET", "/assets/swagger-ui/swagger-ui.css", API_MATCH_FOUND, API_ROUTE_ASSETS,
           API_HANDLER_SWAGGER_ASSET, &m);
    ck_assert_str_eq(m.param, "swagger-ui.css");
    expect("GET", "/api/events", API_MATCH_FOUND, API_ROUTE_EVENTS, API_HANDLER_EVENTS, &m);
    ck_assert_int_eq(m.read_auth, 1);
    expect("GET", "/", API_MATCH_FOUND, API_ROUTE_PAGE, API_HANDLER_PAGE, &m);
    ck_assert_int_eq(m.read_auth, 0);
    /* What no path and an absent path mean: the page. */
    expect("GET", "", API_MATCH_FOUND, API_ROUTE_PAGE, API_HANDLER_PAGE, &m);
    expect("GET", NULL, API_MATCH_FOUND, API_ROUTE_PAGE, API_HANDLER_PAGE, &m);
}
END_TEST

START_TEST(wrong_methods)
{
    api_match_t m;
    /* A known path with a method it does not take: 405 with its Allow. */
    expect("POST", "/api/images/" ID, API_MATCH_NO_METHOD, API_ROUTE_IMAGE, API_HANDLER_NONE, &m);
    ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
    expect("PUT", "/api/images/" ID, API_MATCH_NO_METHOD, API_ROUTE_IMAGE, API_HANDLER_NONE, &m);
    /* A thumbnail is deleted with its image, never alone. */
    expect("DELETE", "/api/images/" ID "/thumbnail", API_MATCH_NO_METHOD, API_ROUTE_THUMBNAIL,
           API_HANDLER_NONE, &m);
    ck_assert_str_eq(m.allow, "GET, HEAD");
    expect("POST", "/api/images/" ID "/thumbnail", API_MATCH_NO_METHOD, API_ROUTE_THUMBNAIL,
           API_HANDLER_NONE, &m);
    /* Methods are case-sensitive: "delete" is not DELETE. */
    expect("delete", "/api/images/" ID, API_MATCH_NO_METHOD, API_ROUTE_IMAGE, API_HANDLER_NONE, &m);
    ck_assert_int_eq(m.is_delete, 0);
    expect("DELETE", "/api/images", API_MATCH_NO_METHOD, API_ROUTE_IMAGES, API_HANDLER_NONE, &m);
    ck_assert_str_eq(m.allow, "GET, HEAD, POST");
    expect("PUT", "/health", API_MATCH_NO_METHOD, API_ROUTE_HEALTH, API_HANDLER_NONE, &m);
    expect("POST", "/", API_MATCH_NO_METHOD, API_ROUTE_PAGE, API_HANDLER_NONE, &m);
    expect("POST", "/docs", API_MATCH_NO_METHOD, API_ROUTE_DOCS, API_HANDLER_NONE, &m);
    expect("OPTIONS", "/api/events", API_MATCH_NO_METHOD, API_ROUTE_EVENTS, API_HANDLER_NONE, &m);
    /* Methods are case-sensitive (RFC 9110): "get" is not GET. */
    expect("get", "/health", API_MATCH_NO_METHOD, API_ROUTE_HEALTH, API_HANDLER_NONE, &m);
    expect("post", "/api/images", API_MATCH_NO_METHOD, API_ROUTE_IMAGES, API_HANDLER_NONE, &m);
    ck_assert_int_eq(m.is_post, 0);
    expect("GETX", "/health", API_MATCH_NO_METHOD, API_ROUTE_HEALTH, API_HANDLER_NONE, &m);
    expect("", "/health", API_MATCH_NO_METHOD, API_ROUTE_HEALTH, API_HANDLER_NONE, &m);
    expect(NULL, "/health", API_MATCH_NO_METHOD, API_ROUTE_HEALTH, API_HANDLER_NONE, &m);
    /* An unknown path is 404 whatever the method (never 405). */
    expect("DELETE", "/nope", API_MATCH_NO_PATH, API_ROUTE_OTHER, API_HANDLER_NONE, &m);
    ck_assert_ptr_null(m.allow);
    expect("GET", "/nope", API_MATCH_NO_PATH, API_ROUTE_OTHER, API_HANDLER_NONE, &m);
    expect("POST", "/api", API_MATCH_NO_PATH, API_ROUTE_OTHER, API_HANDLER_NONE, &m);
}
END_TEST

START_TEST(odd_paths)
{
    api_match_t m;
    /* Empty segments are skipped: doubled and trailing slashes match. */
    expect("GET", "//api//images//", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_LIST, &m);
    expect("GET", "api/images", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_LIST, &m);
    expect("GET", "/docs/", API_MATCH_FOUND, API_ROUTE_DOCS, API_HANDLER_DOCS, &m);
    expect("GET", "///", API_MATCH_FOUND, API_ROUTE_PAGE, API_HANDLER_PAGE, &m);
    /* ... so an empty id is no id: the list. */
    expect("GET", "/api/images/", API_MATCH_FOUND, API_ROUTE_IMAGES, API_HANDLER_LIST, &m);
    expect("GET", "/api/images//" ID "/", API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE, &m);
    ck_assert_str_eq(m.param, ID);
    /* Segments compare exactly and whole; a "*" is one segment, so more
     * segments are no route. */
    static const char *const no_route[] = {
        "/API/images",
        "/api/imagesx",
        "/api/image",
        "/healthz",
        "/api/images%2Fx",
        "/assets",
        "/assets/",
        "/assets/a/b",
        "/%64ocs",
        "/docs/x",
        "/api/openapi.json/x",
        "/api/events/x",
        "/api/images/" ID "/thumbnails",
        "/api/images/" ID "/Thumbnail",
        "/api/images/" ID "/thumbnail/x",
        "/api/images/thumbnail/x",
        "/api/images/" ID "/x", /* last: see below */
    };
    for (size_t i = 0; i < sizeof no_route / sizeof no_route[0]; i++)
        expect("GET", no_route[i], API_MATCH_NO_PATH, API_ROUTE_OTHER, API_HANDLER_NONE, &m);
    ck_assert_str_eq(m.param, ""); /* what the image route decoded is not kept */
    /* "swagger-ui" alone is a name under /assets/. */
    expect("GET", "/assets/swagger-ui/", API_MATCH_FOUND, API_ROUTE_ASSETS, API_HANDLER_ASSET, &m);
    ck_assert_str_eq(m.param, "swagger-ui");
    /* The "*" segment is decoded; the others are not. */
    expect("GET", "/api/images/%2F", API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE, &m);
    ck_assert_str_eq(m.param, "/");
    expect("GET", "//api/images/%30x//thumbnail/", API_MATCH_FOUND, API_ROUTE_THUMBNAIL,
           API_HANDLER_THUMBNAIL, &m);
    ck_assert_str_eq(m.param, "0x");
    /* "thumbnail" as the id is the image route: an id is one segment. */
    expect("GET", "/api/images/thumbnail", API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE, &m);
    ck_assert_str_eq(m.param, "thumbnail");
    expect("GET", "/assets/a%2Fb", API_MATCH_FOUND, API_ROUTE_ASSETS, API_HANDLER_ASSET, &m);
    ck_assert_str_eq(m.param, "a/b");
    /* A long segment is cut to API_ROUTE_PARAM_SIZE - 1 bytes, one more than an id. */
    expect("GET", "/api/images/" ID "ffffffff", API_MATCH_FOUND, API_ROUTE_IMAGE, API_HANDLER_IMAGE,
           &m);
    ck_assert_uint_eq(strlen(m.param), API_ROUTE_PARAM_SIZE - 1);
    ck_assert_uint_eq(strlen(m.param), strlen(ID) + 1);
    ck_assert(strncmp(m.param, ID "f", strlen(ID) + 1) == 0);
}
END_TEST

static size_t decode(const char *s, char *out, size_t outlen)
{
    return api_url_decode(s, strlen(s), out, outlen);
}

START_TEST(url_decoding)
{
    char out[64];
    ck_assert_uint_eq(decode("abc", out, sizeof out), 3);
    ck_assert_str_eq(out, "abc");
    ck_assert_uint_eq(decode("%41%4a%4A%7e", out, sizeof out), 4);
    ck_assert_str_eq(out, "AJJ~");
    ck_assert_uint_eq(decode("%e2%82%ac", out, sizeof out), 3); /* bytes, not characters */
    ck_assert_str_eq(out, "\xe2\x82\xac");
    /* '+' is a space only in a form body or a query, not in a path. */
    ck_assert_uint_eq(decode("a+b", out, sizeof out), 3);
    ck_assert_str_eq(out, "a+b");
    /* A '%' without two hex digits is kept as it is. */
    decode("%", out, sizeof out);
    ck_assert_str_eq(out, "%");
    decode("%4", out, sizeof out);
    ck_assert_str_eq(out, "%4");
    decode("%zz%4g%g4", out, sizeof out);
    ck_assert_str_eq(out, "%zz%4g%g4");
    decode("%%41", out, sizeof out);
    ck_assert_str_eq(out, "%A");
    decode("100%", out, sizeof out);
    ck_assert_str_eq(out, "100%");
    /* %00 writes a NUL: as a C string the segment ends there. */
    ck_assert_uint_eq(decode("a%00b", out, sizeof out), 3);
    ck_assert_str_eq(out, "a");
    ck_assert_int_eq(out[2], 'b');
    /* Only the n bytes given are read: "%41" cut after "%4" is no escape. */
    ck_assert_uint_eq(api_url_decode("%41", 2, out, sizeof out), 2);
    ck_assert_str_eq(out, "%4");
    ck_assert_uint_eq(api_url_decode("", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* Cut to fit, always terminated. */
    ck_assert_uint_eq(decode("abcdef", out, 4), 3);
    ck_assert_str_eq(out, "abc");
    ck_assert_uint_eq(decode("ab%41", out, 3), 2);
    ck_assert_str_eq(out, "ab");
    ck_assert_uint_eq(decode("abc", out, 1), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

/* An encoded NUL anywhere in a path or a query parameter is found, with the
 * raw name of the parameter holding it; "%2500" (a literal "%00") is not one. */
START_TEST(encoded_nul)
{
    ck_assert_int_eq(api_url_has_nul("/api/images/x%00y", 17), 1);
    ck_assert_int_eq(api_url_has_nul("%00", 3), 1);
    ck_assert_int_eq(api_url_has_nul("%00", 2), 0); /* only the n bytes given */
    ck_assert_int_eq(api_url_has_nul("%2500%0a%100", 12), 0);
    ck_assert_int_eq(api_url_has_nul("", 0), 0);
    char name[8];
    ck_assert_int_eq(api_query_nul_param("limit=1%00abc", name, sizeof name), 1);
    ck_assert_str_eq(name, "limit");
    ck_assert_int_eq(api_query_nul_param("limit=5&q=ab%00c&camera=x", name, sizeof name), 1);
    ck_assert_str_eq(name, "q");
    ck_assert_int_eq(api_query_nul_param("li%00mit=5", name, sizeof name), 1);
    ck_assert_str_eq(name, "li%00mi"); /* cut to fit */
    ck_assert_int_eq(api_query_nul_param("%00", name, sizeof name), 1);
    ck_assert_str_eq(name, "%00");
    ck_assert_int_eq(api_query_nul_param("limit=5&&q=%2500", name, sizeof name), 0);
    ck_assert_int_eq(api_query_nul_param("", name, sizeof name), 0);
    ck_assert_int_eq(api_query_nul_param(NULL, name, sizeof name), 0);
}
END_TEST

START_TEST(bearer_token)
{
    static const struct {
        const char *header;
        int ok;
    } cases[] = {
        {"Bearer s3cret-Token", 1},
        {"bearer s3cret-Token", 1}, /* the scheme's case is free */
        {"BEARER s3cret-Token", 1},
        {"Bearer    s3cret-Token", 1},
        {NULL, 0},
        {"", 0},
        {"Bearer", 0},
        {"Bearer ", 0},
        {"Bearers3cret-Token", 0},
        {"Basic s3cret-Token", 0},
        {"s3cret-Token", 0},
        {" Bearer s3cret-Token", 0},
        {"Bearer s3cret-token", 0}, /* the token's case is not */
        {"Bearer s3cret-Token ", 0},
        {"Bearer s3cret-Toke", 0},
        {"Bearer s3cret-Tokens3cret-Token", 0},
        {"Bearer x3cret-Token", 0},
        {"Bearer \ts3cret-Token", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(api_bearer_ok(cases[i].header, "s3cret-Token") == cases[i].ok, "%s",
                      cases[i].header != NULL ? cases[i].header : "(null)");
    /* A token that repeats the configured one's bytes (the comparison wraps
     * around the shorter string) is still refused. */
    ck_assert_int_eq(api_bearer_ok("Bearer abab", "ab"), 0);
    ck_assert_int_eq(api_bearer_ok("Bearer ab", "abab"), 0);
}
END_TEST

static int authorized(const char *method, const char *path, const char *header, const char *token,
                      int token_reads)
{
    api_match_t m;
    ck_assert(api_route_match(method, path, &m) == API_MATCH_FOUND);
    return api_authorized(&m, header, token, token_reads);
}

START_TEST(authorization)
{
    const char *ok = "Bearer tok", *bad = "Bearer nope";
    /* No API_TOKEN: everything is open, whatever the header says. */
    ck_assert_int_eq(authorized("POST", "/api/images", NULL, "", 0), 1);
    ck_assert_int_eq(authorized("POST", "/api/images", bad, "", 1), 1);
    ck_assert_int_eq(authorized("GET", "/api/images", NULL, "", 1), 1);
    /* API_TOKEN: uploads need it ... */
    ck_assert_int_eq(authorized("POST", "/api/images", NULL, "tok", 0), 0);
    ck_assert_int_eq(authorized("POST", "/api/images", bad, "tok", 0), 0);
    ck_assert_int_eq(authorized("POST", "/api/images", ok, "tok", 0), 1);
    /* ... reads do not, unless API_TOKEN_READS=1, and then only the data. */
    const char *data[] = {"/api/images", "/api/images/" ID, "/api/events"};
    const char *open[] = {"/health",
                          "/metrics",
                          "/docs",
                          "/api/openapi.json",
                          "/",
                          "/assets/gallery.js",
                          "/assets/swagger-ui/swagger-ui.css"};
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
        ck_assert_int_eq(authorized("GET", data[i], NULL, "tok", 0), 1);
        ck_assert_int_eq(authorized("GET", data[i], NULL, "tok", 1), 0);
        ck_assert_int_eq(authorized("HEAD", data[i], bad, "tok", 1), 0);
        ck_assert_int_eq(authorized("GET", data[i], ok, "tok", 1), 1);
    }
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++)
        ck_assert_int_eq(authorized("GET", open[i], NULL, "tok", 1), 1);
    const char *thumb = "/api/images/" ID "/thumbnail";
    ck_assert_int_eq(authorized("GET", thumb, NULL, "", 1), 1);
    ck_assert_int_eq(authorized("GET", thumb, NULL, "tok", 0), 1);
    ck_assert_int_eq(authorized("GET", thumb, NULL, "tok", 1), 0);
    ck_assert_int_eq(authorized("GET", thumb, ok, "tok", 1), 1);
}
END_TEST

START_TEST(deletion_needs_the_token)
{
    const char *img = "/api/images/" ID;
    /* Without API_TOKEN a DELETE is never authorized (dispatch answers 403),
     * whatever the header says: an empty token cannot match. */
    ck_assert_int_eq(authorized("DELETE", img, NULL, "", 0), 0);
    ck_assert_int_eq(authorized("DELETE", img, "Bearer ", "", 1), 0);
    ck_assert_int_eq(authorized("DELETE", img, "Bearer tok", "", 0), 0);
    /* With it, only the right bearer token, whatever API_TOKEN_READS says. */
    ck_assert_int_eq(authorized("DELETE", img, NULL, "tok", 0), 0);
    ck_assert_int_eq(authorized("DELETE", img, "Bearer nope", "tok", 0), 0);
    ck_assert_int_eq(authorized("DELETE", img, "Basic tok", "tok", 1), 0);
    ck_assert_int_eq(authorized("DELETE", img, "Bearer tok", "tok", 0), 1);
    ck_assert_int_eq(authorized("DELETE", img, "bearer  tok", "tok", 1), 1);
}
END_TEST

START_TEST(docs_page)
{
    size_t len = 0;
    char *html = api_docs_html("", 1, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert_uint_eq(len, strlen(html));
    ck_assert_ptr_nonnull(strstr(html, "href=\"" API_SWAGGER_UI_LOCAL "/swagger-ui.css\""));
    ck_assert_ptr_nonnull(strstr(html, "src=\"" API_SWAGGER_UI_LOCAL "/swagger-ui-bundle.js\""));
    ck_assert_ptr_nonnull(strstr(html, "url: \"/api/openapi.json\""));
    ck_assert_ptr_null(strstr(html, "authorizeOperationBtn"));
    free(html);
    /* No token configured: the lock and the Authorize button are not drawn. */
    html = api_docs_html("", 0, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert_uint_eq(len, strlen(html));
    ck_assert_ptr_nonnull(strstr(html, "authorizeOperationBtn: () => () => null"));
    ck_assert_ptr_nonnull(strstr(html, "authorizeBtn: () => () => null"));
    free(html);
    /* Trailing slashes dropped, the URL escaped for the attribute. */
    html = api_docs_html("https://cdn.example/ui?a=1&b=\"<x>\"//", 1, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert_ptr_nonnull(strstr(
        html, "href=\"https://cdn.example/ui?a=1&amp;b=&quot;&lt;x&gt;&quot;/swagger-ui.css\""));
    ck_assert_ptr_null(strstr(html, "<x>"));
    free(html);
}
END_TEST

Suite *api_router_suite(void)
{
    Suite *s = suite_create("api_router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, every_route);
    tcase_add_test(tc, wrong_methods);
    tcase_add_test(tc, odd_paths);
    tcase_add_test(tc, url_decoding);
    tcase_add_test(tc, encoded_nul);
    tcase_add_test(tc, bearer_token);
    tcase_add_test(tc, authorization);
    tcase_add_test(tc, deletion_needs_the_token);
    tcase_add_test(tc, docs_page);
    suite_add_tcase(s, tc);
    return s;
}
