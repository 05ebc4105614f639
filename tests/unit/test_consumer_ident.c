#include <check.h>
#include <stdio.h>
#include <string.h>

#include "consumer_ident.h"

static consumer_ident_t ident(const char *base, long pid, uint32_t boot, uint32_t pidns,
                              uint32_t nonce)
{
    consumer_ident_t id = {.pid = pid, .boot = boot, .pidns = pidns, .nonce = nonce};
    snprintf(id.base, sizeof id.base, "%s", base);
    return id;
}

START_TEST(format_and_parse_round_trip)
{
    /* Hostnames and CONSUMER_NAMEs hold dashes and digits: parsed from the right. */
    const char *bases[] = {"3f2a9c1d0b7e", "camera-7-render", "a", "web-2-123-deadbeef"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        consumer_ident_t id = ident(bases[i], 6, 0x5d41402a, 0xeffffffc, 0x1), back;
        char name[CONSUMER_NAME_MAX];
        ck_assert_int_eq(consumer_ident_format(&id, name, sizeof name), 0);
        ck_assert_int_eq(consumer_ident_parse(name, &back), 0);
        ck_assert_str_eq(back.base, bases[i]);
        ck_assert_int_eq(back.pid, 6);
        ck_assert_uint_eq(back.boot, 0x5d41402a);
        ck_assert_uint_eq(back.pidns, 0xeffffffc);
        ck_assert_uint_eq(back.nonce, 1);
    }
    consumer_ident_t id = ident("camera-7-render", 4194304, 0, 0, 0xffffffff);
    char name[CONSUMER_NAME_MAX];
    ck_assert_int_eq(consumer_ident_format(&id, name, sizeof name), 0);
    ck_assert_str_eq(name, "camera-7-render-4194304-00000000-00000000-ffffffff");
}
END_TEST

START_TEST(longest_base_fits)
{
    consumer_ident_t id = ident("", 2147483647L, 1, 2, 3), back;
    memset(id.base, 'x', sizeof id.base - 1);
    char name[CONSUMER_NAME_MAX];
    ck_assert_int_eq(consumer_ident_format(&id, name, sizeof name), 0);
    ck_assert_int_eq(consumer_ident_parse(name, &back), 0);
    ck_assert_str_eq(back.base, id.base);
    ck_assert_int_eq(consumer_ident_format(&id, name, 40), -1);
    id.base[0] = '\0';
    ck_assert_int_eq(consumer_ident_format(&id, name, sizeof name), -1);
}
END_TEST

START_TEST(parse_refuses_other_names)
{
    consumer_ident_t id;
    const char *bad[] = {
        "",
        "3f2a9c1d0b7e-6",                                   /* an older version's name */
        "camera-7-render",                                  /* an older CONSUMER_NAME */
        "-6-00000001-00000002-00000003",                    /* no base */
        "h6-00000001-00000002-00000003",                    /* no dash before the pid */
        "h--00000001-00000002-00000003",                    /* no pid */
        "h-06-00000001-00000002-00000003",                  /* leading zero */
        "h-0-00000001-00000002-00000003",                   /* pid 0 */
        "h-6-0000001-00000002-00000003",                    /* 7 digits */
        "h-6-000000001-00000002-00000003",                  /* 9 digits */
        "h-6-00000001-0000000G-00000003",                   /* not hex */
        "h-6-00000001-0000000A-00000003",                   /* uppercase: not ours */
        "h-6-00000001-00000002-00000003-",                  /* trailing dash */
        "h-6-00000001_00000002-00000003",                   /* wrong separator */
        "h-1234567890123456789-00000001-00000002-00000003", /* pid overflows */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(consumer_ident_parse(bad[i], &id) == -1, "parsed '%s'", bad[i]);
    ck_assert_int_eq(consumer_ident_parse("h-6-00000001-00000002-00000003", &id), 0);
}
END_TEST

START_TEST(check_matches_the_exact_base)
{
    const char *n = "camera-7-render-12-00000001-00000002-00000003";
    ck_assert(consumer_ident_has_base(n, "camera-7-render"));
    /* A shorter base that the name merely starts with is another consumer. */
    ck_assert(!consumer_ident_has_base(n, "camera-7"));
    ck_assert(!consumer_ident_has_base(n, "camera-7-render-12"));
    ck_assert(!consumer_ident_has_base("camera-7-render", "camera-7-render"));
}
END_TEST

/* pid_running stub: the pids listed in arg (0-terminated) run. */
static int running_in(long pid, void *arg)
{
    for (const long *p = arg; *p; p++)
        if (*p == pid) return 1;
    return 0;
}

#define DEAD(self, host, other, running) \
    consumer_ident_predecessor_dead(&(self), (host), &(other), running_in, (void *)(running))

START_TEST(predecessor_in_our_pid_namespace)
{
    static const long running[] = {6, 700, 0};
    consumer_ident_t self = ident("box", 6, 0xb, 0x11, 0xaaa);
    /* Restarted by a supervisor on this host: its pid is gone. */
    consumer_ident_t gone = ident("box", 512, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_nonnull(DEAD(self, "box", gone, running));
    /* Still running (or its pid reused): the lease decides. */
    consumer_ident_t alive = ident("box", 700, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_null(DEAD(self, "box", alive, running));
    /* Our pid with another nonce: an earlier incarnation, our pid is now ours. */
    consumer_ident_t before = ident("box", 6, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_nonnull(DEAD(self, "box", before, running));
    /* With CONSUMER_NAME too: the pid namespace is ours, the pid tells. */
    consumer_ident_t named = ident("cam", 6, 0xb, 0x11, 0xaaa), named_gone = named;
    named_gone.pid = 512;
    named_gone.nonce = 0xccc;
    ck_assert_ptr_nonnull(DEAD(named, "box", named_gone, running));
    /* Ourselves. */
    ck_assert_ptr_null(DEAD(self, "box", self, running));
}
END_TEST

START_TEST(predecessor_in_another_pid_namespace)
{
    static const long none[] = {0};
    /* A container restarted by its restart policy: same hostname, same pid under
     * its init, a new pid namespace. */
    consumer_ident_t self = ident("3f2a9c1d0b7e", 6, 0xb, 0x22, 0xaaa);
    consumer_ident_t before = ident("3f2a9c1d0b7e", 6, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_nonnull(DEAD(self, "3f2a9c1d0b7e", before, none));
    /* Another pid there: we cannot look into that namespace. */
    consumer_ident_t other_pid = before;
    other_pid.pid = 7;
    ck_assert_ptr_null(DEAD(self, "3f2a9c1d0b7e", other_pid, none));
    /* Another machine (boot id) with the same hostname and pid. */
    consumer_ident_t far = before;
    far.boot = 0xc;
    ck_assert_ptr_null(DEAD(self, "3f2a9c1d0b7e", far, none));
    /* A CONSUMER_NAME shared by several live containers of this machine, all pid 6. */
    consumer_ident_t named = ident("render", 6, 0xb, 0x22, 0xaaa);
    consumer_ident_t twin = ident("render", 6, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_null(DEAD(named, "3f2a9c1d0b7e", twin, none));
}
END_TEST

START_TEST(never_presumed_dead)
{
    static const long none[] = {0};
    consumer_ident_t self = ident("box", 6, 0xb, 0x11, 0xaaa);
    /* Another base: not ours to judge. */
    consumer_ident_t stranger = ident("other", 512, 0xb, 0x11, 0xbbb);
    ck_assert_ptr_null(DEAD(self, "box", stranger, none));
    /* Boot or pid namespace unknown (no /proc), on either side. */
    consumer_ident_t unknown = ident("box", 512, 0, 0x11, 0xbbb);
    ck_assert_ptr_null(DEAD(self, "box", unknown, none));
    unknown = ident("box", 512, 0xb, 0, 0xbbb);
    ck_assert_ptr_null(DEAD(self, "box", unknown, none));
    consumer_ident_t blind = ident("box", 6, 0, 0, 0xaaa), gone = ident("box", 512, 0, 0, 0xbbb);
    ck_assert_ptr_null(DEAD(blind, "box", gone, none));
}
END_TEST

START_TEST(hash_is_fnv1a)
{
    ck_assert_uint_eq(consumer_ident_hash(""), 2166136261u);
    ck_assert_uint_eq(consumer_ident_hash("a"), 0xe40c292cu);
    ck_assert_uint_ne(consumer_ident_hash("cb6b50ab-ccfa-45fb-b4f0-f213beb16e1c"),
                      consumer_ident_hash("cb6b50ab-ccfa-45fb-b4f0-f213beb16e1d"));
}
END_TEST

Suite *consumer_ident_suite(void)
{
    Suite *s = suite_create("consumer_ident");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, format_and_parse_round_trip);
    tcase_add_test(tc, longest_base_fits);
    tcase_add_test(tc, parse_refuses_other_names);
    tcase_add_test(tc, check_matches_the_exact_base);
    tcase_add_test(tc, predecessor_in_our_pid_namespace);
    tcase_add_test(tc, predecessor_in_another_pid_namespace);
    tcase_add_test(tc, never_presumed_dead);
    tcase_add_test(tc, hash_is_fnv1a);
    suite_add_tcase(s, tc);
    return s;
}
