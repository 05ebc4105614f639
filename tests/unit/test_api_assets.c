/* Unit tests of services/api/assets.c: the embedded files and their
 * Content-Types. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/assets.h"
#include "unit_util.h"

START_TEST(content_types)
{
    ck_assert_str_eq(api_asset_content_type("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(api_asset_content_type("swagger-ui/swagger-ui.css"),
                     "text/css; charset=utf-8");
    ck_assert_str_eq(api_asset_content_type("a.b/gallery.JS"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(api_asset_content_type("openapi.json"), "application/json");
    ck_assert_str_eq(api_asset_content_type("swagger-ui/LICENSE"), "text/plain; charset=utf-8");
    ck_assert_str_eq(api_asset_content_type("x.LICENSE.txt"), "text/plain; charset=utf-8");
    ck_assert_str_eq(api_asset_content_type("shot.png"), "image/png");
    ck_assert_str_eq(api_asset_content_type("archive.tar.gz"), "application/octet-stream");
    ck_assert_str_eq(api_asset_content_type("dir/"), "application/octet-stream");
    ck_assert_str_eq(api_asset_content_type(""), "application/octet-stream");
}
END_TEST

/* Every embedded file is byte-for-byte the one in the repository, its length
 * excludes the NUL that terminates it, and its ETag is quoted hex. */
START_TEST(embedded_files_match_the_tree)
{
    ck_assert_uint_ge(api_assets_count, 2);
    for (unsigned i = 0; i < api_assets_count; i++) {
        const api_asset_t *a = &api_assets[i];
        char rel[512], path[1024];
        if (strcmp(a->name, "openapi.json") == 0)
            snprintf(rel, sizeof rel, "services/api/%s", a->name);
        else
            snprintf(rel, sizeof rel, "services/api/web/%s", a->name);
        fx_root_path(path, sizeof path, rel);
        buf_t want = fx_read_file(path);
        ck_assert_uint_eq(a->len, want.n);
        ck_assert_int_eq(memcmp(a->data, want.p, a->len), 0);
        ck_assert_int_eq(a->data[a->len], 0);
        free(want.p);
        ck_assert_uint_eq(strlen(a->etag), 34);
        ck_assert(a->etag[0] == '"' && a->etag[33] == '"');
        ck_assert_uint_eq(strspn(a->etag + 1, "0123456789abcdef"), 32);
        ck_assert_ptr_eq(api_asset_find(a->name), a);
    }
    ck_assert_ptr_nonnull(api_asset_find("swagger-ui/swagger-ui-bundle.js"));
    ck_assert_ptr_null(api_asset_find("swagger-ui/"));
    ck_assert_ptr_null(api_asset_find("nope.js"));
    ck_assert_ptr_null(api_asset_find(NULL));
}
END_TEST

Suite *api_assets_suite(void)
{
    Suite *s = suite_create("api_assets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, content_types);
    tcase_add_test(tc, embedded_files_match_the_tree);
    suite_add_tcase(s, tc);
    return s;
}
