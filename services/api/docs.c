/* docs.c - the /docs page (see docs.h). */
#include "docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Escapes the n bytes at s for an HTML attribute. Returns a new string
 * (free()) or NULL. */
static char *html_escape(const char *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (s[i] == '&') ? 5 : (s[i] == '<' || s[i] == '>') ? 4 : (s[i] == '"') ? 6 : 1;
    char *out = malloc(len + 1), *o = out;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '&'   ? "&amp;"
                          : s[i] == '<' ? "&lt;"
                          : s[i] == '>' ? "&gt;"
                          : s[i] == '"' ? "&quot;"
                                        : NULL;
        if (rep != NULL) {
            memcpy(o, rep, strlen(rep));
            o += strlen(rep);
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Without a token configured nothing can be authorized: uploads and reads are
 * open, deletion is refused whatever is sent. Swagger UI would still draw a
 * lock on every operation that lists bearerAuth and an Authorize button; this
 * plugin draws neither (the components keep their names across Swagger UI 4
 * and 5). The document itself stays the same for every configuration. */
#define DOCS_NO_AUTH_PLUGIN                                                  \
    "  plugins: [() => ({wrapComponents: {authorizeBtn: () => () => null,\n" \
    "                                     authorizeOperationBtn: () => () => null}})],\n"

char *api_docs_html(const char *swagger_ui_url, int auth_configured, size_t *len)
{
    const char *base = swagger_ui_url[0] != '\0' ? swagger_ui_url : API_SWAGGER_UI_LOCAL;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    char *esc = html_escape(base, bl);
    if (esc == NULL) return NULL;
    char *html = NULL;
    int n = asprintf(&html,
                     "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>imgcap API - Swagger UI</title>\n"
                     "<link rel=\"icon\" href=\"data:,\">\n"
                     "<link rel=\"stylesheet\" href=\"%s/swagger-ui.css\">\n</head>\n<body>\n"
                     "<div id=\"swagger-ui\"></div>\n"
                     "<script src=\"%s/swagger-ui-bundle.js\"></script>\n<script>\n"
                     "window.ui = SwaggerUIBundle({url: \"/api/openapi.json\", "
                     "dom_id: \"#swagger-ui\", deepLinking: true,\n"
                     "  presets: [SwaggerUIBundle.presets.apis], layout: \"BaseLayout\",\n"
                     "%s"
                     "  validatorUrl: null});\n</script>\n</body>\n</html>\n",
                     esc, esc, auth_configured ? "" : DOCS_NO_AUTH_PLUGIN);
    free(esc);
    if (n < 0) return NULL;
    *len = (size_t)n;
    return html;
}
