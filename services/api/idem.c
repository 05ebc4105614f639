/* idem.c - the Idempotency-Key of an upload, see idem.h. */
#include "idem.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int api_idem_parse_key(const char *value, char out[API_IDEM_KEY_MAX + 1], char *err, size_t errlen)
{
    const char *p = value, *end = value + strlen(value);
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p == end) {
                snprintf(err, errlen, "Idempotency-Key: a quoted key lacks its closing quote");
                return -1;
            }
            unsigned char ch = (unsigned char)*p;
            if (ch == '"') break;
            if (ch == '\\') {
                p++;
                if (p == end || (*p != '"' && *p != '\\')) {
                    snprintf(err, errlen, "Idempotency-Key: only \\\" and \\\\ may be escaped");
                    return -1;
                }
                ch = (unsigned char)*p;
            } else if (ch < 0x20 || ch > 0x7e) {
                snprintf(err, errlen, "Idempotency-Key: a key is printable ASCII");
                return -1;
            }
            if (n == API_IDEM_KEY_MAX) {
                snprintf(err, errlen, "Idempotency-Key: longer than %d bytes", API_IDEM_KEY_MAX);
                return -1;
            }
            out[n++] = (char)ch;
        }
        if (p + 1 != end) {
            snprintf(err, errlen, "Idempotency-Key: text after the quoted key");
            return -1;
        }
    } else {
        for (; p < end; p++) {
            if (!is_tchar((unsigned char)*p)) {
                snprintf(err, errlen,
                         "Idempotency-Key: not a token nor a quoted string (character 0x%02x)",
                         (unsigned char)*p);
                return -1;
            }
            if (n == API_IDEM_KEY_MAX) {
                snprintf(err, errlen, "Idempotency-Key: longer than %d bytes", API_IDEM_KEY_MAX);
                return -1;
            }
            out[n++] = *p;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "Idempotency-Key: empty");
        return -1;
    }
    out[n] = '\0';
    return 0;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One part: its length (8 bytes, big-endian), then its bytes. */
static int update_part(EVP_MD_CTX *md, const void *data, size_t len)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++) be[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return EVP_DigestUpdate(md, be, sizeof be) == 1 &&
                   (len == 0 || EVP_DigestUpdate(md, data, len) == 1)
               ? 0
               : -1;
}

int api_idem_fingerprint(const char *description, size_t dlen, const char *camera, size_t clen,
                         const unsigned char *image, size_t ilen, char out[API_IDEM_FP_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) return -1;
    unsigned char digest[32];
    unsigned int dn = 0;
    /* A camera-less upload differs from every camera, the empty name too. */
    unsigned char has_camera = camera != NULL;
    int ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             update_part(md, description, dlen) == 0 && EVP_DigestUpdate(md, &has_camera, 1) == 1 &&
             update_part(md, camera, camera != NULL ? clen : 0) == 0 &&
             update_part(md, image, ilen) == 0 && EVP_DigestFinal_ex(md, digest, &dn) == 1 &&
             dn == sizeof digest;
    EVP_MD_CTX_free(md);
    if (!ok) return -1;
    to_hex(digest, sizeof digest, out);
    return 0;
}

int api_idem_scope(const char *token, char out[API_IDEM_SCOPE_LEN])
{
    if (token[0] == '\0') {
        snprintf(out, API_IDEM_SCOPE_LEN, "open");
        return 0;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    if (EVP_Digest(token, strlen(token), digest, &dn, EVP_sha256(), NULL) != 1 || dn < 16)
        return -1;
    to_hex(digest, 16, out);
    return 0;
}

void api_idem_name(const char *scope, const char *key, char out[API_IDEM_NAME_MAX])
{
    snprintf(out, API_IDEM_NAME_MAX, "idem:%s:%s", scope, key);
}

void api_idem_value_format(const api_idem_value_t *v, char out[API_IDEM_VALUE_MAX])
{
    snprintf(out, API_IDEM_VALUE_MAX, "%s %s %s", v->fingerprint, v->id, v->received_at);
}

int api_idem_value_parse(const char *s, size_t len, api_idem_value_t *v)
{
    const size_t fp = API_IDEM_FP_LEN - 1, id = UUID_STR_LEN - 1;
    if (len <= fp + 1 + id + 1 || s[fp] != ' ' || s[fp + 1 + id] != ' ') return -1;
    size_t rlen = len - (fp + 1 + id + 1);
    if (rlen >= sizeof v->received_at) return -1;
    memcpy(v->fingerprint, s, fp);
    v->fingerprint[fp] = '\0';
    memcpy(v->id, s + fp + 1, id);
    v->id[id] = '\0';
    memcpy(v->received_at, s + fp + 1 + id + 1, rlen);
    v->received_at[rlen] = '\0';
    for (size_t i = 0; i < fp; i++)
        if (strchr("0123456789abcdef", v->fingerprint[i]) == NULL) return -1;
    return 0;
}
