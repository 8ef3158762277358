/*
 * int8 elementwise MUL with TFLite's arithmetic and numpy broadcasting:
 * out = clamp(MBQM((a + off1)·(b + off2)) + output_offset). The broadcast
 * planner here also serves MAXIMUM / MINIMUM (lib/s8/maxmin.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

static int valid_scale(float s)
{
    return isfinite(s) && s > 0.0f;
}

static int valid_zp(int32_t z)
{
    return z >= -128 && z <= 127;
}

tq_status tq_s8_mul_params_from_scales(float scale1, int32_t zero_point1,
                                       float scale2, int32_t zero_point2,
                                       float scale_out, int32_t zero_point_out,
                                       int32_t act_min, int32_t act_max,
                                       int32_t rounding,
                                       tq_s8_mul_params *params)
{
    tq_s8_mul_params p;
    if (!params)
        return TQ_ERR_NULL;
    if (!valid_scale(scale1) || !valid_scale(scale2) ||
        !valid_scale(scale_out) || !valid_zp(zero_point1) ||
        !valid_zp(zero_point2) || !valid_zp(zero_point_out) ||
        act_min < -128 || act_max > 127 || act_min > act_max ||
        (rounding != TQ_ROUND_DOUBLE && rounding != TQ_ROUND_SINGLE))
        return TQ_ERR_PARAM;
    /* TFLite: (double)s1 * (double)s2 / (double)s_out. */
    const double real = (double)scale1 * (double)scale2 / (double)scale_out;
    TQ_CHECK(tq_quantize_multiplier(real, &p.output_multiplier,
                                    &p.output_shift));
    p.input1_offset = -zero_point1;
    p.input2_offset = -zero_point2;
    p.output_offset = zero_point_out;
    p.act_min = act_min;
    p.act_max = act_max;
    p.rounding = rounding;
    *params = p;
    return TQ_OK;
}

static tq_status check_params(const tq_s8_mul_params *p)
{
    if (p->input1_offset < -127 || p->input1_offset > 128 ||
        p->input2_offset < -127 || p->input2_offset > 128 ||
        p->output_offset < -128 || p->output_offset > 127 ||
        p->output_multiplier < 0 || p->output_shift < TQ_SHIFT_MIN ||
        p->output_shift > TQ_SHIFT_MAX || p->act_min < -128 ||
        p->act_max > 127 || p->act_min > p->act_max ||
        (p->rounding != TQ_ROUND_DOUBLE && p->rounding != TQ_ROUND_SINGLE))
        return TQ_ERR_PARAM;
    return TQ_OK;
}

void tq__s8_mul_row_ref(size_t n, const int8_t *a, size_t sa, const int8_t *b,
                        size_t sb, const tq_s8_mul_params *p, int8_t *out)
{
    for (size_t i = 0; i < n; ++i) {
        /* |(x + o1)(y + o2)| <= 256 · 256 = 2^16: exact in int32. */
        const int32_t prod = ((int32_t)a[i * sa] + p->input1_offset) *
                             ((int32_t)b[i * sb] + p->input2_offset);
        const int64_t r = (int64_t)tq__requant(prod, p->output_multiplier,
                                               p->output_shift, p->rounding) +
                          p->output_offset;
        out[i] = (int8_t)(r < p->act_min ? p->act_min
                                         : (r > p->act_max ? p->act_max : r));
    }
}

tq_status tq__s8_bcast_plan(const tq_dims *a, const tq_dims *b,
                            const tq_dims *o, tq__s8_bcast *pl)
{
    const int32_t ea[4] = {a->n, a->h, a->w, a->c};
    const int32_t eb[4] = {b->n, b->h, b->w, b->c};
    const int32_t eo[4] = {o->n, o->h, o->w, o->c};
    TQ_CHECK(tq__dims_count(a, &pl->na));
    TQ_CHECK(tq__dims_count(b, &pl->nb));
    TQ_CHECK(tq__dims_count(o, &pl->no));
    size_t st_a = 1, st_b = 1;
    for (int i = 3; i >= 0; --i) {
        if ((ea[i] != eo[i] && ea[i] != 1) || (eb[i] != eo[i] && eb[i] != 1))
            return TQ_ERR_SHAPE;
        pl->ext[i] = eo[i];
        pl->sa[i] = ea[i] == 1 ? 0 : st_a;
        pl->sb[i] = eb[i] == 1 ? 0 : st_b;
        st_a *= (size_t)ea[i];
        st_b *= (size_t)eb[i];
    }
    return TQ_OK;
}

/* Exact aliasing of a full-shape input is fine (each element is read
 * before it is written); any other overlap is not. */
static int bad_alias(const int8_t *x, size_t nx, size_t no, const int8_t *out)
{
    if (x == out && nx == no)
        return 0;
    return tq__overlap(x, nx, out, no);
}

tq_status tq_s8_mul(const tq_dims *a_dims, const int8_t *a,
                    const tq_dims *b_dims, const int8_t *b,
                    const tq_s8_mul_params *params, const tq_dims *out_dims,
                    int8_t *out)
{
    tq__s8_bcast pl;
    if (!a_dims || !b_dims || !out_dims || !params || !a || !b || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_bcast_plan(a_dims, b_dims, out_dims, &pl));
    TQ_CHECK(check_params(params));
    if (bad_alias(a, pl.na, pl.no, out) || bad_alias(b, pl.nb, pl.no, out))
        return TQ_ERR_ALIAS;

    tq__s8_mul_fn row = tq__get_ukernels()->s8_mul;
    if (!row)
        row = tq__s8_mul_row_ref;
    /* Whole tensor in one row when neither input broadcasts along more
     * than "everything" (full, or a scalar). */
    if ((pl.na == pl.no || pl.na == 1) && (pl.nb == pl.no || pl.nb == 1)) {
        row(pl.no, a, pl.na == 1 ? 0 : 1, b, pl.nb == 1 ? 0 : 1, params, out);
        return TQ_OK;
    }
    int8_t *dst = out;
    for (int32_t i0 = 0; i0 < pl.ext[0]; ++i0)
        for (int32_t i1 = 0; i1 < pl.ext[1]; ++i1)
            for (int32_t i2 = 0; i2 < pl.ext[2]; ++i2) {
                const size_t oa = (size_t)i0 * pl.sa[0] +
                                  (size_t)i1 * pl.sa[1] + (size_t)i2 * pl.sa[2];
                const size_t ob = (size_t)i0 * pl.sb[0] +
                                  (size_t)i1 * pl.sb[1] + (size_t)i2 * pl.sb[2];
                row((size_t)pl.ext[3], a + oa, pl.sa[3], b + ob, pl.sb[3],
                    params, dst);
                dst += pl.ext[3];
            }
    return TQ_OK;
}
