/*
 * The 16x8 requantization oracle shared by the int16 kernel tests: the
 * int64 MultiplyByQuantizedMultiplier of
 * ../shared/docs/int16-int4-arithmetic.md in exact 128-bit arithmetic,
 * never calling the library.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_TEST_ORACLE_S16_H
#define TQ_TEST_ORACLE_S16_H

#include <stdint.h>

__extension__ typedef __int128 i128;

/* The doc's int64 MBQM: floor of (x · reduced + 2^(total − 1)) / 2^total,
 * reduced = the multiplier rounded to 16 bits, total = 15 − shift, by
 * division (no shift of a negative number), saturated to int32. */
static inline int64_t o_requant64(int64_t x, int64_t m, int shift)
{
    const int64_t reduced = m < 0x7FFF0000 ? (m + 32768) / 65536 : 0x7FFF;
    const int total = 15 - shift;
    const i128 d = (i128)1 << total;
    const i128 num = (i128)x * reduced + ((i128)1 << (total - 1));
    i128 q = num / d;
    if (num % d != 0 && num < 0)
        q -= 1;
    return q < INT32_MIN ? INT32_MIN : (q > INT32_MAX ? INT32_MAX : (int64_t)q);
}

#endif /* TQ_TEST_ORACLE_S16_H */
