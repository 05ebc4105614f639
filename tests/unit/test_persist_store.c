/* Unit tests of persist's file store in a private temp directory: atomic
 * replace, date directories created, no temp files left behind, the batch's
 * directory fsyncs. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "persist/store.h"
#include "unit_util.h"

static char root[64];

static void setup(void) { fx_tempdir(root, sizeof root, "store"); }

static void teardown(void) { fx_rmtree(root); }

/* root/rel's bytes; the caller frees p. */
static buf_t read_back(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return fx_read_file(path);
}

static int count_entries(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(write_creates_dirs_and_file)
{
    char err[256];
    char storage[300];
    snprintf(storage, sizeof storage, "%s/images", root); /* missing too */
    ck_assert_int_eq(persist_store_write(storage, "2026/11/28/a.jpg", "hello", 5, err, sizeof err),
                     0);
    buf_t b = read_back("images/2026/11/28/a.jpg");
    ck_assert_uint_eq(b.n, 5);
    ck_assert_int_eq(memcmp(b.p, "hello", 5), 0);
    free(b.p);
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/images/2026/11/28/a.jpg", root);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(count_entries("images/2026/11/28"), 1);
}
END_TEST

START_TEST(rewrite_replaces_whole_file)
{
    char err[256];
    ck_assert_int_eq(
        persist_store_write(root, "x/b.jpg", "a longer first body", 19, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_write(root, "x/b.jpg", "short", 5, err, sizeof err), 0);
    buf_t b = read_back("x/b.jpg");
    ck_assert_str_eq((const char *)b.p, "short");
    free(b.p);
    ck_assert_int_eq(count_entries("x"), 1);
}
END_TEST

START_TEST(unwritable_dir_fails_with_reason)
{
    char err[256];
    char storage[300];
    snprintf(storage, sizeof storage, "%s/file", root);
    fx_write_file(storage, "", 0);
    /* A regular file where a directory should be: fails even as root. */
    ck_assert_int_eq(persist_store_write(storage, "2026/c.jpg", "x", 1, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "mkdir"));
}
END_TEST

START_TEST(write_files_image_and_thumbnail)
{
    char err[256];
    persist_file_t files[2] = {{"2026/11/28/e.jpg", "image", 5},
                               {"2026/11/28/e.thumb.jpg", "th", 2}};
    ck_assert_int_eq(persist_store_write_files(root, files, 2, err, sizeof err), 0);
    buf_t b = read_back("2026/11/28/e.jpg");
    ck_assert_uint_eq(b.n, 5);
    ck_assert_int_eq(memcmp(b.p, "image", 5), 0);
    free(b.p);
    b = read_back("2026/11/28/e.thumb.jpg");
    ck_assert_uint_eq(b.n, 2);
    ck_assert_int_eq(memcmp(b.p, "th", 2), 0);
    free(b.p);
    ck_assert_int_eq(count_entries("2026/11/28"), 2); /* no temp file left */
    /* a redelivery replaces both */
    files[1].data = "TH";
    ck_assert_int_eq(persist_store_write_files(root, files, 2, err, sizeof err), 0);
    b = read_back("2026/11/28/e.thumb.jpg");
    ck_assert_int_eq(memcmp(b.p, "TH", 2), 0);
    free(b.p);
    ck_assert_int_eq(count_entries("2026/11/28"), 2);
}
END_TEST

START_TEST(write_files_refuses_two_directories)
{
    char err[256];
    persist_file_t files[2] = {{"2026/11/28/f.jpg", "x", 1}, {"2026/11/29/f.thumb.jpg", "y", 1}};
    ck_assert_int_eq(persist_store_write_files(root, files, 2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "one directory"));
    ck_assert_int_eq(count_entries("."), 0); /* nothing written */
    ck_assert_int_eq(persist_store_write_files(root, files, 0, err, sizeof err), -1);
}
END_TEST

/* The committer's directory step: each distinct directory of a batch once,
 * in order of first appearance; an image and its thumbnail share theirs. */
START_TEST(distinct_dirs_of_a_batch)
{
    const char *paths[] = {"2026/11/28/a.jpg",       "2026/11/28/a.thumb.jpg",
                           "2026/11/29/b.jpg",       "2026/11/28/c.jpg",
                           "2026/11/2/d.jpg",        "top.jpg",
                           "2026/11/29/b.thumb.jpg", "other.jpg"};
    size_t first[8];
    ck_assert_uint_eq(persist_store_distinct_dirs(paths, 8, first), 4);
    ck_assert_uint_eq(first[0], 0); /* 2026/11/28 */
    ck_assert_uint_eq(first[1], 2); /* 2026/11/29 */
    ck_assert_uint_eq(first[2], 4); /* 2026/11/2: a prefix of the others, still distinct */
    ck_assert_uint_eq(first[3], 5); /* STORAGE_DIR itself */
    ck_assert_uint_eq(persist_store_distinct_dirs(paths, 2, first), 1);
    ck_assert_uint_eq(persist_store_distinct_dirs(paths, 0, first), 0);
}
END_TEST

/* persist_store_write_files() renames without a directory fsync; the batch's
 * persist_store_sync_dirs() syncs each directory once and fails, with the
 * directory named, when one cannot be opened. */
START_TEST(sync_dirs_of_written_files)
{
    char err[256];
    persist_file_t day1[2] = {{"2026/11/28/g.jpg", "g", 1}, {"2026/11/28/g.thumb.jpg", "t", 1}};
    persist_file_t day2[1] = {{"2026/11/29/h.jpg", "h", 1}};
    ck_assert_int_eq(persist_store_write_files(root, day1, 2, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_write_files(root, day2, 1, err, sizeof err), 0);
    ck_assert_int_eq(count_entries("2026/11/28"), 2);
    const char *paths[] = {"2026/11/28/g.jpg", "2026/11/28/g.thumb.jpg", "2026/11/29/h.jpg",
                           "top.jpg"};
    ck_assert_int_eq(persist_store_sync_dirs(root, paths, 3, err, sizeof err), 2);
    ck_assert_int_eq(persist_store_sync_dirs(root, paths, 4, err, sizeof err), 3);
    const char *missing[] = {"2026/11/28/g.jpg", "2026/12/01/x.jpg"};
    ck_assert_int_eq(persist_store_sync_dirs(root, missing, 2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "2026/12/01"));
    const char *many[PERSIST_STORE_SYNC_MAX + 1];
    for (size_t i = 0; i < PERSIST_STORE_SYNC_MAX + 1; i++) many[i] = paths[0];
    ck_assert_int_eq(persist_store_sync_dirs(root, many, PERSIST_STORE_SYNC_MAX, err, sizeof err),
                     1);
    ck_assert_int_eq(
        persist_store_sync_dirs(root, many, PERSIST_STORE_SYNC_MAX + 1, err, sizeof err), -1);
}
END_TEST

/* The batch route: written and left open, nothing under the final names;
 * settled, the final names hold the bytes (0644) and no temp file is left;
 * what is discarded leaves nothing either. */
START_TEST(pending_files_settled_in_one_sync)
{
    char err[256];
    persist_file_t a[2] = {{"2026/12/06/a.jpg", "image a", 7}, {"2026/12/06/a.thumb.jpg", "ta", 2}};
    persist_file_t b[1] = {{"2026/12/06/b.jpg", "image b", 7}};
    persist_file_t c[1] = {{"2026/12/07/c.jpg", "image c", 7}};
    persist_pending_t pa[2], pb[1], pc[1];
    ck_assert_int_eq(persist_store_write_pending(root, a, 2, pa, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_write_pending(root, b, 1, pb, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_write_pending(root, c, 1, pc, err, sizeof err), 0);
    ck_assert_int_ge(pa[0].fd, 0);
    ck_assert_int_ge(pa[1].fd, 0);
    ck_assert_ptr_eq(pa[1].relpath, a[1].relpath);
    ck_assert_int_eq(strncmp(pa[0].tmp_rel, "2026/12/06/.a.jpg.", 18), 0);
    ck_assert_int_eq(count_entries("2026/12/06"), 3); /* three temp files, no image yet */
    char path[512];
    snprintf(path, sizeof path, "%s/2026/12/06/a.jpg", root);
    ck_assert_int_eq(access(path, F_OK), -1);

    /* a, its thumbnail and c settled together (two directories); b discarded. */
    persist_pending_t *batch[3] = {&pa[0], &pa[1], &pc[0]};
    ck_assert_int_eq(persist_store_settle(root, batch, 3, err, sizeof err), 0);
    persist_store_discard(root, pb, 1);
    persist_store_discard(root, pa, 2); /* settled: left alone */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(batch[i]->fd, -1);
        ck_assert_str_eq(batch[i]->tmp_rel, "");
    }
    ck_assert_int_eq(pb[0].fd, -1);
    ck_assert_int_eq(count_entries("2026/12/06"), 2); /* a.jpg, a.thumb.jpg */
    ck_assert_int_eq(count_entries("2026/12/07"), 1);
    buf_t got = read_back("2026/12/06/a.jpg");
    ck_assert_uint_eq(got.n, 7);
    ck_assert_int_eq(memcmp(got.p, "image a", 7), 0);
    free(got.p);
    got = read_back("2026/12/06/a.thumb.jpg");
    ck_assert_uint_eq(got.n, 2);
    free(got.p);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    snprintf(path, sizeof path, "%s/2026/12/06/b.jpg", root);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* The slots of files written the one-by-one way (STORAGE_SYNC=file): nothing
 * pending whatever they held before, and discarding them touches nothing. */
START_TEST(pending_init_leaves_nothing_to_discard)
{
    char err[256];
    persist_file_t f[2] = {{"d/g.jpg", "g", 1}, {"d/g.thumb.jpg", "t", 1}};
    persist_pending_t p[2];
    for (int i = 0; i < 2; i++) {
        p[i].fd = 0; /* stdin: a discard of this slot would close it */
        p[i].relpath = NULL;
        snprintf(p[i].tmp_rel, sizeof p[i].tmp_rel, "d/g.jpg"); /* would be unlinked */
    }
    ck_assert_int_eq(persist_store_write_files(root, f, 2, err, sizeof err), 0);
    persist_store_pending_init(p, f, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(p[i].fd, -1);
        ck_assert_ptr_eq(p[i].relpath, f[i].relpath);
        ck_assert_str_eq(p[i].tmp_rel, "");
    }
    persist_store_discard(root, p, 2);
    ck_assert_int_eq(count_entries("d"), 2);
    buf_t b = read_back("d/g.jpg");
    ck_assert_uint_eq(b.n, 1);
    free(b.p);
}
END_TEST

/* A failure in the middle of a batch: the entries before it are renamed,
 * the rest stay pending (discard removes them), and err names the step. */
START_TEST(settle_failure_leaves_the_rest_pending)
{
    char err[256];
    persist_file_t a[1] = {{"d/a.jpg", "aaa", 3}};
    persist_file_t b[1] = {{"d/b.jpg", "bbb", 3}};
    persist_pending_t pa[1], pb[1];
    ck_assert_int_eq(persist_store_write_pending(root, a, 1, pa, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_write_pending(root, b, 1, pb, err, sizeof err), 0);
    /* b's final name is a non-empty directory: its rename must fail. */
    char path[512];
    snprintf(path, sizeof path, "%s/d/b.jpg", root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/d/b.jpg/x", root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    persist_pending_t *batch[2] = {&pa[0], &pb[0]};
    ck_assert_int_eq(persist_store_settle(root, batch, 2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "rename"));
    ck_assert_str_eq(pa[0].tmp_rel, ""); /* a went through */
    ck_assert_str_ne(pb[0].tmp_rel, ""); /* b did not */
    persist_store_discard(root, pb, 1);
    ck_assert_int_eq(count_entries("d"), 2); /* a.jpg and the directory b.jpg */
}
END_TEST

START_TEST(remove_is_idempotent)
{
    char err[256];
    ck_assert_int_eq(persist_store_write(root, "d.jpg", "x", 1, err, sizeof err), 0);
    ck_assert_int_eq(persist_store_remove(root, "d.jpg", err, sizeof err), 1);
    ck_assert_int_eq(persist_store_remove(root, "d.jpg", err, sizeof err), 0); /* gone: fine */
    ck_assert_int_eq(count_entries("."), 0);
}
END_TEST

/* Creates root/rel with a last change age_s seconds ago. */
static void make_file(const char *rel, int age_s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    fx_write_file(path, "partial", 7);
    struct timeval then[2];
    gettimeofday(&then[0], NULL);
    then[0].tv_sec -= age_s;
    then[1] = then[0];
    ck_assert_int_eq(utimes(path, then), 0);
}

static int exists(const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return stat(path, &st) == 0;
}

/* Only old temp files of persist_store_write() go; images, young temp files
 * (a write in progress elsewhere), other dot files and what lies deeper than
 * YYYY/MM/DD/ stay. */
START_TEST(sweep_removes_old_temp_files_only)
{
    char err[256], dir[400];
    snprintf(dir, sizeof dir, "%s/2026/11/28/deeper", root);
    ck_assert_int_eq(persist_store_write(root, "2026/11/28/deeper/x.jpg", "x", 1, err, sizeof err),
                     0);
    ck_assert_int_eq(persist_store_write(root, "2026/11/27/a.jpg", "a", 1, err, sizeof err), 0);
    make_file("2026/11/27/.b.jpg.Ab12Cd", 3600);        /* a killed write: swept */
    make_file("2026/11/28/.c.jpg.zz99QQ", 3600);        /* swept */
    make_file("2026/11/28/.c.thumb.jpg.Qq11Ww", 3600);  /* a thumbnail's: swept */
    make_file("2026/11/28/.d.jpg.xY7kLm", 5);           /* in progress: kept */
    make_file("2026/11/28/.keep", 3600);                /* not ours: kept */
    make_file("2026/11/28/.e.png.Ab12Cd", 3600);        /* not ours: kept */
    make_file("2026/11/28/deeper/.f.jpg.Ab12Cd", 3600); /* too deep: kept */
    stop_flag_t stop = 0;
    ck_assert_int_eq(persist_store_sweep(root, 600, &stop, err, sizeof err), 3);
    ck_assert(!exists("2026/11/27/.b.jpg.Ab12Cd"));
    ck_assert(!exists("2026/11/28/.c.thumb.jpg.Qq11Ww"));
    ck_assert(!exists("2026/11/28/.c.jpg.zz99QQ"));
    ck_assert(exists("2026/11/28/.d.jpg.xY7kLm"));
    ck_assert(exists("2026/11/28/.keep"));
    ck_assert(exists("2026/11/28/.e.png.Ab12Cd"));
    ck_assert(exists("2026/11/28/deeper/.f.jpg.Ab12Cd"));
    ck_assert(exists("2026/11/27/a.jpg"));
    ck_assert(exists("2026/11/28/deeper/x.jpg"));
    /* nothing left to do; a set stop flag does nothing at all */
    ck_assert_int_eq(persist_store_sweep(root, 600, &stop, err, sizeof err), 0);
    make_file("2026/11/27/.g.jpg.Ab12Cd", 3600);
    stop = 1;
    ck_assert_int_eq(persist_store_sweep(root, 600, &stop, err, sizeof err), 0);
    ck_assert(exists("2026/11/27/.g.jpg.Ab12Cd"));
    /* no STORAGE_DIR yet: nothing to sweep; a file in its place: an error */
    snprintf(dir, sizeof dir, "%s/none", root);
    ck_assert_int_eq(persist_store_sweep(dir, 600, NULL, err, sizeof err), 0);
    snprintf(dir, sizeof dir, "%s/2026/11/27/a.jpg", root);
    ck_assert_int_eq(persist_store_sweep(dir, 600, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a directory"));
}
END_TEST

Suite *persist_store_suite(void)
{
    Suite *s = suite_create("persist_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_creates_dirs_and_file);
    tcase_add_test(tc, rewrite_replaces_whole_file);
    tcase_add_test(tc, unwritable_dir_fails_with_reason);
    tcase_add_test(tc, write_files_image_and_thumbnail);
    tcase_add_test(tc, write_files_refuses_two_directories);
    tcase_add_test(tc, distinct_dirs_of_a_batch);
    tcase_add_test(tc, sync_dirs_of_written_files);
    tcase_add_test(tc, pending_files_settled_in_one_sync);
    tcase_add_test(tc, settle_failure_leaves_the_rest_pending);
    tcase_add_test(tc, pending_init_leaves_nothing_to_discard);
    tcase_add_test(tc, remove_is_idempotent);
    tcase_add_test(tc, sweep_removes_old_temp_files_only);
    suite_add_tcase(s, tc);
    return s;
}
