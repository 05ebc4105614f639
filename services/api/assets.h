/* assets.h - the files the api serves from its own binary: the gallery page
 * (services/api/web/), the OpenAPI document and the vendored Swagger UI
 * (services/api/web/swagger-ui/), so that every page works on a network
 * without internet access.
 *
 * The Makefile embeds each file listed in its API_ASSETS at build time and
 * generates the table api_assets[] (name, bytes, size, strong ETag). */
#ifndef IMGCAP_API_ASSETS_H
#define IMGCAP_API_ASSETS_H

#include <stddef.h>

typedef struct api_asset {
    const char *name;          /* "index.html", "swagger-ui/swagger-ui.css", "openapi.json" */
    const unsigned char *data; /* NUL-terminated */
    size_t len;
    const char *etag; /* quoted: the first 128 bits of the SHA-256 of data, in hex */
} api_asset_t;

extern const api_asset_t api_assets[];
extern const unsigned api_assets_count;

/* The embedded file called name, or NULL. */
const api_asset_t *api_asset_find(const char *name);

/* The Content-Type to serve a file called name with, from its extension
 * (text types in UTF-8); "application/octet-stream" when unknown. */
const char *api_asset_content_type(const char *name);

#endif
