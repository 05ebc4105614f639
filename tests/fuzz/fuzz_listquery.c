/* fuzz_listquery.c - GET /api/images's filters (services/api/listquery.c):
 * parameters in, SQL and next URL out.
 *
 * Input: a byte whose low 6 bits say which of limit, before, from, to, q,
 * camera are present, then their values separated by NUL bytes (missing
 * values are empty). Whatever the input: a refused query names one of the
 * six fields; an accepted one builds, its SQL's placeholders are exactly
 * $1..$nparams with every parameter set, and its next URL fits
 * API_LISTQUERY_URL_MAX with nothing but unreserved characters, percent
 * escapes and the URL's own & = ? / in it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/listquery.h"

#define NFIELDS 6

static void check_sql(const api_list_sql_t *s)
{
    if (s->nparams < 1 || s->nparams > API_LISTQUERY_MAX_PARAMS) abort();
    if (memchr(s->sql, '\0', sizeof s->sql) == NULL) abort();
    int seen[API_LISTQUERY_MAX_PARAMS + 1] = {0};
    for (const char *p = s->sql; (p = strchr(p, '$')) != NULL;) {
        p++;
        int n = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            n = n * 10 + (*p++ - '0');
            digits++;
        }
        if (n < 1 || n > s->nparams) abort();
        seen[n] = 1;
    }
    for (int i = 1; i <= s->nparams; i++)
        if (!seen[i] || s->params[i - 1] == NULL) abort();
}

static void check_url(const char *url, long n)
{
    if (n < 0 || (size_t)n != strlen(url) || n >= API_LISTQUERY_URL_MAX) abort();
    if (strncmp(url, "/api/images?limit=", 18) != 0) abort();
    for (long i = 0; i < n; i++) {
        char c = url[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || c == '&' || c == '=' || c == '?' ||
                 c == '/';
        if (c == '%') {
            const char *hex = "0123456789ABCDEF";
            if (i + 2 >= n || url[i + 1] == '\0' || url[i + 2] == '\0' ||
                strchr(hex, url[i + 1]) == NULL || strchr(hex, url[i + 2]) == NULL)
                abort();
            ok = 1;
        }
        if (!ok) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mask = data[0];
    /* An exact-size heap copy, NUL-terminated, split at the NULs in place. */
    char *buf = malloc(size);
    if (buf == NULL) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *val[NFIELDS];
    char *p = buf, *end = buf + size - 1;
    for (int i = 0; i < NFIELDS; i++) {
        val[i] = (mask >> i) & 1 ? p : NULL;
        size_t len = strlen(p); /* p + len <= end: *end is a NUL */
        p += len + (p + len < end ? 1 : 0);
    }
    api_list_params_t in = {.limit = val[0],
                            .before = val[1],
                            .from = val[2],
                            .to = val[3],
                            .q = val[4],
                            .camera = val[5]};
    api_list_query_t q;
    const char *field = NULL;
    char err[256];
    if (api_listquery_parse(&in, &q, &field, err, sizeof err) != 0) {
        static const char *const names[NFIELDS] = {"limit", "before", "from", "to", "q", "camera"};
        int known = 0;
        for (int i = 0; i < NFIELDS; i++) known |= field != NULL && strcmp(field, names[i]) == 0;
        if (!known || memchr(err, '\0', sizeof err) == NULL) abort();
        free(buf);
        return 0;
    }
    api_list_sql_t *s = malloc(sizeof *s);
    if (s == NULL) {
        free(buf);
        return 0;
    }
    if (api_listquery_build(&q, s) != 0) abort();
    check_sql(s);
    if (api_listquery_filtered(&q) != (q.has_from || q.has_to || q.q != NULL || q.camera != NULL))
        abort();
    char url[API_LISTQUERY_URL_MAX];
    long n = api_listquery_next_url(&q, "0192f5e4-7a3b-7c3d-8e4f-123456789abc", url, sizeof url);
    check_url(url, n);
    free(s);
    free(buf);
    return 0;
}
