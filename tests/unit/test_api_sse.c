/* Unit tests of services/api/sse.c: event framing, per-stream buffers and
 * their bound, heartbeat, client limit, shutdown. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/sse.h"

static long fmt(char *out, size_t n, const char *ev, const char *data)
{
    return api_sse_format(out, n, ev, data);
}

START_TEST(format_events)
{
    char b[256];
    ck_assert_int_eq(fmt(b, sizeof b, "stored", "{\"id\":\"x\"}"), 32);
    ck_assert_str_eq(b, "event: stored\ndata: {\"id\":\"x\"}\n\n");
    /* Every line of data is its own data: line, whatever ends it. */
    fmt(b, sizeof b, "failed", "a\nb\r\nc\rd");
    ck_assert_str_eq(b, "event: failed\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    fmt(b, sizeof b, "x", "");
    ck_assert_str_eq(b, "event: x\ndata: \n\n");
    fmt(b, sizeof b, "x", NULL);
    ck_assert_str_eq(b, "event: x\ndata: \n\n");
    fmt(b, sizeof b, "x", "end\n");
    ck_assert_str_eq(b, "event: x\ndata: end\ndata: \n\n");
    /* An event name cannot be empty or break the framing. */
    ck_assert_int_eq(fmt(b, sizeof b, "", "d"), -1);
    ck_assert_int_eq(fmt(b, sizeof b, NULL, "d"), -1);
    ck_assert_int_eq(fmt(b, sizeof b, "a\nevent: b", "d"), -1);
    ck_assert_int_eq(fmt(b, sizeof b, "a\r", "d"), -1);
    /* Too small: the length needed, like snprintf, and a terminated prefix. */
    char small[8];
    ck_assert_int_eq(fmt(small, sizeof small, "stored", "{}"), 24);
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_int_eq(fmt(NULL, 0, "stored", "{}"), 24);
}
END_TEST

/* Reads everything pending (one read may return less than is buffered). */
static size_t read_all(api_sse_t *h, api_sse_client_t *c, char *out, size_t outlen)
{
    ssize_t n = api_sse_read(h, c, out, outlen - 1);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
    return (size_t)n;
}

START_TEST(hello_events_and_heartbeat)
{
    api_sse_t *h = api_sse_new(4, 4096, 20);
    api_sse_refusal_t why;
    api_sse_client_t *c = api_sse_attach(h, &why);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(why, API_SSE_OK);
    char b[512];
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, "retry: 3000\n: imgcap events\n\n");
    ck_assert_int_eq(api_sse_broadcast(h, "stored", "{\"id\":1}"), 0);
    ck_assert_int_eq(api_sse_broadcast(h, "failed", "{\"id\":2}"), 0);
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, "event: stored\ndata: {\"id\":1}\n\nevent: failed\ndata: {\"id\":2}\n\n");
    /* Nothing within the heartbeat: a comment keeps proxies from closing. */
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, ": keep-alive\n\n");
    /* A short read hands over the rest next time, in order. */
    api_sse_broadcast(h, "stored", "0123456789");
    ck_assert_int_eq(api_sse_read(h, c, b, 5), 5);
    ck_assert_int_eq(memcmp(b, "event", 5), 0);
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, ": stored\ndata: 0123456789\n\n");
    ck_assert_int_eq(api_sse_broadcast(h, "a\nb", "x"), -1);
    api_sse_detach(h, c);
    api_sse_free(h);
}
END_TEST

/* A frame larger than api_sse_broadcast()'s stack buffer (1 KiB) reaches the
 * stream whole, framed as api_sse_format() frames it. */
START_TEST(large_frames_are_whole)
{
    static char data[3001], want[4096], got[4096];
    memset(data, 'x', sizeof data - 1);
    data[1500] = '\n';
    long n = api_sse_format(want, sizeof want, "stored", data);
    ck_assert_int_gt(n, 1024);
    ck_assert_int_lt(n, (long)sizeof want);
    api_sse_t *h = api_sse_new(1, 8192, 60000);
    api_sse_refusal_t why;
    api_sse_client_t *c = api_sse_attach(h, &why);
    ck_assert_ptr_nonnull(c);
    read_all(h, c, got, sizeof got); /* the hello */
    ck_assert_int_eq(api_sse_broadcast(h, "stored", data), 0);
    ck_assert_uint_eq(read_all(h, c, got, sizeof got), (size_t)n);
    ck_assert_str_eq(got, want);
    api_sse_detach(h, c);
    api_sse_free(h);
}
END_TEST

static int open_streams(api_sse_t *h)
{
    int n;
    unsigned long long cut;
    api_sse_stats(h, &n, &cut);
    return n;
}

static unsigned long long streams_cut(api_sse_t *h)
{
    int n;
    unsigned long long cut;
    api_sse_stats(h, &n, &cut);
    return cut;
}

START_TEST(client_limit)
{
    api_sse_t *h = api_sse_new(2, 4096, 1000);
    api_sse_refusal_t why;
    api_sse_client_t *a = api_sse_attach(h, &why), *b = api_sse_attach(h, &why);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(api_sse_attach(h, &why));
    ck_assert_int_eq(why, API_SSE_FULL);
    ck_assert_int_eq(open_streams(h), 2);
    api_sse_detach(h, a);
    api_sse_client_t *c = api_sse_attach(h, &why);
    ck_assert_ptr_nonnull(c);
    api_sse_detach(h, b);
    api_sse_detach(h, c);
    ck_assert_int_eq(open_streams(h), 0);
    api_sse_free(h);
}
END_TEST

/* A stream that falls behind by more than its bound is cut off alone: the
 * others keep every event, memory stays bounded. */
START_TEST(slow_client_is_cut_off)
{
    api_sse_t *h = api_sse_new(4, 1024, 1000);
    api_sse_refusal_t why;
    api_sse_client_t *slow = api_sse_attach(h, &why), *fast = api_sse_attach(h, &why);
    char b[2048], data[100];
    memset(data, 'x', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    read_all(h, fast, b, sizeof b);
    int cut = 0, sent = 0;
    while (cut == 0 && sent < 100) {
        cut = api_sse_broadcast(h, "stored", data);
        sent++;
        size_t got = read_all(h, fast, b, sizeof b);
        ck_assert_uint_eq(got, strlen("event: stored\ndata: \n\n") + strlen(data));
    }
    ck_assert_int_eq(cut, 1);
    /* 1024 bytes hold the hello and 8 events of 121 bytes, not a 9th. */
    ck_assert_int_eq(sent, 9);
    ck_assert_int_eq(api_sse_read(h, slow, b, sizeof b), 0); /* the stream ends */
    ck_assert_int_eq(api_sse_broadcast(h, "stored", data), 0);
    ck_assert_uint_gt(read_all(h, fast, b, sizeof b), 0);
    ck_assert_int_eq(open_streams(h), 2);
    ck_assert_uint_eq(streams_cut(h), 1);
    api_sse_detach(h, slow);
    api_sse_detach(h, fast);
    api_sse_free(h);
}
END_TEST

START_TEST(quiesce_ends_streams_after_their_output)
{
    api_sse_t *h = api_sse_new(4, 4096, 60000);
    api_sse_refusal_t why;
    api_sse_client_t *c = api_sse_attach(h, &why);
    char b[512];
    read_all(h, c, b, sizeof b);
    api_sse_broadcast(h, "stored", "last");
    api_sse_quiesce(h);
    ck_assert_ptr_null(api_sse_attach(h, &why));
    ck_assert_int_eq(why, API_SSE_STOPPING);
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, "event: stored\ndata: last\n\n");
    /* Then the end at once, not after the 60 s heartbeat. */
    ck_assert_int_eq(api_sse_read(h, c, b, sizeof b), 0);
    api_sse_detach(h, c);
    api_sse_free(h);
}
END_TEST

/* After the subscription was lost, every stream ends (after what it has
 * buffered) so that its client reconnects and catches up; new ones open. */
START_TEST(end_all_after_a_gap)
{
    api_sse_t *h = api_sse_new(4, 4096, 60000);
    api_sse_refusal_t why;
    api_sse_client_t *c = api_sse_attach(h, &why);
    char b[512];
    read_all(h, c, b, sizeof b);
    api_sse_broadcast(h, "stored", "before");
    api_sse_end_all(h);
    read_all(h, c, b, sizeof b);
    ck_assert_str_eq(b, "event: stored\ndata: before\n\n");
    ck_assert_int_eq(api_sse_read(h, c, b, sizeof b), 0);
    api_sse_client_t *d = api_sse_attach(h, &why);
    ck_assert_ptr_nonnull(d);
    read_all(h, d, b, sizeof b); /* the hello */
    api_sse_broadcast(h, "stored", "after");
    read_all(h, d, b, sizeof b);
    ck_assert_str_eq(b, "event: stored\ndata: after\n\n");
    ck_assert_uint_eq(streams_cut(h), 0); /* not for being slow */
    api_sse_detach(h, c);
    api_sse_detach(h, d);
    api_sse_free(h);
}
END_TEST

/* Readers on their own threads while another thread broadcasts: each gets
 * every event, in order (the bound is large enough), and stops at the
 * shutdown. Run under ThreadSanitizer by make test-tsan. */
#define EVENTS 2000
#define READERS 4

typedef struct reader {
    api_sse_t *h;
    api_sse_client_t *c;
    int events, in_order;
} reader_t;

static void *read_stream(void *arg)
{
    reader_t *r = arg;
    char buf[512], line[64];
    size_t have = 0;
    char acc[4096];
    r->in_order = 1;
    for (;;) {
        ssize_t n = api_sse_read(r->h, r->c, buf, sizeof buf);
        if (n == 0) break;
        ck_assert_uint_le(have + (size_t)n, sizeof acc);
        memcpy(acc + have, buf, (size_t)n);
        have += (size_t)n;
        char *end;
        while ((end = memmem(acc, have, "\n\n", 2)) != NULL) {
            size_t block = (size_t)(end - acc) + 2;
            snprintf(line, sizeof line, "event: n\ndata: %d\n\n", r->events);
            if (strncmp(acc, "event:", 6) == 0) {
                if (block != strlen(line) || memcmp(acc, line, block) != 0) r->in_order = 0;
                r->events++;
            }
            memmove(acc, acc + block, have - block);
            have -= block;
        }
    }
    return NULL;
}

START_TEST(concurrent_readers)
{
    api_sse_t *h = api_sse_new(READERS, 1 << 20, 50);
    reader_t r[READERS];
    pthread_t t[READERS];
    api_sse_refusal_t why;
    for (int i = 0; i < READERS; i++) {
        r[i] = (reader_t){.h = h, .c = api_sse_attach(h, &why)};
        ck_assert_ptr_nonnull(r[i].c);
        ck_assert_int_eq(pthread_create(&t[i], NULL, read_stream, &r[i]), 0);
    }
    char data[16];
    for (int e = 0; e < EVENTS; e++) {
        snprintf(data, sizeof data, "%d", e);
        ck_assert_int_eq(api_sse_broadcast(h, "n", data), 0);
    }
    api_sse_quiesce(h); /* each reader gets what was sent, then the end */
    for (int i = 0; i < READERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(r[i].events, EVENTS);
        ck_assert(r[i].in_order);
        api_sse_detach(h, r[i].c);
    }
    ck_assert_int_eq(open_streams(h), 0);
    api_sse_free(h);
}
END_TEST

Suite *api_sse_suite(void)
{
    Suite *s = suite_create("api_sse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, format_events);
    tcase_add_test(tc, hello_events_and_heartbeat);
    tcase_add_test(tc, large_frames_are_whole);
    tcase_add_test(tc, client_limit);
    tcase_add_test(tc, slow_client_is_cut_off);
    tcase_add_test(tc, quiesce_ends_streams_after_their_output);
    tcase_add_test(tc, end_all_after_a_gap);
    tcase_add_test(tc, concurrent_readers);
    suite_add_tcase(s, tc);
    return s;
}
