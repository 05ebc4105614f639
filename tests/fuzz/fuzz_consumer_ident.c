/* fuzz_consumer_ident.c - the consumer name parser (shared/consumer_ident.c).
 * Names come from Redis's consumer set, which anything with access to Redis
 * can write to. Every name the parser accepts must format back to the same
 * bytes, and the dead-predecessor rule must hold on whatever it parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_ident.h"

static int running_odd(long pid, void *arg)
{
    (void)arg;
    return (int)(pid & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap string, so ASan sees a read past its NUL. */
    size_t len = strnlen((const char *)data, size);
    char *name = malloc(len + 1);
    if (!name) return 0;
    memcpy(name, data, len);
    name[len] = '\0';
    consumer_ident_t id;
    if (consumer_ident_parse(name, &id) == 0) {
        char back[CONSUMER_NAME_MAX];
        if (consumer_ident_format(&id, back, sizeof back) != 0 || strcmp(back, name) != 0) abort();
        if (!consumer_ident_has_base(name, id.base)) abort();
        /* Never dead to itself; the rule answers for any parsed pair. */
        if (consumer_ident_predecessor_dead(&id, id.base, &id, running_odd, NULL)) abort();
        consumer_ident_t self = id;
        self.nonce ^= 1;
        (void)consumer_ident_predecessor_dead(&self, id.base, &id, running_odd, NULL);
    } else if (consumer_ident_has_base(name, "")) {
        abort();
    }
    free(name);
    return 0;
}
