/*
 * int4 weight packing (TFLite's: low nibble first, continuous over the
 * whole tensor), unpacking, and quantization of f32 weights straight into
 * packed int4.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../quant/quant_internal.h"
#include "s4_internal.h"

size_t tq_s4_packed_size(size_t n)
{
    return n / 2 + (n & 1u);
}

void tq__s4_unpack_range(const uint8_t *packed, size_t first, size_t count,
                         int8_t *dst)
{
    size_t j = 0;
    /* An odd start: the high nibble of its byte first. */
    if ((first & 1u) && count > 0) {
        dst[j++] = tq__s4_get(packed, first);
    }
    const uint8_t *src = packed + ((first + j) >> 1);
    /* Whole bytes: two values each. */
    for (; j + 2 <= count; j += 2, ++src) {
        const int lo = *src & 0xF, hi = *src >> 4;
        dst[j] = (int8_t)(lo - ((lo & 8) ? 16 : 0));
        dst[j + 1] = (int8_t)(hi - ((hi & 8) ? 16 : 0));
    }
    if (j < count)
        dst[j] = tq__s4_get(packed, first + j);
}

tq_status tq_s4_pack(size_t n, const int8_t *values, uint8_t *packed)
{
    if (n == 0)
        return TQ_OK;
    if (!values || !packed)
        return TQ_ERR_NULL;
    if (tq__overlap(values, n, packed, tq_s4_packed_size(n)))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < n; ++i)
        if (values[i] < -8 || values[i] > 7)
            return TQ_ERR_PARAM;
    for (size_t i = 0; i + 1 < n; i += 2)
        packed[i / 2] = (uint8_t)(((unsigned)values[i] & 0xFu) |
                                  (((unsigned)values[i + 1] & 0xFu) << 4));
    if (n & 1u)
        packed[n / 2] = (uint8_t)((unsigned)values[n - 1] & 0xFu);
    return TQ_OK;
}

tq_status tq_s4_unpack(size_t n, const uint8_t *packed, int8_t *values)
{
    if (n == 0)
        return TQ_OK;
    if (!values || !packed)
        return TQ_ERR_NULL;
    if (tq__overlap(values, n, packed, tq_s4_packed_size(n)))
        return TQ_ERR_ALIAS;
    tq__s4_unpack_range(packed, 0, n, values);
    return TQ_OK;
}

/* ---- quantization ------------------------------------------------------ */

typedef struct pack_ctx {
    const tq_qparams *p;
    const float *in;
    uint8_t *packed;
} pack_ctx;

static void pack_run(void *ctx, const tq__qrun *r)
{
    const pack_ctx *c = ctx;
    for (size_t i = r->start; i < r->start + r->len; ++i) {
        const int32_t q = tq__quantize_one(c->in[i], r->scale, r->inv_scale,
                                           r->zero_point, c->p->qmin,
                                           c->p->qmax, c->p->rounding);
        const unsigned shift = (unsigned)(i & 1u) * 4u;
        uint8_t *b = &c->packed[i >> 1];
        *b = (uint8_t)((*b & ~(0xFu << shift)) | (((unsigned)q & 0xFu) << shift));
    }
}

static int has_nan(const float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (isnan(x[i]))
            return 1;
    return 0;
}

tq_status tq_s4_quantize(const tq_tensor *in, const tq_qparams *p,
                         uint8_t *packed, size_t packed_bytes)
{
    size_t n, bytes;
    if (!in || !p)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_qtensor(in, TQ_F32, &n, &bytes));
    TQ_CHECK(tq__check_qparams(p, in));
    if (p->qmin < -8 || p->qmax > 7)
        return TQ_ERR_PARAM;
    const size_t need = tq_s4_packed_size(n);
    if (n == 0)
        return TQ_OK;
    if (!packed)
        return TQ_ERR_NULL;
    if (packed_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(in->data, bytes, packed, need))
        return TQ_ERR_ALIAS;
    if (has_nan(in->data, n))
        return TQ_ERR_NOT_FINITE;
    memset(packed, 0, need);
    pack_ctx c = {p, in->data, packed};
    tq__for_each_qrun(in, p, pack_run, &c);
    return TQ_OK;
}

/* max |x| over channel c of a tensor seen as [outer][channels][inner]. */
static float channel_absmax(const float *x, size_t outer, size_t channels,
                            size_t inner, size_t c)
{
    float amax = 0.0f;
    for (size_t o = 0; o < outer; ++o) {
        const float *run = x + (o * channels + c) * inner;
        for (size_t i = 0; i < inner; ++i) {
            const float a = fabsf(run[i]);
            amax = a > amax ? a : amax;
        }
    }
    return amax;
}

tq_status tq_s4_quantize_weights(const tq_tensor *in, int32_t axis,
                                 float *scales, uint8_t *packed,
                                 size_t packed_bytes)
{
    size_t n, bytes, outer, inner;
    if (!in || !scales || !packed)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_qtensor(in, TQ_F32, &n, &bytes));
    if (in->ndim < 1 || axis < 0 || axis >= in->ndim || n == 0)
        return TQ_ERR_SHAPE;
    const size_t channels = (size_t)in->shape[axis];
    const size_t need = tq_s4_packed_size(n);
    if (packed_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(in->data, bytes, packed, need) ||
        tq__overlap(scales, channels * sizeof(float), packed, need) ||
        tq__overlap(scales, channels * sizeof(float), in->data, bytes))
        return TQ_ERR_ALIAS;
    const float *x = in->data;
    for (size_t i = 0; i < n; ++i)
        if (!isfinite(x[i]))
            return TQ_ERR_NOT_FINITE;

    /* Every scale first (a failure must leave the outputs alone): the
     * channel's absolute maximum through the 4-bit symmetric scheme. */
    const tq_qscheme scheme = {4, 1, 1, 0};
    tq__axis_split(in, axis, &outer, &inner);
    for (size_t c = 0; c < channels; ++c) {
        const float amax = channel_absmax(x, outer, channels, inner, c);
        float s;
        int32_t zp;
        TQ_CHECK(tq_qparams_from_range(&scheme, -(double)amax, (double)amax, &s,
                                       &zp));
        if (!tq__scale_usable(s))
            return TQ_ERR_PARAM;
    }
    for (size_t c = 0; c < channels; ++c) {
        const float amax = channel_absmax(x, outer, channels, inner, c);
        int32_t zp;
        (void)tq_qparams_from_range(&scheme, -(double)amax, (double)amax,
                                    &scales[c], &zp);
    }
    int32_t qmin, qmax;
    (void)tq_qscheme_qrange(&scheme, &qmin, &qmax);
    /* Zero points of a symmetric scheme are 0: a zero array suffices. */
    int32_t zero = 0;
    tq_qparams p;
    p.scale = scales;
    p.zero_point = &zero;
    p.count = 1;
    p.axis = axis;
    p.qmin = qmin;
    p.qmax = qmax;
    p.rounding = TQ_FROUND_HALF_AWAY;
    memset(packed, 0, need);
    /* Channel by channel as per-tensor runs of one scale each. */
    for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < channels; ++c) {
            tq__qrun r;
            r.start = (o * channels + c) * inner;
            r.len = inner;
            r.scale = scales[c];
            r.inv_scale = 1.0f / scales[c];
            r.zero_point = 0;
            pack_ctx ctx = {&p, x, packed};
            pack_run(&ctx, &r);
        }
    return TQ_OK;
}
