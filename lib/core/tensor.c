/*
 * Tensor descriptors: dtype sizes, element and byte counts with overflow
 * checks, and descriptor initialisation.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../tq_internal.h"

/* tq_shape_numel() accepts more dimensions than a tq_tensor holds, for
 * callers (file parsers) that see arbitrary shapes before rejecting them. */
#define TQ__SHAPE_NUMEL_MAX_DIMS 64

size_t tq_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case TQ_F32:
        return sizeof(float);
    case TQ_S8:
        return sizeof(int8_t);
    case TQ_S32:
        return sizeof(int32_t);
    case TQ_S16:
        return sizeof(int16_t);
    case TQ_S64:
        return sizeof(int64_t);
    default:
        return 0;
    }
}

tq_status tq_shape_numel(int32_t ndim, const int64_t *shape, size_t *count)
{
    if (!count || (ndim > 0 && !shape))
        return TQ_ERR_NULL;
    if (ndim < 0 || ndim > TQ__SHAPE_NUMEL_MAX_DIMS)
        return TQ_ERR_SHAPE;
    /* Shape errors win over overflow, so scan for negatives first. */
    for (int32_t i = 0; i < ndim; ++i) {
        if (shape[i] < 0)
            return TQ_ERR_SHAPE;
    }
    int has_zero = 0;
    for (int32_t i = 0; i < ndim; ++i) {
#if SIZE_MAX < INT64_MAX
        /* Only 32-bit targets: an extent that is not even addressable is
         * rejected although a zero elsewhere would make the product 0. */
        if ((uint64_t)shape[i] > (uint64_t)SIZE_MAX)
            return TQ_ERR_OVERFLOW;
#endif
        has_zero |= shape[i] == 0;
    }
    /* An empty tensor is empty whatever its other extents are; checking for
     * overflow there would reject e.g. {0, 2^40, 2^40} for no reason. */
    if (has_zero) {
        *count = 0;
        return TQ_OK;
    }
    size_t n = 1;
    for (int32_t i = 0; i < ndim; ++i) {
        if (tq__mul_size(n, (size_t)shape[i], &n))
            return TQ_ERR_OVERFLOW;
    }
    *count = n;
    return TQ_OK;
}

tq_status tq_tensor_numel(const tq_tensor *t, size_t *count)
{
    if (!t || !count)
        return TQ_ERR_NULL;
    if (t->ndim < 0 || t->ndim > TQ_MAX_DIMS)
        return TQ_ERR_SHAPE;
    return tq_shape_numel(t->ndim, t->shape, count);
}

tq_status tq_tensor_nbytes(const tq_tensor *t, size_t *bytes)
{
    size_t n, b;
    if (!t || !bytes)
        return TQ_ERR_NULL;
    const size_t elem = tq_dtype_size(t->dtype);
    if (elem == 0)
        return TQ_ERR_DTYPE;
    TQ_CHECK(tq_tensor_numel(t, &n));
    if (tq__mul_size(n, elem, &b))
        return TQ_ERR_OVERFLOW;
    *bytes = b;
    return TQ_OK;
}

tq_status tq_tensor_init(tq_tensor *t, void *data, int32_t dtype,
                         int32_t ndim, const int64_t *shape)
{
    tq_tensor tmp = {0};
    size_t bytes;
    if (!t || (ndim > 0 && !shape))
        return TQ_ERR_NULL;
    if (tq_dtype_size(dtype) == 0)
        return TQ_ERR_DTYPE;
    if (ndim < 0 || ndim > TQ_MAX_DIMS)
        return TQ_ERR_SHAPE;
    tmp.data = data;
    tmp.dtype = dtype;
    tmp.ndim = ndim;
    for (int32_t i = 0; i < ndim; ++i)
        tmp.shape[i] = shape[i];
    TQ_CHECK(tq_tensor_nbytes(&tmp, &bytes));
    if (bytes > 0 && !data)
        return TQ_ERR_NULL;
    *t = tmp;
    return TQ_OK;
}
