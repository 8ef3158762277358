/*
 * Constant padding of a 4-D NHWC tensor (TFLite PAD / PADV2 on int8).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "s8_internal.h"

tq_status tq_s8_pad(const tq_dims *in_dims, const int8_t *in,
                    const int32_t *pads, int32_t pad_value,
                    const tq_dims *out_dims, int8_t *out)
{
    size_t n_in, n_out;
    if (!in_dims || !in || !pads || !out_dims || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__dims_count(in_dims, &n_in));
    TQ_CHECK(tq__dims_count(out_dims, &n_out));
    if (pad_value < -128 || pad_value > 127)
        return TQ_ERR_PARAM;
    const int32_t ei[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t eo[4] = {out_dims->n, out_dims->h, out_dims->w,
                           out_dims->c};
    for (int i = 0; i < 4; ++i) {
        if (pads[2 * i] < 0 || pads[2 * i + 1] < 0)
            return TQ_ERR_PARAM;
        if ((int64_t)ei[i] + pads[2 * i] + pads[2 * i + 1] != eo[i])
            return TQ_ERR_SHAPE;
    }
    if (tq__overlap(in, n_in, out, n_out))
        return TQ_ERR_ALIAS;

    memset(out, pad_value, n_out); /* pad_value's byte is its int8 code */
    const size_t row = (size_t)ei[3];
    for (int32_t a = 0; a < ei[0]; ++a)
        for (int32_t b = 0; b < ei[1]; ++b)
            for (int32_t c = 0; c < ei[2]; ++c) {
                const size_t src =
                    (((size_t)a * (size_t)ei[1] + (size_t)b) * (size_t)ei[2] +
                     (size_t)c) * row;
                const size_t dst =
                    ((((size_t)a + (size_t)pads[0]) * (size_t)eo[1] +
                      (size_t)b + (size_t)pads[2]) * (size_t)eo[2] +
                     (size_t)c + (size_t)pads[4]) * (size_t)eo[3] +
                    (size_t)pads[6];
                memcpy(out + dst, in + src, row);
            }
    return TQ_OK;
}
