/*
 * Bare-metal check of the Armv7E-M DSP kernel path (lib/arch/armv7em/armv7em_dsp.c)
 * under QEMU: seeded random shapes and data, LeNet's shapes, and the
 * saturation extremes (rows of all -128 and all 127), run through the
 * public s8 kernels once on the DSP path and once on the portable path
 * (tq_set_isa()), whose outputs must be identical byte for byte. The raw
 * GEMM is also checked against an int64 loop written here, and against
 * the SMLAD overflow (Q) flag, which must stay clear. The 16x8 and int4
 * kernels (lib/arch/armv7em/armv7em_dsp_s16_s4.c) the same way: their raw
 * inner products against int64 loops and the references, and
 * tq_s16_fully_connected, tq_s16_conv2d, tq_s4_fully_connected and
 * tq_s4_conv2d on both paths (tq_s4_conv2d's bounded path at its least
 * scratch, and its fast path on the DSP path when that scratch fits).
 *
 * Prints one line per case group and a final "PASS n FAIL n" line through
 * semihosting; exits 0 only when every case passed. Optional argument: the
 * seed (decimal).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <string.h>

#include <tinyq.h>

#include "semihost.h"

#if !defined(__ARM_FEATURE_DSP)
#error "kernel_check runs the DSP path: build it for an Armv7E-M core"
#endif

/* ---- output, without stdio ------------------------------------------------ */

static int32_t out_handle = -1;
static char text[256];
static uint32_t text_len;

static void put_str(const char *s)
{
    while (*s && text_len + 1 < sizeof text)
        text[text_len++] = *s++;
}

static void put_int(int64_t v)
{
    char digits[20];
    int n = 0;
    /* The magnitude in unsigned arithmetic: -INT64_MIN overflows. */
    uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0)
        put_str("-");
    while (n > 0 && text_len + 1 < sizeof text)
        text[text_len++] = digits[--n];
}

static void flush_line(void)
{
    put_str("\n");
    if (out_handle >= 0)
        sh_write(out_handle, text, text_len);
    text_len = 0;
}

/* ---- random numbers and data ---------------------------------------------- */

static uint32_t rng_state = 0x2545f491u;

static uint32_t rnd(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* Uniform in [lo, hi] (hi - lo small: the modulo bias does not matter). */
static int32_t rnd_in(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* How a matrix is filled: the extremes make every product ±2^14-ish, the
 * largest the int8 range allows. */
enum fill { FILL_RANDOM, FILL_MIN, FILL_MAX, FILL_EXTREME_ROWS, FILL_KINDS };

static void fill_rows(int8_t *x, int32_t rows, int32_t cols, int32_t ld,
                      int kind)
{
    for (int32_t r = 0; r < rows; ++r) {
        int row_kind = kind;
        if (kind == FILL_EXTREME_ROWS)
            row_kind = (int)(rnd() % 3u); /* random, -128 or 127 */
        for (int32_t c = 0; c < cols; ++c)
            x[(size_t)r * (size_t)ld + (size_t)c] =
                row_kind == FILL_MIN   ? (int8_t)-128
                : row_kind == FILL_MAX ? (int8_t)127
                                       : (int8_t)(rnd() >> 24);
    }
}

/* ---- the SMLAD overflow flag -------------------------------------------- */

static void clear_q(void)
{
    const uint32_t zero = 0;
    __asm__ volatile("msr APSR_nzcvq, %0" : : "r"(zero) : "cc");
}

static int q_is_set(void)
{
    uint32_t apsr;
    __asm__ volatile("mrs %0, APSR" : "=r"(apsr));
    return (int)((apsr >> 27) & 1u);
}

/* ---- bookkeeping ------------------------------------------------------------ */

typedef struct group {
    const char *name;
    int32_t cases, checks, failed_cases, failed_checks;
    int case_failed;
} group;

static int32_t total_pass, total_fail;

static void group_begin(group *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->name = name;
}

static void case_begin(group *g)
{
    ++g->cases;
    g->case_failed = 0;
}

/* One check of the current case; the first few failures of a group are
 * shown with @p what and the shape. */
static void record(group *g, int ok, const char *what, int32_t m, int32_t n,
                   int32_t k)
{
    ++g->checks;
    if (ok)
        return;
    g->case_failed = 1;
    if (g->failed_checks++ < 5) {
        put_str("  FAIL ");
        put_str(g->name);
        put_str(": ");
        put_str(what);
        put_str(" m ");
        put_int(m);
        put_str(" n ");
        put_int(n);
        put_str(" k ");
        put_int(k);
        flush_line();
    }
}

static void case_end(group *g)
{
    g->failed_cases += g->case_failed;
    if (g->case_failed)
        ++total_fail;
    else
        ++total_pass;
}

static void group_end(const group *g)
{
    put_str(g->failed_cases ? "FAIL " : "ok ");
    put_str(g->name);
    put_str(": ");
    put_int(g->cases);
    put_str(" cases (");
    put_int(g->checks);
    put_str(" checks), ");
    put_int(g->failed_cases);
    put_str(" failed");
    flush_line();
}

/* ---- buffers ---------------------------------------------------------------- */

/* Sized for the largest case: two rows of k = TQ_S8_MAX_REDUCTION, or 70
 * rows of LeNet's k = 400 with their stride slack, at an odd offset. */
enum { MAT_BYTES = 72 * 1024, C_INTS = 80 * 80, ACT_BYTES = 8192,
       SCRATCH_BYTES = 32 * 1024, MAX_CH = 128 };

static int8_t a_buf[MAT_BYTES], b_buf[MAT_BYTES];
static int32_t c_dsp[C_INTS], c_ref[C_INTS];
static int8_t in_buf[ACT_BYTES], filter_buf[ACT_BYTES];
static int8_t out_dsp[ACT_BYTES], out_ref[ACT_BYTES];
static unsigned char scratch[SCRATCH_BYTES];
static int32_t bias[MAX_CH], multiplier[MAX_CH], shift[MAX_CH];

/* Columns of C past n must keep this value. */
#define C_CANARY INT32_C(0x5a5a5a5a)

/* ---- GEMM ------------------------------------------------------------------- */

/* One tq_s8_gemm_s32() case on both paths, against the int64 loop: raw
 * sums (no offsets, no bias: what the microkernel alone gives) and, when
 * @p folded, with random offsets and bias. */
static void gemm_case(group *g, int32_t m, int32_t n, int32_t k, int kind,
                      int folded)
{
    case_begin(g);
    const int32_t lda = k + rnd_in(0, 5), ldb = k + rnd_in(0, 5);
    const int32_t ldc = n + rnd_in(0, 3);
    int8_t *a = a_buf + rnd_in(0, 3), *b = b_buf + rnd_in(0, 3);
    const int32_t ao = folded ? rnd_in(-128, 128) : 0;
    const int32_t bo = folded ? rnd_in(-128, 128) : 0;
    const int32_t *bs = NULL;
    if ((size_t)(m - 1) * (size_t)lda + (size_t)k + 3 > MAT_BYTES ||
        (size_t)(n - 1) * (size_t)ldb + (size_t)k + 3 > MAT_BYTES ||
        (size_t)m * (size_t)ldc > C_INTS || n > MAX_CH) {
        record(g, 0, "case does not fit the buffers", m, n, k);
        case_end(g);
        return;
    }
    fill_rows(a, m, k, lda, kind);
    fill_rows(b, n, k, ldb, kind == FILL_MAX && folded ? FILL_MIN : kind);
    if (folded && (rnd() & 1u)) {
        for (int32_t j = 0; j < n; ++j)
            bias[j] = (int32_t)rnd() >> rnd_in(0, 20);
        bs = bias;
    }
    for (int32_t i = 0; i < m * ldc; ++i)
        c_dsp[i] = c_ref[i] = C_CANARY;

    tq_status s_dsp, s_ref;
    tq_set_isa(TQ_ISA_ARM_DSP);
    clear_q();
    s_dsp = tq_s8_gemm_s32(m, n, k, a, lda, ao, b, ldb, bo, bs, c_dsp, ldc);
    const int q = q_is_set();
    tq_set_isa(TQ_ISA_PORTABLE);
    s_ref = tq_s8_gemm_s32(m, n, k, a, lda, ao, b, ldb, bo, bs, c_ref, ldc);

    int oracle_ok = s_dsp == TQ_OK;
    for (int32_t i = 0; i < m && oracle_ok; ++i)
        for (int32_t j = 0; j < ldc; ++j) {
            int64_t want = C_CANARY;
            if (j < n) {
                want = bs ? bs[j] : 0;
                for (int32_t p = 0; p < k; ++p)
                    want += ((int64_t)a[(size_t)i * (size_t)lda + (size_t)p] + ao) *
                            ((int64_t)b[(size_t)j * (size_t)ldb + (size_t)p] + bo);
                /* The fold saturates what does not fit int32. */
                want = want > INT32_MAX ? INT32_MAX
                                        : (want < INT32_MIN ? INT32_MIN : want);
            }
            if (c_dsp[(size_t)i * (size_t)ldc + (size_t)j] != want)
                oracle_ok = 0;
        }
    record(g, s_dsp == s_ref, "status differs between the paths", m, n, k);
    record(g, memcmp(c_dsp, c_ref, (size_t)m * (size_t)ldc * sizeof(int32_t)) == 0,
           "DSP and portable sums differ", m, n, k);
    record(g, oracle_ok, "sums differ from the int64 oracle", m, n, k);
    record(g, !q, "SMLAD set the Q (overflow) flag", m, n, k);
    case_end(g);
}

static void check_gemm(void)
{
    group g;

    group_begin(&g, "gemm_s32 random shapes 1..70");
    for (int t = 0; t < 1000; ++t)
        gemm_case(&g, rnd_in(1, 70), rnd_in(1, 70), rnd_in(1, 70),
                  (int)(rnd() % FILL_KINDS), t & 1);
    group_end(&g);

    group_begin(&g, "gemm_s32 small tails (m, n, k in 1..9)");
    for (int32_t k = 1; k <= 9; ++k)
        for (int32_t m = 1; m <= 5; ++m)
            for (int32_t n = 1; n <= 5; ++n)
                gemm_case(&g, m, n, k, (int)(rnd() % FILL_KINDS), 0);
    group_end(&g);

    /* LeNet: conv1 (k 75, 6 channels), conv2 (150, 16), fc 400 -> 120 ->
     * 84 -> 10; the fused conv runs 4 rows per pooled pixel, up to 32. */
    static const int32_t lenet[][3] = {
        {32, 6, 75}, {28, 6, 75}, {32, 16, 150}, {4, 16, 150}, {1, 120, 400},
        {1, 84, 120}, {1, 10, 84}, {8, 32, 400}, {70, 70, 400}, {3, 70, 150},
    };
    group_begin(&g, "gemm_s32 LeNet shapes (k 75, 150, 400, 120, 84)");
    for (size_t s = 0; s < sizeof lenet / sizeof lenet[0]; ++s)
        for (int kind = 0; kind < FILL_KINDS; ++kind)
            for (int folded = 0; folded < 2; ++folded)
                gemm_case(&g, lenet[s][0], lenet[s][1], lenet[s][2], kind,
                          folded);
    group_end(&g);

    /* The longest sums the contract allows: |sum| up to 2^29. */
    group_begin(&g, "gemm_s32 k up to TQ_S8_MAX_REDUCTION, extremes");
    static const int32_t long_k[] = {TQ_S8_MAX_REDUCTION,
                                     TQ_S8_MAX_REDUCTION - 1,
                                     TQ_S8_MAX_REDUCTION - 3, 4099};
    for (size_t s = 0; s < sizeof long_k / sizeof long_k[0]; ++s)
        for (int kind = 0; kind < FILL_KINDS; ++kind)
            gemm_case(&g, 2, 2, long_k[s], kind, kind == FILL_MAX);
    gemm_case(&g, 1, 1, TQ_S8_MAX_REDUCTION, FILL_MIN, 0);
    gemm_case(&g, 2, 1, TQ_S8_MAX_REDUCTION, FILL_MAX, 1);
    group_end(&g);
}

/* ---- the convolution kernels --------------------------------------------- */

/* A random output stage for @p channels channels, scaled so that sums of
 * @p k products land in the int8 range often enough. */
static tq_s8_output random_stage(int32_t channels, int32_t k)
{
    int32_t log2k = 0;
    while ((INT32_C(1) << log2k) < k)
        ++log2k;
    for (int32_t c = 0; c < channels; ++c) {
        multiplier[c] = INT32_C(0x40000000) + (int32_t)(rnd() >> 2);
        shift[c] = -(7 + log2k / 2) + rnd_in(-3, 2);
    }
    tq_s8_output os;
    os.multiplier = multiplier;
    os.shift = shift;
    os.per_channel = (int32_t)(rnd() & 1u);
    os.rounding = (rnd() & 1u) ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    os.output_offset = rnd_in(-128, 127);
    os.act_min = (rnd() & 1u) ? -128 : rnd_in(-128, 0);
    os.act_max = (rnd() & 1u) ? 127 : rnd_in(os.act_min, 127);
    return os;
}

/* A convolution geometry; 0 when the window does not fit. */
typedef struct conv_case {
    tq_conv_params conv;
    tq_dims in, filter, out;
} conv_case;

static int conv_geometry(conv_case *cc)
{
    return tq_conv_output_size(cc->in.h, cc->filter.h, cc->conv.stride_h,
                               cc->conv.dilation_h, cc->conv.pad_top,
                               cc->conv.pad_bottom, &cc->out.h) == TQ_OK &&
           tq_conv_output_size(cc->in.w, cc->filter.w, cc->conv.stride_w,
                               cc->conv.dilation_w, cc->conv.pad_left,
                               cc->conv.pad_right, &cc->out.w) == TQ_OK;
}

static int random_conv(conv_case *cc, int grouped)
{
    for (;;) {
        const int32_t groups = grouped ? rnd_in(1, 3) : 1;
        cc->conv.stride_h = rnd_in(1, 2);
        cc->conv.stride_w = rnd_in(1, 2);
        cc->conv.pad_top = rnd_in(0, 2);
        cc->conv.pad_bottom = rnd_in(0, 2);
        cc->conv.pad_left = rnd_in(0, 2);
        cc->conv.pad_right = rnd_in(0, 2);
        cc->conv.dilation_h = rnd_in(1, 2);
        cc->conv.dilation_w = rnd_in(1, 2);
        cc->conv.groups = groups;
        cc->in.n = rnd_in(1, 2);
        cc->in.h = rnd_in(1, 12);
        cc->in.w = rnd_in(1, 12);
        cc->in.c = groups * rnd_in(1, 7);
        cc->filter.n = groups * rnd_in(1, 9);
        cc->filter.h = rnd_in(1, 5);
        cc->filter.w = rnd_in(1, 5);
        cc->filter.c = cc->in.c / groups;
        cc->out.n = cc->in.n;
        cc->out.c = cc->filter.n;
        if (conv_geometry(cc))
            return 1;
    }
}

static size_t dims_count(const tq_dims *d)
{
    return (size_t)d->n * (size_t)d->h * (size_t)d->w * (size_t)d->c;
}

/* One convolution on both paths: tq_s8_conv2d() or, with @p pooled, the
 * fused tq_s8_conv2d_relu_maxpool2() (cc->out is then the conv's output,
 * whose halves the pooled output takes). */
static void conv_case_run(group *g, const conv_case *cc, int pooled)
{
    case_begin(g);
    tq_dims out = cc->out;
    if (pooled) {
        out.h /= 2;
        out.w /= 2;
    }
    const int32_t k = cc->filter.h * cc->filter.w * cc->filter.c;
    const size_t in_n = dims_count(&cc->in), f_n = dims_count(&cc->filter);
    const size_t out_n = dims_count(&out);
    size_t need = 0;
    const tq_status qs =
        pooled ? tq_s8_conv2d_relu_maxpool2_scratch_size(&cc->conv, &cc->in,
                                                         &cc->filter, &out, &need)
               : tq_s8_conv2d_scratch_size(&cc->conv, &cc->in, &cc->filter,
                                           &out, &need);
    if (qs != TQ_OK || in_n + 3 > ACT_BYTES || f_n + 3 > ACT_BYTES ||
        out_n > ACT_BYTES || need + 3 > SCRATCH_BYTES ||
        cc->filter.n > MAX_CH) {
        record(g, 0, "case does not fit (or scratch query failed)", (int32_t)out_n,
               cc->filter.n, k);
        case_end(g);
        return;
    }
    /* Odd addresses for everything the kernels read or use as scratch. */
    int8_t *in = in_buf + rnd_in(0, 3), *filter = filter_buf + rnd_in(0, 3);
    void *scr = scratch + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_rows(in, (int32_t)(in_n / (size_t)cc->in.c), cc->in.c, cc->in.c, kind);
    fill_rows(filter, cc->filter.n, k, k, kind == FILL_EXTREME_ROWS ? kind : FILL_RANDOM);
    for (int32_t c = 0; c < cc->filter.n; ++c)
        bias[c] = (int32_t)rnd() >> rnd_in(8, 24);
    const int32_t *bs = (rnd() & 3u) ? bias : NULL;
    const int32_t input_offset = rnd_in(-127, 128);
    const tq_s8_output os = random_stage(cc->filter.n, k);
    memset(out_dsp, 0x11, out_n);
    memset(out_ref, 0x22, out_n);

    tq_status s[2];
    for (int path = 0; path < 2; ++path) {
        int8_t *dst = path == 0 ? out_dsp : out_ref;
        tq_set_isa(path == 0 ? TQ_ISA_ARM_DSP : TQ_ISA_PORTABLE);
        s[path] = pooled
            ? tq_s8_conv2d_relu_maxpool2(&cc->conv, &cc->in, in, input_offset,
                                         &cc->filter, filter, bs, &os, &out,
                                         dst, scr, need)
            : tq_s8_conv2d(&cc->conv, &cc->in, in, input_offset, &cc->filter,
                           filter, bs, &os, &out, dst, scr, need);
    }
    record(g, s[0] == TQ_OK && s[1] == TQ_OK, "a path did not return TQ_OK",
           (int32_t)out_n, cc->filter.n, k);
    record(g, memcmp(out_dsp, out_ref, out_n) == 0,
           "DSP and portable outputs differ", (int32_t)out_n, cc->filter.n, k);
    case_end(g);
}

/* LeNet's two convolutions: 32x32x3 -> 5x5x6, 14x14x6 -> 5x5x16. */
static void lenet_conv(conv_case *cc, int second)
{
    const tq_conv_params plain = {
        .stride_h = 1, .stride_w = 1, .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
        .pad_right = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1};
    cc->conv = plain;
    cc->in = second ? (tq_dims){.n = 1, .h = 14, .w = 14, .c = 6}
                    : (tq_dims){.n = 1, .h = 32, .w = 32, .c = 3};
    cc->filter = second ? (tq_dims){.n = 16, .h = 5, .w = 5, .c = 6}
                        : (tq_dims){.n = 6, .h = 5, .w = 5, .c = 3};
    cc->out = (tq_dims){.n = 1, .h = 0, .w = 0, .c = cc->filter.n};
    conv_geometry(cc);
}

static void check_convs(void)
{
    group g;
    conv_case cc;

    group_begin(&g, "conv2d random geometries (groups, stride, pad, dilation)");
    for (int t = 0; t < 400; ++t) {
        random_conv(&cc, 1);
        conv_case_run(&g, &cc, 0);
    }
    for (int t = 0; t < 8; ++t) {
        lenet_conv(&cc, t & 1);
        conv_case_run(&g, &cc, 0);
    }
    group_end(&g);

    group_begin(&g, "conv2d_relu_maxpool2 random geometries and LeNet's");
    for (int t = 0; t < 400; ++t) {
        do
            random_conv(&cc, 0);
        while (cc.out.h < 2 || cc.out.w < 2);
        conv_case_run(&g, &cc, 1);
    }
    for (int t = 0; t < 8; ++t) {
        lenet_conv(&cc, t & 1);
        conv_case_run(&g, &cc, 1);
    }
    group_end(&g);
}

/* ---- fully connected ------------------------------------------------------- */

static void fc_case(group *g, int32_t batch, int32_t in_f, int32_t out_f)
{
    case_begin(g);
    if ((size_t)batch * (size_t)in_f + 3 > ACT_BYTES ||
        (size_t)out_f * (size_t)in_f + 3 > MAT_BYTES ||
        (size_t)batch * (size_t)out_f > ACT_BYTES || out_f > MAX_CH) {
        record(g, 0, "case does not fit the buffers", batch, out_f, in_f);
        case_end(g);
        return;
    }
    int8_t *in = in_buf + rnd_in(0, 3), *w = b_buf + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_rows(in, batch, in_f, in_f, kind);
    fill_rows(w, out_f, in_f, in_f, kind);
    for (int32_t c = 0; c < out_f; ++c)
        bias[c] = (int32_t)rnd() >> rnd_in(8, 24);
    const int32_t *bs = (rnd() & 3u) ? bias : NULL;
    const int32_t in_off = rnd_in(-127, 128);
    const int32_t w_off = (rnd() & 1u) ? 0 : rnd_in(-128, 128);
    const tq_s8_output os = random_stage(out_f, in_f);
    const size_t out_n = (size_t)batch * (size_t)out_f;
    memset(out_dsp, 0x11, out_n);
    memset(out_ref, 0x22, out_n);

    tq_set_isa(TQ_ISA_ARM_DSP);
    const tq_status s0 = tq_s8_fully_connected(batch, in_f, out_f, in, in_off,
                                               w, w_off, bs, &os, out_dsp);
    tq_set_isa(TQ_ISA_PORTABLE);
    const tq_status s1 = tq_s8_fully_connected(batch, in_f, out_f, in, in_off,
                                               w, w_off, bs, &os, out_ref);
    record(g, s0 == TQ_OK && s1 == TQ_OK, "a path did not return TQ_OK",
           batch, out_f, in_f);
    record(g, memcmp(out_dsp, out_ref, out_n) == 0,
           "DSP and portable outputs differ", batch, out_f, in_f);
    case_end(g);
}

static void check_fc(void)
{
    group g;
    group_begin(&g, "fully_connected random and LeNet's (400-120-84-10)");
    for (int t = 0; t < 500; ++t)
        fc_case(&g, rnd_in(1, 9), rnd_in(1, 70), rnd_in(1, 70));
    for (int t = 0; t < 4; ++t) {
        fc_case(&g, 1, 400, 120);
        fc_case(&g, 1, 120, 84);
        fc_case(&g, 1, 84, 10);
        fc_case(&g, 3, 400, 120);
    }
    group_end(&g);
}

/* ---- begin dsp s16/s4: the 16x8 and int4-weight kernels ------------------ */

/* The DSP inner products (lib/arch/armv7em/armv7em_dsp_s16_s4.c) and the
 * portable references they must equal: internal symbols of libtinyq.a,
 * which this program links statically. */
int64_t tq__armdsp_s16_dot(const int16_t *x, const int8_t *w, int32_t k);
int64_t tq__s16_dot_ref(const int16_t *x, const int8_t *w, int32_t k);
int32_t tq__armdsp_s4_dot(const int16_t *x, const uint8_t *packed,
                          size_t first, int32_t k);
int32_t tq__s4_dot_ref(const int16_t *x, const uint8_t *packed, size_t first,
                       int32_t k);
void tq__armdsp_s16_pair_cols(int16_t *col, int32_t k);
int64_t tq__armdsp_s16_dot_paired(const int16_t *x, const int8_t *w,
                                  int32_t k);

/* int16 activations of the longest 16x8 dot (its int8 weights come from
 * a_buf), 16x8 outputs, int4 weights packed. */
enum { X16_MAX = MAT_BYTES - 8, O16_MAX = 8192 };
static int16_t x16_buf[X16_MAX + 4], x16_pairs[X16_MAX + 4];
static int16_t o16_dsp[O16_MAX], o16_ref[O16_MAX];
static int64_t bias64[MAX_CH];
static uint8_t packed_buf[MAT_BYTES / 2 + 8];

/* int16 values as fill_rows() makes int8 ones, in [lo, hi]. */
static void fill_x16(int16_t *x, int32_t rows, int32_t cols, int kind,
                     int32_t lo, int32_t hi)
{
    for (int32_t r = 0; r < rows; ++r) {
        int row_kind = kind;
        if (kind == FILL_EXTREME_ROWS)
            row_kind = (int)(rnd() % 3u);
        for (int32_t c = 0; c < cols; ++c)
            x[(size_t)r * (size_t)cols + (size_t)c] =
                (int16_t)(row_kind == FILL_MIN   ? lo
                          : row_kind == FILL_MAX ? hi
                                                 : rnd_in(lo, hi));
    }
}

/* n int4 values (int8 in [-8, 7]) in @p v, packed into @p packed. */
static void fill_s4(int8_t *v, uint8_t *packed, size_t n, int kind)
{
    fill_rows(v, 1, (int32_t)n, (int32_t)n, kind);
    for (size_t i = 0; i < n; ++i)
        v[i] = (int8_t)(v[i] >> 4); /* -128 -> -8, 127 -> 7 */
    tq_s4_pack(n, v, packed);
}

/* The raw 16x8 inner product: DSP, reference and an int64 loop. */
static void s16_dot_case(group *g, int32_t k, int kind)
{
    case_begin(g);
    const int16_t *x = x16_buf + rnd_in(0, 3);
    int8_t *w = a_buf + rnd_in(0, 3);
    fill_x16((int16_t *)x, 1, k, kind, -32768, 32767);
    /* Products of -32768 and -128 are the largest, 2^22. */
    fill_rows(w, 1, k, k, kind == FILL_MAX ? FILL_MIN : kind);
    int64_t want = 0;
    for (int32_t p = 0; p < k; ++p)
        want += (int64_t)x[p] * w[p];
    const int64_t dsp = tq__armdsp_s16_dot(x, w, k);
    record(g, dsp == want, "s16 dot differs from the int64 oracle", 1, 1, k);
    record(g, tq__s16_dot_ref(x, w, k) == dsp,
           "DSP and portable s16 dots differ", 1, 1, k);
    /* The conv's form: the column reordered once, then the paired dot. */
    int16_t *xp = x16_pairs + (x - x16_buf);
    memcpy(xp, x, (size_t)k * sizeof *x);
    tq__armdsp_s16_pair_cols(xp, k);
    record(g, tq__armdsp_s16_dot_paired(xp, w, k) == want,
           "paired s16 dot differs from the int64 oracle", 1, 1, k);
    case_end(g);
}

/* The raw int4 inner product from value @p first on. */
static void s4_dot_case(group *g, size_t first, int32_t k, int kind)
{
    case_begin(g);
    int16_t *x = x16_buf + rnd_in(0, 3);
    uint8_t *packed = packed_buf + rnd_in(0, 3);
    fill_x16(x, 1, k, kind, -255, 255);
    fill_s4(a_buf, packed, first + (size_t)k,
            kind == FILL_MAX ? FILL_MIN : kind);
    int64_t want = 0;
    for (int32_t p = 0; p < k; ++p)
        want += (int64_t)x[p] * a_buf[first + (size_t)p];
    clear_q();
    const int32_t dsp = tq__armdsp_s4_dot(x, packed, first, k);
    const int q = q_is_set();
    record(g, dsp == want, "s4 dot differs from the int64 oracle",
           (int32_t)first, 1, k);
    record(g, tq__s4_dot_ref(x, packed, first, k) == dsp,
           "DSP and portable s4 dots differ", (int32_t)first, 1, k);
    record(g, !q, "SMLAD set the Q (overflow) flag", (int32_t)first, 1, k);
    case_end(g);
}

static void check_dots(void)
{
    group g;
    group_begin(&g, "s16 dot k 1..300, odd k, k up to 36000 (sums past 2^31)");
    for (int t = 0; t < 600; ++t)
        s16_dot_case(&g, rnd_in(1, 300), (int)(rnd() % FILL_KINDS));
    for (int32_t k = 1; k <= 17; ++k)
        for (int kind = 0; kind < FILL_KINDS; ++kind)
            s16_dot_case(&g, k, kind);
    static const int32_t long_k[] = {36000, 35999, 4099, 513};
    for (size_t s = 0; s < sizeof long_k / sizeof long_k[0]; ++s)
        for (int kind = 0; kind < FILL_KINDS; ++kind)
            s16_dot_case(&g, long_k[s], kind);
    group_end(&g);

    group_begin(&g, "s4 dot odd and even first, k 1..300, k up to 2^15");
    for (int t = 0; t < 600; ++t)
        s4_dot_case(&g, (size_t)rnd_in(0, 9), rnd_in(1, 300),
                    (int)(rnd() % FILL_KINDS));
    for (size_t first = 0; first < 4; ++first)
        for (int32_t k = 1; k <= 19; ++k)
            s4_dot_case(&g, first, k, (int)(rnd() % FILL_KINDS));
    for (int kind = 0; kind < FILL_KINDS; ++kind) {
        s4_dot_case(&g, 0, TQ_S8_MAX_REDUCTION, kind);
        s4_dot_case(&g, 1, TQ_S8_MAX_REDUCTION - 1, kind);
        s4_dot_case(&g, 7, 4099, kind);
    }
    group_end(&g);
}

/* A random 16x8 output stage for sums of @p k products; *bias_dtype and
 * the bias (bias64 or bias, or NULL) drawn too. */
static tq_s16_output random_stage16(int32_t channels, int32_t k,
                                    int32_t *bias_dtype, const void **bs)
{
    int32_t log2k = 0;
    while ((INT32_C(1) << log2k) < k)
        ++log2k;
    *bias_dtype = (rnd() & 1u) ? TQ_S64 : TQ_S32;
    for (int32_t c = 0; c < channels; ++c) {
        multiplier[c] = INT32_C(0x40000000) + (int32_t)(rnd() >> 2);
        shift[c] = -(7 + log2k / 2) + rnd_in(-3, 2);
        bias[c] = (int32_t)rnd() >> rnd_in(0, 16);
        bias64[c] = (int64_t)((int32_t)rnd() >> rnd_in(0, 16)) *
                    (int64_t)(rnd() >> rnd_in(16, 31));
    }
    *bs = (rnd() & 3u) ? (*bias_dtype == TQ_S64 ? (const void *)bias64
                                                 : (const void *)bias)
                       : NULL;
    tq_s16_output os;
    os.multiplier = multiplier;
    os.shift = shift;
    os.per_channel = (int32_t)(rnd() & 1u);
    os.rounding = (rnd() & 1u) ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    os.act_min = (rnd() & 1u) ? -32768 : rnd_in(-32768, 0);
    os.act_max = (rnd() & 1u) ? 32767 : rnd_in(os.act_min, 32767);
    return os;
}

static void s16_fc_case(group *g, int32_t batch, int32_t in_f, int32_t out_f)
{
    case_begin(g);
    if ((size_t)batch * (size_t)in_f + 3 > X16_MAX ||
        (size_t)out_f * (size_t)in_f + 3 > MAT_BYTES ||
        (size_t)batch * (size_t)out_f > O16_MAX || out_f > MAX_CH) {
        record(g, 0, "case does not fit the buffers", batch, out_f, in_f);
        case_end(g);
        return;
    }
    int16_t *in = x16_buf + rnd_in(0, 3);
    int8_t *w = b_buf + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_x16(in, batch, in_f, kind, -32768, 32767);
    fill_rows(w, out_f, in_f, in_f, kind == FILL_MAX ? FILL_MIN : kind);
    int32_t bias_dtype;
    const void *bs;
    const tq_s16_output os = random_stage16(out_f, in_f, &bias_dtype, &bs);
    const size_t out_n = (size_t)batch * (size_t)out_f;
    memset(o16_dsp, 0x11, out_n * sizeof(int16_t));
    memset(o16_ref, 0x22, out_n * sizeof(int16_t));
    tq_set_isa(TQ_ISA_ARM_DSP);
    const tq_status s0 = tq_s16_fully_connected(batch, in_f, out_f, in, w, bs,
                                                bias_dtype, &os, o16_dsp);
    tq_set_isa(TQ_ISA_PORTABLE);
    const tq_status s1 = tq_s16_fully_connected(batch, in_f, out_f, in, w, bs,
                                                bias_dtype, &os, o16_ref);
    record(g, s0 == TQ_OK && s1 == TQ_OK, "a path did not return TQ_OK",
           batch, out_f, in_f);
    record(g, memcmp(o16_dsp, o16_ref, out_n * sizeof(int16_t)) == 0,
           "DSP and portable outputs differ", batch, out_f, in_f);
    case_end(g);
}

static void s16_conv_case(group *g, const conv_case *cc)
{
    case_begin(g);
    const int32_t k = cc->filter.h * cc->filter.w * cc->filter.c;
    const size_t in_n = dims_count(&cc->in), f_n = dims_count(&cc->filter);
    const size_t out_n = dims_count(&cc->out);
    size_t need = 0;
    if (tq_s16_conv2d_scratch_size(&cc->conv, &cc->in, &cc->filter, &cc->out,
                                   &need) != TQ_OK ||
        in_n + 3 > X16_MAX || f_n + 3 > ACT_BYTES || out_n > O16_MAX ||
        need + 3 > SCRATCH_BYTES || cc->filter.n > MAX_CH) {
        record(g, 0, "case does not fit (or scratch query failed)",
               (int32_t)out_n, cc->filter.n, k);
        case_end(g);
        return;
    }
    int16_t *in = x16_buf + rnd_in(0, 3);
    int8_t *filter = filter_buf + rnd_in(0, 3);
    void *scr = scratch + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_x16(in, (int32_t)(in_n / (size_t)cc->in.c), cc->in.c, kind, -32768,
             32767);
    fill_rows(filter, cc->filter.n, k, k,
              kind == FILL_EXTREME_ROWS ? kind : FILL_RANDOM);
    int32_t bias_dtype;
    const void *bs;
    const tq_s16_output os = random_stage16(cc->filter.n, k, &bias_dtype, &bs);
    memset(o16_dsp, 0x11, out_n * sizeof(int16_t));
    memset(o16_ref, 0x22, out_n * sizeof(int16_t));
    tq_status s[2];
    for (int path = 0; path < 2; ++path) {
        tq_set_isa(path == 0 ? TQ_ISA_ARM_DSP : TQ_ISA_PORTABLE);
        s[path] = tq_s16_conv2d(&cc->conv, &cc->in, in, &cc->filter, filter,
                                bs, bias_dtype, &os, &cc->out,
                                path == 0 ? o16_dsp : o16_ref, scr, need);
    }
    record(g, s[0] == TQ_OK && s[1] == TQ_OK, "a path did not return TQ_OK",
           (int32_t)out_n, cc->filter.n, k);
    record(g, memcmp(o16_dsp, o16_ref, out_n * sizeof(int16_t)) == 0,
           "DSP and portable outputs differ", (int32_t)out_n, cc->filter.n, k);
    case_end(g);
}

/* tq_s4_fully_connected() on both paths, and against tq_s8_fully_connected()
 * of the unpacked weights (the same accumulators, by the s4 kernel's
 * contract). Batches up to 3 take the unpack-in-the-loop dot, larger ones
 * the unpacked blocks through the s8 GEMM. */
static void s4_fc_case(group *g, int32_t batch, int32_t in_f, int32_t out_f)
{
    case_begin(g);
    const size_t w_n = (size_t)out_f * (size_t)in_f;
    size_t need = 0;
    if (tq_s4_fully_connected_scratch_size(in_f, out_f, &need) != TQ_OK ||
        (size_t)batch * (size_t)in_f + 3 > ACT_BYTES || w_n + 3 > MAT_BYTES ||
        (size_t)batch * (size_t)out_f > ACT_BYTES / 2 || out_f > MAX_CH ||
        need + 3 > SCRATCH_BYTES) {
        record(g, 0, "case does not fit the buffers", batch, out_f, in_f);
        case_end(g);
        return;
    }
    int8_t *in = in_buf + rnd_in(0, 3);
    uint8_t *packed = packed_buf + rnd_in(0, 3);
    void *scr = scratch + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_rows(in, batch, in_f, in_f, kind);
    fill_s4(b_buf, packed, w_n, kind == FILL_MAX ? FILL_MIN : kind);
    for (int32_t c = 0; c < out_f; ++c)
        bias[c] = (int32_t)rnd() >> rnd_in(8, 24);
    const int32_t *bs = (rnd() & 3u) ? bias : NULL;
    const int32_t in_off = rnd_in(-127, 128);
    const tq_s8_output os = random_stage(out_f, in_f);
    const size_t out_n = (size_t)batch * (size_t)out_f;
    int8_t *out_s8 = out_ref + ACT_BYTES / 2;
    memset(out_dsp, 0x11, out_n);
    memset(out_ref, 0x22, out_n);
    memset(out_s8, 0x33, out_n);
    tq_set_isa(TQ_ISA_ARM_DSP);
    const tq_status s0 = tq_s4_fully_connected(batch, in_f, out_f, in, in_off,
                                               packed, bs, &os, out_dsp, scr,
                                               need);
    tq_set_isa(TQ_ISA_PORTABLE);
    const tq_status s1 = tq_s4_fully_connected(batch, in_f, out_f, in, in_off,
                                               packed, bs, &os, out_ref, scr,
                                               need);
    const tq_status s2 = tq_s8_fully_connected(batch, in_f, out_f, in, in_off,
                                               b_buf, 0, bs, &os, out_s8);
    record(g, s0 == TQ_OK && s1 == TQ_OK && s2 == TQ_OK,
           "a kernel did not return TQ_OK", batch, out_f, in_f);
    record(g, memcmp(out_dsp, out_ref, out_n) == 0,
           "DSP and portable outputs differ", batch, out_f, in_f);
    record(g, memcmp(out_dsp, out_s8, out_n) == 0,
           "differs from the s8 kernel on the unpacked weights", batch, out_f,
           in_f);
    case_end(g);
}

static void s4_conv_case(group *g, const conv_case *cc)
{
    case_begin(g);
    const int32_t k = cc->filter.h * cc->filter.w * cc->filter.c;
    const size_t in_n = dims_count(&cc->in), f_n = dims_count(&cc->filter);
    const size_t out_n = dims_count(&cc->out);
    size_t need = 0;
    if (tq_s4_conv2d_scratch_size(&cc->conv, &cc->in, &cc->filter, &cc->out,
                                  &need) != TQ_OK ||
        in_n + 3 > ACT_BYTES || f_n + 3 > ACT_BYTES || out_n > ACT_BYTES ||
        need + 3 > SCRATCH_BYTES || cc->filter.n > MAX_CH) {
        record(g, 0, "case does not fit (or scratch query failed)",
               (int32_t)out_n, cc->filter.n, k);
        case_end(g);
        return;
    }
    int8_t *in = in_buf + rnd_in(0, 3);
    uint8_t *packed = packed_buf + rnd_in(0, 3);
    void *scr = scratch + rnd_in(0, 3);
    const int kind = (int)(rnd() % FILL_KINDS);
    fill_rows(in, (int32_t)(in_n / (size_t)cc->in.c), cc->in.c, cc->in.c, kind);
    fill_s4(filter_buf, packed, f_n,
            kind == FILL_EXTREME_ROWS ? kind : FILL_RANDOM);
    for (int32_t c = 0; c < cc->filter.n; ++c)
        bias[c] = (int32_t)rnd() >> rnd_in(8, 24);
    const int32_t *bs = (rnd() & 3u) ? bias : NULL;
    const int32_t input_offset = rnd_in(-127, 128);
    const tq_s8_output os = random_stage(cc->filter.n, k);
    memset(out_dsp, 0x11, out_n);
    memset(out_ref, 0x22, out_n);
    /* The least scratch: the bounded path (int16 column + s4 dot), on the
     * DSP and the portable kernels. */
    tq_status s[2];
    for (int path = 0; path < 2; ++path) {
        tq_set_isa(path == 0 ? TQ_ISA_ARM_DSP : TQ_ISA_PORTABLE);
        s[path] = tq_s4_conv2d(&cc->conv, &cc->in, in, input_offset,
                               &cc->filter, packed, bs, &os, &cc->out,
                               path == 0 ? out_dsp : out_ref, scr, need);
    }
    record(g, s[0] == TQ_OK && s[1] == TQ_OK, "a path did not return TQ_OK",
           (int32_t)out_n, cc->filter.n, k);
    record(g, memcmp(out_dsp, out_ref, out_n) == 0,
           "DSP and portable outputs differ", (int32_t)out_n, cc->filter.n, k);
    /* The fast path (filter unpacked once, s8 conv) on the DSP kernels
     * when its scratch fits: the same bytes. */
    size_t fast = 0;
    if (tq_s4_conv2d_fast_scratch_size(&cc->conv, &cc->in, &cc->filter,
                                       &cc->out, &fast) == TQ_OK &&
        fast > need && fast + 3 <= SCRATCH_BYTES) {
        int8_t *out_fast = a_buf; /* unused by this case */
        memset(out_fast, 0x33, out_n);
        tq_set_isa(TQ_ISA_ARM_DSP);
        const tq_status sf =
            tq_s4_conv2d(&cc->conv, &cc->in, in, input_offset, &cc->filter,
                         packed, bs, &os, &cc->out, out_fast, scr, fast);
        record(g, sf == TQ_OK, "the fast path did not return TQ_OK",
               (int32_t)out_n, cc->filter.n, k);
        record(g, memcmp(out_dsp, out_fast, out_n) == 0,
               "bounded and fast paths differ", (int32_t)out_n, cc->filter.n,
               k);
    }
    case_end(g);
}

static void check_s16_s4(void)
{
    group g;
    conv_case cc;

    group_begin(&g, "s16 fully_connected random (int64/int32 bias), 400-120-84");
    for (int t = 0; t < 400; ++t)
        s16_fc_case(&g, rnd_in(1, 4), rnd_in(1, 70), rnd_in(1, 70));
    for (int t = 0; t < 4; ++t) {
        s16_fc_case(&g, 1, 400, 120);
        s16_fc_case(&g, 1, 120, 84);
        s16_fc_case(&g, 2, 84, 10);
    }
    group_end(&g);

    group_begin(&g, "s16 conv2d random geometries (groups, stride, pad, dilation)");
    for (int t = 0; t < 300; ++t) {
        random_conv(&cc, 1);
        s16_conv_case(&g, &cc);
    }
    for (int t = 0; t < 4; ++t) {
        lenet_conv(&cc, t & 1);
        s16_conv_case(&g, &cc);
    }
    group_end(&g);

    group_begin(&g, "s4 fully_connected batch 1..6, odd sizes, 400-120-84");
    for (int t = 0; t < 400; ++t)
        s4_fc_case(&g, rnd_in(1, 6), rnd_in(1, 70), rnd_in(1, 70));
    for (int t = 0; t < 4; ++t) {
        s4_fc_case(&g, 1, 400, 120);
        s4_fc_case(&g, 1, 121, 84);
        s4_fc_case(&g, 5, 85, 10);
    }
    group_end(&g);

    group_begin(&g, "s4 conv2d random geometries and LeNet's");
    for (int t = 0; t < 200; ++t) {
        random_conv(&cc, 1);
        s4_conv_case(&g, &cc);
    }
    for (int t = 0; t < 4; ++t) {
        lenet_conv(&cc, t & 1);
        s4_conv_case(&g, &cc);
    }
    group_end(&g);
}

/* ---- end dsp s16/s4 ---------------------------------------------------------- */

/* ---- main ------------------------------------------------------------------ */

/* A decimal seed from the command line, if any. */
static void seed_from_cmdline(void)
{
    static char cmdline[64];
    if (sh_cmdline(cmdline, sizeof cmdline) < 0)
        return;
    const char *s = cmdline;
    while (*s && *s != ' ')
        ++s;
    while (*s == ' ')
        ++s;
    uint32_t seed = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; ++s, ++digits)
        seed = 10u * seed + (uint32_t)(*s - '0');
    if (digits > 0 && seed != 0)
        rng_state = seed;
}

int main(void)
{
    out_handle = sh_open(":tt", SH_MODE_W);
    seed_from_cmdline();
    put_str("# kernel_check: seed ");
    put_int(rng_state);
    put_str(", paths ");
    put_str(tq_kernel_path());
    if (tq_set_isa(TQ_ISA_ARM_DSP) != TQ_OK) {
        put_str(": no DSP path in this build");
        flush_line();
        return 1;
    }
    put_str(" (default) vs portable-c");
    flush_line();

    check_gemm();
    check_convs();
    check_fc();
    check_dots();   /* dsp s16/s4 */
    check_s16_s4(); /* dsp s16/s4 */

    put_str("# kernel_check PASS ");
    put_int(total_pass);
    put_str(" FAIL ");
    put_int(total_fail);
    flush_line();
    return total_fail == 0 && total_pass > 0 ? 0 : 1;
}
