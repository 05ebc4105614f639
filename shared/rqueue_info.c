/* rqueue_info.c - what rqueue tells of Redis's memory: the OOM refusal of a
 * write at maxmemory, and INFO memory's figures for /health (rqueue.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rqueue_int.h"

int rqueue_error_is_oom(const rqueue_t *rq) { return rq->oom; }

int rqueue_reply_is_oom(const char *err) { return err != NULL && strncmp(err, "OOM ", 4) == 0; }

int rqueue_info_field(const char *info, const char *name, long long *out)
{
    size_t n = strlen(name);
    const char *p = info;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            char *end;
            errno = 0;
            long long v = strtoll(p + n + 1, &end, 10);
            if (errno != 0 || end == p + n + 1 || (*end != '\r' && *end != '\n' && *end != '\0'))
                return -1;
            *out = v;
            return 0;
        }
        p = strchr(p, '\n');
        if (p != NULL) p++;
    }
    return -1;
}

int rqueue_memory(rqueue_t *rq, long long *used, long long *max)
{
    const char *argv[] = {"INFO", "memory"};
    redisReply *r = rqconn_command(&rq->conn, 2, argv, NULL);
    if (r == NULL) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && rqueue_info_field(r->str, "used_memory", used) == 0 &&
        rqueue_info_field(r->str, "maxmemory", max) == 0)
        rc = 0;
    else
        rqconn_set_err(&rq->conn, "INFO memory: no used_memory or maxmemory in the reply");
    freeReplyObject(r);
    return rc;
}
