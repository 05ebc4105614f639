/* fuzz_thumb.c - the thumbnail (services/render/thumb.c) of arbitrary bytes:
 * corrupt, truncated, bomb-shaped and exotic JPEGs must fail with a reason or
 * give a JPEG of exactly the size render_thumb_geometry() says, never crash,
 * leak or run away. One context per size serves every input, so the reuse of
 * its libjpeg objects after a failure is exercised too.
 *
 * Input: one option byte (bits 0-1: the thumbnail size, 16, 64, 200 or 320),
 * then the JPEG. MAX_PIXELS is 1<<18, as in fuzz_render.c. The seeds are
 * render's (tests/fuzz/make_seeds.py). */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/thumb.h"

#define FUZZ_MAX_PIXELS (1LL << 18)

static const int sizes[4] = {16, 64, 200, 320};
static render_thumb_t *ctx_for[4];

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} header_err_t;

static void header_error_exit(j_common_ptr cinfo) { longjmp(((header_err_t *)cinfo->err)->jb, 1); }

static void quiet(j_common_ptr cinfo, int level) { (void)cinfo, (void)level; }

/* Decodes a JPEG with plain libjpeg. Returns 0 with its size, or -1. */
static int decoded_size(const unsigned char *jpg, size_t len, int *w, int *h, int header_only)
{
    struct jpeg_decompress_struct d;
    header_err_t e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = header_error_exit;
    e.pub.emit_message = quiet;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpg, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    *w = (int)d.image_width;
    *h = (int)d.image_height;
    if (!header_only) {
        jpeg_start_decompress(&d);
        unsigned char *row = malloc((size_t)d.output_width * (size_t)d.output_components);
        if (row == NULL) abort();
        while (d.output_scanline < d.output_height) jpeg_read_scanlines(&d, &row, 1);
        free(row);
        jpeg_finish_decompress(&d);
        if (e.pub.num_warnings != 0) {
            jpeg_destroy_decompress(&d);
            return -1;
        }
    }
    jpeg_destroy_decompress(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] & 3;
    if (!ctx_for[which]) {
        ctx_for[which] = render_thumb_new(sizes[which], FUZZ_MAX_PIXELS);
        if (!ctx_for[which]) abort();
    }
    /* An exact-size heap copy, so ASan sees a read one byte past the input. */
    size_t len = size - 1;
    unsigned char *jpeg = malloc(len ? len : 1);
    if (!jpeg) return 0;
    if (len) memcpy(jpeg, data + 1, len);

    const unsigned char *out = NULL;
    size_t out_len = 0;
    int w = 0, h = 0;
    char err[256];
    if (render_thumb_make(ctx_for[which], jpeg, len, &out, &out_len, &w, &h, err, sizeof err) ==
        0) {
        /* The thumbnail decodes cleanly, at the size the geometry gives for
         * the source's, within the size asked for. */
        int sw, sh, ow, oh, tw, th;
        if (decoded_size(jpeg, len, &sw, &sh, 1) != 0 || decoded_size(out, out_len, &ow, &oh, 0))
            abort();
        render_thumb_geometry(sw, sh, sizes[which], &tw, &th);
        if (ow != w || oh != h || w != tw || h != th || w > sizes[which] || h > sizes[which] ||
            w < 1 || h < 1)
            abort();
    } else {
        if (out != NULL || memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') abort();
    }
    free(jpeg);
    return 0;
}
