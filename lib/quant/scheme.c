/*
 * Quantization schemes: the integer range of a bit width, and the scale and
 * zero point a scheme gives to a floating range.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <float.h>
#include <math.h>

#include "../tq_internal.h"
#include "quant_internal.h"

tq_status tq_qscheme_qrange(const tq_qscheme *scheme, int32_t *qmin,
                            int32_t *qmax)
{
    if (!scheme || !qmin || !qmax)
        return TQ_ERR_NULL;
    if (scheme->bits < 2 || scheme->bits > 8)
        return TQ_ERR_PARAM;
    /* The flags are booleans; anything else is probably an uninitialised
     * struct, which is better reported than silently read as "true". */
    if ((scheme->symmetric != 0 && scheme->symmetric != 1) ||
        (scheme->narrow_range != 0 && scheme->narrow_range != 1) ||
        (scheme->pow2_scale != 0 && scheme->pow2_scale != 1))
        return TQ_ERR_PARAM;
    const int32_t half = INT32_C(1) << (scheme->bits - 1);
    *qmin = scheme->narrow_range ? -(half - 1) : -half;
    *qmax = half - 1;
    return TQ_OK;
}

/* The smallest power of two >= s (s > 0, finite). frexp is exact: s is a
 * power of two exactly when its mantissa is 0.5. */
static double round_up_pow2(double s)
{
    int e;
    const double f = frexp(s, &e);
    return f == 0.5 ? s : ldexp(1.0, e);
}

int tq__scale_usable(float scale)
{
    /* The reciprocal must be finite too: PyTorch-style rounding multiplies
     * by 1 / scale, and 0 * inf would be NaN. That excludes only scales
     * below about 2.9e-39. */
    return scale > 0.0f && isfinite(scale) && isfinite(1.0f / scale);
}

tq_status tq_qparams_from_range(const tq_qscheme *scheme, double lo,
                                double hi, float *scale, int32_t *zero_point)
{
    int32_t qmin, qmax;
    if (!scale || !zero_point)
        return TQ_ERR_NULL;
    TQ_CHECK(tq_qscheme_qrange(scheme, &qmin, &qmax));
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return TQ_ERR_PARAM;

    /* Real 0 must be exactly representable (zero padding, ReLU outputs). */
    lo = lo < 0.0 ? lo : 0.0;
    hi = hi > 0.0 ? hi : 0.0;

    double s;
    if (scheme->symmetric) {
        const double a = -lo > hi ? -lo : hi;
        s = a / (double)qmax;
    } else {
        s = (hi - lo) / (double)(qmax - qmin);
    }
    if (lo == hi)
        s = 1.0; /* any scale represents the single value 0 exactly */
    if (scheme->pow2_scale && s > 0.0)
        s = round_up_pow2(s);
    /* Converting a double beyond FLT_MAX to float is undefined in C. */
    if (!(s > 0.0) || s > (double)FLT_MAX)
        return TQ_ERR_PARAM;
    const float sf = (float)s;
    if (!tq__scale_usable(sf))
        return TQ_ERR_PARAM;

    int32_t zp = 0;
    if (!scheme->symmetric) {
        /* Use the float scale actually stored, so that lo maps to qmin as
         * closely as the stored parameters allow. Clamp in double before
         * converting to int. */
        double z = (double)qmin - round(lo / (double)sf);
        z = z < (double)qmin ? (double)qmin : (z > (double)qmax ? (double)qmax : z);
        zp = (int32_t)z;
    }
    *scale = sf;
    *zero_point = zp;
    return TQ_OK;
}
