/* space.c - STORAGE_DIR's free space, read at most every 500 ms (see space.h). */
#include "space.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct api_space {
    const config_t *cfg;
    pthread_mutex_t mu;
    int have;         /* a reading was made */
    uint64_t read_at; /* monotonic ms of the last reading */
    int ok;           /* it succeeded: space is valid, else err */
    storage_space_t space;
    char err[256];
};

api_space_t *api_space_new(const config_t *cfg)
{
    api_space_t *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->cfg = cfg;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void api_space_free(api_space_t *s)
{
    if (s == NULL) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int api_space_get(api_space_t *s, uint64_t now_ms, storage_space_t *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    if (!s->have || now_ms < s->read_at || now_ms - s->read_at >= API_SPACE_MAX_AGE_MS) {
        s->ok = storage_space_read(s->cfg->storage_dir, s->cfg, &s->space, s->err, sizeof s->err) ==
                0;
        s->read_at = now_ms;
        s->have = 1;
    }
    int ok = s->ok;
    if (ok)
        *out = s->space;
    else
        snprintf(err, errlen, "%s", s->err);
    pthread_mutex_unlock(&s->mu);
    return ok ? 0 : -1;
}
