/* fuzz_splice.c - the hand-written JPEG walkers of the lossless splice
 * (services/render/splice.c): render_splice_parse() reads every marker of the
 * upload, render_splice_check_scan() every Huffman code of its scan, both on
 * raw bytes before libjpeg has judged them. Faster than fuzz_render, which
 * reaches them only after a full decode.
 *
 * Whatever the input: parse either refuses or gives offsets in order inside
 * the buffer, and the scan check either refuses or accepts, never reading
 * outside the buffer (an exact-size heap copy, so ASan sees any over-read). */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/splice.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} fuzz_err_t;

static void fuzz_error_exit(j_common_ptr cinfo) { longjmp(((fuzz_err_t *)cinfo->err)->jb, 1); }

static void fuzz_emit(j_common_ptr cinfo, int level)
{
    (void)cinfo;
    (void)level;
}

/* jpeg_read_header() on in, then the scan check (what render.c does before it
 * trusts a splice). Kept in its own function: nothing local survives longjmp. */
static void check_scan(const unsigned char *in, size_t len, const render_splice_src_t *sp)
{
    struct jpeg_decompress_struct d;
    fuzz_err_t e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = fuzz_error_exit;
    e.pub.emit_message = fuzz_emit;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        return;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, in, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    /* render.c only splices what libjpeg can read as 8-bit sequential. */
    if (d.data_precision == 8 && !d.progressive_mode && !d.arith_code &&
        (long long)d.image_width * d.image_height <= (1LL << 20)) {
        char why[256];
        (void)render_splice_check_scan(in, sp, &d, NULL, why, sizeof why);
    }
    jpeg_destroy_decompress(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *in = malloc(size ? size : 1);
    if (!in) return 0;
    if (size) memcpy(in, data, size);
    render_splice_src_t sp;
    char why[256];
    if (render_splice_parse(in, size, &sp, why, sizeof why) == 0) {
        if (!(sp.sof < sp.sos && sp.sos < sp.data && sp.data <= sp.scan_end && sp.scan_end <= size))
            abort();
        check_scan(in, size, &sp);
    } else if (memchr(why, '\0', sizeof why) == NULL) {
        abort();
    }
    free(in);
    return 0;
}
