/* splice.h - the lossless route without decoding the picture (services/render/README.md, The job).
 *
 * A sequential Huffman JPEG with one scan of all its components, whose height
 * is a whole number of MCU rows, is captioned without touching its
 * entropy-coded data. The output is
 *   - the source's bytes up to its SOS marker, every marker kept (APPn, COM,
 *     DQT, DHT, ...), with the SOF height patched and, when the source has no
 *     restart interval, a DRI whose interval is the picture's MCU count;
 *   - the source's scan bytes verbatim;
 *   - the RST marker that ends the picture's last restart interval;
 *   - the band's MCUs, entropy-coded here with the source's own Huffman
 *     tables (the marker resets DC prediction, so nothing of the picture has
 *     to be decoded), with further RST markers every interval;
 *   - EOI.
 * A decoder therefore sees exactly the source's coefficients above the band
 * and the band's coefficients below it: the same as the coefficient copy.
 *
 * splice.c parses and writes; splice_verify.c holds the proof walk of the
 * picture's scan. render_splice_write() does not look at the picture's scan data: the
 * caller must prove it sound with render_splice_check_scan() first, or a
 * corrupt upload would be passed on instead of failing. */
#ifndef IMGCAP_RENDER_SPLICE_H
#define IMGCAP_RENDER_SPLICE_H

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE */

#include <jpeglib.h>

#include "band.h"
#include "dynbuf.h"

/* Where the parts of a spliceable source are. */
typedef struct render_splice_src {
    size_t sof;        /* offset of the SOF0/SOF1 marker */
    size_t sos;        /* offset of the SOS marker */
    size_t data;       /* first byte of the scan's entropy-coded data */
    size_t scan_end;   /* end of the scan's entropy-coded bytes: the EOI marker,
                          fill bytes before it excluded */
    unsigned restarts; /* RST markers inside the scan's data */
} render_splice_src_t;

/* Walks in[0..len): SOI, marker segments, one SOF0/SOF1 frame, one scan of
 * every frame component, EOI right after the scan's data. Returns 0 with sp
 * filled, or -1 with why set when the layout does not allow a splice (not a
 * verdict on the file: the caller takes another route). */
int render_splice_parse(const unsigned char *in, size_t len, render_splice_src_t *sp, char *why,
                        size_t whylen);

/* Decoding tables kept from one walk to the next: a camera sends the same
 * Huffman tables with every picture, and building them costs about a tenth
 * of a walk. Owned by one thread at a time. */
typedef struct render_splice_cache render_splice_cache_t;
render_splice_cache_t *render_splice_cache_new(void); /* NULL when out of memory */
void render_splice_cache_free(render_splice_cache_t *cache);

/* Decodes the Huffman codes of the picture's scan (in, parsed into sp; src
 * after jpeg_read_header()) without keeping any coefficient: 0 when it is
 * exactly the frame's MCUs, every code in the tables, every block within its
 * 64 coefficients, the RST markers in sequence right after each interval's
 * last byte and EOI right after the last MCU's. libjpeg reads such data
 * without any warning. -1 with why set otherwise, which is not a verdict: this is
 * stricter than libjpeg (the caller then asks libjpeg). cache: tables to
 * reuse and update, or NULL to build them for this call only. */
int render_splice_check_scan(const unsigned char *in, const render_splice_src_t *sp,
                             j_decompress_ptr src, render_splice_cache_t *cache, char *why,
                             size_t whylen);

typedef enum { RENDER_SPLICE_DONE = 0, RENDER_SPLICE_NO_FIT = 1 } render_splice_rc_t;

/* Writes the captioned JPEG: in (parsed into sp) above the band.
 * src: the source's decompressor after jpeg_read_header() (geometry, the scan's
 *   components and Huffman tables, restart interval).
 * band: the band's blocks for src (band.h): same width, sampling and
 *   quantization.
 * out: receives the JPEG from its start (out->len = its size), grown within
 *   its max; the caller owns it in every case.
 * Returns RENDER_SPLICE_DONE; RENDER_SPLICE_NO_FIT with the reason in why when
 * the splice does not fit (a band symbol without a code in the source's
 * Huffman tables, an MCU count over the DRI field, a restart interval that
 * does not end with the picture, ...): out then holds nothing useful; or -1
 * with why set when out of memory (or past out->max). */
int render_splice_write(const unsigned char *in, const render_splice_src_t *sp,
                        j_decompress_ptr src, const render_band_t *band, dynbuf_t *out, char *why,
                        size_t whylen);

#endif
