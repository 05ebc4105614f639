/* sentinel.h - finding the Redis primary through Redis Sentinel.
 *
 * hiredis speaks no Sentinel, so rqueue asks each sentinel itself:
 * SENTINEL get-master-addr-by-name <name>, then ROLE on the address it got
 * (a sentinel may still name a demoted primary for a moment after a
 * failover). The parsers here are pure: they read replies that hiredis
 * already parsed, so unit tests and the fuzz target feed them RESP bytes
 * through a redisReader, with no socket. */
#ifndef IMGCAP_SENTINEL_H
#define IMGCAP_SENTINEL_H

#include <hiredis.h>
#include <stddef.h>

#define SENTINEL_MAX 16

typedef struct sentinel_addr {
    char host[256]; /* a name or an IPv4/IPv6 address, without brackets */
    int port;
} sentinel_addr_t;

/* Parses REDIS_SENTINELS: "host:port[,host:port...]"; an IPv6 address is
 * written in brackets ("[fd00::1]:26379"); the port defaults to 26379; spaces
 * around entries are ignored. Returns the number of entries (1..max), or -1
 * with err set (naming what is wrong). */
int sentinel_parse_list(const char *text, sentinel_addr_t *out, int max, char *err, size_t errlen);

/* What a sentinel's answers say; neither value is a failure. */
typedef enum {
    SENTINEL_NO_MASTER = 0,    /* the sentinel does not know the master name */
    SENTINEL_MASTER_FOUND = 1, /* the address is filled in */
} sentinel_master_t;
typedef enum {
    SENTINEL_NOT_PRIMARY = 0, /* a replica or a sentinel (reason in err) */
    SENTINEL_PRIMARY = 1,
} sentinel_role_t;

/* Reads the reply to SENTINEL get-master-addr-by-name: a two-element array of
 * host and port. Returns SENTINEL_MASTER_FOUND with *out filled,
 * SENTINEL_NO_MASTER for a nil reply, or -1 with err set (an error or a
 * malformed reply). */
int sentinel_parse_master_addr(const redisReply *r, sentinel_addr_t *out, char *err, size_t errlen);

/* Reads the reply to ROLE. Returns SENTINEL_PRIMARY ("master"),
 * SENTINEL_NOT_PRIMARY with err saying what it is instead, or -1 with err set
 * for anything else. */
int sentinel_parse_role(const redisReply *r, char *err, size_t errlen);

/* 1 when an error reply means this connection no longer reaches a writable
 * primary and the primary must be looked up again (READONLY from a demoted
 * primary, MASTERDOWN, LOADING after a restart), else 0. */
int sentinel_error_needs_rediscovery(const char *errstr);

#endif
