/* Fixtures shared by the unit tests of tests/unit: files of the tree, temporary
 * directories, configuration tables, the font, render contexts and small JPEGs
 * built and decoded with libjpeg. A helper that cannot do its job fails the
 * running test (ck_assert) instead of returning an error, so a test reads as
 * what it checks. */
#ifndef IMGCAP_TESTS_UNIT_UTIL_H
#define IMGCAP_TESTS_UNIT_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>

#include "config.h"
#include "render/font.h"
#include "render/render.h"

/* Bytes owned by whoever holds the buf_t: free(b.p). */
typedef struct buf {
    unsigned char *p;
    size_t n;
} buf_t;

/* ---- files of the tree ---- */

/* IMGCAP_ROOT (the repository; "." when unset) joined with rel, into out. */
void fx_root_path(char *out, size_t outlen, const char *rel);

/* fonts/DejaVuSans.ttf of the repository (a static buffer). */
const char *fx_font_path(void);

/* The whole file; p[n] is a NUL, so a text file is also a C string. */
buf_t fx_read_file(const char *path);

/* tests/data/<name>, as fx_read_file(). */
buf_t fx_data_file(const char *name);

/* Creates or replaces path with n bytes of p. */
void fx_write_file(const char *path, const void *p, size_t n);

/* ---- temporary directories ---- */

/* A new empty directory /tmp/imgcap-<tag>-XXXXXX into dir (at least 64 bytes). */
void fx_tempdir(char *dir, size_t dirlen, const char *tag);

/* Removes dir and everything below it. */
void fx_rmtree(const char *dir);

/* ---- configuration ---- */

/* config_defaults(), then config_parse() with the variables of pairs
 * ({name, value, ..., NULL}) as the only environment. */
int fx_config_parse(config_t *cfg, const char *const *pairs, char *err, size_t errlen);

/* Sentinels, a master name, WAIT for one replica within 500 ms, a command
 * timeout of 3000 ms: a table for fx_config_parse(). */
extern const char *const fx_redis_ha_variables[];

/* ---- render ---- */

/* The service's defaults: DejaVu Sans 12 px, padding 4, BAND_EXTEND,
 * quality 90, MAX_PIXELS 40e6, the splice allowed. */
render_opts_t fx_render_opts(void);

/* render_ctx_new(o); the caller frees it with render_ctx_free(). */
render_ctx_t *fx_render_ctx(const render_opts_t *o);

/* DejaVu Sans at size_px; the caller closes it with render_font_close(). */
render_font_t *fx_font_open(int size_px);

/* A caption with Latin, Cyrillic, diacritics and descenders, long enough
 * to wrap on a narrow picture. */
extern const char fx_caption[];

/* ---- JPEG ---- */

/* Every libjpeg error or warning reported to e fails the test with libjpeg's message. */
void fx_jpeg_strict(struct jpeg_error_mgr *e);

/* d, with strict errors in e (fx_jpeg_strict), has read b up to its first
 * scan; the caller destroys d with jpeg_destroy_decompress(). */
void fx_jpeg_read_header(struct jpeg_decompress_struct *d, struct jpeg_error_mgr *e,
                         const buf_t *b);

/* How fx_jpeg_encode() writes a file. Zero fields are libjpeg's defaults. */
typedef struct fx_jpeg_spec {
    int gray;       /* one component */
    int cmyk, ycck; /* RGB converted to Adobe CMYK; ycck: stored as YCCK */
    int h0, v0;     /* luma sampling (0: 2x2) */
    int h1, v1;     /* Cb sampling (0: 1x1) */
    int quality;    /* 0: 85 */
    int float_dct;  /* JDCT_FLOAT */
    int progressive, arith, optimize;
    int restart_mcus, restart_rows;
    int many_scans;            /* progressive: DC, then each AC coefficient of each
                                  component in its own scan (190 scans) */
    const unsigned char *app1; /* an APP1 segment's payload, or NULL */
    size_t app1_len;
    const char *icc_space; /* a fake one-chunk ICC profile of this colour space */
    const char *comment;   /* a COM segment, or NULL */
} fx_jpeg_spec_t;

/* Encodes w x h pixels of nc components (1 gray, 3 RGB); row y starts at
 * px + y * stride. The caller frees the result's p. */
buf_t fx_jpeg_encode(const unsigned char *px, size_t stride, int w, int h, int nc,
                     const fx_jpeg_spec_t *s);

/* A decoded picture and what its file said. */
typedef struct fx_img {
    unsigned char *px; /* w x h x nc, owned: fx_img_free() */
    int w, h, nc;
    J_COLOR_SPACE jcs; /* colour space of the file */
    int hs[3], vs[3];  /* sampling factors */
    int progressive, arith;
    int icc_chunks, exif_orientation;
} fx_img_t;

enum {
    FX_DECODE_FANCY = 1,   /* libjpeg's default chroma upsampling; without it a
                              pixel depends only on the blocks of its MCU row */
    FX_DECODE_LENIENT = 2, /* libjpeg's warnings (corrupt data) are not failures */
};

/* Decodes b to RGB (or gray); any error fails the test. */
fx_img_t fx_jpeg_decode(const buf_t *b, int flags);
void fx_img_free(fx_img_t *im);

/* The camera picture tests/data/camera_674x480.jpg decoded to RGB. */
fx_img_t fx_camera(int flags);

/* An APP1 payload: EXIF, TIFF in the given byte order, IFD0 = {Orientation}.
 * p has room for 64 bytes; returns the payload's length. */
size_t fx_exif_app1(unsigned char *p, int big_endian, int orientation);

#endif
