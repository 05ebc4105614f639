/* jpegio.c - libjpeg error manager, scan bound, memory destination (see jpegio.h). */
#include "jpegio.h"

#include <stdlib.h>
#include <string.h>

#include <jerror.h>

static void jerr_exit(j_common_ptr ci)
{
    render_jerr_t *e = (render_jerr_t *)ci->err;
    char m[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, m);
    snprintf(e->msg, sizeof e->msg, "%s", m);
    longjmp(e->jb, 1);
}

/* Warnings that do not mean lost picture data stay warnings. */
static int warning_is_benign(int code)
{
    return code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM ||
           code == JWRN_BOGUS_ICC;
}

static void jerr_emit(j_common_ptr ci, int level)
{
    if (level >= 0) return;
    if (warning_is_benign(ci->err->msg_code)) {
        ci->err->num_warnings++;
        return;
    }
    jerr_exit(ci);
}

static void jerr_progress(j_common_ptr ci)
{
    if (!ci->is_decompressor || ((j_decompress_ptr)ci)->input_scan_number <= RENDER_JPEG_MAX_SCANS)
        return;
    render_jerr_t *e = (render_jerr_t *)ci->err;
    snprintf(e->msg, sizeof e->msg, "more than %d scans in a progressive JPEG",
             RENDER_JPEG_MAX_SCANS);
    longjmp(e->jb, 1);
}

void render_jerr_init(render_jerr_t *e, struct jpeg_progress_mgr *progress)
{
    jpeg_std_error(&e->pub);
    e->pub.error_exit = jerr_exit;
    e->pub.emit_message = jerr_emit;
    e->msg[0] = '\0';
    progress->progress_monitor = jerr_progress;
}

static void md_grow(j_compress_ptr ci, render_memdst_t *m, size_t want)
{
    unsigned char *p = realloc(*m->buf, want);
    if (p == NULL) ERREXIT(ci, JERR_OUT_OF_MEMORY);
    *m->buf = p;
    *m->cap = want;
}

static void md_init(j_compress_ptr ci)
{
    render_memdst_t *m = (render_memdst_t *)ci->dest;
    if (*m->cap < m->initial) md_grow(ci, m, m->initial);
    m->len = 0;
    m->pub.next_output_byte = *m->buf;
    m->pub.free_in_buffer = *m->cap;
}

static boolean md_empty(j_compress_ptr ci)
{
    render_memdst_t *m = (render_memdst_t *)ci->dest;
    size_t used = *m->cap;
    md_grow(ci, m, used * 2);
    m->pub.next_output_byte = *m->buf + used;
    m->pub.free_in_buffer = *m->cap - used;
    return TRUE;
}

static void md_term(j_compress_ptr ci)
{
    render_memdst_t *m = (render_memdst_t *)ci->dest;
    m->len = *m->cap - m->pub.free_in_buffer;
}

void render_memdst_attach(j_compress_ptr ci, render_memdst_t *m, unsigned char **buf, size_t *cap,
                          size_t initial)
{
    memset(m, 0, sizeof *m);
    m->pub.init_destination = md_init;
    m->pub.empty_output_buffer = md_empty;
    m->pub.term_destination = md_term;
    m->buf = buf;
    m->cap = cap;
    m->initial = initial > 0 ? initial : 1;
    ci->dest = &m->pub;
}
