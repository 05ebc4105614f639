/* Unit tests of shared/log.c: level names, the line format and the level
 * filter in a real log file, escaping and its truncation, the reopen that
 * SIGHUP asks for, and stderr as the destination when there is no file. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit_util.h"

START_TEST(level_names)
{
    ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("INFO"), LOG_INFO);
    ck_assert_int_eq(log_level_parse("warn"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("Warning"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("error"), LOG_ERROR);
    ck_assert_int_eq(log_level_parse("fatal"), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
}
END_TEST

START_TEST(escape_and_truncation)
{
    char out[64];
    size_t n = log_escape(out, sizeof out, "a\nb\\c\x7f", 6);
    ck_assert_int_eq(n, 15);
    ck_assert(memcmp(out, "a\\x0ab\\x5cc\\x7f", 15) == 0);
    /* An escape that does not fit whole is left out, never cut in half. */
    n = log_escape(out, 5, "ab\ncd", 5);
    ck_assert_int_eq(n, 2);
    ck_assert(memcmp(out, "ab", 2) == 0);
    n = log_escape(out, 3, "abcd", 4);
    ck_assert_int_eq(n, 2);
}
END_TEST

/* The file LOG_DIR/<service>.log as a string (freed by the caller). */
static char *read_log(const char *dir, const char *service)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.log", dir, service);
    buf_t b = fx_read_file(path);
    return (char *)b.p;
}

START_TEST(file_lines_and_level_filter)
{
    char dir[128];
    fx_tempdir(dir, sizeof dir, "log");
    char sub[192];
    snprintf(sub, sizeof sub, "%s/logs", dir); /* created by log_open */
    log_set_stderr_copy(0);
    ck_assert_int_eq(log_open("unit", sub, LOG_WARN), 0);
    log_set_thread_name("tester");
    ck_assert(log_enabled(LOG_ERROR) && log_enabled(LOG_WARN) && !log_enabled(LOG_INFO));
    log_info("not written %d", 1);
    log_warn("written %d", 2);
    log_error("line\nbreak");
    char *text = read_log(sub, "unit");
    char want[64];
    snprintf(want, sizeof want, " WARN unit[%d] tester: written 2\n", (int)getpid());
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_nonnull(strstr(text, " ERROR unit["));
    ck_assert_ptr_nonnull(strstr(text, "tester: line\\x0abreak\n"));
    ck_assert_ptr_null(strstr(text, "not written"));
    /* An RFC 3339 time with milliseconds starts each line. */
    ck_assert_int_eq(text[4], '-');
    ck_assert_int_eq(text[10], 'T');
    ck_assert_int_eq(text[19], '.');
    free(text);
    log_close();
    fx_rmtree(dir);
}
END_TEST

START_TEST(long_message_is_cut_not_dropped)
{
    char dir[128];
    fx_tempdir(dir, sizeof dir, "log");
    log_set_stderr_copy(0);
    ck_assert_int_eq(log_open("unit", dir, LOG_DEBUG), 0);
    char *big = malloc(10000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    log_debug("%s", big);
    free(big);
    char *text = read_log(dir, "unit");
    size_t len = strlen(text);
    ck_assert(len > 4000 && len < 4400); /* one line, cut at the line limit */
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
    free(text);
    log_close();
    fx_rmtree(dir);
}
END_TEST

START_TEST(sighup_reopens_the_file)
{
    char dir[128], path[256], rotated[256];
    fx_tempdir(dir, sizeof dir, "log");
    snprintf(path, sizeof path, "%s/unit.log", dir);
    snprintf(rotated, sizeof rotated, "%s/unit.log.1", dir);
    log_set_stderr_copy(0);
    ck_assert_int_eq(log_open("unit", dir, LOG_INFO), 0);
    log_info("before rotation");
    ck_assert_int_eq(rename(path, rotated), 0);
    ck_assert_int_eq(raise(SIGHUP), 0); /* log_open's handler: the process lives on */
    log_info("after rotation");
    char *old = (char *)fx_read_file(rotated).p;
    ck_assert_ptr_nonnull(strstr(old, "before rotation"));
    ck_assert_ptr_null(strstr(old, "after rotation"));
    free(old);
    char *now = read_log(dir, "unit");
    ck_assert_ptr_nonnull(strstr(now, "after rotation"));
    ck_assert_ptr_null(strstr(now, "before rotation"));
    free(now);
    log_close();
    fx_rmtree(dir);
}
END_TEST

START_TEST(sighup_with_the_directory_gone_keeps_the_old_file)
{
    char dir[128], path[256];
    fx_tempdir(dir, sizeof dir, "log");
    snprintf(path, sizeof path, "%s/unit.log", dir);
    log_set_stderr_copy(0);
    ck_assert_int_eq(log_open("unit", dir, LOG_INFO), 0);
    /* The file can no longer be created: the reopen fails, and lines keep
     * going to the descriptor already open. */
    int keep = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(keep, 0);
    fx_rmtree(dir);
    ck_assert_int_eq(raise(SIGHUP), 0);
    log_info("to the unlinked file");
    char buf[512];
    ssize_t n = read(keep, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "to the unlinked file"));
    close(keep);
    log_close();
}
END_TEST

START_TEST(stderr_without_a_file)
{
    /* No LOG_DIR: every line goes to stderr, whatever the copy setting. */
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_eq(dup2(pipefd[1], STDERR_FILENO), STDERR_FILENO);
    log_set_stderr_copy(0);
    ck_assert_int_eq(log_open("unit", "", LOG_INFO), 0);
    log_error("to stderr %s", "only");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    char buf[512];
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    close(pipefd[0]);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, " ERROR unit["));
    ck_assert_ptr_nonnull(strstr(buf, ": to stderr only\n"));
}
END_TEST

/* Under CK_FORK=no (make test-valgrind) the suites share one process: each
 * test leaves log.c as a service finds it before log_open(). */
static void restore_defaults(void)
{
    log_close();
    log_open("imgcap", "", LOG_INFO);
    log_set_stderr_copy(1);
    log_set_thread_name("main");
}

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, NULL, restore_defaults);
    tcase_add_test(tc, level_names);
    tcase_add_test(tc, escape_and_truncation);
    tcase_add_test(tc, file_lines_and_level_filter);
    tcase_add_test(tc, long_message_is_cut_not_dropped);
    tcase_add_test(tc, sighup_reopens_the_file);
    tcase_add_test(tc, sighup_with_the_directory_gone_keeps_the_old_file);
    tcase_add_test(tc, stderr_without_a_file);
    suite_add_tcase(s, tc);
    return s;
}
