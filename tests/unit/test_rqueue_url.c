/* Unit tests of rq_url_parse(): REDIS_URL as redis://, with a password
 * and a database, and unix://. */
#include <check.h>
#include <stdio.h>
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

/* Each part of the URL at its limits, and the message that names the fault. */
START_TEST(redis_url_limits)
{
    rq_url_t u;
    char err[256] = "", big[700], url[800];
    ck_assert_int_eq(rq_url_parse("unix://run/redis.sock", &u, err, sizeof err), -1);
    ck_assert_str_eq(err, "REDIS_URL: unix:// needs an absolute socket path");
    memset(big, 'p', 600);
    big[600] = '\0';
    snprintf(url, sizeof url, "unix:///%s", big);
    ck_assert_int_eq(rq_url_parse(url, &u, err, sizeof err), -1);
    ck_assert_str_eq(err, "REDIS_URL: unix:// needs an absolute socket path");
    /* a user name before the password (the ACL form) is not the password */
    ck_assert_int_eq(rq_url_parse("redis://default:pw@h:7000/3", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.password, "pw");
    ck_assert_str_eq(u.host, "h");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(u.db, 3);
    big[300] = '\0';
    snprintf(url, sizeof url, "redis://:%s@h", big);
    ck_assert_int_eq(rq_url_parse(url, &u, err, sizeof err), -1);
    ck_assert_str_eq(err, "REDIS_URL: password too long");
    snprintf(url, sizeof url, "redis://%s:6379", big);
    ck_assert_int_eq(rq_url_parse(url, &u, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "missing or too long host"));
    /* ports: digits only, 1..65535, then the end or the database */
    static const char *bad_ports[] = {"redis://h:", "redis://h:0", "redis://h:12x", "redis://h:-1",
                                      NULL};
    for (const char *const *p = bad_ports; *p != NULL; p++) {
        ck_assert_msg(rq_url_parse(*p, &u, err, sizeof err) == -1, "accepted %s", *p);
        ck_assert_ptr_nonnull(strstr(err, "bad port"));
    }
    ck_assert_int_eq(rq_url_parse("redis://h:65535/", &u, err, sizeof err), 0);
    ck_assert_int_eq(u.port, 65535);
    ck_assert_int_eq(u.db, 0);
    /* databases: 0..1000, digits to the end */
    static const char *bad_dbs[] = {"redis://h/x", "redis://h/3x", "redis://h/-1", "redis://h/1001",
                                    NULL};
    for (const char *const *p = bad_dbs; *p != NULL; p++) {
        ck_assert_msg(rq_url_parse(*p, &u, err, sizeof err) == -1, "accepted %s", *p);
        ck_assert_ptr_nonnull(strstr(err, "bad database number"));
    }
    ck_assert_int_eq(rq_url_parse("redis://h/1000", &u, err, sizeof err), 0);
    ck_assert_int_eq(u.db, 1000);
    ck_assert_int_eq(u.port, 6379);
}
END_TEST

Suite *rqueue_url_suite(void)
{
    Suite *s = suite_create("rqueue_url");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, redis_urls);
    tcase_add_test(tc, redis_url_limits);
    suite_add_tcase(s, tc);
    return s;
}
