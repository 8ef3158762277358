/*
 * AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for
 * Post-Training Quantization") of one weight matrix, with the closed-form
 * gradient of a single layer's reconstruction error, and the expectation
 * of a clamped normal used by analytic bias correction. Host only.
 *
 * For one output row w (k values) with scale s and the Gram matrix
 * G = mean over input patches x of x xᵀ, the reconstruction error of the
 * row's output over the calibration patches is dᵀ G d with d = s·q − w.
 * AdaRound relaxes q = floor(w / s) + h(v), h(v) = clip(sigmoid(v)·(zeta −
 * gamma) + gamma, 0, 1) (zeta 1.1, gamma −0.1), and minimises
 *   L(v) = dᵀ G d + lambda · Σ (1 − |2h − 1|^beta)
 * with Adam on v. dL/dv = (2·s·(G d)_i · [q_i inside the code range] +
 * lambda · (−2·beta·|2h−1|^(beta−1)·sign(2h−1))) · dh/dv, where dh/dv =
 * sigmoid'(v)·(zeta − gamma) inside the clip and 0 outside. Rows are
 * independent (the loss is a sum over rows), so no autograd is needed and
 * every row steps in lockstep (one time limit for the matrix).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recover_internal.h"

#define ZETA 1.1
#define GAMMA (-0.1)

tq_status tq_recovery_config_init(tq_recovery_config *config)
{
    if (!config)
        return TQ_ERR_NULL;
    memset(config, 0, sizeof *config);
    config->weight_bits = 8;
    config->keep_ends_8bit = 1;
    config->bias_correction = TQ_BIAS_CORRECTION_NONE;
    config->adaround = 0;
    config->iterations = 1000;
    config->lambda = 0.01f;
    config->beta_start = 20.0f;
    config->beta_end = 2.0f;
    config->warmup = 0.2f;
    config->learning_rate = 0.01f;
    config->max_patches = 8192;
    config->seed = 1;
    config->time_limit = 0.0;
    return TQ_OK;
}

static double std_normal_pdf(double z)
{
    return 0.3989422804014327 * exp(-0.5 * z * z);
}

static double std_normal_cdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

tq_status tq_expected_clamped_normal(double mean, double std, double lo,
                                     double hi, double *expected)
{
    if (!expected)
        return TQ_ERR_NULL;
    if (isnan(mean) || isnan(std) || isnan(lo) || isnan(hi) || !isfinite(mean) ||
        !isfinite(std) || std < 0.0 || hi < lo)
        return TQ_ERR_PARAM;
    if (std == 0.0) {
        *expected = mean < lo ? lo : mean > hi ? hi : mean;
        return TQ_OK;
    }
    /* E = lo·P(x < lo) + ∫_lo^hi x φ + hi·P(x > hi). */
    const double za = isinf(lo) ? -INFINITY : (lo - mean) / std;
    const double zb = isinf(hi) ? INFINITY : (hi - mean) / std;
    const double Pa = isinf(za) ? 0.0 : std_normal_cdf(za);
    const double Pb = isinf(zb) ? 1.0 : std_normal_cdf(zb);
    const double fa = isinf(za) ? 0.0 : std_normal_pdf(za);
    const double fb = isinf(zb) ? 0.0 : std_normal_pdf(zb);
    double e = mean * (Pb - Pa) + std * (fa - fb);
    if (!isinf(lo))
        e += lo * Pa;
    if (!isinf(hi))
        e += hi * (1.0 - Pb);
    *expected = e;
    return TQ_OK;
}

/* The soft-quantized weights of a row: u_i = s · clamp(floor(w_i / s) +
 * h(v_i), qmin, qmax), h the rectified sigmoid; minus w_i when
 * @p minus_w (the error form of the symmetric objective). */
static void soft_weights(int32_t k, const float *w, double s, int32_t qmin,
                         int32_t qmax, const double *v, int minus_w,
                         double *d)
{
    const double range = ZETA - GAMMA;
    for (int32_t i = 0; i < k; ++i) {
        const double sig = 1.0 / (1.0 + exp(-v[i]));
        double h = sig * range + GAMMA;
        h = h < 0.0 ? 0.0 : h > 1.0 ? 1.0 : h;
        double q = floor((double)w[i] / s) + h;
        q = q < qmin ? qmin : q > qmax ? qmax : q;
        d[i] = s * q - (minus_w ? (double)w[i] : 0.0);
    }
}

/* @p loss plus the rounding regulariser lambda · Σ (1 − |2h − 1|^beta);
 * with @p grad, its gradient in v from gd = dloss/du / 2 (the
 * reconstruction part) and the regulariser's own, through h(v) (zero where
 * the rectified sigmoid is flat or the code clamps). */
static double regulariser_and_grad(int32_t k, const float *w, double s,
                                   int32_t qmin, int32_t qmax,
                                   const double *v, double lambda,
                                   double beta, const double *gd,
                                   double loss, double *grad)
{
    const double range = ZETA - GAMMA;
    for (int32_t i = 0; i < k; ++i) {
        const double sig = 1.0 / (1.0 + exp(-v[i]));
        const double hr = sig * range + GAMMA;
        const double h = hr < 0.0 ? 0.0 : hr > 1.0 ? 1.0 : hr;
        const double t = 2.0 * h - 1.0, a = fabs(t);
        if (lambda > 0.0)
            loss += lambda * (1.0 - pow(a, beta));
        if (!grad)
            continue;
        if (!(hr > 0.0 && hr < 1.0)) {
            grad[i] = 0.0;
            continue;
        }
        const double q = floor((double)w[i] / s) + h;
        double dl = (q >= qmin && q <= qmax) ? 2.0 * s * gd[i] : 0.0;
        if (lambda > 0.0 && a > 0.0)
            dl += lambda * (-2.0 * beta * pow(a, beta - 1.0) * (t > 0 ? 1 : -1));
        grad[i] = dl * sig * (1.0 - sig) * range;
    }
    return loss;
}

/* d' G d for the k x k matrix G (row-major); stores G d in gd when gd is
 * not NULL (the objective's gradient needs it, the reconstruction check
 * does not). One summation order for both, so their losses agree. */
static double quadratic_form(int32_t k, const double *G, const double *d,
                             double *gd)
{
    double loss = 0.0;
    for (int32_t i = 0; i < k; ++i) {
        const double *gi = G + (size_t)i * (size_t)k;
        double acc = 0.0;
        for (int32_t j = 0; j < k; ++j)
            acc += gi[j] * d[j];
        if (gd != NULL)
            gd[i] = acc;
        loss += d[i] * acc;
    }
    return loss;
}

/* The row objective; gd is k doubles of scratch. */
static double row_objective(int32_t k, const float *w, double s,
                            const double *G, int32_t qmin, int32_t qmax,
                            const double *v, double lambda, double beta,
                            double *d, double *gd, double *grad)
{
    soft_weights(k, w, s, qmin, qmax, v, 1, d);
    const double loss = quadratic_form(k, G, d, gd);
    return regulariser_and_grad(k, w, s, qmin, qmax, v, lambda, beta, gd,
                                loss, grad);
}

/* The asymmetric row objective (target t, constant c):
 * u = s·q, loss = uᵀ A u − 2 uᵀ t + c + regulariser; dloss/dq_i =
 * 2 s (A u − t)_i. gd is k doubles of scratch, d receives u. */
static double row_objective_t(int32_t k, const float *w, double s,
                              const double *A, const double *tv, double c,
                              int32_t qmin, int32_t qmax, const double *v,
                              double lambda, double beta, double *d,
                              double *gd, double *grad)
{
    soft_weights(k, w, s, qmin, qmax, v, 0, d);
    double loss = c;
    for (int32_t i = 0; i < k; ++i) {
        const double *ai = A + (size_t)i * (size_t)k;
        double acc = 0.0;
        for (int32_t j = 0; j < k; ++j)
            acc += ai[j] * d[j];
        gd[i] = acc - tv[i];
        loss += d[i] * (acc - 2.0 * tv[i]);
    }
    return regulariser_and_grad(k, w, s, qmin, qmax, v, lambda, beta, gd,
                                loss, grad);
}

tq_status tq_adaround_objective_target(int32_t k, const float *w, float scale,
                                       const double *gram,
                                       const double *target, double constant,
                                       int32_t qmin, int32_t qmax,
                                       const double *v, double lambda,
                                       double beta, double *loss, double *grad)
{
    if (!w || !gram || !target || !v || !loss)
        return TQ_ERR_NULL;
    if (k < 1 || !(scale > 0.0f) || !isfinite(scale) || qmin >= qmax ||
        qmin < -128 || qmax > 127 || !(lambda >= 0.0) || !(beta >= 1.0) ||
        !isfinite(constant))
        return TQ_ERR_PARAM;
    double *tmp = malloc(2 * (size_t)k * sizeof *tmp);
    if (!tmp)
        return TQ_ERR_NO_MEMORY;
    *loss = row_objective_t(k, w, scale, gram, target, constant, qmin, qmax, v,
                            lambda, beta, tmp, tmp + k, grad);
    free(tmp);
    return TQ_OK;
}

tq_status tq_adaround_objective(int32_t k, const float *w, float scale,
                                const double *gram, int32_t qmin,
                                int32_t qmax, const double *v, double lambda,
                                double beta, double *loss, double *grad)
{
    if (!w || !gram || !v || !loss)
        return TQ_ERR_NULL;
    if (k < 1 || !(scale > 0.0f) || !isfinite(scale) || qmin >= qmax ||
        qmin < -128 || qmax > 127 || !(lambda >= 0.0) || !(beta >= 1.0))
        return TQ_ERR_PARAM;
    double *tmp = malloc(2 * (size_t)k * sizeof *tmp);
    if (!tmp)
        return TQ_ERR_NO_MEMORY;
    *loss = row_objective(k, w, scale, gram, qmin, qmax, v, lambda, beta, tmp,
                          tmp + k, grad);
    free(tmp);
    return TQ_OK;
}

/* d G d of integer codes. */
static double row_recon(int32_t k, const float *w, double s, const double *G,
                        const int8_t *q, double *d)
{
    for (int32_t i = 0; i < k; ++i)
        d[i] = s * q[i] - (double)w[i];
    return quadratic_form(k, G, d, NULL);
}

/* uᵀ A u − 2 uᵀ t + c of integer codes. */
static double row_recon_t(int32_t k, double s, const double *A,
                          const double *tv, double c, const int8_t *q,
                          double *d)
{
    for (int32_t i = 0; i < k; ++i)
        d[i] = s * q[i];
    double loss = c;
    for (int32_t i = 0; i < k; ++i) {
        const double *ai = A + (size_t)i * (size_t)k;
        double acc = 0.0;
        for (int32_t j = 0; j < k; ++j)
            acc += ai[j] * d[j];
        loss += d[i] * (acc - 2.0 * tv[i]);
    }
    return loss;
}

static double now_seconds(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The AdaRound of tq_adaround_matrix() with a progress name. */
tq_status tq__adaround_rows(int32_t rows, int32_t k, const float *w,
                            const float *scales, int32_t per_channel,
                            const double *gram, int32_t qmin, int32_t qmax,
                            const tq_recovery_config *cfg, const char *name,
                            const double *target, const double *constant,
                            int8_t *codes)
{
    const size_t n = (size_t)rows * (size_t)k;
    double *v = malloc(n * sizeof *v), *m1 = calloc(n, sizeof *m1),
           *m2 = calloc(n, sizeof *m2), *tmp = malloc(3 * (size_t)k * sizeof *tmp);
    int8_t *rtn = malloc((size_t)k);
    if (!v || !m1 || !m2 || !tmp || !rtn) {
        free(v), free(m1), free(m2), free(tmp), free(rtn);
        return TQ_ERR_NO_MEMORY;
    }
    const double range = ZETA - GAMMA;
    for (int32_t r = 0; r < rows; ++r) {
        const double s = scales[per_channel ? r : 0];
        for (int32_t i = 0; i < k; ++i) {
            const double x = (double)w[(size_t)r * k + i] / s;
            const double frac = x - floor(x);
            const double sig = (frac - GAMMA) / range; /* in (0.08, 0.92) */
            v[(size_t)r * k + i] = log(sig / (1.0 - sig));
        }
    }
    const int32_t T = cfg->iterations;
    const int32_t warm = (int32_t)((double)cfg->warmup * T);
    const double t0 = now_seconds();
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = cfg->learning_rate;
    double p1 = 1.0, p2 = 1.0;
    double *d = tmp, *gd = tmp + k, *g = tmp + 2 * (size_t)k;
    const int stop = cfg->progress &&
                     cfg->progress(cfg->progress_ctx, name, 0, T, 0.0) != 0;
    for (int32_t t = 0; t < T && !stop; ++t) {
        double lambda = 0.0, beta = cfg->beta_start;
        if (t >= warm) {
            const double rel = T - warm > 1 ? (double)(t - warm) / (T - warm - 1)
                                            : 1.0;
            lambda = cfg->lambda;
            beta = cfg->beta_end + (cfg->beta_start - cfg->beta_end) * (1.0 - rel);
        }
        p1 *= b1;
        p2 *= b2;
        double total = 0.0;
        for (int32_t r = 0; r < rows; ++r) {
            const double s = scales[per_channel ? r : 0];
            double *vr = v + (size_t)r * k, *a = m1 + (size_t)r * k,
                   *b = m2 + (size_t)r * k;
            if (target)
                total += row_objective_t(k, w + (size_t)r * k, s, gram,
                                         target + (size_t)r * k, constant[r],
                                         qmin, qmax, vr, lambda, beta, d, gd,
                                         g);
            else
                total += row_objective(k, w + (size_t)r * k, s, gram, qmin,
                                       qmax, vr, lambda, beta, d, gd, g);
            for (int32_t i = 0; i < k; ++i) {
                a[i] = b1 * a[i] + (1.0 - b1) * g[i];
                b[i] = b2 * b[i] + (1.0 - b2) * g[i] * g[i];
                vr[i] -= lr * (a[i] / (1.0 - p1)) /
                         (sqrt(b[i] / (1.0 - p2)) + eps);
            }
        }
        if ((t + 1) % 100 == 0 && cfg->progress &&
            cfg->progress(cfg->progress_ctx, name, t + 1, T, total))
            break;
        if (cfg->time_limit > 0.0 && now_seconds() - t0 > cfg->time_limit)
            break;
    }
    /* Hard rounding; a row that reconstructs worse than round-to-nearest
     * keeps round-to-nearest. */
    for (int32_t r = 0; r < rows; ++r) {
        const double s = scales[per_channel ? r : 0];
        const float *wr = w + (size_t)r * k;
        int8_t *cr = codes + (size_t)r * k;
        for (int32_t i = 0; i < k; ++i) {
            const double x = (double)wr[i] / s;
            double up = floor(x) + (v[(size_t)r * k + i] >= 0.0 ? 1.0 : 0.0);
            double rn = x < 0 ? -floor(-x + 0.5) : floor(x + 0.5);
            up = up < qmin ? qmin : up > qmax ? qmax : up;
            rn = rn < qmin ? qmin : rn > qmax ? qmax : rn;
            cr[i] = (int8_t)up;
            rtn[i] = (int8_t)rn;
        }
        if (target) {
            const double *tr = target + (size_t)r * k;
            if (row_recon_t(k, s, gram, tr, constant[r], rtn, d) <
                row_recon_t(k, s, gram, tr, constant[r], cr, d))
                memcpy(cr, rtn, (size_t)k);
        } else if (row_recon(k, wr, s, gram, rtn, d) <
                   row_recon(k, wr, s, gram, cr, d)) {
            memcpy(cr, rtn, (size_t)k);
        }
    }
    free(v), free(m1), free(m2), free(tmp), free(rtn);
    return TQ_OK;
}

tq_status tq_adaround_matrix(int32_t rows, int32_t k, const float *w,
                             const float *scales, int32_t per_channel,
                             const double *gram, int32_t qmin, int32_t qmax,
                             const tq_recovery_config *config, int8_t *codes)
{
    if (!w || !scales || !gram || !codes)
        return TQ_ERR_NULL;
    tq_recovery_config def;
    if (!config) {
        tq_recovery_config_init(&def);
        config = &def;
    }
    if (rows < 1 || k < 1 || (per_channel != 0 && per_channel != 1) ||
        qmin < -128 || qmax > 127 || qmin >= qmax || config->iterations < 1 ||
        config->iterations > 10000000 || !(config->lambda >= 0.0f) ||
        !(config->beta_start >= 1.0f) || !(config->beta_end >= 1.0f) ||
        !(config->warmup >= 0.0f && config->warmup <= 1.0f) ||
        !(config->learning_rate > 0.0f) || !(config->time_limit >= 0.0))
        return TQ_ERR_PARAM;
    for (int32_t r = 0; r < (per_channel ? rows : 1); ++r)
        if (!(scales[r] > 0.0f) || !isfinite(scales[r]))
            return TQ_ERR_PARAM;
    for (size_t i = 0; i < (size_t)rows * (size_t)k; ++i)
        if (!isfinite(w[i]))
            return TQ_ERR_NOT_FINITE;
    for (size_t i = 0; i < (size_t)k * (size_t)k; ++i)
        if (!isfinite(gram[i]))
            return TQ_ERR_NOT_FINITE;
    return tq__adaround_rows(rows, k, w, scales, per_channel, gram, qmin, qmax,
                             config, "matrix", NULL, NULL, codes);
}
