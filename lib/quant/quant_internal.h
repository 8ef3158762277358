/*
 * Internal pieces shared by the quantization units (lib/quant): validation
 * of ::tq_qparams against a tensor, and the one walk over a tensor in runs
 * of elements that share a scale and zero point (per tensor, or per channel
 * along any axis). Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_QUANT_INTERNAL_H
#define TQ_QUANT_INTERNAL_H

#include "../tq_internal.h"

/* Is @p scale legal for tinyq's (fake-)quantization: > 0, finite, with a
 * finite float reciprocal (lib/quant/scheme.c). */
int tq__scale_usable(float scale);

/* Check that @p t is a tensor of @p dtype with a valid shape; its element
 * count goes to @p count and its byte size to @p bytes. A NULL data pointer
 * is accepted only for an empty tensor. */
tq_status tq__check_qtensor(const tq_tensor *t, int32_t dtype, size_t *count,
                            size_t *bytes);

/* Check @p p (pointers, code range, rounding, count against the channel
 * axis of @p t, every scale and zero point). @p t must have passed
 * tq__check_qtensor(). */
tq_status tq__check_qparams(const tq_qparams *p, const tq_tensor *t);

/* A maximal stretch of consecutive elements (flat, row-major indices
 * [start, start + len)) quantized with the same parameters. */
typedef struct tq__qrun {
    size_t start;
    size_t len;
    float scale;
    float inv_scale; /* 1.0f / scale in float, as PyTorch computes it */
    int32_t zero_point;
} tq__qrun;

typedef void (*tq__qrun_fn)(void *ctx, const tq__qrun *run);

/* Call @p fn on every run of @p t under @p p, in increasing index order.
 * Both must have been validated; does nothing for an empty tensor. */
void tq__for_each_qrun(const tq_tensor *t, const tq_qparams *p,
                       tq__qrun_fn fn, void *ctx);

#endif /* TQ_QUANT_INTERNAL_H */
