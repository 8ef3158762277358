/*
 * Run-time version queries, so a caller can detect a header/library
 * mismatch (a ctypes binding has no compile-time check at all).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../tq_internal.h"

#define TQ__STRINGIFY_(x) #x
#define TQ__STRINGIFY(x) TQ__STRINGIFY_(x)

/* MINOR and PATCH get two decimal digits each in TQ_VERSION_NUMBER; a
 * larger part would collide with the next one up and the number could no
 * longer be decoded into the string below. */
_Static_assert(TQ_VERSION_MINOR >= 0 && TQ_VERSION_MINOR < 100,
               "TQ_VERSION_MINOR must fit in two decimal digits");
_Static_assert(TQ_VERSION_PATCH >= 0 && TQ_VERSION_PATCH < 100,
               "TQ_VERSION_PATCH must fit in two decimal digits");
_Static_assert(TQ_VERSION_MAJOR >= 0 && TQ_VERSION_MAJOR < 42949,
               "TQ_VERSION_MAJOR must keep TQ_VERSION_NUMBER in uint32_t");
_Static_assert(TQ_VERSION_NUMBER / 10000 == TQ_VERSION_MAJOR &&
                   TQ_VERSION_NUMBER / 100 % 100 == TQ_VERSION_MINOR &&
                   TQ_VERSION_NUMBER % 100 == TQ_VERSION_PATCH,
               "TQ_VERSION_NUMBER disagrees with its parts");

uint32_t tq_version_number(void)
{
    return (uint32_t)TQ_VERSION_NUMBER;
}

const char *tq_version_string(void)
{
    return TQ__STRINGIFY(TQ_VERSION_MAJOR) "." TQ__STRINGIFY(
        TQ_VERSION_MINOR) "." TQ__STRINGIFY(TQ_VERSION_PATCH);
}
