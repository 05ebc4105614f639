/* assets.c - lookup of the embedded files (see assets.h). */
#include "assets.h"

#include <string.h>
#include <strings.h>

const api_asset_t *api_asset_find(const char *name)
{
    if (name == NULL) return NULL;
    for (unsigned i = 0; i < api_assets_count; i++)
        if (strcmp(api_assets[i].name, name) == 0) return &api_assets[i];
    return NULL;
}

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".png", "image/png"},
    {".svg", "image/svg+xml"},
};

const char *api_asset_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash != NULL ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot == NULL) /* LICENSE, NOTICE */
        return base[0] != '\0' ? "text/plain; charset=utf-8" : "application/octet-stream";
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcasecmp(dot, TYPES[i].ext) == 0) return TYPES[i].type;
    return "application/octet-stream";
}
