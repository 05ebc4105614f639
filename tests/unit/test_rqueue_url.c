/* Unit tests of rqueue_parse_url(): REDIS_URL as redis://, with a password
 * and a database, and unix://; and of rqueue.c's pure reply readers (the OOM
 * refusal, INFO fields). */
#include <check.h>
#include <string.h>

#include "rqueue.h"

START_TEST(redis_urls)
{
    rq_url_t u;
    char err[256];
    ck_assert_int_eq(rqueue_parse_url("redis://127.0.0.1:6390", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6390);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(rqueue_parse_url("redis://:s3cret@redis/2", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "redis");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_str_eq(u.password, "s3cret");
    ck_assert_int_eq(u.db, 2);
    ck_assert_int_eq(rqueue_parse_url("unix:///run/redis.sock", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.path, "/run/redis.sock");
    ck_assert_int_eq(rqueue_parse_url("http://x", &u, err, sizeof err), -1);
    ck_assert_int_eq(rqueue_parse_url("redis://host:99999", &u, err, sizeof err), -1);
    ck_assert_int_eq(rqueue_parse_url("redis://", &u, err, sizeof err), -1);
    ck_assert(strstr(err, "REDIS_URL") != NULL);
}
END_TEST

/* The pure parts of rqueue.c's memory checks: the OOM refusal is told from
 * other errors, INFO fields are read by exact name. */
START_TEST(memory_replies)
{
    ck_assert_int_eq(rq_reply_is_oom("OOM command not allowed when used memory > 'maxmemory'."), 1);
    ck_assert_int_eq(rq_reply_is_oom("EXECABORT Transaction discarded because of previous errors."),
                     0);
    ck_assert_int_eq(rq_reply_is_oom("ERR OOM"), 0);
    ck_assert_int_eq(rq_reply_is_oom(NULL), 0);
    const char *info = "# Memory\r\nused_memory:1461640\r\nused_memory_human:1.39M\r\n"
                       "maxmemory_human:0B\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n";
    long long v = -1;
    ck_assert_int_eq(rq_info_field(info, "used_memory", &v), 0);
    ck_assert_int_eq(v, 1461640);
    ck_assert_int_eq(rq_info_field(info, "maxmemory", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(rq_info_field(info, "maxmemory_policy", &v), -1); /* not an integer */
    ck_assert_int_eq(rq_info_field(info, "used", &v), -1);             /* no such field */
    ck_assert_int_eq(rq_info_field("", "used_memory", &v), -1);
}
END_TEST

Suite *rqueue_url_suite(void)
{
    Suite *s = suite_create("rqueue_url");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, redis_urls);
    tcase_add_test(tc, memory_replies);
    suite_add_tcase(s, tc);
    return s;
}
