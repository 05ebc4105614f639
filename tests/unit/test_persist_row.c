/* Unit tests of services/persist/row.c: the file path and the row of an image. */
#include <check.h>
#include <string.h>

#include "persist/row.h"

static const char *ID = "01935f1e-7c2a-7b3e-8f00-0123456789ab";

START_TEST(path_from_received_at)
{
    char out[PERSIST_PATH_MAX], err[128];
    ck_assert_int_eq(
        persist_path_build(ID, "2026-11-28T12:34:56.789Z", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "2026/11/28/01935f1e-7c2a-7b3e-8f00-0123456789ab.jpg");
}
END_TEST

START_TEST(path_uses_utc_date_and_lowercase_id)
{
    char out[PERSIST_PATH_MAX], err[128];
    ck_assert_int_eq(persist_path_build("01935F1E-7C2A-7B3E-8F00-0123456789AB",
                                        "2026-01-09T23:59:59.999+00:00", out, sizeof out, err,
                                        sizeof err),
                     0);
    ck_assert_str_eq(out, "2026/01/09/01935f1e-7c2a-7b3e-8f00-0123456789ab.jpg");
    ck_assert_int_eq(
        persist_path_build(ID, "2027-01-01T00:00:00Z", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "2027/01/01/01935f1e-7c2a-7b3e-8f00-0123456789ab.jpg");
}
END_TEST

START_TEST(path_rejects_bad_id_and_time)
{
    char out[PERSIST_PATH_MAX], err[128];
    ck_assert_int_eq(persist_path_build("../../etc/passwd", "2026-11-28T12:34:56.789Z", out,
                                        sizeof out, err, sizeof err),
                     -1);
    ck_assert_int_eq(persist_path_build("01935f1e-7c2a-7b3e-8f00-0123456789a/",
                                        "2026-11-28T12:34:56.789Z", out, sizeof out, err,
                                        sizeof err),
                     -1);
    ck_assert_int_eq(persist_path_build(ID, "yesterday", out, sizeof out, err, sizeof err), -1);
    ck_assert_int_eq(
        persist_path_build(ID, "2026-13-28T12:34:56Z", out, sizeof out, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "received_at"));
}
END_TEST

START_TEST(path_needs_room)
{
    char out[20], err[128];
    ck_assert_int_eq(
        persist_path_build(ID, "2026-11-28T12:34:56.789Z", out, sizeof out, err, sizeof err), -1);
}
END_TEST

static wire_msg_t sample(void)
{
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0xff, 0xd9};
    wire_msg_t m;
    memset(&m, 0, sizeof m);
    strcpy(m.id, ID);
    strcpy(m.received_at, "2026-11-28T12:34:56.7Z");
    strcpy(m.description, "Stau auf der A1 — Köln");
    m.jpeg = jpeg;
    m.jpeg_len = sizeof jpeg;
    return m;
}

START_TEST(row_from_message)
{
    wire_msg_t m = sample();
    m.width = 640;
    m.height = 517;
    persist_row_t row;
    char err[128];
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), 0);
    const char *v[PERSIST_ROW_NPARAMS];
    persist_row_params(&row, v);
    ck_assert_str_eq(v[0], ID);
    ck_assert_str_eq(v[1], "2026-11-28T12:34:56.700Z");
    ck_assert_str_eq(v[2], "Stau auf der A1 — Köln");
    ck_assert_str_eq(v[3], "2026/11/28/01935f1e-7c2a-7b3e-8f00-0123456789ab.jpg");
    ck_assert_str_eq(v[4], "640");
    ck_assert_str_eq(v[5], "517");
    ck_assert_str_eq(v[6], "8");
    ck_assert_ptr_null(v[7]); /* no camera */
    ck_assert_ptr_null(v[8]); /* no thumbnail */
    ck_assert_str_eq(row.thumb_path, "2026/11/28/01935f1e-7c2a-7b3e-8f00-0123456789ab.thumb.jpg");
}
END_TEST

START_TEST(row_camera_and_thumbnail)
{
    static const unsigned char thumb[] = {0xff, 0xd8, 0xff, 0xd9, 0};
    wire_msg_t m = sample();
    strcpy(m.camera, "cam-07.north_A");
    m.thumb = thumb;
    m.thumb_len = 4;
    persist_row_t row;
    char err[128];
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), 0);
    const char *v[PERSIST_ROW_NPARAMS];
    persist_row_params(&row, v);
    ck_assert_str_eq(v[7], "cam-07.north_A");
    ck_assert_str_eq(v[8], "4");
    ck_assert_str_eq(row.thumb_path, "2026/11/28/01935f1e-7c2a-7b3e-8f00-0123456789ab.thumb.jpg");
    /* an empty thumbnail is none */
    m.thumb_len = 0;
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), 0);
    persist_row_params(&row, v);
    ck_assert_ptr_null(v[8]);
    ck_assert_str_eq(v[7], "cam-07.north_A");
}
END_TEST

START_TEST(row_unknown_size_is_null)
{
    wire_msg_t m = sample();
    persist_row_t row;
    char err[128];
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), 0);
    const char *v[PERSIST_ROW_NPARAMS];
    persist_row_params(&row, v);
    ck_assert_ptr_null(v[4]);
    ck_assert_ptr_null(v[5]);
    ck_assert_str_eq(v[6], "8");
}
END_TEST

START_TEST(row_refuses_empty_image_and_bad_time)
{
    wire_msg_t m = sample();
    persist_row_t row;
    char err[128];
    m.jpeg_len = 0;
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), -1);
    m = sample();
    strcpy(m.received_at, "2026-11-28 12:34:56");
    ck_assert_int_eq(persist_row_build(&m, &row, err, sizeof err), -1);
}
END_TEST

START_TEST(insert_is_idempotent_sql)
{
    ck_assert_ptr_nonnull(strstr(PERSIST_INSERT_SQL, "ON CONFLICT (id) DO NOTHING"));
    ck_assert_ptr_nonnull(strstr(PERSIST_INSERT_SQL, "camera, thumb_bytes)"));
    ck_assert_ptr_nonnull(strstr(PERSIST_INSERT_SQL, "$8, $9::int)"));
    ck_assert_ptr_null(strstr(PERSIST_INSERT_SQL, "$10"));
}
END_TEST

START_TEST(insert_sql_for_n_rows)
{
    char out[PERSIST_INSERT_SQL_MAX(64)];
    /* One row: exactly the single-row statement. */
    ck_assert_int_eq(persist_insert_sql(1, out, sizeof out), 0);
    ck_assert_str_eq(out, PERSIST_INSERT_SQL);
    /* Two rows: the second tuple numbers on from $10, same casts. */
    ck_assert_int_eq(persist_insert_sql(2, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "$9::int), ($10::uuid, $11::timestamptz, $12, $13, "
                                      "$14::int, $15::int, $16::int, $17, $18::int) ON CONFLICT "
                                      "(id) DO NOTHING"));
    ck_assert_ptr_null(strstr(out, "$19"));
    /* The largest batch fits the stated size; its last parameter is $576. */
    ck_assert_int_eq(persist_insert_sql(64, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "$576::int) ON CONFLICT (id) DO NOTHING"));
    ck_assert_ptr_null(strstr(out, "$577"));
    ck_assert_uint_lt(strlen(out), PERSIST_INSERT_SQL_MAX(64));
    /* Refusals: no row, no room (the exact size fits, one byte less does not). */
    ck_assert_int_eq(persist_insert_sql(0, out, sizeof out), -1);
    size_t need = strlen(out) + 1;
    ck_assert_int_eq(persist_insert_sql(64, out, need), 0);
    ck_assert_int_eq(persist_insert_sql(64, out, need - 1), -1);
    ck_assert_int_eq(persist_insert_sql(1, out, 10), -1);
}
END_TEST

START_TEST(uuid_array_literal)
{
    const char *ids[] = {ID, "01935f1e-7c2a-7b3e-8f00-0123456789ac"};
    char out[80];
    ck_assert_int_eq(persist_uuid_array(ids, 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "{}");
    ck_assert_int_eq(persist_uuid_array(ids, 1, out, sizeof out), 0);
    ck_assert_str_eq(out, "{01935f1e-7c2a-7b3e-8f00-0123456789ab}");
    ck_assert_int_eq(persist_uuid_array(ids, 2, out, sizeof out), 0);
    ck_assert_str_eq(out, "{01935f1e-7c2a-7b3e-8f00-0123456789ab,"
                          "01935f1e-7c2a-7b3e-8f00-0123456789ac}");
    /* exactly the room needed: 2 x 36 + 3 and the NUL */
    ck_assert_int_eq(persist_uuid_array(ids, 2, out, 76), 0);
    ck_assert_int_eq(persist_uuid_array(ids, 2, out, 75), -1);
    ck_assert_int_eq(persist_uuid_array(ids, 0, out, 2), -1);
}
END_TEST

Suite *persist_row_suite(void)
{
    Suite *s = suite_create("persist_row");
    TCase *tc = tcase_create("row");
    tcase_add_test(tc, path_from_received_at);
    tcase_add_test(tc, insert_sql_for_n_rows);
    tcase_add_test(tc, path_uses_utc_date_and_lowercase_id);
    tcase_add_test(tc, path_rejects_bad_id_and_time);
    tcase_add_test(tc, path_needs_room);
    tcase_add_test(tc, row_from_message);
    tcase_add_test(tc, row_camera_and_thumbnail);
    tcase_add_test(tc, row_unknown_size_is_null);
    tcase_add_test(tc, row_refuses_empty_image_and_bad_time);
    tcase_add_test(tc, insert_is_idempotent_sql);
    tcase_add_test(tc, uuid_array_literal);
    suite_add_tcase(s, tc);
    return s;
}
