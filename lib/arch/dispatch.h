/*
 * One dispatch point per hot microkernel, one table per instruction-set
 * path. Callers (the conv, FC and GEMM kernels) fetch the table once per
 * call; a SIMD path only has to fill in a table entry, never to touch a
 * caller. The table in use is chosen at run time (dispatch.c) from what the
 * CPU and OS support, TINYQ_ISA, or tq_set_isa().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_DISPATCH_H
#define TQ_ARCH_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "tinyq.h"

/* Contract shared by every path: each C element must depend only on its A
 * row, its B row and k -- never on m, n, the tile it falls in or the leading
 * dimensions. The fused conv+pool kernels compute a subset of a conv's
 * pixels and rely on getting the very same bits (f32 included). Every path
 * must produce the bits of the portable reference (f32: for every result
 * that is not a NaN; a NaN result is a NaN, its payload unspecified).
 *
 * C[i][j] = sum_p A[i][p] * B[j][p] for i < m, j < n, p < k (raw int32 sums,
 * no offsets): A rows are pixels, B rows are output channels. m, n >= 1,
 * 1 <= k <= TQ_S8_MAX_REDUCTION, so no sum overflows (|a·b| <= 2^14). */
typedef void (*tq__s8_gemm_fn)(int32_t m, int32_t n, int32_t k, const int8_t *a,
                               size_t lda, const int8_t *b, size_t ldb,
                               int32_t *c, size_t ldc);

/* C[i][j] = sum_p A[i][p] * B[j][p] (overwrites C); m, n, k >= 1.
 *
 * The order of the float operations is part of the contract, so that SIMD
 * paths reproduce the reference bit for bit:
 *   1. 16 lane sums s[0..15] start at +0.0f; for p = 0, 1, ..., k-1 in
 *      turn, s[p % 16] = fmaf(A[i][p], B[j][p], s[p % 16]) (fused,
 *      one rounding). A 16-float vector register holds the lanes.
 *   2. They are reduced in this fixed tree (TQ__F32_LANES = 16):
 *        t[l] = s[l] + s[l + 8]   for l < 8
 *        u[l] = t[l] + t[l + 4]   for l < 4
 *        v[l] = u[l] + u[l + 2]   for l < 2
 *        C[i][j] = v[0] + v[1]
 *      i.e. halves of the vector added until one float is left.
 * Lanes that a short k never reaches stay +0 and add nothing (a lane sum is
 * never -0: it starts at +0 and an exact zero sum rounds to +0), so a SIMD
 * path may run zero-filled tail lanes through its FMAs. The tree gives the
 * same bits for the 16 lane sums rotated by any number of lanes (each
 * level only meets the same pairs in another order, and a + b = b + a), so
 * a path may also start its lanes at any offset, e.g. to read aligned. */
typedef void (*tq__f32_gemm_fn)(int32_t m, int32_t n, int32_t k, const float *a,
                                size_t lda, const float *b, size_t ldb,
                                float *c, size_t ldc);

#define TQ__F32_LANES 16

/* The fold and output stage of a block of raw s8 sums, exactly
 * tq__s8_finish_block_ref() (lib/s8/gemm.c, which documents it). */
struct tq__s8_fold;
typedef void (*tq__s8_finish_fn)(const struct tq__s8_fold *f, int32_t rows,
                                 int32_t channels, const int32_t *acc,
                                 size_t ld_acc, const tq_s8_output *os,
                                 int32_t ch0, int8_t *out, size_t ld_out);

/* sums[r] = Σ_p x[r][p] for r < rows, p < k (k <= TQ_S8_MAX_REDUCTION):
 * the weight and input sums of the offset folds. */
typedef void (*tq__s8_row_sums_fn)(int32_t rows, int32_t k, const int8_t *x,
                                   size_t ld, int32_t *sums);

/* The exact inner product of the 16x8 kernels (lib/s16):
 * Σ_p x[p] · w[p] for 1 <= k <= TQ_S16_MAX_REDUCTION, in int64
 * (|x · w| <= 2^22, so |sum| <= 2^46). Integer sums are exact, so every
 * path gives the reference's value whatever order it adds in. */
typedef int64_t (*tq__s16_dot_fn)(const int16_t *x, const int8_t *w,
                                  int32_t k);

/* The inner product of the int4-weight fully connected kernel (lib/s4):
 * Σ_p x[p] · w[first + p] for p < k, 1 <= k <= TQ_S8_MAX_REDUCTION, with
 * w the packed int4 tensor (value i in the low nibble of byte i / 2 when i
 * is even, else the high one, sign-extended) and x the int16 inputs with
 * the input offset already added (|x| <= 255). |sum| <= 8 · 255 · 2^15 <
 * 2^26: exact in int32 on every path. */
typedef int32_t (*tq__s4_dot_fn)(const int16_t *x, const uint8_t *packed,
                                 size_t first, int32_t k);

/* One row of the int8 MUL (lib/s8/mul.c): for i < n,
 * out[i] = clamp(MBQM((a[i·sa] + off1)·(b[i·sb] + off2)) + output_offset)
 * with sa, sb in {0, 1} (0: a broadcast value), params validated, out
 * equal to a full-stride input or not overlapping it. Exactly
 * tq__s8_mul_row_ref(). */
typedef void (*tq__s8_mul_fn)(size_t n, const int8_t *a, size_t sa,
                              const int8_t *b, size_t sb,
                              const tq_s8_mul_params *p, int8_t *out);

/* ---- weights packed ahead of time (tq_s8_pack_weights) ----------------
 *
 * The packed codes are blocks of 16 weight rows (output features) by 4
 * columns: codes[block][group][lane 0..15][byte 0..3] = W[16·block + lane]
 * [4·group + byte], zero-filled past n and k. One group of one block is 64
 * bytes: a vector register of 16 dwords, one per output feature, whose 4
 * bytes meet the same 4 input bytes -- what vpdpbusd / SDOT consume.
 *
 * C[i][j] = Σ_p A[i][p]·W[j][p] for i < m, j < n (raw int32 sums), with W
 * read from @p codes, which points at the block of column j = 0; n <= 16 ·
 * the blocks that follow; groups = (k + 3) / 4 per block. @p sums holds
 * Σ_p W[j][p] for j < n (a path that runs on x + 128 subtracts 128·sums).
 * 1 <= m <= TQ__PACK_MAX_ROWS, 1 <= n <= TQ__PACK_MAX_COLS; same exactness
 * contract as tq__s8_gemm_fn. */
#define TQ__PACK_MAX_ROWS 8
#define TQ__PACK_MAX_COLS 64
#define TQ__PACK_LANES 16
#define TQ__PACK_DEPTH 4
#define TQ__PACK_HEADER 64
typedef void (*tq__s8_packed_gemm_fn)(int32_t m, int32_t n, int32_t k,
                                      const int8_t *a, size_t lda,
                                      const int8_t *codes,
                                      const int32_t *sums, int32_t *c,
                                      size_t ldc);

/* TFLite QUANTIZE of n floats, none of them NaN (the caller checked):
 * out[i] = clamp(round(in[i] / scale) + zero_point, -128, 127), the
 * division in float, ties away from zero; exactly tq__quantize_one()
 * with TQ_FROUND_HALF_AWAY (lib/s8/quantize.c). */
typedef void (*tq__s8_quantize_fn)(size_t n, const float *in, float scale,
                                   int32_t zero_point, int8_t *out);

/* int8 elementwise ADD of n >= 1 values with validated parameters
 * (TFLite's arithmetic and the activation clamp): exactly
 * tq__s8_add_ref() (lib/s8/add.c). out may alias a or b exactly. */
typedef void (*tq__s8_add_fn)(size_t n, const int8_t *a, const int8_t *b,
                              const tq_s8_add_params *p, int8_t *out);

/* int8 depthwise convolution with depth multiplier 1 (out C = in C) and
 * validated shapes, at most TQ__DW_MAX_TAPS window taps: exactly the
 * portable kernel of lib/s8/depthwise.c. NULL: that kernel. */
#define TQ__DW_MAX_TAPS 64
typedef void (*tq__s8_depthwise_fn)(const tq_conv_params *conv,
                                    const tq_dims *in_dims, const int8_t *in,
                                    int32_t input_offset,
                                    const tq_dims *filter_dims,
                                    const int8_t *filter, const int32_t *bias,
                                    const tq_s8_output *os,
                                    const tq_dims *out_dims, int8_t *out);

/* The requantized GEMM of tq__s8_gemm_requant() (lib/s8/s8_internal.h:
 * validated arguments, m, n, k >= 1) done whole by a path, the output
 * stage applied while the sums are in registers: returns 1 when done, 0
 * (having written nothing) for shapes it leaves to the blocked driver.
 * Same bits as the driver. NULL: always the driver. */
typedef int (*tq__s8_gemm_requant_fn)(int32_t m, int32_t n, int32_t k,
                                      const int8_t *a, size_t lda,
                                      int32_t a_offset, const int8_t *b,
                                      size_t ldb, int32_t b_offset,
                                      const int32_t *bias,
                                      const tq_s8_output *os, int8_t *c,
                                      size_t ldc);

/* ---- convolution weights packed ahead of time (tq_s8_conv2d_pack) -----
 *
 * C[i][j] = Σ_p A[i][p]·W[j][p] for i < m, j < n (raw int32 sums, same
 * contract as tq__s8_gemm_fn), W read from @p panels: panels of 16
 * columns, panel b holding kp = (k + 1) / 2 pairs of 16 columns of 2
 * little-endian int16: bytes [64·(kp·b + q) + 4·j + 2·h, +2) = W[16·b +
 * j][2q + h] (0 past n and k). Any alignment. NULL: the reference
 * tq__s8_gemm_panels_ref (lib/s8/conv_packed.c). */
typedef void (*tq__s8_gemm_panels_fn)(int32_t m, int32_t n, int32_t k,
                                      const int8_t *a, size_t lda,
                                      const unsigned char *panels, int32_t *c,
                                      size_t ldc);

/* ---- implicit-GEMM convolution on packed panels -------------
 *
 * The raw int32 sums of output pixels [p0, p0 + pb) (pixel index over the
 * output's N, OH, OW) of an ungrouped convolution into c[i][j] (ldc apart,
 * j < Cout): Σ_p A_i[p]·W[j][p], A_i the pixel's im2col row
 * (tq__s8_im2col_pixel with @p pad_value on padded taps), W the panels of
 * tq__s8_gemm_panels_fn. The same sums as im2col + s8_gemm_panels, with
 * the window gathered straight into the GEMM's operand. Returns 0, having
 * written nothing, for shapes the path leaves to im2col. NULL: always
 * im2col. */
typedef int (*tq__s8_conv_panels_fn)(const tq_conv_params *conv,
                                     const tq_dims *in_dims, const int8_t *in,
                                     const tq_dims *filter_dims,
                                     const tq_dims *out_dims,
                                     int8_t pad_value, size_t p0, int32_t pb,
                                     const unsigned char *panels, int32_t *c,
                                     size_t ldc);

/* ---- the direct fused s8 conv + ReLU + 2x2 max pool --------------------
 *
 * A path may compute tq_s8_conv2d_relu_maxpool2() without im2col when
 * tq__s8_direct_plan_init() accepts the shapes (groups 1, dilation_w 1,
 * a window row of at most 64 bytes). Its scratch, from a 64-byte aligned
 * start, holds
 *   packed weights [blocks][kh][row_dwords][16 lanes][4 bytes]
 *   int32 folds [blocks · 16], one per output channel
 *   the image_rows input rows that one pooled output row reads, as u8
 *     (x + 128), padded with 128 - input_offset (whose shifted value
 *     x + input_offset is 0), rows of padded_w · cin bytes, plus slack for
 *     reads past the last row.
 * The 16 lanes of a vector are output channels in groups of `lanes` (16,
 * 8 or 4): each group belongs to one of `group` = 16 / lanes horizontally
 * adjacent conv pixels, so that a broadcast input dword feeds all of them.
 * A group's weights are shifted by its pixel's offset in the input row:
 * the row segment of `group` pixels is kw·cin + (group - 1)·stride_w·cin
 * bytes, row_dwords dwords, zero weights past the window. */
typedef struct tq__s8_direct_plan {
    int32_t lanes, group, blocks, row_dwords;
    int32_t padded_w;   /* of the input */
    int32_t image_rows; /* converted at a time */
    size_t weight_bytes, fold_bytes, image_bytes;
    size_t bytes; /* the scratch, 63 bytes of alignment slack included */
} tq__s8_direct_plan;

/* Plans the direct kernel for validated shapes (pooled = the pooled
 * output); returns 0 when this build has no direct kernel or the shapes
 * do not suit it (lib/arch/direct_plan.c). */
int tq__s8_direct_plan_init(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *pooled,
                            tq__s8_direct_plan *plan);

typedef struct tq__s8_direct_args {
    const tq__s8_direct_plan *plan;
    const tq_conv_params *conv;
    const tq_dims *in, *filter, *pooled;
    const int8_t *x, *w;
    int32_t input_offset;
    const int32_t *bias;
    const tq_s8_output *os;
    int8_t *y;
    unsigned char *scratch; /* 64-byte aligned, plan->bytes - 63 bytes */
} tq__s8_direct_args;

typedef void (*tq__s8_conv_pool_fn)(const tq__s8_direct_args *args);

/* A path's table. s8_gemm is required; the others may be NULL, which means
 * the reference (f32_gemm, s8_finish, s8_row_sums, s8_packed_gemm,
 * s8_quantize) or
 * im2col + s8_gemm (s8_conv_pool). The portable table leaves f32_gemm NULL so that linking
 * the dispatcher never pulls float code into an int8-only program. */
typedef struct tq__ukernels {
    const char *name; /* what tq_kernel_path() reports */
    int32_t isa;      /* the ::tq_isa it implements */
    tq__s8_gemm_fn s8_gemm;
    tq__f32_gemm_fn f32_gemm;
    tq__s8_finish_fn s8_finish;
    tq__s8_row_sums_fn s8_row_sums;
    tq__s8_conv_pool_fn s8_conv_pool;
    tq__s8_packed_gemm_fn s8_packed_gemm;
    tq__s8_quantize_fn s8_quantize;
    tq__s16_dot_fn s16_dot;
    tq__s4_dot_fn s4_dot;
    tq__s8_mul_fn s8_mul; /* NULL: tq__s8_mul_row_ref */
    tq__s8_add_fn s8_add; /* NULL: tq__s8_add_ref */
    tq__s8_depthwise_fn s8_depthwise; /* NULL: the portable loops */
    tq__s8_gemm_requant_fn s8_gemm_requant; /* NULL: the blocked driver */
    tq__s8_gemm_panels_fn s8_gemm_panels;   /* NULL: the reference */
    tq__s8_conv_panels_fn s8_conv_panels;   /* NULL: im2col */
} tq__ukernels;

/* The table in use; never NULL. The first call settles the initial choice
 * (TINYQ_ISA, else the best path the CPU runs). */
const tq__ukernels *tq__get_ukernels(void);

/* The portable C microkernels, the reference every other path must match. */
void tq__s8_gemm_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                     size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                     size_t ldc);
void tq__f32_gemm_ref(int32_t m, int32_t n, int32_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc);
void tq__s8_mul_row_ref(size_t n, const int8_t *a, size_t sa, const int8_t *b,
                        size_t sb, const tq_s8_mul_params *p, int8_t *out);
void tq__s8_row_sums_ref(int32_t rows, int32_t k, const int8_t *x, size_t ld,
                         int32_t *sums);
void tq__s8_packed_gemm_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                            size_t lda, const int8_t *codes,
                            const int32_t *sums, int32_t *c, size_t ldc);
void tq__s8_finish_block_ref(const struct tq__s8_fold *f, int32_t rows,
                             int32_t channels, const int32_t *acc,
                             size_t ld_acc, const tq_s8_output *os, int32_t ch0,
                             int8_t *out, size_t ld_out);

static inline tq__f32_gemm_fn tq__f32_gemm_entry(const tq__ukernels *uk)
{
    return uk->f32_gemm ? uk->f32_gemm : tq__f32_gemm_ref;
}

static inline tq__s8_finish_fn tq__s8_finish_entry(const tq__ukernels *uk)
{
    return uk->s8_finish ? uk->s8_finish : tq__s8_finish_block_ref;
}

static inline tq__s8_row_sums_fn tq__s8_row_sums_entry(const tq__ukernels *uk)
{
    return uk->s8_row_sums ? uk->s8_row_sums : tq__s8_row_sums_ref;
}

void tq__s8_quantize_ref(size_t n, const float *in, float scale,
                         int32_t zero_point, int8_t *out);

static inline tq__s8_quantize_fn tq__s8_quantize_entry(const tq__ukernels *uk)
{
    return uk->s8_quantize ? uk->s8_quantize : tq__s8_quantize_ref;
}

static inline tq__s8_packed_gemm_fn
tq__s8_packed_gemm_entry(const tq__ukernels *uk)
{
    return uk->s8_packed_gemm ? uk->s8_packed_gemm : tq__s8_packed_gemm_ref;
}

void tq__s8_gemm_panels_ref(int32_t m, int32_t n, int32_t k,
                            const int8_t *a, size_t lda,
                            const unsigned char *panels, int32_t *c,
                            size_t ldc);

static inline tq__s8_gemm_panels_fn
tq__s8_gemm_panels_entry(const tq__ukernels *uk)
{
    return uk->s8_gemm_panels ? uk->s8_gemm_panels : tq__s8_gemm_panels_ref;
}

void tq__s8_add_ref(size_t n, const int8_t *a, const int8_t *b,
                    const tq_s8_add_params *p, int8_t *out);

static inline tq__s8_add_fn tq__s8_add_entry(const tq__ukernels *uk)
{
    return uk->s8_add ? uk->s8_add : tq__s8_add_ref;
}

int64_t tq__s16_dot_ref(const int16_t *x, const int8_t *w, int32_t k);

/* ---- begin armv7em s16/s4 (dsp) ----
 * The Armv7E-M DSP path's 16x8 and int4 inner products are not entries of
 * its table, which would keep them in every firmware that runs an int8
 * kernel: the entries below name them, so only the 16x8 and int4 kernels
 * that call these helpers pull them in (armv7em_dsp_s16_s4.c). */
#ifdef TQ_ARCH_ARM_DSP
int64_t tq__armdsp_s16_dot(const int16_t *x, const int8_t *w, int32_t k);
int32_t tq__armdsp_s4_dot(const int16_t *x, const uint8_t *packed,
                          size_t first, int32_t k);
void tq__armdsp_s16_pair_cols(int16_t *col, int32_t k);
int64_t tq__armdsp_s16_dot_paired(const int16_t *x, const int8_t *w,
                                  int32_t k);
#endif
/* ---- end armv7em s16/s4 (dsp) ---- */

static inline tq__s16_dot_fn tq__s16_dot_entry(const tq__ukernels *uk)
{
#ifdef TQ_ARCH_ARM_DSP
    if (uk->isa == TQ_ISA_ARM_DSP)
        return tq__armdsp_s16_dot;
#endif
    return uk->s16_dot ? uk->s16_dot : tq__s16_dot_ref;
}

/* ---- begin armv7em s16 conv (dsp) ----
 * The inner product of the 16x8 convolution, whose gathered receptive
 * field (k int16 values) the kernel first passes to *prep when it is not
 * NULL: a path may lay the column out for its dot once per output pixel
 * rather than once per output channel (the DSP path pairs the values the
 * way SXTB16 pairs int8 weights). The dot of the reordered column is the
 * exact sum of the column as gathered. */
typedef void (*tq__s16_col_prep_fn)(int16_t *col, int32_t k);

static inline tq__s16_dot_fn tq__s16_conv_dot_entry(const tq__ukernels *uk,
                                                    tq__s16_col_prep_fn *prep)
{
#ifdef TQ_ARCH_ARM_DSP
    if (uk->isa == TQ_ISA_ARM_DSP) {
        *prep = tq__armdsp_s16_pair_cols;
        return tq__armdsp_s16_dot_paired;
    }
#endif
    *prep = NULL;
    return tq__s16_dot_entry(uk);
}
/* ---- end armv7em s16 conv (dsp) ---- */

int32_t tq__s4_dot_ref(const int16_t *x, const uint8_t *packed, size_t first,
                       int32_t k);

static inline tq__s4_dot_fn tq__s4_dot_entry(const tq__ukernels *uk)
{
#ifdef TQ_ARCH_ARM_DSP
    if (uk->isa == TQ_ISA_ARM_DSP)
        return tq__armdsp_s4_dot;
#endif
    return uk->s4_dot ? uk->s4_dot : tq__s4_dot_ref;
}

/* The reduction tree of step 2 above over 16 lane sums. */
static inline float tq__f32_lane_tree(const float s[TQ__F32_LANES])
{
    float t[8], u[4];
    for (int l = 0; l < 8; ++l)
        t[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; ++l)
        u[l] = t[l] + t[l + 4];
    return (u[0] + u[2]) + (u[1] + u[3]);
}

#ifdef TQ_ARCH_X86
/* x86-64 paths (meson defines TQ_ARCH_X86 where it compiles them). */

/* Bit (1u << isa) per ::tq_isa this CPU and OS can run (cpu_x86.c). */
uint32_t tq__x86_isas(void);

extern const tq__ukernels tq__avx2_ukernels;   /* x86_tables.c */
extern const tq__ukernels tq__avx512_ukernels; /* x86_tables.c */
#endif

#ifdef TQ_ARCH_AARCH64
/* AArch64 paths (meson defines TQ_ARCH_AARCH64 where it compiles them). */

/* Bit (1u << isa) per ::tq_isa this CPU and OS can run (cpu_aarch64.c). */
uint32_t tq__aarch64_isas(void);

extern const tq__ukernels tq__neon_ukernels;    /* aarch64_tables.c */
extern const tq__ukernels tq__neondot_ukernels; /* aarch64_tables.c */
#endif

#ifdef TQ_ARCH_ARM_DSP
/* The Armv7E-M DSP path (meson defines TQ_ARCH_ARM_DSP when compiling for
 * a core with the DSP extension, __ARM_FEATURE_DSP). */
extern const tq__ukernels tq__armdsp_ukernels; /* armv7em_dsp.c */
#endif

#endif /* TQ_ARCH_DISPATCH_H */
