/* jpegio.h - the libjpeg plumbing render.c and thumb.c share: an error
 * manager that turns libjpeg's errors into a longjmp with the message kept,
 * a progress monitor that stops a progressive JPEG with absurdly many scans,
 * and a memory destination that writes into a buffer the caller keeps and
 * reuses across images (jpeg_mem_dest() allocates a new one per image).
 * No I/O. */
#ifndef IMGCAP_RENDER_JPEGIO_H
#define IMGCAP_RENDER_JPEGIO_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>

/* Real progressive files have about ten scans; thousands of tiny ones are a
 * cheap way to burn CPU (libjpeg-turbo's TJFLAG_LIMITSCANS idea). */
#define RENDER_JPEG_MAX_SCANS 100

typedef struct render_jerr {
    struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
    jmp_buf jb;                /* where an error goes: set with setjmp() before each use */
    char msg[JMSG_LENGTH_MAX + 64];
} render_jerr_t;

/* Sets e up (jpeg_std_error, then error_exit -> longjmp(e->jb) with the
 * message in e->msg; warnings that mean lost picture data are errors too,
 * the others are counted) and progress's monitor (more than
 * RENDER_JPEG_MAX_SCANS scans is an error). Point a decompressor's progress at
 * progress for the scan bound to apply. */
void render_jerr_init(render_jerr_t *e, struct jpeg_progress_mgr *progress);

typedef struct render_memdst {
    struct jpeg_destination_mgr pub; /* first: libjpeg hands us &pub */
    unsigned char **buf;             /* the caller's buffer, grown with realloc() */
    size_t *cap;                     /* its size */
    size_t initial;                  /* the buffer's first size */
    size_t len;                      /* bytes written, after jpeg_finish_compress() */
} render_memdst_t;

/* Makes m ci's destination: output goes to *buf (at least initial bytes,
 * doubled when full; the buffer stays the caller's). A failed realloc() is
 * libjpeg's JERR_OUT_OF_MEMORY. */
void render_memdst_attach(j_compress_ptr ci, render_memdst_t *m, unsigned char **buf, size_t *cap,
                          size_t initial);

#endif
