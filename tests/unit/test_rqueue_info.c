/* Unit tests of rqueue.c's pure reply readers: the OOM refusal told from
 * other errors, INFO fields read by exact name. */
#include <check.h>

#include "rqueue.h"

START_TEST(memory_replies)
{
    ck_assert_int_eq(rqueue_reply_is_oom("OOM command not allowed when used memory > 'maxmemory'."),
                     1);
    ck_assert_int_eq(
        rqueue_reply_is_oom("EXECABORT Transaction discarded because of previous errors."), 0);
    ck_assert_int_eq(rqueue_reply_is_oom("ERR OOM"), 0);
    ck_assert_int_eq(rqueue_reply_is_oom(NULL), 0);
    const char *info = "# Memory\r\nused_memory:1461640\r\nused_memory_human:1.39M\r\n"
                       "maxmemory_human:0B\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n";
    long long v = -1;
    ck_assert_int_eq(rqueue_info_field(info, "used_memory", &v), 0);
    ck_assert_int_eq(v, 1461640);
    ck_assert_int_eq(rqueue_info_field(info, "maxmemory", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(rqueue_info_field(info, "maxmemory_policy", &v), -1); /* not an integer */
    ck_assert_int_eq(rqueue_info_field(info, "used", &v), -1);             /* no such field */
    ck_assert_int_eq(rqueue_info_field("", "used_memory", &v), -1);
}
END_TEST

Suite *rqueue_info_suite(void)
{
    Suite *s = suite_create("rqueue_info");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, memory_replies);
    suite_add_tcase(s, tc);
    return s;
}
