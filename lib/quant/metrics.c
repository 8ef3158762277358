/*
 * Quantization error metrics: what fake-quantizing a tensor would cost
 * (MSE, SQNR, max abs error, clipped fraction), and the same statistics
 * between any two float arrays. Sums are accumulated in double.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "../tq_internal.h"
#include "quant_internal.h"

typedef struct err_sums {
    double signal;   /* Σ x² */
    double noise;    /* Σ (x − approx)² */
    double max_abs;  /* max |x − approx| */
    size_t clipped;  /* values whose unclamped code left [qmin, qmax] */
    size_t n;
    int not_finite;
} err_sums;

static void add_pair(err_sums *s, float ref, float approx)
{
    const double x = ref;
    const double d = x - (double)approx;
    s->signal += x * x;
    s->noise += d * d;
    if (fabs(d) > s->max_abs)
        s->max_abs = fabs(d);
    s->n++;
}

/* 10·log10(signal / noise), with the limits the header documents. */
static double sqnr_db(double signal, double noise)
{
    if (noise == 0.0)
        return INFINITY;
    if (signal == 0.0)
        return -INFINITY;
    return 10.0 * log10(signal / noise);
}

static void finish(const err_sums *s, tq_quant_error *err)
{
    err->mse = s->noise / (double)s->n;
    err->sqnr_db = sqnr_db(s->signal, s->noise);
    err->max_abs = s->max_abs;
    err->frac_clipped = (double)s->clipped / (double)s->n;
}

typedef struct measure_ctx {
    const tq_qparams *p;
    const float *x;
    err_sums sums;
} measure_ctx;

static void measure_run(void *ctx, const tq__qrun *r)
{
    measure_ctx *c = ctx;
    const tq_qparams *p = c->p;
    /* The unclamped code is compared in float, exactly where
     * tq__quantize_one decides to clamp (a code landing on qmin or qmax
     * itself is not clipped). */
    const float lo = (float)(p->qmin - r->zero_point);
    const float hi = (float)(p->qmax - r->zero_point);
    for (size_t i = r->start; i < r->start + r->len; ++i) {
        const float x = c->x[i];
        if (!isfinite(x)) {
            c->sums.not_finite = 1;
            return;
        }
        const float rounded = p->rounding == TQ_FROUND_HALF_EVEN
                                  ? nearbyintf(x * r->inv_scale)
                                  : tq__round_half_away(x / r->scale);
        const int32_t q = tq__quantize_one(x, r->scale, r->inv_scale,
                                           r->zero_point, p->qmin, p->qmax,
                                           p->rounding);
        add_pair(&c->sums, x, (float)(q - r->zero_point) * r->scale);
        if (rounded < lo || rounded > hi)
            c->sums.clipped++;
    }
}

tq_status tq_measure_quant_error(const tq_tensor *in, const tq_qparams *p,
                                 tq_quant_error *err)
{
    size_t n, bytes;
    if (!in || !p || !err)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_qtensor(in, TQ_F32, &n, &bytes));
    TQ_CHECK(tq__check_qparams(p, in));
    if (n == 0)
        return TQ_ERR_EMPTY;
    measure_ctx c = {p, in->data, {0.0, 0.0, 0.0, 0, 0, 0}};
    tq__for_each_qrun(in, p, measure_run, &c);
    if (c.sums.not_finite)
        return TQ_ERR_NOT_FINITE;
    finish(&c.sums, err);
    return TQ_OK;
}

tq_status tq_compare_f32(const float *ref, const float *approx, size_t n,
                         tq_quant_error *err)
{
    if (!err)
        return TQ_ERR_NULL;
    if (n == 0)
        return TQ_ERR_EMPTY;
    if (!ref || !approx)
        return TQ_ERR_NULL;
    err_sums s = {0.0, 0.0, 0.0, 0, 0, 0};
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(ref[i]) || !isfinite(approx[i]))
            return TQ_ERR_NOT_FINITE;
        add_pair(&s, ref[i], approx[i]);
    }
    finish(&s, err);
    return TQ_OK;
}
