/* front.c - the api's access handler in front of Ulfius's (see front.h). */
#include "front.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

static pthread_mutex_t front_mu = PTHREAD_MUTEX_INITIALIZER;
static MHD_AccessHandlerCallback armed_handler; /* NULL: pass through */
static void *armed_cls;
static api_front_inner_t *armed_inner;
static int armed_done;

void api_front_arm(MHD_AccessHandlerCallback handler, void *cls, api_front_inner_t *inner)
{
    pthread_mutex_lock(&front_mu);
    armed_handler = handler;
    armed_cls = cls;
    armed_inner = inner;
    armed_done = 0;
    pthread_mutex_unlock(&front_mu);
}

int api_front_disarm(void)
{
    pthread_mutex_lock(&front_mu);
    int done = armed_done;
    armed_handler = NULL;
    armed_cls = NULL;
    armed_inner = NULL;
    armed_done = 0;
    pthread_mutex_unlock(&front_mu);
    return done;
}

/* Replaces libmicrohttpd's MHD_start_daemon (same signature; its body is
 * MHD's own: MHD_start_daemon_va). The inner handler is recorded before MHD
 * starts its threads, so every request sees it. */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    pthread_mutex_lock(&front_mu);
    if (armed_handler != NULL && armed_inner != NULL && !armed_done) {
        armed_inner->handler = dh;
        armed_inner->cls = dh_cls;
        dh = armed_handler;
        dh_cls = armed_cls;
        armed_done = 1;
    }
    pthread_mutex_unlock(&front_mu);
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}
