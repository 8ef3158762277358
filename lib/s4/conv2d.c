/*
 * int8 convolution with packed int4 weights: the filter is unpacked into
 * the front of the caller's scratch and the rest of the scratch serves
 * tq_s8_conv2d(), so the result is the s8 kernel's on the unpacked filter
 * by construction, on every kernel path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../s8/s8_internal.h"
#include "s4_internal.h"

/* Validated shapes: the filter's element count and the s8 scratch. */
static tq_status conv_sizes(const tq_conv_params *conv, const tq_dims *in_dims,
                            const tq_dims *filter_dims,
                            const tq_dims *out_dims, size_t *filter_count,
                            size_t *s8_bytes, size_t *total)
{
    TQ_CHECK(tq_s8_conv2d_scratch_size(conv, in_dims, filter_dims, out_dims,
                                       s8_bytes));
    TQ_CHECK(tq__dims_count(filter_dims, filter_count));
    if (tq__add_size(*filter_count, *s8_bytes, total))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_s4_conv2d_scratch_size(const tq_conv_params *conv,
                                    const tq_dims *in_dims,
                                    const tq_dims *filter_dims,
                                    const tq_dims *out_dims, size_t *bytes)
{
    size_t f, s8, total;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_sizes(conv, in_dims, filter_dims, out_dims, &f, &s8, &total));
    *bytes = total;
    return TQ_OK;
}

tq_status tq_s4_conv2d(const tq_conv_params *conv, const tq_dims *in_dims,
                       const int8_t *in, int32_t input_offset,
                       const tq_dims *filter_dims, const uint8_t *filter,
                       const int32_t *bias, const tq_s8_output *os,
                       const tq_dims *out_dims, int8_t *out, void *scratch,
                       size_t scratch_bytes)
{
    size_t f_count, s8_bytes, total, in_count, out_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_sizes(conv, in_dims, filter_dims, out_dims, &f_count,
                        &s8_bytes, &total));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, filter_dims->n));
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < total)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    const size_t packed = tq_s4_packed_size(f_count);
    if (tq__overlap(out, out_count, in, in_count) ||
        tq__overlap(out, out_count, filter, packed) ||
        tq__overlap(scratch, total, in, in_count) ||
        tq__overlap(scratch, total, out, out_count) ||
        tq__overlap(scratch, total, filter, packed))
        return TQ_ERR_ALIAS;
    /* Everything tq_s8_conv2d() checks has been checked: it cannot fail. */
    int8_t *w = scratch;
    tq__s4_unpack_range(filter, 0, f_count, w);
    return tq_s8_conv2d(conv, in_dims, in, input_offset, filter_dims, w, bias,
                        os, out_dims, out, w + f_count, scratch_bytes - f_count);
}
