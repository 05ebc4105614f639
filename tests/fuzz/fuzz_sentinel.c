/* fuzz_sentinel.c - the Sentinel discovery parsers on arbitrary bytes.
 *
 * The first line is a REDIS_SENTINELS value; the rest is what a server could
 * answer (RESP), parsed by a hiredis reader as on a connection and handed to
 * the reply parsers. A sentinel or a server on the network is not trusted:
 * every answer is refused or yields an address with a non-empty host that
 * fits its buffer and a port in 1..65535. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel.h"

static void check_addr(const sentinel_addr_t *a)
{
    size_t n = strnlen(a->host, sizeof a->host);
    if (n == 0 || n == sizeof a->host || a->port < 1 || a->port > 65535) abort();
}

/* hiredis (0.14) allocates an array reply's element table as soon as it reads
 * the `*<count>` header, so "*4444444444" is a 35 GB calloc inside hiredis,
 * not a finding about the parsers under test: inputs announcing an aggregate
 * of more than 1024 elements are skipped. Real answers have at most a few. */
static int aggregates_bounded(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '*' && p[i] != '%' && p[i] != '~' && p[i] != '>') continue;
        unsigned long v = 0;
        for (size_t j = i + 1; j < n && p[j] >= '0' && p[j] <= '9'; j++) {
            v = v * 10 + (unsigned long)(p[j] - '0');
            if (v > 1024) return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *list = malloc(first + 1);
    if (list == NULL) return 0;
    memcpy(list, data, first);
    list[first] = '\0';
    sentinel_addr_t addrs[4];
    char err[256];
    int n = sentinel_parse_list(list, addrs, 4, err, sizeof err);
    if (n == 0 || n > 4) abort();
    for (int i = 0; i < n; i++) check_addr(&addrs[i]);
    free(list);
    if (nl == NULL || !aggregates_bounded(nl + 1, size - first - 1)) return 0;

    redisReader *rd = redisReaderCreate();
    if (rd == NULL) return 0;
    if (redisReaderFeed(rd, (const char *)nl + 1, size - first - 1) == REDIS_OK) {
        void *reply = NULL;
        while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
            const redisReply *r = reply;
            sentinel_addr_t a;
            if (sentinel_parse_master_addr(r, &a, err, sizeof err) == SENTINEL_MASTER_FOUND)
                check_addr(&a);
            int role = sentinel_parse_role(r, err, sizeof err);
            if (role != -1 && role != SENTINEL_NOT_PRIMARY && role != SENTINEL_PRIMARY) abort();
            if (r->type == REDIS_REPLY_ERROR) sentinel_error_needs_rediscovery(r->str);
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(rd);
    return 0;
}
