/* problem.h - RFC 9457 problem documents (application/problem+json), the body of
 * every error the API answers (design section 3). Pure: builds strings only. */
#ifndef IMGCAP_API_PROBLEM_H
#define IMGCAP_API_PROBLEM_H

#include <jansson.h>

#include "upload.h"

#define API_PROBLEM_CONTENT_TYPE "application/problem+json"

/* The reason phrase of an HTTP status ("Unprocessable Content"), "Error" if
 * the status is not one the API uses. */
const char *api_status_title(int status);

/* Builds {"type","title","status","detail"[,"errors":[{"field","message"}]]}
 * plus every member of extra (an object, may be NULL; not stolen). A member of
 * extra replaces a standard one of the same name: design section 3 wants the
 * problem of a dead-lettered image to say "status":"failed", like the 202 body
 * {"id","status"} of the same resource (RFC 9457 consumers ignore a status
 * member that is not a number; the HTTP status line still says 422). type NULL = "about:blank",
 * title NULL = api_status_title(status), detail NULL = no detail member. errors are added when
 * nerrors > 0. Returns a NUL-terminated string the caller frees with free(), or NULL when out of
 * memory. */
char *api_problem_json(int status, const char *type, const char *title, const char *detail,
                       const api_field_error_t *errors, int nerrors, const json_t *extra);

#endif
