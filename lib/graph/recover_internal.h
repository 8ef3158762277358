/*
 * Shared by the accuracy-recovery units (adaround.c, recover.c; host
 * only). Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_RECOVER_INTERNAL_H
#define TQ_RECOVER_INTERNAL_H

#include "../tq_internal.h"

/* AdaRound of @p rows rows of @p k weights sharing one Gram matrix
 * (arguments checked by the caller); @p name goes to the progress
 * callback. With @p target (rows · k) and @p constant (rows), row r
 * minimises the asymmetric objective uᵀ G u − 2 uᵀ target_r + constant_r,
 * u = s·q, instead of dᵀ G d. */
tq_status tq__adaround_rows(int32_t rows, int32_t k, const float *w,
                            const float *scales, int32_t per_channel,
                            const double *gram, int32_t qmin, int32_t qmax,
                            const tq_recovery_config *cfg, const char *name,
                            const double *target, const double *constant,
                            int8_t *codes);

#endif /* TQ_RECOVER_INTERNAL_H */
