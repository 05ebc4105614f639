/* problem.h - RFC 9457 problem documents (application/problem+json), the body of
 * every error the API answers (docs/api.md). Pure: builds strings only. */
#ifndef IMGCAP_API_PROBLEM_H
#define IMGCAP_API_PROBLEM_H

#include <jansson.h>

#include "upload.h"

#define API_PROBLEM_CONTENT_TYPE "application/problem+json"

/* The reason phrase of an HTTP status ("Unprocessable Content"), "Error" if
 * the status is not one the API uses. */
const char *api_status_title(int status);

/* True for the members RFC 9457 defines (type, title, status, detail, instance)
 * and our "errors": a problem's extension members must not use those names. */
int api_problem_member_reserved(const char *name);

/* Builds {"type","title","status","detail"[,"errors":[{"field","message"}]]}
 * plus every member of extra (an object, may be NULL; not stolen) except the
 * reserved ones (api_problem_member_reserved), which extra cannot replace: a
 * dead-lettered image's pipeline state goes in "state", while "status" stays
 * the HTTP status number generic clients expect. type NULL = "about:blank",
 * title NULL = api_status_title(status), detail NULL = no detail member. errors are added when
 * nerrors > 0. Returns a NUL-terminated string the caller frees with free(), or NULL when out of
 * memory. */
char *api_problem_json(int status, const char *type, const char *title, const char *detail,
                       const api_field_error_t *errors, int nerrors, const json_t *extra);

#endif
