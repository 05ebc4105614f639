/* Fixtures shared by the unit tests (unit_util.h). */
#include "unit_util.h"

#include <check.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/exif.h"

/* ---- files of the tree ---- */

void fx_root_path(char *out, size_t outlen, const char *rel)
{
    const char *root = getenv("IMGCAP_ROOT");
    int n = snprintf(out, outlen, "%s/%s", root != NULL ? root : ".", rel);
    ck_assert_msg(n > 0 && (size_t)n < outlen, "path of %s too long", rel);
}

const char *fx_font_path(void)
{
    static char path[1024];
    fx_root_path(path, sizeof path, "fonts/DejaVuSans.ttf");
    return path;
}

buf_t fx_read_file(const char *path)
{
    buf_t b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    b.n = (size_t)size;
    b.p = malloc(b.n + 1);
    ck_assert_ptr_nonnull(b.p);
    ck_assert_uint_eq(fread(b.p, 1, b.n, f), b.n);
    b.p[b.n] = '\0';
    fclose(f);
    return b;
}

buf_t fx_data_file(const char *name)
{
    char rel[512], path[1024];
    snprintf(rel, sizeof rel, "tests/data/%s", name);
    fx_root_path(path, sizeof path, rel);
    return fx_read_file(path);
}

void fx_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- temporary directories ---- */

void fx_tempdir(char *dir, size_t dirlen, const char *tag)
{
    int n = snprintf(dir, dirlen, "/tmp/imgcap-%s-XXXXXX", tag);
    ck_assert(n > 0 && (size_t)n < dirlen);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void fx_rmtree(const char *dir)
{
    ck_assert_msg(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s", dir);
}

/* ---- configuration ---- */

static const char *table_lookup(const char *name, void *ctx)
{
    for (const char *const *p = ctx; *p != NULL; p += 2)
        if (strcmp(*p, name) == 0) return p[1];
    return NULL;
}

int fx_config_parse(config_t *cfg, const char *const *pairs, char *err, size_t errlen)
{
    config_defaults(cfg);
    return config_parse(cfg, table_lookup, (void *)pairs, err, errlen);
}

const char *const fx_redis_ha_variables[] = {"REDIS_SENTINELS",
                                             "10.231.0.11:26379,10.231.0.12",
                                             "REDIS_MASTER_NAME",
                                             "city",
                                             "REDIS_WAIT_REPLICAS",
                                             "1",
                                             "REDIS_WAIT_TIMEOUT_MS",
                                             "500",
                                             "REDIS_TIMEOUT_MS",
                                             "3000",
                                             NULL};

/* ---- render ---- */

const char fx_caption[] = "Speeding 87 km/h \xd0\x95\xd0\xb3\xd0\xbe\xd1\x80 "
                          "\xc3\x85ngstr\xc3\xb6m gjpqy, a long caption that wraps";

render_opts_t fx_render_opts(void)
{
    render_opts_t o = {.font_file = fx_font_path(),
                       .font_size = 12,
                       .text_padding = 4,
                       .band_mode = BAND_EXTEND,
                       .jpeg_quality = 90,
                       .max_pixels = 40000000,
                       .no_splice = 0};
    return o;
}

render_ctx_t *fx_render_ctx(const render_opts_t *o)
{
    char err[256];
    render_ctx_t *ctx = render_ctx_new(o, err, sizeof err);
    ck_assert_msg(ctx != NULL, "render_ctx_new: %s", err);
    return ctx;
}

render_font_t *fx_font_open(int size_px)
{
    char err[256];
    render_font_t *f = render_font_open(fx_font_path(), size_px, err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    return f;
}

/* ---- JPEG ---- */

static void strict_exit(j_common_ptr ci)
{
    char msg[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, msg);
    ck_abort_msg("libjpeg: %s", msg);
}

static void strict_emit(j_common_ptr ci, int level)
{
    if (level < 0) strict_exit(ci); /* a warning: corrupt data */
}

static void set_errors(struct jpeg_error_mgr *e, int warnings_fail)
{
    jpeg_std_error(e);
    e->error_exit = strict_exit;
    if (warnings_fail) e->emit_message = strict_emit;
}

void fx_jpeg_strict(struct jpeg_error_mgr *e) { set_errors(e, 1); }

void fx_jpeg_read_header(struct jpeg_decompress_struct *d, struct jpeg_error_mgr *e, const buf_t *b)
{
    fx_jpeg_strict(e);
    d->err = e;
    jpeg_create_decompress(d);
    jpeg_mem_src(d, b->p, (unsigned long)b->n);
    jpeg_read_header(d, TRUE);
}

/* Adobe convention: inverted C, M, Y, K, with real black. */
static void rgb_to_adobe_cmyk(const unsigned char *q, unsigned char *out)
{
    int mx = q[0] > q[1] ? q[0] : q[1];
    mx = mx > q[2] ? mx : q[2];
    int k = 255 - mx;
    for (int i = 0; i < 3; i++)
        out[i] = (unsigned char)(mx != 0 ? 255 - (255 - q[i] - k) * 255 / mx : 255);
    out[3] = (unsigned char)(255 - k);
}

buf_t fx_jpeg_encode(const unsigned char *px, size_t stride, int w, int h, int nc,
                     const fx_jpeg_spec_t *s)
{
    ck_assert(nc == 1 || nc == 3);
    ck_assert(!s->cmyk || nc == 3);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long out_len = 0;
    fx_jpeg_strict(&e);
    c.err = &e;
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &out_len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = s->cmyk ? 4 : nc;
    c.in_color_space = s->cmyk ? JCS_CMYK : nc == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, s->quality != 0 ? s->quality : 85, TRUE);
    if (s->gray) jpeg_set_colorspace(&c, JCS_GRAYSCALE);
    if (s->cmyk) jpeg_set_colorspace(&c, s->ycck ? JCS_YCCK : JCS_CMYK); /* with the Adobe marker */
    if (!s->cmyk && s->h0 != 0) {
        c.comp_info[0].h_samp_factor = s->h0;
        c.comp_info[0].v_samp_factor = s->v0;
    }
    if (!s->gray && !s->cmyk && nc == 3 && s->h1 != 0) {
        c.comp_info[1].h_samp_factor = s->h1;
        c.comp_info[1].v_samp_factor = s->v1;
    }
    if (s->float_dct) c.dct_method = JDCT_FLOAT;
    c.restart_interval = (unsigned)s->restart_mcus;
    c.restart_in_rows = s->restart_rows;
    c.optimize_coding = (boolean)s->optimize;
    c.arith_code = (boolean)s->arith;
    if (s->progressive) jpeg_simple_progression(&c);
    static jpeg_scan_info scans[1 + 63 * 3];
    if (s->many_scans) {
        ck_assert_int_eq(c.num_components, 3);
        int n = 0;
        scans[n++] = (jpeg_scan_info){3, {0, 1, 2, 0}, 0, 0, 0, 0};
        for (int ci = 0; ci < 3; ci++)
            for (int k = 1; k <= 63; k++)
                scans[n++] = (jpeg_scan_info){1, {ci, 0, 0, 0}, k, k, 0, 0};
        c.scan_info = scans;
        c.num_scans = n;
    }
    jpeg_start_compress(&c, TRUE);
    if (s->app1 != NULL) jpeg_write_marker(&c, JPEG_APP0 + 1, s->app1, (unsigned)s->app1_len);
    if (s->icc_space != NULL) {
        unsigned char icc[14 + 128] = "ICC_PROFILE";
        icc[12] = 1;
        icc[13] = 1;
        icc[14 + 3] = 128;
        memcpy(icc + 14 + 16, s->icc_space, 4);
        memcpy(icc + 14 + 36, "acsp", 4);
        jpeg_write_marker(&c, JPEG_APP0 + 2, icc, sizeof icc);
    }
    if (s->comment != NULL)
        jpeg_write_marker(&c, JPEG_COM, (const JOCTET *)s->comment, (unsigned)strlen(s->comment));
    unsigned char *row = malloc((size_t)w * 4);
    ck_assert_ptr_nonnull(row);
    while (c.next_scanline < c.image_height) {
        const unsigned char *p = px + (size_t)c.next_scanline * stride;
        if (s->cmyk)
            for (int x = 0; x < w; x++) rgb_to_adobe_cmyk(p + 3 * x, row + 4 * x);
        else
            memcpy(row, p, (size_t)w * (size_t)nc);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    buf_t b = {out, out_len};
    return b;
}

fx_img_t fx_jpeg_decode(const buf_t *b, int flags)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    fx_img_t im;
    memset(&im, 0, sizeof im);
    set_errors(&e, (flags & FX_DECODE_LENIENT) == 0);
    d.err = &e;
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, b->p, (unsigned long)b->n);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_save_markers(&d, JPEG_APP0 + 2, 0xFFFF);
    jpeg_read_header(&d, TRUE);
    im.jcs = d.jpeg_color_space;
    im.progressive = d.progressive_mode;
    im.arith = d.arith_code;
    for (int i = 0; i < d.num_components && i < 3; i++) {
        im.hs[i] = d.comp_info[i].h_samp_factor;
        im.vs[i] = d.comp_info[i].v_samp_factor;
    }
    for (jpeg_saved_marker_ptr m = d.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 2 && m->data_length > 12 &&
            memcmp(m->data, "ICC_PROFILE", 12) == 0)
            im.icc_chunks++;
        if (m->marker == JPEG_APP0 + 1 && im.exif_orientation == 0)
            im.exif_orientation = render_exif_orientation(m->data, m->data_length, NULL);
    }
    d.do_fancy_upsampling = (boolean)((flags & FX_DECODE_FANCY) != 0);
    d.out_color_space = d.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    im.w = (int)d.output_width;
    im.h = (int)d.output_height;
    im.nc = d.output_components;
    im.px = malloc((size_t)im.w * (size_t)im.h * (size_t)im.nc);
    ck_assert_ptr_nonnull(im.px);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = im.px + (size_t)d.output_scanline * (size_t)im.w * (size_t)im.nc;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return im;
}

void fx_img_free(fx_img_t *im)
{
    free(im->px);
    im->px = NULL;
}

fx_img_t fx_camera(int flags)
{
    buf_t b = fx_data_file("camera_674x480.jpg");
    fx_img_t im = fx_jpeg_decode(&b, flags);
    free(b.p);
    ck_assert_int_eq(im.nc, 3);
    return im;
}

size_t fx_exif_app1(unsigned char *p, int big_endian, int orientation)
{
    static const unsigned char le[] = {'E', 'x', 'i', 'f', 0, 0,    'I',  'I', 42, 0, 8,
                                       0,   0,   0,   1,   0, 0x12, 0x01, 3,   0,  1, 0,
                                       0,   0,   0,   0,   0, 0,    0,    0,   0,  0};
    static const unsigned char be[] = {'E', 'x', 'i', 'f', 0, 0,    'M',  'M', 0, 42, 0,
                                       0,   0,   8,   0,   1, 0x01, 0x12, 0,   3, 0,  0,
                                       0,   1,   0,   0,   0, 0,    0,    0,   0, 0};
    memcpy(p, big_endian ? be : le, sizeof le);
    p[big_endian ? 6 + 8 + 2 + 8 + 1 : 6 + 8 + 2 + 8] = (unsigned char)orientation;
    return sizeof le;
}
