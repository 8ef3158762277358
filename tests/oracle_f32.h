/*
 * Helpers shared by the f32 kernel tests: the output sentinel, a checked
 * malloc, the random clamp, and the pieces of the double-precision oracle
 * (clamp, dot product with the magnitude of its terms, tolerance). The
 * oracle never calls the library; only pick_act asks tq_f32_act_from for
 * the named clamps, whose values test_f32_misc checks exactly.
 * Include after <cmocka.h>.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_TEST_ORACLE_F32_H
#define TQ_TEST_ORACLE_F32_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinyq.h"

/* A value no kernel computes from the test data; compared bit for bit. */
#define F32_SENTINEL (-777.25f)

static inline void fill_sentinel(float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = F32_SENTINEL;
}

static inline int is_sentinel(const float *x, size_t n)
{
    const float sentinel = F32_SENTINEL;
    for (size_t i = 0; i < n; ++i)
        if (memcmp(&x[i], &sentinel, sizeof(float)) != 0)
            return 0;
    return 1;
}

/* malloc that fails the test instead of returning NULL (and allows 0). */
static inline void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    return p;
}

/* The clamps every random case cycles through: NULL ("no clamp"), the
 * three named activations, or [lo, hi]. */
static inline const tq_f32_act *pick_act(tt_rng *r, tq_f32_act *storage,
                                         float lo, float hi)
{
    switch (tt_int(r, 0, 4)) {
    case 0:
        return NULL;
    case 1:
        assert_int_equal(tq_f32_act_from(TQ_ACT_NONE, storage), TQ_OK);
        return storage;
    case 2:
        assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, storage), TQ_OK);
        return storage;
    case 3:
        assert_int_equal(tq_f32_act_from(TQ_ACT_RELU6, storage), TQ_OK);
        return storage;
    default:
        storage->min = lo;
        storage->max = hi;
        return storage;
    }
}

/* ---- oracle --------------------------------------------------------------- */

static inline double clamp_d(double x, const tq_f32_act *act)
{
    if (!act)
        return x;
    if (x < act->min)
        return act->min;
    if (x > act->max)
        return act->max;
    return x;
}

/* init + Σ x[p]·y[p] in double; *mag gets |init| + Σ |x[p]·y[p]|, the scale
 * of the rounding error a float kernel may make on it. */
static inline double dot_d(double init, const float *x, const float *y,
                           int32_t k, double *mag)
{
    double s = init, m = fabs(init);
    for (int32_t p = 0; p < k; ++p) {
        const double t = (double)x[p] * y[p];
        s += t;
        m += fabs(t);
    }
    *mag = m;
    return s;
}

/* How far a float sum may be from the exact want whose terms have total
 * magnitude mag: relative to mag (cancellation), plus a floor near 0. */
static inline double sum_tol(double want, double mag)
{
    return 1e-5 * (fabs(want) + mag) + 1e-6;
}

#endif /* TQ_TEST_ORACLE_F32_H */
