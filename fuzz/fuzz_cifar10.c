/*
 * libFuzzer harness of the CIFAR-10 batch reader (tq_cifar10_count,
 * tq_cifar10_read), through a scratch file holding the input. Meaning
 * checked against the bytes themselves: the count is size / 3073 exactly
 * when the size is a whole number of records (else TQ_ERR_FORMAT); a read
 * of a range succeeds exactly when the range lies in the file and every
 * label in it is at most 9, and then gives the labels and pixels at their
 * offsets; a refused read leaves the caller's buffers alone.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyq.h"
#include "fuzz_check.h"

enum { REC = TQ_CIFAR10_RECORD_BYTES, MAX_RECORDS = 4 };

static uint8_t labels[MAX_RECORDS + 1], pixels[(MAX_RECORDS + 1) * 3072];

/* records < 0: the file is not a whole number of records. */
static void check_read(const char *path, const uint8_t *data, int64_t records,
                       int64_t first, int64_t count)
{
    memset(labels, 0xEE, sizeof labels);
    memset(pixels, 0xEE, sizeof pixels);
    const tq_status st = tq_cifar10_read(path, first, count, labels, pixels);
    if (first < 0 || count < 0) {
        FUZZ_CHECK(st == TQ_ERR_PARAM);
    } else if (records < 0) {
        FUZZ_CHECK(st == TQ_ERR_FORMAT);
    } else if (first > records || count > records - first) {
        FUZZ_CHECK(st == TQ_ERR_FORMAT);
    } else {
        int labels_ok = 1;
        for (int64_t r = first; r < first + count; ++r)
            labels_ok &= data[r * REC] <= 9;
        FUZZ_CHECK(st == (labels_ok ? TQ_OK : TQ_ERR_FORMAT));
        if (st == TQ_OK) {
            for (int64_t r = 0; r < count; ++r) {
                const uint8_t *rec = data + (first + r) * REC;
                FUZZ_CHECK(labels[r] == rec[0]);
                FUZZ_CHECK(memcmp(pixels + r * 3072, rec + 1, 3072) == 0);
            }
            for (size_t i = (size_t)count; i < sizeof labels; ++i)
                FUZZ_CHECK(labels[i] == 0xEE);
            for (size_t i = (size_t)count * 3072; i < sizeof pixels; ++i)
                FUZZ_CHECK(pixels[i] == 0xEE);
            return;
        }
    }
    for (size_t i = 0; i < sizeof labels; ++i)
        FUZZ_CHECK(labels[i] == 0xEE);
    for (size_t i = 0; i < sizeof pixels; ++i)
        FUZZ_CHECK(pixels[i] == 0xEE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (size_t)MAX_RECORDS * REC + 2)
        return 0;
    const char *path = fuzz_scratch_file(data, size);
    int64_t count = -7;
    const tq_status st = tq_cifar10_count(path, &count);
    if (size % REC != 0) {
        FUZZ_CHECK(st == TQ_ERR_FORMAT && count == -7);
        check_read(path, data, -1, 0, 0); /* a broken file: no read at all */
        check_read(path, data, -1, 0, 1);
        return 0;
    }
    const int64_t records = (int64_t)(size / REC);
    FUZZ_CHECK(st == TQ_OK && count == records);
    /* The whole file, the range just past its end, and one range the
     * data steers (its last two bytes: negative, inside or beyond). */
    check_read(path, data, records, 0, records);
    check_read(path, data, records, records, 1);
    if (size >= 2)
        check_read(path, data, records, (int8_t)data[size - 1] % 8,
                   (int8_t)data[size - 2] % 8);
    return 0;
}
