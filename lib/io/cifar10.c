/*
 * CIFAR-10 binary batches (host only): record counts, range reads with
 * label validation, and the torchvision ToTensor + Normalize transform to
 * NHWC floats.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tq_internal.h"
#include "io_internal.h"

#define CF_SIDE 32
#define CF_PLANE (CF_SIDE * CF_SIDE)
#define CF_PIXELS (3 * CF_PLANE)
#define CF_MAX_LABEL 9

_Static_assert(TQ_CIFAR10_RECORD_BYTES == 1 + CF_PIXELS,
               "a record is a label byte and three 32x32 planes");

/* Records in the open file; the position is left at the start. */
static tq_status cf_records(FILE *fp, int64_t *records)
{
    uint64_t size;
    TQ_CHECK(tq__file_size(fp, &size));
    if (size % TQ_CIFAR10_RECORD_BYTES != 0)
        return TQ_ERR_FORMAT;
    *records = (int64_t)(size / TQ_CIFAR10_RECORD_BYTES);
    return TQ_OK;
}

tq_status tq_cifar10_count(const char *path, int64_t *count)
{
    if (!path || !count)
        return TQ_ERR_NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return TQ_ERR_IO;
    int64_t records = 0;
    const tq_status st = cf_records(fp, &records);
    fclose(fp);
    if (st == TQ_OK)
        *count = records;
    return st;
}

/* Read the whole range into a private buffer and check every label before
 * the caller's buffers see a byte, so that a failure leaves them as they
 * were. */
static tq_status cf_read_range(FILE *fp, int64_t first, int64_t count,
                               uint8_t *labels, uint8_t *pixels)
{
    int64_t records;
    TQ_CHECK(cf_records(fp, &records));
    if (first > records || count > records - first)
        return TQ_ERR_FORMAT;
    if (count == 0)
        return TQ_OK; /* nothing to read, nothing written */

    size_t bytes;
    if ((uint64_t)count > SIZE_MAX ||
        tq__mul_size((size_t)count, TQ_CIFAR10_RECORD_BYTES, &bytes))
        return TQ_ERR_OVERFLOW;
    unsigned char *raw = malloc(bytes);
    if (!raw)
        return TQ_ERR_NO_MEMORY;
    tq_status st = TQ_ERR_IO;
    /* first * 3073 <= the file's size. */
    if (tq__file_seek(fp, (uint64_t)first * TQ_CIFAR10_RECORD_BYTES) &&
        fread(raw, 1, bytes, fp) == bytes) {
        st = TQ_OK;
        for (size_t r = 0; r < (size_t)count && st == TQ_OK; ++r)
            if (raw[r * TQ_CIFAR10_RECORD_BYTES] > CF_MAX_LABEL)
                st = TQ_ERR_FORMAT;
    }
    if (st == TQ_OK) {
        for (size_t r = 0; r < (size_t)count; ++r) {
            const unsigned char *rec = raw + r * TQ_CIFAR10_RECORD_BYTES;
            labels[r] = rec[0];
            memcpy(pixels + r * CF_PIXELS, rec + 1, CF_PIXELS);
        }
    }
    free(raw);
    return st;
}

tq_status tq_cifar10_read(const char *path, int64_t first, int64_t count,
                          uint8_t *labels, uint8_t *pixels)
{
    if (!path || (count > 0 && (!labels || !pixels)))
        return TQ_ERR_NULL;
    if (first < 0 || count < 0)
        return TQ_ERR_PARAM;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return TQ_ERR_IO;
    const tq_status st = cf_read_range(fp, first, count, labels, pixels);
    fclose(fp);
    return st;
}

tq_status tq_cifar10_normalize(int64_t count, const uint8_t *pixels,
                               const float mean[3], const float std[3],
                               float *out)
{
    if (!mean || !std || (count > 0 && (!pixels || !out)))
        return TQ_ERR_NULL;
    if (count < 0)
        return TQ_ERR_PARAM;
    for (int c = 0; c < 3; ++c)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(std[c] > 0.0f))
            return TQ_ERR_PARAM;
    size_t n_pixels, out_bytes;
    if ((uint64_t)count > SIZE_MAX ||
        tq__mul_size((size_t)count, CF_PIXELS, &n_pixels) ||
        tq__mul_size(n_pixels, sizeof(float), &out_bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(pixels, n_pixels, out, out_bytes))
        return TQ_ERR_ALIAS;

    for (size_t n = 0; n < (size_t)count; ++n) {
        const uint8_t *img = pixels + n * CF_PIXELS;
        float *dst = out + n * CF_PIXELS;
        for (int c = 0; c < 3; ++c) {
            /* torchvision: ToTensor divides by 255 in float, Normalize
             * then subtracts and divides, each step rounded to float. */
            const float m = mean[c], s = std[c];
            for (int i = 0; i < CF_PLANE; ++i) {
                const float x = (float)img[c * CF_PLANE + i] / 255.0f;
                dst[i * 3 + c] = (x - m) / s;
            }
        }
    }
    return TQ_OK;
}

tq_status tq_cifar10_affine(int64_t count, const uint8_t *pixels,
                            const float scale[3], const float offset[3],
                            float *out)
{
    if (!scale || !offset || (count > 0 && (!pixels || !out)))
        return TQ_ERR_NULL;
    if (count < 0)
        return TQ_ERR_PARAM;
    for (int c = 0; c < 3; ++c) {
        /* Every result must be a finite float: 255 · |scale| + |offset|
         * (in double, exact enough for the bound) stays within FLT_MAX. */
        if (!isfinite(scale[c]) || !isfinite(offset[c]) ||
            255.0 * fabs((double)scale[c]) + fabs((double)offset[c]) >
                (double)FLT_MAX)
            return TQ_ERR_PARAM;
    }
    size_t n_pixels, out_bytes;
    if ((uint64_t)count > SIZE_MAX ||
        tq__mul_size((size_t)count, CF_PIXELS, &n_pixels) ||
        tq__mul_size(n_pixels, sizeof(float), &out_bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(pixels, n_pixels, out, out_bytes))
        return TQ_ERR_ALIAS;

    for (size_t n = 0; n < (size_t)count; ++n) {
        const uint8_t *img = pixels + n * CF_PIXELS;
        float *dst = out + n * CF_PIXELS;
        for (int c = 0; c < 3; ++c) {
            /* p · a is exact in double (8 + 24 bits); the sum is rounded
             * to double, then to float. Integer results smaller than 2^24
             * (raw pixels: a = 1, b = 0) are exact. */
            const double a = scale[c], b = offset[c];
            for (int i = 0; i < CF_PLANE; ++i)
                dst[i * 3 + c] = (float)((double)img[c * CF_PLANE + i] * a + b);
        }
    }
    return TQ_OK;
}
