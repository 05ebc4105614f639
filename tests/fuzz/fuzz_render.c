/* fuzz_render.c - the caption job (services/render/render.c) on arbitrary
 * bytes: corrupt, truncated, bomb-shaped and exotic JPEGs must fail with a
 * reason or render, never crash, leak or run away.
 *
 * Input: one option byte (bit 0: overlay mode, bits 1-3: which caption), then
 * the JPEG. MAX_PIXELS is 1<<18 so the fuzzer cannot make the decoder allocate
 * hundreds of megabytes, and an accepted output stays within MAX_PIXELS too
 * (the band must not be a way around the limit: a 65500x8 picture with 200
 * lines of caption would be a 196-megapixel output from a 6 KB upload). The
 * seeds are small pictures of every JPEG flavour
 * render supports. The font is the project's DejaVu Sans, found through
 * IMGCAP_ROOT (set by fuzz.mk) or the current directory. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/render.h"

#define FUZZ_MAX_PIXELS (1LL << 18)

static render_ctx_t *ctx_for[2];

/* 200 code points: 'a', 198 newlines, 'b' (the tallest band the API allows). */
#define NEWLINES_10 "\n\n\n\n\n\n\n\n\n\n"
#define NEWLINES_198                                                                        \
    NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10     \
        NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 \
            NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 NEWLINES_10 "\n\n\n\n\n\n\n\n"

static const char *const captions[8] = {
    "С начала фазы запрещающего сигнала прошло: 7 секунд",
    "x",
    "averyveryverylongwordthatmustbesplitbetweencharacters\nand a second line",
    "\U0001F6A6 \u2003 日本語 \u00e9\u0301",
    "a" NEWLINES_198 "b",
    "\t  \u00a0spaces\tand\ttabs  ",
    "\U0010FFFD\uFFFD\u200B\u200B",
    "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
};

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} header_err_t;

static void header_error_exit(j_common_ptr cinfo) { longjmp(((header_err_t *)cinfo->err)->jb, 1); }

/* Reads the header of a JPEG render produced with plain libjpeg (TurboJPEG's
 * header API refuses sampling factors it has no name for, which render keeps
 * from its input). Returns 0 with the size, or -1. */
static int output_size(const unsigned char *jpg, size_t len, int *w, int *h)
{
    struct jpeg_decompress_struct d;
    header_err_t e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = header_error_exit;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpg, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    *w = (int)d.image_width;
    *h = (int)d.image_height;
    jpeg_destroy_decompress(&d);
    return 0;
}

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
    const char *text = captions[(data[0] >> 1) & 7];
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
        int ow, oh;
        if (output_size(out, out_len, &ow, &oh) != 0 || ow != w || oh != h ||
            (long long)w * h > FUZZ_MAX_PIXELS)
            abort();
        free(out);
    } else {
        if (out != NULL || memchr(err, '\0', sizeof err) == NULL) abort();
    }
    const layout_t *lo;
    (void)render_layout_jpeg(ctx_for[mode], jpeg, len, text, strlen(text), &lo, err, sizeof err);
    free(jpeg);
    return 0;
}
