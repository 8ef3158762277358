/*
 * Layout conversions between PyTorch's tensor layouts (NCHW activations,
 * OIHW weights) and tinyq's (NHWC, OHWI, depthwise [1][H][W][C*M]).
 * All four are 4-D axis permutations, so one validated permutation routine
 * does the work and each public function only names its permutation.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../tq_internal.h"

/* out axis k is in axis perm[k]. */
typedef struct tq__perm4 {
    int axis[4];
} tq__perm4;

static const tq__perm4 tq__nchw_to_nhwc_perm = {{0, 2, 3, 1}};
static const tq__perm4 tq__nhwc_to_nchw_perm = {{0, 3, 1, 2}};
/* {O, 1, H, W} -> {1, H, W, O}: moving the unit axis to the front keeps the
 * remaining order, so O ends up innermost as the depthwise kernel wants. */
static const tq__perm4 tq__oihw_to_dw_perm = {{1, 2, 3, 0}};

/* Validate in/out for the permutation and return the byte size of each.
 * Writes nothing but *bytes. */
static tq_status tq__permute_check(const tq_tensor *in, const tq_tensor *out,
                                   const tq__perm4 *perm, size_t *bytes)
{
    size_t in_bytes, out_bytes;
    if (!in || !out)
        return TQ_ERR_NULL;
    if (tq_dtype_size(in->dtype) == 0 || in->dtype != out->dtype)
        return TQ_ERR_DTYPE;
    if (in->ndim != 4 || out->ndim != 4)
        return TQ_ERR_SHAPE;
    for (int k = 0; k < 4; ++k) {
        if (in->shape[k] < 0 || out->shape[k] != in->shape[perm->axis[k]])
            return TQ_ERR_SHAPE;
    }
    TQ_CHECK(tq_tensor_nbytes(in, &in_bytes));
    TQ_CHECK(tq_tensor_nbytes(out, &out_bytes));
    if (in_bytes > 0 && (!in->data || !out->data))
        return TQ_ERR_NULL;
    if (tq__overlap(in->data, in_bytes, out->data, out_bytes))
        return TQ_ERR_ALIAS;
    *bytes = in_bytes;
    return TQ_OK;
}

/* The copy, for one element size. ELEM is a constant at each call site so
 * the memcpy becomes a single load/store; memcpy (not float or int32_t
 * access) keeps NaN payloads and avoids any aliasing question. The
 * innermost output axis is walked with the input stride of its source
 * axis; the loops run in output order so the writes are sequential. */
#define TQ__PERMUTE_LOOP(ELEM)                                              \
    do {                                                                    \
        for (size_t i0 = 0; i0 < ext[0]; ++i0) {                            \
            for (size_t i1 = 0; i1 < ext[1]; ++i1) {                        \
                for (size_t i2 = 0; i2 < ext[2]; ++i2) {                    \
                    const unsigned char *s =                                \
                        src + (i0 * st[0] + i1 * st[1] + i2 * st[2]) * ELEM; \
                    for (size_t i3 = 0; i3 < ext[3]; ++i3) {                \
                        memcpy(dst, s, ELEM);                               \
                        s += st[3] * ELEM;                                  \
                        dst += ELEM;                                        \
                    }                                                       \
                }                                                           \
            }                                                               \
        }                                                                   \
    } while (0)

static tq_status tq__permute4(const tq_tensor *in, tq_tensor *out,
                              const tq__perm4 *perm)
{
    size_t bytes;
    TQ_CHECK(tq__permute_check(in, out, perm, &bytes));
    if (bytes == 0)
        return TQ_OK;

    /* Row-major element strides of the input, then reordered so that
     * st[k] is the input stride of output axis k. Every product fits in
     * size_t because the total element count does. */
    size_t in_stride[4], ext[4], st[4];
    in_stride[3] = 1;
    for (int k = 2; k >= 0; --k)
        in_stride[k] = in_stride[k + 1] * (size_t)in->shape[k + 1];
    for (int k = 0; k < 4; ++k) {
        ext[k] = (size_t)out->shape[k];
        st[k] = in_stride[perm->axis[k]];
    }

    const unsigned char *src = (const unsigned char *)in->data;
    unsigned char *dst = (unsigned char *)out->data;
    switch (tq_dtype_size(in->dtype)) {
    case 1:
        TQ__PERMUTE_LOOP(1);
        break;
    case 2:
        TQ__PERMUTE_LOOP(2);
        break;
    case 4:
        TQ__PERMUTE_LOOP(4);
        break;
    case 8:
        TQ__PERMUTE_LOOP(8);
        break;
    default:
        /* tq__permute_check() accepted only dtypes of size 1, 2, 4, 8. */
        return TQ_ERR_DTYPE;
    }
    return TQ_OK;
}

tq_status tq_nchw_to_nhwc(const tq_tensor *in, tq_tensor *out)
{
    return tq__permute4(in, out, &tq__nchw_to_nhwc_perm);
}

tq_status tq_nhwc_to_nchw(const tq_tensor *in, tq_tensor *out)
{
    return tq__permute4(in, out, &tq__nhwc_to_nchw_perm);
}

tq_status tq_oihw_to_ohwi(const tq_tensor *in, tq_tensor *out)
{
    /* O, I, H, W are N, C, H, W under other names. */
    return tq__permute4(in, out, &tq__nchw_to_nhwc_perm);
}

tq_status tq_oihw_to_dw(const tq_tensor *in, tq_tensor *out)
{
    size_t bytes;
    TQ_CHECK(tq__permute_check(in, out, &tq__oihw_to_dw_perm, &bytes));
    /* PyTorch depthwise weights have one input channel per group. */
    if (in->shape[1] != 1)
        return TQ_ERR_SHAPE;
    return tq__permute4(in, out, &tq__oihw_to_dw_perm);
}
