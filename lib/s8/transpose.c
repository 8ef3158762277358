/*
 * Axis permutation of a 4-D tensor (TFLite TRANSPOSE), any of the 1-, 2-
 * and 4-byte element sizes: output axis i is input axis perm[i].
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "s8_internal.h"

tq_status tq_s8_transpose(const tq_dims *in_dims, const int32_t *perm,
                          int32_t elem_bytes, const void *in,
                          const tq_dims *out_dims, void *out)
{
    size_t n_in, n_out;
    if (!in_dims || !perm || !in || !out_dims || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__dims_count(in_dims, &n_in));
    TQ_CHECK(tq__dims_count(out_dims, &n_out));
    if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4)
        return TQ_ERR_PARAM;
    int seen = 0;
    for (int i = 0; i < 4; ++i) {
        if (perm[i] < 0 || perm[i] > 3 || (seen & (1 << perm[i])))
            return TQ_ERR_PARAM;
        seen |= 1 << perm[i];
    }
    const int32_t ei[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t eo[4] = {out_dims->n, out_dims->h, out_dims->w,
                           out_dims->c};
    for (int i = 0; i < 4; ++i)
        if (eo[i] != ei[perm[i]])
            return TQ_ERR_SHAPE;
    size_t bytes;
    if (tq__mul_size(n_in, (size_t)elem_bytes, &bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(in, bytes, out, bytes))
        return TQ_ERR_ALIAS;

    size_t stride_in[4];
    stride_in[3] = 1;
    for (int i = 2; i >= 0; --i)
        stride_in[i] = stride_in[i + 1] * (size_t)ei[i + 1];
    /* Output axis i walks input stride s[i]. */
    const size_t s0 = stride_in[perm[0]], s1 = stride_in[perm[1]],
                 s2 = stride_in[perm[2]], s3 = stride_in[perm[3]];
    const unsigned char *src = in;
    unsigned char *dst = out;
    const size_t eb = (size_t)elem_bytes;
    for (int32_t a = 0; a < eo[0]; ++a)
        for (int32_t b = 0; b < eo[1]; ++b)
            for (int32_t c = 0; c < eo[2]; ++c) {
                const size_t base =
                    (size_t)a * s0 + (size_t)b * s1 + (size_t)c * s2;
                for (int32_t d = 0; d < eo[3]; ++d, dst += eb)
                    memcpy(dst, src + (base + (size_t)d * s3) * eb, eb);
            }
    return TQ_OK;
}
