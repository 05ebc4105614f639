/* areaavg.h - exact area-average resampling of one image plane, in
 * integers, the thumbnail's shrinking step (thumb.c). Pure: no I/O.
 *
 * The area average works in integer units in which a source sample and a
 * thumbnail sample of every plane have a whole length (start_decode()), so
 * every overlap is exact. A sample's weight is its overlap / the thumbnail
 * sample's length in fixed point, taken as a difference of rounded prefix
 * sums so that the weights of one thumbnail sample add up to exactly 1: a
 * uniform area stays exactly its value. Rows are summed first (vacc, one
 * 16-bit multiply-add per source sample, weights in 1/256), then columns
 * once per thumbnail row (weights in 1/32768, at most 4 taps per column
 * padded to a fixed count when the ratio allows, which is every ratio under
 * 3). A plane whose size does not change is copied. */
#ifndef IMGCAP_RENDER_AREAAVG_H
#define IMGCAP_RENDER_AREAAVG_H

#include <stddef.h>
#include <stdint.h>

#include "dynbuf.h"

/* Buffers up to this size are kept for the next call. */
#define RENDER_BUF_KEEP_BYTES (16u << 20)

/* One plane: its source samples, sw x sh, each uw x uh units, read into rows
 * (sstride bytes a row, a multiple of 16); its thumbnail samples, tw x th,
 * sample x covering [x * stepw, min((x + 1) * stepw, totw)) units (alike
 * vertically), written into px (tstride bytes a row, trows rows: whole MCUs). */
typedef struct render_plane {
    int sw, sh;
    long long uw, uh;
    size_t sstride;
    int tw, th;
    long long stepw, steph, totw, toth;
    size_t tstride;
    int trows;
    int hcopy, vcopy;     /* the same samples horizontally, vertically */
    int ntaps;            /* taps of every column (2 or 4), 0: each its own */
    int cur;              /* next thumbnail row */
    int vacc_empty;       /* nothing summed into vacc for row cur yet */
    dynbuf_t rows;        /* source rows (unsigned char) */
    dynbuf_t vacc;        /* the thumbnail row being summed (uint16_t, sstride) */
    dynbuf_t px;          /* the thumbnail plane (unsigned char) */
    dynbuf_t first;       /* int per thumbnail column: its first source column */
    dynbuf_t count;       /* int per column: its taps (when ntaps is 0) */
    dynbuf_t xw;          /* the columns' weights (int16_t) */
    long long planned[6]; /* what first, count and xw were made for (plan_columns()) */
} render_plane_t;

/* An empty plane (its buffers allocate nothing yet); render_plane_free()
 * frees what it grows. */
void render_plane_init(render_plane_t *p);
void render_plane_free(render_plane_t *p);
/* Frees the buffers that follow the picture's size (source rows, sums,
 * thumbnail plane) when over RENDER_BUF_KEEP_BYTES; the column plan, small,
 * is kept with what it was made for. */
void render_plane_trim(render_plane_t *p);

/* Sets p's thumbnail side: tw x th samples of stepw x steph units in a
 * picture of totw x toth units, padded to whole blocks of bw x bh. */
void render_plane_target(render_plane_t *p, int tw, int th, long long stepw, long long steph,
                         long long totw, long long toth, int bw, int bh);

/* Sets p's source side: sw x sh samples of uw x uh units, rows of at least
 * row_bytes. */
void render_plane_source(render_plane_t *p, int sw, int sh, long long uw, long long uh,
                         size_t row_bytes);

/* The plane's buffers for a call (src_rows source rows at once); the source
 * rows' padding zeroed. Returns 0, or -1 when out of memory. */
int render_plane_alloc(render_plane_t *p, int src_rows);

/* Adds source row j (sstride bytes, padding zeroed) to the thumbnail rows it
 * overlaps; a thumbnail row is written to px once all its source rows are in. */
void render_plane_add_row(render_plane_t *p, int j, const unsigned char *row);

/* The padding of p's thumbnail plane: its last column and row repeated, as
 * libjpeg pads an image to whole MCUs. */
void render_plane_pad(render_plane_t *p);

#endif
