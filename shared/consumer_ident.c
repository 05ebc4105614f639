/* consumer_ident.c - consumer names and the dead-predecessor rule (pure; see
 * consumer_ident.h). */
#include "consumer_ident.h"

#include <stdio.h>
#include <string.h>

#define HEX_FIELD 8

int consumer_ident_format(const consumer_ident_t *id, char *out, size_t outlen)
{
    if (!id->base[0] || id->pid <= 0) return -1;
    int n = snprintf(out, outlen, "%s-%ld-%08x-%08x-%08x", id->base, id->pid, (unsigned)id->boot,
                     (unsigned)id->pidns, (unsigned)id->nonce);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Parses the "-xxxxxxxx" field that ends at *end (exclusive), moving *end to
 * its dash. Lowercase only, as written by the formatter. */
static int parse_hex_field(const char *name, const char **end, uint32_t *out)
{
    if (*end - name < HEX_FIELD + 1) return -1;
    const char *p = *end - HEX_FIELD;
    if (p[-1] != '-') return -1;
    uint32_t v = 0;
    for (int i = 0; i < HEX_FIELD; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    *end = p - 1;
    return 0;
}

int consumer_ident_parse(const char *name, consumer_ident_t *out)
{
    memset(out, 0, sizeof *out);
    const char *end = name + strlen(name);
    /* From the right: the base may contain dashes and digits (hostnames do). */
    if (parse_hex_field(name, &end, &out->nonce) < 0 ||
        parse_hex_field(name, &end, &out->pidns) < 0 || parse_hex_field(name, &end, &out->boot) < 0)
        return -1;
    const char *digits = end;
    while (digits > name && digits[-1] >= '0' && digits[-1] <= '9') digits--;
    size_t ndigits = (size_t)(end - digits);
    /* A positive pid without leading zeros, as %ld writes it, after "<base>-". */
    if (ndigits == 0 || ndigits > 18 || *digits == '0' || digits - name < 2 || digits[-1] != '-')
        return -1;
    long pid = 0;
    for (const char *d = digits; d < end; d++) pid = pid * 10 + (*d - '0');
    size_t baselen = (size_t)(digits - 1 - name);
    if (baselen >= sizeof out->base) return -1;
    memcpy(out->base, name, baselen);
    out->base[baselen] = '\0';
    out->pid = pid;
    return 0;
}

int consumer_ident_has_base(const char *name, const char *base)
{
    consumer_ident_t id;
    return consumer_ident_parse(name, &id) == 0 && strcmp(id.base, base) == 0;
}

const char *consumer_ident_predecessor_dead(const consumer_ident_t *self, const char *hostname,
                                            const consumer_ident_t *other,
                                            int (*pid_running)(long pid, void *arg), void *arg)
{
    if (strcmp(self->base, other->base) != 0) return NULL;
    if (other->pid == self->pid && other->boot == self->boot && other->pidns == self->pidns &&
        other->nonce == self->nonce)
        return NULL; /* ourselves */
    if (!self->boot || !self->pidns || other->boot != self->boot || !other->pidns) return NULL;
    if (other->pidns == self->pidns) {
        if (other->pid == self->pid) return "its pid is ours now";
        return pid_running(other->pid, arg) ? NULL : "its pid no longer runs";
    }
    if (other->pid == self->pid && strcmp(self->base, hostname) == 0)
        return "an earlier start of this container (same hostname and pid)";
    return NULL;
}

uint32_t consumer_ident_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}
