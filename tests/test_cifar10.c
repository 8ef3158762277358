/*
 * Tests of the CIFAR-10 reader: synthetic batch files whose pixels follow a
 * formula (so CHW order and record boundaries are checked against the
 * formula, not against the file), every bad file and bad argument, the
 * normalization against a scalar oracle, and the real data set when it is
 * there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinyq.h"
#include "testutil.h"

#define REC TQ_CIFAR10_RECORD_BYTES
#define PIX 3072

/* The synthetic pixel of record r, channel c, row y, column x: a hash, so
 * that any mix-up of record, plane, row or column shows. */
static uint8_t pixel_of(int64_t r, int c, int y, int x)
{
    uint32_t h = (uint32_t)(r * 7919 + c * 104729 + y * 613 + x * 37 + 11);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (uint8_t)h;
}

static const uint8_t synth_labels[5] = {3, 0, 9, 7, 1};

/* Write n records: labels[r], then the R, G and B planes, row-major. */
static char *write_batch(const uint8_t *labels, int n, size_t extra_bytes)
{
    char *path = strdup("/tmp/tq_test_cifar_XXXXXX");
    assert_non_null(path);
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "wb");
    assert_non_null(fp);
    for (int r = 0; r < n; ++r) {
        assert_int_equal(fputc(labels[r], fp), labels[r]);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x)
                    assert_int_equal(fputc(pixel_of(r, c, y, x), fp),
                                     pixel_of(r, c, y, x));
    }
    for (size_t i = 0; i < extra_bytes; ++i)
        assert_int_equal(fputc(0, fp), 0);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static void remove_batch(char *path)
{
    assert_int_equal(unlink(path), 0);
    free(path);
}

/* Check `count` records read from `first` against the formula. */
static void check_records(int64_t first, int64_t count, const uint8_t *labels,
                          const uint8_t *pixels, const uint8_t *want_labels)
{
    for (int64_t i = 0; i < count; ++i) {
        assert_int_equal(labels[i], want_labels[first + i]);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) {
                    const uint8_t got =
                        pixels[i * PIX + c * 1024 + y * 32 + x];
                    if (got != pixel_of(first + i, c, y, x))
                        fail_msg("record %lld c %d y %d x %d: %u, want %u",
                                 (long long)(first + i), c, y, x, got,
                                 pixel_of(first + i, c, y, x));
                }
    }
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; ++i)
        if (p[i] != v)
            return 0;
    return 1;
}

/* A read that must fail with `want` and write nothing. */
static void expect_read_fails(const char *path, int64_t first, int64_t count,
                              tq_status want)
{
    uint8_t labels[8], pixels[8 * PIX];
    memset(labels, 0xCD, sizeof labels);
    memset(pixels, 0xCD, sizeof pixels);
    const tq_status st = tq_cifar10_read(path, first, count, labels, pixels);
    if (st != want)
        fail_msg("read(%lld, %lld): status %d, want %d", (long long)first,
                 (long long)count, (int)st, (int)want);
    assert_true(all_bytes(labels, sizeof labels, 0xCD));
    assert_true(all_bytes(pixels, sizeof pixels, 0xCD));
}

static void test_count_and_read(void **state)
{
    (void)state;
    char *path = write_batch(synth_labels, 5, 0);
    int64_t count = -1;
    assert_int_equal(tq_cifar10_count(path, &count), TQ_OK);
    assert_int_equal(count, 5);

    static uint8_t labels[6], pixels[6 * PIX];
    const struct {
        int64_t first, count;
    } ranges[] = {{0, 5}, {1, 3}, {4, 1}, {0, 1}, {2, 2}};
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; ++k) {
        memset(labels, 0xEE, sizeof labels);
        memset(pixels, 0xEE, sizeof pixels);
        assert_int_equal(tq_cifar10_read(path, ranges[k].first,
                                         ranges[k].count, labels, pixels),
                         TQ_OK);
        check_records(ranges[k].first, ranges[k].count, labels, pixels,
                      synth_labels);
        /* Nothing past the range was written. */
        const size_t n = (size_t)ranges[k].count;
        assert_true(all_bytes(labels + n, sizeof labels - n, 0xEE));
        assert_true(all_bytes(pixels + n * PIX, (6 - n) * PIX, 0xEE));
    }

    /* Empty ranges, including at the very end, read nothing. */
    expect_read_fails(path, 0, 0, TQ_OK);
    expect_read_fails(path, 5, 0, TQ_OK);
    assert_int_equal(tq_cifar10_read(path, 3, 0, NULL, NULL), TQ_OK);

    /* Ranges past the end. */
    expect_read_fails(path, 4, 2, TQ_ERR_FORMAT);
    expect_read_fails(path, 5, 1, TQ_ERR_FORMAT);
    expect_read_fails(path, 6, 0, TQ_ERR_FORMAT);
    expect_read_fails(path, 0, 6, TQ_ERR_FORMAT);
    expect_read_fails(path, INT64_MAX, 1, TQ_ERR_FORMAT);
    expect_read_fails(path, 1, INT64_MAX, TQ_ERR_FORMAT);
    expect_read_fails(path, INT64_MAX, INT64_MAX, TQ_ERR_FORMAT);
    /* Negative values are parameter errors. */
    expect_read_fails(path, -1, 1, TQ_ERR_PARAM);
    expect_read_fails(path, 0, -1, TQ_ERR_PARAM);
    expect_read_fails(path, INT64_MIN, 2, TQ_ERR_PARAM);
    remove_batch(path);
}

static void test_bad_files(void **state)
{
    (void)state;
    /* Labels over 9 fail only the reads that include them. */
    const uint8_t bad_labels[5] = {3, 0, 10, 7, 255};
    char *path = write_batch(bad_labels, 5, 0);
    int64_t count = -1;
    assert_int_equal(tq_cifar10_count(path, &count), TQ_OK);
    assert_int_equal(count, 5);
    expect_read_fails(path, 0, 5, TQ_ERR_FORMAT);
    expect_read_fails(path, 2, 1, TQ_ERR_FORMAT);
    expect_read_fails(path, 1, 2, TQ_ERR_FORMAT);
    expect_read_fails(path, 3, 2, TQ_ERR_FORMAT);
    expect_read_fails(path, 4, 1, TQ_ERR_FORMAT);
    static uint8_t labels[2], pixels[2 * PIX];
    assert_int_equal(tq_cifar10_read(path, 0, 2, labels, pixels), TQ_OK);
    check_records(0, 2, labels, pixels, bad_labels);
    assert_int_equal(tq_cifar10_read(path, 3, 1, labels, pixels), TQ_OK);
    check_records(3, 1, labels, pixels, bad_labels);
    remove_batch(path);

    /* Sizes that are not a whole number of records. */
    const size_t extras[] = {1, 100, REC - 1};
    for (size_t k = 0; k < sizeof extras / sizeof extras[0]; ++k) {
        path = write_batch(synth_labels, 2, extras[k]);
        count = -1;
        assert_int_equal(tq_cifar10_count(path, &count), TQ_ERR_FORMAT);
        assert_int_equal(count, -1);
        expect_read_fails(path, 0, 1, TQ_ERR_FORMAT);
        expect_read_fails(path, 0, 0, TQ_ERR_FORMAT);
        remove_batch(path);
    }
    path = write_batch(synth_labels, 0, PIX);
    assert_int_equal(tq_cifar10_count(path, &count), TQ_ERR_FORMAT);
    remove_batch(path);

    /* An empty file holds zero records. */
    path = write_batch(synth_labels, 0, 0);
    assert_int_equal(tq_cifar10_count(path, &count), TQ_OK);
    assert_int_equal(count, 0);
    expect_read_fails(path, 0, 0, TQ_OK);
    expect_read_fails(path, 0, 1, TQ_ERR_FORMAT);
    remove_batch(path);

    /* Files that cannot be opened or read. */
    count = -1;
    assert_int_equal(tq_cifar10_count("/nonexistent-tinyq/x.bin", &count),
                     TQ_ERR_IO);
    assert_int_equal(count, -1);
    expect_read_fails("/nonexistent-tinyq/x.bin", 0, 1, TQ_ERR_IO);
    expect_read_fails("/nonexistent-tinyq/x.bin", 0, 0, TQ_ERR_IO);
    char dir[] = "/tmp/tq_test_cifar_dir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(tq_cifar10_count(dir, &count), TQ_ERR_IO);
    assert_int_equal(count, -1);
    expect_read_fails(dir, 0, 0, TQ_ERR_IO);
    assert_int_equal(rmdir(dir), 0);
}

static void test_null_args(void **state)
{
    (void)state;
    char *path = write_batch(synth_labels, 2, 0);
    int64_t count = -1;
    assert_int_equal(tq_cifar10_count(NULL, &count), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_count(path, NULL), TQ_ERR_NULL);
    assert_int_equal(count, -1);
    static uint8_t labels[1], pixels[PIX];
    assert_int_equal(tq_cifar10_read(NULL, 0, 1, labels, pixels), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_read(path, 0, 1, NULL, pixels), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_read(path, 0, 1, labels, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_read(NULL, 0, 0, NULL, NULL), TQ_ERR_NULL);
    remove_batch(path);
}

/* ---- normalization ------------------------------------------------------ */

/* torchvision, one value at a time: ToTensor's division by 255 in float,
 * then Normalize's subtraction and division, each rounded to float. */
static float torchvision_value(uint8_t p, float mean, float std)
{
    volatile float x = (float)p / 255.0f;
    volatile float d = x - mean;
    volatile float v = d / std;
    return v;
}

static void check_normalize(int64_t count, const uint8_t *pixels,
                            const float mean[3], const float std[3])
{
    const size_t n = (size_t)count * PIX;
    float *out = malloc(n * sizeof *out + 4 * sizeof *out);
    assert_non_null(out);
    for (size_t i = 0; i < n + 4; ++i)
        out[i] = -77.0f;
    assert_int_equal(tq_cifar10_normalize(count, pixels, mean, std, out),
                     TQ_OK);
    for (int64_t r = 0; r < count; ++r)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                for (int c = 0; c < 3; ++c) {
                    /* NHWC out, CHW in. */
                    const float got = out[((r * 32 + y) * 32 + x) * 3 + c];
                    const uint8_t p = pixels[r * PIX + c * 1024 + y * 32 + x];
                    const float want = torchvision_value(p, mean[c], std[c]);
                    const double exact =
                        ((double)p / 255.0 - (double)mean[c]) / (double)std[c];
                    if (memcmp(&got, &want, sizeof got) != 0 ||
                        fabs((double)got - exact) >
                            1e-6 / (double)std[c] + 1e-6 * fabs(exact))
                        fail_msg("record %lld y %d x %d c %d (p=%u): %.9g, "
                                 "want %.9g (exact %.12g)",
                                 (long long)r, y, x, c, p, (double)got,
                                 (double)want, exact);
                }
    for (size_t i = n; i < n + 4; ++i)
        assert_true(out[i] == -77.0f);
    free(out);
}

static void test_normalize(void **state)
{
    (void)state;
    /* Three records: every byte value, then random bytes. */
    static uint8_t pixels[3 * PIX];
    for (int i = 0; i < PIX; ++i)
        pixels[i] = (uint8_t)i;
    tt_rng rng = {2024};
    for (int i = PIX; i < 3 * PIX; ++i)
        pixels[i] = (uint8_t)tt_next(&rng);

    const float half[3] = {0.5f, 0.5f, 0.5f};
    const float cifar_mean[3] = {0.4914f, 0.4822f, 0.4465f};
    const float cifar_std[3] = {0.2470f, 0.2435f, 0.2616f};
    const float zero[3] = {0.0f, 0.0f, 0.0f};
    const float one[3] = {1.0f, 1.0f, 1.0f};
    const float odd_mean[3] = {-0.25f, 1.5f, 0.0f};
    const float odd_std[3] = {3.0f, 1e-3f, 0.7f};
    check_normalize(3, pixels, half, half);
    check_normalize(3, pixels, cifar_mean, cifar_std);
    check_normalize(3, pixels, zero, one);
    check_normalize(1, pixels + PIX, odd_mean, odd_std);

    /* Values known by hand under the tutorial's (0.5, 0.5). */
    static float out[PIX];
    assert_int_equal(tq_cifar10_normalize(1, pixels, half, half, out), TQ_OK);
    assert_true(out[0] == -1.0f);              /* p = 0, R */
    assert_true(out[255 * 3 + 0] == 1.0f);     /* p = 255 at x = 31, y = 7 */
    assert_true(fabsf(out[128 * 3] - 1.0f / 255.0f) < 1e-7f); /* p = 128 */
    /* Identity transform: exactly ToTensor. */
    assert_int_equal(tq_cifar10_normalize(1, pixels, zero, one, out), TQ_OK);
    for (int i = 0; i < 1024; ++i)
        for (int c = 0; c < 3; ++c)
            assert_true(out[i * 3 + c] ==
                        (float)pixels[c * 1024 + i] / 255.0f);

    /* Zero records: nothing to do, NULL buffers allowed. */
    assert_int_equal(tq_cifar10_normalize(0, NULL, half, half, NULL), TQ_OK);
}

static void expect_normalize_fails(int64_t count, const uint8_t *pixels,
                                   const float *mean, const float *std,
                                   float *out, size_t out_n, tq_status want,
                                   const char *what)
{
    float *copy = NULL;
    if (out) {
        copy = malloc(out_n * sizeof *copy);
        assert_non_null(copy);
        memcpy(copy, out, out_n * sizeof *copy);
    }
    const tq_status st = tq_cifar10_normalize(count, pixels, mean, std, out);
    if (st != want)
        fail_msg("%s: status %d, want %d", what, (int)st, (int)want);
    if (out && memcmp(copy, out, out_n * sizeof *copy) != 0)
        fail_msg("%s: the output was written", what);
    free(copy);
}

static void test_normalize_errors(void **state)
{
    (void)state;
    static uint8_t pixels[PIX];
    static float out[PIX];
    for (int i = 0; i < PIX; ++i) {
        pixels[i] = (uint8_t)(i * 5);
        out[i] = 42.0f;
    }
    const float ok[3] = {0.5f, 0.5f, 0.5f};
    const float nan = NAN, inf = INFINITY;
    const float bad_std[][3] = {{0.5f, 0.0f, 0.5f}, {0.5f, 0.5f, -0.5f},
                                {-0.0f, 0.5f, 0.5f}, {nan, 0.5f, 0.5f},
                                {0.5f, inf, 0.5f}, {0.5f, 0.5f, -inf}};
    const float bad_mean[][3] = {{nan, 0.5f, 0.5f}, {0.5f, inf, 0.5f},
                                 {0.5f, 0.5f, -inf}};
    for (size_t k = 0; k < sizeof bad_std / sizeof bad_std[0]; ++k)
        expect_normalize_fails(1, pixels, ok, bad_std[k], out, PIX,
                               TQ_ERR_PARAM, "bad std");
    for (size_t k = 0; k < sizeof bad_mean / sizeof bad_mean[0]; ++k)
        expect_normalize_fails(1, pixels, bad_mean[k], ok, out, PIX,
                               TQ_ERR_PARAM, "bad mean");
    expect_normalize_fails(-1, pixels, ok, ok, out, PIX, TQ_ERR_PARAM,
                           "negative count");
    expect_normalize_fails(1, NULL, ok, ok, out, PIX, TQ_ERR_NULL,
                           "NULL pixels");
    expect_normalize_fails(1, pixels, NULL, ok, out, PIX, TQ_ERR_NULL,
                           "NULL mean");
    expect_normalize_fails(1, pixels, ok, NULL, out, PIX, TQ_ERR_NULL,
                           "NULL std");
    expect_normalize_fails(1, pixels, ok, ok, NULL, 0, TQ_ERR_NULL,
                           "NULL out");
    expect_normalize_fails(0, pixels, NULL, ok, out, PIX, TQ_ERR_NULL,
                           "NULL mean, no records");
    expect_normalize_fails(INT64_MAX / 2, pixels, ok, ok, out, PIX,
                           TQ_ERR_OVERFLOW, "byte count overflow");
    /* Output overlapping the input. */
    float *buf = malloc(2 * PIX * sizeof *buf);
    assert_non_null(buf);
    uint8_t *in = (uint8_t *)(buf + PIX) - 100;
    memset(buf, 0, 2 * PIX * sizeof *buf);
    expect_normalize_fails(1, in, ok, ok, buf, PIX, TQ_ERR_ALIAS,
                           "output overlaps the pixels");
    expect_normalize_fails(1, (const uint8_t *)buf, ok, ok, buf, PIX,
                           TQ_ERR_ALIAS, "output is the pixels");
    free(buf);
}

/* ---- the real data set -------------------------------------------------- */

static void test_real_data(void **state)
{
    (void)state;
    char test_path[1024], train_path[1024];
    snprintf(test_path, sizeof test_path, "%s/cifar10/test_batch.bin",
             tt_data_dir());
    snprintf(train_path, sizeof train_path, "%s/cifar10/data_batch_1.bin",
             tt_data_dir());
    if (access(test_path, R_OK) != 0 || access(train_path, R_OK) != 0) {
        print_message("CIFAR-10 not found in %s: set TINYQ_DATA_DIR to the "
                      "directory holding cifar10/ to run this test\n",
                      tt_data_dir());
        skip();
        return;
    }
    int64_t count = 0;
    assert_int_equal(tq_cifar10_count(test_path, &count), TQ_OK);
    assert_int_equal(count, 10000);

    uint8_t *labels = malloc(10000);
    uint8_t *pixels = malloc((size_t)10000 * PIX);
    assert_non_null(labels);
    assert_non_null(pixels);
    assert_int_equal(tq_cifar10_read(test_path, 0, 10000, labels, pixels),
                     TQ_OK);
    int per_class[10] = {0};
    for (int i = 0; i < 10000; ++i) {
        assert_true(labels[i] <= 9);
        ++per_class[labels[i]];
    }
    for (int c = 0; c < 10; ++c)
        assert_int_equal(per_class[c], 1000);

    /* The README's test-set channel means (R, G, B), through the transform
     * with mean 0 and std 1: checks the plane order end to end. */
    float *out = malloc((size_t)10000 * PIX * sizeof *out);
    assert_non_null(out);
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    assert_int_equal(tq_cifar10_normalize(10000, pixels, zero, one, out),
                     TQ_OK);
    const double readme_mean[3] = {0.4941, 0.4851, 0.4504};
    for (int c = 0; c < 3; ++c) {
        double sum = 0.0;
        for (size_t i = 0; i < (size_t)10000 * 1024; ++i)
            sum += out[i * 3 + (size_t)c];
        const double m = sum / (10000.0 * 1024.0);
        if (fabs(m - readme_mean[c]) > 1e-4)
            fail_msg("channel %d mean %.5f, README says %.4f", c, m,
                     readme_mean[c]);
    }
    free(out);

    static const uint8_t first_ten[10] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3};
    assert_int_equal(tq_cifar10_count(train_path, &count), TQ_OK);
    assert_int_equal(count, 10000);
    assert_int_equal(tq_cifar10_read(train_path, 0, 10, labels, pixels),
                     TQ_OK);
    assert_memory_equal(labels, first_ten, 10);
    /* The last record, read alone. */
    assert_int_equal(tq_cifar10_read(train_path, 9999, 1, labels, pixels),
                     TQ_OK);
    assert_true(labels[0] <= 9);
    free(labels);
    free(pixels);
}

/* Raw pixels (issue 16): tq_cifar10_affine with scale 1 and offset 0 is
 * exactly the pixel values, where normalizing with mean 0 and std 1/255 is
 * one ULP off on many of them; other maps against a double oracle. */
static void test_affine(void **state)
{
    (void)state;
    static uint8_t pixels[2 * PIX];
    for (int i = 0; i < PIX; ++i)
        pixels[i] = (uint8_t)i;
    tt_rng rng = {1616};
    for (int i = PIX; i < 2 * PIX; ++i)
        pixels[i] = (uint8_t)tt_next(&rng);
    static float out[2 * PIX + 4];
    for (int i = 0; i < 2 * PIX + 4; ++i)
        out[i] = -77.0f;
    const float one[3] = {1.0f, 1.0f, 1.0f}, zero[3] = {0.0f, 0.0f, 0.0f};
    assert_int_equal(tq_cifar10_affine(2, pixels, one, zero, out), TQ_OK);
    for (int r = 0; r < 2; ++r)
        for (int i = 0; i < 1024; ++i)
            for (int c = 0; c < 3; ++c)
                assert_true(out[r * PIX + i * 3 + c] ==
                            (float)pixels[r * PIX + c * 1024 + i]);
    for (int i = 2 * PIX; i < 2 * PIX + 4; ++i)
        assert_true(out[i] == -77.0f);
    /* The trap it replaces. */
    const float inv255[3] = {1.0f / 255.0f, 1.0f / 255.0f, 1.0f / 255.0f};
    assert_int_equal(tq_cifar10_normalize(1, pixels, zero, inv255, out), TQ_OK);
    int off = 0;
    for (int i = 0; i < 1024; ++i)
        for (int c = 0; c < 3; ++c)
            off += out[i * 3 + c] != (float)pixels[c * 1024 + i];
    print_message("mean 0, std 1/255: %d of 3072 values are not the pixel\n",
                  off);
    assert_true(off > 0);

    /* Any affine map: p · a in double, plus b, rounded to float. */
    const float a[3] = {0.0078125f, -3.0f, 1.0f / 63.0f};
    const float b[3] = {-1.0f, 255.0f, -125.3f / 63.0f};
    assert_int_equal(tq_cifar10_affine(2, pixels, a, b, out), TQ_OK);
    for (int r = 0; r < 2; ++r)
        for (int i = 0; i < 1024; ++i)
            for (int c = 0; c < 3; ++c) {
                const uint8_t p = pixels[r * PIX + c * 1024 + i];
                volatile double v = (double)p * (double)a[c] + (double)b[c];
                const float want = (float)v;
                assert_true(out[r * PIX + i * 3 + c] == want);
            }
    /* Integer maps stay integers: 2p − 255 for R. */
    const float two[3] = {2.0f, 1.0f, 1.0f}, m255[3] = {-255.0f, 0.0f, 0.0f};
    assert_int_equal(tq_cifar10_affine(1, pixels, two, m255, out), TQ_OK);
    for (int i = 0; i < 1024; ++i)
        assert_true(out[i * 3] == (float)(2 * pixels[i] - 255));

    /* Errors change nothing. */
    for (int i = 0; i < PIX; ++i)
        out[i] = 42.0f;
    const float nan3[3] = {1.0f, NAN, 1.0f}, inf3[3] = {INFINITY, 1.0f, 1.0f};
    const float huge[3] = {1.0f, 2e36f, 1.0f}, big[3] = {1.0f, 1e36f, 1.0f};
    const float big_off[3] = {0.0f, 3e38f, 0.0f};
    assert_int_equal(tq_cifar10_affine(1, pixels, nan3, zero, out), TQ_ERR_PARAM);
    assert_int_equal(tq_cifar10_affine(1, pixels, inf3, zero, out), TQ_ERR_PARAM);
    assert_int_equal(tq_cifar10_affine(1, pixels, one, nan3, out), TQ_ERR_PARAM);
    assert_int_equal(tq_cifar10_affine(1, pixels, huge, zero, out), TQ_ERR_PARAM);
    assert_int_equal(tq_cifar10_affine(1, pixels, big, big_off, out), TQ_ERR_PARAM);
    /* FLT_MAX itself is a finite result. */
    const float fmax[3] = {0.0f, FLT_MAX, 0.0f};
    static float keep[PIX];
    assert_int_equal(tq_cifar10_affine(1, pixels, zero, fmax, keep), TQ_OK);
    assert_true(keep[1] == FLT_MAX);
    assert_int_equal(tq_cifar10_affine(-1, pixels, one, zero, out), TQ_ERR_PARAM);
    assert_int_equal(tq_cifar10_affine(1, NULL, one, zero, out), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_affine(1, pixels, NULL, zero, out), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_affine(1, pixels, one, NULL, out), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_affine(1, pixels, one, zero, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_cifar10_affine(INT64_MAX / 2, pixels, one, zero, out),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(tq_cifar10_affine(1, (const uint8_t *)(out + 10), one, zero,
                                       out),
                     TQ_ERR_ALIAS);
    for (int i = 0; i < PIX; ++i)
        assert_true(out[i] == 42.0f);
    assert_int_equal(tq_cifar10_affine(0, NULL, one, zero, NULL), TQ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_and_read),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalize_errors),
        cmocka_unit_test(test_affine),
        cmocka_unit_test(test_real_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
