/*
 * Heap-backed tensors for host programs (tools, tests, examples). Firmware
 * builds leave this unit out; kernels never call it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "../tq_internal.h"

#if defined(_WIN32)
#include <malloc.h>
#endif

/* A cache line, and the widest vector load (AVX-512) any kernel issues. */
#define TQ__HEAP_ALIGN 64

static void *tq__aligned_alloc(size_t bytes)
{
#if defined(_WIN32)
    /* The Microsoft C runtime has no aligned_alloc(). */
    return _aligned_malloc(bytes, TQ__HEAP_ALIGN);
#else
    return aligned_alloc(TQ__HEAP_ALIGN, bytes);
#endif
}

static void tq__aligned_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

tq_status tq_tensor_alloc(tq_tensor *t, int32_t dtype, int32_t ndim,
                          const int64_t *shape)
{
    size_t count, bytes, rounded;
    if (!t || (ndim > 0 && !shape))
        return TQ_ERR_NULL;
    const size_t elem = tq_dtype_size(dtype);
    if (elem == 0)
        return TQ_ERR_DTYPE;
    if (ndim < 0 || ndim > TQ_MAX_DIMS)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq_shape_numel(ndim, shape, &count));
    if (tq__mul_size(count, elem, &bytes))
        return TQ_ERR_OVERFLOW;
    /* aligned_alloc() wants a multiple of the alignment. An empty tensor
     * still gets one line, so a successful allocation is never NULL and
     * tq_tensor_free() has one rule for everything. */
    if (bytes > SIZE_MAX - (TQ__HEAP_ALIGN - 1))
        return TQ_ERR_OVERFLOW;
    rounded = (bytes + (TQ__HEAP_ALIGN - 1)) / TQ__HEAP_ALIGN * TQ__HEAP_ALIGN;
    if (rounded == 0)
        rounded = TQ__HEAP_ALIGN;

    void *p = tq__aligned_alloc(rounded);
    if (!p)
        return TQ_ERR_NO_MEMORY;
    memset(p, 0, rounded);
    const tq_status s = tq_tensor_init(t, p, dtype, ndim, shape);
    if (s != TQ_OK) {
        /* Unreachable: the same checks passed above. */
        tq__aligned_free(p);
        return s;
    }
    return TQ_OK;
}

void tq_tensor_free(tq_tensor *t)
{
    if (!t)
        return;
    tq__aligned_free(t->data);
    memset(t, 0, sizeof *t);
}
