/*
 * Quantize, dequantize and fake-quantize f32 tensors under ::tq_qparams,
 * per tensor or per channel, with TFLite's or PyTorch's rounding. Also the
 * parameter validation and the per-channel walk that lib/quant/metrics.c
 * shares.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "../tq_internal.h"
#include "quant_internal.h"

tq_status tq__check_qtensor(const tq_tensor *t, int32_t dtype, size_t *count,
                            size_t *bytes)
{
    if (!t)
        return TQ_ERR_NULL;
    if (t->dtype != dtype)
        return TQ_ERR_DTYPE;
    TQ_CHECK(tq_tensor_numel(t, count));
    TQ_CHECK(tq_tensor_nbytes(t, bytes));
    if (*count > 0 && !t->data)
        return TQ_ERR_NULL;
    return TQ_OK;
}

tq_status tq__check_qparams(const tq_qparams *p, const tq_tensor *t)
{
    if (!p || !p->scale || !p->zero_point)
        return TQ_ERR_NULL;
    if (p->count < 1)
        return TQ_ERR_SHAPE;
    /* count == 1 is per tensor whatever the axis says. */
    if (p->count > 1 &&
        (p->axis < 0 || p->axis >= t->ndim || t->shape[p->axis] != p->count))
        return TQ_ERR_SHAPE;
    if (p->qmin < -128 || p->qmax > 127 || p->qmin >= p->qmax ||
        (p->rounding != TQ_FROUND_HALF_AWAY &&
         p->rounding != TQ_FROUND_HALF_EVEN))
        return TQ_ERR_PARAM;
    for (int64_t c = 0; c < p->count; ++c) {
        if (!tq__scale_usable(p->scale[c]) || p->zero_point[c] < p->qmin ||
            p->zero_point[c] > p->qmax)
            return TQ_ERR_PARAM;
    }
    return TQ_OK;
}

void tq__for_each_qrun(const tq_tensor *t, const tq_qparams *p,
                       tq__qrun_fn fn, void *ctx)
{
    size_t count;
    if (tq_tensor_numel(t, &count) != TQ_OK || count == 0)
        return;
    /* Elements split as [outer][channels][inner]; per tensor is the special
     * case of one channel spanning everything. The products cannot overflow:
     * they divide count, which fits. */
    size_t outer = 1, channels = 1, inner = count;
    if (p->count > 1) {
        channels = (size_t)p->count;
        tq__axis_split(t, p->axis, &outer, &inner);
    }
    tq__qrun run;
    run.start = 0;
    run.len = inner;
    for (size_t o = 0; o < outer; ++o) {
        for (size_t c = 0; c < channels; ++c) {
            run.scale = p->scale[c];
            run.inv_scale = 1.0f / p->scale[c];
            run.zero_point = p->zero_point[c];
            fn(ctx, &run);
            run.start += inner;
        }
    }
}

/* ---- the three element-wise operations ------------------------------- */

typedef struct quant_ctx {
    const tq_qparams *p;
    const float *in_f32;
    const int8_t *in_s8;
    int8_t *out_s8;
    float *out_f32;
} quant_ctx;

static int32_t code_of(const quant_ctx *c, const tq__qrun *r, float x)
{
    return tq__quantize_one(x, r->scale, r->inv_scale, r->zero_point,
                            c->p->qmin, c->p->qmax, c->p->rounding);
}

/* PyTorch's dequantization: the difference in int, one float product. */
static float value_of(const tq__qrun *r, int32_t q)
{
    return (float)(q - r->zero_point) * r->scale;
}

static void quantize_run(void *ctx, const tq__qrun *r)
{
    const quant_ctx *c = ctx;
    for (size_t i = r->start; i < r->start + r->len; ++i)
        c->out_s8[i] = (int8_t)code_of(c, r, c->in_f32[i]);
}

static void dequantize_run(void *ctx, const tq__qrun *r)
{
    const quant_ctx *c = ctx;
    for (size_t i = r->start; i < r->start + r->len; ++i)
        c->out_f32[i] = value_of(r, c->in_s8[i]);
}

static void fake_quant_run(void *ctx, const tq__qrun *r)
{
    const quant_ctx *c = ctx;
    for (size_t i = r->start; i < r->start + r->len; ++i)
        c->out_f32[i] = value_of(r, code_of(c, r, c->in_f32[i]));
}

/* Shapes of input and output must agree extent for extent. */
static int same_shape(const tq_tensor *a, const tq_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int32_t d = 0; d < a->ndim; ++d) {
        if (a->shape[d] != b->shape[d])
            return 0;
    }
    return 1;
}

/* Everything the three operations validate, in one place so that they
 * report the same status for the same fault. */
static tq_status check_op(const tq_tensor *in, int32_t in_dtype,
                          const tq_qparams *p, const tq_tensor *out,
                          int32_t out_dtype, int in_place_ok, size_t *count)
{
    size_t n_in, n_out, b_in, b_out;
    if (!in || !p || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_qtensor(in, in_dtype, &n_in, &b_in));
    TQ_CHECK(tq__check_qtensor(out, out_dtype, &n_out, &b_out));
    if (!same_shape(in, out))
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__check_qparams(p, in));
    /* Elementwise in increasing order: the exact same buffer is safe when
     * the element sizes agree, any other overlap is not. */
    if (!(in_place_ok && in->data == out->data) &&
        tq__overlap(in->data, b_in, out->data, b_out))
        return TQ_ERR_ALIAS;
    *count = n_in;
    return TQ_OK;
}

/* NaN has no code; it is rejected before anything is written. */
static int has_nan(const float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        if (isnan(x[i]))
            return 1;
    }
    return 0;
}

tq_status tq_quantize(const tq_tensor *in, const tq_qparams *p,
                      tq_tensor *out)
{
    size_t n;
    TQ_CHECK(check_op(in, TQ_F32, p, out, TQ_S8, 0, &n));
    if (has_nan(in->data, n))
        return TQ_ERR_NOT_FINITE;
    quant_ctx c = {p, in->data, NULL, out->data, NULL};
    tq__for_each_qrun(in, p, quantize_run, &c);
    return TQ_OK;
}

tq_status tq_dequantize(const tq_tensor *in, const tq_qparams *p,
                        tq_tensor *out)
{
    size_t n;
    TQ_CHECK(check_op(in, TQ_S8, p, out, TQ_F32, 0, &n));
    quant_ctx c = {p, NULL, in->data, NULL, out->data};
    tq__for_each_qrun(in, p, dequantize_run, &c);
    return TQ_OK;
}

tq_status tq_fake_quant(const tq_tensor *in, const tq_qparams *p,
                        tq_tensor *out)
{
    size_t n;
    TQ_CHECK(check_op(in, TQ_F32, p, out, TQ_F32, 1, &n));
    if (has_nan(in->data, n))
        return TQ_ERR_NOT_FINITE;
    quant_ctx c = {p, in->data, NULL, NULL, out->data};
    tq__for_each_qrun(in, p, fake_quant_run, &c);
    return TQ_OK;
}
