/* Unit tests of services/persist/store.c when the filesystem says no: a name
 * held by a non-empty directory (the rename fails, no temp file is left), a
 * directory path through a regular file, paths too long or in two
 * directories, directories to sync that do not exist, a STORAGE_DIR that is
 * a file, a sweep asked to stop, and removals of what is not a file. Real
 * files in a temp directory; root reads and writes anything, so every
 * failure here is one permissions cannot explain, except the directory that
 * is not writable: there the test takes the effective ids of nobody for the
 * writes. The temp-file writer that both ways of writing share (written,
 * fsynced and renamed at once, or left open for a batch) is tried both ways
 * for each of its failures. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/store.h"
#include "unit_util.h"

static char dir[128];

static void setup(void) { fx_tempdir(dir, sizeof dir, "store"); }
static void teardown(void) { fx_rmtree(dir); }

/* Entries of path whose name starts with '.', the temp files' shape. */
static int dot_files(const char *path)
{
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

START_TEST(rename_onto_a_directory_fails_cleanly)
{
    char blocker[300], inside[320], day[200];
    snprintf(day, sizeof day, "%s/2026/12/06", dir);
    snprintf(blocker, sizeof blocker, "%s/x.jpg", day);
    snprintf(inside, sizeof inside, "%s/keep", blocker);
    char path[256];
    snprintf(path, sizeof path, "%s/2026", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/2026/12", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(mkdir(day, 0755), 0);
    ck_assert_int_eq(mkdir(blocker, 0755), 0);
    ck_assert_int_eq(mkdir(inside, 0755), 0);
    char err[512] = "";
    ck_assert_int_eq(persist_store_write(dir, "2026/12/06/x.jpg", "abc", 3, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "rename ", 7) == 0, "%s", err);
    ck_assert_int_eq(dot_files(day), 0); /* the temp file went with the failure */
    /* Removing it: a directory is not a file to remove. */
    ck_assert_int_eq(persist_store_remove(dir, "2026/12/06/x.jpg", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unlink "));
    ck_assert_int_eq(persist_store_remove(dir, "2026/12/06/none.jpg", err, sizeof err), 0);
}
END_TEST

START_TEST(paths_refused)
{
    char err[512] = "";
    char file[256];
    snprintf(file, sizeof file, "%s/2026", dir);
    fx_write_file(file, "x", 1); /* where the year's directory should be */
    ck_assert_int_eq(persist_store_write(dir, "2026/12/06/x.jpg", "abc", 3, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "mkdir ", 6) == 0, "%s", err);
    char longname[5000];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(persist_store_write(dir, longname, "abc", 3, err, sizeof err), -1);
    ck_assert_str_eq(err, "path too long");
    ck_assert_int_eq(persist_store_remove(dir, longname, err, sizeof err), -1);
    ck_assert_str_eq(err, "path too long");
    persist_file_t two[2] = {{"a/x.jpg", "1", 1}, {"b/x.thumb.jpg", "2", 1}};
    ck_assert_int_eq(persist_store_write_files(dir, two, 2, err, sizeof err), -1);
    ck_assert_str_eq(err, "a/x.jpg and b/x.thumb.jpg are not in one directory");
    ck_assert_int_eq(persist_store_write_files(dir, two, 0, err, sizeof err), -1);
    ck_assert_str_eq(err, "no file to write");
}
END_TEST

START_TEST(sync_of_directories_that_are_not_there)
{
    char err[512] = "";
    const char *paths[] = {"2026/12/06/a.jpg", "2026/12/06/b.jpg", "2030/01/01/c.jpg"};
    ck_assert_int_eq(
        persist_store_write_files(dir, &(persist_file_t){paths[0], "a", 1}, 1, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_sync_dirs(dir, paths, 2, err, sizeof err), 1);
    ck_assert_int_eq(persist_store_sync_dirs(dir, paths, 3, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "open directory "));
    ck_assert_ptr_nonnull(strstr(err, "2030/01/01"));
    ck_assert_int_eq(
        persist_store_sync_dirs(dir, paths, PERSIST_STORE_SYNC_MAX + 1, err, sizeof err), -1);
}
END_TEST

START_TEST(sweep_of_what_is_not_a_store)
{
    char err[512] = "";
    char file[256];
    snprintf(file, sizeof file, "%s/a-file", dir);
    fx_write_file(file, "x", 1);
    ck_assert_int_eq(persist_store_sweep(file, 0, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a directory"));
    char missing[256];
    snprintf(missing, sizeof missing, "%s/never-created", dir);
    ck_assert_int_eq(persist_store_sweep(missing, 0, NULL, err, sizeof err), 0);
    /* A left-over temp file, but a stop already asked for: nothing removed. */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s/.x.jpg.AbC123", dir);
    fx_write_file(tmp, "partial", 7);
    stop_flag_t stop = 1;
    ck_assert_int_eq(persist_store_sweep(dir, 0, &stop, err, sizeof err), 0);
    ck_assert_int_eq(access(tmp, F_OK), 0);
    atomic_store(&stop, 0);
    ck_assert_int_eq(persist_store_sweep(dir, 0, &stop, err, sizeof err), 1);
    ck_assert_int_ne(access(tmp, F_OK), 0);
}
END_TEST

/* err of a failed write to a temp file and what the failure left: both ways
 * of writing files[0..n), one by one (persist_store_write_files()) and left
 * pending (persist_store_write_pending()). */
typedef struct {
    int rc_files, rc_pending;
    char err_files[512], err_pending[512];
    persist_pending_t pending[2];
} both_ways_t;

static void write_both_ways(const persist_file_t *files, size_t n, both_ways_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < 2; i++) { /* what an unset slot may hold */
        out->pending[i].fd = 99;
        snprintf(out->pending[i].tmp_rel, sizeof out->pending[i].tmp_rel, "stale");
    }
    out->rc_files = persist_store_write_files(dir, files, n, out->err_files, sizeof out->err_files);
    out->rc_pending = persist_store_write_pending(dir, files, n, out->pending, out->err_pending,
                                                  sizeof out->err_pending);
}

/* Both ways failed with an err that starts with prefix and holds part, and
 * left nothing behind: no temp file in sub, no pending slot. */
static void assert_both_failed_cleanly(const both_ways_t *w, size_t n, const char *sub,
                                       const char *prefix, const char *part)
{
    ck_assert_int_eq(w->rc_files, -1);
    ck_assert_int_eq(w->rc_pending, -1);
    const char *errs[2] = {w->err_files, w->err_pending};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(strncmp(errs[i], prefix, strlen(prefix)) == 0, "%s", errs[i]);
        ck_assert_msg(strstr(errs[i], part) != NULL, "%s", errs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(w->pending[i].fd, -1);
        ck_assert_str_eq(w->pending[i].tmp_rel, "");
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    ck_assert_int_eq(dot_files(path), 0);
}

/* The final directory exists but the writer may not create a file in it:
 * the temp file cannot be made, and the error names the directory. As root
 * (who may write anywhere) the writes run with nobody's effective ids. */
START_TEST(temp_file_in_a_directory_not_writable)
{
    char day[256], path[256];
    const char *levels[] = {"2026", "2026/12", "2026/12/07"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, levels[i]);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    snprintf(day, sizeof day, "%s/2026/12/07", dir);
    ck_assert_int_eq(chmod(dir, 0755), 0); /* mkdtemp's 0700 would stop nobody sooner */
    ck_assert_int_eq(chmod(day, 0555), 0);
    persist_file_t files[2] = {{"2026/12/07/x.jpg", "image", 5},
                               {"2026/12/07/x.thumb.jpg", "t", 1}};
    both_ways_t w;
    int root = geteuid() == 0, dropped = 0, restored = 0;
    if (root) dropped = setegid(65534) == 0 && seteuid(65534) == 0 ? 0 : -1;
    write_both_ways(files, 2, &w);
    if (root) restored = seteuid(0) == 0 && setegid(0) == 0 ? 0 : -1;
    ck_assert_int_eq(dropped, 0);
    ck_assert_int_eq(restored, 0);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "create temp file in %s: ", day);
    assert_both_failed_cleanly(&w, 2, "2026/12/07", prefix, "Permission denied");
    ck_assert_int_eq(chmod(day, 0755), 0);
}
END_TEST

/* A write that stops short: RLIMIT_FSIZE lets the first write(2) take 4 of
 * the 10 bytes and refuses the rest (EFBIG). The writer goes on after the
 * short write, so it sees the refusal: the file fails whole, its temp file is
 * removed and nothing is renamed into place. */
START_TEST(short_then_failed_write_leaves_nothing)
{
    persist_file_t f = {"d/x.jpg", "0123456789", 10};
    char sub[256];
    snprintf(sub, sizeof sub, "%s/d", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4;
    /* No ck_assert until the limit is lifted: check records each passed
     * assertion in a file of its own, which the limit would refuse. */
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN); /* else the process is killed */
    int limited = setrlimit(RLIMIT_FSIZE, &lim);
    both_ways_t w;
    write_both_ways(&f, 1, &w);
    int lifted = setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    ck_assert_int_eq(limited, 0);
    ck_assert_int_eq(lifted, 0);
    assert_both_failed_cleanly(&w, 1, "d", "write ", "File too large");
    ck_assert_ptr_nonnull(strstr(w.err_files, "/d/.x.jpg."));
    char final[300];
    snprintf(final, sizeof final, "%s/d/x.jpg", dir);
    ck_assert_int_ne(access(final, F_OK), 0);
    /* Within the limit the same bytes go through, both ways. */
    write_both_ways(&f, 1, &w);
    ck_assert_int_eq(w.rc_files, 0);
    ck_assert_int_eq(w.rc_pending, 0);
    persist_store_discard(dir, w.pending, 1);
}
END_TEST

/* The two ways keep the temp file's path differently, so their limits
 * differ: one by one it lives in a PERSIST_STORE_PATH_MAX buffer, left
 * pending its name under STORAGE_DIR must fit PERSIST_STORE_REL_MAX (the
 * temp name is the final one plus 8: "." and ".XXXXXX"). */
START_TEST(temp_path_limits_of_each_way)
{
    char rel[PERSIST_STORE_REL_MAX], err[512];
    /* relpath of 87: its temp name takes 95 characters and the terminator. */
    memset(rel, 'a', 87);
    memcpy(rel, "d/", 2);
    memcpy(rel + 83, ".jpg", 5);
    persist_file_t f = {rel, "x", 1};
    persist_pending_t p[1];
    ck_assert_int_eq(persist_store_write_pending(dir, &f, 1, p, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(p[0].tmp_rel), PERSIST_STORE_REL_MAX - 1);
    ck_assert_int_eq(strncmp(p[0].tmp_rel, "d/.", 3), 0);
    persist_store_discard(dir, p, 1);
    /* One more: too long to keep pending, fine one by one. */
    memset(rel, 'a', 88);
    memcpy(rel, "d/", 2);
    memcpy(rel + 84, ".jpg", 5);
    both_ways_t w;
    write_both_ways(&f, 1, &w);
    ck_assert_int_eq(w.rc_files, 0);
    ck_assert_int_eq(w.rc_pending, -1);
    ck_assert_msg(strncmp(w.err_pending, "path too long: the temp file beside ", 36) == 0, "%s",
                  w.err_pending);
    ck_assert_ptr_nonnull(strstr(w.err_pending, "/d/aaa"));
    ck_assert_int_eq(w.pending[0].fd, -1);
    ck_assert_str_eq(w.pending[0].tmp_rel, "");
    char sub[256];
    snprintf(sub, sizeof sub, "%s/d", dir);
    ck_assert_int_eq(dot_files(sub), 0);

    /* A final path that fits and a temp path that does not
     * (PERSIST_STORE_PATH_MAX 4096: the final path takes 4090). */
    static char big[4096];
    size_t n = 4090 - strlen(dir) - 1;
    memset(big, 'b', n);
    memcpy(big, "d/", 2);
    memcpy(big + n - 4, ".jpg", 5);
    f.relpath = big;
    write_both_ways(&f, 1, &w);
    assert_both_failed_cleanly(&w, 1, "d", "path too long: the temp file beside ", "/d/bbb");
}
END_TEST

Suite *persist_store_errors_suite(void)
{
    Suite *s = suite_create("persist_store_errors");
    TCase *tc = tcase_create("persist_store_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rename_onto_a_directory_fails_cleanly);
    tcase_add_test(tc, paths_refused);
    tcase_add_test(tc, sync_of_directories_that_are_not_there);
    tcase_add_test(tc, sweep_of_what_is_not_a_store);
    tcase_add_test(tc, temp_file_in_a_directory_not_writable);
    tcase_add_test(tc, short_then_failed_write_leaves_nothing);
    tcase_add_test(tc, temp_path_limits_of_each_way);
    suite_add_tcase(s, tc);
    return s;
}
