/* splice_int.h - what the splice's writer (splice.c) and its scan verifier
 * (splice_verify.c) share: the Huffman tables as codes, and the MCU grid of
 * a scan. Internal to those two files; the rest of render uses splice.h. */
#ifndef IMGCAP_RENDER_SPLICE_INT_H
#define IMGCAP_RENDER_SPLICE_INT_H

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE */

#include <jpeglib.h>

/* The code and its length of every symbol of one table. */
typedef struct splice_huff {
    unsigned short code[256];
    unsigned char size[256]; /* 0: the symbol has no code */
} splice_huff_t;

/* Canonical codes of t (T.81 annex C), with the checks libjpeg's
 * jpeg_make_c_derived_tbl() makes (dc: a DC table; no: its number, for the
 * message). Returns 0, or -1 with why set (no table, or a bad one). */
int splice_huff_build(const JHUFF_TBL *t, int dc, int no, splice_huff_t *h, char *why,
                      size_t whylen);

/* The MCU grid of src's scan (T.81 A.2: a scan of one component is made of
 * single blocks, one of several of whole MCUs of 8 x max sampling pixels). */
typedef struct splice_grid {
    unsigned long per_row; /* MCUs in one row */
    unsigned long rows;    /* rows of MCUs, the last one padded */
    unsigned long mcu_h;   /* pixel rows of a frame MCU: 8 x max_v_samp_factor */
} splice_grid_t;

/* src after jpeg_read_header(), comps_in_scan >= 1. */
static inline splice_grid_t splice_grid(j_decompress_ptr src)
{
    splice_grid_t g;
    g.mcu_h = 8UL * (unsigned long)src->max_v_samp_factor;
    if (src->comps_in_scan == 1) {
        const jpeg_component_info *comp = src->cur_comp_info[0];
        g.per_row = comp->width_in_blocks;
        g.rows = comp->height_in_blocks;
    } else {
        unsigned long mcu_w = 8UL * (unsigned long)src->max_h_samp_factor;
        g.per_row = (src->image_width + mcu_w - 1) / mcu_w;
        g.rows = (src->image_height + g.mcu_h - 1) / g.mcu_h;
    }
    return g;
}

#endif
