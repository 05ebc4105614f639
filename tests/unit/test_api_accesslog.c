/* Unit tests of services/api/accesslog.c. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/accesslog.h"
#include "log.h"
#include "unit_util.h"

/* The file's text, valid until the next call. */
static const char *read_all(const char *path)
{
    static buf_t last;
    free(last.p);
    last = fx_read_file(path);
    return (const char *)last.p;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

START_TEST(lines_batch_escape_and_reach_the_file)
{
    char dir[64], path[96];
    fx_tempdir(dir, sizeof dir, "accesslog");
    snprintf(path, sizeof path, "%s/svc.log", dir);
    api_accesslog_t *a = api_accesslog_open("svc", dir, 0);
    ck_assert_ptr_nonnull(a);
    api_accesslog_request(a, "GET", "/a\nb\\c", 200, 1250000, "-", NULL);
    api_accesslog_flush(a);
    const char *text = read_all(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(count_lines(text), 1);
    ck_assert_ptr_nonnull(strstr(text, " INFO svc["));
    ck_assert_ptr_nonnull(strstr(text, "] http: GET /a\\x0ab\\x5cc 200 1.3ms id=-\n"));
    /* More than a buffer's worth: written as the buffer fills, all in order. */
    char url[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(url, sizeof url, "/line/%d", i);
        api_accesslog_request(a, "GET", url, 404, (uint64_t)i * 100000, "-", NULL);
    }
    api_accesslog_close(a); /* writes the rest */
    text = read_all(path);
    ck_assert_int_eq(count_lines(text), 3001);
    ck_assert_ptr_nonnull(strstr(text, "http: GET /line/0 404 0.0ms id=-\n"));
    const char *last = strstr(text, "http: GET /line/2999 404 299.9ms id=-\n");
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(last, "http: GET /line/2999 404 299.9ms id=-\n");
    fx_rmtree(dir);
}
END_TEST

/* A health probe's line is DEBUG: absent at the default level (INFO), where
 * the other requests' lines are written. */
START_TEST(probes_are_debug_lines)
{
    char dir[64], path[96];
    fx_tempdir(dir, sizeof dir, "accesslog");
    snprintf(path, sizeof path, "%s/svc.log", dir);
    ck_assert(log_enabled(LOG_INFO) && !log_enabled(LOG_DEBUG));
    api_accesslog_t *a = api_accesslog_open("svc", dir, 0);
    ck_assert_ptr_nonnull(a);
    api_accesslog_probe(a, "GET", "/health", 200, 300000);
    api_accesslog_request(a, "GET", "/api/images", 200, 300000, "-", NULL);
    api_accesslog_probe(a, "GET", "/health", 200, 300000);
    api_accesslog_close(a);
    const char *text = read_all(path);
    ck_assert_int_eq(count_lines(text), 1);
    ck_assert_ptr_null(strstr(text, "/health"));
    ck_assert_ptr_nonnull(strstr(text, "] http: GET /api/images 200 0.3ms id=-\n"));
    fx_rmtree(dir);
}
END_TEST

START_TEST(rotated_file_is_reopened_at_the_next_flush)
{
    char dir[64], path[96], old[112];
    fx_tempdir(dir, sizeof dir, "accesslog");
    snprintf(path, sizeof path, "%s/svc.log", dir);
    snprintf(old, sizeof old, "%s/svc.log.1", dir);
    api_accesslog_t *a = api_accesslog_open("svc", dir, 0);
    api_accesslog_request(a, "GET", "/before", 200, 0, "-", NULL);
    api_accesslog_flush(a);
    ck_assert_int_eq(rename(path, old), 0);
    api_accesslog_request(a, "GET", "/after", 200, 0, "-", NULL);
    api_accesslog_close(a); /* its last flush looks at the path first */
    ck_assert_ptr_nonnull(strstr(read_all(old), "http: GET /before 200 0.0ms id=-\n"));
    ck_assert_ptr_null(strstr(read_all(old), "after"));
    ck_assert_ptr_nonnull(strstr(read_all(path), "http: GET /after 200 0.0ms id=-\n"));
    fx_rmtree(dir);
}
END_TEST

START_TEST(refused_requests_say_why)
{
    char dir[64], path[96];
    fx_tempdir(dir, sizeof dir, "accesslog");
    snprintf(path, sizeof path, "%s/svc.log", dir);
    api_accesslog_t *a = api_accesslog_open("svc", dir, 0);
    ck_assert_ptr_nonnull(a);
    api_accesslog_request(a, "GET", "/api/images/x", 422, 300000, "-",
                          "a parameter is not valid (id: must be a UUID)");
    /* Quotes and control characters cannot end the field or the line early. */
    api_accesslog_request(a, "POST", "/api/images", 415, 0, "-", "not \"a\" JPEG\n\\x");
    api_accesslog_request(a, "GET", "/ok", 200, 0, "-", "");
    api_accesslog_request(a, "GET", "/ok2", 200, 0, "-", NULL);
    /* Cut to API_ACCESSLOG_WHY_MAX bytes on a whole UTF-8 character ("я" is 2). */
    char why[2 * API_ACCESSLOG_WHY_MAX + 2] = "x";
    for (int i = 0; i < API_ACCESSLOG_WHY_MAX; i++) strcat(why, "я");
    api_accesslog_request(a, "GET", "/long", 503, 0, "-", why);
    /* The longest URL still leaves room for the whole field and its end quote. */
    static char url[8192];
    memset(url, '\x01', sizeof url - 1);
    api_accesslog_request(a, "GET", url, 404, 0, "-", "there is no resource at this path");
    api_accesslog_close(a);
    const char *text = read_all(path);
    ck_assert_int_eq(count_lines(text), 6);
    ck_assert_ptr_nonnull(strstr(
        text, "http: GET /api/images/x 422 0.3ms id=- why=\"a parameter is not valid (id: must be "
              "a UUID)\"\n"));
    ck_assert_ptr_nonnull(strstr(
        text, "http: POST /api/images 415 0.0ms id=- why=\"not \\x22a\\x22 JPEG\\x0a\\x5cx\"\n"));
    ck_assert_ptr_nonnull(strstr(text, "http: GET /ok 200 0.0ms id=-\n"));
    ck_assert_ptr_nonnull(strstr(text, "http: GET /ok2 200 0.0ms id=-\n"));
    const char *cut = strstr(text, "http: GET /long 503 0.0ms id=- why=\"x");
    ck_assert_ptr_nonnull(cut);
    const char *q = strchr(cut, '"'), *end = strchr(q + 1, '"');
    ck_assert_int_eq((int)(end - q - 1), API_ACCESSLOG_WHY_MAX - 1); /* "x" + 149 x "я" */
    ck_assert_int_eq(end[1], '\n');
    ck_assert_ptr_nonnull(strstr(text, " why=\"there is no resource at this path\"\n"));
    fx_rmtree(dir);
}
END_TEST

#define WRITERS 8
#define PER_WRITER 2000

static api_accesslog_t *shared_log;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char url[32];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(url, sizeof url, "/w%d/%d", w, i);
        api_accesslog_request(shared_log, "GET", url, 200, 0, "-", NULL);
    }
    return NULL;
}

START_TEST(concurrent_writers_lose_nothing_and_keep_their_order)
{
    char dir[64], path[96];
    fx_tempdir(dir, sizeof dir, "accesslog");
    snprintf(path, sizeof path, "%s/svc.log", dir);
    shared_log = api_accesslog_open("svc", dir, 0);
    pthread_t th[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        ck_assert_int_eq(pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w), 0);
    for (int w = 0; w < WRITERS; w++) pthread_join(th[w], NULL);
    api_accesslog_close(shared_log);
    const char *text = read_all(path);
    ck_assert_int_eq(count_lines(text), WRITERS * PER_WRITER);
    int next[WRITERS] = {0};
    /* Line by line with bounded searches: strstr/sscanf over the rest of a
     * 1.2 MB text per line is quadratic (and sanitizers check the rest). */
    for (const char *p = text, *nl; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        const char *g = memmem(p, (size_t)(nl - p), "GET /w", 6);
        ck_assert_ptr_nonnull(g);
        char *end;
        long w = strtol(g + 6, &end, 10), i = strtol(end + 1, NULL, 10);
        ck_assert(w >= 0 && w < WRITERS && *end == '/');
        ck_assert_int_eq(i, next[w]); /* each writer's lines in its order */
        next[w]++;
    }
    for (int w = 0; w < WRITERS; w++) ck_assert_int_eq(next[w], PER_WRITER);
    fx_rmtree(dir);
}
END_TEST

Suite *api_accesslog_suite(void)
{
    Suite *s = suite_create("api_accesslog");
    TCase *tc = tcase_create("accesslog");
    tcase_add_test(tc, lines_batch_escape_and_reach_the_file);
    tcase_add_test(tc, rotated_file_is_reopened_at_the_next_flush);
    tcase_add_test(tc, probes_are_debug_lines);
    tcase_add_test(tc, refused_requests_say_why);
    tcase_add_test(tc, concurrent_writers_lose_nothing_and_keep_their_order);
    suite_add_tcase(s, tc);
    return s;
}
