/* rqha.h - where rqueue connects: REDIS_URL's host, or the primary that Redis
 * Sentinel names (REDIS_SENTINELS, REDIS_MASTER_NAME), and how long it waits:
 * the command timeout (REDIS_TIMEOUT_MS) and the WAIT for replicas
 * (REDIS_WAIT_REPLICAS) after an enqueue or a batch of outcomes.
 *
 * Process-wide and set once at start, before any rqueue is opened: every
 * connection of a process follows the same primary. */
#ifndef IMGCAP_RQHA_H
#define IMGCAP_RQHA_H

#include <stddef.h>

#include "config.h"

/* Takes the Redis settings of cfg. Returns 0, or -1 with err set (naming the
 * variable: a WAIT that could outlast the command timeout). */
int rq_ha_configure(const config_t *cfg, char *err, size_t errlen);

/* For rqueue.c: */
int rq_ha_enabled(void);       /* 1 when the primary comes from Sentinel */
int rq_ha_timeout_ms(void);    /* command timeout */
int rq_ha_wait_replicas(void); /* 0 = no WAIT */
int rq_ha_wait_timeout_ms(void);

/* Asks the sentinels in turn (starting with the one that answered last) for
 * the primary's address. Returns 0 with host/port filled, or -1 with err set
 * (each sentinel that did not name it is logged on the way). */
int rq_ha_discover(char *host, size_t hostlen, int *port, char *err, size_t errlen);

/* The address just discovered is not a primary (yet): ask the next sentinel
 * first next time. */
void rq_ha_distrust(void);

#endif
