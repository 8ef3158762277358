/*
 * Internal pieces of the int4-weight kernels: reading packed nibbles.
 * Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_S4_INTERNAL_H
#define TQ_S4_INTERNAL_H

#include "../tq_internal.h"

/* Value i of a packed int4 tensor, sign-extended: element 2k is the low
 * nibble of byte k, element 2k + 1 the high one. */
static inline int8_t tq__s4_get(const uint8_t *packed, size_t i)
{
    const unsigned nib = (packed[i >> 1] >> ((i & 1u) * 4u)) & 0xFu;
    return (int8_t)((int)nib - ((nib & 8u) ? 16 : 0));
}

/* dst[j] = value first + j for j < count. */
void tq__s4_unpack_range(const uint8_t *packed, size_t first, size_t count,
                         int8_t *dst);

#endif /* TQ_S4_INTERNAL_H */
