/*
 * Internal pieces shared by the s8 kernels: the offset/bias fold, the
 * output stage, the blocked GEMM driver and the conv helpers. Nothing here
 * is exported.
 *
 * Every s8 kernel that goes through the dispatch microkernel computes raw
 * sums Σ a·b and folds the zero-point offsets in afterwards:
 *   Σ (a + ao)(b + bo) = Σ ab + ao·Σb + bo·Σa + k·ao·bo.
 * The fold and the bias are added in int64 and saturated to int32. TFLite
 * adds the bias in int32 (undefined on overflow), so the two agree
 * wherever TFLite is defined.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_S8_INTERNAL_H
#define TQ_S8_INTERNAL_H

#include "../tq_internal.h"

/* How to turn a block of raw sums [rows][channels] into accumulators. The
 * pointers are already offset to the block's first row and channel. */
typedef struct tq__s8_fold {
    int32_t a_offset;      /* added to every A (input) value */
    int32_t b_offset;      /* added to every B (weight) value */
    int32_t k;             /* reduction length */
    const int32_t *a_sums; /* Σ_p A[r][p] per row; read only if b_offset != 0 */
    const int32_t *b_sums; /* Σ_p B[c][p] per channel; read only if a_offset != 0 */
    const int32_t *bias;   /* per channel, or NULL */
} tq__s8_fold;

/* The accumulator of (row r, channel c) from its raw sum. */
static inline int32_t tq__s8_fold_one(const tq__s8_fold *f, int32_t raw,
                                      int32_t r, int32_t c)
{
    int64_t acc = raw;
    if (f->a_offset != 0)
        acc += (int64_t)f->a_offset * f->b_sums[c];
    if (f->b_offset != 0)
        acc += (int64_t)f->b_offset * f->a_sums[r] +
               (int64_t)f->k * f->a_offset * f->b_offset;
    if (f->bias)
        acc += f->bias[c];
    return tq__sat_i64_to_i32(acc);
}

/* The ::tq_s8_output stage of one accumulator of output channel @p ch
 * (already validated by tq__check_s8_output). The zero point is added in
 * int64: a saturated requantization plus the offset must not overflow.
 * Kernels call tq__s8_output_one() below, not this. */
static inline int8_t tq__s8_output_inline(const tq_s8_output *os,
                                          int32_t acc, int32_t ch)
{
    const int32_t i = os->per_channel ? ch : 0;
    const int64_t v =
        (int64_t)tq__requant(acc, os->multiplier[i], os->shift[i],
                             os->rounding) +
        os->output_offset;
    if (v < os->act_min)
        return (int8_t)os->act_min;
    if (v > os->act_max)
        return (int8_t)os->act_max;
    return (int8_t)v;
}

/* The same stage as one out-of-line function (lib/quant/requant.c). */
int8_t tq__s8_output_shared(const tq_s8_output *os, int32_t acc, int32_t ch);

/* The output stage of every s8 kernel. A build for size (a firmware at
 * -Os) calls the one shared copy: inlined, each kernel that ends in it
 * would carry its own few hundred bytes of requantization. Other builds
 * inline it into their loops. */
static inline int8_t tq__s8_output_one(const tq_s8_output *os, int32_t acc,
                                       int32_t ch)
{
#ifdef __OPTIMIZE_SIZE__
    return tq__s8_output_shared(os, acc, ch);
#else
    return tq__s8_output_inline(os, acc, ch);
#endif
}

/* Finishing a block of raw sums (fold, requantize, store int8; output
 * channel of column j is ch0 + j) is the dispatch entry s8_finish, whose
 * reference is tq__s8_finish_block_ref() in lib/s8/gemm.c. Shared by the
 * GEMM, conv2d and fully connected kernels. */

/* Row sums Σ_p x[r][p] are the dispatch entry s8_row_sums, whose
 * reference is tq__s8_row_sums_ref() in lib/s8/gemm.c. */

/* Requantized GEMM with stack-bounded blocks and no scratch: C[i][j] =
 * output stage of Σ_p (A[i][p] + ao)(B[j][p] + bo) + bias[j], channel = j.
 * Arguments already validated; m, n >= 1, k >= 0. (lib/s8/gemm.c) */
void tq__s8_gemm_requant(int32_t m, int32_t n, int32_t k, const int8_t *a,
                         size_t lda, int32_t a_offset, const int8_t *b,
                         size_t ldb, int32_t b_offset, const int32_t *bias,
                         const tq_s8_output *os, int8_t *c, size_t ldc);

/* ---- convolution helpers (lib/s8/conv2d.c) ---------------------------- */

/* Validate the shapes of an s8 convolution: geometry against @p conv_out
 * (the convolution's own output extents), channels and groups, the
 * reduction limit and element counts. Gives the reduction length K. */
tq_status tq__s8_conv_shape(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *conv_out,
                            int32_t *k);

/* The input offset (in [-127, 128]) and the output stage of @p channels
 * output channels: the quantization side of every s8 convolution. */
tq_status tq__s8_check_input_stage(int32_t input_offset,
                                   const tq_s8_output *os, int32_t channels);

/* Round a scratch pointer up to int32 alignment. Scratch queries add
 * TQ__S8_ALIGN_SLACK bytes so that any caller pointer works. */
#define TQ__S8_ALIGN_SLACK (sizeof(int32_t) - 1)
static inline int32_t *tq__s8_align_i32(void *p)
{
    const uintptr_t u = (uintptr_t)p;
    const size_t pad = (size_t)((sizeof(int32_t) - u % sizeof(int32_t)) %
                                sizeof(int32_t));
    return (int32_t *)(void *)((unsigned char *)p + pad);
}

/* How an im2col convolution driver walks its output grid: blocks of
 * output pixels, each pixel taking `rows_per_pixel` GEMM rows (1 for
 * conv2d, 4 for the taps of the fused 2x2 pool). Its scratch, after
 * rounding up to int32 alignment, is
 *   int32 filter_sums[cout] | int32 acc[rows][acc_cols] | int8 col[rows][col_len]
 * with rows = rows_per_pixel · block, the GEMM rows of one block. Both
 * drivers plan here so that they block and size their scratch alike. */
typedef struct tq__s8_conv_blocks {
    size_t pixels;          /* N·H·W of the grid */
    int32_t block;          /* pixels per block */
    int32_t rows_per_pixel;
    int32_t cout;           /* filter sums kept */
    int32_t acc_cols;       /* int32 sums per GEMM row */
    int32_t col_len;        /* im2col bytes per GEMM row; 0 reads in place */
    size_t bytes;           /* scratch bytes, alignment slack included */
} tq__s8_conv_blocks;

/* Plan the blocks over @p grid (validated dims): at most 32 GEMM rows, to
 * keep the microkernel busy and reuse each weight row, fewer when that
 * would take the block past 16 KiB. */
tq_status tq__s8_conv_blocks_plan(const tq_dims *grid, int32_t rows_per_pixel,
                                  int32_t cout, int32_t acc_cols,
                                  int32_t col_len, tq__s8_conv_blocks *plan);

/* Pixels in the block that starts at pixel @p p0 (the last may be short). */
static inline int32_t tq__s8_conv_block_len(const tq__s8_conv_blocks *plan,
                                            size_t p0)
{
    const size_t left = plan->pixels - p0;
    return left < (size_t)plan->block ? (int32_t)left : plan->block;
}

/* The three parts of a planned scratch. */
typedef struct tq__s8_conv_scratch {
    int32_t *filter_sums;
    int32_t *acc;
    int8_t *col;
} tq__s8_conv_scratch;

static inline tq__s8_conv_scratch
tq__s8_conv_carve(void *scratch, const tq__s8_conv_blocks *plan)
{
    tq__s8_conv_scratch s;
    s.filter_sums = tq__s8_align_i32(scratch);
    s.acc = s.filter_sums + plan->cout;
    s.col = (int8_t *)(s.acc + (size_t)plan->rows_per_pixel *
                                   (size_t)plan->block *
                                   (size_t)plan->acc_cols);
    return s;
}

/* The buffer checks of a validated, planned convolution: the scratch
 * (present, at least @p need bytes) and the overlap rule of
 * tq__check_alias() over input, filter, bias, the output stage's arrays,
 * output and the used scratch. */
tq_status tq__s8_conv_check_buffers(const tq_dims *in_dims, const int8_t *in,
                                    const tq_dims *filter_dims,
                                    const int8_t *filter, const int32_t *bias,
                                    const tq_s8_output *os,
                                    const tq_dims *out_dims, const int8_t *out,
                                    const void *scratch, size_t scratch_bytes,
                                    size_t need);

/* The spans of a validated output stage's multiplier and shift arrays for
 * @p channels output channels, and of a bias of @p channels int32 values
 * (absent when @p bias is NULL), for tq__check_alias(). */
static inline void tq__s8_stage_spans(const tq_s8_output *os,
                                      const int32_t *bias, int32_t channels,
                                      tq__span spans[3])
{
    const size_t count = os->per_channel ? (size_t)channels : 1;
    spans[0].p = os->multiplier;
    spans[0].bytes = count * sizeof(int32_t);
    spans[1].p = os->shift;
    spans[1].bytes = count * sizeof(int32_t);
    spans[2].p = bias;
    spans[2].bytes = bias ? (size_t)channels * sizeof(int32_t) : 0;
}

/* Gather the receptive field of output pixel (n, oy, ox), input channels
 * [c0, c0 + cin_g), into dst[kh·kw·cin_g] in OHWI order. Padded taps get
 * @p pad_value (the input zero point, so that x + input_offset is 0 there
 * and the offset fold stays exact). */
void tq__s8_im2col_pixel(const tq_conv_params *conv, const tq_dims *in_dims,
                         const int8_t *in, int32_t kh, int32_t kw, int32_t c0,
                         int32_t cin_g, int32_t n, int32_t oy, int32_t ox,
                         int8_t pad_value, int8_t *dst);

/* The GEMM's A operand for the block of output pixels [p0, p0 + pb) and
 * input-channel group g of a planned convolution: the input itself when
 * no im2col is needed (plan->col_len 0: 1x1, stride 1, no padding), else
 * the im2col rows gathered into @p col (row i is pixel p0 + i). Its row
 * stride goes to *lda. Shared by tq_s8_conv2d, the packed and the fused
 * conv + Add kernels. */
static inline const int8_t *tq__s8_conv_block_rows(
    const tq__s8_conv_blocks *plan, const tq_conv_params *conv,
    const tq_dims *in_dims, const int8_t *in, const tq_dims *filter_dims,
    const tq_dims *out_dims, int8_t pad_value, int32_t k, int32_t g,
    size_t p0, int32_t pb, int8_t *col, size_t *lda)
{
    if (plan->col_len == 0) {
        *lda = (size_t)in_dims->c;
        return in + p0 * (size_t)in_dims->c;
    }
    const int32_t cin_g = filter_dims->c;
    for (int32_t i = 0; i < pb; ++i) {
        int32_t n, oy, ox;
        tq__pixel_coords(p0 + (size_t)i, out_dims->h, out_dims->w, &n, &oy,
                         &ox);
        tq__s8_im2col_pixel(conv, in_dims, in, filter_dims->h, filter_dims->w,
                            g * cin_g, cin_g, n, oy, ox, pad_value,
                            col + (size_t)i * (size_t)k);
    }
    *lda = (size_t)k;
    return col;
}

/* Σ_p w[c][p] for each of @p cout filter rows of length k. */
void tq__s8_filter_sums(const int8_t *filter, int32_t cout, int32_t k,
                        int32_t *sums);


/* ---- 4-D numpy broadcasting of two operands (lib/s8/mul.c, maxmin.c) ---
 * Each extent of a and b is the output's or 1. Strides (in elements) are
 * 0 along a broadcast axis. Checked by tq__s8_bcast_plan (lib/s8/mul.c). */
typedef struct tq__s8_bcast {
    int32_t ext[4];    /* output extents n, h, w, c */
    size_t sa[4];      /* strides of a */
    size_t sb[4];      /* strides of b */
    size_t na, nb, no; /* element counts of a, b and the output */
} tq__s8_bcast;

tq_status tq__s8_bcast_plan(const tq_dims *a, const tq_dims *b,
                            const tq_dims *o, tq__s8_bcast *pl);

/* ---- convolutions on packed weights (lib/s8/conv_packed.c) ----------
 * [conv3x3: packed conv + Add, implicit GEMM] */

/* A packed convolution (tq_s8_conv2d_pack) checked against its shapes. */
typedef struct tq__s8_packed_conv {
    int32_t cout, cout_g, groups, k;
    size_t bytes;                /* of the whole packing */
    size_t group_bytes;          /* panels of one group */
    const unsigned char *sums;   /* int32 little-endian, Cout of them */
    const unsigned char *panels; /* group 0's first panel */
} tq__s8_packed_conv;

/* Check @p packed (header, shapes, size) against the validated shapes of
 * a convolution of reduction length @p k. */
tq_status tq__s8_packed_conv_open(const tq_conv_params *conv,
                                  const tq_dims *filter_dims, int32_t k,
                                  const void *packed, size_t packed_bytes,
                                  tq__s8_packed_conv *pc);

/* The stored weight sums into @p sums[Cout]. */
void tq__s8_packed_conv_sums(const tq__s8_packed_conv *pc, int32_t *sums);

/* The raw int32 sums of output pixels [p0, p0 + pb) and group @p grp of
 * a planned convolution into acc[pb][cout_g]: the path's implicit GEMM
 * when it has one for these shapes, else the im2col rows (in @p col) and
 * the panels' GEMM. */
void tq__s8_packed_conv_block(const tq__s8_packed_conv *pc,
                              const tq__s8_conv_blocks *plan,
                              const tq_conv_params *conv,
                              const tq_dims *in_dims, const int8_t *in,
                              const tq_dims *filter_dims,
                              const tq_dims *out_dims, int8_t pad_value,
                              int32_t grp, size_t p0, int32_t pb, int8_t *col,
                              int32_t *acc);

/* The plan of tq_s8_conv2d_add() (lib/s8/conv_add.c): tq_s8_conv2d()'s
 * blocks, and in *extra the int8 block bytes added at the end of the
 * scratch (0 when the block goes into the im2col rows). */
tq_status tq__s8_conv_add_plan(const tq_conv_params *conv,
                               const tq_dims *filter, const tq_dims *out,
                               int32_t k, tq__s8_conv_blocks *plan,
                               size_t *extra);

/* The Add stage of the fused conv + Add (plain and packed weights) for
 * one block of @p pb output pixels of group channels [ch0, ch0 + cout_g):
 * @p y holds the block's int8 conv outputs, cout_g per pixel; the sums
 * with the skip tensor go to @p out (both NHWC with cout channels, from
 * pixel @p p0). Contiguous when there is one group, one pixel's group
 * channels at a time otherwise; each output byte is written after its skip
 * byte is read, so @p out may be @p skip. */
static inline tq_status tq__s8_conv_add_block(
    const int8_t *y, const int8_t *skip, const tq_s8_add_params *add,
    int8_t *out, size_t p0, int32_t pb, int32_t groups, int32_t cout,
    int32_t cout_g, size_t ch0)
{
    const size_t at = p0 * (size_t)cout + ch0;
    if (groups == 1)
        return tq_s8_add((size_t)pb * (size_t)cout, y, skip + at, add,
                         out + at);
    for (int32_t i = 0; i < pb; ++i)
        TQ_CHECK(tq_s8_add((size_t)cout_g, y + (size_t)i * (size_t)cout_g,
                           skip + at + (size_t)i * (size_t)cout, add,
                           out + at + (size_t)i * (size_t)cout));
    return TQ_OK;
}

#endif /* TQ_S8_INTERNAL_H */
