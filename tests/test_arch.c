/*
 * Tests of the kernel paths (lib/arch): the path API (tq_set_isa() and
 * friends, TINYQ_ISA), then every SIMD path this CPU runs against the
 * portable reference, bit for bit:
 *   - the dispatch microkernels on random and edge shapes (m, n, k from 1
 *     to 300, odd sizes, leading dimensions, k up to TQ_S8_MAX_REDUCTION
 *     with extreme values), each checked against an oracle written here
 *     (int64 sums; for f32 the order lib/arch/dispatch.h defines, written
 *     again with fmaf) and against the portable microkernel;
 *   - the public kernels that go through the paths (GEMMs, fully
 *     connected, conv2d, the fused conv + ReLU + max pool, f32 and s8) on
 *     random shapes and LeNet's, compared with the portable path's output.
 * Paths the CPU (or this build) lacks are reported as skipped.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arch/dispatch.h"
#include "../lib/s8/s8_internal.h" /* tq__s8_fold, for the s8_finish entry */
#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define ISA_LAST TQ_ISA_ARM_DSP
#define SENT32 ((int32_t)0x5A5A5A5A)

static uint32_t available;

static int has_isa(int32_t isa)
{
    return (available >> isa) & 1u;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static int setup(void **state)
{
    (void)state;
    available = tq_isa_available();
    for (int32_t isa = TQ_ISA_AVX2; isa <= ISA_LAST; ++isa)
        if (!has_isa(isa))
            print_message("skipped: path %s (not in this CPU or build)\n",
                          tq_isa_name(isa));
    return 0;
}

/* ---- the path API ------------------------------------------------------ */

/* The first use settles the choice from TINYQ_ISA: the named path if
 * available, else the best one below it; unset or unknown means the best.
 * Must run before anything else touches the kernels. */
static void test_env_choice(void **state)
{
    (void)state;
    const char *env = getenv("TINYQ_ISA");
    int32_t want = ISA_LAST;
    for (int32_t isa = TQ_ISA_PORTABLE; env && isa <= ISA_LAST; ++isa)
        if (strcmp(env, tq_isa_name(isa)) == 0)
            want = isa;
    while (!has_isa(want))
        --want;
    print_message("TINYQ_ISA=%s: path %s (%s)\n", env ? env : "(unset)",
                  tq_isa_name(tq_get_isa()), tq_kernel_path());
    assert_int_equal(tq_get_isa(), want);
}

static void test_api(void **state)
{
    (void)state;
    static const char *const names[] = {"auto",   "portable", "avx2", "avx512",
                                        "neon",   "neondot",  "dsp"};
    static const char *const paths[] = {
        NULL,           "portable-c",       "x86-avx2",   "x86-avx512-vnni",
        "aarch64-neon", "aarch64-neon-dot", "armv7em-dsp"};
    assert_true(has_isa(TQ_ISA_PORTABLE));
    assert_int_equal(available >> (ISA_LAST + 1), 0);
    for (int32_t isa = 0; isa <= ISA_LAST; ++isa)
        assert_string_equal(tq_isa_name(isa), names[isa]);
    assert_null(tq_isa_name(-1));
    assert_null(tq_isa_name(ISA_LAST + 1));
    assert_null(tq_isa_name(INT32_MAX));

    const int32_t before = tq_get_isa();
    assert_int_equal(tq_set_isa(-1), TQ_ERR_PARAM);
    assert_int_equal(tq_set_isa(ISA_LAST + 1), TQ_ERR_PARAM);
    assert_int_equal(tq_set_isa(INT32_MIN), TQ_ERR_PARAM);
    assert_int_equal(tq_get_isa(), before);
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        const int32_t was = tq_get_isa();
        if (has_isa(isa)) {
            assert_int_equal(tq_set_isa(isa), TQ_OK);
            assert_int_equal(tq_get_isa(), isa);
            assert_string_equal(tq_kernel_path(), paths[isa]);
        } else {
            assert_int_equal(tq_set_isa(isa), TQ_ERR_UNSUPPORTED);
            assert_int_equal(tq_get_isa(), was);
        }
    }
    int32_t best = ISA_LAST;
    while (!has_isa(best))
        --best;
    assert_int_equal(tq_set_isa(TQ_ISA_PORTABLE), TQ_OK);
    assert_int_equal(tq_set_isa(TQ_ISA_AUTO), TQ_OK);
    assert_int_equal(tq_get_isa(), best);
}

/* ---- oracles --------------------------------------------------------- */

static int64_t o_dot_s8(const int8_t *x, const int8_t *y, int k)
{
    int64_t s = 0;
    for (int p = 0; p < k; ++p)
        s += (int64_t)x[p] * y[p];
    return s;
}

/* The f32 order of lib/arch/dispatch.h: 16 fmaf lanes, then halves. */
static float o_dot_f32(const float *x, const float *y, int k)
{
    float s[16];
    for (int l = 0; l < 16; ++l)
        s[l] = 0.0f;
    for (int p = 0; p < k; ++p)
        s[p % 16] = fmaf(x[p], y[p], s[p % 16]);
    for (int width = 8; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l)
            s[l] = s[l] + s[l + width];
    return s[0];
}

/* Equal bits, or both NaN (payloads are not part of the contract). */
static int same_f32(float x, float y)
{
    return memcmp(&x, &y, sizeof x) == 0 || (isnan(x) && isnan(y));
}

/* ---- microkernel problems ------------------------------------------------ */

typedef struct shape {
    int m, n, k, lda, ldb, ldc;
} shape;

/* Sizes from 1 to 300, small and odd ones more often. */
static int pick_size(tt_rng *r)
{
    switch (tt_int(r, 0, 3)) {
    case 0:
        return tt_int(r, 1, 9);
    case 1:
        return tt_int(r, 10, 70);
    case 2:
        return 2 * tt_int(r, 0, 40) + 1;
    default:
        return tt_int(r, 1, 300);
    }
}

static shape random_shape(tt_rng *r)
{
    shape s;
    s.m = pick_size(r);
    s.n = pick_size(r);
    s.k = pick_size(r);
    s.lda = s.k + (tt_int(r, 0, 2) ? 0 : tt_int(r, 1, 70));
    s.ldb = s.k + (tt_int(r, 0, 2) ? 0 : tt_int(r, 1, 70));
    s.ldc = s.n + (tt_int(r, 0, 2) ? 0 : tt_int(r, 1, 9));
    return s;
}

/* The grid of small shapes around the tile and vector widths. */
static int edge_shape(int idx, shape *s)
{
    static const int ks[] = {1,  2,  3,  4,  5,  7,   15,  16,  17,  31, 32,
                             33, 63, 64, 65, 75, 127, 128, 129, 150, 400};
    const int nk = (int)(sizeof ks / sizeof ks[0]);
    if (idx >= 9 * 17 * nk)
        return 0;
    s->k = ks[idx % nk];
    s->n = 1 + idx / nk % 17;
    s->m = 1 + idx / nk / 17;
    s->lda = s->k;
    s->ldb = s->k + 1;
    s->ldc = s->n;
    return 1;
}

/* Values: full range, only extremes, or mostly small. */
static void fill_s8(tt_rng *r, int8_t *x, size_t count, int style)
{
    for (size_t i = 0; i < count; ++i) {
        switch (style) {
        case 0:
            x[i] = (int8_t)tt_int(r, -128, 127);
            break;
        case 1:
            x[i] = tt_int(r, 0, 1) ? -128 : 127;
            break;
        default:
            x[i] = (int8_t)tt_int(r, -3, 3);
            break;
        }
    }
}

static void fill_f32(tt_rng *r, float *x, size_t count, int style)
{
    for (size_t i = 0; i < count; ++i) {
        float v = tt_float(r, -1.0f, 1.0f);
        if (style == 1) {
            switch (tt_int(r, 0, 7)) {
            case 0:
                v = -0.0f;
                break;
            case 1:
                v = 0.0f;
                break;
            case 2:
                v = 1e-40f * (float)tt_int(r, -9, 9);
                break; /* subnormal */
            case 3:
                v = 1e30f * v;
                break; /* overflows */
            default:
                break;
            }
        } else if (style == 2) {
            v = (float)tt_int(r, -4, 4) * 0.25f; /* exact cancellation */
        }
        x[i] = v;
    }
}

static void check_s8_gemm(int32_t isa, const shape *s, tt_rng *r, int style,
                          const char *what, int idx)
{
    const size_t na = (size_t)(s->m - 1) * s->lda + s->k;
    const size_t nb = (size_t)(s->n - 1) * s->ldb + s->k;
    const size_t nc = (size_t)s->m * s->ldc;
    int8_t *a = xmalloc(na), *b = xmalloc(nb);
    int32_t *c = xmalloc(nc * 4), *ref = xmalloc(nc * 4);
    fill_s8(r, a, na, style);
    fill_s8(r, b, nb, style);
    for (size_t i = 0; i < nc; ++i)
        c[i] = ref[i] = SENT32;
    assert_int_equal(tq_set_isa(isa), TQ_OK);
    tq__get_ukernels()->s8_gemm(s->m, s->n, s->k, a, (size_t)s->lda, b,
                                (size_t)s->ldb, c, (size_t)s->ldc);
    tq__s8_gemm_ref(s->m, s->n, s->k, a, (size_t)s->lda, b, (size_t)s->ldb, ref,
                    (size_t)s->ldc);
    for (int i = 0; i < s->m; ++i)
        for (int j = 0; j < s->ldc; ++j) {
            const size_t at = (size_t)i * s->ldc + j;
            const int64_t want = j < s->n
                                     ? o_dot_s8(a + (size_t)i * s->lda,
                                                b + (size_t)j * s->ldb, s->k)
                                     : SENT32;
            if (c[at] != want || ref[at] != want)
                fail_msg("%s %d, path %s, m %d n %d k %d lda %d ldb %d ldc %d "
                         "style %d: C[%d][%d] = %d, portable %d, oracle %lld",
                         what, idx, tq_isa_name(isa), s->m, s->n, s->k, s->lda,
                         s->ldb, s->ldc, style, i, j, c[at], ref[at],
                         (long long)want);
        }
    free(a), free(b), free(c), free(ref);
}

static void check_f32_gemm(int32_t isa, const shape *s, tt_rng *r, int style,
                           const char *what, int idx)
{
    const size_t na = (size_t)(s->m - 1) * s->lda + s->k;
    const size_t nb = (size_t)(s->n - 1) * s->ldb + s->k;
    const size_t nc = (size_t)s->m * s->ldc;
    float *a = xmalloc(na * 4), *b = xmalloc(nb * 4);
    float *c = xmalloc(nc * 4), *ref = xmalloc(nc * 4);
    const float sent = -12345.5f;
    fill_f32(r, a, na, style);
    fill_f32(r, b, nb, style);
    for (size_t i = 0; i < nc; ++i)
        c[i] = ref[i] = sent;
    assert_int_equal(tq_set_isa(isa), TQ_OK);
    tq__f32_gemm_entry(tq__get_ukernels())(s->m, s->n, s->k, a,
                                           (size_t)s->lda, b, (size_t)s->ldb,
                                           c, (size_t)s->ldc);
    tq__f32_gemm_ref(s->m, s->n, s->k, a, (size_t)s->lda, b, (size_t)s->ldb,
                     ref, (size_t)s->ldc);
    for (int i = 0; i < s->m; ++i)
        for (int j = 0; j < s->ldc; ++j) {
            const size_t at = (size_t)i * s->ldc + j;
            const float want = j < s->n
                                   ? o_dot_f32(a + (size_t)i * s->lda,
                                               b + (size_t)j * s->ldb, s->k)
                                   : sent;
            if (!same_f32(c[at], want) || !same_f32(ref[at], want))
                fail_msg("%s %d, path %s, m %d n %d k %d lda %d ldb %d ldc %d "
                         "style %d: C[%d][%d] = %a, portable %a, oracle %a",
                         what, idx, tq_isa_name(isa), s->m, s->n, s->k, s->lda,
                         s->ldb, s->ldc, style, i, j, (double)c[at],
                         (double)ref[at], (double)want);
        }
    free(a), free(b), free(c), free(ref);
}

/* The portable path too: its microkernel must follow the oracle. */
static void test_s8_microkernels(void **state)
{
    (void)state;
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0001u};
        shape s;
        for (int i = 0; edge_shape(i, &s); ++i)
            check_s8_gemm(isa, &s, &r, i % 3, "edge", i);
        for (int i = 0; i < 160; ++i) {
            s = random_shape(&r);
            check_s8_gemm(isa, &s, &r, i % 3, "random", i);
        }
    }
}

static void test_f32_microkernels(void **state)
{
    (void)state;
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0002u};
        shape s;
        for (int i = 0; edge_shape(i, &s); ++i)
            check_f32_gemm(isa, &s, &r, i % 3, "edge", i);
        for (int i = 0; i < 120; ++i) {
            s = random_shape(&r);
            check_f32_gemm(isa, &s, &r, i % 3, "random", i);
        }
    }
}

/* Shapes past the blocking of the large-product kernels: several chunks
 * of k (with a partial last group), more rows than one block of row sums,
 * ragged panels. */
static void test_s8_large(void **state)
{
    (void)state;
    static const int shapes[][3] = {{64, 32, 64},    {70, 50, 1030},
                                    {130, 97, 1537}, {65, 48, 4099},
                                    {2100, 33, 67},  {96, 200, 515}};
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0008u};
        for (int i = 0; i < 6; ++i) {
            shape s = {shapes[i][0], shapes[i][1], shapes[i][2], 0, 0, 0};
            s.lda = s.k + (i % 2) * 3;
            s.ldb = s.k + (i % 3);
            s.ldc = s.n + (i % 2);
            check_s8_gemm(isa, &s, &r, i % 3, "large", i);
        }
    }
}

/* Rows that all start at the same offset o from a 64-byte boundary (the
 * AVX-512 path then reads aligned vectors, its lane sums rotated by o),
 * for every offset. */
static void test_f32_aligned_rows(void **state)
{
    (void)state;
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0007u};
        for (int i = 0; i < 64; ++i) {
            const int o = i % 16;
            shape sh;
            sh.m = tt_int(&r, 1, 13);
            sh.n = tt_int(&r, 1, 13);
            sh.k = tt_int(&r, 1, 70);
            sh.lda = 16 * tt_int(&r, (sh.k + 15) / 16, 6);
            sh.ldb = 16 * tt_int(&r, (sh.k + 15) / 16, 6);
            sh.ldc = sh.n;
            const size_t na = (size_t)(sh.m - 1) * sh.lda + sh.k;
            const size_t nb = (size_t)(sh.n - 1) * sh.ldb + sh.k;
            /* C11: the size a multiple of the alignment. */
            float *abuf = aligned_alloc(64, (na / 16 + 2) * 64);
            float *bbuf = aligned_alloc(64, (nb / 16 + 2) * 64);
            float *c = xmalloc((size_t)sh.m * sh.n * 4);
            float *ref = xmalloc((size_t)sh.m * sh.n * 4);
            assert_non_null(abuf);
            assert_non_null(bbuf);
            float *a = abuf + o, *b = bbuf + o;
            fill_f32(&r, a, na, i % 3);
            fill_f32(&r, b, nb, i % 3);
            assert_int_equal(tq_set_isa(isa), TQ_OK);
            tq__f32_gemm_entry(tq__get_ukernels())(sh.m, sh.n, sh.k, a,
                                                   (size_t)sh.lda, b,
                                                   (size_t)sh.ldb, c,
                                                   (size_t)sh.ldc);
            tq__f32_gemm_ref(sh.m, sh.n, sh.k, a, (size_t)sh.lda, b,
                             (size_t)sh.ldb, ref, (size_t)sh.ldc);
            for (int x = 0; x < sh.m * sh.n; ++x)
                if (!same_f32(c[x], ref[x]))
                    fail_msg("aligned rows %d, path %s, offset %d, m %d n %d "
                             "k %d lda %d ldb %d: C[%d] = %a, portable %a",
                             i, tq_isa_name(isa), o, sh.m, sh.n, sh.k, sh.lda,
                             sh.ldb, x, (double)c[x], (double)ref[x]);
            free(abuf), free(bbuf), free(c), free(ref);
        }
    }
}

/* The longest reductions, with every product at its extreme. */
static void test_s8_max_reduction(void **state)
{
    (void)state;
    static const int ks[] = {TQ_S8_MAX_REDUCTION, TQ_S8_MAX_REDUCTION - 1,
                             TQ_S8_MAX_REDUCTION - 61, 20001};
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0003u};
        for (int i = 0; i < 16; ++i) {
            shape s;
            s.m = tt_int(&r, 1, 6);
            s.n = tt_int(&r, 1, 20);
            s.k = ks[i % 4];
            s.lda = s.ldb = s.k;
            s.ldc = s.n;
            check_s8_gemm(isa, &s, &r, 1, "max reduction", i);
        }
        /* All products -128 · -128 = 2^14: the largest sum, 2^29. */
        const int k = TQ_S8_MAX_REDUCTION;
        int8_t *a = xmalloc((size_t)k * 3), *b = xmalloc((size_t)k * 17);
        int32_t c[3 * 17];
        memset(a, 0x80, (size_t)k * 3);
        memset(b, 0x80, (size_t)k * 17);
        assert_int_equal(tq_set_isa(isa), TQ_OK);
        tq__get_ukernels()->s8_gemm(3, 17, k, a, (size_t)k, b, (size_t)k, c,
                                    17);
        for (int i = 0; i < 3 * 17; ++i)
            assert_int_equal(c[i], INT32_C(1) << 29);
        memset(b, 0x7f, (size_t)k * 17); /* -128 · 127 each */
        tq__get_ukernels()->s8_gemm(3, 17, k, a, (size_t)k, b, (size_t)k, c,
                                    17);
        for (int i = 0; i < 3 * 17; ++i)
            assert_int_equal(c[i], -128 * 127 * k);
        free(a), free(b);
    }
}


/* ---- public kernels: each path against the portable path --------------- */

/* Runs @p run under the portable path and under every other available
 * path; the bytes it writes to out (out_bytes) must agree. */
typedef void (*kernel_run)(void *ctx, void *out);

static void compare_paths(kernel_run run, void *ctx, size_t out_bytes,
                          const char *what, int idx)
{
    unsigned char *want = xmalloc(out_bytes), *got = xmalloc(out_bytes);
    memset(want, 0xA5, out_bytes);
    assert_int_equal(tq_set_isa(TQ_ISA_PORTABLE), TQ_OK);
    run(ctx, want);
    for (int32_t isa = TQ_ISA_AVX2; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        memset(got, 0xA5, out_bytes);
        assert_int_equal(tq_set_isa(isa), TQ_OK);
        run(ctx, got);
        if (memcmp(got, want, out_bytes) != 0) {
            size_t at = 0;
            while (got[at] == want[at])
                ++at;
            fail_msg("%s %d: path %s differs from portable at byte %zu", what,
                     idx, tq_isa_name(isa), at);
        }
    }
    free(want), free(got);
}

/* Output stages: mostly the usual range, sometimes any legal shift and
 * tiny or extreme multipliers (every branch of the requantization). */
static int32_t pick_multiplier(tt_rng *r)
{
    switch (tt_int(r, 0, 7)) {
    case 0:
        return tt_int(r, 0, 1000);
    case 1:
        return INT32_MAX;
    default:
        return tt_int(r, 1 << 30, INT32_MAX);
    }
}

static int32_t pick_shift(tt_rng *r)
{
    return tt_int(r, 0, 3) ? tt_int(r, -14, 1)
                           : tt_int(r, TQ_SHIFT_MIN, TQ_SHIFT_MAX);
}

/* ---- the output stage entry (s8_finish) ---------------------------------- */

/* An accumulator: full range, the int32 extremes, or near a rounding tie
 * of a small right shift. */
static int32_t pick_acc(tt_rng *r)
{
    switch (tt_int(r, 0, 5)) {
    case 0:
        return tt_int(r, 0, 1) ? INT32_MAX : INT32_MIN;
    case 1:
        return tt_int(r, INT32_MIN, INT32_MAX);
    case 2:
        return tt_int(r, -64, 64);
    default:
        return tt_int(r, -(1 << 20), 1 << 20);
    }
}

/* The s8_finish entry of every path on random blocks (rows, channels,
 * leading dimensions, input offset and bias folds) and random stages of
 * every legal shift and extreme multipliers, both roundings, against the
 * int64 oracle. The weight offset is 0 (the paths' vector case) in most
 * blocks, nonzero in some. */
static void test_s8_finish_entry(void **state)
{
    (void)state;
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        tt_rng r = {0xa4c0009u};
        assert_int_equal(tq_set_isa(isa), TQ_OK);
        const tq__s8_finish_fn finish = tq__s8_finish_entry(tq__get_ukernels());
        for (int it = 0; it < 3000; ++it) {
            const int32_t rows = tt_int(&r, 1, 9), ch = tt_int(&r, 1, 40);
            const int32_t ch0 = tt_int(&r, 0, 7), k = tt_int(&r, 1, 64);
            const size_t ld_acc = (size_t)ch + (size_t)tt_int(&r, 0, 3);
            const size_t ld_out = (size_t)ch + (size_t)tt_int(&r, 0, 3);
            int32_t acc[9 * 43], bias[40], b_sums[40], a_sums[9];
            int8_t out[9 * 43];
            stage st;
            const int per_channel = tt_int(&r, 0, 1);
            for (int32_t c = 0; c < ch0 + ch; ++c) {
                st.mult[c] = pick_multiplier(&r);
                st.shift[c] = pick_shift(&r);
            }
            finish_random_stage(&r, &st, per_channel, 4);
            const int with_bias = tt_int(&r, 0, 1);
            const int32_t ao = tt_int(&r, 0, 1) ? tt_int(&r, -128, 128) : 0;
            const int32_t bo = tt_int(&r, 0, 5) ? 0 : tt_int(&r, -128, 128);
            for (int32_t c = 0; c < ch; ++c) {
                bias[c] = tt_int(&r, 0, 3) ? tt_int(&r, -100000, 100000)
                                           : pick_acc(&r);
                b_sums[c] = tt_int(&r, -128 * k, 127 * k);
            }
            for (int32_t i = 0; i < rows; ++i)
                a_sums[i] = tt_int(&r, -128 * k, 127 * k);
            for (size_t i = 0; i < (size_t)rows * ld_acc; ++i)
                acc[i] = pick_acc(&r);
            /* Without a weight offset the raw sums of real products keep
             * raw + ao·Σb within int32 (the fold's documented range). */
            if (bo == 0 && ao != 0)
                for (int32_t i = 0; i < rows; ++i)
                    for (int32_t c = 0; c < ch; ++c) {
                        int64_t v = acc[(size_t)i * ld_acc + (size_t)c];
                        v = o_clamp(v, -(INT64_C(1) << 30),
                                    INT64_C(1) << 30);
                        acc[(size_t)i * ld_acc + (size_t)c] = (int32_t)v;
                    }
            memset(out, 0x5A, sizeof out);
            const tq__s8_fold f = {ao, bo, k, a_sums, b_sums,
                                   with_bias ? bias : NULL};
            finish(&f, rows, ch, acc, ld_acc, &st.os, ch0, out, ld_out);
            for (int32_t i = 0; i < rows; ++i)
                for (size_t c = 0; c < ld_out; ++c) {
                    const int8_t got = out[(size_t)i * ld_out + c];
                    if (c >= (size_t)ch) {
                        assert_int_equal(got, 0x5A);
                        continue;
                    }
                    int64_t a = acc[(size_t)i * ld_acc + c];
                    a += (int64_t)ao * b_sums[c];
                    a += (int64_t)bo * a_sums[i] + (int64_t)k * ao * bo;
                    if (with_bias)
                        a += bias[c];
                    const int8_t want = o_stage(&st, a, ch0 + (int)c);
                    if (got != want)
                        fail_msg("path %s block %d: row %d ch %zu: got %d, "
                                 "want %d (acc %lld)",
                                 tq_isa_name(isa), it, i, c, got, want,
                                 (long long)a);
                }
        }
    }
}


/* ---- elementwise int8 add ------------------------------------------------ */

/* TFLite ADD of one pair, from the spec in int64 (oracle_s8.h). */
static int8_t o_add(const tq_s8_add_params *p, int8_t a, int8_t b)
{
    const int64_t v1 = ((int64_t)a + p->input1_offset) * (INT64_C(1) << p->left_shift);
    const int64_t v2 = ((int64_t)b + p->input2_offset) * (INT64_C(1) << p->left_shift);
    const int64_t s1 = o_requant(v1, p->input1_multiplier, p->input1_shift, p->rounding);
    const int64_t s2 = o_requant(v2, p->input2_multiplier, p->input2_shift, p->rounding);
    const int64_t r = o_requant(s1 + s2, p->output_multiplier, p->output_shift,
                                p->rounding) + p->output_offset;
    return (int8_t)o_clamp(r, p->act_min, p->act_max);
}

/* Random legal parameters: from real scales most of the time, else any
 * multiplier and shift the kernel accepts (extremes included). */
static void random_add_params(tt_rng *r, tq_s8_add_params *p)
{
    const int32_t rounding = tt_int(r, 0, 1) ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    int32_t lo = tt_int(r, -128, 127), hi = tt_int(r, -128, 127);
    if (lo > hi) {
        const int32_t t = lo;
        lo = hi, hi = t;
    }
    if (tt_int(r, 0, 2) == 0)
        lo = -128, hi = 127;
    if (tt_int(r, 0, 1)) {
        const float s1 = (float)tt_unit(r) * 0.2f + 1e-3f;
        /* Equal scales: both input multipliers 2^30, shift 0. */
        const float s2 = tt_int(r, 0, 3) ? (float)tt_unit(r) * 0.2f + 1e-3f : s1;
        const float so = (float)tt_unit(r) * 0.3f + 1e-3f;
        const int32_t zo = tt_int(r, -128, 127);
        /* A fused ReLU: the clamp starts at the output zero point. */
        if (tt_int(r, 0, 2) == 0)
            lo = zo, hi = 127;
        assert_int_equal(tq_s8_add_params_from_scales(
                             s1, tt_int(r, -128, 127), s2, tt_int(r, -128, 127),
                             so, zo, lo, hi, rounding, p),
                         TQ_OK);
        return;
    }
    p->input1_offset = tt_int(r, -127, 128);
    p->input2_offset = tt_int(r, -127, 128);
    p->input1_multiplier = pick_multiplier(r);
    p->input2_multiplier = pick_multiplier(r);
    p->input1_shift = tt_int(r, 0, 1) ? tt_int(r, TQ_SHIFT_MIN, 0) : tt_int(r, -3, 0);
    p->input2_shift = tt_int(r, 0, 1) ? tt_int(r, TQ_SHIFT_MIN, 0) : tt_int(r, -3, 0);
    p->left_shift = tt_int(r, 0, 1) ? 20 : tt_int(r, 0, 20);
    p->output_multiplier = pick_multiplier(r);
    p->output_shift = pick_shift(r);
    p->output_offset = tt_int(r, -128, 127);
    p->act_min = lo;
    p->act_max = hi;
    p->rounding = rounding;
}

/* tq_s8_add on every path against the oracle: all 65536 input pairs for
 * some parameters, random lengths (vector tails) with exact aliasing for
 * many more. */
static void test_s8_add_paths(void **state)
{
    (void)state;
    const size_t all = 65536;
    int8_t *a = xmalloc(all), *b = xmalloc(all), *out = xmalloc(all + 1);
    for (size_t i = 0; i < all; ++i) {
        a[i] = (int8_t)(i & 0xff);
        b[i] = (int8_t)(i >> 8);
    }
    for (int32_t isa = TQ_ISA_PORTABLE; isa <= ISA_LAST; ++isa) {
        if (!has_isa(isa))
            continue;
        assert_int_equal(tq_set_isa(isa), TQ_OK);
        tt_rng r = {0xadd0001u};
        for (int it = 0; it < 24; ++it) {
            tq_s8_add_params p;
            random_add_params(&r, &p);
            out[all] = 0x5A;
            assert_int_equal(tq_s8_add(all, a, b, &p, out), TQ_OK);
            assert_int_equal(out[all], 0x5A);
            for (size_t i = 0; i < all; ++i)
                if (out[i] != o_add(&p, a[i], b[i]))
                    fail_msg("path %s params %d: add(%d, %d) = %d, want %d",
                             tq_isa_name(isa), it, a[i], b[i], out[i],
                             o_add(&p, a[i], b[i]));
        }
        for (int it = 0; it < 3000; ++it) {
            tq_s8_add_params p;
            random_add_params(&r, &p);
            const size_t n = (size_t)tt_int(&r, 1, 80);
            int8_t x[81], y[81], z[81], want[80];
            for (size_t i = 0; i < n; ++i) {
                x[i] = (int8_t)tt_int(&r, -128, 127);
                y[i] = (int8_t)tt_int(&r, -128, 127);
                want[i] = o_add(&p, x[i], y[i]);
            }
            x[n] = y[n] = z[n] = 0x5A;
            const int alias = tt_int(&r, 0, 2);
            int8_t *dst = alias == 1 ? x : (alias == 2 ? y : z);
            assert_int_equal(tq_s8_add(n, x, y, &p, dst), TQ_OK);
            assert_int_equal(dst[n], 0x5A);
            if (memcmp(dst, want, n) != 0)
                fail_msg("path %s case %d (n %zu): add differs",
                         tq_isa_name(isa), it, n);
        }
    }
    free(a), free(b), free(out);
}

/* A random s8/f32 convolution problem. */
typedef struct conv_case {
    tq_conv_params cp;
    tq_dims in, filter, out, pooled;
    int8_t *x8, *w8;
    float *xf, *wf, *biasf;
    int32_t *bias, mult[64], shift[64];
    int32_t input_offset;
    tq_s8_output os;
    tq_f32_act act;
    int fused; /* groups 1 and a conv output of at least 2 x 2 */
} conv_case;

static int32_t out_extent(int32_t in, int32_t k, int32_t s, int32_t d,
                          int32_t p0, int32_t p1)
{
    const int32_t span = in + p0 + p1 - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

static void fill_conv(tt_rng *r, conv_case *c);

static void make_conv(tt_rng *r, conv_case *c, int lenet)
{
    memset(c, 0, sizeof *c);
    if (lenet) {
        const int second = lenet == 2;
        c->cp = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
        c->in = (tq_dims){tt_int(r, 1, 2), second ? 14 : 32, second ? 14 : 32,
                          second ? 6 : 3};
        c->filter = (tq_dims){second ? 16 : 6, 5, 5, c->in.c};
    } else {
        do {
            const int32_t groups = tt_int(r, 0, 4) ? 1 : tt_int(r, 2, 3);
            c->cp.groups = groups;
            c->cp.stride_h = tt_int(r, 1, 2);
            c->cp.stride_w = tt_int(r, 1, 2);
            c->cp.dilation_h = tt_int(r, 0, 4) ? 1 : 2;
            c->cp.dilation_w = tt_int(r, 0, 4) ? 1 : 2;
            const int32_t kh = tt_int(r, 1, 5), kw = tt_int(r, 1, 5);
            if (tt_int(r, 0, 1)) {
                c->cp.pad_top = tt_int(r, 0, kh - 1);
                c->cp.pad_bottom = tt_int(r, 0, kh - 1);
                c->cp.pad_left = tt_int(r, 0, kw - 1);
                c->cp.pad_right = tt_int(r, 0, kw - 1);
            }
            c->in = (tq_dims){tt_int(r, 1, 2), tt_int(r, 1, 20),
                              tt_int(r, 1, 20), groups * tt_int(r, 1, 9)};
            c->filter =
                (tq_dims){groups * tt_int(r, 1, 24), kh, kw, c->in.c / groups};
            c->out.h = out_extent(c->in.h, kh, c->cp.stride_h, c->cp.dilation_h,
                                  c->cp.pad_top, c->cp.pad_bottom);
            c->out.w = out_extent(c->in.w, kw, c->cp.stride_w, c->cp.dilation_w,
                                  c->cp.pad_left, c->cp.pad_right);
        } while (c->out.h < 1 || c->out.w < 1);
    }
    c->out =
        (tq_dims){c->in.n,
                  out_extent(c->in.h, c->filter.h, c->cp.stride_h,
                             c->cp.dilation_h, c->cp.pad_top, c->cp.pad_bottom),
                  out_extent(c->in.w, c->filter.w, c->cp.stride_w,
                             c->cp.dilation_w, c->cp.pad_left, c->cp.pad_right),
                  c->filter.n};
    fill_conv(r, c);
}

/* The data and output stage of a case whose geometry is set. */
static void fill_conv(tt_rng *r, conv_case *c)
{
    c->pooled = (tq_dims){c->out.n, c->out.h / 2, c->out.w / 2, c->out.c};
    c->fused = c->cp.groups == 1 && c->out.h >= 2 && c->out.w >= 2;
    const size_t nx = (size_t)c->in.n * c->in.h * c->in.w * c->in.c;
    const size_t nw =
        (size_t)c->filter.n * c->filter.h * c->filter.w * c->filter.c;
    c->x8 = xmalloc(nx);
    c->w8 = xmalloc(nw);
    c->xf = xmalloc(nx * 4);
    c->wf = xmalloc(nw * 4);
    c->bias = xmalloc((size_t)c->filter.n * 4);
    c->biasf = xmalloc((size_t)c->filter.n * 4);
    fill_s8(r, c->x8, nx, tt_int(r, 0, 4) ? 0 : 1);
    fill_s8(r, c->w8, nw, tt_int(r, 0, 4) ? 0 : 1);
    fill_f32(r, c->xf, nx, 0);
    fill_f32(r, c->wf, nw, 0);
    for (int32_t i = 0; i < c->filter.n; ++i) {
        c->bias[i] = tt_int(r, -20000, 20000);
        c->biasf[i] = tt_float(r, -0.5f, 0.5f);
    }
    const int32_t channels = c->filter.n < 64 ? c->filter.n : 64;
    for (int32_t i = 0; i < channels; ++i) {
        c->mult[i] = pick_multiplier(r);
        c->shift[i] = pick_shift(r);
    }
    c->input_offset =
        tt_int(r, 0, 3) ? tt_int(r, -127, 128) : (tt_int(r, 0, 1) ? -127 : 128);
    const int32_t zp = tt_int(r, -128, 127);
    c->os = (tq_s8_output){c->mult,
                           c->shift,
                           c->filter.n <= 64,
                           tt_int(r, 0, 1) ? TQ_ROUND_DOUBLE : TQ_ROUND_SINGLE,
                           zp,
                           tt_int(r, 0, 1) ? zp : -128,
                           127};
    c->act = (tq_f32_act){tt_int(r, 0, 1) ? 0.0f : -INFINITY, INFINITY};
}

static void free_conv(conv_case *c)
{
    free(c->x8), free(c->w8), free(c->xf), free(c->wf), free(c->bias);
    free(c->biasf);
}

static size_t dims_count(const tq_dims *d)
{
    return (size_t)d->n * d->h * d->w * d->c;
}

static void run_s8_conv(void *ctx, void *out)
{
    conv_case *c = ctx;
    size_t bytes = 0;
    assert_int_equal(
        tq_s8_conv2d_scratch_size(&c->cp, &c->in, &c->filter, &c->out, &bytes),
        TQ_OK);
    void *scratch = xmalloc(bytes);
    assert_int_equal(tq_s8_conv2d(&c->cp, &c->in, c->x8, c->input_offset,
                                  &c->filter, c->w8, c->bias, &c->os, &c->out,
                                  out, scratch, bytes),
                     TQ_OK);
    free(scratch);
}

static void run_s8_fused(void *ctx, void *out)
{
    conv_case *c = ctx;
    size_t bytes = 0;
    assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(
                         &c->cp, &c->in, &c->filter, &c->pooled, &bytes),
                     TQ_OK);
    void *scratch = xmalloc(bytes);
    assert_int_equal(
        tq_s8_conv2d_relu_maxpool2(&c->cp, &c->in, c->x8, c->input_offset,
                                   &c->filter, c->w8, c->bias, &c->os,
                                   &c->pooled, out, scratch, bytes),
        TQ_OK);
    free(scratch);
}

static void run_f32_conv(void *ctx, void *out)
{
    conv_case *c = ctx;
    size_t bytes = 0;
    assert_int_equal(
        tq_f32_conv2d_scratch_size(&c->cp, &c->in, &c->filter, &c->out, &bytes),
        TQ_OK);
    void *scratch = bytes ? xmalloc(bytes) : NULL;
    assert_int_equal(tq_f32_conv2d(&c->cp, &c->in, c->xf, &c->filter, c->wf,
                                   c->biasf, &c->act, &c->out, out, scratch,
                                   bytes),
                     TQ_OK);
    free(scratch);
}

static void run_f32_fused(void *ctx, void *out)
{
    conv_case *c = ctx;
    size_t bytes = 0;
    assert_int_equal(tq_f32_conv2d_relu_maxpool2_scratch_size(
                         &c->cp, &c->in, &c->filter, &c->pooled, &bytes),
                     TQ_OK);
    void *scratch = xmalloc(bytes);
    assert_int_equal(tq_f32_conv2d_relu_maxpool2(
                         &c->cp, &c->in, c->xf, &c->filter, c->wf, c->biasf,
                         &c->act, &c->pooled, out, scratch, bytes),
                     TQ_OK);
    free(scratch);
}

static void test_conv_paths(void **state)
{
    (void)state;
    tt_rng r = {0xa4c0004u};
    for (int i = 0; i < 120; ++i) {
        conv_case c;
        make_conv(&r, &c, i < 8 ? 1 + i % 2 : 0);
        compare_paths(run_s8_conv, &c, dims_count(&c.out), "s8 conv2d", i);
        compare_paths(run_f32_conv, &c, dims_count(&c.out) * 4, "f32 conv2d",
                      i);
        if (c.fused) {
            compare_paths(run_s8_fused, &c, dims_count(&c.pooled),
                          "s8 conv+relu+maxpool", i);
            compare_paths(run_f32_fused, &c, dims_count(&c.pooled) * 4,
                          "f32 conv+relu+maxpool", i);
        }
        free_conv(&c);
    }
}

/* Wide and narrow fused convolutions: every lane grouping of the direct
 * kernel (1, 2 or 4 pixels per vector for up to 16, 8 or 4 channels),
 * several passes per row with odd and even counts of columns, padding,
 * strides, and more than one block of 16 channels. */
static void test_fused_widths(void **state)
{
    (void)state;
    tt_rng r = {0xa4c0006u};
    for (int i = 0; i < 90; ++i) {
        conv_case c;
        memset(&c, 0, sizeof c);
        const int32_t kh = tt_int(&r, 1, 5), kw = tt_int(&r, 1, 5);
        c.cp = (tq_conv_params){tt_int(&r, 1, 2),
                                tt_int(&r, 1, 2),
                                0,
                                0,
                                0,
                                0,
                                tt_int(&r, 0, 3) ? 1 : 2,
                                1,
                                1};
        if (i % 3 == 0) {
            c.cp.pad_top = c.cp.pad_bottom = kh / 2;
            c.cp.pad_left = tt_int(&r, 0, kw - 1);
            c.cp.pad_right = tt_int(&r, 0, kw - 1);
        }
        c.in = (tq_dims){tt_int(&r, 1, 2), tt_int(&r, 2 * kh + 2, 12),
                         tt_int(&r, 2 * kw + 2, 100), tt_int(&r, 1, 6)};
        c.filter =
            (tq_dims){1 + i % 20 + (i % 7 == 0 ? 20 : 0), kh, kw, c.in.c};
        c.out = (tq_dims){c.in.n,
                          out_extent(c.in.h, kh, c.cp.stride_h, c.cp.dilation_h,
                                     c.cp.pad_top, c.cp.pad_bottom),
                          out_extent(c.in.w, kw, c.cp.stride_w, 1,
                                     c.cp.pad_left, c.cp.pad_right),
                          c.filter.n};
        fill_conv(&r, &c);
        if (c.pooled.h >= 1 && c.pooled.w >= 1)
            compare_paths(run_s8_fused, &c, dims_count(&c.pooled),
                          "s8 conv+relu+maxpool (widths)", i);
        free_conv(&c);
    }
}

/* GEMMs and fully connected layers through the public API. */
typedef struct gemm_case {
    int32_t m, n, k, ao, bo;
    int8_t *a8, *b8;
    float *af, *bf, *biasf;
    int32_t *bias, mult[300], shift[300];
    tq_s8_output os;
    tq_f32_act act;
} gemm_case;

static void run_s8_gemm_s32(void *ctx, void *out)
{
    gemm_case *g = ctx;
    assert_int_equal(tq_s8_gemm_s32(g->m, g->n, g->k, g->a8, g->k, g->ao, g->b8,
                                    g->k, g->bo, g->bias, out, g->n),
                     TQ_OK);
}

static void run_s8_gemm(void *ctx, void *out)
{
    gemm_case *g = ctx;
    assert_int_equal(tq_s8_gemm(g->m, g->n, g->k, g->a8, g->k, g->ao, g->b8,
                                g->k, g->bo, g->bias, &g->os, out, g->n, NULL,
                                0),
                     TQ_OK);
}

static void run_s8_fc(void *ctx, void *out)
{
    gemm_case *g = ctx;
    const int32_t io = g->ao == -128 ? -127 : g->ao;
    assert_int_equal(tq_s8_fully_connected(g->m, g->k, g->n, g->a8, io, g->b8,
                                           g->bo, g->bias, &g->os, out),
                     TQ_OK);
}

static void run_f32_gemm(void *ctx, void *out)
{
    gemm_case *g = ctx;
    assert_int_equal(tq_f32_gemm(g->m, g->n, g->k, g->af, g->k, g->bf, g->k,
                                 g->biasf, &g->act, out, g->n),
                     TQ_OK);
}

static void run_f32_fc(void *ctx, void *out)
{
    gemm_case *g = ctx;
    assert_int_equal(tq_f32_fully_connected(g->m, g->k, g->n, g->af, g->bf,
                                            g->biasf, &g->act, out),
                     TQ_OK);
}

static void test_gemm_paths(void **state)
{
    (void)state;
    tt_rng r = {0xa4c0005u};
    /* LeNet's fully connected shapes, then one whose B rows span two of
     * the AVX-512 f32 GEMM's 1 MiB blocks (k = 1030: 240 rows a block). */
    static const int32_t lenet[][3] = {{1, 120, 400}, {1, 84, 120},
                                       {1, 10, 84},   {64, 120, 400},
                                       {64, 84, 120}, {64, 10, 84},
                                       {7, 300, 1030}};
    const int fixed = (int)(sizeof lenet / sizeof lenet[0]);
    for (int i = 0; i < 90; ++i) {
        gemm_case g;
        if (i < fixed) {
            g.m = lenet[i][0], g.n = lenet[i][1], g.k = lenet[i][2];
        } else {
            g.m = pick_size(&r), g.n = pick_size(&r), g.k = pick_size(&r);
        }
        g.ao = tt_int(&r, 0, 2) ? tt_int(&r, -128, 128) : 0;
        g.bo = tt_int(&r, 0, 2) ? 0 : tt_int(&r, -128, 128);
        const size_t na = (size_t)g.m * g.k, nb = (size_t)g.n * g.k;
        g.a8 = xmalloc(na), g.b8 = xmalloc(nb);
        g.af = xmalloc(na * 4), g.bf = xmalloc(nb * 4);
        g.bias = xmalloc((size_t)g.n * 4), g.biasf = xmalloc((size_t)g.n * 4);
        fill_s8(&r, g.a8, na, i % 3);
        fill_s8(&r, g.b8, nb, i % 3);
        fill_f32(&r, g.af, na, i % 3);
        fill_f32(&r, g.bf, nb, i % 3);
        for (int32_t j = 0; j < g.n; ++j) {
            g.bias[j] = tt_int(&r, -100000, 100000);
            g.biasf[j] = tt_float(&r, -1.0f, 1.0f);
            g.mult[j] = pick_multiplier(&r);
            g.shift[j] = pick_shift(&r);
        }
        g.os =
            (tq_s8_output){g.mult,
                           g.shift,
                           tt_int(&r, 0, 1),
                           tt_int(&r, 0, 1) ? TQ_ROUND_DOUBLE : TQ_ROUND_SINGLE,
                           tt_int(&r, -128, 127),
                           -128,
                           127};
        g.act = (tq_f32_act){-INFINITY, tt_int(&r, 0, 1) ? 0.25f : INFINITY};
        const size_t nc = (size_t)g.m * g.n;
        compare_paths(run_s8_gemm_s32, &g, nc * 4, "s8 gemm_s32", i);
        compare_paths(run_s8_gemm, &g, nc, "s8 gemm", i);
        compare_paths(run_s8_fc, &g, nc, "s8 fully connected", i);
        compare_paths(run_f32_gemm, &g, nc * 4, "f32 gemm", i);
        compare_paths(run_f32_fc, &g, nc * 4, "f32 fully connected", i);
        free(g.a8), free(g.b8), free(g.af), free(g.bf), free(g.bias);
        free(g.biasf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_choice), /* first: sees the first use */
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_s8_microkernels),
        cmocka_unit_test(test_f32_microkernels),
        cmocka_unit_test(test_s8_large),
        cmocka_unit_test(test_f32_aligned_rows),
        cmocka_unit_test(test_s8_max_reduction),
        cmocka_unit_test(test_s8_finish_entry),
        cmocka_unit_test(test_s8_add_paths),
        cmocka_unit_test(test_gemm_paths),
        cmocka_unit_test(test_conv_paths),
        cmocka_unit_test(test_fused_widths),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
