/* uuid.c - UUIDv7 with a 12-bit sequence in rand_a (RFC 9562 method 1), so ids
 * made in one process in the same millisecond still sort in creation order. */
#include "uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t uuid_last_ms;
static uint16_t uuid_seq;

int uuid_v7_make(uint64_t unix_ms, char out[UUID_STR_LEN])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) return -1;

    pthread_mutex_lock(&uuid_lock);
    if (unix_ms <= uuid_last_ms) {
        /* Same (or an earlier, after a clock step) millisecond: keep the last
         * timestamp and count up; on overflow borrow the next millisecond. */
        unix_ms = uuid_last_ms;
        if (++uuid_seq > 0x0FFF) {
            unix_ms++;
            uuid_seq = 0;
        }
    } else {
        uuid_seq = (uint16_t)(((b[6] << 8) | b[7]) & 0x01FF); /* random start, room to count */
    }
    uuid_last_ms = unix_ms;
    uint16_t seq = uuid_seq;
    pthread_mutex_unlock(&uuid_lock);

    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(unix_ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0F));
    b[7] = (unsigned char)(seq & 0xFF);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int uuid_is_valid(const char *s)
{
    if (s == NULL) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (hex_value(s[i]) < 0) {
            return 0;
        }
    }
    return s[36] == '\0';
}

int64_t uuid_v7_time_ms(const char *s)
{
    if (!uuid_is_valid(s) || s[14] != '7') return -1;
    int64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (s[i] == '-') continue;
        int v = hex_value(s[i]);
        if (v < 0) return -1;
        ms = (ms << 4) | v;
    }
    return ms;
}
