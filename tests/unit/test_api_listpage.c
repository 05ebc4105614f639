/* Unit tests of services/api/listpage.c: the list page's JSON, checked byte
 * for byte against jansson's compact dump of the same document (the DOM the
 * api built before), its escapes, and its refusals: a field that is not
 * UTF-8, an id that is not a canonical UUID, a full buffer, a failed
 * allocation, each leaving the buffer as it was. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/listpage.h"

#define ID1 "0192f5e4-7a3b-7c3d-8e4f-123456789abc"
#define ID2 "0192f5e4-7a3b-7c3d-8e4f-123456789abd"

/* The page as the api built it with jansson. */
static char *jansson_page(const api_listpage_item_t *items, int n, const char *next)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char url[64], thumb[80];
        snprintf(url, sizeof url, "/api/images/%s", items[i].id);
        snprintf(thumb, sizeof thumb, "/api/images/%s/thumbnail", items[i].id);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?}", "id", items[i].id, "received_at",
                              items[i].received_at, "description", items[i].description, "camera",
                              items[i].camera, "url", url, "thumbnail_url",
                              items[i].has_thumbnail ? thumb : NULL);
        ck_assert_ptr_nonnull(o);
        json_array_append_new(arr, o);
    }
    json_t *doc = json_pack("{s:o, s:s?}", "items", arr, "next", next);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void assert_same_as_jansson(const api_listpage_item_t *items, int n, const char *next)
{
    dynbuf_t b;
    dynbuf_init(&b, DYNBUF_NO_MAX);
    ck_assert_int_eq(api_listpage_begin(&b), 0);
    for (int i = 0; i < n; i++) ck_assert_int_eq(api_listpage_add(&b, &items[i], i), 0);
    ck_assert_int_eq(api_listpage_end(&b, next), 0);
    char *want = jansson_page(items, n, next);
    ck_assert_uint_eq(b.len, strlen((char *)b.ptr));
    ck_assert_str_eq((char *)b.ptr, want);
    free(want);
    dynbuf_free(&b);
}

START_TEST(same_bytes_as_jansson)
{
    api_listpage_item_t items[] = {
        {ID1, "2026-12-06T10:00:00.123Z", "С начала фазы запрещающего сигнала прошло: 7 секунд",
         "cam-17", 1},
        {ID2, "2026-12-06T10:00:00.124Z", "quote \" backslash \\ slash / tab\tnl\ncr\r", NULL, 0},
        {ID1, "t", "\x01\x02\x1f\x7f bell\a bs\b ff\f esc\x1b end", "c.1_2-3", 0},
        {ID2, "t", "", NULL, 1},
        {ID1, "t", "emoji \xf0\x9f\x9a\xa6 arabic \xd8\xb9 cjk \xe4\xb8\xad", NULL, 1},
    };
    assert_same_as_jansson(items, 0, NULL);
    assert_same_as_jansson(items, 1, NULL);
    assert_same_as_jansson(items, 5, "/api/images?limit=5&before=" ID2 "&q=%22x%22");
    /* Every byte that needs an escape, alone. */
    for (int c = 1; c < 0x80; c++) {
        char d[2] = {(char)c, 0};
        api_listpage_item_t one = {ID1, "t", d, d[0] >= ' ' ? d : NULL, c & 1};
        assert_same_as_jansson(&one, 1, NULL);
    }
}
END_TEST

START_TEST(refusals_leave_the_buffer_as_it_was)
{
    dynbuf_t b;
    dynbuf_init(&b, DYNBUF_NO_MAX);
    ck_assert_int_eq(api_listpage_begin(&b), 0);
    api_listpage_item_t good = {ID1, "t", "ok", NULL, 0};
    ck_assert_int_eq(api_listpage_add(&b, &good, 0), 0);
    size_t len = b.len;
    /* Not UTF-8: a lone continuation byte, an overlong '/', a surrogate. */
    const char *bad_text[] = {"a\x80", "\xc0\xaf", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad_text / sizeof *bad_text; i++) {
        api_listpage_item_t it = {ID2, "t", bad_text[i], NULL, 0};
        ck_assert_int_eq(api_listpage_add(&b, &it, 1), -1);
        ck_assert_uint_eq(b.len, len);
        it.description = "fine";
        it.camera = bad_text[i];
        ck_assert_int_eq(api_listpage_add(&b, &it, 1), -1);
        ck_assert_uint_eq(b.len, len);
    }
    /* Ids that would break the URLs or are not the primary key's text. */
    const char *bad_id[] = {"", "0192F5E4-7A3B-7C3D-8E4F-123456789ABC", ID1 "0",
                            "0192f5e4-7a3b-7c3d-8e4f-12345678\"abc", "../../etc/passwd"};
    for (size_t i = 0; i < sizeof bad_id / sizeof *bad_id; i++) {
        api_listpage_item_t it = {bad_id[i], "t", "d", NULL, 1};
        ck_assert_int_eq(api_listpage_add(&b, &it, 1), -1);
        ck_assert_uint_eq(b.len, len);
    }
    ck_assert_int_eq(api_listpage_end(&b, "\xff"), -1);
    ck_assert_uint_eq(b.len, len);
    ck_assert_int_eq(api_listpage_end(&b, NULL), 0);
    ck_assert_str_eq((char *)b.ptr,
                     "{\"items\":[{\"id\":\"" ID1 "\",\"received_at\":\"t\","
                     "\"description\":\"ok\",\"camera\":null,\"url\":"
                     "\"/api/images/" ID1 "\",\"thumbnail_url\":null}],\"next\":null}");
    dynbuf_free(&b);
}
END_TEST

START_TEST(cap_reached_midway)
{
    /* For every cap below the page's size the page fails cleanly, and the
     * bytes written so far are a prefix of the whole page. */
    api_listpage_item_t it = {ID1, "2026-12-06T10:00:00.123Z", "a \"quoted\"\ncaption", "cam", 1};
    dynbuf_t whole;
    dynbuf_init(&whole, DYNBUF_NO_MAX);
    ck_assert(api_listpage_begin(&whole) == 0 && api_listpage_add(&whole, &it, 0) == 0 &&
              api_listpage_add(&whole, &it, 1) == 0 && api_listpage_end(&whole, "/n") == 0);
    for (size_t cap = 1; cap <= whole.len; cap++) {
        dynbuf_t b;
        dynbuf_init(&b, cap);
        int ok = api_listpage_begin(&b) == 0 && api_listpage_add(&b, &it, 0) == 0 &&
                 api_listpage_add(&b, &it, 1) == 0 && api_listpage_end(&b, "/n") == 0;
        ck_assert_msg(!ok, "page of %zu bytes fit in %zu", whole.len, cap);
        ck_assert(b.len <= cap &&
                  memcmp(b.ptr != NULL ? b.ptr : (unsigned char *)"", whole.ptr, b.len) == 0);
        dynbuf_free(&b);
    }
    dynbuf_free(&whole);
}
END_TEST

static int allocs_left;
static void *failing_realloc(void *p, size_t n)
{
    if (allocs_left-- <= 0) return NULL;
    return realloc(p, n);
}

START_TEST(allocation_failure)
{
    api_listpage_item_t it = {ID1, "t", "long enough to need a second growth of the buffer....",
                              NULL, 1};
    for (int budget = 0; budget < 4; budget++) {
        dynbuf_t b;
        dynbuf_init(&b, DYNBUF_NO_MAX);
        b.realloc_fn = failing_realloc;
        allocs_left = budget;
        int ok = api_listpage_begin(&b) == 0;
        for (int i = 0; ok && i < 20; i++) ok = api_listpage_add(&b, &it, i) == 0;
        if (ok) ok = api_listpage_end(&b, NULL) == 0;
        ck_assert_msg(!ok, "20 items written with %d allocations", budget);
        dynbuf_free(&b);
    }
}
END_TEST

Suite *api_listpage_suite(void)
{
    Suite *s = suite_create("api_listpage");
    TCase *tc = tcase_create("listpage");
    tcase_add_test(tc, same_bytes_as_jansson);
    tcase_add_test(tc, refusals_leave_the_buffer_as_it_was);
    tcase_add_test(tc, cap_reached_midway);
    tcase_add_test(tc, allocation_failure);
    suite_add_tcase(s, tc);
    return s;
}
