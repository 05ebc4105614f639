/* check.h - `imgcap-api --check`: the Docker healthcheck of the api container
 * (the image has no curl). Asks the API on this host for GET /health. */
#ifndef IMGCAP_API_CHECK_H
#define IMGCAP_API_CHECK_H

#include <stddef.h>

#include "config.h"

/* Sends GET /health to API_HOST:API_PORT (a wildcard host is asked on the
 * loopback address of its family), waiting at most timeout_ms in total.
 * Returns the HTTP status, with the response body (cut to fit) in body, or -1
 * with the reason in body (its err) when nothing answered. */
int api_check_health(const config_t *cfg, int timeout_ms, char *body, size_t bodylen);

#endif
