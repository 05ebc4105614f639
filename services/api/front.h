/* front.h - a libmicrohttpd access handler of the api's own placed in front of
 * Ulfius's, so that the hottest route (a stored image) is answered without
 * Ulfius's per-request machinery (services/api/README.md, Reads without
 * Ulfius).
 *
 * MHD takes one access handler, given to MHD_start_daemon(); Ulfius passes
 * its own, a static function, and offers no way to wrap it. front.c therefore
 * defines MHD_start_daemon(): the executable's definition is the one the
 * dynamic linker binds libulfius's call to. While armed (api_front_arm), the
 * call starts MHD with the handler given here and hands Ulfius's handler to
 * it (api_front_inner); unarmed, it passes everything through unchanged, so a
 * program that never arms it (the unit tests) sees plain MHD.
 *
 * Whether the call went through here is checked, not assumed: after starting
 * Ulfius the server asks api_front_inner(), and without it (a libulfius that
 * started MHD another way) every request simply goes to Ulfius as before. */
#ifndef IMGCAP_API_FRONT_H
#define IMGCAP_API_FRONT_H

#include <microhttpd.h>

typedef struct api_front_inner {
    MHD_AccessHandlerCallback handler; /* Ulfius's dispatcher */
    void *cls;                         /* its argument (the Ulfius instance) */
} api_front_inner_t;

/* The next MHD_start_daemon() call uses handler(cls, ...) and records the
 * handler it was given in *inner (before MHD accepts a connection). Then
 * disarms. */
void api_front_arm(MHD_AccessHandlerCallback handler, void *cls, api_front_inner_t *inner);

/* Disarms (after the start, whatever happened). Returns 1 when the armed call
 * took place and *inner is set, 0 otherwise. */
int api_front_disarm(void);

#endif
