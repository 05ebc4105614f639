/* Unit tests of the stage names in rqueue's Lua scripts (the .lua files of shared/lua/):
 * a script names a stage only through the STAGE_<NAME> locals rqueue.c
 * writes from rqueue.h's RQ_STAGE_<NAME>, so renaming a stage in C renames it
 * in Lua too. These tests fail when a script spells a stage out as a string
 * literal, or uses a STAGE_ local that rqueue.c does not define. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rqueue.h"
#include "rqueue_int.h"
#include "unit_util.h"

/* rqueue.h's stages and the Lua locals rqueue.c defines for them. */
static const struct {
    const char *value, *local;
} stages[] = {
    {RQ_STAGE_QUEUED, "STAGE_QUEUED"},     {RQ_STAGE_RENDERING, "STAGE_RENDERING"},
    {RQ_STAGE_RENDERED, "STAGE_RENDERED"}, {RQ_STAGE_PERSISTING, "STAGE_PERSISTING"},
    {RQ_STAGE_STORED, "STAGE_STORED"},     {RQ_STAGE_FAILED, "STAGE_FAILED"},
    {RQ_STAGE_DELETED, "STAGE_DELETED"},
};
#define NSTAGES (sizeof stages / sizeof stages[0])

/* What a scan of the scripts found. */
typedef struct lua_scan {
    int files, literals, stage_uses;
    char bad[512]; /* the first offence, "" when none */
} lua_scan_t;

static void note_bad(lua_scan_t *sc, const char *file, const char *what, const char *s, size_t n)
{
    if (sc->bad[0] == '\0') snprintf(sc->bad, sizeof sc->bad, "%s: %s %.*s", file, what, (int)n, s);
}

static int is_ident(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Scans one script's text: its string literals (comments skipped) and its
 * STAGE_ identifiers. */
static void scan_lua(lua_scan_t *sc, const char *file, const char *t)
{
    for (size_t i = 0; t[i] != '\0';) {
        if (t[i] == '-' && t[i + 1] == '-') { /* a comment, to the end of the line */
            while (t[i] != '\0' && t[i] != '\n') i++;
        } else if (t[i] == '\'' || t[i] == '"') {
            char q = t[i++];
            size_t start = i;
            while (t[i] != '\0' && t[i] != q) i += t[i] == '\\' && t[i + 1] != '\0' ? 2 : 1;
            size_t n = i - start;
            sc->literals++;
            for (size_t k = 0; k < NSTAGES; k++)
                if (strlen(stages[k].value) == n && memcmp(t + start, stages[k].value, n) == 0)
                    note_bad(sc, file, "spells out the stage", t + start, n);
            if (t[i] != '\0') i++;
        } else if (is_ident(t[i])) {
            size_t start = i;
            while (is_ident(t[i])) i++;
            size_t n = i - start;
            if (n > 6 && memcmp(t + start, "STAGE_", 6) == 0) {
                int known = 0;
                for (size_t k = 0; k < NSTAGES; k++)
                    known |= strlen(stages[k].local) == n &&
                             memcmp(t + start, stages[k].local, n) == 0;
                if (!known) note_bad(sc, file, "uses an undefined", t + start, n);
                sc->stage_uses++;
            }
        } else {
            i++;
        }
    }
}

static lua_scan_t scan_dir(void)
{
    lua_scan_t sc = {0};
    char dir[4096];
    fx_root_path(dir, sizeof dir, "shared/lua");
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        buf_t b = fx_read_file(path);
        scan_lua(&sc, e->d_name, (const char *)b.p);
        free(b.p);
        sc.files++;
    }
    closedir(d);
    return sc;
}

START_TEST(scripts_name_stages_only_through_locals)
{
    lua_scan_t sc = scan_dir();
    ck_assert_int_ge(sc.files, 10);
    ck_assert_int_gt(sc.literals, 0);
    ck_assert_int_gt(sc.stage_uses, 0); /* dead.lua and deliver.lua use STAGE_FAILED */
    ck_assert_msg(sc.bad[0] == '\0', "%s", sc.bad);
}
END_TEST

START_TEST(scanner_catches_a_literal_and_an_unknown_local)
{
    lua_scan_t sc = {0};
    scan_lua(&sc, "a.lua", "-- 'failed' in a comment is fine\nstatus(id, STAGE_FAILED)\n");
    ck_assert_str_eq(sc.bad, "");
    scan_lua(&sc, "b.lua", "status(id, 'fail' .. \"ed\", 'x\\'') status(id, \"stored\")\n");
    ck_assert_str_eq(sc.bad, "b.lua: spells out the stage stored");
    lua_scan_t sc2 = {0};
    scan_lua(&sc2, "c.lua", "status(id, STAGE_FAILD)");
    ck_assert_str_eq(sc2.bad, "c.lua: uses an undefined STAGE_FAILD");
}
END_TEST

/* How many times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) n++;
    return n;
}

START_TEST(library_registers_every_script_once_under_its_hash)
{
    size_t len = 0;
    char name[RQ_LIB_NAME_MAX];
    char *text = rqueue_library_text(&len, name);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    /* imgcap_ and 16 hex digits, named in the shebang line Redis requires. */
    ck_assert_uint_eq(strlen(name), 7 + 16);
    ck_assert_int_eq(strncmp(name, "imgcap_", 7), 0);
    ck_assert_uint_eq(strspn(name + 7, "0123456789abcdef"), 16);
    char shebang[64];
    snprintf(shebang, sizeof shebang, "#!lua name=%s\n", name);
    ck_assert_int_eq(strncmp(text, shebang, strlen(shebang)), 0);
    ck_assert_int_eq(count_of(text, "redis.register_function{"), RQ_SCRIPT_COUNT);
    ck_assert_int_eq(count_of(text, "@_"), 0); /* every placeholder named */
    static const struct {
        const char *script, *flags;
    } want[] = {
        {"take_many", "{}"},
        {"take_one", "{}"},
        {"forward", "{'allow-oom'}"},
        {"ack", "{'allow-oom'}"},
        {"dead", "{'allow-oom'}"},
        {"heartbeat", "{'allow-oom'}"},
        {"reap", "{'allow-oom'}"},
        {"release", "{'allow-oom'}"},
        {"stats", "{'no-writes'}"},
        {"consumers", "{'no-writes'}"},
        {"status", "{}"},
    };
    ck_assert_int_eq((int)(sizeof want / sizeof want[0]), RQ_SCRIPT_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char decl[160];
        snprintf(decl, sizeof decl, "function_name='%s_%s', flags=%s,", name, want[i].script,
                 want[i].flags);
        ck_assert_msg(count_of(text, decl) == 1, "%s: not registered once", decl);
    }
    /* The same text, the same name: every process of one version agrees. */
    size_t len2 = 0;
    char name2[RQ_LIB_NAME_MAX];
    char *again = rqueue_library_text(&len2, name2);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(name, name2);
    ck_assert_str_eq(text, again);
    free(again);
    free(text);
}
END_TEST

Suite *rqueue_lua_suite(void)
{
    Suite *s = suite_create("rqueue_lua");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, scripts_name_stages_only_through_locals);
    tcase_add_test(tc, scanner_catches_a_literal_and_an_unknown_local);
    tcase_add_test(tc, library_registers_every_script_once_under_its_hash);
    suite_add_tcase(s, tc);
    return s;
}
