/* listquery.c - the filtered list's SQL and next URL (see listquery.h). */
#include "listquery.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "params.h"
#include "timeutil.h"

#define UUID_MS_MAX ((1LL << 48) - 1)

int api_listquery_parse(const api_list_params_t *in, api_list_query_t *out, const char **field,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    *field = "limit";
    if (api_parse_limit(in->limit, &out->limit, err, errlen) != 0) return -1;
    *field = "before";
    if (in->before != NULL && api_parse_id(in->before, out->before, err, errlen) != 0) return -1;
    *field = "from";
    if (in->from != NULL) {
        if (api_parse_time(in->from, &out->from_us, err, errlen) != 0) return -1;
        out->has_from = 1;
    }
    *field = "to";
    if (in->to != NULL) {
        if (api_parse_time(in->to, &out->to_us, err, errlen) != 0) return -1;
        out->has_to = 1;
        if (out->has_from && out->to_us <= out->from_us) {
            snprintf(err, errlen, "must be later than from (from is inclusive, to exclusive)");
            return -1;
        }
    }
    *field = "q";
    if (in->q != NULL) {
        if (api_parse_q(in->q, err, errlen) != 0) return -1;
        out->q = in->q;
    }
    *field = "camera";
    if (in->camera != NULL) {
        if (api_parse_camera(in->camera, err, errlen) != 0) return -1;
        out->camera = in->camera;
    }
    *field = NULL;
    return 0;
}

int api_listquery_filtered(const api_list_query_t *q)
{
    return q->has_from || q->has_to || q->q != NULL || q->camera != NULL;
}

long api_like_escape(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        int esc = *s == '%' || *s == '_' || *s == '\\';
        if (n + (size_t)esc + 1 >= outlen) return -1;
        if (esc) out[n++] = '\\';
        out[n++] = *s;
    }
    if (n >= outlen) return -1;
    out[n] = '\0';
    return (long)n;
}

void api_uuid_floor(int64_t unix_ms, char out[UUID_STR_LEN])
{
    if (unix_ms < 0) unix_ms = 0;
    if (unix_ms > UUID_MS_MAX) unix_ms = UUID_MS_MAX;
    unsigned long long v = (unsigned long long)unix_ms;
    snprintf(out, UUID_STR_LEN, "%08llx-%04llx-0000-0000-000000000000", v >> 16, v & 0xFFFFu);
}

long api_percent_encode(const char *s, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = plain ? 1 : 3;
        if (n + need >= outlen) return -1;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    if (n >= outlen) return -1;
    out[n] = '\0';
    return (long)n;
}

/* Appends printf output to sql; 0, or -1 when it does not fit. */
static int sql_add(api_list_sql_t *out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sql_add(api_list_sql_t *out, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out->sql + *len, sizeof out->sql - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof out->sql - *len) return -1;
    *len += (size_t)n;
    return 0;
}

/* The next placeholder's number for value v. */
static int param(api_list_sql_t *out, const char *v)
{
    out->params[out->nparams++] = v;
    return out->nparams;
}

/* floor and ceiling of us / 1000 */
static int64_t floor_ms(int64_t us) { return us / 1000 - (us % 1000 < 0); }
static int64_t ceil_ms(int64_t us) { return us / 1000 + (us % 1000 > 0); }

int api_listquery_build(const api_list_query_t *q, api_list_sql_t *out)
{
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > API_LIMIT_MAX) return -1;
    size_t len = 0;
    const char *sep = " WHERE ";
    /* images.id, not the output column id::text: only the uuid has an index. */
    if (sql_add(out, &len, "%s",
                "SELECT id::text, to_char(received_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), description, camera, thumb_bytes "
                "FROM images") != 0)
        return -1;
    if (q->has_from) {
        api_uuid_floor(floor_ms(q->from_us), out->from_id);
        if (time_format_rfc3339_us(q->from_us, out->from_ts, sizeof out->from_ts) != 0) return -1;
        int a = param(out, out->from_id), b = param(out, out->from_ts);
        if (sql_add(out, &len, "%simages.id >= $%d::uuid AND received_at >= $%d::timestamptz", sep,
                    a, b) != 0)
            return -1;
        sep = " AND ";
    }
    if (q->has_to) {
        api_uuid_floor(ceil_ms(q->to_us), out->to_id);
        if (time_format_rfc3339_us(q->to_us, out->to_ts, sizeof out->to_ts) != 0) return -1;
        int a = param(out, out->to_id), b = param(out, out->to_ts);
        if (sql_add(out, &len, "%simages.id < $%d::uuid AND received_at < $%d::timestamptz", sep, a,
                    b) != 0)
            return -1;
        sep = " AND ";
    }
    if (q->q != NULL) {
        if (api_like_escape(q->q, out->pattern, sizeof out->pattern) < 0) return -1;
        if (sql_add(out, &len,
                    "%slower(description) LIKE '%%' || lower($%d::text) || '%%' ESCAPE '\\'", sep,
                    param(out, out->pattern)) != 0)
            return -1;
        sep = " AND ";
    }
    if (q->camera != NULL) {
        /* Equality written as a range, ordered by (camera, id): see listquery.h. */
        int k = param(out, q->camera);
        if (sql_add(out, &len, "%scamera >= $%d::text AND camera <= $%d::text", sep, k, k) != 0)
            return -1;
        sep = " AND ";
    }
    if (q->before[0] != '\0') {
        if (sql_add(out, &len, "%simages.id < $%d::uuid", sep, param(out, q->before)) != 0)
            return -1;
    }
    snprintf(out->limit, sizeof out->limit, "%d", q->limit + 1);
    return sql_add(out, &len, " ORDER BY %simages.id DESC LIMIT $%d::int",
                   q->camera != NULL ? "camera DESC, " : "", param(out, out->limit));
}

/* Appends "&name=<value percent-encoded>" at out + *len. */
static int url_add(char *out, size_t outlen, size_t *len, const char *name, const char *value)
{
    int n = snprintf(out + *len, outlen - *len, "&%s=", name);
    if (n < 0 || (size_t)n >= outlen - *len) return -1;
    *len += (size_t)n;
    long e = api_percent_encode(value, strlen(value), out + *len, outlen - *len);
    if (e < 0) return -1;
    *len += (size_t)e;
    return 0;
}

long api_listquery_next_url(const api_list_query_t *q, const char *last_id, char *out,
                            size_t outlen)
{
    int n = snprintf(out, outlen, "/api/images?limit=%d", q->limit);
    if (n < 0 || (size_t)n >= outlen) return -1;
    size_t len = (size_t)n;
    char ts[TIME_RFC3339_US_LEN];
    if (url_add(out, outlen, &len, "before", last_id) != 0) return -1;
    if (q->has_from && (time_format_rfc3339_us(q->from_us, ts, sizeof ts) != 0 ||
                        url_add(out, outlen, &len, "from", ts) != 0))
        return -1;
    if (q->has_to && (time_format_rfc3339_us(q->to_us, ts, sizeof ts) != 0 ||
                      url_add(out, outlen, &len, "to", ts) != 0))
        return -1;
    if (q->q != NULL && url_add(out, outlen, &len, "q", q->q) != 0) return -1;
    if (q->camera != NULL && url_add(out, outlen, &len, "camera", q->camera) != 0) return -1;
    return (long)len;
}
