/* Unit tests of rq_url_parse(): REDIS_URL as redis://, with a password
 * and a database, and unix://. */
#include <check.h>
#include <string.h>

#include "rqueue.h"

START_TEST(redis_urls)
{
    rq_url_t u;
    char err[256];
    ck_assert_int_eq(rq_url_parse("redis://127.0.0.1:6390", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6390);
    ck_assert_int_eq(u.db, 0);
    ck_assert_int_eq(rq_url_parse("redis://:s3cret@redis/2", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "redis");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_str_eq(u.password, "s3cret");
    ck_assert_int_eq(u.db, 2);
    ck_assert_int_eq(rq_url_parse("unix:///run/redis.sock", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.path, "/run/redis.sock");
    ck_assert_int_eq(rq_url_parse("http://x", &u, err, sizeof err), -1);
    ck_assert_int_eq(rq_url_parse("redis://host:99999", &u, err, sizeof err), -1);
    ck_assert_int_eq(rq_url_parse("redis://", &u, err, sizeof err), -1);
    ck_assert(strstr(err, "REDIS_URL") != NULL);
}
END_TEST

Suite *rqueue_url_suite(void)
{
    Suite *s = suite_create("rqueue_url");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, redis_urls);
    suite_add_tcase(s, tc);
    return s;
}
