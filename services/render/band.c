/* band.c - the caption band's quantized blocks (see band.h). */
#include "band.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "dynbuf.h"

/* jcdctmgr.c's aanscalefactor[k] = cos(k*PI/16) * sqrt(2), k > 0; 1 for k = 0. */
static const double aan_scale[DCTSIZE] = {1.0, 1.387039845, 1.306562965, 1.175875602,
                                          1.0, 0.785694958, 0.541196100, 0.275899379};

void render_band_divisors(const UINT16 *qt, float div[DCTSIZE2])
{
    for (int row = 0, i = 0; row < DCTSIZE; row++)
        for (int col = 0; col < DCTSIZE; col++, i++)
            div[i] = (float)(1.0 / ((double)qt[i] * aan_scale[row] * aan_scale[col] * 8.0));
}

/* One 8-point pass of jfdctflt.c's AAN DCT over d[0], d[step], ... */
static inline void fdct_1d(float *d, int step)
{
    float tmp0 = d[0] + d[7 * step], tmp7 = d[0] - d[7 * step];
    float tmp1 = d[step] + d[6 * step], tmp6 = d[step] - d[6 * step];
    float tmp2 = d[2 * step] + d[5 * step], tmp5 = d[2 * step] - d[5 * step];
    float tmp3 = d[3 * step] + d[4 * step], tmp4 = d[3 * step] - d[4 * step];

    float tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3;
    float tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    d[0] = tmp10 + tmp11;
    d[4 * step] = tmp10 - tmp11;
    float z1 = (tmp12 + tmp13) * 0.707106781f;
    d[2 * step] = tmp13 + z1;
    d[6 * step] = tmp13 - z1;

    tmp10 = tmp4 + tmp5;
    tmp11 = tmp5 + tmp6;
    tmp12 = tmp6 + tmp7;
    float z5 = (tmp10 - tmp12) * 0.382683433f;
    float z2 = 0.541196100f * tmp10 + z5;
    float z4 = 1.306562965f * tmp12 + z5;
    float z3 = tmp11 * 0.707106781f;
    float z11 = tmp7 + z3, z13 = tmp7 - z3;
    d[5 * step] = z13 + z2;
    d[3 * step] = z13 - z2;
    d[step] = z11 + z4;
    d[7 * step] = z11 - z4;
}

/* jcdctmgr.c's quantize_float(): round half up, by an offset that keeps the
 * conversion to int on non-negative values. */
static inline JCOEF quantize(float v, float div)
{
    return (JCOEF)((int)(v * div + 16384.5f) - 16384);
}

void render_band_fdct(const unsigned char *px, size_t pitch, const float div[DCTSIZE2],
                      JCOEF out[DCTSIZE2])
{
    float ws[DCTSIZE2];
    for (int r = 0; r < DCTSIZE; r++)
        for (int c = 0; c < DCTSIZE; c++)
            ws[r * DCTSIZE + c] = (float)px[(size_t)r * pitch + (size_t)c] - CENTERJSAMPLE;
    for (int r = 0; r < DCTSIZE; r++) fdct_1d(ws + r * DCTSIZE, 1);
    for (int c = 0; c < DCTSIZE; c++) fdct_1d(ws + c, DCTSIZE);
    for (int i = 0; i < DCTSIZE2; i++) out[i] = quantize(ws[i], div[i]);
}

/* 1 when the 8x8 block at px holds one value only (most blocks of a band:
 * black between the lines and around the words). */
static int block_uniform(const unsigned char *px, size_t pitch)
{
    uint64_t first = px[0] * 0x0101010101010101ULL;
    for (int r = 0; r < DCTSIZE; r++) {
        uint64_t row;
        memcpy(&row, px + (size_t)r * pitch, sizeof row);
        if (row != first) return 0;
    }
    return 1;
}

static int quant_usable(const JQUANT_TBL *q)
{
    if (q == NULL) return 0;
    for (int k = 0; k < DCTSIZE2; k++)
        if (q->quantval[k] == 0) return 0;
    return 1;
}

int render_band_supported(const struct jpeg_decompress_struct *s)
{
    int ycc = s->jpeg_color_space == JCS_YCbCr && s->num_components == 3;
    int gray = s->jpeg_color_space == JCS_GRAYSCALE && s->num_components == 1;
    if (!(ycc || gray) || s->data_precision != 8) return 0;
    for (int ci = 0; ci < s->num_components; ci++) {
        const jpeg_component_info *comp = &s->comp_info[ci];
        int t = comp->quant_tbl_no;
        /* a zero quantizer (invalid, but libjpeg decodes it) would divide by zero */
        if (t < 0 || t >= NUM_QUANT_TBLS || !quant_usable(s->quant_tbl_ptrs[t])) return 0;
        if (s->max_h_samp_factor % comp->h_samp_factor ||
            s->max_v_samp_factor % comp->v_samp_factor)
            return 0;
    }
    return 1;
}

/* Draws the band into b->plane (pw x ph, whole MCUs) and repeats its last
 * column and row into the padding. */
static int draw_plane(render_band_t *b, int w, int pw, int ph, const layout_t *lo, render_font_t *f,
                      char *err, size_t errlen)
{
    size_t pitch = (size_t)pw;
    if (render_draw_band(b->plane, pitch, w, b->height, DRAW_GRAY, lo, f, err, errlen) < 0)
        return -1;
    for (int y = 0; y < b->height; y++) {
        unsigned char *row = b->plane + (size_t)y * pitch;
        memset(row + w, row[w - 1], (size_t)(pw - w));
    }
    for (int y = b->height; y < ph; y++)
        memcpy(b->plane + (size_t)y * pitch, b->plane + (size_t)(b->height - 1) * pitch, pitch);
    return 0;
}

/* Box-averages the pw x ph plane by fh x fv into out (pw/fh x ph/fv): a luma
 * sampled less finely than the frame's maximum (unusual, but legal). */
static void downsample(const unsigned char *in, int pw, int ph, int fh, int fv, unsigned char *out)
{
    int ow = pw / fh, oh = ph / fv, n = fh * fv;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sum = 0;
            for (int dy = 0; dy < fv; dy++)
                for (int dx = 0; dx < fh; dx++)
                    sum += in[(size_t)(y * fv + dy) * (size_t)pw + (size_t)(x * fh + dx)];
            out[(size_t)y * (size_t)ow + (size_t)x] = (unsigned char)((sum + n / 2) / n);
        }
}

/* The blocks of a component that carries the drawn plane (luma, or the only
 * component of a grayscale source). */
static void luma_blocks(render_band_t *b, int ci, const unsigned char *px, size_t pitch,
                        const UINT16 *qt)
{
    float div[DCTSIZE2];
    render_band_divisors(qt, div);
    for (int by = 0; by < b->rows[ci]; by++) {
        JBLOCKROW row = render_band_row(b, ci, by);
        for (int bx = 0; bx < b->stride[ci]; bx++) {
            const unsigned char *p = px + (size_t)by * DCTSIZE * pitch + (size_t)bx * DCTSIZE;
            if (block_uniform(p, pitch)) {
                memset(row[bx], 0, sizeof(JBLOCK));
                row[bx][0] = quantize((float)(DCTSIZE2 * (p[0] - CENTERJSAMPLE)), div[0]);
            } else {
                render_band_fdct(p, pitch, div, row[bx]);
            }
        }
    }
}

int render_band_compute(render_band_t *b, j_decompress_ptr s, int height, const layout_t *lo,
                        render_font_t *f, char *err, size_t errlen)
{
    if (height < 1 || !render_band_supported(s)) {
        snprintf(err, errlen, "no band of %d rows for this source", height);
        return -1;
    }
    int w = (int)s->image_width, max_h = s->max_h_samp_factor, max_v = s->max_v_samp_factor;
    int mcu_cols = (w + 8 * max_h - 1) / (8 * max_h);
    int mcu_rows = (height + 8 * max_v - 1) / (8 * max_v);
    int pw = mcu_cols * 8 * max_h, ph = mcu_rows * 8 * max_v;
    b->height = height;
    b->ncomp = s->num_components;
    for (int ci = 0; ci < b->ncomp; ci++) {
        const jpeg_component_info *comp = &s->comp_info[ci];
        int hs = comp->h_samp_factor, vs = comp->v_samp_factor;
        /* jdinput.c's per-component block counts, then whole MCUs */
        b->height_in_blocks[ci] = (height * vs + 8 * max_v - 1) / (8 * max_v);
        b->stride[ci] = mcu_cols * hs;
        b->rows[ci] = mcu_rows * vs;
        size_t n = (size_t)b->stride[ci] * (size_t)b->rows[ci];
        if (dynbuf_reserve_array(&b->blocks[ci], &b->cap[ci], n, sizeof(JBLOCK)) < 0) {
            snprintf(err, errlen, "out of memory for the band's blocks");
            return -1;
        }
    }
    const jpeg_component_info *luma = &s->comp_info[0];
    int fh = max_h / luma->h_samp_factor, fv = max_v / luma->v_samp_factor;
    size_t plane = (size_t)pw * (size_t)ph;
    size_t need = plane + (fh > 1 || fv > 1 ? plane / (size_t)(fh * fv) : 0);
    if (dynbuf_reserve_array(&b->plane, &b->plane_cap, need, 1) < 0) {
        snprintf(err, errlen, "out of memory for the band");
        return -1;
    }
    if (draw_plane(b, w, pw, ph, lo, f, err, errlen) < 0) return -1;

    const unsigned char *px = b->plane;
    size_t pitch = (size_t)pw;
    if (fh > 1 || fv > 1) {
        downsample(b->plane, pw, ph, fh, fv, b->plane + plane);
        px = b->plane + plane;
        pitch = (size_t)(pw / fh);
    }
    luma_blocks(b, 0, px, pitch, s->quant_tbl_ptrs[luma->quant_tbl_no]->quantval);
    /* neutral chroma: every sample CENTERJSAMPLE, every coefficient 0 */
    for (int ci = 1; ci < b->ncomp; ci++)
        memset(b->blocks[ci], 0, (size_t)b->stride[ci] * (size_t)b->rows[ci] * sizeof(JBLOCK));
    return 0;
}

void render_band_free(render_band_t *b)
{
    for (int ci = 0; ci < MAX_COMPONENTS; ci++) free(b->blocks[ci]);
    free(b->plane);
    memset(b, 0, sizeof *b);
}

void render_band_trim(render_band_t *b, size_t keep_bytes)
{
    size_t total = b->plane_cap;
    for (int ci = 0; ci < MAX_COMPONENTS; ci++) total += b->cap[ci] * sizeof(JBLOCK);
    if (total > keep_bytes) render_band_free(b);
}
