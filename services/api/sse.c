/* sse.c - the hub of GET /api/events (see sse.h). */
#include "sse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynbuf.h"
#include "timeutil.h"

#define HELLO_FMT_MAX 64
#define KEEPALIVE ": keep-alive\n\n"
#define FIRST_CAPACITY 4096

struct api_sse_client {
    pthread_cond_t cond; /* signalled on new output, cut-off and stop */
    dynbuf_t out;        /* pending output: out.ptr[start, out.len); max client_bytes */
    size_t start;
    int cut;    /* fell behind by more than client_bytes: ends at the next read */
    int ending; /* ends once its buffered output is read */
    api_sse_client_t *prev, *next;
};

struct api_sse {
    pthread_mutex_t mu;
    api_sse_client_t *clients;
    int nclients, max_clients;
    size_t client_bytes;
    int heartbeat_ms;
    int stopping;
    unsigned long long cut_off;
};

api_sse_t *api_sse_new(int max_clients, size_t client_bytes, int heartbeat_ms)
{
    api_sse_t *h = calloc(1, sizeof *h);
    if (h == NULL) return NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->max_clients = max_clients;
    h->client_bytes = client_bytes;
    h->heartbeat_ms = heartbeat_ms;
    return h;
}

void api_sse_free(api_sse_t *h)
{
    if (h == NULL) return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Bytes of c's output not read yet. Caller holds mu. */
static size_t pending(const api_sse_client_t *c) { return c->out.len - c->start; }

/* Drops c's output and marks it for ending. Caller holds mu. */
static void cut_locked(api_sse_t *h, api_sse_client_t *c)
{
    dynbuf_free(&c->out);
    c->start = 0;
    c->cut = 1;
    h->cut_off++;
    pthread_cond_signal(&c->cond);
}

/* Appends n bytes to c's output. 1 when c was cut off instead (over its
 * bound, or no memory to grow), 0 otherwise. Caller holds mu. */
static int append_locked(api_sse_t *h, api_sse_client_t *c, const char *data, size_t n)
{
    if (c->cut) return 0;
    size_t left = pending(c);
    if (left + n > h->client_bytes) {
        cut_locked(h, c);
        return 1;
    }
    /* the bytes already read make room before the buffer grows */
    if (c->out.len + n > c->out.cap && c->start > 0) {
        memmove(c->out.ptr, c->out.ptr + c->start, left);
        c->out.len = left;
        c->start = 0;
    }
    if (dynbuf_add(&c->out, data, n) < 0) { /* out of memory */
        cut_locked(h, c);
        return 1;
    }
    pthread_cond_signal(&c->cond);
    return 0;
}

api_sse_client_t *api_sse_attach(api_sse_t *h, api_sse_refusal_t *why)
{
    char hello[HELLO_FMT_MAX];
    int n = snprintf(hello, sizeof hello, "retry: %d\n: imgcap events\n\n", API_SSE_RETRY_MS);
    api_sse_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        *why = API_SSE_NOMEM;
        return NULL;
    }
    dynbuf_init(&c->out, h->client_bytes);
    if (dynbuf_reserve(&c->out,
                       FIRST_CAPACITY < h->client_bytes ? FIRST_CAPACITY : h->client_bytes) < 0 ||
        dynbuf_add(&c->out, hello, (size_t)n) < 0) {
        dynbuf_free(&c->out);
        free(c);
        *why = API_SSE_NOMEM;
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&h->mu);
    *why = h->stopping                     ? API_SSE_STOPPING
           : h->nclients >= h->max_clients ? API_SSE_FULL
                                           : API_SSE_OK;
    if (*why != API_SSE_OK) {
        pthread_mutex_unlock(&h->mu);
        pthread_cond_destroy(&c->cond);
        dynbuf_free(&c->out);
        free(c);
        return NULL;
    }
    c->next = h->clients;
    if (h->clients != NULL) h->clients->prev = c;
    h->clients = c;
    h->nclients++;
    pthread_mutex_unlock(&h->mu);
    return c;
}

ssize_t api_sse_read(api_sse_t *h, api_sse_client_t *c, char *buf, size_t max)
{
    struct timespec deadline;
    time_deadline(CLOCK_MONOTONIC, h->heartbeat_ms, &deadline);
    pthread_mutex_lock(&h->mu);
    int timed_out = 0;
    while (pending(c) == 0 && !c->cut && !c->ending && !h->stopping && !timed_out)
        timed_out = pthread_cond_timedwait(&c->cond, &h->mu, &deadline) != 0;
    size_t n = 0;
    size_t left = pending(c);
    if (left > 0) {
        n = left < max ? left : max;
        memcpy(buf, c->out.ptr + c->start, n);
        c->start += n;
        if (c->start == c->out.len) c->start = c->out.len = 0;
    } else if (!c->cut && !c->ending && !h->stopping) {
        n = sizeof KEEPALIVE - 1 < max ? sizeof KEEPALIVE - 1 : max;
        memcpy(buf, KEEPALIVE, n);
    }
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

void api_sse_detach(api_sse_t *h, api_sse_client_t *c)
{
    if (c == NULL) return;
    pthread_mutex_lock(&h->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    h->nclients--;
    pthread_mutex_unlock(&h->mu);
    pthread_cond_destroy(&c->cond);
    dynbuf_free(&c->out);
    free(c);
}

/* Appends s[0, n) to out at *pos when it fits; *pos always advances. */
static void put(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    if (*pos + n < outlen) memcpy(out + *pos, s, n);
    *pos += n;
}

long api_sse_format(char *out, size_t outlen, const char *event, const char *data)
{
    if (event == NULL || event[0] == '\0' || strpbrk(event, "\r\n") != NULL) return -1;
    size_t pos = 0;
    put(out, outlen, &pos, "event: ", 7);
    put(out, outlen, &pos, event, strlen(event));
    put(out, outlen, &pos, "\n", 1);
    const char *d = data != NULL ? data : "";
    size_t len = strlen(d), i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && d[i] != '\r' && d[i] != '\n') i++;
        put(out, outlen, &pos, "data: ", 6);
        put(out, outlen, &pos, d + start, i - start);
        put(out, outlen, &pos, "\n", 1);
        if (i >= len) break;
        if (d[i++] == '\r' && i < len && d[i] == '\n') i++; /* "\r\n" ends one line */
    }
    put(out, outlen, &pos, "\n", 1);
    if (outlen > 0) out[pos < outlen ? pos : outlen - 1] = '\0';
    return (long)pos;
}

int api_sse_broadcast(api_sse_t *h, const char *event, const char *data)
{
    char small[1024];
    long n = api_sse_format(small, sizeof small, event, data);
    if (n < 0) return -1;
    char *frame = small;
    if ((size_t)n >= sizeof small) {
        frame = malloc((size_t)n + 1);
        if (frame == NULL) return -1;
        api_sse_format(frame, (size_t)n + 1, event, data);
    }
    int cut = 0;
    pthread_mutex_lock(&h->mu);
    for (api_sse_client_t *c = h->clients; c != NULL; c = c->next)
        cut += append_locked(h, c, frame, (size_t)n);
    pthread_mutex_unlock(&h->mu);
    if (frame != small) free(frame);
    return cut;
}

void api_sse_quiesce(api_sse_t *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    for (api_sse_client_t *c = h->clients; c != NULL; c = c->next) pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&h->mu);
}

void api_sse_end_all(api_sse_t *h)
{
    pthread_mutex_lock(&h->mu);
    for (api_sse_client_t *c = h->clients; c != NULL; c = c->next) {
        c->ending = 1;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&h->mu);
}

void api_sse_stats(api_sse_t *h, int *clients, unsigned long long *cut_off)
{
    pthread_mutex_lock(&h->mu);
    *clients = h->nclients;
    *cut_off = h->cut_off;
    pthread_mutex_unlock(&h->mu);
}
