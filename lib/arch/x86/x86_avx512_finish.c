/*
 * AVX-512 fold and output stage of a block of raw s8 sums (the dispatch
 * entry s8_finish), bit for bit tq__s8_finish_block_ref(): 16 channels per
 * vector, the TFLite requantization of x86_avx512_stage.h.
 *
 * Without a weight offset, raw + a_offset·Σb = Σ (a + a_offset)·b lies
 * within 256·128·2^15 = 2^30, so the fold is exact in int32 and only the
 * bias needs a saturating add. The rare weight offset (whose fold can
 * reach 2^31) takes the reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../../s8/s8_internal.h"
#include "x86_avx512_stage.h"

TQ_AVX512 void tq__avx512_s8_finish(const tq__s8_fold *f, int32_t rows,
                                    int32_t channels, const int32_t *acc,
                                    size_t ld_acc, const tq_s8_output *os,
                                    int32_t ch0, int8_t *out, size_t ld_out)
{
    if (f->b_offset != 0) {
        tq__s8_finish_block_ref(f, rows, channels, acc, ld_acc, os, ch0, out,
                                ld_out);
        return;
    }
    for (int32_t c0 = 0; c0 < channels; c0 += 16) {
        const int32_t nc = channels - c0 < 16 ? channels - c0 : 16;
        const __mmask16 m = tq__mask16(nc);
        tq__avx512_stage st;
        tq__avx512_stage_range(&st, os, ch0 + c0, nc);
        const __m512i corr =
            f->a_offset != 0 ? _mm512_mullo_epi32(
                                   _mm512_set1_epi32(f->a_offset),
                                   _mm512_maskz_loadu_epi32(m, f->b_sums + c0))
                             : _mm512_setzero_si512();
        const __m512i bias = f->bias ? _mm512_maskz_loadu_epi32(m, f->bias + c0)
                                     : _mm512_setzero_si512();
        for (int32_t r = 0; r < rows; ++r) {
            __m512i x =
                _mm512_add_epi32(_mm512_maskz_loadu_epi32(
                                     m, acc + (size_t)r * ld_acc + (size_t)c0),
                                 corr);
            if (f->bias)
                x = tq__avx512_adds_epi32(x, bias);
            _mm_mask_storeu_epi8(
                out + (size_t)r * ld_out + (size_t)c0, m,
                _mm512_cvtepi32_epi8(tq__avx512_output(x, &st)));
        }
    }
}
