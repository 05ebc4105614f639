/* Unit tests of services/persist/store.c when the filesystem says no: a name
 * held by a non-empty directory (the rename fails, no temp file is left), a
 * directory path through a regular file, paths too long or in two
 * directories, directories to sync that do not exist, a STORAGE_DIR that is
 * a file, a sweep asked to stop, and removals of what is not a file. Real
 * files in a temp directory; root reads and writes anything, so every
 * failure here is one permissions cannot explain. */
#include <check.h>
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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

Suite *persist_store_errors_suite(void)
{
    Suite *s = suite_create("persist_store_errors");
    TCase *tc = tcase_create("persist_store_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rename_onto_a_directory_fails_cleanly);
    tcase_add_test(tc, paths_refused);
    tcase_add_test(tc, sync_of_directories_that_are_not_there);
    tcase_add_test(tc, sweep_of_what_is_not_a_store);
    suite_add_tcase(s, tc);
    return s;
}
