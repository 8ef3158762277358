/*
 * AVX2 int8 depthwise convolution with depth multiplier 1 (the dispatch
 * entry s8_depthwise), bit for bit the portable kernel of
 * lib/s8/depthwise.c: 16 channels per vector, taps taken two at a time.
 *
 * Channels go in groups of up to 8 blocks of 16, whose weights (widened to
 * int16) and output stages are set up once. Per output pixel the taps
 * inside the image (a rectangle of the window; for an interior pixel all
 * of them, at offsets computed once) are listed once for the whole group,
 * then walked in pairs for each block: the int16 values x + input_offset
 * (in [-255, 255]) of the two taps are interleaved channel by channel with
 * their weights, and vpmaddwd gives x1·w1 + x2·w2 per channel in an int32
 * lane (at most 2·128·255 in size; at most 64 taps, so no sum overflows,
 * as in the reference). The interleave works within 128-bit lanes, so the
 * two accumulators hold channels {0-3, 8-11} and {4-7, 12-15} until the
 * end. The bias is added with int32 saturation (the reference adds in
 * int64 and saturates) and the output stage is x86_avx2_stage.h's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_stage.h"

#define GROUP_BLOCKS 8

/* Sixteen int8 of a channel block, widened; a short block (nc < 16) reads
 * through a copy, so nothing past the tensor is touched. */
TQ_AVX2_INLINE __m256i load_widen(const int8_t *p, int32_t nc)
{
    if (nc == 16)
        return _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(const void *)p));
    int8_t t[16] = {0};
    memcpy(t, p, (size_t)nc);
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(void *)t));
}

/* What a channel block needs besides its taps. */
typedef struct dw_block {
    tq__avx2_stage st0, st1;
    __m256i b0, b1;
    int32_t c0, nc;
} dw_block;

/* One output pixel of one block: taps at base + offs[i] (+ c0), weights
 * w[ws[i]], count even. */
TQ_AVX2_INLINE void dw_pixel(const dw_block *blk, const __m256i *w,
                             const int8_t *base, const ptrdiff_t *offs,
                             const int32_t *ws, int32_t count, __m256i off,
                             int has_bias, __m256i zp16, __m128i lo8,
                             __m128i hi8, int8_t *dst)
{
    const int32_t nc = blk->nc;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    for (int32_t i = 0; i < count; i += 2) {
        const __m256i x1 = _mm256_add_epi16(load_widen(base + offs[i], nc), off);
        const __m256i x2 =
            _mm256_add_epi16(load_widen(base + offs[i + 1], nc), off);
        const __m256i wa = w[ws[i]], wb = w[ws[i + 1]];
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, x2),
                                                    _mm256_unpacklo_epi16(wa, wb)));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, x2),
                                                    _mm256_unpackhi_epi16(wa, wb)));
    }
    /* Channels 0-7 and 8-15. */
    __m256i r0 = _mm256_permute2x128_si256(a0, a1, 0x20);
    __m256i r1 = _mm256_permute2x128_si256(a0, a1, 0x31);
    if (has_bias) {
        r0 = tq__avx2_adds_epi32(r0, blk->b0);
        r1 = tq__avx2_adds_epi32(r1, blk->b1);
    }
    const __m128i y = tq__avx2_pack16(tq__avx2_requant_raw(r0, &blk->st0),
                                      tq__avx2_requant_raw(r1, &blk->st1), zp16,
                                      lo8, hi8);
    if (nc == 16) {
        _mm_storeu_si128((__m128i *)(void *)dst, y);
    } else {
        int8_t t[16];
        _mm_storeu_si128((__m128i *)(void *)t, y);
        memcpy(dst, t, (size_t)nc);
    }
}

TQ_AVX2 void tq__avx2_s8_depthwise(const tq_conv_params *conv,
                                   const tq_dims *in_dims, const int8_t *in,
                                   int32_t input_offset,
                                   const tq_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias,
                                   const tq_s8_output *os,
                                   const tq_dims *out_dims, int8_t *out)
{
    const int32_t ch = in_dims->c, kh = filter_dims->h, kw = filter_dims->w;
    const int32_t taps = kh * kw; /* <= TQ__DW_MAX_TAPS (the caller's check) */
    const size_t row_stride = (size_t)in_dims->w * (size_t)ch;
    const __m256i off = _mm256_set1_epi16((int16_t)input_offset);
    const __m256i zp16 = _mm256_set1_epi16((int16_t)os->output_offset);
    const __m128i lo8 = _mm_set1_epi8((int8_t)os->act_min);
    const __m128i hi8 = _mm_set1_epi8((int8_t)os->act_max);
    __m256i w16[GROUP_BLOCKS][TQ__DW_MAX_TAPS + 1];
    dw_block blk[GROUP_BLOCKS];
    /* The taps of a pixel: offsets from the pixel's window origin (or from
     * the image row start), weight indices; padded to an even count. */
    ptrdiff_t full_offs[TQ__DW_MAX_TAPS + 1], offs[TQ__DW_MAX_TAPS + 1];
    int32_t full_ws[TQ__DW_MAX_TAPS + 1], ws[TQ__DW_MAX_TAPS + 1];

    int32_t full = 0;
    for (int32_t ky = 0; ky < kh; ++ky)
        for (int32_t kx = 0; kx < kw; ++kx) {
            full_offs[full] =
                (ptrdiff_t)((size_t)ky * (size_t)conv->dilation_h * row_stride +
                            (size_t)kx * (size_t)conv->dilation_w * (size_t)ch);
            full_ws[full++] = ky * kw + kx;
        }
    if (full & 1) { /* pair the last tap with weight 0 */
        full_offs[full] = full_offs[full - 1];
        full_ws[full++] = taps;
    }
    const int64_t span_h = (int64_t)(kh - 1) * conv->dilation_h;
    const int64_t span_w = (int64_t)(kw - 1) * conv->dilation_w;

    for (int32_t g0 = 0; g0 < ch; g0 += 16 * GROUP_BLOCKS) {
        int32_t nb = 0;
        for (int32_t c0 = g0; c0 < ch && nb < GROUP_BLOCKS; c0 += 16, ++nb) {
            dw_block *b = &blk[nb];
            b->c0 = c0;
            b->nc = ch - c0 < 16 ? ch - c0 : 16;
            tq__avx2_stage_range(&b->st0, os, c0, b->nc < 8 ? b->nc : 8);
            tq__avx2_stage_range(&b->st1, os, b->nc > 8 ? c0 + 8 : c0,
                                 b->nc > 8 ? b->nc - 8 : 1);
            int32_t bb[16] = {0};
            if (bias)
                memcpy(bb, bias + c0, (size_t)b->nc * sizeof(int32_t));
            b->b0 = _mm256_loadu_si256((const __m256i *)(void *)bb);
            b->b1 = _mm256_loadu_si256((const __m256i *)(void *)(bb + 8));
            for (int32_t t = 0; t < taps; ++t)
                w16[nb][t] = load_widen(
                    filter + (size_t)t * (size_t)ch + (size_t)c0, b->nc);
            w16[nb][taps] = _mm256_setzero_si256();
        }
        for (int32_t n = 0; n < out_dims->n; ++n) {
            const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
            for (int32_t oy = 0; oy < out_dims->h; ++oy) {
                const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
                int8_t *dst = out + (((size_t)n * (size_t)out_dims->h +
                                      (size_t)oy) * (size_t)out_dims->w) *
                                        (size_t)ch;
                for (int32_t ox = 0; ox < out_dims->w; ++ox, dst += ch) {
                    const int64_t x0 =
                        (int64_t)ox * conv->stride_w - conv->pad_left;
                    const int8_t *base;
                    const ptrdiff_t *po;
                    const int32_t *pw;
                    int32_t count;
                    if (y0 >= 0 && y0 + span_h < in_dims->h && x0 >= 0 &&
                        x0 + span_w < in_dims->w) {
                        base = img + (size_t)y0 * row_stride +
                               (size_t)x0 * (size_t)ch;
                        po = full_offs, pw = full_ws, count = full;
                    } else {
                        count = 0;
                        for (int32_t ky = 0; ky < kh; ++ky) {
                            const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
                            if (iy < 0 || iy >= in_dims->h)
                                continue;
                            for (int32_t kx = 0; kx < kw; ++kx) {
                                const int64_t ix =
                                    x0 + (int64_t)kx * conv->dilation_w;
                                if (ix < 0 || ix >= in_dims->w)
                                    continue;
                                offs[count] = (ptrdiff_t)((size_t)iy * row_stride +
                                                          (size_t)ix * (size_t)ch);
                                ws[count++] = ky * kw + kx;
                            }
                        }
                        if (count & 1) {
                            offs[count] = offs[count - 1];
                            ws[count++] = taps;
                        }
                        base = img, po = offs, pw = ws;
                    }
                    for (int32_t i = 0; i < nb; ++i)
                        dw_pixel(&blk[i], w16[i], base + blk[i].c0, po, pw,
                                 count, off, bias != NULL, zp16, lo8, hi8,
                                 dst + blk[i].c0);
                }
            }
        }
    }
}
