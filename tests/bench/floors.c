/* floors.c - the libjpeg-turbo floors the render benchmark is compared with:
 * what a captioner of this JPEG must at least spend, and below them
 * what the lossless route could cost if it did not decode the picture at all.
 *
 *   coef:   jpeg_read_coefficients + jpeg_write_coefficients, memory to memory,
 *           coefficients unchanged (the lossless route's cost without the band);
 *   tj:     tjDecompress2 to RGB + tjCompress2 at quality 90 with the source's
 *           chroma subsampling (the re-encode route's cost without the band);
 *   splice: the picture's entropy-coded bytes kept verbatim behind a restart
 *           marker and only a black band encoded (see floors_splice()); checked
 *           bit-exact on the picture rows before it is timed.
 *
 * Usage: floors IN.jpg [iterations [rounds [SPLICED_OUT.jpg]]]. Prints one line
 * of JSON: {"coef_ms","tj_ms","splice_ms" (null when IN does not fit the
 * splice),"splice_exact",...}. Each figure is the lowest per-round mean (rounds
 * of `iterations` calls after a warm-up), so that another process waking up
 * during one round does not set the figure. Buffers are allocated once and
 * reused, as a service would. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>
#include <turbojpeg.h>

#include "benchutil.h"

typedef struct floors_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} floors_err_t;

static void floors_error_exit(j_common_ptr cinfo)
{
    floors_err_t *e = (floors_err_t *)cinfo->err;
    longjmp(e->jump, 1);
}

/* One coefficient copy into out (cap bytes, reused across calls; the copy of
 * an unchanged image is about as large as its source). Returns 0 or -1. */
static int floors_copy_coefficients(const unsigned char *in, size_t inlen, unsigned char *out,
                                    size_t cap, unsigned long *outlen)
{
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    floors_err_t err; /* shared by both objects: one jump target */

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

/* ---- splice: the lossless route without entropy decoding ----
 *
 * The picture rows of a baseline JPEG whose height is a multiple of the MCU
 * height can be kept as their entropy-coded bytes: the output carries the
 * source's headers (SOF height patched), a restart interval that ends exactly
 * where the picture ends (the source's own DRI when the picture holds a whole
 * number of intervals, else one interval = the whole picture), the source's
 * scan bytes verbatim, one RST marker, then only the band's MCU rows encoded
 * with the source's quantization and Huffman tables (DC prediction restarts
 * at the marker, so nothing of the picture has to be decoded). The decoded
 * picture rows are bit-exact by construction. A source this does not fit
 * (progressive, arithmetic, several scans, odd height, a band symbol missing
 * from its Huffman tables) takes the coefficient route instead. This floor
 * encodes a black band of FLOORS_BAND_ROWS rows (the rows imgcap-render adds
 * for the benchmark's caption); drawing the text is not part of it. */
#define FLOORS_BAND_ROWS 38

typedef struct floors_jpeg_info {
    size_t sof;   /* offset of the SOF marker */
    size_t sos;   /* offset of the SOS marker */
    size_t eoi;   /* offset of the EOI marker ending the scan */
    unsigned dri; /* restart interval of the source, 0 = none */
    int width, height, max_h, max_v;
} floors_jpeg_info_t;

/* Finds the segments of a single-scan sequential Huffman JPEG. 0 or -1. */
static int floors_parse_jpeg(const unsigned char *in, size_t len, floors_jpeg_info_t *ji)
{
    memset(ji, 0, sizeof *ji);
    if (len < 4 || in[0] != 0xFF || in[1] != 0xD8) return -1;
    size_t i = 2;
    int ncomp = 0;
    for (;;) {
        while (i + 1 < len && in[i] == 0xFF && in[i + 1] == 0xFF) i++; /* fill bytes */
        if (i + 4 > len || in[i] != 0xFF) return -1;
        unsigned m = in[i + 1], seglen = (unsigned)in[i + 2] << 8 | in[i + 3];
        if (i + 2 + seglen > len) return -1;
        if (m == 0xC0 || m == 0xC1) {
            if (seglen < 8 || in[i + 4] != 8) return -1;
            ji->sof = i;
            ji->height = in[i + 5] << 8 | in[i + 6];
            ji->width = in[i + 7] << 8 | in[i + 8];
            ncomp = in[i + 9];
            if (ncomp < 1 || ncomp > 4 || seglen < 8 + 3u * ncomp) return -1;
            for (int c = 0; c < ncomp; c++) {
                int h = in[i + 11 + 3 * c] >> 4, v = in[i + 11 + 3 * c] & 15;
                if (h < 1 || h > 4 || v < 1 || v > 4) return -1;
                ji->max_h = h > ji->max_h ? h : ji->max_h;
                ji->max_v = v > ji->max_v ? v : ji->max_v;
            }
        } else if ((m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) || m == 0xD9) {
            return -1; /* progressive, lossless, arithmetic, or no scan */
        } else if (m == 0xDD) {
            if (seglen != 4) return -1;
            ji->dri = (unsigned)in[i + 4] << 8 | in[i + 5];
        } else if (m == 0xDA) {
            if (!ji->sof || in[i + 4] != ncomp)
                return -1; /* not one interleaved scan of every component */
            ji->sos = i;
            break;
        }
        i += 2 + seglen;
    }
    /* The scan runs to EOI; a second SOS would mean several scans. */
    size_t j = ji->sos + 2 + ((size_t)in[ji->sos + 2] << 8 | in[ji->sos + 3]);
    for (; j + 1 < len; j++) {
        if (in[j] != 0xFF || in[j + 1] == 0x00 || in[j + 1] == 0xFF ||
            (in[j + 1] >= 0xD0 && in[j + 1] <= 0xD7))
            continue;
        if (in[j + 1] != 0xD9) return -1;
        ji->eoi = j;
        return 0;
    }
    return -1;
}

/* Encodes the band alone with src's tables and restart interval; *scan and
 * *scan_len receive its entropy-coded bytes inside buf. 0 or -1. */
static int floors_encode_band(struct jpeg_decompress_struct *src, unsigned restart,
                              const unsigned char *row, unsigned char *buf, size_t cap,
                              const unsigned char **scan, size_t *scan_len)
{
    struct jpeg_compress_struct dst;
    floors_err_t err;
    dst.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = floors_error_exit;
    jpeg_create_compress(&dst);
    if (setjmp(err.jump)) {
        /* e.g. a band symbol without a code in the source's Huffman table */
        jpeg_destroy_compress(&dst);
        return -1;
    }
    jpeg_copy_critical_parameters(src, &dst);
    dst.image_height = FLOORS_BAND_ROWS;
    for (int t = 0; t < NUM_HUFF_TBLS; t++) {
        JHUFF_TBL **from[2] = {&src->dc_huff_tbl_ptrs[t], &src->ac_huff_tbl_ptrs[t]};
        JHUFF_TBL **to[2] = {&dst.dc_huff_tbl_ptrs[t], &dst.ac_huff_tbl_ptrs[t]};
        for (int k = 0; k < 2; k++) {
            if (!*from[k]) continue; /* no DHT: the standard tables, which dst has too */
            if (!*to[k]) *to[k] = jpeg_alloc_huff_table((j_common_ptr)&dst);
            memcpy((*to[k])->bits, (*from[k])->bits, sizeof(*to[k])->bits);
            memcpy((*to[k])->huffval, (*from[k])->huffval, sizeof(*to[k])->huffval);
        }
    }
    for (int c = 0; c < src->num_components; c++) {
        dst.comp_info[c].dc_tbl_no = src->comp_info[c].dc_tbl_no;
        dst.comp_info[c].ac_tbl_no = src->comp_info[c].ac_tbl_no;
    }
    dst.optimize_coding = FALSE;
    dst.restart_interval = restart;
    dst.write_JFIF_header = FALSE;
    dst.write_Adobe_marker = FALSE;
    unsigned char *out = buf;
    unsigned long out_len = cap;
    jpeg_mem_dest(&dst, &out, &out_len);
    jpeg_start_compress(&dst, TRUE);
    JSAMPROW rows[1] = {(JSAMPROW)row};
    while (dst.next_scanline < dst.image_height) jpeg_write_scanlines(&dst, rows, 1);
    jpeg_finish_compress(&dst);
    jpeg_destroy_compress(&dst);
    if (out != buf) {
        free(out);
        return -1;
    }
    floors_jpeg_info_t bi;
    if (floors_parse_jpeg(buf, out_len, &bi) != 0) return -1;
    *scan = buf + bi.sos + 2 + ((size_t)buf[bi.sos + 2] << 8 | buf[bi.sos + 3]);
    *scan_len = (size_t)(buf + bi.eoi - *scan);
    return 0;
}

/* One splice of in (+ band) into out (cap bytes). *outlen = bytes written.
 * row: one band row in the source's colour space. 0, or -1 if in does not fit. */
static int floors_splice(const unsigned char *in, size_t inlen, const unsigned char *row,
                         unsigned char *band, size_t band_cap, unsigned char *out, size_t cap,
                         size_t *outlen)
{
    floors_jpeg_info_t ji;
    if (floors_parse_jpeg(in, inlen, &ji) != 0 || ji.height % (8 * ji.max_v) != 0 ||
        ji.height + FLOORS_BAND_ROWS > 65535)
        return -1;
    unsigned long mcus = (unsigned long)((ji.width + 8 * ji.max_h - 1) / (8 * ji.max_h)) *
                         (unsigned long)(ji.height / (8 * ji.max_v));
    unsigned long restart = ji.dri ? ji.dri : mcus;
    if (restart > 65535 || mcus % restart != 0) return -1;
    unsigned long segments = mcus / restart;

    struct jpeg_decompress_struct src;
    floors_err_t err;
    src.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = floors_error_exit;
    jpeg_create_decompress(&src);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&src);
        return -1;
    }
    jpeg_mem_src(&src, in, inlen);
    jpeg_read_header(&src, TRUE);
    if (src.jpeg_color_space != JCS_YCbCr && src.jpeg_color_space != JCS_GRAYSCALE) {
        jpeg_destroy_decompress(&src);
        return -1; /* the black row below is YCbCr or gray */
    }
    const unsigned char *bscan;
    size_t bscan_len;
    int rc = floors_encode_band(&src, (unsigned)restart, row, band, band_cap, &bscan, &bscan_len);
    jpeg_destroy_decompress(&src);
    if (rc != 0) return -1;

    size_t need = ji.eoi + 6 + 2 + 2 * bscan_len + 2;
    if (need > cap) return -1;
    size_t o = 0;
    memcpy(out, in, ji.sos);
    o = ji.sos;
    unsigned h = (unsigned)ji.height + FLOORS_BAND_ROWS;
    out[ji.sof + 5] = (unsigned char)(h >> 8);
    out[ji.sof + 6] = (unsigned char)h;
    if (!ji.dri) {
        const unsigned char dri[6] = {
            0xFF, 0xDD, 0, 4, (unsigned char)(restart >> 8), (unsigned char)restart};
        memcpy(out + o, dri, sizeof dri);
        o += sizeof dri;
    }
    memcpy(out + o, in + ji.sos, ji.eoi - ji.sos);
    o += ji.eoi - ji.sos;
    out[o++] = 0xFF;
    out[o++] = (unsigned char)(0xD0 + (segments - 1) % 8);
    /* The band's own restart markers continue the picture's numbering. */
    for (size_t k = 0; k < bscan_len; k++) {
        out[o++] = bscan[k];
        if (bscan[k] == 0xFF && k + 1 < bscan_len && bscan[k + 1] >= 0xD0 && bscan[k + 1] <= 0xD7) {
            out[o++] = (unsigned char)(0xD0 + (bscan[k + 1] - 0xD0 + segments) % 8);
            k++;
        }
    }
    out[o++] = 0xFF;
    out[o++] = 0xD9;
    *outlen = o;
    return 0;
}

/* 1 when out's first rows decode (without fancy upsampling, which would let
 * the band's chroma reach into the last picture row) exactly as in's rows,
 * 0 if not, -1 if either does not decode. */
static int floors_rows_exact(tjhandle dec, const unsigned char *in, size_t inlen,
                             const unsigned char *out, size_t outlen)
{
    int w, h, w2, h2, ss, cs;
    if (tjDecompressHeader3(dec, in, inlen, &w, &h, &ss, &cs) ||
        tjDecompressHeader3(dec, out, outlen, &w2, &h2, &ss, &cs) || w2 != w ||
        h2 != h + FLOORS_BAND_ROWS)
        return -1;
    unsigned char *a = malloc((size_t)w * h * 3), *b = malloc((size_t)w2 * h2 * 3);
    int rc = -1;
    if (a && b && tjDecompress2(dec, in, inlen, a, w, 0, h, TJPF_RGB, TJFLAG_FASTUPSAMPLE) == 0 &&
        tjDecompress2(dec, out, outlen, b, w2, 0, h2, TJPF_RGB, TJFLAG_FASTUPSAMPLE) == 0)
        rc = memcmp(a, b, (size_t)w * h * 3) == 0;
    free(a);
    free(b);
    return rc;
}

typedef struct floors_tj {
    tjhandle dec, enc;
    int width, height, subsamp;
    unsigned char *rgb;  /* decoded pixels, owned here */
    unsigned char *jpeg; /* encoder output, tjAlloc'd, owned here */
    unsigned long jpeg_size;
} floors_tj_t;

static int floors_tj_roundtrip(floors_tj_t *t, const unsigned char *in, size_t inlen)
{
    if (tjDecompress2(t->dec, in, inlen, t->rgb, t->width, 0, t->height, TJPF_RGB, 0) != 0) {
        fprintf(stderr, "floors: tjDecompress2: %s\n", tjGetErrorStr2(t->dec));
        return -1;
    }
    unsigned long size = t->jpeg_size;
    if (tjCompress2(t->enc, t->rgb, t->width, 0, t->height, TJPF_RGB, &t->jpeg, &size, t->subsamp,
                    90, TJFLAG_NOREALLOC) != 0) {
        fprintf(stderr, "floors: tjCompress2: %s\n", tjGetErrorStr2(t->enc));
        return -1;
    }
    return 0;
}

/* A positive count from the command line, or -1. */
static int floors_parse_count(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 1 && v <= 1000000 ? (int)v : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IN.jpg [iterations [rounds [SPLICED_OUT.jpg]]]\n", argv[0]);
        return 2;
    }
    int iterations = argc > 2 ? floors_parse_count(argv[2]) : 300;
    int rounds = argc > 3 ? floors_parse_count(argv[3]) : 3;
    if (iterations < 1 || rounds < 1) {
        fprintf(stderr, "floors: iterations and rounds must be >= 1\n");
        return 2;
    }
    size_t inlen;
    unsigned char *in = bench_read_file("floors", argv[1], &inlen);
    if (!in) return 1;

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
    if (t.subsamp < 0) /* unusual sampling: encode as 4:4:4, the safe choice */
        t.subsamp = TJSAMP_444;
    t.rgb = malloc((size_t)t.width * t.height * 3);
    t.jpeg_size = tjBufSize(t.width, t.height, t.subsamp);
    t.jpeg = tjAlloc((int)t.jpeg_size);
    if (!t.rgb || !t.jpeg || !coef_out) {
        fprintf(stderr, "floors: out of memory\n");
        goto out;
    }

    /* Splice buffers; the band row is black in YCbCr (or gray: its first bytes). */
    size_t band_cap = 1 << 20, splice_cap = 2 * inlen + 65536, splice_len = 0;
    unsigned char *band = malloc(band_cap), *splice_out = malloc(splice_cap);
    unsigned char *row = malloc((size_t)t.width * 3);
    if (!band || !splice_out || !row) {
        fprintf(stderr, "floors: out of memory\n");
        goto out_splice;
    }
    for (int x = 0; x < t.width; x++) {
        row[3 * x] = 0;
        row[3 * x + 1] = row[3 * x + 2] = 128;
    }
    if (colorspace == TJCS_GRAY) memset(row, 0, (size_t)t.width);
    int splice_ok = floors_splice(in, inlen, row, band, band_cap, splice_out, splice_cap,
                                  &splice_len) == 0;
    int splice_exact = splice_ok ? floors_rows_exact(t.dec, in, inlen, splice_out, splice_len) : -1;
    if (argc > 4 && splice_ok) {
        FILE *f = fopen(argv[4], "wb");
        if (!f || fwrite(splice_out, 1, splice_len, f) != splice_len)
            fprintf(stderr, "floors: cannot write %s\n", argv[4]);
        if (f) fclose(f);
    }

    double best_coef = 1e30, best_tj = 1e30, best_splice = 1e30;
    for (int i = 0; i < 10; i++)
        if (floors_copy_coefficients(in, inlen, coef_out, coef_cap, &coef_outlen) ||
            floors_tj_roundtrip(&t, in, inlen))
            goto out_splice;
    /* Rounds interleave the two floors so that both see the same machine. */
    for (int r = 0; r < rounds; r++) {
        double t0 = bench_clock_ms(CLOCK_MONOTONIC);
        for (int i = 0; i < iterations; i++)
            if (floors_copy_coefficients(in, inlen, coef_out, coef_cap, &coef_outlen))
                goto out_splice;
        double t1 = bench_clock_ms(CLOCK_MONOTONIC);
        for (int i = 0; i < iterations; i++)
            if (floors_tj_roundtrip(&t, in, inlen)) goto out_splice;
        double t2 = bench_clock_ms(CLOCK_MONOTONIC);
        for (int i = 0; splice_ok && i < iterations; i++)
            if (floors_splice(in, inlen, row, band, band_cap, splice_out, splice_cap, &splice_len))
                goto out_splice;
        double t3 = bench_clock_ms(CLOCK_MONOTONIC);
        if (splice_ok && (t3 - t2) / iterations < best_splice) best_splice = (t3 - t2) / iterations;
        if ((t1 - t0) / iterations < best_coef) best_coef = (t1 - t0) / iterations;
        if ((t2 - t1) / iterations < best_tj) best_tj = (t2 - t1) / iterations;
    }
    char splice_ms[32] = "null";
    if (splice_ok) snprintf(splice_ms, sizeof splice_ms, "%.4f", best_splice);
    printf("{\"coef_ms\":%.4f,\"tj_ms\":%.4f,\"splice_ms\":%s,\"splice_exact\":%s,"
           "\"splice_band_rows\":%d,\"iterations\":%d,\"rounds\":%d,\"width\":%d,"
           "\"height\":%d,\"in_bytes\":%zu,\"coef_out_bytes\":%lu,\"splice_out_bytes\":%zu}\n",
           best_coef, best_tj, splice_ms, splice_exact == 1 ? "true" : "false", FLOORS_BAND_ROWS,
           iterations, rounds, t.width, t.height, inlen, coef_outlen, splice_len);
    rc = 0;
out_splice:
    free(band);
    free(splice_out);
    free(row);
out:
    free(coef_out);
    free(t.rgb);
    tjFree(t.jpeg);
    if (t.dec) tjDestroy(t.dec);
    if (t.enc) tjDestroy(t.enc);
    free(in);
    return rc;
}
