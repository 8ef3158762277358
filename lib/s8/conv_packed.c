/*
 * int8 convolution on weights packed once, ahead of inference
 * (tq_s8_conv2d_pack, tq_s8_conv2d_packed): the weight sums of the input
 * offset's fold are stored, and the weights are widened to int16 panels
 * that the GEMM microkernels read as they are (the layout is documented in
 * include/tinyq.h and lib/arch/dispatch.h). The convolution itself walks
 * the same blocks as tq_s8_conv2d() (lib/s8/conv2d.c) -- same plan, same
 * scratch, same im2col -- so its bits are that kernel's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "s8_internal.h"

#define CP_MAGIC UINT32_C(0x43505154) /* "TQPC" little-endian */
#define CP_VERSION UINT32_C(1)
#define CP_HEADER 64

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xffu);
    p[1] = (unsigned char)((v >> 8) & 0xffu);
    p[2] = (unsigned char)((v >> 16) & 0xffu);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* int32 from its two's complement bit pattern, without an
 * implementation-defined conversion. */
static int32_t i32_of(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u
                                    : -(int32_t)(~u) - 1;
}

static int32_t get_i16(const unsigned char *p)
{
    const int32_t v = (int32_t)p[0] | ((int32_t)p[1] << 8);
    return v >= 32768 ? v - 65536 : v;
}

/* The sizes of a packing. */
typedef struct cp_geom {
    int32_t cout, cout_g, groups, k, kp, panels;
    size_t sums_bytes;  /* round_up(cout, 16) int32 */
    size_t panel_bytes; /* 64 per pair */
    size_t group_bytes; /* panels of one group */
    size_t bytes;       /* the whole packing */
} cp_geom;

static tq_status cp_geometry(const tq_dims *f, int32_t groups, cp_geom *g)
{
    size_t gb, total;
    TQ_CHECK(tq__check_dims(f));
    if (groups < 1)
        return TQ_ERR_PARAM;
    if (f->n % groups != 0)
        return TQ_ERR_SHAPE;
    const int64_t k = (int64_t)f->h * f->w * f->c;
    if (k > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    g->cout = f->n;
    g->groups = groups;
    g->cout_g = f->n / groups;
    g->k = (int32_t)k;
    g->kp = (g->k + 1) / 2;
    g->panels = (int32_t)(((int64_t)g->cout_g + 15) / 16);
    g->panel_bytes = (size_t)g->kp * 64u; /* <= 2^20 */
    /* round_up(cout, 16) int32: cout < 2^31, so this fits in int64. */
    const int64_t sums = ((int64_t)g->cout + 15) / 16 * 16 * 4;
    if ((uint64_t)sums > (uint64_t)SIZE_MAX)
        return TQ_ERR_OVERFLOW;
    g->sums_bytes = (size_t)sums;
    if (tq__mul_size((size_t)g->panels, g->panel_bytes, &gb) ||
        tq__mul_size(gb, (size_t)groups, &total) ||
        tq__add_size(total, g->sums_bytes, &total) ||
        tq__add_size(total, CP_HEADER, &total))
        return TQ_ERR_OVERFLOW;
    g->group_bytes = gb;
    g->bytes = total;
    return TQ_OK;
}

tq_status tq_s8_conv2d_packed_size(const tq_dims *filter_dims, int32_t groups,
                                   size_t *bytes)
{
    cp_geom g;
    if (!filter_dims || !bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(cp_geometry(filter_dims, groups, &g));
    *bytes = g.bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_pack(const tq_dims *filter_dims, int32_t groups,
                            const int8_t *filter, void *packed,
                            size_t packed_bytes)
{
    cp_geom g;
    size_t count;
    if (!filter_dims || !filter || !packed)
        return TQ_ERR_NULL;
    TQ_CHECK(cp_geometry(filter_dims, groups, &g));
    TQ_CHECK(tq__dims_count(filter_dims, &count));
    if (packed_bytes < g.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(packed, g.bytes, filter, count))
        return TQ_ERR_ALIAS;

    unsigned char *p = packed;
    memset(p, 0, CP_HEADER);
    put_u32(p, CP_MAGIC);
    put_u32(p + 4, CP_VERSION);
    put_u32(p + 8, (uint32_t)g.cout);
    put_u32(p + 12, (uint32_t)filter_dims->h);
    put_u32(p + 16, (uint32_t)filter_dims->w);
    put_u32(p + 20, (uint32_t)filter_dims->c);
    put_u32(p + 24, (uint32_t)g.groups);
    put_u32(p + 28, (uint32_t)g.k);
    unsigned char *sums = p + CP_HEADER;
    memset(sums, 0, g.sums_bytes);
    for (int32_t o = 0; o < g.cout; ++o) {
        const int8_t *row = filter + (size_t)o * (size_t)g.k;
        int32_t s = 0; /* |s| <= 128 · 2^15 */
        for (int32_t q = 0; q < g.k; ++q)
            s += row[q];
        put_u32(sums + 4 * (size_t)o, (uint32_t)s);
    }
    unsigned char *pan = sums + g.sums_bytes;
    for (int32_t grp = 0; grp < g.groups; ++grp)
        for (int32_t b = 0; b < g.panels; ++b)
            for (int32_t q = 0; q < g.kp; ++q)
                for (int32_t j = 0; j < 16; ++j)
                    for (int32_t h = 0; h < 2; ++h) {
                        const int32_t col = 16 * b + j, p2 = 2 * q + h;
                        int32_t v = 0;
                        if (col < g.cout_g && p2 < g.k)
                            v = filter[((size_t)grp * (size_t)g.cout_g +
                                        (size_t)col) * (size_t)g.k +
                                       (size_t)p2];
                        const uint32_t u = (uint32_t)v & 0xffffu;
                        pan[0] = (unsigned char)(u & 0xffu);
                        pan[1] = (unsigned char)(u >> 8);
                        pan += 2;
                    }
    return TQ_OK;
}

void tq__s8_gemm_panels_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                            size_t lda, const unsigned char *panels,
                            int32_t *c, size_t ldc)
{
    const int32_t kp = (k + 1) / 2;
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *row = a + (size_t)i * lda;
        for (int32_t j = 0; j < n; ++j) {
            const unsigned char *col =
                panels + (size_t)(j / 16) * (size_t)kp * 64u +
                4u * (size_t)(j % 16);
            int32_t s = 0; /* |s| <= 2^14 · 2^15 */
            for (int32_t p = 0; p < k; ++p)
                s += (int32_t)row[p] *
                     get_i16(col + (size_t)(p / 2) * 64u + 2u * (size_t)(p % 2));
            c[(size_t)i * ldc + (size_t)j] = s;
        }
    }
}

tq_status tq__s8_packed_conv_open(const tq_conv_params *conv,
                                  const tq_dims *filter_dims, int32_t k,
                                  const void *packed, size_t packed_bytes,
                                  tq__s8_packed_conv *pc)
{
    cp_geom g;
    TQ_CHECK(cp_geometry(filter_dims, conv->groups, &g));
    if (packed_bytes < CP_HEADER)
        return TQ_ERR_BUFFER_TOO_SMALL;
    const unsigned char *p = packed;
    if (get_u32(p) != CP_MAGIC || get_u32(p + 4) != CP_VERSION)
        return TQ_ERR_FORMAT;
    if (i32_of(get_u32(p + 8)) != g.cout ||
        i32_of(get_u32(p + 12)) != filter_dims->h ||
        i32_of(get_u32(p + 16)) != filter_dims->w ||
        i32_of(get_u32(p + 20)) != filter_dims->c ||
        i32_of(get_u32(p + 24)) != g.groups || i32_of(get_u32(p + 28)) != k)
        return TQ_ERR_SHAPE;
    if (packed_bytes < g.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    pc->cout = g.cout;
    pc->cout_g = g.cout_g;
    pc->groups = g.groups;
    pc->k = g.k;
    pc->bytes = g.bytes;
    pc->group_bytes = g.group_bytes;
    pc->sums = p + CP_HEADER;
    pc->panels = p + CP_HEADER + g.sums_bytes;
    return TQ_OK;
}

void tq__s8_packed_conv_sums(const tq__s8_packed_conv *pc, int32_t *sums)
{
    for (int32_t o = 0; o < pc->cout; ++o)
        sums[o] = i32_of(get_u32(pc->sums + 4 * (size_t)o));
}

void tq__s8_packed_conv_block(const tq__s8_packed_conv *pc,
                              const tq__s8_conv_blocks *plan,
                              const tq_conv_params *conv,
                              const tq_dims *in_dims, const int8_t *in,
                              const tq_dims *filter_dims,
                              const tq_dims *out_dims, int8_t pad_value,
                              int32_t grp, size_t p0, int32_t pb, int8_t *col,
                              int32_t *acc)
{
    const tq__ukernels *uk = tq__get_ukernels();
    /* The path's implicit GEMM, for the shapes it takes (not the 1x1 convs
     * read in place, which need no gathering). */
    if (uk->s8_conv_panels && pc->groups == 1 && plan->col_len != 0 &&
        uk->s8_conv_panels(conv, in_dims, in, filter_dims, out_dims,
                           pad_value, p0, pb, pc->panels, acc,
                           (size_t)pc->cout_g))
        return;
    size_t lda;
    const int8_t *a = tq__s8_conv_block_rows(plan, conv, in_dims, in,
                                             filter_dims, out_dims, pad_value,
                                             pc->k, grp, p0, pb, col, &lda);
    tq__s8_gemm_panels_entry(uk)(pb, pc->cout_g, pc->k, a, lda,
                                 pc->panels + (size_t)grp * pc->group_bytes,
                                 acc, (size_t)pc->cout_g);
}

tq_status tq_s8_conv2d_packed(const tq_conv_params *conv,
                              const tq_dims *in_dims, const int8_t *in,
                              int32_t input_offset, const tq_dims *filter_dims,
                              const void *packed, size_t packed_bytes,
                              const int32_t *bias, const tq_s8_output *os,
                              const tq_dims *out_dims, int8_t *out,
                              void *scratch, size_t scratch_bytes)
{
    int32_t k;
    tq__s8_packed_conv pc;
    tq__s8_conv_blocks plan;
    size_t in_count, out_count;
    if (!in || !packed || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s8_packed_conv_open(conv, filter_dims, k, packed,
                                     packed_bytes, &pc));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, pc.cout));
    /* The plan of tq_s8_conv2d(), hence its scratch size. */
    const int direct =
        tq__conv_is_pointwise(conv, filter_dims->h, filter_dims->w);
    TQ_CHECK(tq__s8_conv_blocks_plan(out_dims, 1, pc.cout, pc.cout_g,
                                     direct ? 0 : k, &plan));
    /* The buffer rules of tq_s8_conv2d(), the packed bytes standing for the
     * filter: nothing written may overlap anything else of the call. */
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < plan.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    {
        const tq__span writes[2] = {{out, out_count}, {scratch, plan.bytes}};
        tq__span reads[5] = {{in, in_count}, {packed, pc.bytes}};
        tq__s8_stage_spans(os, bias, pc.cout, reads + 2);
        TQ_CHECK(tq__check_alias(writes, 2, reads, 5));
    }

    const tq__ukernels *uk = tq__get_ukernels();
    const tq__s8_finish_fn finish = tq__s8_finish_entry(uk);
    const int32_t cout_g = pc.cout_g;
    const tq__s8_conv_scratch mem = tq__s8_conv_carve(scratch, &plan);
    const int8_t pad_value = (int8_t)-input_offset;

    /* The stored weight sums, in the scratch's aligned int32 slots. */
    if (input_offset != 0)
        tq__s8_packed_conv_sums(&pc, mem.filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const int32_t pb = tq__s8_conv_block_len(&plan, p0);
        for (int32_t grp = 0; grp < pc.groups; ++grp) {
            tq__s8_packed_conv_block(&pc, &plan, conv, in_dims, in,
                                     filter_dims, out_dims, pad_value, grp, p0,
                                     pb, mem.col, mem.acc);
            const size_t ch0 = (size_t)grp * (size_t)cout_g;
            const tq__s8_fold f = {input_offset, 0, k, NULL,
                                   mem.filter_sums + ch0,
                                   bias ? bias + ch0 : NULL};
            finish(&f, pb, cout_g, mem.acc, (size_t)cout_g, os, (int32_t)ch0,
                   out + p0 * (size_t)pc.cout + ch0, (size_t)pc.cout);
        }
    }
    return TQ_OK;
}
