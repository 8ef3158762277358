/*
 * int8 table lookup: any elementwise function of one int8 code (a
 * requantizing copy, a standalone clamp, leaky ReLU, ...) as a 256-entry
 * table computed once, ahead of inference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

tq_status tq_s8_lookup(size_t n, const int8_t *in, const int8_t table[256],
                       int8_t *out)
{
    if (n == 0)
        return TQ_OK;
    if (!in || !table || !out)
        return TQ_ERR_NULL;
    /* In place (out == in) is fine: each element is read before it is
     * written. Any other overlap, or a table the output would overwrite,
     * is not. */
    if ((out != in && tq__overlap(out, n, in, n)) ||
        tq__overlap(out, n, table, 256))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < n; ++i)
        out[i] = table[(int32_t)in[i] + 128];
    return TQ_OK;
}
