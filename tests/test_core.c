/*
 * Tests of the core unit: status messages, version, tensor descriptors and
 * counts, layout conversions, the conv output-size formula, and the heap
 * helper. Every oracle here is written independently of the library.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "testutil.h"

#define SENTINEL 0xA5

static void fill_sentinel(void *p, size_t n)
{
    memset(p, SENTINEL, n);
}

static int is_sentinel(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != SENTINEL)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* status                                                              */
/* ------------------------------------------------------------------ */

static void test_status_messages(void **state)
{
    (void)state;
    const char *msgs[TQ_ERR_NO_MEMORY + 1];
    for (int code = TQ_OK; code <= TQ_ERR_NO_MEMORY; ++code) {
        msgs[code] = tq_status_message((tq_status)code);
        assert_non_null(msgs[code]);
        assert_true(strlen(msgs[code]) > 0);
        assert_string_not_equal(msgs[code], "unknown status");
        for (int prev = TQ_OK; prev < code; ++prev)
            assert_string_not_equal(msgs[prev], msgs[code]);
    }
    const int unknown[] = {TQ_ERR_NO_MEMORY + 1, 100, -1, INT32_MIN,
                           INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; ++i) {
        const char *m = tq_status_message((tq_status)unknown[i]);
        assert_non_null(m);
        assert_string_equal(m, "unknown status");
    }
}

/* ------------------------------------------------------------------ */
/* version                                                             */
/* ------------------------------------------------------------------ */

static void test_version(void **state)
{
    (void)state;
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", TQ_VERSION_MAJOR,
             TQ_VERSION_MINOR, TQ_VERSION_PATCH);
    assert_non_null(tq_version_string());
    assert_string_equal(tq_version_string(), expect);
    assert_int_equal(tq_version_number(), (uint32_t)TQ_VERSION_NUMBER);

    /* The number decodes to the string's parts. */
    unsigned maj = 99, min = 99, pat = 99;
    assert_int_equal(sscanf(tq_version_string(), "%u.%u.%u", &maj, &min, &pat),
                     3);
    assert_int_equal(tq_version_number(), maj * 10000u + min * 100u + pat);
    assert_int_equal(tq_version_number() / 10000u, (uint32_t)TQ_VERSION_MAJOR);
}

/* ------------------------------------------------------------------ */
/* tensor descriptors and counts                                       */
/* ------------------------------------------------------------------ */

static void test_dtype_size(void **state)
{
    (void)state;
    assert_int_equal(tq_dtype_size(TQ_F32), 4);
    assert_int_equal(tq_dtype_size(TQ_S8), 1);
    assert_int_equal(tq_dtype_size(TQ_S32), 4);
    assert_int_equal(tq_dtype_size(TQ_S16), 2);
    assert_int_equal(tq_dtype_size(TQ_S64), 8);
    assert_int_equal(TQ_S16, 4);
    assert_int_equal(TQ_S64, 5);
    assert_int_equal(tq_dtype_size(0), 0);
    assert_int_equal(tq_dtype_size(6), 0);
    assert_int_equal(tq_dtype_size(-1), 0);
    assert_int_equal(tq_dtype_size(INT32_MAX), 0);
}

static void test_tensor_init_ok(void **state)
{
    (void)state;
    float buf[2 * 3 * 4 * 5];
    tq_tensor t;

    /* Scalar: shape may be NULL. */
    memset(&t, SENTINEL, sizeof t);
    assert_int_equal(tq_tensor_init(&t, buf, TQ_F32, 0, NULL), TQ_OK);
    size_t n = 77, b = 77;
    assert_ptr_equal(t.data, buf);
    assert_int_equal(t.dtype, TQ_F32);
    assert_int_equal(t.ndim, 0);
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
    assert_int_equal(b, 4);

    const int64_t s4[4] = {2, 3, 4, 5};
    assert_int_equal(tq_tensor_init(&t, buf, TQ_S32, 4, s4), TQ_OK);
    assert_int_equal(t.ndim, 4);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(t.shape[i], s4[i]);
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_OK);
    assert_int_equal(n, 120);
    assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
    assert_int_equal(b, 480);
    t.dtype = TQ_S8;
    assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
    assert_int_equal(b, 120);

    /* Zero extents: empty, and then data may be NULL. */
    const int64_t z[3] = {4, 0, 9};
    assert_int_equal(tq_tensor_init(&t, NULL, TQ_F32, 3, z), TQ_OK);
    assert_null(t.data);
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
    assert_int_equal(b, 0);

    /* A zero extent makes the product 0 even beside huge extents. */
    const int64_t zh[4] = {INT64_C(1) << 40, 0, INT64_C(1) << 40, 3};
    assert_int_equal(tq_tensor_init(&t, NULL, TQ_S8, 4, zh), TQ_OK);
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_OK);
    assert_int_equal(n, 0);

    /* Random shapes: count and bytes against a product in uint64. */
    tt_rng rng = {11};
    for (int it = 0; it < 500; ++it) {
        const int32_t nd = tt_int(&rng, 0, 4);
        const int32_t dt = tt_int(&rng, 1, 3);
        int64_t sh[4];
        uint64_t prod = 1;
        for (int i = 0; i < nd; ++i) {
            sh[i] = tt_int(&rng, 0, 40);
            prod *= (uint64_t)sh[i];
        }
        const uint64_t esz = dt == TQ_S8 ? 1 : 4;
        assert_int_equal(tq_tensor_init(&t, buf, dt, nd, sh), TQ_OK);
        assert_int_equal(tq_tensor_numel(&t, &n), TQ_OK);
        assert_int_equal(n, prod);
        assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
        assert_int_equal(b, prod * esz);
        size_t n2 = 0;
        assert_int_equal(tq_shape_numel(nd, sh, &n2), TQ_OK);
        assert_int_equal(n2, prod);
    }
}

static void test_tensor_init_errors(void **state)
{
    (void)state;
    float buf[16];
    tq_tensor t, snap;
    memset(&t, SENTINEL, sizeof t);
    memcpy(&snap, &t, sizeof t);
    const int64_t ok[2] = {2, 3};

#define EXPECT_INIT(status, ...)                                        \
    do {                                                                \
        assert_int_equal(tq_tensor_init(__VA_ARGS__), (status));        \
        assert_memory_equal(&t, &snap, sizeof t);                       \
    } while (0)

    assert_int_equal(tq_tensor_init(NULL, buf, TQ_F32, 2, ok), TQ_ERR_NULL);
    EXPECT_INIT(TQ_ERR_NULL, &t, buf, TQ_F32, 2, NULL);
    EXPECT_INIT(TQ_ERR_NULL, &t, NULL, TQ_F32, 2, ok);
    EXPECT_INIT(TQ_ERR_NULL, &t, NULL, TQ_F32, 0, NULL); /* a scalar has 1 */
    EXPECT_INIT(TQ_ERR_DTYPE, &t, buf, 0, 2, ok);
    EXPECT_INIT(TQ_ERR_DTYPE, &t, buf, 6, 2, ok);
    EXPECT_INIT(TQ_ERR_DTYPE, &t, buf, -3, 2, ok);
    EXPECT_INIT(TQ_ERR_SHAPE, &t, buf, TQ_F32, -1, ok);
    EXPECT_INIT(TQ_ERR_SHAPE, &t, buf, TQ_F32, 5, ok);
    const int64_t neg[3] = {2, -1, 3};
    EXPECT_INIT(TQ_ERR_SHAPE, &t, buf, TQ_F32, 3, neg);
    const int64_t neg0[3] = {0, -1, 3}; /* negative wins over empty */
    EXPECT_INIT(TQ_ERR_SHAPE, &t, buf, TQ_F32, 3, neg0);
    const int64_t big[2] = {INT64_C(1) << 62, 8};
    EXPECT_INIT(TQ_ERR_OVERFLOW, &t, buf, TQ_S8, 2, big);
    /* Elements fit, bytes do not: 2^62 floats. */
    const int64_t big_bytes[1] = {INT64_C(1) << 62};
    EXPECT_INIT(TQ_ERR_OVERFLOW, &t, buf, TQ_F32, 1, big_bytes);
    const int64_t maxes[4] = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    EXPECT_INIT(TQ_ERR_OVERFLOW, &t, buf, TQ_S8, 4, maxes);
#undef EXPECT_INIT
}

static void test_numel_errors(void **state)
{
    (void)state;
    size_t n;
    tq_tensor t = {0};
    t.dtype = TQ_F32;

    fill_sentinel(&n, sizeof n);
    assert_int_equal(tq_tensor_numel(NULL, &n), TQ_ERR_NULL);
    assert_int_equal(tq_tensor_numel(&t, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_tensor_nbytes(NULL, &n), TQ_ERR_NULL);
    assert_int_equal(tq_tensor_nbytes(&t, NULL), TQ_ERR_NULL);
    t.ndim = -1;
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_ERR_SHAPE);
    assert_int_equal(tq_tensor_nbytes(&t, &n), TQ_ERR_SHAPE);
    t.ndim = 5;
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_ERR_SHAPE);
    t.ndim = 2;
    t.shape[0] = 3;
    t.shape[1] = -4;
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_ERR_SHAPE);
    t.shape[1] = INT64_C(1) << 62;
    t.dtype = TQ_S8;
    size_t ok = 0;
    if (SIZE_MAX == UINT64_MAX) {
        assert_int_equal(tq_tensor_numel(&t, &ok), TQ_OK);
        assert_int_equal(tq_tensor_nbytes(&t, &ok), TQ_OK);
        assert_true(ok == (size_t)(UINT64_C(3) << 62));
    }
    t.dtype = TQ_S32;
    assert_int_equal(tq_tensor_nbytes(&t, &n), TQ_ERR_OVERFLOW);
    t.dtype = 9;
    assert_int_equal(tq_tensor_nbytes(&t, &n), TQ_ERR_DTYPE);
    t.shape[0] = 8;
    t.dtype = TQ_S8;
    assert_int_equal(tq_tensor_numel(&t, &n), TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(&n, sizeof n));

    /* Entries past ndim are ignored, even garbage. */
    t.ndim = 1;
    t.shape[0] = 6;
    t.shape[1] = -1;
    t.shape[2] = INT64_MAX;
    assert_int_equal(tq_tensor_numel(&t, &ok), TQ_OK);
    assert_int_equal(ok, 6);
}

static void test_shape_numel(void **state)
{
    (void)state;
    int64_t sh[65];
    size_t n;

    for (int i = 0; i < 65; ++i)
        sh[i] = 1;
    assert_int_equal(tq_shape_numel(0, NULL, &n), TQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tq_shape_numel(64, sh, &n), TQ_OK);
    assert_int_equal(n, 1);

    fill_sentinel(&n, sizeof n);
    assert_int_equal(tq_shape_numel(65, sh, &n), TQ_ERR_SHAPE);
    assert_int_equal(tq_shape_numel(-1, sh, &n), TQ_ERR_SHAPE);
    assert_int_equal(tq_shape_numel(2, NULL, &n), TQ_ERR_NULL);
    assert_int_equal(tq_shape_numel(2, sh, NULL), TQ_ERR_NULL);
    assert_true(is_sentinel(&n, sizeof n));

    /* Exactly at the size_t limit. */
    if (SIZE_MAX == UINT64_MAX) {
        for (int i = 0; i < 64; ++i)
            sh[i] = 2;
        fill_sentinel(&n, sizeof n);
        assert_int_equal(tq_shape_numel(64, sh, &n), TQ_ERR_OVERFLOW);
        assert_true(is_sentinel(&n, sizeof n));
        assert_int_equal(tq_shape_numel(63, sh, &n), TQ_OK);
        assert_true(n == (size_t)1 << 63);
        const int64_t a[2] = {INT64_C(1) << 32, INT64_C(1) << 32};
        assert_int_equal(tq_shape_numel(2, a, &n), TQ_ERR_OVERFLOW);
        const int64_t b[2] = {INT64_C(1) << 32, (INT64_C(1) << 32) - 1};
        assert_int_equal(tq_shape_numel(2, b, &n), TQ_OK);
        assert_true(n == (size_t)(UINT64_MAX - UINT32_MAX));
        const int64_t c[2] = {INT64_MAX, 2};
        assert_int_equal(tq_shape_numel(2, c, &n), TQ_OK);
        assert_true(n == (size_t)(UINT64_MAX - 1));
        const int64_t d[3] = {INT64_MAX, 2, 0};
        assert_int_equal(tq_shape_numel(3, d, &n), TQ_OK);
        assert_int_equal(n, 0);
        const int64_t e[3] = {INT64_MAX, 3, 1};
        assert_int_equal(tq_shape_numel(3, e, &n), TQ_ERR_OVERFLOW);
    }

    /* Random shapes against a product in long double: it decides overflow
     * reliably away from the limit; the band near 2^64 is checked only for
     * consistency with the exact integer count. */
    tt_rng rng = {12};
    for (int it = 0; it < 3000; ++it) {
        const int32_t nd = tt_int(&rng, 0, 64);
        long double prod = 1.0L;
        int has_zero = 0;
        for (int i = 0; i < nd; ++i) {
            const int kind = tt_int(&rng, 0, 9);
            sh[i] = kind == 0 ? 0 : (kind < 6 ? 1 : tt_int(&rng, 1, 1 << 20));
            prod *= (long double)sh[i];
            has_zero |= sh[i] == 0;
        }
        if (tt_int(&rng, 0, 20) == 0 && nd > 0) {
            sh[tt_int(&rng, 0, nd - 1)] = -tt_int(&rng, 1, 5);
            assert_int_equal(tq_shape_numel(nd, sh, &n), TQ_ERR_SHAPE);
            continue;
        }
        const tq_status s = tq_shape_numel(nd, sh, &n);
        const long double lim = (long double)SIZE_MAX;
        if (has_zero) {
            assert_int_equal(s, TQ_OK);
            assert_int_equal(n, 0);
        } else if (prod < lim * 0.5L) {
            assert_int_equal(s, TQ_OK);
            assert_true((long double)n == prod);
        } else if (prod > lim * 2.0L) {
            assert_int_equal(s, TQ_ERR_OVERFLOW);
        }
    }
}

/* ------------------------------------------------------------------ */
/* layouts                                                             */
/* ------------------------------------------------------------------ */

typedef tq_status (*layout_fn)(const tq_tensor *, tq_tensor *);

/* Index oracles: given the input shape s and an output multi-index, the
 * linear input index, from each layout's definition. */
typedef enum { L_NCHW_NHWC, L_NHWC_NCHW, L_OIHW_OHWI, L_OIHW_DW } layout_kind;

static const char *layout_name(layout_kind k)
{
    switch (k) {
    case L_NCHW_NHWC:
        return "nchw_to_nhwc";
    case L_NHWC_NCHW:
        return "nhwc_to_nchw";
    case L_OIHW_OHWI:
        return "oihw_to_ohwi";
    default:
        return "oihw_to_dw";
    }
}

static layout_fn layout_func(layout_kind k)
{
    switch (k) {
    case L_NCHW_NHWC:
        return tq_nchw_to_nhwc;
    case L_NHWC_NCHW:
        return tq_nhwc_to_nchw;
    case L_OIHW_OHWI:
        return tq_oihw_to_ohwi;
    default:
        return tq_oihw_to_dw;
    }
}

/* Output shape for an input shape. */
static void layout_out_shape(layout_kind k, const int64_t *s, int64_t *o)
{
    switch (k) {
    case L_NCHW_NHWC: /* N C H W -> N H W C */
    case L_OIHW_OHWI: /* O I H W -> O H W I */
        o[0] = s[0], o[1] = s[2], o[2] = s[3], o[3] = s[1];
        break;
    case L_NHWC_NCHW: /* N H W C -> N C H W */
        o[0] = s[0], o[1] = s[3], o[2] = s[1], o[3] = s[2];
        break;
    default: /* CM 1 H W -> 1 H W CM */
        o[0] = 1, o[1] = s[2], o[2] = s[3], o[3] = s[0];
        break;
    }
}

/* Source (input) linear index of output element (a, b, c, d). */
static size_t layout_src_index(layout_kind k, const int64_t *s, size_t a,
                               size_t b, size_t c, size_t d)
{
    switch (k) {
    case L_NCHW_NHWC: {
        /* out[n][h][w][ch] = in[n][ch][h][w] */
        const size_t C = (size_t)s[1], H = (size_t)s[2], W = (size_t)s[3];
        const size_t n = a, h = b, w = c, ch = d;
        return ((n * C + ch) * H + h) * W + w;
    }
    case L_OIHW_OHWI: {
        /* out[o][h][w][i] = in[o][i][h][w] */
        const size_t I = (size_t)s[1], H = (size_t)s[2], W = (size_t)s[3];
        const size_t o = a, h = b, w = c, i = d;
        return ((o * I + i) * H + h) * W + w;
    }
    case L_NHWC_NCHW: {
        /* out[n][ch][h][w] = in[n][h][w][ch] */
        const size_t H = (size_t)s[1], W = (size_t)s[2], C = (size_t)s[3];
        const size_t n = a, ch = b, h = c, w = d;
        return ((n * H + h) * W + w) * C + ch;
    }
    default: {
        /* out[0][h][w][o] = in[o][0][h][w] */
        const size_t H = (size_t)s[2], W = (size_t)s[3];
        const size_t h = b, w = c, o = d;
        (void)a;
        return (o * H + h) * W + w;
    }
    }
}

static const int32_t all_dtypes[5] = {TQ_F32, TQ_S8, TQ_S32, TQ_S16, TQ_S64};

static void random_layout_shape(tt_rng *rng, layout_kind k, int64_t *s)
{
    for (int i = 0; i < 4; ++i) {
        /* Mostly small, often 1, sometimes a longer axis. */
        const int kind = tt_int(rng, 0, 9);
        s[i] = kind < 2 ? 1 : (kind < 9 ? tt_int(rng, 2, 7) : tt_int(rng, 8, 33));
    }
    if (k == L_OIHW_DW)
        s[1] = 1;
}

static void check_layout_random(layout_kind k)
{
    const uint64_t seed = 1000 + (uint64_t)k;
    tt_rng rng = {seed};
    for (int it = 0; it < 300; ++it) {
        const int32_t dt = all_dtypes[it % 5];
        const size_t esz = tq_dtype_size(dt);
        int64_t s[4], o[4];
        random_layout_shape(&rng, k, s);
        layout_out_shape(k, s, o);
        const size_t n = (size_t)(s[0] * s[1] * s[2] * s[3]);
        unsigned char *in = malloc(n * esz);
        unsigned char *out = malloc(n * esz + 16);
        assert_non_null(in);
        assert_non_null(out);
        for (size_t i = 0; i < n * esz; ++i)
            in[i] = (unsigned char)tt_next(&rng);
        fill_sentinel(out, n * esz + 16);

        tq_tensor ti, to;
        assert_int_equal(tq_tensor_init(&ti, in, dt, 4, s), TQ_OK);
        assert_int_equal(tq_tensor_init(&to, out, dt, 4, o), TQ_OK);
        const tq_status st = layout_func(k)(&ti, &to);
        if (st != TQ_OK) {
            print_message("%s seed %llu it %d dtype %d shape {%lld,%lld,%lld,"
                          "%lld}: status %d\n",
                          layout_name(k), (unsigned long long)seed, it, dt,
                          (long long)s[0], (long long)s[1], (long long)s[2],
                          (long long)s[3], st);
            fail();
        }
        size_t pos = 0;
        for (size_t a = 0; a < (size_t)o[0]; ++a)
            for (size_t b = 0; b < (size_t)o[1]; ++b)
                for (size_t c = 0; c < (size_t)o[2]; ++c)
                    for (size_t d = 0; d < (size_t)o[3]; ++d, ++pos) {
                        const size_t src = layout_src_index(k, s, a, b, c, d);
                        if (memcmp(out + pos * esz, in + src * esz, esz) != 0) {
                            print_message(
                                "%s seed %llu it %d dtype %d shape {%lld,%lld,"
                                "%lld,%lld}: out[%zu,%zu,%zu,%zu] wrong\n",
                                layout_name(k), (unsigned long long)seed, it,
                                dt, (long long)s[0], (long long)s[1],
                                (long long)s[2], (long long)s[3], a, b, c, d);
                            fail();
                        }
                    }
        /* Nothing written past the end. */
        assert_true(is_sentinel(out + n * esz, 16));
        free(in);
        free(out);
    }
}

static void test_layout_nchw_to_nhwc(void **state)
{
    (void)state;
    check_layout_random(L_NCHW_NHWC);
}

static void test_layout_nhwc_to_nchw(void **state)
{
    (void)state;
    check_layout_random(L_NHWC_NCHW);
}

static void test_layout_oihw_to_ohwi(void **state)
{
    (void)state;
    check_layout_random(L_OIHW_OHWI);
}

static void test_layout_oihw_to_dw(void **state)
{
    (void)state;
    check_layout_random(L_OIHW_DW);
}

static void test_layout_round_trip(void **state)
{
    (void)state;
    tt_rng rng = {77};
    for (int it = 0; it < 100; ++it) {
        const int32_t dt = all_dtypes[it % 5];
        const size_t esz = tq_dtype_size(dt);
        int64_t s[4], o[4];
        random_layout_shape(&rng, L_NCHW_NHWC, s);
        layout_out_shape(L_NCHW_NHWC, s, o);
        const size_t bytes = (size_t)(s[0] * s[1] * s[2] * s[3]) * esz;
        unsigned char *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
        assert_true(a && b && c);
        for (size_t i = 0; i < bytes; ++i)
            a[i] = (unsigned char)tt_next(&rng);
        tq_tensor ta, tb, tc;
        assert_int_equal(tq_tensor_init(&ta, a, dt, 4, s), TQ_OK);
        assert_int_equal(tq_tensor_init(&tb, b, dt, 4, o), TQ_OK);
        assert_int_equal(tq_tensor_init(&tc, c, dt, 4, s), TQ_OK);
        assert_int_equal(tq_nchw_to_nhwc(&ta, &tb), TQ_OK);
        assert_int_equal(tq_nhwc_to_nchw(&tb, &tc), TQ_OK);
        assert_memory_equal(a, c, bytes);
        free(a);
        free(b);
        free(c);
    }
}

static void test_layout_empty(void **state)
{
    (void)state;
    for (int k = L_NCHW_NHWC; k <= L_OIHW_DW; ++k) {
        int64_t s[4] = {0, 3, 4, 5}, o[4];
        if (k == L_OIHW_DW)
            s[1] = 1;
        layout_out_shape((layout_kind)k, s, o);
        tq_tensor ti, to;
        assert_int_equal(tq_tensor_init(&ti, NULL, TQ_F32, 4, s), TQ_OK);
        assert_int_equal(tq_tensor_init(&to, NULL, TQ_F32, 4, o), TQ_OK);
        assert_int_equal(layout_func((layout_kind)k)(&ti, &to), TQ_OK);
    }
}

/* Every error path of one conversion, each leaving the output sentinel. */
static void check_layout_errors(layout_kind k)
{
    int64_t s[4] = {2, 3, 4, 5}, o[4];
    if (k == L_OIHW_DW)
        s[1] = 1;
    layout_out_shape(k, s, o);
    const size_t n = (size_t)(s[0] * s[1] * s[2] * s[3]);
    /* One arena for in and out so the alias cases can point into it. */
    float *arena = malloc(3 * n * sizeof(float));
    float *outbuf = malloc(n * sizeof(float));
    assert_true(arena && outbuf);
    float *inbuf = arena;
    for (size_t i = 0; i < n; ++i)
        inbuf[i] = (float)i;
    const layout_fn fn = layout_func(k);
    tq_tensor ti, to, bad;
    assert_int_equal(tq_tensor_init(&ti, inbuf, TQ_F32, 4, s), TQ_OK);
    assert_int_equal(tq_tensor_init(&to, outbuf, TQ_F32, 4, o), TQ_OK);

#define EXPECT_LAYOUT(status, in_t, out_t)                                 \
    do {                                                                   \
        fill_sentinel(outbuf, n * sizeof(float));                          \
        const tq_status st_ = fn((in_t), (out_t));                         \
        if (st_ != (status))                                               \
            print_message("%s: line %d got %d\n", layout_name(k), __LINE__, \
                          st_);                                            \
        assert_int_equal(st_, (status));                                   \
        assert_true(is_sentinel(outbuf, n * sizeof(float)));               \
    } while (0)

    EXPECT_LAYOUT(TQ_ERR_NULL, NULL, &to);
    EXPECT_LAYOUT(TQ_ERR_NULL, &ti, NULL);
    bad = ti;
    bad.data = NULL;
    EXPECT_LAYOUT(TQ_ERR_NULL, &bad, &to);
    bad = to;
    bad.data = NULL;
    EXPECT_LAYOUT(TQ_ERR_NULL, &ti, &bad);

    /* dtypes: unknown, and mismatched. */
    tq_tensor bi = ti, bo = to;
    bi.dtype = bo.dtype = 7;
    EXPECT_LAYOUT(TQ_ERR_DTYPE, &bi, &bo);
    bo = to;
    bo.dtype = TQ_S32;
    EXPECT_LAYOUT(TQ_ERR_DTYPE, &ti, &bo);
    bo.dtype = TQ_S8;
    EXPECT_LAYOUT(TQ_ERR_DTYPE, &ti, &bo);

    /* ndim. */
    bi = ti;
    bi.ndim = 3;
    EXPECT_LAYOUT(TQ_ERR_SHAPE, &bi, &to);
    bo = to;
    bo.ndim = 5;
    EXPECT_LAYOUT(TQ_ERR_SHAPE, &ti, &bo);
    bo.ndim = 0;
    EXPECT_LAYOUT(TQ_ERR_SHAPE, &ti, &bo);

    /* Wrong output shapes: each axis off by one, and the identity. */
    for (int a = 0; a < 4; ++a) {
        bo = to;
        bo.shape[a] += 1;
        EXPECT_LAYOUT(TQ_ERR_SHAPE, &ti, &bo);
    }
    bo = to;
    memcpy(bo.shape, s, sizeof s);
    EXPECT_LAYOUT(TQ_ERR_SHAPE, &ti, &bo);

    /* A negative extent, matched in the output so only the sign is wrong. */
    bi = ti;
    bi.shape[2] = -4;
    bo = bi;
    layout_out_shape(k, bi.shape, bo.shape);
    bo.data = outbuf;
    EXPECT_LAYOUT(TQ_ERR_SHAPE, &bi, &bo);

    /* Element count overflows size_t. */
    bi = ti;
    bi.shape[0] = INT64_C(1) << 62;
    if (k != L_OIHW_DW)
        bi.shape[1] = INT64_C(1) << 62;
    else
        bi.shape[2] = INT64_C(1) << 62;
    bo = to;
    layout_out_shape(k, bi.shape, bo.shape);
    EXPECT_LAYOUT(TQ_ERR_OVERFLOW, &bi, &bo);
    /* Elements fit, bytes do not. */
    bi = ti;
    bi.shape[0] = INT64_C(1) << 62;
    bo = to;
    layout_out_shape(k, bi.shape, bo.shape);
    if (k != L_OIHW_DW) {
        bi.shape[1] = bi.shape[2] = bi.shape[3] = 1;
        layout_out_shape(k, bi.shape, bo.shape);
        EXPECT_LAYOUT(TQ_ERR_OVERFLOW, &bi, &bo);
    }

    /* Overlap: same buffer, and partial overlaps either way. The input
     * region of the arena is checked separately below. */
    {
        tq_tensor ai = ti, ao = to;
        ao.data = inbuf; /* identical */
        assert_int_equal(fn(&ai, &ao), TQ_ERR_ALIAS);
        ao.data = inbuf + n - 1; /* last element shared */
        assert_int_equal(fn(&ai, &ao), TQ_ERR_ALIAS);
        ai.data = arena + n / 2; /* input starts inside output */
        ao.data = arena;
        assert_int_equal(fn(&ai, &ao), TQ_ERR_ALIAS);
        for (size_t i = 0; i < n; ++i)
            assert_true(inbuf[i] == (float)i); /* untouched */
        /* Adjacent but disjoint is fine. */
        ai.data = arena;
        ao.data = arena + n;
        assert_int_equal(fn(&ai, &ao), TQ_OK);
    }

    if (k == L_OIHW_DW) {
        /* The input-channel axis must be 1: {2, 3, 4, 5} -> {3, 4, 5, 2}
         * is the right permutation but not a depthwise weight. */
        bi = ti;
        bi.shape[0] = 2;
        bi.shape[1] = 3; /* 2*3*4*5 = 120 = n elements, same buffer */
        bo = to;
        bo.shape[0] = 3;
        bo.shape[1] = 4;
        bo.shape[2] = 5;
        bo.shape[3] = 2;
        EXPECT_LAYOUT(TQ_ERR_SHAPE, &bi, &bo);
    }
#undef EXPECT_LAYOUT
    free(arena);
    free(outbuf);
}

static void test_layout_errors(void **state)
{
    (void)state;
    for (int k = L_NCHW_NHWC; k <= L_OIHW_DW; ++k)
        check_layout_errors((layout_kind)k);
}

/* ------------------------------------------------------------------ */
/* conv output size (lib/core/geometry.c)                              */
/* ------------------------------------------------------------------ */

/* Count window placements: the first starts pad_before pixels before the
 * input, placements step by stride, and each must end inside the padded
 * input. */
static int64_t brute_positions(int64_t in, int64_t k, int64_t stride,
                               int64_t dil, int64_t pb, int64_t pa)
{
    int64_t count = 0;
    for (int64_t start = -pb; start + dil * (k - 1) <= in - 1 + pa;
         start += stride)
        ++count;
    return count;
}

static void test_conv_output_size_formula(void **state)
{
    (void)state;
    tt_rng rng = {31};
    for (int it = 0; it < 20000; ++it) {
        const int32_t in = tt_int(&rng, 1, 40), k = tt_int(&rng, 1, 7),
                      s = tt_int(&rng, 1, 4), d = tt_int(&rng, 1, 3),
                      pb = tt_int(&rng, 0, 5), pa = tt_int(&rng, 0, 5);
        int32_t out = -12345;
        const tq_status st = tq_conv_output_size(in, k, s, d, pb, pa, &out);
        const int64_t want = brute_positions(in, k, s, d, pb, pa);
        if (want == 0) {
            assert_int_equal(st, TQ_ERR_SHAPE);
            assert_int_equal(out, -12345);
        } else {
            if (st != TQ_OK || out != want)
                print_message("in %d k %d s %d d %d pads %d %d: got %d (%d) "
                              "want %lld\n",
                              in, k, s, d, pb, pa, out, st, (long long)want);
            assert_int_equal(st, TQ_OK);
            assert_int_equal(out, want);
        }
    }
}

static void test_conv_output_size_same(void **state)
{
    (void)state;
    /* TensorFlow SAME padding: out = ceil(in / stride), the total padding
     * split with the odd pixel after. */
    for (int32_t in = 1; in <= 50; ++in)
        for (int32_t k = 1; k <= 7; ++k)
            for (int32_t s = 1; s <= 4; ++s)
                for (int32_t d = 1; d <= 2; ++d) {
                    const int32_t want = (in + s - 1) / s;
                    const int32_t eff = d * (k - 1) + 1;
                    int32_t total = (want - 1) * s + eff - in;
                    total = total < 0 ? 0 : total;
                    const int32_t pb = total / 2, pa = total - pb;
                    int32_t out = -1;
                    assert_int_equal(
                        tq_conv_output_size(in, k, s, d, pb, pa, &out), TQ_OK);
                    assert_int_equal(out, want);
                }
    /* VALID with a few hand-checked values: 32 - 5 + 1 = 28; stride 2,
     * k 3, pad 1: (32 + 2 - 3) / 2 + 1 = 16; dilation 2 widens k 3 to 5. */
    int32_t out;
    assert_int_equal(tq_conv_output_size(32, 5, 1, 1, 0, 0, &out), TQ_OK);
    assert_int_equal(out, 28);
    assert_int_equal(tq_conv_output_size(32, 3, 2, 1, 1, 1, &out), TQ_OK);
    assert_int_equal(out, 16);
    assert_int_equal(tq_conv_output_size(32, 3, 1, 2, 0, 0, &out), TQ_OK);
    assert_int_equal(out, 28);
    assert_int_equal(tq_conv_output_size(1, 1, 1, 1, 0, 0, &out), TQ_OK);
    assert_int_equal(out, 1);
}

static void test_conv_output_size_errors(void **state)
{
    (void)state;
    int32_t out = -7;
    assert_int_equal(tq_conv_output_size(8, 3, 1, 1, 0, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_conv_output_size(0, 3, 1, 1, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(-8, 3, 1, 1, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 0, 1, 1, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 3, 0, 1, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 3, -2, 1, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 3, 1, 0, 0, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 3, 1, 1, -1, 0, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(8, 3, 1, 1, 0, -1, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_output_size(2, 3, 1, 1, 0, 0, &out), TQ_ERR_SHAPE);
    assert_int_equal(tq_conv_output_size(5, 3, 1, 3, 0, 0, &out), TQ_ERR_SHAPE);
    /* Huge values must not overflow internally. */
    assert_int_equal(tq_conv_output_size(INT32_MAX, INT32_MAX, 1, INT32_MAX, 0,
                                         0, &out),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_conv_output_size(INT32_MAX, 1, 1, 1, INT32_MAX,
                                         INT32_MAX, &out),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(out, -7);
    assert_int_equal(tq_conv_output_size(INT32_MAX, 1, 1, 1, 0, 0, &out), TQ_OK);
    assert_int_equal(out, INT32_MAX);
    /* (3 * INT32_MAX - 1) / 3 + 1 == INT32_MAX: the largest legal result. */
    assert_int_equal(tq_conv_output_size(INT32_MAX, 1, 3, 1, INT32_MAX,
                                         INT32_MAX, &out),
                     TQ_OK);
    assert_int_equal(out, INT32_MAX);
    assert_int_equal(tq_conv_output_size(INT32_MAX, 1, 2, 1, INT32_MAX,
                                         INT32_MAX, &out),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(out, INT32_MAX);
    /* Huge sizes and paddings at random (the library divides 64-bit
     * spans without a 64-bit division): against the int64 formula. */
    tt_rng rng = {32};
    for (int it = 0; it < 20000; ++it) {
        const int32_t in = tt_int(&rng, 1, INT32_MAX), k = tt_int(&rng, 1, 9),
                      s = tt_int(&rng, 0, 3) ? tt_int(&rng, 1, 9)
                                             : tt_int(&rng, 1, INT32_MAX),
                      d = tt_int(&rng, 1, 4),
                      pb = tt_int(&rng, 0, 1) ? tt_int(&rng, 0, INT32_MAX) : 0,
                      pa = tt_int(&rng, 0, 1) ? tt_int(&rng, 0, INT32_MAX) : 0;
        const int64_t span = (int64_t)in + pb + pa, window = (int64_t)d * (k - 1) + 1;
        out = -3;
        const tq_status st = tq_conv_output_size(in, k, s, d, pb, pa, &out);
        if (window > span) {
            assert_int_equal(st, TQ_ERR_SHAPE);
            continue;
        }
        const int64_t want = (span - window) / s + 1;
        if (want > INT32_MAX) {
            assert_int_equal(st, TQ_ERR_OVERFLOW);
            assert_int_equal(out, -3);
        } else {
            assert_int_equal(st, TQ_OK);
            assert_int_equal(out, want);
        }
    }
}

/* ------------------------------------------------------------------ */
/* heap (host helper)                                                  */
/* ------------------------------------------------------------------ */

#ifndef TQ_TEST_NO_HOST_HELPERS
/* The heap test asks for 2^61 bytes to reach TQ_ERR_NO_MEMORY; under
 * AddressSanitizer such a request aborts unless it may return NULL. Only
 * an ASan build reads this hook. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_heap_alloc_free(void **state)
{
    (void)state;
    tt_rng rng = {5};
    for (int it = 0; it < 200; ++it) {
        const int32_t dt = all_dtypes[it % 5];
        const int32_t nd = tt_int(&rng, 0, 4);
        int64_t sh[4];
        size_t n = 1;
        for (int i = 0; i < nd; ++i) {
            sh[i] = tt_int(&rng, it % 17 == 0 ? 0 : 1, 9);
            n *= (size_t)sh[i];
        }
        tq_tensor t;
        memset(&t, SENTINEL, sizeof t);
        assert_int_equal(tq_tensor_alloc(&t, dt, nd, sh), TQ_OK);
        assert_non_null(t.data);
        assert_int_equal((uintptr_t)t.data % 64, 0);
        assert_int_equal(t.dtype, dt);
        assert_int_equal(t.ndim, nd);
        for (int i = 0; i < nd; ++i)
            assert_int_equal(t.shape[i], sh[i]);
        const size_t bytes = n * tq_dtype_size(dt);
        size_t b = 0;
        assert_int_equal(tq_tensor_nbytes(&t, &b), TQ_OK);
        assert_int_equal(b, bytes);
        const unsigned char *p = (const unsigned char *)t.data;
        for (size_t i = 0; i < bytes; ++i)
            assert_int_equal(p[i], 0);
        /* The whole range is writable (ASan checks the bounds). */
        memset(t.data, 0x5A, bytes);
        tq_tensor_free(&t);
        assert_null(t.data);
        assert_int_equal(t.ndim, 0);
        assert_int_equal(t.dtype, 0);
        tq_tensor_free(&t); /* already freed */
    }
    tq_tensor_free(NULL);
    tq_tensor zero = {0};
    tq_tensor_free(&zero);
}

static void test_heap_errors(void **state)
{
    (void)state;
    tq_tensor t, snap;
    memset(&t, SENTINEL, sizeof t);
    snap = t;
    const int64_t ok[2] = {3, 4};
    const int64_t neg[2] = {3, -4};
    const int64_t big[2] = {INT64_C(1) << 62, 8};
    const int64_t big_bytes[1] = {INT64_C(1) << 62};
    /* 2^64 - 2 bytes fit in size_t, rounding them up to 64 would not. */
    const int64_t near_max[2] = {INT64_MAX, 2};

    assert_int_equal(tq_tensor_alloc(NULL, TQ_F32, 2, ok), TQ_ERR_NULL);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, 2, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_tensor_alloc(&t, 0, 2, ok), TQ_ERR_DTYPE);
    assert_int_equal(tq_tensor_alloc(&t, 6, 2, ok), TQ_ERR_DTYPE);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, -1, ok), TQ_ERR_SHAPE);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, 5, ok), TQ_ERR_SHAPE);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, 2, neg), TQ_ERR_SHAPE);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, 2, big), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_tensor_alloc(&t, TQ_F32, 1, big_bytes), TQ_ERR_OVERFLOW);
    if (SIZE_MAX == UINT64_MAX) {
        assert_int_equal(tq_tensor_alloc(&t, TQ_S8, 2, near_max),
                         TQ_ERR_OVERFLOW);
        /* 2^61 bytes: legal arithmetic, more than any address space. */
        const int64_t huge[1] = {INT64_C(1) << 61};
        assert_int_equal(tq_tensor_alloc(&t, TQ_S8, 1, huge), TQ_ERR_NO_MEMORY);
    }
    assert_memory_equal(&t, &snap, sizeof t);
}
#endif

/* ---- helpers for a wanted output size, and the geometry report -------- */

static void test_same_padding_and_pad_after(void **state)
{
    (void)state;
    /* Against brute force: the smallest pad_after giving `out` placements
     * with the given pad_before, or none. */
    for (int32_t in = 1; in <= 24; ++in)
        for (int32_t k = 1; k <= 5; ++k)
            for (int32_t s = 1; s <= 3; ++s)
                for (int32_t d = 1; d <= 2; ++d)
                    for (int32_t pb = 0; pb <= 3; ++pb)
                        for (int32_t out = 1; out <= 26; ++out) {
                            int64_t want = -1;
                            for (int64_t pa = 0; pa <= 120 && want < 0; ++pa)
                                if (brute_positions(in, k, s, d, pb, pa) == out)
                                    want = pa;
                            int32_t got = -7;
                            const tq_status st =
                                tq_conv_pad_after(in, k, s, d, pb, out, &got);
                            if (want < 0) {
                                assert_int_equal(st, TQ_ERR_SHAPE);
                                assert_int_equal(got, -7);
                            } else {
                                assert_int_equal(st, TQ_OK);
                                assert_int_equal(got, want);
                            }
                        }
    /* SAME: TensorFlow's split (odd pixel after) for out = ceil(in / s). */
    for (int32_t in = 1; in <= 40; ++in)
        for (int32_t k = 1; k <= 7; ++k)
            for (int32_t s = 1; s <= 4; ++s)
                for (int32_t d = 1; d <= 2; ++d) {
                    const int32_t out = (in + s - 1) / s;
                    int32_t total = (out - 1) * s + d * (k - 1) + 1 - in;
                    total = total < 0 ? 0 : total;
                    int32_t pb = -1, pa = -1, check = 0;
                    assert_int_equal(tq_conv_same_padding(in, k, s, d, out, &pb,
                                                          &pa),
                                     TQ_OK);
                    assert_int_equal(pb, total / 2);
                    assert_int_equal(pa, total - total / 2);
                    assert_int_equal(tq_conv_output_size(in, k, s, d, pb, pa,
                                                         &check),
                                     TQ_OK);
                    assert_int_equal(check, out);
                }
    int32_t pb = -7, pa = -7;
    /* 10 pixels, k 1: 5 outputs cannot come out of any padding. */
    assert_int_equal(tq_conv_same_padding(10, 1, 1, 1, 5, &pb, &pa), TQ_ERR_SHAPE);
    assert_int_equal(tq_conv_same_padding(0, 1, 1, 1, 5, &pb, &pa), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_same_padding(10, 1, 1, 1, 0, &pb, &pa), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_same_padding(10, 1, 0, 1, 5, &pb, &pa), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_same_padding(10, 1, 1, 0, 5, &pb, &pa), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_same_padding(10, 1, 1, 1, 5, NULL, &pa), TQ_ERR_NULL);
    assert_int_equal(tq_conv_same_padding(10, 1, 1, 1, 5, &pb, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_conv_same_padding(1, 1, INT32_MAX, 1, INT32_MAX, &pb, &pa),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(tq_conv_pad_after(10, 1, 1, 1, 0, 5, &pa), TQ_ERR_SHAPE);
    assert_int_equal(tq_conv_pad_after(10, 1, 1, 1, -1, 5, &pa), TQ_ERR_PARAM);
    assert_int_equal(tq_conv_pad_after(10, 1, 1, 1, 0, 5, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_conv_pad_after(1, 1, INT32_MAX, 1, 0, 3, &pa),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(pb, -7);
    assert_int_equal(pa, -7);
    /* The largest pads that fit. */
    assert_int_equal(tq_conv_pad_after(1, 1, 1, 1, 0, INT32_MAX, &pa), TQ_OK);
    assert_int_equal(pa, INT32_MAX - 1);
}

static tq_dims dims_of(int32_t n, int32_t h, int32_t w, int32_t c)
{
    const tq_dims d = {.n = n, .h = h, .w = w, .c = c};
    return d;
}

/* Expect one finding of tq_conv_check_geometry. */
static void expect_conv_at(int line, const tq_conv_params *cp, tq_dims in, tq_dims f,
                        tq_dims out, int32_t dw, tq_status st, int32_t field,
                        int32_t value, int32_t expected, int32_t pad_after)
{
    tq_geometry_report r = {-9, -9, -9, -9};
    const tq_status got = tq_conv_check_geometry(cp, &in, &f, &out, dw, &r);
    if (got != st || r.field != field || r.value != value ||
        r.expected != expected || r.pad_after != pad_after)
        fail_msg("line %d: status %d field %d value %d expected %d "
                 "pad_after %d", line, got, r.field, r.value, r.expected,
                 r.pad_after);
    assert_int_equal(got, st);
    assert_int_equal(r.field, field);
    assert_int_equal(r.value, value);
    assert_int_equal(r.expected, expected);
    assert_int_equal(r.pad_after, pad_after);
}
#define expect_conv(...) expect_conv_at(__LINE__, __VA_ARGS__)

static void test_conv_check_geometry(void **state)
{
    (void)state;
    const tq_conv_params good = {.stride_h = 2, .stride_w = 1, .pad_top = 1,
                                 .pad_bottom = 1, .pad_left = 0,
                                 .pad_right = 0, .dilation_h = 1,
                                 .dilation_w = 1, .groups = 1};
    /* 9 x 7 input, 3 x 3 kernel: (9 + 2 − 3) / 2 + 1 = 5 rows, 5 columns. */
    const tq_dims in = dims_of(2, 9, 7, 4), f = dims_of(6, 3, 3, 4),
                  out = dims_of(2, 5, 5, 6);
    expect_conv(&good, in, f, out, 0, TQ_OK, TQ_GEOM_OK, 0, -1, -1);
    /* Every param, in struct order, with the value it had. */
    for (int32_t i = 0; i < 8; ++i) {
        tq_conv_params cp = good;
        int32_t *fld[8] = {&cp.stride_h,   &cp.stride_w, &cp.pad_top,
                           &cp.pad_bottom, &cp.pad_left, &cp.pad_right,
                           &cp.dilation_h, &cp.dilation_w};
        *fld[i] = (i >= 2 && i < 6) ? -1 : 0;
        expect_conv(&cp, in, f, out, 0, TQ_ERR_PARAM, TQ_GEOM_STRIDE_H + i,
                    *fld[i], -1, -1);
        if (i == 0) /* the first fault wins */
            cp.dilation_w = 0;
        if (i == 0)
            expect_conv(&cp, in, f, out, 0, TQ_ERR_PARAM, TQ_GEOM_STRIDE_H, 0,
                        -1, -1);
    }
    tq_conv_params cp = good;
    cp.groups = 0;
    expect_conv(&cp, in, f, out, 0, TQ_ERR_PARAM, TQ_GEOM_GROUPS, 0, -1, -1);
    expect_conv(&cp, in, dims_of(1, 3, 3, 8), dims_of(2, 5, 5, 8), 1, TQ_OK,
                TQ_GEOM_OK, 0, -1, -1); /* depthwise ignores groups */
    /* Extents. */
    expect_conv(&good, dims_of(2, 9, 0, 4), f, out, 0, TQ_ERR_SHAPE,
                TQ_GEOM_IN_W, 0, -1, -1);
    expect_conv(&good, in, dims_of(6, 3, 3, -2), out, 0, TQ_ERR_SHAPE,
                TQ_GEOM_FILTER_C, -2, -1, -1);
    expect_conv(&good, in, f, dims_of(0, 5, 5, 6), 0, TQ_ERR_SHAPE,
                TQ_GEOM_OUT_N, 0, -1, -1);
    /* The CMSIS-NN trap: pad_bottom copied from pad_top where SAME puts
     * an odd pixel after. 6 rows, k 2, stride 1: SAME wants 6 rows, total
     * pad 1, pad_top 0; the copy gives 5 rows, and pad_bottom 1 fixes it. */
    tq_conv_params same = good;
    same.stride_h = 1;
    same.pad_top = 0;
    same.pad_bottom = 0; /* copied from pad_top */
    expect_conv(&same, dims_of(1, 6, 7, 4), dims_of(6, 2, 3, 4),
                dims_of(1, 6, 5, 6), 0, TQ_ERR_SHAPE, TQ_GEOM_OUT_H, 6, 5, 1);
    /* The width of a wrong output, when the height is right. */
    expect_conv(&good, in, f, dims_of(2, 5, 6, 6), 0, TQ_ERR_SHAPE,
                TQ_GEOM_OUT_W, 6, 5, 1);
    /* Fewer outputs than the input allows: no pad fixes it. */
    expect_conv(&good, in, f, dims_of(2, 3, 5, 6), 0, TQ_ERR_SHAPE,
                TQ_GEOM_OUT_H, 3, 5, -1);
    /* A window that does not fit, with the pad that would give 5 columns
     * from 2: (5 − 1) + 3 − 2 = 5. */
    expect_conv(&good, dims_of(2, 9, 2, 4), f, out, 0, TQ_ERR_SHAPE,
                TQ_GEOM_FILTER_W, 3, -1, 5);
    /* An extent past int32. */
    tq_conv_params huge = good;
    huge.pad_top = INT32_MAX;
    huge.pad_bottom = INT32_MAX;
    huge.stride_h = 1;
    expect_conv(&huge, in, f, out, 0, TQ_ERR_OVERFLOW, TQ_GEOM_OUT_H, 5, -1,
                -1);
    /* Batch and channels. */
    expect_conv(&good, in, f, dims_of(3, 5, 5, 6), 0, TQ_ERR_SHAPE,
                TQ_GEOM_OUT_N, 3, 2, -1);
    expect_conv(&good, in, dims_of(6, 3, 3, 3), out, 0, TQ_ERR_SHAPE,
                TQ_GEOM_FILTER_C, 3, 4, -1);
    expect_conv(&good, in, f, dims_of(2, 5, 5, 7), 0, TQ_ERR_SHAPE,
                TQ_GEOM_OUT_C, 7, 6, -1);
    cp = good;
    cp.groups = 3;
    expect_conv(&cp, in, f, out, 0, TQ_ERR_SHAPE, TQ_GEOM_GROUPS, 3, -1, -1);
    cp.groups = 2;
    expect_conv(&cp, in, dims_of(5, 3, 3, 2), dims_of(2, 5, 5, 5), 0,
                TQ_ERR_SHAPE, TQ_GEOM_GROUPS, 2, -1, -1);
    expect_conv(&cp, in, dims_of(6, 3, 3, 2), out, 0, TQ_OK, TQ_GEOM_OK, 0, -1,
                -1);
    /* Depthwise channels. */
    expect_conv(&good, in, dims_of(2, 3, 3, 8), dims_of(2, 5, 5, 8), 1,
                TQ_ERR_SHAPE, TQ_GEOM_FILTER_N, 2, 1, -1);
    expect_conv(&good, in, dims_of(1, 3, 3, 8), dims_of(2, 5, 5, 12), 1,
                TQ_ERR_SHAPE, TQ_GEOM_OUT_C, 12, 8, -1);
    expect_conv(&good, in, dims_of(1, 3, 3, 6), dims_of(2, 5, 5, 6), 1,
                TQ_ERR_SHAPE, TQ_GEOM_OUT_C, 6, -1, -1);
    /* Bad calls. */
    tq_geometry_report r = {-9, -9, -9, -9};
    assert_int_equal(tq_conv_check_geometry(&good, &in, &f, &out, 0, NULL),
                     TQ_ERR_NULL);
    assert_int_equal(tq_conv_check_geometry(NULL, &in, &f, &out, 0, &r),
                     TQ_ERR_NULL);
    assert_int_equal(r.field, TQ_GEOM_OK);
    assert_int_equal(tq_conv_check_geometry(&good, &in, &f, &out, 2, &r),
                     TQ_ERR_PARAM);
    assert_int_equal(r.field, TQ_GEOM_OK);
}

static void expect_pool_at(int line, const tq_pool_params *pp, tq_dims in, tq_dims out,
                        tq_status st, int32_t field, int32_t value,
                        int32_t expected, int32_t pad_after)
{
    tq_geometry_report r = {-9, -9, -9, -9};
    const tq_status got = tq_pool_check_geometry(pp, &in, &out, &r);
    if (got != st || r.field != field || r.value != value ||
        r.expected != expected || r.pad_after != pad_after)
        fail_msg("line %d: status %d field %d value %d expected %d "
                 "pad_after %d", line, got, r.field, r.value, r.expected,
                 r.pad_after);
    assert_int_equal(got, st);
    assert_int_equal(r.field, field);
    assert_int_equal(r.value, value);
    assert_int_equal(r.expected, expected);
    assert_int_equal(r.pad_after, pad_after);
}
#define expect_pool(...) expect_pool_at(__LINE__, __VA_ARGS__)

static void test_pool_check_geometry(void **state)
{
    (void)state;
    const tq_pool_params good = {.kernel_h = 3, .kernel_w = 2, .stride_h = 2,
                                 .stride_w = 2, .pad_top = 1, .pad_bottom = 1,
                                 .pad_left = 0, .pad_right = 0};
    /* (9 + 2 − 3) / 2 + 1 = 5 rows; (8 − 2) / 2 + 1 = 4 columns. */
    const tq_dims in = dims_of(1, 9, 8, 3), out = dims_of(1, 5, 4, 3);
    expect_pool(&good, in, out, TQ_OK, TQ_GEOM_OK, 0, -1, -1);
    tq_pool_params p = good;
    p.kernel_w = 0;
    expect_pool(&p, in, out, TQ_ERR_PARAM, TQ_GEOM_KERNEL_W, 0, -1, -1);
    p = good;
    p.stride_h = -1;
    expect_pool(&p, in, out, TQ_ERR_PARAM, TQ_GEOM_STRIDE_H, -1, -1, -1);
    p = good;
    p.pad_bottom = 3; /* not below the window */
    expect_pool(&p, in, out, TQ_ERR_PARAM, TQ_GEOM_PAD_BOTTOM, 3, -1, -1);
    p = good;
    p.pad_right = 2;
    expect_pool(&p, in, out, TQ_ERR_PARAM, TQ_GEOM_PAD_RIGHT, 2, -1, -1);
    expect_pool(&good, dims_of(1, 9, 8, 0), out, TQ_ERR_SHAPE, TQ_GEOM_IN_C, 0,
                -1, -1);
    /* 6 rows would need pad_bottom 3: not below the 3-row window. */
    expect_pool(&good, in, dims_of(1, 6, 4, 3), TQ_ERR_SHAPE, TQ_GEOM_OUT_H, 6,
                5, -1);
    /* From 8 rows, 5 need pad_bottom 2 (the formula gives 4 with 1). */
    expect_pool(&good, dims_of(1, 8, 8, 3), dims_of(1, 5, 4, 3), TQ_ERR_SHAPE,
                TQ_GEOM_OUT_H, 5, 4, 2);
    /* 5 columns would need pad_right 2, which a 2-wide window refuses. */
    expect_pool(&good, in, dims_of(1, 5, 5, 3), TQ_ERR_SHAPE, TQ_GEOM_OUT_W, 5,
                4, -1);
    expect_pool(&good, dims_of(1, 9, 1, 3), out, TQ_ERR_SHAPE, TQ_GEOM_KERNEL_W,
                2, -1, -1);
    expect_pool(&good, in, dims_of(2, 5, 4, 3), TQ_ERR_SHAPE, TQ_GEOM_OUT_N, 2,
                1, -1);
    expect_pool(&good, in, dims_of(1, 5, 4, 4), TQ_ERR_SHAPE, TQ_GEOM_OUT_C, 4,
                3, -1);
    tq_geometry_report r;
    assert_int_equal(tq_pool_check_geometry(&good, &in, NULL, &r), TQ_ERR_NULL);
    assert_int_equal(r.field, TQ_GEOM_OK);
    assert_int_equal(tq_pool_check_geometry(&good, &in, &out, NULL), TQ_ERR_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_messages),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_dtype_size),
        cmocka_unit_test(test_tensor_init_ok),
        cmocka_unit_test(test_tensor_init_errors),
        cmocka_unit_test(test_numel_errors),
        cmocka_unit_test(test_shape_numel),
        cmocka_unit_test(test_layout_nchw_to_nhwc),
        cmocka_unit_test(test_layout_nhwc_to_nchw),
        cmocka_unit_test(test_layout_oihw_to_ohwi),
        cmocka_unit_test(test_layout_oihw_to_dw),
        cmocka_unit_test(test_layout_round_trip),
        cmocka_unit_test(test_layout_empty),
        cmocka_unit_test(test_layout_errors),
        cmocka_unit_test(test_conv_output_size_formula),
        cmocka_unit_test(test_conv_output_size_same),
        cmocka_unit_test(test_conv_output_size_errors),
        cmocka_unit_test(test_same_padding_and_pad_after),
        cmocka_unit_test(test_conv_check_geometry),
        cmocka_unit_test(test_pool_check_geometry),
#ifndef TQ_TEST_NO_HOST_HELPERS
        cmocka_unit_test(test_heap_alloc_free),
        cmocka_unit_test(test_heap_errors),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
