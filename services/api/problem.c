/* problem.c - RFC 9457 problem documents (see problem.h). */
#include "problem.h"

#include <string.h>

const char *api_status_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

int api_problem_member_reserved(const char *name)
{
    static const char *const reserved[] = {"type",   "title",    "status",
                                           "detail", "instance", "errors"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0) return 1;
    return 0;
}

/* RFC 9457's own members keep their meaning: generic clients read "status" as
 * the HTTP status number, so an extension never replaces it (a failed image's
 * pipeline state once did, as "status":"failed"). 0, or -1 out of memory. */
static int set_extension(json_t *doc, const char *key, json_t *value)
{
    return api_problem_member_reserved(key) ? 0 : json_object_set(doc, key, value);
}

char *api_problem_json(int status, const char *type, const char *title, const char *detail,
                       const api_field_error_t *errors, int nerrors, const json_t *extra)
{
    json_t *doc = json_object();
    if (doc == NULL) return NULL;
    int bad = 0;
    bad |= json_object_set_new(doc, "type", json_string(type != NULL ? type : "about:blank"));
    bad |= json_object_set_new(doc, "title",
                               json_string(title != NULL ? title : api_status_title(status)));
    bad |= json_object_set_new(doc, "status", json_integer(status));
    if (detail != NULL) bad |= json_object_set_new(doc, "detail", json_string(detail));
    if (nerrors > 0) {
        json_t *arr = json_array();
        bad |= json_object_set_new(doc, "errors", arr);
        for (int i = 0; i < nerrors && arr != NULL; i++)
            bad |= json_array_append_new(arr, json_pack("{s:s, s:s}", "field", errors[i].field,
                                                        "message", errors[i].message));
    }
    if (extra != NULL && json_is_object(extra)) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)extra, key, value) bad |= set_extension(doc, key, value);
    }
    /* json_string() returns NULL for text that is not UTF-8; set_new then fails,
     * so a bad detail can never produce a half-built document. */
    char *out = bad ? NULL : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return out;
}
