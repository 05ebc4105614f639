/* floors.c - the two libjpeg-turbo floors the render benchmark is compared
 * with (issue 7): what any captioner of this JPEG must at least spend.
 *
 *   coef:  jpeg_read_coefficients + jpeg_write_coefficients, memory to memory,
 *          coefficients unchanged (the lossless route's cost without the band);
 *   tj:    tjDecompress2 to RGB + tjCompress2 at quality 90 with the source's
 *          chroma subsampling (the re-encode route's cost without the band).
 *
 * Usage: floors IN.jpg [iterations [rounds]]. Prints one line of JSON:
 * {"coef_ms":..,"tj_ms":..,"iterations":..,"rounds":..,"width":..,"height":..}
 * Each figure is the lowest per-round mean (rounds of `iterations` calls after
 * a warm-up), so that another process waking up during one round does not set
 * the figure. All buffers are allocated once and reused, as a service would. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>
#include <turbojpeg.h>

typedef struct floors_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} floors_err_t;

static void floors_error_exit(j_common_ptr cinfo)
{
    floors_err_t *e = (floors_err_t *)cinfo->err;
    longjmp(e->jump, 1);
}

static double floors_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One coefficient copy into out (cap bytes, reused across calls; the copy of
 * an unchanged image is about as large as its source). Returns 0 or -1. */
static int floors_copy_coefficients(const unsigned char *in, size_t inlen,
                                    unsigned char *out, size_t cap, unsigned long *outlen)
{
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    floors_err_t err;   /* shared by both objects: one jump target */

    src.err = jpeg_std_error(&err.mgr);
    dst.err = &err.mgr;
    err.mgr.error_exit = floors_error_exit;
    jpeg_create_decompress(&src);
    jpeg_create_compress(&dst);
    if (setjmp(err.jump)) {
        char msg[JMSG_LENGTH_MAX];
        err.mgr.format_message((j_common_ptr)&src, msg);
        fprintf(stderr, "floors: coefficient copy failed: %s\n", msg);
        jpeg_destroy_compress(&dst);
        jpeg_destroy_decompress(&src);
        return -1;
    }
    jpeg_mem_src(&src, in, inlen);
    jpeg_read_header(&src, TRUE);
    jvirt_barray_ptr *coefs = jpeg_read_coefficients(&src);
    jpeg_copy_critical_parameters(&src, &dst);
    /* libjpeg writes into `out` while it fits; a larger output would make it
     * switch to a buffer of its own, which the caller then frees. */
    unsigned char *buf = out;
    *outlen = cap;
    jpeg_mem_dest(&dst, &buf, outlen);
    jpeg_write_coefficients(&dst, coefs);
    jpeg_finish_compress(&dst);
    jpeg_finish_decompress(&src);
    jpeg_destroy_compress(&dst);
    jpeg_destroy_decompress(&src);
    if (buf != out) {
        free(buf);
        fprintf(stderr, "floors: coefficient copy outgrew its %zu-byte buffer\n", cap);
        return -1;
    }
    return 0;
}

typedef struct floors_tj {
    tjhandle dec, enc;
    int width, height, subsamp;
    unsigned char *rgb;   /* decoded pixels, owned here */
    unsigned char *jpeg;  /* encoder output, tjAlloc'd, owned here */
    unsigned long jpeg_size;
} floors_tj_t;

static int floors_tj_roundtrip(floors_tj_t *t, const unsigned char *in, size_t inlen)
{
    if (tjDecompress2(t->dec, in, inlen, t->rgb, t->width, 0, t->height, TJPF_RGB, 0) != 0) {
        fprintf(stderr, "floors: tjDecompress2: %s\n", tjGetErrorStr2(t->dec));
        return -1;
    }
    unsigned long size = t->jpeg_size;
    if (tjCompress2(t->enc, t->rgb, t->width, 0, t->height, TJPF_RGB, &t->jpeg, &size,
                    t->subsamp, 90, TJFLAG_NOREALLOC) != 0) {
        fprintf(stderr, "floors: tjCompress2: %s\n", tjGetErrorStr2(t->enc));
        return -1;
    }
    return 0;
}

static unsigned char *floors_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf)
        fprintf(stderr, "floors: cannot read %s\n", path);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IN.jpg [iterations [rounds]]\n", argv[0]);
        return 2;
    }
    int iterations = argc > 2 ? atoi(argv[2]) : 300;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (iterations < 1 || rounds < 1) {
        fprintf(stderr, "floors: iterations and rounds must be >= 1\n");
        return 2;
    }
    size_t inlen;
    unsigned char *in = floors_read_file(argv[1], &inlen);
    if (!in)
        return 1;

    int rc = 1;
    size_t coef_cap = 2 * inlen + 65536;
    unsigned char *coef_out = malloc(coef_cap);
    unsigned long coef_outlen = 0;
    floors_tj_t t = {0};
    t.dec = tjInitDecompress();
    t.enc = tjInitCompress();
    int colorspace;
    if (!t.dec || !t.enc ||
        tjDecompressHeader3(t.dec, in, inlen, &t.width, &t.height, &t.subsamp, &colorspace)) {
        fprintf(stderr, "floors: cannot read the JPEG header of %s\n", argv[1]);
        goto out;
    }
    if (t.subsamp < 0)  /* unusual sampling: encode as 4:4:4, the safe choice */
        t.subsamp = TJSAMP_444;
    t.rgb = malloc((size_t)t.width * t.height * 3);
    t.jpeg_size = tjBufSize(t.width, t.height, t.subsamp);
    t.jpeg = tjAlloc((int)t.jpeg_size);
    if (!t.rgb || !t.jpeg || !coef_out) {
        fprintf(stderr, "floors: out of memory\n");
        goto out;
    }

    double best_coef = 1e30, best_tj = 1e30;
    for (int i = 0; i < 10; i++)
        if (floors_copy_coefficients(in, inlen, coef_out, coef_cap, &coef_outlen) ||
            floors_tj_roundtrip(&t, in, inlen))
            goto out;
    /* Rounds interleave the two floors so that both see the same machine. */
    for (int r = 0; r < rounds; r++) {
        double t0 = floors_now_ms();
        for (int i = 0; i < iterations; i++)
            if (floors_copy_coefficients(in, inlen, coef_out, coef_cap, &coef_outlen))
                goto out;
        double t1 = floors_now_ms();
        for (int i = 0; i < iterations; i++)
            if (floors_tj_roundtrip(&t, in, inlen))
                goto out;
        double t2 = floors_now_ms();
        if ((t1 - t0) / iterations < best_coef)
            best_coef = (t1 - t0) / iterations;
        if ((t2 - t1) / iterations < best_tj)
            best_tj = (t2 - t1) / iterations;
    }
    printf("{\"coef_ms\":%.4f,\"tj_ms\":%.4f,\"iterations\":%d,\"rounds\":%d,"
           "\"width\":%d,\"height\":%d,\"in_bytes\":%zu,\"coef_out_bytes\":%lu}\n",
           best_coef, best_tj, iterations, rounds, t.width, t.height, inlen, coef_outlen);
    rc = 0;
out:
    free(coef_out);
    free(t.rgb);
    tjFree(t.jpeg);
    if (t.dec)
        tjDestroy(t.dec);
    if (t.enc)
        tjDestroy(t.enc);
    free(in);
    return rc;
}
