/*
 * libFuzzer harness of the safetensors reader (tq_safetensors_parse).
 * Beyond "no crash, no leak, no undefined behaviour" it checks meaning:
 *  - a refused input gives TQ_ERR_FORMAT (or TQ_ERR_NO_MEMORY) and leaves
 *    the output alone;
 *  - in an accepted file every tensor is found by its name, names are
 *    unique and not empty, metadata found by key;
 *  - what the reader accepts the writer reproduces: when every tensor has
 *    a dtype and rank tinyq represents, the writer takes the file back
 *    (never an error), the written image parses to the same tensors
 *    (names in order, dtypes, shapes, bytes) and metadata, and writing
 *    that again gives the very same bytes.
 * The JSON side (Python's json accepts exactly the headers this reader
 * accepts) is checked over the corpus by scripts/fuzz-json-check.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "../lib/io/io_internal.h"
#include "fuzz_check.h"

enum { MAX_CHECKED = 4096 }; /* tensors compared in a round trip */

static char sentinel;

/* The image tq__safetensors_write() makes of @p f; NULL when some tensor
 * cannot be represented (a dtype or rank tinyq does not compute on). */
static unsigned char *write_back(const tq_safetensors *f, size_t *size)
{
    const int32_t n = tq_safetensors_count(f), m = tq__safetensors_meta_count(f);
    if (n > MAX_CHECKED)
        return NULL;
    tq_named_tensor *t = calloc((size_t)n + 1, sizeof *t);
    const char **keys = calloc((size_t)m + 1, sizeof *keys);
    const char **values = calloc((size_t)m + 1, sizeof *values);
    FUZZ_CHECK(t && keys && values);
    int representable = 1;
    for (int32_t i = 0; i < n && representable; ++i) {
        FUZZ_CHECK(tq_safetensors_name(f, i, &t[i].name) == TQ_OK);
        const tq_status st = tq_safetensors_get(f, t[i].name, &t[i].tensor);
        FUZZ_CHECK(st == TQ_OK || st == TQ_ERR_DTYPE || st == TQ_ERR_SHAPE);
        representable = st == TQ_OK;
    }
    for (int32_t i = 0; i < m; ++i)
        FUZZ_CHECK(tq__safetensors_meta_at(f, i, &keys[i], &values[i]) ==
                   TQ_OK);
    unsigned char *image = NULL;
    if (representable) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        FUZZ_CHECK(fp);
        /* What the reader accepted, the writer must take. */
        FUZZ_CHECK(tq__safetensors_write(fp, t, n, keys, values, m) == TQ_OK);
        FUZZ_CHECK(fclose(fp) == 0);
        image = (unsigned char *)buf;
        *size = len;
    }
    free(t);
    free(keys);
    free(values);
    return image;
}

/* Same tensors (order, names, dtypes, shapes, bytes) and metadata. */
static void check_same(const tq_safetensors *a, const tq_safetensors *b)
{
    const int32_t n = tq_safetensors_count(a);
    FUZZ_CHECK(tq_safetensors_count(b) == n);
    for (int32_t i = 0; i < n; ++i) {
        const char *na, *nb;
        FUZZ_CHECK(tq_safetensors_name(a, i, &na) == TQ_OK);
        FUZZ_CHECK(tq_safetensors_name(b, i, &nb) == TQ_OK);
        FUZZ_CHECK(strcmp(na, nb) == 0);
        tq_tensor ta, tb;
        FUZZ_CHECK(tq_safetensors_get(a, na, &ta) == TQ_OK);
        FUZZ_CHECK(tq_safetensors_get(b, nb, &tb) == TQ_OK);
        FUZZ_CHECK(ta.dtype == tb.dtype && ta.ndim == tb.ndim);
        for (int32_t d = 0; d < ta.ndim; ++d)
            FUZZ_CHECK(ta.shape[d] == tb.shape[d]);
        size_t bytes;
        FUZZ_CHECK(tq_tensor_nbytes(&ta, &bytes) == TQ_OK);
        FUZZ_CHECK(bytes == 0 || memcmp(ta.data, tb.data, bytes) == 0);
    }
    const int32_t m = tq__safetensors_meta_count(a);
    FUZZ_CHECK(tq__safetensors_meta_count(b) == m);
    for (int32_t i = 0; i < m; ++i) {
        const char *ka, *va, *kb, *vb;
        FUZZ_CHECK(tq__safetensors_meta_at(a, i, &ka, &va) == TQ_OK);
        FUZZ_CHECK(tq__safetensors_meta_at(b, i, &kb, &vb) == TQ_OK);
        FUZZ_CHECK(strcmp(ka, kb) == 0 && strcmp(va, vb) == 0);
    }
}

/* Lookups agree with enumeration: names unique and not empty, every
 * metadata key found with its value. */
static void check_lookups(const tq_safetensors *f)
{
    const int32_t n = tq_safetensors_count(f);
    for (int32_t i = 0; i < n && i < MAX_CHECKED; ++i) {
        const char *name;
        FUZZ_CHECK(tq_safetensors_name(f, i, &name) == TQ_OK);
        FUZZ_CHECK(name[0] != '\0');
        FUZZ_CHECK(strcmp(name, "__metadata__") != 0);
        tq_tensor t;
        const tq_status st = tq_safetensors_get(f, name, &t);
        FUZZ_CHECK(st == TQ_OK || st == TQ_ERR_DTYPE || st == TQ_ERR_SHAPE);
        if (st == TQ_OK)
            FUZZ_CHECK(t.ndim == 0 || t.data != NULL);
        if (i > 0) {
            const char *prev;
            FUZZ_CHECK(tq_safetensors_name(f, i - 1, &prev) == TQ_OK);
            FUZZ_CHECK(strcmp(prev, name) != 0);
        }
    }
    for (int32_t i = 0; i < tq__safetensors_meta_count(f); ++i) {
        const char *k, *v, *found;
        FUZZ_CHECK(tq__safetensors_meta_at(f, i, &k, &v) == TQ_OK);
        FUZZ_CHECK(tq_safetensors_metadata(f, k, &found) == TQ_OK);
        FUZZ_CHECK(found == v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tq_safetensors *f = (tq_safetensors *)(void *)&sentinel;
    const tq_status st = tq_safetensors_parse(size ? data : (const void *)"",
                                              size, &f);
    if (st != TQ_OK) {
        FUZZ_CHECK(st == TQ_ERR_FORMAT || st == TQ_ERR_NO_MEMORY);
        FUZZ_CHECK(f == (tq_safetensors *)(void *)&sentinel);
        return 0;
    }
    check_lookups(f);

    size_t size1 = 0;
    unsigned char *image1 = write_back(f, &size1);
    if (image1) {
        tq_safetensors *g = NULL;
        FUZZ_CHECK(tq_safetensors_parse(image1, size1, &g) == TQ_OK);
        check_same(f, g);
        size_t size2 = 0;
        unsigned char *image2 = write_back(g, &size2);
        FUZZ_CHECK(image2 != NULL);
        FUZZ_CHECK(size2 == size1 && memcmp(image1, image2, size1) == 0);
        free(image2);
        tq_safetensors_free(g);
        free(image1);
    }
    tq_safetensors_free(f);
    return 0;
}
