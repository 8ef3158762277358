/*
 * AVX2 fold and output stage of a block of raw s8 sums (the dispatch entry
 * s8_finish), bit for bit tq__s8_finish_block_ref(): 8 channels per vector,
 * the TFLite requantization of x86_avx2_stage.h, each channel block's
 * stage set up once for all the rows of the block.
 *
 * Without a weight offset, raw + a_offset·Σb = Σ (a + a_offset)·b lies
 * within 256·128·2^15 = 2^30, so the fold is exact in int32 and only the
 * bias needs a saturating add. The rare weight offset (whose fold can
 * reach 2^31) takes the reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../../s8/s8_internal.h"
#include "x86_avx2_stage.h"

TQ_AVX2 void tq__avx2_s8_finish(const tq__s8_fold *f, int32_t rows,
                                int32_t channels, const int32_t *acc,
                                size_t ld_acc, const tq_s8_output *os,
                                int32_t ch0, int8_t *out, size_t ld_out)
{
    if (f->b_offset != 0) {
        tq__s8_finish_block_ref(f, rows, channels, acc, ld_acc, os, ch0, out,
                                ld_out);
        return;
    }
    for (int32_t c0 = 0; c0 < channels; c0 += 8) {
        const int32_t nc = channels - c0 < 8 ? channels - c0 : 8;
        const __m256i live = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(nc), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        tq__avx2_stage st;
        tq__avx2_stage_range(&st, os, ch0 + c0, nc);
        const __m256i corr =
            f->a_offset != 0
                ? _mm256_mullo_epi32(_mm256_set1_epi32(f->a_offset),
                                     _mm256_maskload_epi32(f->b_sums + c0, live))
                : _mm256_setzero_si256();
        const __m256i bias = f->bias ? _mm256_maskload_epi32(f->bias + c0, live)
                                     : _mm256_setzero_si256();
        for (int32_t r = 0; r < rows; ++r) {
            const int32_t *arow = acc + (size_t)r * ld_acc + (size_t)c0;
            __m256i x = nc == 8 ? _mm256_loadu_si256((const __m256i *)(const void *)arow)
                                : _mm256_maskload_epi32(arow, live);
            x = _mm256_add_epi32(x, corr);
            if (f->bias)
                x = tq__avx2_adds_epi32(x, bias);
            const __m128i b = tq__avx2_bytes8(tq__avx2_output(x, &st));
            int8_t *o = out + (size_t)r * ld_out + (size_t)c0;
            if (nc == 8) {
                _mm_storel_epi64((__m128i *)(void *)o, b);
            } else {
                int8_t tmp[16];
                _mm_storeu_si128((__m128i *)(void *)tmp, b);
                memcpy(o, tmp, (size_t)nc);
            }
        }
    }
}
