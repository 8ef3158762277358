/*
 * AVX-512 VNNI direct fused s8 conv + ReLU + 2x2 max pool (layout and
 * plan in dispatch.h), bit for bit the portable im2col kernel.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The input rows of a pooled
 * row are converted to u = x + 128 (padding: u = 128 - input_offset, i.e.
 * the zero point), and each vector lane is an output channel whose weights
 * stay signed, so a lane sums S = Σ u·w over the window and
 *   Σ (x + input_offset)·w = S + (input_offset - 128)·Σw,
 * all within int32 (each side at most 255·128·2^15 < 2^30). Every input
 * dword is broadcast straight from the converted image to all lanes: no
 * im2col. With few output channels, lane groups serve 2 or 4 adjacent
 * conv pixels at once (their weights shifted by the pixel's offset in the
 * row), so one broadcast feeds several pixels.
 *
 * A pass keeps two conv rows (the pool's) by up to MAX_COLS columns of
 * accumulators and reuses each weight vector for all of them. The pool
 * takes the maximum sum of its four taps, then folds and requantizes once:
 * the fold and the output stage are monotonic, as in the portable kernel.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx512_stage.h"

#define MAX_COLS 10

TQ_AVX512_INLINE __m512i bcast(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* Packs the weights (dispatch.h layout) and gives the folds
 * corr[c] = (input_offset - 128)·Σ w[c]. */
TQ_AVX512 static void pack_weights(const tq__s8_direct_args *a,
                                   unsigned char *packed, int32_t *corr)
{
    const tq__s8_direct_plan *p = a->plan;
    const int32_t cout = a->filter->n, kh = a->filter->h;
    const int32_t row_len = a->filter->w * a->filter->c;
    const int32_t k = kh * row_len;
    const int32_t step = a->conv->stride_w * a->filter->c;
    const __m512i iota = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46,
        45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28,
        27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
        9, 8, 7, 6, 5, 4, 3, 2, 1, 0);

    for (int32_t c = 0; c < cout; ++c) {
        const int8_t *w = a->w + (size_t)c * (size_t)k;
        __m512i s = _mm512_setzero_si512();
        for (int32_t i = 0; i < k; i += 64)
            s = tq__dpbusd(s, _mm512_set1_epi8(1),
                           _mm512_maskz_loadu_epi8(tq__mask64(k - i), w + i));
        corr[c] = (a->input_offset - 128) * _mm512_reduce_add_epi32(s);
    }
    for (int32_t cb = 0; cb < p->blocks; ++cb)
        for (int32_t ky = 0; ky < kh; ++ky) {
            /* Each lane's bytes in row order, shifted to its pixel. */
            __m512i rows[16], cols[16];
            for (int32_t l = 0; l < 16; ++l) {
                const int32_t g = l / p->lanes;
                const int32_t c = cb * 16 + l % p->lanes;
                rows[l] = _mm512_setzero_si512();
                if (c >= cout)
                    continue;
                const int32_t shift = g * step;
                const __m512i v = _mm512_maskz_loadu_epi8(
                    tq__mask64(row_len),
                    a->w + (size_t)c * (size_t)k + (size_t)ky * row_len);
                rows[l] =
                    shift == 0
                        ? v
                        : _mm512_maskz_permutexvar_epi8(
                              tq__mask64(shift + row_len) & ~tq__mask64(shift),
                              _mm512_sub_epi8(iota,
                                              _mm512_set1_epi8((char)shift)),
                              v);
            }
            tq__transpose16_epi32(rows, cols);
            unsigned char *dst =
                packed + ((size_t)cb * kh + (size_t)ky) * p->row_dwords * 64;
            for (int32_t d = 0; d < p->row_dwords; ++d)
                _mm512_store_si512(dst + (size_t)d * 64, cols[d]);
        }
}

/* Rows [y0, y0 + image_rows) of the padded image n as u8 (dispatch.h). */
TQ_AVX512 static void convert_rows(const tq__s8_direct_args *a, int32_t n,
                                   int32_t y0, unsigned char *img)
{
    const tq__s8_direct_plan *p = a->plan;
    const tq_conv_params *cv = a->conv;
    const size_t cin = (size_t)a->in->c;
    const size_t row = (size_t)p->padded_w * cin;
    const size_t data = (size_t)a->in->w * cin;
    const size_t left = (size_t)cv->pad_left * cin;
    const unsigned char pad = (unsigned char)(128 - a->input_offset);
    const int8_t *src = a->x + (size_t)n * (size_t)a->in->h * data;
    const __m512i flip = _mm512_set1_epi8(-128);
    for (int32_t r = 0; r < p->image_rows; ++r) {
        unsigned char *dst = img + (size_t)r * row;
        const int64_t iy = (int64_t)y0 + r - cv->pad_top;
        if (iy < 0 || iy >= a->in->h) {
            memset(dst, pad, row);
            continue;
        }
        memset(dst, pad, left);
        const int8_t *s = src + (size_t)iy * data;
        for (size_t i = 0; i < data; i += 64) {
            const __mmask64 m =
                tq__mask64((int32_t)(data - i < 64 ? data - i : 64));
            _mm512_mask_storeu_epi8(
                dst + left + i, m,
                _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s + i), flip));
        }
        memset(dst + left + data, pad, row - left - data);
    }
    memset(img + (size_t)p->image_rows * row, pad,
           p->image_bytes - (size_t)p->image_rows * row);
}

/* One pass: the raw sums of NJ columns (column j starts at byte j·jstep of
 * the rows r0, r0 + dy) over the window, maxed over the two rows. Named
 * accumulators: gcc 12 copies an array of them on every iteration. */
#define DP(acc, p) acc = tq__dpbusd(acc, bcast(p), wv)
#define COL(j, t, b)                                                           \
    do {                                                                       \
        if (NJ > j) {                                                          \
            DP(t, q0 + (j)*jstep);                                             \
            DP(b, q1 + (j)*jstep);                                             \
        }                                                                      \
    } while (0)
#define OUT(j, t, b)                                                           \
    do {                                                                       \
        if (NJ > j)                                                            \
            v[j] = _mm512_max_epi32(t, b);                                     \
    } while (0)

TQ_AVX512_INLINE void pass_sums(int NJ, const unsigned char *r0, size_t dy,
                                size_t ky_bytes, size_t jstep,
                                const unsigned char *w, int32_t kh,
                                int32_t row_dwords, __m512i v[MAX_COLS])
{
    const __m512i z = _mm512_setzero_si512();
    __m512i t0 = z, t1 = z, t2 = z, t3 = z, t4 = z, t5 = z, t6 = z, t7 = z;
    __m512i t8 = z, t9 = z, b0 = z, b1 = z, b2 = z, b3 = z, b4 = z, b5 = z;
    __m512i b6 = z, b7 = z, b8 = z, b9 = z;
    for (int32_t ky = 0; ky < kh; ++ky, r0 += ky_bytes) {
        const unsigned char *q0 = r0, *q1 = r0 + dy;
        for (int32_t d = 0; d < row_dwords; ++d, w += 64, q0 += 4, q1 += 4) {
            const __m512i wv = _mm512_load_si512(w);
            COL(0, t0, b0);
            COL(1, t1, b1);
            COL(2, t2, b2);
            COL(3, t3, b3);
            COL(4, t4, b4);
            COL(5, t5, b5);
            COL(6, t6, b6);
            COL(7, t7, b7);
            COL(8, t8, b8);
            COL(9, t9, b9);
        }
    }
    OUT(0, t0, b0);
    OUT(1, t1, b1);
    OUT(2, t2, b2);
    OUT(3, t3, b3);
    OUT(4, t4, b4);
    OUT(5, t5, b5);
    OUT(6, t6, b6);
    OUT(7, t7, b7);
    OUT(8, t8, b8);
    OUT(9, t9, b9);
}
#undef DP
#undef COL
#undef OUT

TQ_AVX512 static void pass_dispatch(int nj, const unsigned char *r0, size_t dy,
                                    size_t ky_bytes, size_t jstep,
                                    const unsigned char *w, int32_t kh,
                                    int32_t row_dwords, __m512i v[MAX_COLS])
{
    /* One instance per column count, each with its accumulators in
     * registers. */
    switch (nj) {
    case 1:
        pass_sums(1, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 2:
        pass_sums(2, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 3:
        pass_sums(3, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 4:
        pass_sums(4, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 5:
        pass_sums(5, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 6:
        pass_sums(6, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 7:
        pass_sums(7, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 8:
        pass_sums(8, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    case 9:
        pass_sums(9, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    default:
        pass_sums(MAX_COLS, r0, dy, ky_bytes, jstep, w, kh, row_dwords, v);
        break;
    }
}

/* Per-lane fold (corr, bias) and output stage of one channel block. */
typedef struct block_stage {
    tq__avx512_stage stage;
    __m512i corr, bias;
    int has_bias;
    __mmask16 store; /* lanes of one group that are real channels */
} block_stage;

TQ_AVX512 static void block_stage_init(const tq__s8_direct_args *a, int32_t cb,
                                       const int32_t *corr, block_stage *b)
{
    const int32_t lanes = a->plan->lanes, cout = a->filter->n;
    int32_t ch[16], cv[16], bv[16];
    for (int32_t l = 0; l < 16; ++l) {
        int32_t c = cb * 16 + l % lanes;
        c = c < cout ? c : cout - 1;
        ch[l] = c;
        cv[l] = corr[c];
        bv[l] = a->bias ? a->bias[c] : 0;
    }
    tq__avx512_stage_init(&b->stage, a->os, ch);
    b->corr = _mm512_loadu_si512(cv);
    b->bias = _mm512_loadu_si512(bv);
    b->has_bias = a->bias != NULL;
    const int32_t real = cout - cb * 16 < lanes ? cout - cb * 16 : lanes;
    b->store = tq__mask16(real);
}

/* The int8 outputs of pooled maxima of raw sums. */
TQ_AVX512_INLINE __m128i finish(__m512i s, const block_stage *b)
{
    __m512i acc = _mm512_add_epi32(s, b->corr);
    if (b->has_bias)
        acc = tq__avx512_adds_epi32(acc, b->bias);
    return _mm512_cvtepi32_epi8(tq__avx512_output(acc, &b->stage));
}

TQ_AVX512 void tq__avx512_s8_conv_pool(const tq__s8_direct_args *a)
{
    const tq__s8_direct_plan *p = a->plan;
    const tq_conv_params *cv = a->conv;
    const int32_t cout = a->filter->n, kh = a->filter->h;
    const int32_t ph = a->pooled->h, pw = a->pooled->w, g = p->group;
    const size_t row = (size_t)p->padded_w * (size_t)a->in->c;
    const size_t step = (size_t)cv->stride_w * (size_t)a->in->c;
    const size_t jstep = (size_t)g * step;
    const size_t dy = (size_t)cv->stride_h * row;
    const size_t ky_bytes = (size_t)cv->dilation_h * row;
    unsigned char *packed = a->scratch;
    int32_t *corr = (int32_t *)(void *)(packed + p->weight_bytes);
    unsigned char *img = packed + p->weight_bytes + p->fold_bytes;

    /* Columns of accumulators per pooled row, in passes of at most
     * MAX_COLS (an even count when each column is one conv pixel). */
    const int32_t cols = (2 * pw + g - 1) / g;
    const int32_t passes = (cols + MAX_COLS - 1) / MAX_COLS;
    int32_t nj = (cols + passes - 1) / passes;
    nj += g == 1 ? nj % 2 : 0;

    pack_weights(a, packed, corr);
    for (int32_t n = 0; n < a->in->n; ++n) {
        for (int32_t cb = 0; cb < p->blocks; ++cb) {
            block_stage bs;
            block_stage_init(a, cb, corr, &bs);
            const unsigned char *w =
                packed + (size_t)cb * (size_t)kh * p->row_dwords * 64;
            for (int32_t py = 0; py < ph; ++py) {
                const unsigned char *r0 = img;
                convert_rows(a, n, 2 * py * cv->stride_h, img);
                int8_t *out = a->y + ((size_t)n * ph + (size_t)py) *
                                         (size_t)pw * (size_t)cout;
                for (int32_t j0 = 0; j0 < cols; j0 += nj) {
                    const int32_t live = cols - j0 < nj ? cols - j0 : nj;
                    __m512i v[MAX_COLS];
                    pass_dispatch(live, r0 + (size_t)j0 * jstep, dy, ky_bytes,
                                  jstep, w, kh, p->row_dwords, v);
                    if (g == 1) {
                        for (int32_t j = 0; j + 1 < live; j += 2) {
                            const int32_t px = (j0 + j) / 2;
                            _mm_mask_storeu_epi8(
                                out + (size_t)px * cout + (size_t)cb * 16,
                                bs.store,
                                finish(_mm512_max_epi32(v[j], v[j + 1]), &bs));
                        }
                    } else if (g == 2) {
                        /* Two pooled pixels per output stage: the pixel
                         * pairs' halves of two columns, side by side. */
                        for (int32_t j = 0; j < live; j += 2) {
                            const __m512i v1 = j + 1 < live ? v[j + 1] : v[j];
                            const __m512i h = _mm512_max_epi32(
                                _mm512_shuffle_i64x2(v[j], v1, 0x44),
                                _mm512_shuffle_i64x2(v[j], v1, 0xee));
                            const __m128i o = finish(h, &bs);
                            int8_t *dst = out + (size_t)(j0 + j) * cout;
                            _mm_mask_storeu_epi8(dst, bs.store, o);
                            if (j + 1 < live)
                                _mm_mask_storeu_epi8(dst + cout, bs.store,
                                                     _mm_bsrli_si128(o, 8));
                        }
                    } else {
                        /* Four pooled pixels per output stage. */
                        for (int32_t j = 0; j < live; j += 2) {
                            const __m512i v1 = j + 1 < live ? v[j + 1] : v[j];
                            const __m512i h = _mm512_max_epi32(
                                _mm512_shuffle_i32x4(v[j], v1, 0x88),
                                _mm512_shuffle_i32x4(v[j], v1, 0xdd));
                            const __m128i o = finish(h, &bs);
                            const int32_t px = 2 * (j0 + j);
                            int8_t *dst = out + (size_t)px * cout;
                            const int32_t cover = j + 1 < live ? 4 : 2;
                            const int32_t n_px =
                                pw - px < cover ? pw - px : cover;
                            _mm_mask_storeu_epi8(dst, bs.store, o);
                            if (n_px > 1)
                                _mm_mask_storeu_epi8(dst + cout, bs.store,
                                                     _mm_bsrli_si128(o, 4));
                            if (n_px > 2)
                                _mm_mask_storeu_epi8(dst + 2 * cout, bs.store,
                                                     _mm_bsrli_si128(o, 8));
                            if (n_px > 3)
                                _mm_mask_storeu_epi8(dst + 3 * cout, bs.store,
                                                     _mm_bsrli_si128(o, 12));
                        }
                    }
                }
            }
        }
    }
}
