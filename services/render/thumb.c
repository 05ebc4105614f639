/* thumb.c - the thumbnail of a rendered image on libjpeg (see thumb.h).
 *
 * One decompress and one compress object per context, created once and
 * reset with jpeg_abort_*() after every call, whatever happened: their
 * tables, source and destination managers and our buffers are reused. Every
 * libjpeg error (and every warning about corrupt data) longjmps back to
 * render_thumb_make(); all state the error path needs lives in the context.
 *
 * The thumbnail is made plane by plane (Y, Cb, Cr; or gray). A grayscale or
 * YCbCr source is read as libjpeg's raw planes (raw_data_out: no upsampling,
 * no colour conversion, each component at the size the scaled IDCT gives
 * it); any other is read as scanlines, turned into YCbCr and split into
 * planes. Each plane is area-averaged straight to its size in the thumbnail:
 * luma to tw x th, chroma to the 4:2:0 half size, a chroma sample covering
 * two thumbnail pixels each way (one at an odd edge, as libjpeg's own
 * downsampling replicates the edge). The planes, padded to whole MCUs by
 * replicating their edges, go to the encoder as raw data (raw_data_in: no
 * colour conversion, no downsampling).
 *
 * The area average itself is areaavg.c's (exact, integer, one plane at a
 * time). */
#include "thumb.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "areaavg.h"
#include "jpegio.h"

/* Rows per component and raw read: v_samp_factor x DCT_scaled_size <= 4 x 14. */
#define MAX_RAW_ROWS 64

struct render_thumb {
    int size;
    long long max_pixels;

    render_jerr_t jerr;
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct src;
    struct jpeg_compress_struct dst;
    int live_src, live_dst;
    render_memdst_t dst_mgr;
    unsigned char *out; /* the last thumbnail, out_len bytes of out_cap */
    size_t out_cap, out_len;

    render_plane_t pl[3];
    dynbuf_t lines; /* interleaved scanlines (scanline path) */
    dynbuf_t split; /* a spliced image as two JPEGs, picture then band (split path) */
    size_t split_len1;
    JSAMPROW rowp[3][MAX_RAW_ROWS];

    /* the call in progress */
    const unsigned char *in;
    size_t in_len;
    int raw;      /* read as raw planes, else as scanlines */
    int m;        /* decoded at m/8 */
    int tw, th;   /* thumbnail size */
    int nc;       /* planes: 1 or 3 */
    int dec_nc;   /* components per scanline: 4 for CMYK, 3 (YCbCr or RGB) */
    int cmyk;     /* decoded as CMYK, turned into RGB here */
    int to_ycc;   /* scanlines are RGB, turned into YCbCr here */
    int icc_gray; /* ICC profile colour space of the source */
    int icc_rgb;  /* */
};

/* ---- geometry ---- */

void render_thumb_geometry(int w, int h, int size, int *tw, int *th)
{
    int longest = w > h ? w : h, shortest = w > h ? h : w;
    if (longest <= size) {
        *tw = w;
        *th = h;
        return;
    }
    /* nearest, halves up: floor(shortest * size / longest + 1/2) */
    long long s = (2LL * shortest * size + longest) / (2LL * longest);
    int other = s < 1 ? 1 : (int)s;
    *tw = w >= h ? size : other;
    *th = w >= h ? other : size;
}

int render_thumb_scale(int longest, int size)
{
    if (longest <= size) return 8;
    for (int m = 1; m < 8; m++)
        if (((long long)longest * m + 7) / 8 >= size) return m;
    return 8;
}

/* ---- the job ---- */

/* Adobe CMYK JPEGs (Photoshop, ImageMagick) store inverted values; in place,
 * 4 bytes per pixel in, 3 out. */
static void cmyk_to_rgb(unsigned char *p, int w, int inverted)
{
    const unsigned char *in = p;
    for (int x = 0; x < w; x++, in += 4, p += 3) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) c = 255u - c, m = 255u - m, y = 255u - y, k = 255u - k;
        p[0] = (unsigned char)((c * k + 127) / 255);
        p[1] = (unsigned char)((m * k + 127) / 255);
        p[2] = (unsigned char)((y * k + 127) / 255);
    }
}

static int is_icc(const struct jpeg_marker_struct *m)
{
    return m->marker == JPEG_APP0 + 2 && m->data_length >= 14 &&
           memcmp(m->data, "ICC_PROFILE\0", 12) == 0;
}

static void scan_icc(render_thumb_t *t)
{
    t->icc_gray = t->icc_rgb = 0;
    for (jpeg_saved_marker_ptr m = t->src.marker_list; m != NULL; m = m->next) {
        if (is_icc(m) && m->data[12] == 1 && m->data_length >= 14 + 20) {
            const unsigned char *cs = m->data + 14 + 16;
            t->icc_gray = memcmp(cs, "GRAY", 4) == 0;
            t->icc_rgb = memcmp(cs, "RGB ", 4) == 0;
        }
    }
}

/* One scanline of RGB (3 bytes a pixel) into the Y, Cb and Cr rows, with
 * libjpeg's own fixed-point conversion (jccolor.c). */
static void rgb_to_ycc(const unsigned char *in, int w, unsigned char *y, unsigned char *cb,
                       unsigned char *cr)
{
#define FIX(x) ((int32_t)((x)*65536 + 0.5))
    const int32_t half = 1 << 15, offset = 128 << 16;
    for (int x = 0; x < w; x++, in += 3) {
        int32_t r = in[0], g = in[1], b = in[2];
        y[x] = (unsigned char)((FIX(0.29900) * r + FIX(0.58700) * g + FIX(0.11400) * b + half) >>
                               16);
        cb[x] = (unsigned char)((-FIX(0.16874) * r - FIX(0.33126) * g + FIX(0.5) * b + offset +
                                 half - 1) >>
                                16);
        cr[x] = (unsigned char)((FIX(0.5) * r - FIX(0.41869) * g - FIX(0.08131) * b + offset +
                                 half - 1) >>
                                16);
    }
#undef FIX
}

/* The thumbnail planes' geometry: luma (or gray) tw x th, chroma half that
 * (4:2:0), in units where the picture is w * M * tw wide (a thumbnail pixel
 * w * M units) and h * M * th high. */
static void plan_targets(render_thumb_t *t, int w, int h, int m)
{
    long long pw = (long long)w * m, ph = (long long)h * m;
    long long totw = pw * t->tw, toth = ph * t->th;
    int block = t->nc == 1 ? 8 : 16; /* the luma MCU */
    render_plane_target(&t->pl[0], t->tw, t->th, pw, ph, totw, toth, block, block);
    for (int c = 1; c < t->nc; c++)
        render_plane_target(&t->pl[c], (t->tw + 1) / 2, (t->th + 1) / 2, 2 * pw, 2 * ph, totw, toth,
                            8, 8);
}

/* Whether the raw planes of the scaled decode (after jpeg_start_decompress)
 * have whole lengths in the units of plan_targets(): then the source side of
 * each plane is set and 1 is returned, else 0 (read scanlines instead). */
static int plan_raw_sources(render_thumb_t *t, int m)
{
    j_decompress_ptr s = &t->src;
    for (int c = 0; c < t->nc; c++) {
        const jpeg_component_info *ci = &s->comp_info[c];
        /* The component spans w * h_c * ds_c / (max_h * 8) samples of the
         * picture's w * M * tw units (alike vertically). */
        long long nw = 8LL * m * t->tw * s->max_h_samp_factor,
                  dw = (long long)ci->h_samp_factor * ci->DCT_scaled_size;
        long long nh = 8LL * m * t->th * s->max_v_samp_factor,
                  dh = (long long)ci->v_samp_factor * ci->DCT_scaled_size;
        if (ci->v_samp_factor * ci->DCT_scaled_size > MAX_RAW_ROWS || nw % dw != 0 || nh % dh != 0)
            return 0;
    }
    for (int c = 0; c < t->nc; c++) {
        const jpeg_component_info *ci = &s->comp_info[c];
        long long dw = (long long)ci->h_samp_factor * ci->DCT_scaled_size,
                  dh = (long long)ci->v_samp_factor * ci->DCT_scaled_size;
        render_plane_source(&t->pl[c], (int)ci->downsampled_width, (int)ci->downsampled_height,
                            8LL * m * t->tw * s->max_h_samp_factor / dw,
                            8LL * m * t->th * s->max_v_samp_factor / dh,
                            (size_t)ci->width_in_blocks * (size_t)ci->DCT_scaled_size);
    }
    return 1;
}

/* Header, limits, scale and colour spaces; then jpeg_start_decompress and
 * the planes' geometry. */
static int start_decode(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    jpeg_mem_src(s, t->in, (unsigned long)t->in_len);
    jpeg_read_header(s, TRUE);
    long long pixels = (long long)s->image_width * s->image_height;
    if (pixels > t->max_pixels) {
        snprintf(err, errlen, "image is %ux%u = %lld pixels, over MAX_PIXELS (%lld)",
                 s->image_width, s->image_height, pixels, t->max_pixels);
        return -1;
    }
    scan_icc(t);
    int w = (int)s->image_width, h = (int)s->image_height;
    render_thumb_geometry(w, h, t->size, &t->tw, &t->th);
    int m = render_thumb_scale(w > h ? w : h, t->size);
    t->m = m;
    s->scale_num = (unsigned)m;
    s->scale_denom = 8;
    /* Scanlines only (raw planes are never upsampled): no effect on a scaled
     * 4:2:0 decode (libjpeg scales chroma up in its IDCT there); 6 % fewer
     * instructions at full scale. JDCT_IFAST saves under 0.5 %: the
     * accurate IDCT is kept. */
    s->do_fancy_upsampling = FALSE;
    t->cmyk = t->to_ycc = 0;
    t->nc = s->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    t->raw = (s->jpeg_color_space == JCS_GRAYSCALE && s->num_components == 1) ||
             (s->jpeg_color_space == JCS_YCbCr && s->num_components == 3);
    plan_targets(t, w, h, m);
    if (t->raw) {
        s->raw_data_out = TRUE;
        jpeg_start_decompress(s);
        if (plan_raw_sources(t, m)) return 0;
        /* an odd sampling whose planes do not fit the units: scanlines */
        jpeg_abort_decompress(s);
        jpeg_mem_src(s, t->in, (unsigned long)t->in_len);
        jpeg_read_header(s, TRUE);
        s->scale_num = (unsigned)m;
        s->scale_denom = 8;
        s->do_fancy_upsampling = FALSE;
        t->raw = 0;
    }
    switch (s->jpeg_color_space) {
    case JCS_YCbCr:
        s->out_color_space = JCS_YCbCr; /* split into planes as it is */
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        s->out_color_space = JCS_CMYK;
        t->cmyk = t->to_ycc = 1;
        break;
    default:
        s->out_color_space = JCS_RGB;
        t->to_ycc = 1;
        break;
    }
    jpeg_start_decompress(s);
    t->dec_nc = s->output_components;
    /* The picture is w * M / 8 decoded pixels wide, which libjpeg rounds up
     * (its last column then covers padding in part): one decoded pixel is
     * 8 * tw units (and alike vertically). */
    for (int c = 0; c < t->nc; c++)
        render_plane_source(&t->pl[c], (int)s->output_width, (int)s->output_height, 8LL * t->tw,
                            8LL * t->th, 0);
    return 0;
}

static int out_of_memory(render_thumb_t *t, char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory for a %dx%d thumbnail", t->tw, t->th);
    return -1;
}

/* The thumbnail's planes and the row pointers of a raw read; rows[c]: the
 * rows of component c in one read. Returns 0, or -1 when out of memory. */
static int raw_setup(render_thumb_t *t, JSAMPARRAY data[3], int rows[3], char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    for (int c = 0; c < t->nc; c++) {
        render_plane_t *p = &t->pl[c];
        rows[c] = s->comp_info[c].v_samp_factor * s->comp_info[c].DCT_scaled_size;
        if (render_plane_alloc(p, rows[c]) < 0) return out_of_memory(t, err, errlen);
        for (int r = 0; r < rows[c]; r++) t->rowp[c][r] = p->rows.ptr + (size_t)r * p->sstride;
        data[c] = t->rowp[c];
    }
    return 0;
}

/* Reads the raw planes an iMCU row at a time into the thumbnail's planes,
 * the decode's row 0 of plane c being the plane's row off[c]. */
static void raw_rows(render_thumb_t *t, JSAMPARRAY data[3], const int rows[3], const int off[3])
{
    j_decompress_ptr s = &t->src;
    JDIMENSION lines = (JDIMENSION)(s->max_v_samp_factor * s->min_DCT_scaled_size);
    const int nc = t->nc == 1 ? 1 : 3;
    for (int row = 0; s->output_scanline < s->output_height; row++) {
        if (jpeg_read_raw_data(s, data, lines) == 0) ERREXIT(s, JERR_INPUT_EMPTY);
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < rows[c]; r++) {
                int j = off[c] + row * rows[c] + r;
                if (j < t->pl[c].sh) render_plane_add_row(&t->pl[c], j, t->rowp[c][r]);
            }
    }
}

static int decode_raw(render_thumb_t *t, char *err, size_t errlen)
{
    JSAMPARRAY data[3] = {NULL, NULL, NULL};
    int rows[3] = {0, 0, 0};
    const int off[3] = {0, 0, 0};
    if (raw_setup(t, data, rows, err, errlen) < 0) return -1;
    raw_rows(t, data, rows, off);
    return 0;
}

/* ---- the split decode of a spliced image ----
 *
 * The entropy splice (splice.c) gives a source without restart markers a DRI
 * whose interval is the picture's MCU count, and one RST0 between the
 * picture's scan data and the band's. libjpeg-turbo decodes every MCU of a
 * scan with a restart interval with its slow Huffman decoder (jdhuff.c,
 * decode_mcu(): usefast = 0), which made the thumbnail's decode of such an
 * image 0.6 M instructions (10 %) dearer than that of the same image
 * without the DRI. So such an image is decoded as the two JPEGs it is made
 * of: the header with the picture's height and the DRI's interval set to 0
 * (no restarts), the picture's scan data, EOI; then the header with the
 * band's height, the band's scan data, EOI. Each decodes on the fast path.
 * What they give is what one decode gives: the picture ends with a whole
 * MCU row, where the RST reset the DC predictions anyway; every block is
 * inverse-transformed on its own (raw planes: no upsampling across rows);
 * and the picture's rows at the scale are whole iMCU rows (checked before
 * any row is used). */

/* Where a spliced image's frame, DRI and scan data start: the marker
 * segments from SOI to the first SOS, which must be SOF0 or SOF1 and hold
 * every component. Returns 0, or -1 when in is not such an image. */
typedef struct split_hdr {
    size_t sof, dri, sos, data;
} split_hdr_t;

static int split_header(const unsigned char *in, size_t len, split_hdr_t *hd)
{
    memset(hd, 0, sizeof *hd);
    size_t i = 2;
    while (!hd->data) {
        if (i + 4 > len || in[i] != 0xFF) return -1;
        if (in[i + 1] == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        unsigned m = in[i + 1];
        size_t seglen = (size_t)in[i + 2] << 8 | in[i + 3];
        if (seglen < 2 || i + 2 + seglen > len) return -1;
        if (m == 0xC0 || m == 0xC1) {
            if (hd->sof || seglen < 8 || seglen != 8 + 3 * (size_t)in[i + 9]) return -1;
            hd->sof = i;
        } else if (m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            return -1;
        } else if (m == 0xDD) {
            if (seglen != 4) return -1;
            hd->dri = i;
        } else if (m == 0xDA) {
            if (!hd->sof || !hd->dri || seglen < 3 || in[i + 4] != in[hd->sof + 9]) return -1;
            hd->sos = i;
            hd->data = i + 2 + seglen;
        }
        i += 2 + seglen;
    }
    return 0;
}

/* One part: the header (to the scan's data) with its height set to rows and
 * the DRI's interval to 0, data[0, n), EOI. out has room. */
static unsigned char *put_part(unsigned char *out, const unsigned char *in, const split_hdr_t *hd,
                               unsigned long rows, const unsigned char *data, size_t n)
{
    memcpy(out, in, hd->data);
    out[hd->sof + 5] = (unsigned char)(rows >> 8);
    out[hd->sof + 6] = (unsigned char)rows;
    out[hd->dri + 4] = out[hd->dri + 5] = 0;
    memcpy(out + hd->data, data, n);
    out += hd->data + n;
    *out++ = 0xFF;
    *out++ = 0xD9;
    return out;
}

/* Whether t->in is a spliced image this path takes: a sequential Huffman
 * JPEG with one scan and a DRI whose interval is whole MCU rows that leave
 * rows below, so that a valid scan holds exactly one RST marker (RST0),
 * and ends with EOI. Then t->split holds the two parts. Returns 1, 0 (not
 * such an image), or -1 (out of memory). */
static int plan_split(render_thumb_t *t)
{
    const unsigned char *in = t->in;
    size_t len = t->in_len;
    split_hdr_t hd;
    if (split_header(in, len, &hd) < 0) return 0;
    const unsigned char *sof = in + hd.sof;
    unsigned long interval = (unsigned long)in[hd.dri + 4] << 8 | in[hd.dri + 5];
    unsigned long h = (unsigned long)sof[5] << 8 | sof[6], w = (unsigned long)sof[7] << 8 | sof[8];
    int nc = sof[9], maxh = 1, maxv = 1;
    for (int i = 0; i < nc; i++) {
        int hs = sof[11 + 3 * i] >> 4, vs = sof[11 + 3 * i] & 15;
        maxh = hs > maxh ? hs : maxh;
        maxv = vs > maxv ? vs : maxv;
    }
    /* one component: the scan's MCU is one block; keep to plain sampling */
    if (nc == 1 && (maxh != 1 || maxv != 1)) return 0;
    unsigned long mcu_w = 8UL * (unsigned long)maxh, mcu_h = 8UL * (unsigned long)maxv;
    unsigned long per_row = (w + mcu_w - 1) / mcu_w, mcus = per_row * ((h + mcu_h - 1) / mcu_h);
    if (!interval || !per_row || interval % per_row || mcus <= interval || mcus > 2 * interval)
        return 0;
    unsigned long h1 = interval / per_row * mcu_h;
    /* the scan's data ends with EOI (fill bytes before it are data to
     * libjpeg's reader too); the RST is the last 0xFF followed by
     * RST0..7 before it: in entropy-coded data a 0xFF is followed by
     * 0x00, so the search from the end crosses only the band's bytes */
    if (len < hd.data + 2 || in[len - 2] != 0xFF || in[len - 1] != 0xD9) return 0;
    size_t scan_end = len - 2, rst = scan_end;
    for (;;) {
        const unsigned char *ff = memrchr(in + hd.data, 0xFF, rst - hd.data);
        if (ff == NULL) return 0;
        rst = (size_t)(ff - in);
        if (rst + 1 < scan_end && in[rst + 1] >= 0xD0 && in[rst + 1] <= 0xD7) break;
    }
    if (in[rst + 1] != 0xD0) return 0;
    size_t n1 = rst - hd.data, n2 = scan_end - (rst + 2);
    if (dynbuf_reserve(&t->split, 2 * (hd.data + 2) + n1 + n2) < 0) return -1;
    unsigned char *o = put_part(t->split.ptr, in, &hd, h1, in + hd.data, n1);
    t->split_len1 = (size_t)(o - t->split.ptr);
    o = put_part(o, in, &hd, h - h1, in + rst + 2, n2);
    t->split.len = (size_t)(o - t->split.ptr);
    return 1;
}

/* The split decode, after start_decode() planned the whole image's raw
 * planes. Returns 0, 1 (the picture's rows at this scale are not whole
 * reads: nothing was used, decode the whole image instead) or -1. */
static int decode_split(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    const int nc = t->nc == 1 ? 1 : 3;
    int full_w[3] = {0, 0, 0}, full_h[3] = {0, 0, 0};
    for (int c = 0; c < nc; c++) {
        full_w[c] = (int)s->comp_info[c].downsampled_width;
        full_h[c] = (int)s->comp_info[c].downsampled_height;
    }
    JSAMPARRAY data[3] = {NULL, NULL, NULL};
    int rows[3] = {0, 0, 0}, off[3] = {0, 0, 0};
    for (int part = 0; part < 2; part++) {
        jpeg_abort_decompress(s);
        const unsigned char *p = t->split.ptr + (part ? t->split_len1 : 0);
        size_t n = part ? t->split.len - t->split_len1 : t->split_len1;
        jpeg_mem_src(s, p, (unsigned long)n);
        jpeg_read_header(s, TRUE);
        s->scale_num = (unsigned)t->m;
        s->scale_denom = 8;
        s->raw_data_out = TRUE;
        jpeg_start_decompress(s);
        for (int c = 0; c < nc; c++) {
            const jpeg_component_info *ci = &s->comp_info[c];
            int r = ci->v_samp_factor * ci->DCT_scaled_size;
            int dh = (int)ci->downsampled_height;
            if ((int)ci->downsampled_width != full_w[c] || (part && r != rows[c]) ||
                (part ? off[c] + dh != full_h[c] : dh % r != 0)) {
                if (part) {
                    snprintf(err, errlen, "the band's planes do not continue the picture's");
                    return -1;
                }
                jpeg_abort_decompress(s);
                return 1;
            }
        }
        if (!part && raw_setup(t, data, rows, err, errlen) < 0) return -1;
        raw_rows(t, data, rows, off);
        for (int c = 0; c < nc; c++) off[c] += (int)s->comp_info[c].downsampled_height;
        /* the picture's data must end where its last MCU does (one decode
         * checks that at the RST; here libjpeg's reading up to EOI does,
         * JWRN_EXTRANEOUS_DATA) */
        if (!part) jpeg_finish_decompress(s);
    }
    return 0;
}

/* Reads scanlines, turns them into YCbCr planes, then into the thumbnail's. */
static int decode_lines(render_thumb_t *t, char *err, size_t errlen)
{
    j_decompress_ptr s = &t->src;
    int batch = s->rec_outbuf_height > 0 ? s->rec_outbuf_height : 1;
    batch = batch < MAX_RAW_ROWS ? batch : MAX_RAW_ROWS;
    size_t stride = (size_t)s->output_width * (size_t)t->dec_nc;
    if (dynbuf_reserve(&t->lines, stride * (size_t)batch) < 0) return out_of_memory(t, err, errlen);
    for (int c = 0; c < 3; c++)
        if (render_plane_alloc(&t->pl[c], 1) < 0) return out_of_memory(t, err, errlen);
    for (int i = 0; i < batch; i++) t->rowp[0][i] = t->lines.ptr + (size_t)i * stride;
    int sw = (int)s->output_width;
    unsigned char *y = t->pl[0].rows.ptr, *cb = t->pl[1].rows.ptr, *cr = t->pl[2].rows.ptr;
    while (s->output_scanline < s->output_height) {
        int j0 = (int)s->output_scanline;
        int got = (int)jpeg_read_scanlines(s, t->rowp[0], (JDIMENSION)batch);
        if (got == 0) ERREXIT(s, JERR_INPUT_EMPTY);
        for (int i = 0; i < got; i++) {
            unsigned char *line = t->rowp[0][i];
            if (t->cmyk) cmyk_to_rgb(line, sw, s->saw_Adobe_marker);
            if (t->to_ycc) {
                rgb_to_ycc(line, sw, y, cb, cr);
            } else {
                for (int x = 0; x < sw; x++) {
                    y[x] = line[3 * x];
                    cb[x] = line[3 * x + 1];
                    cr[x] = line[3 * x + 2];
                }
            }
            for (int c = 0; c < 3; c++) render_plane_add_row(&t->pl[c], j0 + i, t->pl[c].rows.ptr);
        }
    }
    return 0;
}

static void encode(render_thumb_t *t)
{
    j_compress_ptr c = &t->dst;
    c->image_width = (JDIMENSION)t->tw;
    c->image_height = (JDIMENSION)t->th;
    c->input_components = t->nc;
    c->in_color_space = t->nc == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
    jpeg_set_defaults(c); /* YCbCr 4:2:0 (or gray), Huffman tables not optimized */
    jpeg_set_quality(c, RENDER_THUMB_QUALITY, TRUE);
    c->raw_data_in = TRUE; /* the planes as they are: no conversion, no downsampling */
    jpeg_start_compress(c, TRUE);
    if (t->nc == 1 ? t->icc_gray : t->icc_rgb && !t->cmyk)
        for (jpeg_saved_marker_ptr m = t->src.marker_list; m != NULL; m = m->next)
            if (is_icc(m)) jpeg_write_marker(c, m->marker, m->data, m->data_length);
    JSAMPARRAY data[3];
    for (int k = 0; k < t->nc; k++) data[k] = t->rowp[k];
    int lines = c->max_v_samp_factor * DCTSIZE; /* an iMCU row: 16 luma rows, or 8 */
    while (c->next_scanline < c->image_height) {
        int y0 = (int)c->next_scanline;
        for (int k = 0; k < t->nc; k++) {
            const render_plane_t *p = &t->pl[k];
            int v = c->comp_info[k].v_samp_factor * DCTSIZE,
                first = y0 / c->max_v_samp_factor * c->comp_info[k].v_samp_factor;
            for (int r = 0; r < v; r++)
                t->rowp[k][r] = p->px.ptr + (size_t)(first + r) * p->tstride;
        }
        jpeg_write_raw_data(c, data, (JDIMENSION)lines);
    }
    jpeg_finish_compress(c);
    t->out_len = t->dst_mgr.len;
}

static int run(render_thumb_t *t, char *err, size_t errlen)
{
    if (start_decode(t, err, errlen) < 0) return -1;
    int split = t->raw ? plan_split(t) : 0;
    if (split < 0) return out_of_memory(t, err, errlen);
    if (split) {
        split = decode_split(t, err, errlen);
        if (split < 0) return -1;
        /* not whole reads: the whole image after all */
        if (split && (start_decode(t, err, errlen) < 0 || decode_raw(t, err, errlen) < 0))
            return -1;
    } else if ((t->raw ? decode_raw(t, err, errlen) : decode_lines(t, err, errlen)) < 0) {
        return -1;
    }
    for (int c = 0; c < t->nc; c++) render_plane_pad(&t->pl[c]);
    encode(t); /* before the source is reset: its saved ICC markers go out */
    return 0;
}

int render_thumb_make(render_thumb_t *t, const unsigned char *jpeg, size_t len,
                      const unsigned char **out, size_t *out_len, int *out_w, int *out_h, char *err,
                      size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    t->in = jpeg;
    t->in_len = len;
    t->out_len = 0;
    t->jerr.msg[0] = 0;
    int rc;
    if (setjmp(t->jerr.jb)) {
        snprintf(err, errlen, "JPEG: %s", t->jerr.msg);
        rc = -1;
    } else {
        rc = run(t, err, errlen);
    }
    jpeg_abort_decompress(&t->src);
    jpeg_abort_compress(&t->dst);
    dynbuf_trim(&t->lines, RENDER_BUF_KEEP_BYTES);
    dynbuf_trim(&t->split, RENDER_BUF_KEEP_BYTES);
    for (int c = 0; c < 3; c++) render_plane_trim(&t->pl[c]);
    if (rc < 0) return -1;
    *out = t->out;
    *out_len = t->out_len;
    *out_w = t->tw;
    *out_h = t->th;
    return 0;
}

/* ---- the context ---- */

/* The libjpeg objects, whose creation fails only when out of memory.
 * Returns 0, or -1. */
static int create_objects(render_thumb_t *t)
{
    if (setjmp(t->jerr.jb)) return -1;
    t->src.err = &t->jerr.pub;
    jpeg_create_decompress(&t->src);
    t->live_src = 1;
    t->src.progress = &t->progress;
    jpeg_save_markers(&t->src, JPEG_APP0 + 2, 0xFFFF);
    t->dst.err = &t->jerr.pub;
    jpeg_create_compress(&t->dst);
    t->live_dst = 1;
    render_memdst_attach(&t->dst, &t->dst_mgr, &t->out, &t->out_cap, 16384);
    return 0;
}

render_thumb_t *render_thumb_new(int size, long long max_pixels)
{
    if (size < 1) return NULL;
    render_thumb_t *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->size = size;
    t->max_pixels = max_pixels;
    dynbuf_init(&t->lines, DYNBUF_NO_MAX);
    dynbuf_init(&t->split, DYNBUF_NO_MAX);
    for (int c = 0; c < 3; c++) render_plane_init(&t->pl[c]);
    render_jerr_init(&t->jerr, &t->progress);
    if (create_objects(t) < 0) {
        render_thumb_free(t);
        return NULL;
    }
    return t;
}

void render_thumb_free(render_thumb_t *t)
{
    if (t == NULL) return;
    if (t->live_src) jpeg_destroy_decompress(&t->src);
    if (t->live_dst) jpeg_destroy_compress(&t->dst);
    free(t->out);
    dynbuf_free(&t->lines);
    dynbuf_free(&t->split);
    for (int c = 0; c < 3; c++) render_plane_free(&t->pl[c]);
    free(t);
}
