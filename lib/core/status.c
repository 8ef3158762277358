/*
 * Human-readable messages for tq_status codes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../tq_internal.h"

const char *tq_status_message(tq_status status)
{
    /* A switch rather than a table indexed by the code: an out-of-range or
     * negative value (possible through ctypes or a cast) cannot index past
     * the end, and the compiler warns if an enumerator is forgotten. */
    switch (status) {
    case TQ_OK:
        return "success";
    case TQ_ERR_NULL:
        return "a required pointer argument is NULL";
    case TQ_ERR_SHAPE:
        return "shapes or dimensions are invalid or inconsistent";
    case TQ_ERR_DTYPE:
        return "a tensor has the wrong or an unknown element type";
    case TQ_ERR_OVERFLOW:
        return "an element or byte count overflows its integer type";
    case TQ_ERR_PARAM:
        return "a parameter is outside its legal range";
    case TQ_ERR_UNSUPPORTED:
        return "this combination of parameters is not supported";
    case TQ_ERR_BUFFER_TOO_SMALL:
        return "a caller-provided buffer is too small";
    case TQ_ERR_EMPTY:
        return "a statistic was requested of no data";
    case TQ_ERR_NOT_FINITE:
        return "input data contains NaN or infinity";
    case TQ_ERR_ALIAS:
        return "input and output buffers overlap";
    case TQ_ERR_IO:
        return "a file could not be opened, read or written";
    case TQ_ERR_FORMAT:
        return "a file is malformed";
    case TQ_ERR_NOT_FOUND:
        return "the named item is not present";
    case TQ_ERR_NO_MEMORY:
        return "memory could not be allocated";
    }
    return "unknown status";
}
