/* Unit tests of services/api/idem.c: the Idempotency-Key header's syntax, the
 * upload's fingerprint, the key's scope and the stored value. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "api/idem.h"

static int parses(const char *header, const char *want)
{
    char key[API_IDEM_KEY_MAX + 1], err[256] = "";
    if (api_idem_parse_key(header, key, err, sizeof err) != 0) return 0;
    return strcmp(key, want) == 0;
}

START_TEST(keys_are_tokens_or_quoted_strings)
{
    ck_assert(
        parses("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"));
    ck_assert(
        parses("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"", "8e03978e-40d5-43e8-bc93-6894a57f9324"));
    ck_assert(parses("  abc\t", "abc"));
    ck_assert(parses("\"a key with spaces\"", "a key with spaces"));
    ck_assert(parses("\"q\\\"b\\\\\"", "q\"b\\"));
    ck_assert(parses("!#$%&'*+-.^_`|~09AZaz", "!#$%&'*+-.^_`|~09AZaz"));

    char longest[API_IDEM_KEY_MAX + 3];
    memset(longest, 'k', API_IDEM_KEY_MAX);
    longest[API_IDEM_KEY_MAX] = '\0';
    ck_assert(parses(longest, longest));
}
END_TEST

START_TEST(bad_keys_name_the_header)
{
    char too_long[API_IDEM_KEY_MAX + 2], quoted_too_long[API_IDEM_KEY_MAX + 5];
    memset(too_long, 'k', API_IDEM_KEY_MAX + 1);
    too_long[API_IDEM_KEY_MAX + 1] = '\0';
    snprintf(quoted_too_long, sizeof quoted_too_long, "\"%s\"", too_long);
    const char *bad[] = {"",       "   ",          "\"\"",     "a b",          "\"open",
                         "\"a\"b", "\"a\\b\"",     "\"\x01\"", "k\xc3\xa9",    "a,b",
                         "a;b=1",  "\"\xc3\xa9\"", too_long,   quoted_too_long};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char key[API_IDEM_KEY_MAX + 1], err[256] = "";
        ck_assert_msg(api_idem_parse_key(bad[i], key, err, sizeof err) == -1, "accepted '%s'",
                      bad[i]);
        ck_assert_msg(strstr(err, "Idempotency-Key") != NULL, "'%s': %s", bad[i], err);
    }
}
END_TEST

START_TEST(fingerprints_tell_uploads_apart)
{
    const unsigned char img[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3};
    char a[API_IDEM_FP_LEN], b[API_IDEM_FP_LEN];
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, NULL, 0, img, sizeof img, a), 0);
    ck_assert_int_eq((int)strlen(a), 64);
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, NULL, 0, img, sizeof img, b), 0);
    ck_assert_str_eq(a, b); /* the same upload */
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, "", 0, img, sizeof img, b), 0);
    ck_assert_str_ne(a, b); /* no camera is not an empty camera */
    ck_assert_int_eq(api_idem_fingerprint("ca", 2, "t", 1, img, sizeof img, b), 0);
    ck_assert_str_ne(a, b); /* a byte moved from one part to the next */
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, NULL, 0, img, sizeof img - 1, b), 0);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, "cam-1", 5, img, sizeof img, a), 0);
    ck_assert_int_eq(api_idem_fingerprint("cat", 3, "cam-2", 5, img, sizeof img, b), 0);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(scopes_hide_the_token)
{
    char open[API_IDEM_SCOPE_LEN], s1[API_IDEM_SCOPE_LEN], s2[API_IDEM_SCOPE_LEN];
    ck_assert_int_eq(api_idem_scope("", open), 0);
    ck_assert_str_eq(open, "open");
    ck_assert_int_eq(api_idem_scope("secret-one", s1), 0);
    ck_assert_int_eq(api_idem_scope("secret-two", s2), 0);
    ck_assert_int_eq((int)strlen(s1), 32);
    ck_assert_str_ne(s1, s2);
    ck_assert_ptr_null(strstr(s1, "secret"));
    /* sha256("abc"), its first 128 bits (FIPS 180-2's example). */
    ck_assert_int_eq(api_idem_scope("abc", s1), 0);
    ck_assert_str_eq(s1, "ba7816bf8f01cfea414140de5dae2223");

    char name[API_IDEM_NAME_MAX];
    api_idem_name(open, "k1", name);
    ck_assert_str_eq(name, "idem:open:k1");
}
END_TEST

START_TEST(values_round_trip)
{
    api_idem_value_t v, w;
    memset(&v, 0, sizeof v);
    memset(v.fingerprint, 'a', API_IDEM_FP_LEN - 1);
    snprintf(v.id, sizeof v.id, "%s", "01890a5d-ac96-774b-bcce-b302099a8057");
    snprintf(v.received_at, sizeof v.received_at, "%s", "2026-12-06T18:30:00.123Z");
    char s[API_IDEM_VALUE_MAX];
    api_idem_value_format(&v, s);
    ck_assert_int_eq(api_idem_value_parse(s, strlen(s), &w), 0);
    ck_assert_str_eq(w.fingerprint, v.fingerprint);
    ck_assert_str_eq(w.id, v.id);
    ck_assert_str_eq(w.received_at, v.received_at);
    ck_assert_int_eq(api_idem_value_parse(s, 64, &w), -1);
    ck_assert_int_eq(api_idem_value_parse("x", 1, &w), -1);
    s[3] = 'G'; /* not hex */
    ck_assert_int_eq(api_idem_value_parse(s, strlen(s), &w), -1);
}
END_TEST

/* The edges of the header's syntax and of a stored value: tabs around a
 * key, a backslash that ends the header, the separators and the length of
 * the received time. */
START_TEST(key_and_value_edges)
{
    ck_assert(parses("\tabc  ", "abc"));
    char key[API_IDEM_KEY_MAX + 1], err[256] = "";
    ck_assert_int_eq(api_idem_parse_key("\"abc\\", key, err, sizeof err), -1);
    ck_assert_str_eq(err, "Idempotency-Key: only \\\" and \\\\ may be escaped");

    api_idem_value_t v, w;
    memset(&v, 0, sizeof v);
    memset(v.fingerprint, '0', API_IDEM_FP_LEN - 1);
    snprintf(v.id, sizeof v.id, "%s", "01890a5d-ac96-774b-bcce-b302099a8057");
    snprintf(v.received_at, sizeof v.received_at, "%s", "2026-12-06T18:30:00Z");
    char s[API_IDEM_VALUE_MAX];
    api_idem_value_format(&v, s);
    size_t len = strlen(s);
    ck_assert_int_eq(api_idem_value_parse(s, len, &w), 0);
    ck_assert_str_eq(w.received_at, "2026-12-06T18:30:00Z");
    /* the space after the fingerprint, then the one after the id */
    s[API_IDEM_FP_LEN - 1] = '_';
    ck_assert_int_eq(api_idem_value_parse(s, len, &w), -1);
    s[API_IDEM_FP_LEN - 1] = ' ';
    s[API_IDEM_FP_LEN + UUID_STR_LEN - 1] = '_';
    ck_assert_int_eq(api_idem_value_parse(s, len, &w), -1);
    /* a received time longer than its field */
    char long_value[API_IDEM_VALUE_MAX + 64];
    int n = snprintf(long_value, sizeof long_value, "%s %s %040d", v.fingerprint, v.id, 0);
    ck_assert_int_eq(api_idem_value_parse(long_value, (size_t)n, &w), -1);
    ck_assert_int_eq(api_idem_value_parse(long_value, (size_t)n - 1, &w), 0);
    ck_assert_uint_eq(strlen(w.received_at), sizeof w.received_at - 1);
}
END_TEST

Suite *api_idem_suite(void)
{
    Suite *s = suite_create("api_idem");
    TCase *tc = tcase_create("idem");
    tcase_add_test(tc, keys_are_tokens_or_quoted_strings);
    tcase_add_test(tc, bad_keys_name_the_header);
    tcase_add_test(tc, fingerprints_tell_uploads_apart);
    tcase_add_test(tc, scopes_hide_the_token);
    tcase_add_test(tc, values_round_trip);
    tcase_add_test(tc, key_and_value_edges);
    suite_add_tcase(s, tc);
    return s;
}
