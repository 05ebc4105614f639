/* Unit tests of services/api/listquery.c: the list's parameters, the SQL and
 * parameters of every combination of filters, LIKE escaping, the id bounds of
 * a time window, percent-encoding and the next page's URL. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/listquery.h"
#include "api/params.h"
#include "uuid.h"

#define SELECT                                                  \
    "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', " \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description, camera, thumb_bytes FROM images"

/* A known UUIDv7 and the unix milliseconds of its first 48 bits. */
#define KNOWN_ID "0192f5e4-7a3b-7c3d-8e4f-123456789abc"
#define KNOWN_MS 1730702244411LL /* 0x0192f5e47a3b = 2024-11-04T06:37:24.411Z */

static api_list_query_t parse_ok(const api_list_params_t *in)
{
    api_list_query_t q;
    const char *field = "x";
    char err[256] = "";
    ck_assert_msg(api_listquery_parse(in, &q, &field, err, sizeof err) == 0, "%s: %s",
                  field != NULL ? field : "-", err);
    ck_assert_ptr_null(field);
    return q;
}

/* The field a failing parse names. */
static const char *parse_field(const api_list_params_t *in)
{
    api_list_query_t q;
    const char *field = NULL;
    char err[256] = "";
    ck_assert_int_eq(api_listquery_parse(in, &q, &field, err, sizeof err), -1);
    ck_assert_ptr_nonnull(field);
    ck_assert_int_gt((int)strlen(err), 0);
    return field;
}

/* Every $n in sql, n = 1..nparams each at least once, none above. */
static void check_placeholders(const api_list_sql_t *s)
{
    int seen[API_LISTQUERY_MAX_PARAMS + 1] = {0};
    for (const char *p = s->sql; (p = strchr(p, '$')) != NULL;) {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') n = n * 10 + (*p++ - '0');
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, s->nparams);
        seen[n] = 1;
    }
    for (int i = 1; i <= s->nparams; i++) {
        ck_assert_msg(seen[i], "$%d unused in %s", i, s->sql);
        ck_assert_ptr_nonnull(s->params[i - 1]);
    }
}

START_TEST(parse_defaults_and_values)
{
    api_list_params_t in = {0};
    api_list_query_t q = parse_ok(&in);
    ck_assert_int_eq(q.limit, API_LIMIT_DEFAULT);
    ck_assert_str_eq(q.before, "");
    ck_assert_int_eq(q.has_from + q.has_to, 0);
    ck_assert_ptr_null(q.q);
    ck_assert_ptr_null(q.camera);
    ck_assert_int_eq(api_listquery_filtered(&q), 0);
    in.before = "0192F5E4-7A3B-7C3D-8E4F-123456789ABC";
    q = parse_ok(&in);
    ck_assert_str_eq(q.before, KNOWN_ID);
    ck_assert_int_eq(api_listquery_filtered(&q), 0); /* before alone: the prepared statement */

    api_list_params_t all = {.limit = "7",
                             .before = KNOWN_ID,
                             .from = "2026-12-06T10:30:00+01:00",
                             .to = "2026-12-06T09:30:00.5Z",
                             .q = "Ж_%",
                             .camera = "gate-3"};
    q = parse_ok(&all);
    ck_assert_int_eq(q.limit, 7);
    ck_assert_int_eq(q.from_us, 1796549400000000LL); /* 2026-12-06T09:30:00Z */
    ck_assert_int_eq(q.to_us, 1796549400500000LL);
    ck_assert_ptr_eq(q.q, all.q);
    ck_assert_ptr_eq(q.camera, all.camera);
    ck_assert_int_eq(api_listquery_filtered(&q), 1);
    /* Each filter alone makes the query a filtered one. */
    api_list_params_t one = {.q = "a"};
    q = parse_ok(&one);
    ck_assert_int_eq(api_listquery_filtered(&q), 1);
    api_list_params_t two = {.camera = "a"};
    q = parse_ok(&two);
    ck_assert_int_eq(api_listquery_filtered(&q), 1);
    api_list_params_t three = {.to = "1970-01-01T00:00:00Z"};
    q = parse_ok(&three);
    ck_assert_int_eq(api_listquery_filtered(&q), 1);
    /* An unencoded '+' of an offset arrives as a space. */
    api_list_params_t plus = {.from = "2026-12-06T10:30:00 01:00"};
    q = parse_ok(&plus);
    ck_assert_int_eq(q.from_us, 1796549400000000LL);
}
END_TEST

START_TEST(parse_errors_name_the_field)
{
    char q201[202];
    memset(q201, 'a', 201);
    q201[201] = '\0';
    static const struct {
        api_list_params_t in;
        const char *field;
    } cases[] = {
        {{.limit = "0"}, "limit"},
        {{.limit = "abc", .q = ""}, "limit"}, /* the first bad one is named */
        {{.before = "nope"}, "before"},
        {{.from = ""}, "from"},
        {{.from = "2026-12-06"}, "from"},
        {{.from = "2026-12-06T09:30:00"}, "from"},
        {{.from = "2026-02-30T09:30:00Z"}, "from"},
        {{.from = "yesterday"}, "from"},
        {{.to = "2026-12-06T09:30:00+25:00"}, "to"},
        {{.from = "2026-12-06T09:30:00Z", .to = "2026-12-06T09:30:00Z"}, "to"},
        {{.from = "2026-12-06T09:30:00Z", .to = "2026-12-06T10:29:59+01:00"}, "to"},
        {{.q = ""}, "q"},
        {{.q = "\xFF"}, "q"},
        {{.q = "a\xD0"}, "q"},
        {{.camera = ""}, "camera"},
        {{.camera = "gate 3"}, "camera"},
        {{.camera = "Камера"}, "camera"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(strcmp(parse_field(&cases[i].in), cases[i].field) == 0, "case %zu", i);
    api_list_params_t longq = {.q = q201};
    ck_assert_str_eq(parse_field(&longq), "q");
    q201[200] = '\0';
    parse_ok(&longq);
    /* 200 four-byte code points are 200 characters. */
    char *emoji = malloc(4 * 201 + 1);
    for (int i = 0; i < 201; i++) memcpy(emoji + 4 * i, "\xF0\x9F\x9A\xA6", 4);
    emoji[4 * 200] = '\0';
    api_list_params_t e = {.q = emoji};
    parse_ok(&e);
    emoji[4 * 200] = '\xF0';
    emoji[4 * 201] = '\0';
    ck_assert_str_eq(parse_field(&e), "q");
    free(emoji);
    /* from = to - 1 microsecond is a window of one microsecond. */
    api_list_params_t tiny = {.from = "2026-12-06T09:30:00Z", .to = "2026-12-06T09:30:00.000001Z"};
    parse_ok(&tiny);
}
END_TEST

START_TEST(sql_unfiltered)
{
    api_list_query_t q = {.limit = 100};
    api_list_sql_t s;
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " ORDER BY images.id DESC LIMIT $1::int");
    ck_assert_int_eq(s.nparams, 1);
    ck_assert_str_eq(s.params[0], "101");
    snprintf(q.before, sizeof q.before, "%s", KNOWN_ID);
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.sql,
                     SELECT " WHERE images.id < $1::uuid ORDER BY images.id DESC LIMIT $2::int");
    ck_assert_int_eq(s.nparams, 2);
    ck_assert_str_eq(s.params[0], KNOWN_ID);
    ck_assert_str_eq(s.params[1], "101");
}
END_TEST

START_TEST(sql_each_filter)
{
    api_list_sql_t s;
    /* from 2024-11-04T06:37:24.411Z = KNOWN_MS exactly */
    api_list_query_t f = {.limit = 10, .has_from = 1, .from_us = KNOWN_MS * 1000};
    ck_assert_int_eq(api_listquery_build(&f, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " WHERE images.id >= $1::uuid AND received_at >= "
                                   "$2::timestamptz ORDER BY images.id DESC LIMIT $3::int");
    ck_assert_int_eq(s.nparams, 3);
    ck_assert_str_eq(s.params[0], "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_str_eq(s.params[1], "2024-11-04T06:37:24.411Z");
    ck_assert_str_eq(s.params[2], "11");

    api_list_query_t t = {.limit = 1, .has_to = 1, .to_us = KNOWN_MS * 1000};
    ck_assert_int_eq(api_listquery_build(&t, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " WHERE images.id < $1::uuid AND received_at < "
                                   "$2::timestamptz ORDER BY images.id DESC LIMIT $3::int");
    ck_assert_str_eq(s.params[0], "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_str_eq(s.params[1], "2024-11-04T06:37:24.411Z");
    ck_assert_str_eq(s.params[2], "2");

    api_list_query_t q = {.limit = 5, .q = "Gate"};
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " WHERE lower(description) LIKE '%' || lower($1::text) || "
                                   "'%' ESCAPE '\\' ORDER BY images.id DESC LIMIT $2::int");
    ck_assert_str_eq(s.params[0], "Gate");

    api_list_query_t c = {.limit = 5, .camera = "gate-3"};
    ck_assert_int_eq(api_listquery_build(&c, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " WHERE camera >= $1::text AND camera <= $1::text ORDER BY "
                                   "camera DESC, images.id DESC LIMIT $2::int");
    ck_assert_ptr_eq(s.params[0], c.camera);
}
END_TEST

START_TEST(sql_all_filters)
{
    api_list_query_t q = {.limit = 1000,
                          .has_from = 1,
                          .from_us = KNOWN_MS * 1000 + 999, /* within KNOWN_MS */
                          .has_to = 1,
                          .to_us = KNOWN_MS * 1000 + 1000 + 1, /* into the next ms */
                          .q = "50%_off\\",
                          .camera = "cam.1"};
    snprintf(q.before, sizeof q.before, "%s", KNOWN_ID);
    api_list_sql_t s;
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.sql, SELECT " WHERE images.id >= $1::uuid AND received_at >= "
                                   "$2::timestamptz AND images.id < $3::uuid AND received_at < "
                                   "$4::timestamptz AND lower(description) LIKE '%' || "
                                   "lower($5::text) || '%' ESCAPE '\\' AND camera >= $6::text AND "
                                   "camera <= $6::text AND images.id < $7::uuid ORDER BY camera "
                                   "DESC, images.id DESC LIMIT $8::int");
    ck_assert_int_eq(s.nparams, 8);
    ck_assert_str_eq(s.params[0], "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_str_eq(s.params[1], "2024-11-04T06:37:24.411999Z");
    ck_assert_str_eq(s.params[2], "0192f5e4-7a3d-0000-0000-000000000000");
    ck_assert_str_eq(s.params[3], "2024-11-04T06:37:24.412001Z");
    ck_assert_str_eq(s.params[4], "50\\%\\_off\\\\");
    ck_assert_str_eq(s.params[5], "cam.1");
    ck_assert_str_eq(s.params[6], KNOWN_ID);
    ck_assert_str_eq(s.params[7], "1001");
    check_placeholders(&s);
}
END_TEST

/* Every one of the 32 combinations of from, to, q, camera, before: the
 * placeholders are exactly $1..$nparams, each filter's predicate is there
 * exactly when the filter is, and the order and limit always close it. */
START_TEST(sql_every_combination)
{
    for (int mask = 0; mask < 32; mask++) {
        api_list_query_t q = {.limit = 3};
        if (mask & 1) {
            q.has_from = 1;
            q.from_us = 1796549400000000LL;
        }
        if (mask & 2) {
            q.has_to = 1;
            q.to_us = 1796549500000000LL;
        }
        if (mask & 4) q.q = "x";
        if (mask & 8) q.camera = "c";
        if (mask & 16) snprintf(q.before, sizeof q.before, "%s", KNOWN_ID);
        api_list_sql_t s;
        ck_assert_int_eq(api_listquery_build(&q, &s), 0);
        check_placeholders(&s);
        int expect = 1 + 2 * !!(mask & 1) + 2 * !!(mask & 2) + !!(mask & 4) + !!(mask & 8) +
                     !!(mask & 16);
        ck_assert_int_eq(s.nparams, expect);
        ck_assert_int_eq(strstr(s.sql, "received_at >=") != NULL, !!(mask & 1));
        ck_assert_int_eq(strstr(s.sql, "received_at <") != NULL, !!(mask & 2));
        ck_assert_int_eq(strstr(s.sql, "LIKE") != NULL, !!(mask & 4));
        ck_assert_int_eq(strstr(s.sql, "camera >=") != NULL, !!(mask & 8));
        ck_assert_int_eq(strstr(s.sql, "ORDER BY camera DESC, images.id DESC") != NULL,
                         !!(mask & 8));
        ck_assert_int_eq(strstr(s.sql, " WHERE ") != NULL, mask != 0);
        ck_assert_int_eq(strncmp(s.sql, SELECT, strlen(SELECT)), 0);
        ck_assert_ptr_nonnull(strstr(s.sql, "images.id DESC LIMIT $"));
        ck_assert_str_eq(s.params[s.nparams - 1], "4");
        ck_assert_ptr_null(strstr(s.sql, "AND AND"));
        ck_assert_ptr_null(strstr(s.sql, "WHERE AND"));
    }
}
END_TEST

START_TEST(sql_refuses_what_parse_never_makes)
{
    api_list_sql_t s;
    api_list_query_t q = {.limit = 0};
    ck_assert_int_eq(api_listquery_build(&q, &s), -1);
    q.limit = API_LIMIT_MAX + 1;
    ck_assert_int_eq(api_listquery_build(&q, &s), -1);
    q.limit = 1;
    q.has_from = 1;
    q.from_us = 253402300800LL * 1000000; /* year 10000 */
    ck_assert_int_eq(api_listquery_build(&q, &s), -1);
    q.has_from = 0;
    char *big = malloc(API_LISTQUERY_PATTERN_MAX + 2);
    memset(big, '%', API_LISTQUERY_PATTERN_MAX + 1);
    big[API_LISTQUERY_PATTERN_MAX / 2 + 1] = '\0'; /* doubles to one more than fits */
    q.q = big;
    ck_assert_int_eq(api_listquery_build(&q, &s), -1);
    big[API_LISTQUERY_PATTERN_MAX / 2] = '\0';
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_uint_eq(strlen(s.params[0]), API_LISTQUERY_PATTERN_MAX);
    free(big);
}
END_TEST

START_TEST(like_escape)
{
    char out[64];
    ck_assert_int_eq(api_like_escape("plain text", out, sizeof out), 10);
    ck_assert_str_eq(out, "plain text");
    ck_assert_int_eq(api_like_escape("100%", out, sizeof out), 5);
    ck_assert_str_eq(out, "100\\%");
    ck_assert_int_eq(api_like_escape("a_b", out, sizeof out), 4);
    ck_assert_str_eq(out, "a\\_b");
    ck_assert_int_eq(api_like_escape("C:\\dir", out, sizeof out), 7);
    ck_assert_str_eq(out, "C:\\\\dir");
    ck_assert_int_eq(api_like_escape("%_\\", out, sizeof out), 6);
    ck_assert_str_eq(out, "\\%\\_\\\\");
    /* Multibyte text and the other LIKE-looking characters pass unchanged. */
    ck_assert_int_eq(api_like_escape("Ж*?[x]'", out, sizeof out), 8);
    ck_assert_str_eq(out, "Ж*?[x]'");
    ck_assert_int_eq(api_like_escape("", out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* Exactly full, one short. */
    ck_assert_int_eq(api_like_escape("a%", out, 4), 3);
    ck_assert_int_eq(api_like_escape("a%", out, 3), -1);
    ck_assert_int_eq(api_like_escape("ab", out, 2), -1);
    ck_assert_int_eq(api_like_escape("", out, 1), 0);
}
END_TEST

START_TEST(uuid_floor_bounds)
{
    char lo[UUID_STR_LEN], hi[UUID_STR_LEN];
    api_uuid_floor(KNOWN_MS, lo);
    api_uuid_floor(KNOWN_MS + 1, hi);
    ck_assert_str_eq(lo, "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_str_eq(hi, "0192f5e4-7a3c-0000-0000-000000000000");
    ck_assert_int_lt(strcmp(lo, KNOWN_ID), 0);
    ck_assert_int_gt(strcmp(hi, KNOWN_ID), 0);
    api_uuid_floor(0, lo);
    ck_assert_str_eq(lo, "00000000-0000-0000-0000-000000000000");
    api_uuid_floor(-5, lo);
    ck_assert_str_eq(lo, "00000000-0000-0000-0000-000000000000");
    api_uuid_floor((1LL << 48) - 1, lo);
    ck_assert_str_eq(lo, "ffffffff-ffff-0000-0000-000000000000");
    api_uuid_floor(1LL << 50, hi);
    ck_assert_str_eq(hi, lo);
    /* Real UUIDv7 ids (the api's uuid_v7_make): the floor of their
     * millisecond is at or below them (text order = byte order of a UUID),
     * the next millisecond's floor above them. */
    for (int64_t ms = 0; ms < (1LL << 48); ms = ms * 3 + 12345) {
        char id[UUID_STR_LEN];
        ck_assert_int_eq(uuid_v7_make((uint64_t)ms, id), 0);
        api_uuid_floor(ms, lo);
        api_uuid_floor(ms + 1, hi);
        ck_assert_msg(strcmp(lo, id) < 0 && strcmp(id, hi) < 0, "%s %s %s", lo, id, hi);
    }
}
END_TEST

/* The id bounds of a window: [floor(from ms), ceil(to ms)) in ids. */
START_TEST(window_id_bounds)
{
    api_list_sql_t s;
    api_list_query_t q = {.limit = 1, .has_from = 1, .has_to = 1};
    /* Sub-millisecond from: the id bound stays in from's millisecond, the
     * exact bound is the received_at predicate. */
    q.from_us = KNOWN_MS * 1000 + 1;
    q.to_us = KNOWN_MS * 1000 + 2;
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.params[0], "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_str_eq(s.params[1], "2024-11-04T06:37:24.411001Z");
    ck_assert_str_eq(s.params[2], "0192f5e4-7a3c-0000-0000-000000000000");
    ck_assert_str_eq(s.params[3], "2024-11-04T06:37:24.411002Z");
    /* Whole milliseconds: to's own millisecond is excluded. */
    q.from_us = (KNOWN_MS - 1) * 1000;
    q.to_us = KNOWN_MS * 1000;
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.params[0], "0192f5e4-7a3a-0000-0000-000000000000");
    ck_assert_str_eq(s.params[2], "0192f5e4-7a3b-0000-0000-000000000000");
    ck_assert_int_gt(strcmp(KNOWN_ID, s.params[2]), 0); /* KNOWN_ID is out, as received_at */
    /* Before 1970: from's bound is the smallest id, to's excludes every id. */
    q.from_us = -1500;
    q.to_us = -500;
    ck_assert_int_eq(api_listquery_build(&q, &s), 0);
    ck_assert_str_eq(s.params[0], "00000000-0000-0000-0000-000000000000");
    ck_assert_str_eq(s.params[1], "1969-12-31T23:59:59.9985Z");
    ck_assert_str_eq(s.params[2], "00000000-0000-0000-0000-000000000000");
    ck_assert_str_eq(s.params[3], "1969-12-31T23:59:59.9995Z");
}
END_TEST

START_TEST(percent_encode)
{
    char out[256];
    ck_assert_int_eq(api_percent_encode("AZaz09-._~", 10, out, sizeof out), 10);
    ck_assert_str_eq(out, "AZaz09-._~");
    const char *s = "a b&c=d+e%f/g?h#i";
    ck_assert_int_eq(api_percent_encode(s, strlen(s), out, sizeof out), 33);
    ck_assert_str_eq(out, "a%20b%26c%3Dd%2Be%25f%2Fg%3Fh%23i");
    ck_assert_int_eq(api_percent_encode("Жx", 3, out, sizeof out), 7);
    ck_assert_str_eq(out, "%D0%96x");
    ck_assert_int_eq(api_percent_encode("2026-12-06T09:30:00Z", 20, out, sizeof out), 24);
    ck_assert_str_eq(out, "2026-12-06T09%3A30%3A00Z");
    ck_assert_int_eq(api_percent_encode("\x00\x7F\xFF", 3, out, sizeof out), 9);
    ck_assert_str_eq(out, "%00%7F%FF");
    ck_assert_int_eq(api_percent_encode("", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* Exactly full, one short. */
    ck_assert_int_eq(api_percent_encode("a ", 2, out, 5), 4);
    ck_assert_int_eq(api_percent_encode("a ", 2, out, 4), -1);
    ck_assert_int_eq(api_percent_encode("ab", 2, out, 2), -1);
    /* Every byte round-trips through a decoder. */
    char all[256], enc[3 * 256 + 1], dec[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    ck_assert_int_eq(api_percent_encode(all, 256, enc, sizeof enc), 66 + 3 * 190);
    size_t n = 0;
    for (const char *p = enc; *p != '\0'; n++) {
        if (*p == '%') {
            unsigned v;
            ck_assert_int_eq(sscanf(p + 1, "%2X", &v), 1);
            dec[n] = (char)v;
            p += 3;
        } else {
            dec[n] = *p++;
        }
    }
    ck_assert_uint_eq(n, 256);
    ck_assert_int_eq(memcmp(all, dec, 256), 0);
}
END_TEST

START_TEST(next_url)
{
    char url[API_LISTQUERY_URL_MAX];
    api_list_query_t q = {.limit = 2};
    ck_assert_int_eq(api_listquery_next_url(&q, KNOWN_ID, url, sizeof url),
                     (long)strlen("/api/images?limit=2&before=" KNOWN_ID));
    ck_assert_str_eq(url, "/api/images?limit=2&before=" KNOWN_ID);
    /* Every filter, each value percent-encoded, times in UTC. */
    api_list_params_t in = {.limit = "3",
                            .before = "0192F5E4-7A3B-7C3D-8E4F-123456789ABC",
                            .from = "2026-12-06T10:30:00.25+01:00",
                            .to = "2026-12-07T00:00:00Z",
                            .q = "Ж 50%_a&b=c+d",
                            .camera = "gate-3.n_1"};
    q = parse_ok(&in);
    long n = api_listquery_next_url(&q, "0192f5e4-7a3b-7c3d-8e4f-000000000001", url, sizeof url);
    ck_assert_str_eq(url, "/api/images?limit=3&before=0192f5e4-7a3b-7c3d-8e4f-000000000001"
                          "&from=2026-12-06T09%3A30%3A00.25Z&to=2026-12-07T00%3A00%3A00Z"
                          "&q=%D0%96%2050%25_a%26b%3Dc%2Bd&camera=gate-3.n_1");
    ck_assert_int_eq(n, (long)strlen(url));
    /* The next URL's parameters parse back to the same query. */
    api_list_params_t back = {.limit = "3",
                              .before = "0192f5e4-7a3b-7c3d-8e4f-000000000001",
                              .from = "2026-12-06T09:30:00.25Z",
                              .to = "2026-12-07T00:00:00Z",
                              .q = "Ж 50%_a&b=c+d",
                              .camera = "gate-3.n_1"};
    api_list_query_t r = parse_ok(&back);
    ck_assert_int_eq(r.from_us, q.from_us);
    ck_assert_int_eq(r.to_us, q.to_us);
    /* Too small a buffer fails, whatever part overflows. */
    for (size_t len = 0; len <= (size_t)n; len++)
        ck_assert_int_eq(
            api_listquery_next_url(&q, "0192f5e4-7a3b-7c3d-8e4f-000000000001", url, len), -1);
    /* The longest q (200 code points of 4 bytes) fits API_LISTQUERY_URL_MAX. */
    char *emoji = malloc(4 * 200 + 1);
    for (int i = 0; i < 200; i++) memcpy(emoji + 4 * i, "\xF0\x9F\x9A\xA6", 4);
    emoji[800] = '\0';
    char cam[65];
    memset(cam, 'x', 64);
    cam[64] = '\0';
    api_list_params_t big = {.limit = "1000",
                             .from = "0001-01-01T00:00:00.000001Z",
                             .to = "9999-12-31T23:59:59.999999Z",
                             .q = emoji,
                             .camera = cam};
    q = parse_ok(&big);
    ck_assert_int_gt(api_listquery_next_url(&q, KNOWN_ID, url, sizeof url), 2400);
    free(emoji);
}
END_TEST

Suite *api_listquery_suite(void)
{
    Suite *s = suite_create("api_listquery");
    TCase *p = tcase_create("parse");
    tcase_add_test(p, parse_defaults_and_values);
    tcase_add_test(p, parse_errors_name_the_field);
    suite_add_tcase(s, p);
    TCase *q = tcase_create("sql");
    tcase_add_test(q, sql_unfiltered);
    tcase_add_test(q, sql_each_filter);
    tcase_add_test(q, sql_all_filters);
    tcase_add_test(q, sql_every_combination);
    tcase_add_test(q, sql_refuses_what_parse_never_makes);
    tcase_add_test(q, like_escape);
    tcase_add_test(q, uuid_floor_bounds);
    tcase_add_test(q, window_id_bounds);
    suite_add_tcase(s, q);
    TCase *u = tcase_create("url");
    tcase_add_test(u, percent_encode);
    tcase_add_test(u, next_url);
    suite_add_tcase(s, u);
    return s;
}
