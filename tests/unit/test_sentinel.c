/* Sentinel discovery parsers: REDIS_SENTINELS, the replies to
 * SENTINEL get-master-addr-by-name and ROLE (fed as RESP bytes through a
 * hiredis reader, as they arrive from a server), and which error replies
 * send a client back to discovery. Also the configuration checks of the
 * Redis high-availability variables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel.h"

/* The reply hiredis parses from RESP text; the caller frees it. */
static redisReply *resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(redisReaderFeed(rd, text, strlen(text)), REDIS_OK);
    void *reply = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    ck_assert_ptr_nonnull(reply);
    redisReaderFree(rd);
    return reply;
}

START_TEST(list_parses_hosts_ports_and_ipv6)
{
    sentinel_addr_t a[SENTINEL_MAX];
    char err[256];
    ck_assert_int_eq(sentinel_parse_list("10.0.0.1:26380, sentinel-b ,[fd00::7]:5000", a,
                                         SENTINEL_MAX, err, sizeof err),
                     3);
    ck_assert_str_eq(a[0].host, "10.0.0.1");
    ck_assert_int_eq(a[0].port, 26380);
    ck_assert_str_eq(a[1].host, "sentinel-b");
    ck_assert_int_eq(a[1].port, 26379);
    ck_assert_str_eq(a[2].host, "fd00::7");
    ck_assert_int_eq(a[2].port, 5000);
    ck_assert_int_eq(sentinel_parse_list("[::1]", a, SENTINEL_MAX, err, sizeof err), 1);
    ck_assert_str_eq(a[0].host, "::1");
    ck_assert_int_eq(a[0].port, 26379);
}
END_TEST

START_TEST(list_refuses_malformed_entries)
{
    sentinel_addr_t a[2];
    char err[256];
    static const char *const bad[] = {
        "",      "h:0",      "h:65536",       "h:",       ":26379",     "h:12x",
        "a,,b",  "a,",       "fd00::1:26379", "[fd00::1", "[fd00::1]x", "[]:1",
        "h h:1", "h:123456", "a:1,b:2,c:3",   NULL,
    };
    for (const char *const *p = bad; *p != NULL; p++) {
        err[0] = '\0';
        ck_assert_msg(sentinel_parse_list(*p, a, 2, err, sizeof err) == -1, "accepted '%s'", *p);
        ck_assert_msg(strstr(err, "REDIS_SENTINELS") != NULL, "'%s': %s", *p, err);
    }
}
END_TEST

/* The message names the fault: characters a host cannot hold, a host longer
 * than its field; tabs around an entry are trimmed. */
START_TEST(list_names_the_fault)
{
    sentinel_addr_t a[SENTINEL_MAX];
    char err[512] = "";
    ck_assert_int_eq(sentinel_parse_list("\ts1:26381\t,\t s2", a, SENTINEL_MAX, err, sizeof err),
                     2);
    ck_assert_str_eq(a[0].host, "s1");
    ck_assert_int_eq(a[0].port, 26381);
    ck_assert_str_eq(a[1].host, "s2");
    static const char *const bad_hosts[] = {"a\tb:1", "a[b:1", "a]b", NULL};
    for (const char *const *p = bad_hosts; *p != NULL; p++) {
        ck_assert_msg(sentinel_parse_list(*p, a, SENTINEL_MAX, err, sizeof err) == -1,
                      "accepted '%s'", *p);
        ck_assert_msg(strstr(err, "REDIS_SENTINELS: bad host in") != NULL, "'%s': %s", *p, err);
    }
    char longest[300];
    memset(longest, 'h', 255);
    longest[255] = '\0';
    ck_assert_int_eq(sentinel_parse_list(longest, a, SENTINEL_MAX, err, sizeof err), 1);
    ck_assert_uint_eq(strlen(a[0].host), 255);
    memset(longest, 'h', 256);
    longest[256] = '\0';
    ck_assert_int_eq(sentinel_parse_list(longest, a, SENTINEL_MAX, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "REDIS_SENTINELS: missing or too long host"));
}
END_TEST

START_TEST(master_addr_reply)
{
    sentinel_addr_t a;
    char err[256];
    redisReply *r = resp("*2\r\n$10\r\n10.231.0.3\r\n$4\r\n6379\r\n");
    ck_assert_int_eq(sentinel_parse_master_addr(r, &a, err, sizeof err), 1);
    ck_assert_str_eq(a.host, "10.231.0.3");
    ck_assert_int_eq(a.port, 6379);
    freeReplyObject(r);

    r = resp("$-1\r\n"); /* a master name the sentinel does not monitor */
    ck_assert_int_eq(sentinel_parse_master_addr(r, &a, err, sizeof err), 0);
    freeReplyObject(r);

    static const char *const bad[] = {
        "-IDONTKNOW No such master\r\n",
        "*1\r\n$1\r\nh\r\n",
        "*2\r\n$1\r\nh\r\n:6379\r\n",
        "*2\r\n$0\r\n\r\n$4\r\n6379\r\n",
        "*2\r\n$1\r\nh\r\n$1\r\n0\r\n",
        "*2\r\n$1\r\nh\r\n$5\r\n70000\r\n",
        "*2\r\n$1\r\nh\r\n$3\r\n-12\r\n",
        "+OK\r\n",
        NULL,
    };
    for (const char *const *p = bad; *p != NULL; p++) {
        r = resp(*p);
        ck_assert_msg(sentinel_parse_master_addr(r, &a, err, sizeof err) == -1, "accepted %s", *p);
        freeReplyObject(r);
    }
    ck_assert_int_eq(sentinel_parse_master_addr(NULL, &a, err, sizeof err), -1);
}
END_TEST

START_TEST(role_reply)
{
    char err[256];
    redisReply *r = resp("*3\r\n$6\r\nmaster\r\n:1234\r\n*0\r\n");
    ck_assert_int_eq(sentinel_parse_role(r, err, sizeof err), 1);
    freeReplyObject(r);
    r = resp("*5\r\n$5\r\nslave\r\n$10\r\n10.231.0.2\r\n:6379\r\n$9\r\nconnected\r\n:99\r\n");
    ck_assert_int_eq(sentinel_parse_role(r, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "slave"));
    freeReplyObject(r);
    r = resp("*2\r\n$8\r\nsentinel\r\n*0\r\n");
    ck_assert_int_eq(sentinel_parse_role(r, err, sizeof err), 0);
    freeReplyObject(r);
    static const char *const bad[] = {"-NOPERM no\r\n",          "*0\r\n",           "*1\r\n:1\r\n",
                                      "*1\r\n$7\r\nmasters\r\n", "$6\r\nmaster\r\n", NULL};
    for (const char *const *p = bad; *p != NULL; p++) {
        r = resp(*p);
        ck_assert_msg(sentinel_parse_role(r, err, sizeof err) == -1, "accepted %s", *p);
        freeReplyObject(r);
    }
}
END_TEST

START_TEST(errors_that_mean_rediscover)
{
    ck_assert_int_eq(
        sentinel_error_needs_rediscovery("READONLY You can't write against a read only replica."),
        1);
    ck_assert_int_eq(sentinel_error_needs_rediscovery("MASTERDOWN Link with MASTER is down"), 1);
    ck_assert_int_eq(sentinel_error_needs_rediscovery("LOADING Redis is loading the dataset"), 1);
    ck_assert_int_eq(sentinel_error_needs_rediscovery("NOSCRIPT No matching script"), 0);
    ck_assert_int_eq(sentinel_error_needs_rediscovery("ERR wrong number of arguments"), 0);
    ck_assert_int_eq(sentinel_error_needs_rediscovery("READONLYX"), 0);
    ck_assert_int_eq(sentinel_error_needs_rediscovery(""), 0);
}
END_TEST

Suite *sentinel_suite(void)
{
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, list_parses_hosts_ports_and_ipv6);
    tcase_add_test(tc, list_refuses_malformed_entries);
    tcase_add_test(tc, list_names_the_fault);
    tcase_add_test(tc, master_addr_reply);
    tcase_add_test(tc, role_reply);
    tcase_add_test(tc, errors_that_mean_rediscover);
    suite_add_tcase(s, tc);
    return s;
}
