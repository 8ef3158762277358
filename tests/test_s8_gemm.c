/*
 * Tests of the int8 GEMMs (raw int32 and requantized) against an int64
 * oracle written from docs/int8-arithmetic.md (the accumulator here, the
 * requantization in oracle_s8.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT8 ((int8_t)0x5A)
#define SENT32 ((int32_t)0x5A5A5A5A)

/* ---- oracle (the requantization and the stage are in oracle_s8.h) ---- */

/* Σ (a + ao)(b + bo) + bias, saturated to int32. */
static int64_t o_acc(int k, const int8_t *a, int ao, const int8_t *b, int bo,
                     const int32_t *bias, int j)
{
    int64_t s = 0;
    for (int p = 0; p < k; ++p)
        s += ((int64_t)a[p] + ao) * ((int64_t)b[p] + bo);
    if (bias)
        s += bias[j];
    return o_sat32(s);
}

/* ---- random problems ---------------------------------------------------- */

typedef struct problem {
    int m, n, k, lda, ldb, ldc, ao, bo;
    int8_t *a, *b;
    int32_t *bias; /* NULL or n values */
} problem;

static int pick_offset(tt_rng *r)
{
    switch (tt_int(r, 0, 5)) {
    case 0: return -128;
    case 1: return 128;
    case 2: return 0;
    default: return tt_int(r, -128, 128);
    }
}

static void make_problem(tt_rng *r, problem *p)
{
    p->m = tt_int(r, 1, 70);
    p->n = tt_int(r, 1, 70);
    p->k = tt_int(r, 1, 70);
    if (tt_int(r, 0, 1)) { /* favour odd sizes */
        p->m |= 1;
        p->n |= 1;
        p->k |= 1;
    }
    p->lda = p->k + tt_int(r, 0, 3);
    p->ldb = p->k + tt_int(r, 0, 3);
    p->ldc = p->n + tt_int(r, 0, 3);
    p->ao = pick_offset(r);
    p->bo = pick_offset(r);
    p->a = malloc((size_t)p->m * p->lda);
    p->b = malloc((size_t)p->n * p->ldb);
    assert_non_null(p->a);
    assert_non_null(p->b);
    tt_fill_s8(r, p->a, (size_t)p->m * p->lda, -128, 127);
    tt_fill_s8(r, p->b, (size_t)p->n * p->ldb, -128, 127);
    p->bias = NULL;
    if (tt_int(r, 0, 2)) {
        p->bias = malloc((size_t)p->n * sizeof(int32_t));
        assert_non_null(p->bias);
        const int big = tt_int(r, 0, 3) == 0; /* push sums past int32 */
        for (int j = 0; j < p->n; ++j)
            p->bias[j] = big ? (tt_int(r, 0, 1) ? INT32_MAX - tt_int(r, 0, 1000)
                                                : INT32_MIN + tt_int(r, 0, 1000))
                             : tt_int(r, -100000, 100000);
    }
}

static void free_problem(problem *p)
{
    free(p->a);
    free(p->b);
    free(p->bias);
}

/* ---- raw int32 GEMM ------------------------------------------------------ */

static void test_gemm_s32_random(void **state)
{
    (void)state;
    tt_rng r = {0x5eed0001u};
    int saturated = 0;
    for (int iter = 0; iter < 150; ++iter) {
        problem p;
        make_problem(&r, &p);
        const size_t csz = (size_t)p.m * p.ldc;
        int32_t *c = malloc(csz * sizeof(int32_t));
        assert_non_null(c);
        for (size_t i = 0; i < csz; ++i)
            c[i] = SENT32;
        assert_int_equal(tq_s8_gemm_s32(p.m, p.n, p.k, p.a, p.lda, p.ao, p.b,
                                        p.ldb, p.bo, p.bias, c, p.ldc),
                         TQ_OK);
        for (int i = 0; i < p.m; ++i) {
            for (int j = 0; j < p.ldc; ++j) {
                const int32_t got = c[(size_t)i * p.ldc + j];
                if (j >= p.n) {
                    if (got != SENT32)
                        fail_msg("iter %d: padding written at %d,%d", iter, i, j);
                    continue;
                }
                const int64_t want =
                    o_acc(p.k, p.a + (size_t)i * p.lda, p.ao,
                          p.b + (size_t)j * p.ldb, p.bo, p.bias, j);
                saturated += want == INT32_MAX || want == INT32_MIN;
                if (got != want)
                    fail_msg("iter %d m=%d n=%d k=%d ao=%d bo=%d bias=%s: "
                             "C[%d][%d] = %d, want %lld",
                             iter, p.m, p.n, p.k, p.ao, p.bo,
                             p.bias ? "yes" : "NULL", i, j, got,
                             (long long)want);
            }
        }
        free(c);
        free_problem(&p);
    }
    assert_true(saturated > 0);
}

/* Fill a per-channel or per-tensor output stage at random. */
static void make_stage(tt_rng *r, int channels, stage *s)
{
    const int per_channel = tt_int(r, 0, 1);
    const int count = per_channel ? channels : 1;
    for (int i = 0; i < count; ++i) {
        switch (tt_int(r, 0, 7)) {
        case 0: s->mult[i] = 0; break;
        case 1: s->mult[i] = INT32_MAX; break;
        case 2: s->mult[i] = 1 << 30; break;
        default: s->mult[i] = tt_int(r, 1 << 30, INT32_MAX);
        }
        /* Mostly typical right shifts; some that saturate; some left. */
        switch (tt_int(r, 0, 5)) {
        case 0: s->shift[i] = tt_int(r, 1, 4); break;
        case 1: s->shift[i] = tt_int(r, -31, -20); break;
        case 2: s->shift[i] = tt_int(r, -3, 0); break;
        default: s->shift[i] = tt_int(r, -16, -6);
        }
    }
    finish_random_stage(r, s, per_channel, 4);
}

static void test_gemm_s8_random(void **state)
{
    (void)state;
    tt_rng r = {0x5eed0002u};
    int lo = 0, hi = 0, mid = 0, rounding_seen[2] = {0, 0}, pc_seen[2] = {0, 0};
    for (int iter = 0; iter < 200; ++iter) {
        problem p;
        stage s;
        make_problem(&r, &p);
        make_stage(&r, p.n, &s);
        rounding_seen[s.os.rounding]++;
        pc_seen[s.os.per_channel]++;
        size_t scratch_bytes = 1;
        assert_int_equal(tq_s8_gemm_scratch_size(p.m, p.n, p.k, &scratch_bytes),
                         TQ_OK);
        void *scratch = scratch_bytes ? malloc(scratch_bytes) : NULL;
        const size_t csz = (size_t)p.m * p.ldc;
        int8_t *c = malloc(csz);
        assert_non_null(c);
        memset(c, SENT8, csz);
        assert_int_equal(tq_s8_gemm(p.m, p.n, p.k, p.a, p.lda, p.ao, p.b, p.ldb,
                                    p.bo, p.bias, &s.os, c, p.ldc, scratch,
                                    scratch_bytes),
                         TQ_OK);
        for (int i = 0; i < p.m; ++i) {
            for (int j = 0; j < p.ldc; ++j) {
                const int8_t got = c[(size_t)i * p.ldc + j];
                if (j >= p.n) {
                    if (got != SENT8)
                        fail_msg("iter %d: padding written at %d,%d", iter, i, j);
                    continue;
                }
                const int64_t acc =
                    o_acc(p.k, p.a + (size_t)i * p.lda, p.ao,
                          p.b + (size_t)j * p.ldb, p.bo, p.bias, j);
                const int8_t want = o_stage(&s, acc, j);
                lo += want == -128;
                hi += want == 127;
                mid += want > -128 && want < 127;
                if (got != want)
                    fail_msg("iter %d m=%d n=%d k=%d ao=%d bo=%d pc=%d rnd=%d: "
                             "C[%d][%d] = %d, want %d (acc %lld)",
                             iter, p.m, p.n, p.k, p.ao, p.bo, s.os.per_channel,
                             s.os.rounding, i, j, got, want, (long long)acc);
            }
        }
        free(scratch);
        free(c);
        free_problem(&p);
    }
    /* The stages must have exercised both saturation ends and the middle. */
    assert_true(lo > 0 && hi > 0 && mid > 100);
    assert_true(rounding_seen[0] > 0 && rounding_seen[1] > 0);
    assert_true(pc_seen[0] > 0 && pc_seen[1] > 0);
}

/* ---- the reduction limit -------------------------------------------------- */

static void test_gemm_max_reduction(void **state)
{
    (void)state;
    const int k = TQ_S8_MAX_REDUCTION;
    const int m = 3, n = 4;
    int8_t *a = malloc((size_t)m * k), *b = malloc((size_t)n * k);
    assert_non_null(a);
    assert_non_null(b);
    /* Rows of constant extremes plus one random row. */
    const int8_t arow[3] = {-128, 127, 0};
    const int8_t brow[4] = {-128, 127, -128, 0};
    tt_rng r = {0x5eed0003u};
    for (int i = 0; i < m; ++i)
        memset(a + (size_t)i * k, arow[i], (size_t)k);
    for (int j = 0; j < n; ++j)
        memset(b + (size_t)j * k, brow[j], (size_t)k);
    tt_fill_s8(&r, a + 2 * (size_t)k, (size_t)k, -128, 127);
    const int offsets[5] = {-128, 128, 0, -127, 127};
    int32_t c[12];
    int8_t c8[12];
    int32_t mult = 1 << 30, shift = -24;
    tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    int saw_max = 0;
    for (int oa = 0; oa < 5; ++oa) {
        for (int ob = 0; ob < 5; ++ob) {
            const int ao = offsets[oa], bo = offsets[ob];
            assert_int_equal(tq_s8_gemm_s32(m, n, k, a, k, ao, b, k, bo, NULL,
                                            c, n),
                             TQ_OK);
            assert_int_equal(tq_s8_gemm(m, n, k, a, k, ao, b, k, bo, NULL, &os,
                                        c8, n, NULL, 0),
                             TQ_OK);
            for (int i = 0; i < m; ++i)
                for (int j = 0; j < n; ++j) {
                    const int64_t want = o_acc(k, a + (size_t)i * k, ao,
                                               b + (size_t)j * k, bo, NULL, j);
                    /* (-128 - 128)^2 · 2^15 = 2^31: the one sum that
                     * saturates without a bias. */
                    saw_max += want == INT32_MAX;
                    if (c[i * n + j] != want)
                        fail_msg("ao=%d bo=%d C[%d][%d]=%d want %lld", ao, bo,
                                 i, j, c[i * n + j], (long long)want);
                    const int8_t w8 = o_output(want, mult, shift,
                                               TQ_ROUND_DOUBLE, 0, -128, 127);
                    if (c8[i * n + j] != w8)
                        fail_msg("s8 ao=%d bo=%d C[%d][%d]=%d want %d", ao, bo,
                                 i, j, c8[i * n + j], w8);
                }
        }
    }
    assert_true(saw_max > 0);

    /* One more is refused before anything is written. */
    for (int i = 0; i < 12; ++i)
        c[i] = SENT32;
    int8_t *a1 = malloc((size_t)k + 1), *b1 = malloc((size_t)k + 1);
    assert_non_null(a1);
    assert_non_null(b1);
    memset(a1, 1, (size_t)k + 1);
    memset(b1, 1, (size_t)k + 1);
    assert_int_equal(tq_s8_gemm_s32(1, 1, k + 1, a1, k + 1, 0, b1, k + 1, 0,
                                    NULL, c, 1),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(c[0], SENT32);
    memset(c8, SENT8, sizeof c8);
    assert_int_equal(tq_s8_gemm(1, 1, k + 1, a1, k + 1, 0, b1, k + 1, 0, NULL,
                                &os, c8, 1, NULL, 0),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(c8[0], SENT8);
    size_t bytes = 77;
    assert_int_equal(tq_s8_gemm_scratch_size(1, 1, k + 1, &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(bytes, 77);
    free(a1);
    free(b1);
    free(a);
    free(b);
}

/* ---- empty products -------------------------------------------------------- */

static void test_gemm_empty(void **state)
{
    (void)state;
    const int32_t bias[3] = {5, -7, INT32_MAX};
    int32_t c[6];
    int8_t c8[6];
    int32_t mult = 1 << 30, shift = 0;
    tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 3, -128, 127};

    /* k == 0: the bias alone (offsets change nothing), A and B may be NULL. */
    for (int i = 0; i < 6; ++i)
        c[i] = SENT32;
    assert_int_equal(tq_s8_gemm_s32(2, 3, 0, NULL, 0, 128, NULL, 0, -128, bias,
                                    c, 3),
                     TQ_OK);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            assert_int_equal(c[i * 3 + j], bias[j]);
    assert_int_equal(tq_s8_gemm_s32(2, 3, 0, NULL, 0, 5, NULL, 0, 5, NULL, c, 3),
                     TQ_OK);
    for (int i = 0; i < 6; ++i)
        assert_int_equal(c[i], 0);
    assert_int_equal(tq_s8_gemm(2, 3, 0, NULL, 0, 128, NULL, 0, 128, bias, &os,
                                c8, 3, NULL, 0),
                     TQ_OK);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            assert_int_equal(c8[i * 3 + j],
                             o_output(bias[j], mult, shift, TQ_ROUND_DOUBLE, 3,
                                      -128, 127));

    /* m == 0 or n == 0: nothing to write, C may be NULL. */
    const int8_t one = 1;
    assert_int_equal(tq_s8_gemm_s32(0, 3, 1, NULL, 1, 0, &one, 1, 0, bias, NULL,
                                    3),
                     TQ_OK);
    assert_int_equal(tq_s8_gemm_s32(2, 0, 1, &one, 1, 0, NULL, 1, 0, NULL, NULL,
                                    0),
                     TQ_OK);
    assert_int_equal(tq_s8_gemm(0, 0, 0, NULL, 0, 0, NULL, 0, 0, NULL, &os, NULL,
                                0, NULL, 0),
                     TQ_OK);
    size_t bytes = 99;
    assert_int_equal(tq_s8_gemm_scratch_size(0, 0, 0, &bytes), TQ_OK);
    assert_int_equal(bytes, 0);
}

/* ---- bad inputs: specific status, nothing written -------------------------- */

static void test_gemm_errors(void **state)
{
    (void)state;
    int8_t a[16], b[16];
    int32_t c[16];
    int8_t c8[16];
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    int32_t mult[2] = {1 << 30, 1 << 30}, shift[2] = {-2, -2};
    const tq_s8_output good = {mult, shift, 1, TQ_ROUND_DOUBLE, 0, -128, 127};

#define S32(st, ...)                                                         \
    do {                                                                     \
        for (int i_ = 0; i_ < 16; ++i_)                                      \
            c[i_] = SENT32;                                                  \
        assert_int_equal(tq_s8_gemm_s32(__VA_ARGS__), st);                   \
        for (int i_ = 0; i_ < 16; ++i_)                                      \
            assert_int_equal(c[i_], SENT32);                                 \
    } while (0)
    S32(TQ_ERR_SHAPE, -1, 2, 2, a, 2, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_SHAPE, 2, -1, 2, a, 2, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_SHAPE, 2, 2, -1, a, 2, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_SHAPE, 2, 2, 3, a, 2, 0, b, 3, 0, NULL, c, 2);
    S32(TQ_ERR_SHAPE, 2, 2, 3, a, 3, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_SHAPE, 2, 3, 2, a, 2, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_NULL, 2, 2, 2, NULL, 2, 0, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_NULL, 2, 2, 2, a, 2, 0, NULL, 2, 0, NULL, c, 2);
    S32(TQ_ERR_PARAM, 2, 2, 2, a, 2, 129, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_PARAM, 2, 2, 2, a, 2, -129, b, 2, 0, NULL, c, 2);
    S32(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 129, NULL, c, 2);
    S32(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, -129, NULL, c, 2);
    assert_int_equal(tq_s8_gemm_s32(2, 2, 2, a, 2, 0, b, 2, 0, NULL, NULL, 2),
                     TQ_ERR_NULL);
    /* C overlapping A or the bias. */
    assert_int_equal(tq_s8_gemm_s32(2, 2, 2, (const int8_t *)c, 2, 0, b, 2, 0,
                                    NULL, c, 2),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_gemm_s32(2, 2, 2, a, 2, 0, b, 2, 0, c + 1, c, 2),
                     TQ_ERR_ALIAS);
#undef S32

#define S8(st, ...)                                                          \
    do {                                                                     \
        memset(c8, SENT8, sizeof c8);                                        \
        assert_int_equal(tq_s8_gemm(__VA_ARGS__), st);                       \
        for (int i_ = 0; i_ < 16; ++i_)                                      \
            assert_int_equal(c8[i_], SENT8);                                 \
    } while (0)
    tq_s8_output os;
    S8(TQ_ERR_SHAPE, 2, 2, 2, a, 1, 0, b, 2, 0, NULL, &good, c8, 2, NULL, 0);
    S8(TQ_ERR_NULL, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, NULL, c8, 2, NULL, 0);
    S8(TQ_ERR_NULL, 2, 2, 2, NULL, 2, 0, b, 2, 0, NULL, &good, c8, 2, NULL, 0);
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 200, b, 2, 0, NULL, &good, c8, 2, NULL, 0);
    S8(TQ_ERR_OVERFLOW, 1, 1, TQ_S8_MAX_REDUCTION + 1, a, TQ_S8_MAX_REDUCTION + 1,
       0, b, TQ_S8_MAX_REDUCTION + 1, 0, NULL, &good, c8, 1, NULL, 0);
    os = good;
    os.multiplier = NULL;
    S8(TQ_ERR_NULL, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.shift = NULL;
    S8(TQ_ERR_NULL, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    int32_t bad_m[2] = {1 << 30, -1}, bad_s[2] = {0, 31}, bad_s2[2] = {-32, 0};
    os = good;
    os.multiplier = bad_m; /* the second channel's multiplier is negative */
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.shift = bad_s;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.shift = bad_s2;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.per_channel = 2;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.rounding = 2;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.output_offset = 128;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.act_min = 5;
    os.act_max = 4;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.act_min = -129;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    os = good;
    os.act_max = 128;
    S8(TQ_ERR_PARAM, 2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2, NULL, 0);
    /* Per-tensor: only entry 0 is read, so a bad second entry is fine. */
    os = good;
    os.per_channel = 0;
    os.multiplier = bad_m;
    memset(c8, SENT8, sizeof c8);
    assert_int_equal(tq_s8_gemm(2, 2, 2, a, 2, 0, b, 2, 0, NULL, &os, c8, 2,
                                NULL, 0),
                     TQ_OK);
    S8(TQ_ERR_ALIAS, 2, 2, 2, c8 + 1, 2, 0, b, 2, 0, NULL, &good, c8, 2, NULL,
       0);
#undef S8
    assert_int_equal(tq_s8_gemm_scratch_size(1, 1, 1, NULL), TQ_ERR_NULL);
    size_t bytes = 5;
    assert_int_equal(tq_s8_gemm_scratch_size(-1, 1, 1, &bytes), TQ_ERR_SHAPE);
    assert_int_equal(bytes, 5);
}

/* ---- weights packed ahead of time ----------------------------------------- */

static size_t round_up(size_t x, size_t to)
{
    return (x + to - 1) / to * to;
}

static uint32_t le32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* The layout of include/tinyq.h, byte by byte, from the weights. */
static void check_packed_layout(const unsigned char *pk, int n, int k,
                                const int8_t *w, int ldw)
{
    const size_t rows = round_up((size_t)n, 16), groups = round_up((size_t)k, 4) / 4;
    assert_int_equal(le32_at(pk), 0x57505154u);
    assert_int_equal(le32_at(pk + 4), 1u);
    assert_int_equal(le32_at(pk + 8), (uint32_t)n);
    assert_int_equal(le32_at(pk + 12), (uint32_t)k);
    for (size_t i = 16; i < 64; ++i)
        assert_int_equal(pk[i], 0);
    for (size_t o = 0; o < rows; ++o) {
        int64_t sum = 0;
        for (int p = 0; o < (size_t)n && p < k; ++p)
            sum += w[o * (size_t)ldw + (size_t)p];
        assert_int_equal((int32_t)le32_at(pk + 64 + 4 * o), sum);
    }
    const unsigned char *codes = pk + 64 + 4 * rows;
    for (size_t b = 0; b < rows / 16; ++b)
        for (size_t g = 0; g < groups; ++g)
            for (size_t l = 0; l < 16; ++l)
                for (size_t q = 0; q < 4; ++q) {
                    const size_t o = 16 * b + l, p = 4 * g + q;
                    const int8_t want =
                        o < (size_t)n && p < (size_t)k ? w[o * (size_t)ldw + p] : 0;
                    const int8_t got =
                        (int8_t)codes[((b * groups + g) * 16 + l) * 4 + q];
                    if (got != want)
                        fail_msg("n %d k %d: block %zu group %zu lane %zu byte "
                                 "%zu = %d, want %d",
                                 n, k, b, g, l, q, got, want);
                }
}

static void test_packed_layout(void **state)
{
    (void)state;
    tt_rng r = {0x5eed0011u};
    const int shapes[][2] = {{1, 1}, {16, 4}, {17, 5}, {120, 400}, {10, 84},
                             {6, 75}, {33, 3}, {64, 1}, {65, 130}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; ++t) {
        const int n = shapes[t][0], k = shapes[t][1], ldw = k + tt_int(&r, 0, 3);
        int8_t *w = malloc((size_t)n * (size_t)ldw);
        assert_non_null(w);
        tt_fill_s8(&r, w, (size_t)n * (size_t)ldw, -128, 127);
        size_t bytes = 0;
        assert_int_equal(tq_s8_packed_weights_size(n, k, &bytes), TQ_OK);
        const size_t rows = round_up((size_t)n, 16);
        assert_int_equal(bytes, 64 + 4 * rows + rows * round_up((size_t)k, 4));
        /* Odd start and a sentinel tail: any alignment, nothing past it. */
        unsigned char *buf = malloc(bytes + 8);
        assert_non_null(buf);
        memset(buf, 0xA5, bytes + 8);
        assert_int_equal(tq_s8_pack_weights(n, k, w, ldw, buf + 1, bytes + 1), TQ_OK);
        assert_int_equal(buf[0], 0xA5);
        for (size_t i = bytes + 1; i < bytes + 8; ++i)
            assert_int_equal(buf[i], 0xA5);
        check_packed_layout(buf + 1, n, k, w, ldw);
        free(buf);
        free(w);
    }
}

/* Packed fully connected: against the int64 oracle and, bit for bit,
 * against tq_s8_fully_connected() with the unpacked weights. */
static void test_packed_fc_random(void **state)
{
    (void)state;
    tt_rng r = {0x5eed0012u};
    int lo = 0, hi = 0;
    for (int iter = 0; iter < 120; ++iter) {
        const int batch = tt_int(&r, 0, 3) == 0 ? 1 : tt_int(&r, 1, 21);
        const int in_f = tt_int(&r, 0, 4) == 0 ? tt_int(&r, 1, 9) : tt_int(&r, 1, 300);
        const int out_f = tt_int(&r, 0, 4) == 0 ? tt_int(&r, 1, 3) : tt_int(&r, 1, 150);
        const int io = tt_int(&r, 0, 3) == 0 ? (tt_int(&r, 0, 1) ? 128 : -127)
                                              : tt_int(&r, -127, 128);
        int8_t *x = malloc((size_t)batch * in_f), *w = malloc((size_t)out_f * in_f);
        int8_t *got = malloc((size_t)batch * out_f), *ref = malloc((size_t)batch * out_f);
        int32_t *bias = tt_int(&r, 0, 2) ? malloc((size_t)out_f * sizeof(int32_t)) : NULL;
        assert_true(x && w && got && ref);
        const int extremes = tt_int(&r, 0, 4);
        tt_fill_s8(&r, x, (size_t)batch * in_f, extremes == 0 ? 127 : -128,
                   extremes == 1 ? -128 : 127);
        tt_fill_s8(&r, w, (size_t)out_f * in_f, extremes == 0 ? -128 : -128,
                   extremes == 0 ? -128 : 127);
        for (int o = 0; bias && o < out_f; ++o)
            bias[o] = tt_int(&r, 0, 5) == 0
                          ? (tt_int(&r, 0, 1) ? INT32_MAX - tt_int(&r, 0, 1000)
                                              : INT32_MIN + tt_int(&r, 0, 1000))
                          : tt_int(&r, -200000, 200000);
        stage s;
        make_stage(&r, out_f, &s);
        size_t bytes;
        assert_int_equal(tq_s8_packed_weights_size(out_f, in_f, &bytes), TQ_OK);
        const size_t skew = (size_t)tt_int(&r, 0, 3);
        unsigned char *buf = malloc(bytes + skew);
        assert_non_null(buf);
        assert_int_equal(tq_s8_pack_weights(out_f, in_f, w, in_f, buf + skew, bytes),
                         TQ_OK);
        memset(got, SENT8, (size_t)batch * out_f);
        assert_int_equal(tq_s8_fully_connected_packed(batch, in_f, out_f, x, io,
                                                      buf + skew, bytes, bias,
                                                      &s.os, got),
                         TQ_OK);
        assert_int_equal(tq_s8_fully_connected(batch, in_f, out_f, x, io, w, 0,
                                               bias, &s.os, ref),
                         TQ_OK);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                const int8_t want = o_stage(&s, o_acc(in_f, x + (size_t)b * in_f, io,
                                                      w + (size_t)o * in_f, 0, bias, o),
                                            o);
                const int8_t g = got[(size_t)b * out_f + o];
                lo += want == -128;
                hi += want == 127;
                if (g != want || ref[(size_t)b * out_f + o] != want)
                    fail_msg("iter %d batch %d in %d out %d io %d pc %d: "
                             "out[%d][%d] = %d (unpacked %d), want %d",
                             iter, batch, in_f, out_f, io, s.os.per_channel, b,
                             o, g, ref[(size_t)b * out_f + o], want);
            }
        free(buf), free(x), free(w), free(got), free(ref), free(bias);
    }
    assert_true(lo > 0 && hi > 0);
}

/* The longest reduction, with operands at their extremes: every path's
 * largest sums (and the AVX-512 kernel's row-at-a-time flipping). */
static void test_packed_fc_max_reduction(void **state)
{
    (void)state;
    const int batch = 3, in_f = TQ_S8_MAX_REDUCTION, out_f = 17;
    int8_t *x = malloc((size_t)batch * in_f), *w = malloc((size_t)out_f * in_f);
    int8_t got[3 * 17], ref[3 * 17];
    assert_true(x && w);
    tt_rng r = {0x5eed0013u};
    for (int b = 0; b < batch; ++b)
        memset(x + (size_t)b * in_f, b == 0 ? 127 : -128, (size_t)in_f);
    tt_fill_s8(&r, x + 2 * (size_t)in_f, (size_t)in_f, -128, 127);
    for (int o = 0; o < out_f; ++o)
        memset(w + (size_t)o * in_f, o % 3 == 0 ? -128 : (o % 3 == 1 ? 127 : 1),
               (size_t)in_f);
    int32_t mult = 1 << 30, shift = -24;
    const tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    size_t bytes;
    assert_int_equal(tq_s8_packed_weights_size(out_f, in_f, &bytes), TQ_OK);
    unsigned char *pk = malloc(bytes);
    assert_non_null(pk);
    assert_int_equal(tq_s8_pack_weights(out_f, in_f, w, in_f, pk, bytes), TQ_OK);
    for (int io = -127; io <= 128; io += 255) {
        assert_int_equal(tq_s8_fully_connected_packed(batch, in_f, out_f, x, io,
                                                      pk, bytes, NULL, &os, got),
                         TQ_OK);
        assert_int_equal(tq_s8_fully_connected(batch, in_f, out_f, x, io, w, 0,
                                               NULL, &os, ref),
                         TQ_OK);
        assert_memory_equal(got, ref, sizeof got);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                const int64_t acc = o_acc(in_f, x + (size_t)b * in_f, io,
                                          w + (size_t)o * in_f, 0, NULL, o);
                assert_int_equal(got[b * out_f + o],
                                 o_output(acc, mult, shift, TQ_ROUND_DOUBLE, 0,
                                          -128, 127));
            }
    }
    free(pk), free(x), free(w);
}

static void test_packed_errors(void **state)
{
    (void)state;
    int8_t w[12], x[8], out[6];
    memset(w, 3, sizeof w);
    memset(x, -2, sizeof x);
    int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30}, shift[3] = {-2, -2, -2};
    const tq_s8_output os = {mult, shift, 1, TQ_ROUND_DOUBLE, 0, -128, 127};
    size_t bytes = 7;
    /* n = 3 outputs, k = 4 inputs. */
    assert_int_equal(tq_s8_packed_weights_size(3, 4, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_packed_weights_size(0, 4, &bytes), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_packed_weights_size(3, -1, &bytes), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_packed_weights_size(3, TQ_S8_MAX_REDUCTION + 1, &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(bytes, 7);
    assert_int_equal(tq_s8_packed_weights_size(INT32_MAX, TQ_S8_MAX_REDUCTION,
                                               &bytes),
                     sizeof(size_t) > 4 ? TQ_OK : TQ_ERR_OVERFLOW);
    assert_int_equal(tq_s8_packed_weights_size(3, 4, &bytes), TQ_OK);
    unsigned char pk[256], keep[256];
    assert_true(bytes <= sizeof pk);

#define PACK(st, ...)                                                        \
    do {                                                                     \
        memset(pk, 0xA5, sizeof pk);                                         \
        assert_int_equal(tq_s8_pack_weights(__VA_ARGS__), st);               \
        for (size_t i_ = 0; i_ < sizeof pk; ++i_)                            \
            assert_int_equal(pk[i_], 0xA5);                                  \
    } while (0)
    PACK(TQ_ERR_NULL, 3, 4, NULL, 4, pk, bytes);
    PACK(TQ_ERR_SHAPE, 0, 4, w, 4, pk, bytes);
    PACK(TQ_ERR_SHAPE, 3, 0, w, 4, pk, bytes);
    PACK(TQ_ERR_SHAPE, 3, 4, w, 3, pk, bytes);
    PACK(TQ_ERR_OVERFLOW, 3, TQ_S8_MAX_REDUCTION + 1, w, TQ_S8_MAX_REDUCTION + 1,
         pk, bytes);
    PACK(TQ_ERR_BUFFER_TOO_SMALL, 3, 4, w, 4, pk, bytes - 1);
#undef PACK
    assert_int_equal(tq_s8_pack_weights(3, 4, w, 4, NULL, bytes), TQ_ERR_NULL);
    assert_int_equal(tq_s8_pack_weights(3, 4, (const int8_t *)pk + 8, 4, pk, bytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_pack_weights(3, 4, w, 4, pk, bytes), TQ_OK);
    memcpy(keep, pk, sizeof pk);

#define FCP(st, ...)                                                         \
    do {                                                                     \
        memset(out, SENT8, sizeof out);                                      \
        assert_int_equal(tq_s8_fully_connected_packed(__VA_ARGS__), st);     \
        for (size_t i_ = 0; i_ < sizeof out; ++i_)                           \
            assert_int_equal(out[i_], SENT8);                                \
        assert_memory_equal(pk, keep, sizeof pk);                            \
    } while (0)
    FCP(TQ_ERR_NULL, 2, 4, 3, NULL, 0, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_NULL, 2, 4, 3, x, 0, NULL, bytes, NULL, &os, out);
    FCP(TQ_ERR_NULL, 2, 4, 3, x, 0, pk, bytes, NULL, NULL, out);
    FCP(TQ_ERR_SHAPE, 0, 4, 3, x, 0, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_SHAPE, 2, 0, 3, x, 0, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_SHAPE, 2, 4, 0, x, 0, pk, bytes, NULL, &os, out);
    /* n and k that disagree with the header. */
    FCP(TQ_ERR_SHAPE, 2, 4, 2, x, 0, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_SHAPE, 2, 3, 3, x, 0, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_PARAM, 2, 4, 3, x, -128, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_PARAM, 2, 4, 3, x, 129, pk, bytes, NULL, &os, out);
    FCP(TQ_ERR_BUFFER_TOO_SMALL, 2, 4, 3, x, 0, pk, bytes - 1, NULL, &os, out);
    FCP(TQ_ERR_BUFFER_TOO_SMALL, 2, 4, 3, x, 0, pk, 63, NULL, &os, out);
    FCP(TQ_ERR_OVERFLOW, 1, TQ_S8_MAX_REDUCTION + 1, 3, x, 0, pk, bytes, NULL,
        &os, out);
    FCP(TQ_ERR_ALIAS, 2, 4, 3, (const int8_t *)out, 0, pk, bytes, NULL, &os,
        out);
    mult[1] = -5;
    FCP(TQ_ERR_PARAM, 2, 4, 3, x, 0, pk, bytes, NULL, &os, out);
    mult[1] = 1 << 30;
    /* Not a packed matrix: magic, then version. */
    pk[0] ^= 1;
    memcpy(keep, pk, sizeof pk);
    FCP(TQ_ERR_FORMAT, 2, 4, 3, x, 0, pk, bytes, NULL, &os, out);
    pk[0] ^= 1;
    pk[4] = 2;
    memcpy(keep, pk, sizeof pk);
    FCP(TQ_ERR_FORMAT, 2, 4, 3, x, 0, pk, bytes, NULL, &os, out);
    pk[4] = 1;
    memcpy(keep, pk, sizeof pk);
#undef FCP
    /* Output inside the packed buffer. */
    assert_int_equal(tq_s8_fully_connected_packed(2, 4, 3, x, 0, pk, bytes, NULL,
                                                  &os, (int8_t *)pk + 70),
                     TQ_ERR_ALIAS);
    assert_memory_equal(pk, keep, sizeof pk);
    assert_int_equal(tq_s8_fully_connected_packed(2, 4, 3, x, 0, pk, bytes, NULL,
                                                  &os, out),
                     TQ_OK);
}

/* Weights with a zero point through the packed path: the same packed bytes,
 * tq_s8_fully_connected_packed_offset() against the oracle and against the
 * unpacked kernel with the same weight_offset, offsets at their extremes
 * included (with saturating sums at the longest reduction). Runs on every
 * kernel path through the isa suite. */
static void test_packed_fc_weight_offset(void **state)
{
    (void)state;
    tt_rng r = {0x5eed0016u};
    int saturated = 0;
    for (int iter = 0; iter < 150; ++iter) {
        const int batch = tt_int(&r, 0, 3) == 0 ? 1 : tt_int(&r, 1, 19);
        const int in_f = iter == 0 ? TQ_S8_MAX_REDUCTION
                         : tt_int(&r, 0, 4) == 0 ? tt_int(&r, 1, 9)
                                                 : tt_int(&r, 1, 300);
        const int out_f = tt_int(&r, 0, 4) == 0 ? tt_int(&r, 1, 3) : tt_int(&r, 1, 150);
        const int io = iter == 0 ? -127
                       : tt_int(&r, 0, 3) == 0 ? (tt_int(&r, 0, 1) ? 128 : -127)
                                                : tt_int(&r, -127, 128);
        const int wo = iter == 0 ? -128
                       : tt_int(&r, 0, 3) == 0 ? (tt_int(&r, 0, 1) ? 128 : -128)
                                                : tt_int(&r, -128, 128);
        int8_t *x = malloc((size_t)batch * in_f), *w = malloc((size_t)out_f * in_f);
        int8_t *got = malloc((size_t)batch * out_f), *ref = malloc((size_t)batch * out_f);
        int32_t *bias = iter == 0 || tt_int(&r, 0, 2)
                            ? malloc((size_t)out_f * sizeof(int32_t)) : NULL;
        assert_true(x && w && got && ref);
        if (iter == 0) { /* 255 · 256 · 2^15 plus a bias: saturates */
            memset(x, -128, (size_t)batch * in_f);
            memset(w, -128, (size_t)out_f * in_f);
        } else {
            tt_fill_s8(&r, x, (size_t)batch * in_f, -128, 127);
            tt_fill_s8(&r, w, (size_t)out_f * in_f, -128, 127);
        }
        for (int o = 0; bias && o < out_f; ++o)
            bias[o] = iter == 0 ? 100000000 : tt_int(&r, -200000, 200000);
        stage s;
        make_stage(&r, out_f, &s);
        size_t bytes;
        assert_int_equal(tq_s8_packed_weights_size(out_f, in_f, &bytes), TQ_OK);
        unsigned char *buf = malloc(bytes);
        assert_non_null(buf);
        assert_int_equal(tq_s8_pack_weights(out_f, in_f, w, in_f, buf, bytes), TQ_OK);
        memset(got, SENT8, (size_t)batch * out_f);
        assert_int_equal(tq_s8_fully_connected_packed_offset(
                             batch, in_f, out_f, x, io, buf, bytes, wo, bias,
                             &s.os, got),
                         TQ_OK);
        assert_int_equal(tq_s8_fully_connected(batch, in_f, out_f, x, io, w, wo,
                                               bias, &s.os, ref),
                         TQ_OK);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                const int64_t acc = o_acc(in_f, x + (size_t)b * in_f, io,
                                          w + (size_t)o * in_f, wo, bias, o);
                saturated += acc == INT32_MAX || acc == INT32_MIN;
                const int8_t want = o_stage(&s, acc, o);
                const int8_t g = got[(size_t)b * out_f + o];
                if (g != want || ref[(size_t)b * out_f + o] != want)
                    fail_msg("iter %d batch %d in %d out %d io %d wo %d: "
                             "out[%d][%d] = %d (unpacked %d), want %d",
                             iter, batch, in_f, out_f, io, wo, b, o, g,
                             ref[(size_t)b * out_f + o], want);
            }
        /* weight_offset 0 is the symmetric entry point. */
        if (wo == 0 || iter % 10 == 1) {
            assert_int_equal(tq_s8_fully_connected_packed(batch, in_f, out_f, x,
                                                          io, buf, bytes, bias,
                                                          &s.os, ref),
                             TQ_OK);
            assert_int_equal(tq_s8_fully_connected_packed_offset(
                                 batch, in_f, out_f, x, io, buf, bytes, 0,
                                 bias, &s.os, got),
                             TQ_OK);
            assert_memory_equal(got, ref, (size_t)batch * out_f);
        }
        free(buf), free(x), free(w), free(got), free(ref), free(bias);
    }
    assert_true(saturated > 0);

    /* Bad weight offsets change nothing. */
    int8_t w[12], x[8], out[6];
    memset(w, 3, sizeof w);
    memset(x, -2, sizeof x);
    int32_t mult = 1 << 30, shift = -2;
    const tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    unsigned char pk[256];
    size_t bytes;
    assert_int_equal(tq_s8_packed_weights_size(3, 4, &bytes), TQ_OK);
    assert_int_equal(tq_s8_pack_weights(3, 4, w, 4, pk, bytes), TQ_OK);
    const int32_t bad[] = {-129, 129, INT32_MIN, INT32_MAX};
    for (int i = 0; i < 4; ++i) {
        memset(out, SENT8, sizeof out);
        assert_int_equal(tq_s8_fully_connected_packed_offset(
                             2, 4, 3, x, 0, pk, bytes, bad[i], NULL, &os, out),
                         TQ_ERR_PARAM);
        for (size_t j = 0; j < sizeof out; ++j)
            assert_int_equal(out[j], SENT8);
    }
    assert_int_equal(tq_s8_fully_connected_packed_offset(
                         2, 4, 3, NULL, 0, pk, bytes, 5, NULL, &os, out),
                     TQ_ERR_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_s32_random),
        cmocka_unit_test(test_gemm_s8_random),
        cmocka_unit_test(test_gemm_max_reduction),
        cmocka_unit_test(test_gemm_empty),
        cmocka_unit_test(test_gemm_errors),
        cmocka_unit_test(test_packed_layout),
        cmocka_unit_test(test_packed_fc_random),
        cmocka_unit_test(test_packed_fc_max_reduction),
        cmocka_unit_test(test_packed_errors),
        cmocka_unit_test(test_packed_fc_weight_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
