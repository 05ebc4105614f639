#include <check.h>
#include <string.h>

#include "timeutil.h"
#include "uuid.h"

START_TEST(v7_format_and_time)
{
    char id[UUID_STR_LEN];
    uint64_t ms = 1764333296789ull;
    ck_assert_int_eq(uuid_v7_make(ms, id), 0);
    ck_assert_int_eq((int)strlen(id), 36);
    ck_assert(uuid_is_valid(id));
    ck_assert_int_eq(id[14], '7');
    ck_assert(strchr("89ab", id[19]) != NULL); /* RFC 9562 variant */
    ck_assert_int_eq(uuid_v7_time_ms(id), (int64_t)ms);
}
END_TEST

START_TEST(v7_sorts_by_creation)
{
    char prev[UUID_STR_LEN], cur[UUID_STR_LEN];
    uint64_t now = time_now_ms();
    ck_assert_int_eq(uuid_v7_make(now, prev), 0);
    for (int i = 0; i < 10000; i++) {
        /* Same millisecond many times, and one step back in time: still increasing. */
        ck_assert_int_eq(uuid_v7_make(i == 5000 ? now - 5 : now, cur), 0);
        ck_assert_msg(strcmp(prev, cur) < 0, "%s !< %s", prev, cur);
        memcpy(prev, cur, sizeof cur);
    }
}
END_TEST

START_TEST(validation)
{
    ck_assert(uuid_is_valid("0192f0c8-1234-7abc-8def-0123456789ab"));
    ck_assert(uuid_is_valid("0192F0C8-1234-7ABC-8DEF-0123456789AB"));
    ck_assert(!uuid_is_valid("0192f0c8-1234-7abc-8def-0123456789a"));
    ck_assert(!uuid_is_valid("0192f0c8-1234-7abc-8def-0123456789abc"));
    ck_assert(!uuid_is_valid("0192f0c8x1234-7abc-8def-0123456789ab"));
    ck_assert(!uuid_is_valid("0192f0c8-1234-7abc-8def-0123456789ag"));
    ck_assert(!uuid_is_valid("../../etc/passwd"));
    ck_assert(!uuid_is_valid(""));
    ck_assert(!uuid_is_valid(NULL));
    ck_assert_int_eq(uuid_v7_time_ms("0192f0c8-1234-4abc-8def-0123456789ab"), -1);
}
END_TEST

Suite *uuid_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, v7_format_and_time);
    tcase_add_test(tc, v7_sorts_by_creation);
    tcase_add_test(tc, validation);
    suite_add_tcase(s, tc);
    return s;
}
