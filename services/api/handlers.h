/* handlers.h - the handlers of every route but the stored images (images.h):
 * uploads, the list, the event stream, /health, /metrics, the embedded files
 * and /docs (services/api/README.md). Each answers the call it is given
 * (call.h); none fails to answer. */
#ifndef IMGCAP_API_HANDLERS_H
#define IMGCAP_API_HANDLERS_H

#include "call.h"

void api_handle_upload(api_call_t *c);        /* POST /api/images */
void api_handle_list(api_call_t *c);          /* GET/HEAD /api/images */
void api_handle_events(api_call_t *c);        /* GET /api/events */
void api_handle_health(api_call_t *c);        /* GET/HEAD /health */
void api_handle_metrics(api_call_t *c);       /* GET/HEAD /metrics */
void api_handle_openapi(api_call_t *c);       /* GET/HEAD /api/openapi.json */
void api_handle_page(api_call_t *c);          /* GET/HEAD /: the gallery */
void api_handle_asset(api_call_t *c);         /* GET/HEAD /assets/{name} */
void api_handle_swagger_asset(api_call_t *c); /* GET/HEAD /assets/swagger-ui/{name} */
void api_handle_docs(api_call_t *c);          /* GET/HEAD /docs (docs.h builds the page) */

#endif
