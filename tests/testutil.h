/*
 * Shared test helpers: a seeded generator, a qsort order, and where the
 * data lives. Oracles live with the tests (in the test file, or in an
 * oracle_*.h shared by the tests of one kind of kernel) and are written
 * independently of the library: they never call it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_TESTUTIL_H
#define TQ_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* splitmix64: tiny, seedable, identical on every platform, so a failing
 * seed reproduces anywhere. */
typedef struct tt_rng {
    uint64_t s;
} tt_rng;

static inline uint64_t tt_next(tt_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]. */
static inline int32_t tt_int(tt_rng *r, int32_t lo, int32_t hi)
{
    uint64_t span = (uint64_t)((int64_t)hi - (int64_t)lo + 1);
    return (int32_t)((int64_t)lo + (int64_t)(tt_next(r) % span));
}

/* Uniform double in [0, 1). */
static inline double tt_unit(tt_rng *r)
{
    return (double)(tt_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform float in [lo, hi). */
static inline float tt_float(tt_rng *r, float lo, float hi)
{
    return lo + (float)tt_unit(r) * (hi - lo);
}

/* Normal(0, 1) by Box-Muller. */
static inline double tt_normal(tt_rng *r)
{
    double u1 = tt_unit(r), u2 = tt_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static inline void tt_fill_s8(tt_rng *r, int8_t *x, size_t n, int32_t lo,
                              int32_t hi)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = (int8_t)tt_int(r, lo, hi);
}

static inline void tt_fill_f32(tt_rng *r, float *x, size_t n, float lo,
                               float hi)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = tt_float(r, lo, hi);
}

/* qsort comparator: ascending floats (no NaN). */
static inline int tt_cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

#ifndef TQ_TEST_DEFAULT_DATA_DIR
#define TQ_TEST_DEFAULT_DATA_DIR "../shared/data"
#endif

/* $TINYQ_DATA_DIR, else the build's default. */
static inline const char *tt_data_dir(void)
{
    const char *d = getenv("TINYQ_DATA_DIR");
    return (d && *d) ? d : TQ_TEST_DEFAULT_DATA_DIR;
}

/* Nonzero when $TINYQ_TEST_NO_PROCESSES is set. scripts/test-aarch64 sets
 * it: Debian 12's qemu-user (7.2) never returns from fork() or
 * pthread_create() on the machines CI runs on (a ten-line program that
 * forks once hangs), so the tests that start threads or processes skip
 * under emulation; they run natively, under TSan and under valgrind. */
static inline int tt_no_processes(void)
{
    const char *v = getenv("TINYQ_TEST_NO_PROCESSES");
    return v && *v && *v != '0';
}

#endif /* TQ_TESTUTIL_H */
