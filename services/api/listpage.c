/* listpage.c - see listpage.h. */
#include "listpage.h"

#include <string.h>

#include "utf8.h"

#define LIT(b, s) dynbuf_add((b), (s), sizeof(s) - 1)

/* Bytes that need an escape in a JSON string: '"', '\\' and C0 controls.
 * Everything else, multi-byte UTF-8 included, is copied as it is. */
static int needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

int api_listpage_add_string(dynbuf_t *b, const char *s, size_t len)
{
    /* Room for the common case (nothing to escape) in one reservation. */
    if (dynbuf_reserve(b, b->len + len + 2) != 0) return -1;
    size_t before = b->len;
    if (LIT(b, "\"") != 0) return -1;
    /* One pass: ASCII is checked for escapes, a multi-byte sequence is
     * validated where it starts (strict UTF-8, utf8.h). */
    size_t run = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            if (utf8_next(s, len, &i) < 0) goto fail;
            continue;
        }
        if (!needs_escape(c)) {
            i++;
            continue;
        }
        if (dynbuf_add(b, s + run, i - run) != 0) goto fail;
        run = ++i;
        char esc[8];
        size_t n = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: {
            static const char hex[] = "0123456789ABCDEF"; /* jansson: "\\u%04X" */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        }
        if (dynbuf_add(b, esc, n) != 0) goto fail;
    }
    if (dynbuf_add(b, s + run, len - run) != 0 || LIT(b, "\"") != 0) goto fail;
    return 0;
fail:
    b->len = before;
    return -1;
}

static int add_cstring(dynbuf_t *b, const char *s)
{
    return api_listpage_add_string(b, s, strlen(s));
}

int api_listpage_begin(dynbuf_t *b)
{
    dynbuf_reset(b);
    return LIT(b, "{\"items\":[");
}

/* A canonical UUID's text (what the primary key prints): only hex digits and
 * '-', so it can go into the URLs as it is. */
static int canonical_id(const char *id)
{
    size_t n = strspn(id, "0123456789abcdef-");
    return n == 36 && id[n] == '\0';
}

int api_listpage_add(dynbuf_t *b, const api_listpage_item_t *it, int index)
{
    if (!canonical_id(it->id)) return -1;
    size_t before = b->len;
    if ((index > 0 && LIT(b, ",") != 0) || LIT(b, "{\"id\":") != 0 || add_cstring(b, it->id) != 0 ||
        LIT(b, ",\"received_at\":") != 0 || add_cstring(b, it->received_at) != 0 ||
        LIT(b, ",\"description\":") != 0 || add_cstring(b, it->description) != 0 ||
        LIT(b, ",\"camera\":") != 0 ||
        (it->camera != NULL ? add_cstring(b, it->camera) : LIT(b, "null")) != 0 ||
        LIT(b, ",\"url\":\"/api/images/") != 0 || dynbuf_add(b, it->id, strlen(it->id)) != 0 ||
        LIT(b, "\",\"thumbnail_url\":") != 0)
        goto fail;
    if (it->has_thumbnail) {
        if (LIT(b, "\"/api/images/") != 0 || dynbuf_add(b, it->id, strlen(it->id)) != 0 ||
            LIT(b, "/thumbnail\"}") != 0)
            goto fail;
    } else if (LIT(b, "null}") != 0) {
        goto fail;
    }
    return 0;
fail:
    b->len = before;
    return -1;
}

int api_listpage_end(dynbuf_t *b, const char *next_url)
{
    size_t before = b->len;
    if (LIT(b, "],\"next\":") != 0 ||
        (next_url != NULL ? add_cstring(b, next_url) : LIT(b, "null")) != 0 || LIT(b, "}") != 0 ||
        dynbuf_reserve(b, b->len + 1) != 0) {
        b->len = before;
        return -1;
    }
    b->ptr[b->len] = '\0';
    return 0;
}
