/* docs.h - the /docs page: Swagger UI showing /api/openapi.json (pure: builds
 * a string). */
#ifndef IMGCAP_API_DOCS_H
#define IMGCAP_API_DOCS_H

#include <stddef.h>

/* Where /docs takes Swagger UI from when SWAGGER_UI_URL is empty: the copy
 * embedded in the binary (assets.h). */
#define API_SWAGGER_UI_LOCAL "/assets/swagger-ui"

/* The HTML of /docs loading Swagger UI's script and style sheet from
 * swagger_ui_url (trailing '/' dropped, escaped for an attribute; empty:
 * API_SWAGGER_UI_LOCAL). auth_configured 0 (no API_TOKEN): the page shows no
 * lock on the operations and no Authorize button. Returns a string the caller
 * frees with free(), its length in *len, or NULL when out of memory. */
char *api_docs_html(const char *swagger_ui_url, int auth_configured, size_t *len);

#endif
