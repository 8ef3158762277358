/*
 * AVX2 implicit-GEMM convolution on packed panels (tq__s8_conv_panels_fn):
 * no im2col rows. For a tile of up to 6 output pixels, the
 * receptive fields are gathered from the NHWC input straight into the
 * int16 rows that the 6 x 16 tile of x86_avx2_s8_gemm_packed.c reads
 * (6·(K + 32) int16, L1-resident), and the tile runs against every
 * 16-channel panel of the prepacked weights. For each window row the kw
 * taps are contiguous in NHWC (kw·Cin bytes, dilation 1) and are widened
 * in 16-byte pieces; so the first conv of a CIFAR net (Cin 3, K 27, a
 * 9-byte window row) takes one load per window row, and 16..64-channel
 * 3x3 convs (window rows of 48..192 bytes) 3..12.
 *
 * Exactness: the rows hold the same values as the im2col rows (padded
 * taps get pad_value, whose shifted value is 0), the products and their
 * int32 sums are those of the panel GEMM (|sum| <= K·2^14 < 2^29 for
 * K <= MAX_K), and the int16 lanes written past K in a row (at most 15, a
 * side effect of whole 16-byte pieces) meet the panels' zero weights.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_gemm.h"

/* Longest reduction taken (3x3 over 227 channels); longer ones go to
 * im2col. The rows of a tile: 6·(MAX_K + 32)·2 bytes on the stack. */
#define MAX_K 2048
#define LD (MAX_K + 32)

typedef struct gather {
    const int8_t *in;
    size_t in_count; /* bytes of the input */
    int32_t h, w, cin;
    int32_t kh, kw;
    int32_t sh, sw, dh, dw, pt, pl;
    __m256i pad; /* pad_value widened, 16 lanes */
} gather;

/* len int16 from in[at ..] into d[0, round_up(len, 16)): lanes past len
 * get whatever follows (later pieces overwrite them). */
TQ_AVX2_INLINE void widen(const gather *g, size_t at, int32_t len, int16_t *d)
{
    for (int32_t i = 0; i < len; i += 16) {
        const size_t o = at + (size_t)i;
        __m128i x;
        if (o + 16 <= g->in_count) {
            x = _mm_loadu_si128((const __m128i *)(const void *)(g->in + o));
        } else {
            int8_t t[16] = {0};
            memcpy(t, g->in + o, g->in_count - o < 16 ? g->in_count - o : 16);
            x = _mm_loadu_si128((const __m128i *)(const void *)t);
        }
        _mm256_storeu_si256((__m256i *)(void *)(d + i), _mm256_cvtepi8_epi16(x));
    }
}

/* len padded taps: pad_value in d[0, round_up(len, 16)). */
TQ_AVX2_INLINE void fill(const gather *g, int32_t len, int16_t *d)
{
    for (int32_t i = 0; i < len; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(d + i), g->pad);
}

/* The receptive field of output pixel (n, oy, ox) in OHWI order (ky, kx,
 * c) into d[0, K), each piece starting where the last one ended. */
TQ_AVX2_INLINE void gather_row(const gather *g, int32_t n, int32_t oy,
                               int32_t ox, int16_t *d)
{
    const int32_t seg = g->kw * g->cin;
    const int32_t ix0 = ox * g->sw - g->pl;
    const int whole_row = g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
    for (int32_t ky = 0; ky < g->kh; ++ky, d += seg) {
        const int32_t iy = oy * g->sh - g->pt + ky * g->dh;
        if (iy < 0 || iy >= g->h) {
            fill(g, seg, d);
            continue;
        }
        const size_t row = ((size_t)n * (size_t)g->h + (size_t)iy) *
                           (size_t)g->w * (size_t)g->cin;
        if (whole_row) {
            widen(g, row + (size_t)ix0 * (size_t)g->cin, seg, d);
            continue;
        }
        for (int32_t kx = 0; kx < g->kw; ++kx) {
            const int32_t ix = ix0 + kx * g->dw;
            int16_t *dk = d + kx * g->cin;
            if (ix < 0 || ix >= g->w)
                fill(g, g->cin, dk);
            else
                widen(g, row + (size_t)ix * (size_t)g->cin, g->cin, dk);
        }
    }
}

TQ_AVX2 int tq__avx2_s8_conv_panels(const tq_conv_params *conv,
                                    const tq_dims *in_dims, const int8_t *in,
                                    const tq_dims *filter_dims,
                                    const tq_dims *out_dims, int8_t pad_value,
                                    size_t p0, int32_t pb,
                                    const unsigned char *panels, int32_t *c,
                                    size_t ldc)
{
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    if (conv->groups != 1 || k > MAX_K || in_dims->c != filter_dims->c)
        return 0;
    _Alignas(32) int16_t rows[TQ__AVX2_MR * LD];
    gather g;
    g.in = in;
    g.in_count = (size_t)in_dims->n * (size_t)in_dims->h *
                 (size_t)in_dims->w * (size_t)in_dims->c;
    g.h = in_dims->h;
    g.w = in_dims->w;
    g.cin = in_dims->c;
    g.kh = filter_dims->h;
    g.kw = filter_dims->w;
    g.sh = conv->stride_h;
    g.sw = conv->stride_w;
    g.dh = conv->dilation_h;
    g.dw = conv->dilation_w;
    g.pt = conv->pad_top;
    g.pl = conv->pad_left;
    g.pad = _mm256_set1_epi16(pad_value);
    const int32_t n = filter_dims->n, kp = (k + 1) / 2;
    const int16_t *pan0 = (const int16_t *)(const void *)panels;

    /* The first pixel's coordinates, then one step at a time. */
    int32_t pn, oy, ox;
    {
        const size_t plane = (size_t)out_dims->h * (size_t)out_dims->w;
        pn = (int32_t)(p0 / plane);
        const size_t r = p0 % plane;
        oy = (int32_t)(r / (size_t)out_dims->w);
        ox = (int32_t)(r % (size_t)out_dims->w);
    }
    /* A pixel whose window lies inside the image (dilation_w 1) and whose
     * last 16-byte piece ends inside the input takes the fast gather:
     * kh window rows of seg bytes, row_step apart, unchecked loads. */
    const int32_t seg = g.kw * g.cin;
    const size_t row_step = (size_t)g.dh * (size_t)g.w * (size_t)g.cin;
    const size_t reach = (size_t)(g.kh - 1) * row_step +
                         (size_t)((seg + 15) / 16 * 16);
    const int32_t y_hi = g.h - (g.kh - 1) * g.dh; /* iy0 < y_hi */
    const int32_t x_hi = g.w - g.kw;              /* ix0 <= x_hi */
    for (int32_t i0 = 0; i0 < pb; i0 += TQ__AVX2_MR) {
        const int32_t mr = pb - i0 < TQ__AVX2_MR ? pb - i0 : TQ__AVX2_MR;
        for (int32_t i = 0; i < mr; ++i) {
            int16_t *d = rows + (size_t)i * LD;
            const int32_t iy0 = oy * g.sh - g.pt, ix0 = ox * g.sw - g.pl;
            const size_t at =
                iy0 >= 0 && ix0 >= 0
                    ? (((size_t)pn * (size_t)g.h + (size_t)iy0) * (size_t)g.w +
                       (size_t)ix0) * (size_t)g.cin
                    : 0;
            if (g.dw == 1 && iy0 >= 0 && iy0 < y_hi && ix0 >= 0 &&
                ix0 <= x_hi && at + reach <= g.in_count) {
                const int8_t *src = in + at;
                int16_t *dd = d;
                for (int32_t ky = 0; ky < g.kh; ++ky, src += row_step, dd += seg)
                    for (int32_t q = 0; q < seg; q += 16)
                        _mm256_storeu_si256(
                            (__m256i *)(void *)(dd + q),
                            _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                (const __m128i *)(const void *)(src + q))));
            } else {
                gather_row(&g, pn, oy, ox, d);
            }
            d[k] = 0; /* the even padding of an odd K: pair kp - 1 */
            if (++ox == out_dims->w) {
                ox = 0;
                if (++oy == out_dims->h) {
                    oy = 0;
                    ++pn;
                }
            }
        }
        for (int32_t j0 = 0; j0 < n; j0 += 16) {
            const int32_t nr = n - j0 < 16 ? n - j0 : 16;
            __m256i acc[6][2];
            tq__avx2_tile(mr, kp, rows, LD,
                          pan0 + (size_t)(j0 / 16) * (size_t)kp * 32, acc);
            for (int32_t i = 0; i < mr; ++i) {
                int32_t *crow = c + (size_t)(i0 + i) * ldc + (size_t)j0;
                if (nr == 16) {
                    _mm256_storeu_si256((__m256i *)(void *)crow, acc[i][0]);
                    _mm256_storeu_si256((__m256i *)(void *)(crow + 8),
                                        acc[i][1]);
                } else {
                    int32_t t[16];
                    _mm256_storeu_si256((__m256i *)(void *)t, acc[i][0]);
                    _mm256_storeu_si256((__m256i *)(void *)(t + 8), acc[i][1]);
                    memcpy(crow, t, (size_t)nr * sizeof(int32_t));
                }
            }
        }
    }
    return 1;
}
