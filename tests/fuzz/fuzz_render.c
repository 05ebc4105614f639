/* fuzz_render.c - the caption job (services/render/render.c) on arbitrary
 * bytes: corrupt, truncated, bomb-shaped and exotic JPEGs must fail with a
 * reason or render, never crash, leak or run away.
 *
 * Input: one option byte (bit 0: overlay mode, bits 1-2: which caption), then
 * the JPEG. MAX_PIXELS is 1<<18 so the fuzzer cannot make the decoder allocate
 * hundreds of megabytes; the seeds are small pictures of every JPEG flavour
 * render supports. The font is the project's DejaVu Sans, found through
 * IMGCAP_ROOT (set by fuzz.mk) or the current directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "render/render.h"

#define FUZZ_MAX_PIXELS (1LL << 18)

static render_ctx_t *ctx_for[2];

static const char *const captions[4] = {
    "С начала фазы запрещающего сигнала прошло: 7 секунд",
    "x",
    "averyveryverylongwordthatmustbesplitbetweencharacters\nand a second line",
    "\U0001F6A6 \u2003 日本語 \u00e9\u0301",
};

static render_ctx_t *open_ctx(band_mode_t mode)
{
    static char font[1200];
    const char *root = getenv("IMGCAP_ROOT");
    snprintf(font, sizeof font, "%s/fonts/DejaVuSans.ttf", root && *root ? root : ".");
    render_opts_t o = {.font_file = font,
                       .font_size = 12,
                       .text_padding = 4,
                       .band_mode = mode,
                       .jpeg_quality = 90,
                       .max_pixels = FUZZ_MAX_PIXELS};
    char err[256];
    render_ctx_t *c = render_ctx_new(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "fuzz_render: %s (set IMGCAP_ROOT to the repository)\n", err);
        abort();
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] & 1;
    if (!ctx_for[mode]) ctx_for[mode] = open_ctx(mode ? BAND_OVERLAY : BAND_EXTEND);
    const char *text = captions[(data[0] >> 1) & 3];
    /* An exact-size heap copy, so ASan sees a read one byte past the upload. */
    size_t len = size - 1;
    unsigned char *jpeg = malloc(len ? len : 1);
    if (!jpeg) return 0;
    if (len) memcpy(jpeg, data + 1, len);

    unsigned char *out = NULL;
    size_t out_len = 0;
    int w = 0, h = 0;
    char err[256];
    if (render_caption(ctx_for[mode], jpeg, len, text, strlen(text), &out, &out_len, &w, &h, err,
                       sizeof err) == 0) {
        /* The output is a JPEG of the size render reports. */
        tjhandle tj = tjInitDecompress();
        int ow, oh, sub, cs;
        if (!tj || tjDecompressHeader3(tj, out, (unsigned long)out_len, &ow, &oh, &sub, &cs) != 0 ||
            ow != w || oh != h || (long long)w * h > 2 * FUZZ_MAX_PIXELS)
            abort();
        tjDestroy(tj);
        free(out);
    } else {
        if (out != NULL || memchr(err, '\0', sizeof err) == NULL) abort();
    }
    const layout_t *lo;
    (void)render_layout_jpeg(ctx_for[mode], jpeg, len, text, strlen(text), &lo, err, sizeof err);
    free(jpeg);
    return 0;
}
