/*
 * int8 MAXIMUM / MINIMUM with numpy broadcasting, TFLite's semantics: raw
 * codes compared, no requantization (the inputs share the output's scale
 * and zero point).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

static int bad_alias(const int8_t *x, size_t nx, size_t no, const int8_t *out)
{
    if (x == out && nx == no)
        return 0;
    return tq__overlap(x, nx, out, no);
}

static tq_status maxmin(const tq_dims *a_dims, const int8_t *a,
                        const tq_dims *b_dims, const int8_t *b,
                        const tq_dims *out_dims, int8_t *out, int is_max)
{
    tq__s8_bcast pl;
    if (!a_dims || !b_dims || !out_dims || !a || !b || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_bcast_plan(a_dims, b_dims, out_dims, &pl));
    if (bad_alias(a, pl.na, pl.no, out) || bad_alias(b, pl.nb, pl.no, out))
        return TQ_ERR_ALIAS;
    int8_t *dst = out;
    for (int32_t i0 = 0; i0 < pl.ext[0]; ++i0)
        for (int32_t i1 = 0; i1 < pl.ext[1]; ++i1)
            for (int32_t i2 = 0; i2 < pl.ext[2]; ++i2) {
                const int8_t *pa = a + (size_t)i0 * pl.sa[0] +
                                   (size_t)i1 * pl.sa[1] +
                                   (size_t)i2 * pl.sa[2];
                const int8_t *pb = b + (size_t)i0 * pl.sb[0] +
                                   (size_t)i1 * pl.sb[1] +
                                   (size_t)i2 * pl.sb[2];
                for (int32_t c = 0; c < pl.ext[3]; ++c) {
                    const int8_t x = pa[(size_t)c * pl.sa[3]];
                    const int8_t y = pb[(size_t)c * pl.sb[3]];
                    dst[c] = is_max ? (x > y ? x : y) : (x < y ? x : y);
                }
                dst += pl.ext[3];
            }
    return TQ_OK;
}

tq_status tq_s8_maximum(const tq_dims *a_dims, const int8_t *a,
                        const tq_dims *b_dims, const int8_t *b,
                        const tq_dims *out_dims, int8_t *out)
{
    return maxmin(a_dims, a, b_dims, b, out_dims, out, 1);
}

tq_status tq_s8_minimum(const tq_dims *a_dims, const int8_t *a,
                        const tq_dims *b_dims, const int8_t *b,
                        const tq_dims *out_dims, int8_t *out)
{
    return maxmin(a_dims, a, b_dims, b, out_dims, out, 0);
}
