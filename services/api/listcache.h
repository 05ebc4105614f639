/* listcache.h - the newest pages of GET /api/images (no filter, no
 * `before`), kept in memory so that the page most clients ask for is not a
 * PostgreSQL query and a page written anew each time (services/api/README.md,
 * The list's cache).
 *
 * Consistency: a page is cached with the stamp read *before* its query ran:
 * the count of stored/deleted events the events actor has received (and of
 * its subscription changes), and the count of deletions this api has seen
 * (images.h). It is answered only while both counts are still the same, so an
 * event that reached the api after the query began makes the page a miss:
 * once a stored or deleted event has reached the api, no cached page answers
 * without that row or with that row (the event's row was committed or
 * deleted before the event was published). A page is also answered for at
 * most API_LISTCACHE_MAX_AGE_MS: changes that publish no event (the
 * janitor's retention and recycling) show after at most that long.
 *
 * Entries are reference counted and immutable: a page being sent stays valid
 * when it is replaced. Thread-safe (one mutex for pointer copies); pure: no
 * I/O, the caller passes the clock. */
#ifndef IMGCAP_API_LISTCACHE_H
#define IMGCAP_API_LISTCACHE_H

#include <stddef.h>
#include <stdint.h>

#define API_LISTCACHE_SLOTS 8         /* distinct `limit`s kept */
#define API_LISTCACHE_MAX_AGE_MS 1000 /* see above */
#define API_LISTCACHE_LINK_MAX 512    /* a Link value ("<next URL>; rel=\"next\"") */

/* What a page was computed under (see above). */
typedef struct api_list_stamp {
    unsigned long events;  /* api_events_changes() */
    unsigned long forgets; /* api_images_forgets() */
} api_list_stamp_t;

typedef struct api_list_page {
    int limit;
    api_list_stamp_t stamp;
    uint64_t made_ms;                  /* when its query began (the caller's clock) */
    char link[API_LISTCACHE_LINK_MAX]; /* "" when there is no next page */
    void *att;                         /* the caller's (its ready responses), or NULL */
    void (*att_free)(void *);          /* called on att with the last reference */
    _Atomic unsigned long refs;
    size_t len;
    char body[]; /* len bytes of JSON */
} api_list_page_t;

typedef struct api_listcache api_listcache_t;

api_listcache_t *api_listcache_new(void); /* NULL when out of memory */
void api_listcache_free(api_listcache_t *c);

/* A reference to the cached page of limit when it was made under stamp st
 * and is younger than API_LISTCACHE_MAX_AGE_MS at now_ms; NULL otherwise. */
api_list_page_t *api_listcache_get(api_listcache_t *c, int limit, const api_list_stamp_t *st,
                                   uint64_t now_ms);

void api_list_page_release(api_list_page_t *p); /* NULL is fine */

/* Caches a copy of the page of limit (body, len; link NULL or "" without a
 * next page) made under st, whose query began at made_ms, with att (may be
 * NULL; freed with att_free when the page goes, or at once when nothing is
 * cached); replaces that limit's older page, else the oldest one. Nothing is
 * cached when out of memory or link does not fit. */
void api_listcache_put(api_listcache_t *c, int limit, const api_list_stamp_t *st, uint64_t made_ms,
                       const char *body, size_t len, const char *link, void *att,
                       void (*att_free)(void *));

#endif
