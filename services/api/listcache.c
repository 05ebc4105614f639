/* listcache.c - the newest pages of the list, in memory (see listcache.h). */
#include "listcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct api_listcache {
    pthread_mutex_t mu;
    api_list_page_t *pages[API_LISTCACHE_SLOTS]; /* NULL = empty */
};

api_listcache_t *api_listcache_new(void)
{
    api_listcache_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void api_list_page_release(api_list_page_t *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1) return;
    if (p->att_free != NULL) p->att_free(p->att);
    free(p);
}

void api_listcache_free(api_listcache_t *c)
{
    if (c == NULL) return;
    for (int i = 0; i < API_LISTCACHE_SLOTS; i++) api_list_page_release(c->pages[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int same_stamp(const api_list_stamp_t *a, const api_list_stamp_t *b)
{
    return a->events == b->events && a->forgets == b->forgets;
}

api_list_page_t *api_listcache_get(api_listcache_t *c, int limit, const api_list_stamp_t *st,
                                   uint64_t now_ms)
{
    api_list_page_t *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < API_LISTCACHE_SLOTS; i++) {
        api_list_page_t *p = c->pages[i];
        if (p == NULL || p->limit != limit) continue;
        /* A clock earlier than made_ms (another thread's reading) is fresh. */
        if (same_stamp(&p->stamp, st) &&
            (now_ms <= p->made_ms || now_ms - p->made_ms < API_LISTCACHE_MAX_AGE_MS)) {
            atomic_fetch_add(&p->refs, 1);
            found = p;
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void api_listcache_put(api_listcache_t *c, int limit, const api_list_stamp_t *st, uint64_t made_ms,
                       const char *body, size_t len, const char *link, void *att,
                       void (*att_free)(void *))
{
    size_t ll = link != NULL ? strlen(link) : 0;
    api_list_page_t *p = ll < API_LISTCACHE_LINK_MAX ? malloc(sizeof *p + len) : NULL;
    if (p == NULL) {
        if (att_free != NULL) att_free(att);
        return;
    }
    p->att = att;
    p->att_free = att_free;
    p->limit = limit;
    p->stamp = *st;
    p->made_ms = made_ms;
    memcpy(p->link, ll > 0 ? link : "", ll + 1);
    atomic_init(&p->refs, 1);
    p->len = len;
    memcpy(p->body, body, len);
    pthread_mutex_lock(&c->mu);
    int slot = -1;
    for (int i = 0; i < API_LISTCACHE_SLOTS && slot < 0; i++)
        if (c->pages[i] != NULL && c->pages[i]->limit == limit) slot = i;
    for (int i = 0; i < API_LISTCACHE_SLOTS && slot < 0; i++)
        if (c->pages[i] == NULL) slot = i;
    if (slot < 0) {
        slot = 0;
        for (int i = 1; i < API_LISTCACHE_SLOTS; i++)
            if (c->pages[i]->made_ms < c->pages[slot]->made_ms) slot = i;
    }
    api_list_page_t *old = c->pages[slot];
    c->pages[slot] = p;
    pthread_mutex_unlock(&c->mu);
    api_list_page_release(old);
}
