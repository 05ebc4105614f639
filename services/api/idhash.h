/* idhash.h - where an image id lands in the api's caches. */
#ifndef IMGCAP_API_IDHASH_H
#define IMGCAP_API_IDHASH_H

#include <stdint.h>

/* FNV-1a over the whole id: its first 12 hex digits are a timestamp, so
 * neither end alone spreads ids evenly. */
static inline uint64_t api_id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

#endif
