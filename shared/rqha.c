/* rqha.c - Sentinel discovery and timeouts of Redis connections (see rqha.h). */
#include "rqha.h"

#include <hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sentinel.h"

/* A sentinel that does not answer within this is skipped: discovery must stay
 * well inside one command timeout even when a sentinel's host is cut off. */
#define RQ_HA_SENTINEL_TIMEOUT_MS 500

static struct {
    sentinel_addr_t sentinels[SENTINEL_MAX];
    int nsentinels;
    char master_name[128];
    int timeout_ms;
    int wait_replicas;
    int wait_timeout_ms;
    atomic_int first; /* the sentinel to ask first */
    pthread_mutex_t mu;
    char primary[300]; /* last primary seen, "host:port", to log changes once */
} H = {.timeout_ms = 10000, .wait_timeout_ms = 1000, .mu = PTHREAD_MUTEX_INITIALIZER};

int rq_ha_configure(const config_t *cfg, char *err, size_t errlen)
{
    H.nsentinels = 0;
    if (cfg->redis_sentinels[0]) {
        int n = sentinel_parse_list(cfg->redis_sentinels, H.sentinels, SENTINEL_MAX, err, errlen);
        if (n < 0) return -1;
        H.nsentinels = n;
    }
    snprintf(H.master_name, sizeof H.master_name, "%s", cfg->redis_master_name);
    H.timeout_ms = cfg->redis_timeout_ms;
    H.wait_replicas = cfg->redis_wait_replicas;
    H.wait_timeout_ms = cfg->redis_wait_timeout_ms;
    if (H.wait_replicas > 0 && H.wait_timeout_ms * 2 > H.timeout_ms) {
        snprintf(err, errlen,
                 "REDIS_WAIT_TIMEOUT_MS: %d ms must be at most half of REDIS_TIMEOUT_MS (%d ms)",
                 H.wait_timeout_ms, H.timeout_ms);
        return -1;
    }
    return 0;
}

int rq_ha_enabled(void) { return H.nsentinels > 0; }
int rq_ha_timeout_ms(void) { return H.timeout_ms; }
int rq_ha_wait_replicas(void) { return H.wait_replicas; }
int rq_ha_wait_timeout_ms(void) { return H.wait_timeout_ms; }

void rq_ha_distrust(void)
{
    if (H.nsentinels > 0) atomic_store(&H.first, (atomic_load(&H.first) + 1) % H.nsentinels);
}

/* One sentinel's answer: SENTINEL_MASTER_FOUND with out filled,
 * SENTINEL_NO_MASTER, or -1; err set unless found. */
static int ask_sentinel(const sentinel_addr_t *s, sentinel_addr_t *out, char *err, size_t errlen)
{
    struct timeval tv = {0, RQ_HA_SENTINEL_TIMEOUT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "sentinel %s:%d: %s", s->host, s->port,
                 c != NULL ? c->errstr : "out of memory");
        if (c != NULL) redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", H.master_name);
    int rc;
    if (r == NULL) {
        snprintf(err, errlen, "sentinel %s:%d: %s", s->host, s->port, c->errstr);
        rc = -1;
    } else {
        char why[256] = "";
        rc = sentinel_parse_master_addr(r, out, why, sizeof why);
        if (rc < 0) snprintf(err, errlen, "sentinel %s:%d: %s", s->host, s->port, why);
        if (rc == SENTINEL_NO_MASTER)
            snprintf(err, errlen, "sentinel %s:%d does not know '%s'", s->host, s->port,
                     H.master_name);
        freeReplyObject(r);
    }
    redisFree(c);
    return rc;
}

int rq_ha_discover(char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    int first = atomic_load(&H.first);
    snprintf(err, errlen, "no sentinel configured");
    for (int k = 0; k < H.nsentinels; k++) {
        int i = (first + k) % H.nsentinels;
        sentinel_addr_t primary;
        char why[512];
        if (ask_sentinel(&H.sentinels[i], &primary, why, sizeof why) != SENTINEL_MASTER_FOUND) {
            log_warn("redis: %s", why);
            snprintf(err, errlen, "no sentinel named the primary (last: %s)", why);
            continue;
        }
        atomic_store(&H.first, i);
        snprintf(host, hostlen, "%s", primary.host);
        *port = primary.port;
        char addr[300];
        snprintf(addr, sizeof addr, "%s:%d", primary.host, primary.port);
        pthread_mutex_lock(&H.mu);
        int changed = strcmp(addr, H.primary) != 0;
        if (changed) snprintf(H.primary, sizeof H.primary, "%s", addr);
        pthread_mutex_unlock(&H.mu);
        if (changed)
            log_info("redis: primary '%s' is %s (sentinel %s:%d)", H.master_name, addr,
                     H.sentinels[i].host, H.sentinels[i].port);
        return 0;
    }
    return -1;
}
