/*
 * Tests of the safetensors reader and writer: valid files of every shape of
 * entry, every malformed case the format rules name (each must give
 * TQ_ERR_FORMAT and leave the output alone), every truncation of a valid
 * file, seeded byte-flip fuzzing, and save/load round trips checked byte
 * for byte against an encoder written here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tinyq.h"
#include "../lib/io/io_internal.h"
#include "testutil.h"

/* What an output pointer holds before a call that must fail. */
static char sentinel_object;
#define SENTINEL ((tq_safetensors *)(void *)&sentinel_object)

/* ---- building images in memory ---------------------------------------- */

/* An image: the 8-byte little-endian length `n_field`, `hlen` header bytes
 * (with ' turned into " when `quotes` is set, so that headers in this
 * file can be written as {'a':...}), then `dlen` data bytes (zeros when
 * data is NULL). */
static unsigned char *image_raw(uint64_t n_field, const char *hdr, size_t hlen,
                                int quotes, const void *data, size_t dlen,
                                size_t *size)
{
    unsigned char *p = calloc(1, 8 + hlen + dlen + 1);
    assert_non_null(p);
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(n_field >> (8 * i));
    for (size_t i = 0; i < hlen; ++i)
        p[8 + i] = (quotes && hdr[i] == '\'') ? '"' : (unsigned char)hdr[i];
    if (data && dlen)
        memcpy(p + 8 + hlen, data, dlen);
    *size = 8 + hlen + dlen;
    return p;
}

static unsigned char *image(const char *hdr, const void *data, size_t dlen,
                            size_t *size)
{
    const size_t hlen = strlen(hdr);
    return image_raw(hlen, hdr, hlen, 1, data, dlen, size);
}

static void expect_format_bytes(const unsigned char *p, size_t size,
                                const char *what)
{
    tq_safetensors *f = SENTINEL;
    const tq_status st = tq_safetensors_parse(p, size, &f);
    if (st != TQ_ERR_FORMAT || f != SENTINEL) {
        if (st == TQ_OK && f != SENTINEL)
            tq_safetensors_free(f);
        fail_msg("%s: expected TQ_ERR_FORMAT and an untouched output, got "
                 "status %d", what, (int)st);
    }
}

static void expect_format(const char *hdr, size_t dlen)
{
    size_t size;
    unsigned char *p = image(hdr, NULL, dlen, &size);
    expect_format_bytes(p, size, hdr);
    free(p);
}

static tq_safetensors *parse_ok(const unsigned char *p, size_t size)
{
    tq_safetensors *f = NULL;
    const tq_status st = tq_safetensors_parse(p, size, &f);
    assert_int_equal(st, TQ_OK);
    assert_non_null(f);
    return f;
}

/* ---- an independent reading of little-endian data --------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Check tensor `name` against its expected dtype, shape and the file's
 * little-endian bytes `le`, and that its memory is 64-byte aligned. */
static void check_tensor(const tq_safetensors *f, const char *name,
                         int32_t dtype, int32_t ndim, const int64_t *shape,
                         const unsigned char *le, size_t nbytes)
{
    tq_tensor t;
    memset(&t, 0xA5, sizeof t);
    assert_int_equal(tq_safetensors_get(f, name, &t), TQ_OK);
    assert_int_equal(t.dtype, dtype);
    assert_int_equal(t.ndim, ndim);
    size_t elems = 1;
    for (int32_t d = 0; d < ndim; ++d) {
        assert_int_equal(t.shape[d], shape[d]);
        elems *= (size_t)shape[d];
    }
    const size_t esize = dtype == TQ_S8 ? 1 : 4;
    assert_int_equal(elems * esize, nbytes);
    if (nbytes == 0)
        return;
    assert_non_null(t.data);
    assert_int_equal((uintptr_t)t.data % 64, 0);
    for (size_t i = 0; i < elems; ++i) {
        if (esize == 1) {
            assert_int_equal(((const int8_t *)t.data)[i], (int8_t)le[i]);
        } else {
            uint32_t got;
            memcpy(&got, (const unsigned char *)t.data + 4 * i, 4);
            if (got != le32(le + 4 * i))
                fail_msg("%s: element %zu is %08x, file says %08x", name, i,
                         (unsigned)got, (unsigned)le32(le + 4 * i));
        }
    }
}

/* ---- valid files -------------------------------------------------------- */

/* weight F32 [3,5] at [7,67), bias I8 [7] at [0,7), acc I32 [1,3] at
 * [67,79): header order differs from data order on purpose, and the
 * metadata sits between entries. */
#define MIXED_HEADER                                                      \
    "{'weight':{'dtype':'F32','shape':[3,5],'data_offsets':[7,67]},"      \
    "'__metadata__':{'format':'pt','note':'caf\\u00e9 \\\"x\\\"'},"      \
    "'bias':{'shape':[7],'dtype':'I8','data_offsets':[0,7]},"            \
    "'acc':{'data_offsets':[67,79],'dtype':'I32','shape':[1,3]}}  \t\n "
#define MIXED_DATA 79

static unsigned char *mixed_image(size_t *size, unsigned char *data)
{
    tt_rng rng = {42};
    for (size_t i = 0; i < MIXED_DATA; ++i)
        data[i] = (unsigned char)tt_next(&rng);
    return image(MIXED_HEADER, data, MIXED_DATA, size);
}

static void test_parse_valid_mixed(void **state)
{
    (void)state;
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *p = mixed_image(&size, data);
    tq_safetensors *f = parse_ok(p, size);
    /* The file owns a copy: scribbling on the source changes nothing. */
    memset(p, 0xEE, size);
    free(p);

    assert_int_equal(tq_safetensors_count(f), 3);
    const char *expected[3] = {"weight", "bias", "acc"};
    for (int32_t i = 0; i < 3; ++i) {
        const char *name = NULL;
        assert_int_equal(tq_safetensors_name(f, i, &name), TQ_OK);
        assert_string_equal(name, expected[i]);
    }
    const char *name = "untouched";
    assert_int_equal(tq_safetensors_name(f, 3, &name), TQ_ERR_PARAM);
    assert_int_equal(tq_safetensors_name(f, -1, &name), TQ_ERR_PARAM);
    assert_string_equal(name, "untouched");

    const int64_t s_weight[2] = {3, 5}, s_bias[1] = {7}, s_acc[2] = {1, 3};
    check_tensor(f, "weight", TQ_F32, 2, s_weight, data + 7, 60);
    check_tensor(f, "bias", TQ_S8, 1, s_bias, data, 7);
    check_tensor(f, "acc", TQ_S32, 2, s_acc, data + 67, 12);

    tq_tensor t, before;
    memset(&t, 0x3C, sizeof t);
    before = t;
    assert_int_equal(tq_safetensors_get(f, "missing", &t), TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_safetensors_get(f, "__metadata__", &t),
                     TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_safetensors_get(f, "weigh", &t), TQ_ERR_NOT_FOUND);
    assert_memory_equal(&t, &before, sizeof t);

    const char *v = NULL;
    assert_int_equal(tq_safetensors_metadata(f, "format", &v), TQ_OK);
    assert_string_equal(v, "pt");
    assert_int_equal(tq_safetensors_metadata(f, "note", &v), TQ_OK);
    assert_string_equal(v, "caf\xc3\xa9 \"x\"");
    v = "untouched";
    assert_int_equal(tq_safetensors_metadata(f, "missing", &v),
                     TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_safetensors_metadata(f, "weight", &v),
                     TQ_ERR_NOT_FOUND);
    assert_string_equal(v, "untouched");
    tq_safetensors_free(f);
}

static void test_parse_zero_size_scalar_and_names(void **state)
{
    (void)state;
    unsigned char data[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    size_t size;
    /* Zero-size tensors at the start, between two tensors (twice at the
     * same offset) and at the very end; a scalar; escaped names. */
    unsigned char *p = image(
        "{'z0':{'dtype':'F32','shape':[0,3],'data_offsets':[0,0]},"
        "'s':{'dtype':'F32','shape':[],'data_offsets':[0,4]},"
        "'z1':{'dtype':'I32','shape':[4,0],'data_offsets':[4,4]},"
        "'z2':{'dtype':'I8','shape':[0],'data_offsets':[4,4]},"
        "'a\\\"b\\u00e9':{'dtype':'I8','shape':[5],'data_offsets':[4,9]},"
        "'zend':{'dtype':'F64','shape':[2,0,7],'data_offsets':[9,9]}}",
        data, sizeof data, &size);
    tq_safetensors *f = parse_ok(p, size);
    free(p);
    assert_int_equal(tq_safetensors_count(f), 6);

    const int64_t s_z0[2] = {0, 3}, s_z1[2] = {4, 0}, s_z2[1] = {0},
                  s_name[1] = {5};
    check_tensor(f, "z0", TQ_F32, 2, s_z0, data, 0);
    check_tensor(f, "s", TQ_F32, 0, NULL, data, 4);
    check_tensor(f, "z1", TQ_S32, 2, s_z1, data, 0);
    check_tensor(f, "z2", TQ_S8, 1, s_z2, data, 0);
    check_tensor(f, "a\"b\xc3\xa9", TQ_S8, 1, s_name, data + 4, 5);
    tq_tensor t;
    assert_int_equal(tq_safetensors_get(f, "zend", &t), TQ_ERR_DTYPE);
    const char *name;
    assert_int_equal(tq_safetensors_name(f, 4, &name), TQ_OK);
    assert_string_equal(name, "a\"b\xc3\xa9");
    const char *v = "untouched";
    assert_int_equal(tq_safetensors_metadata(f, "format", &v),
                     TQ_ERR_NOT_FOUND);
    assert_string_equal(v, "untouched");
    tq_safetensors_free(f);

    /* Nothing at all: an empty header object and no data. */
    p = image("{}      ", NULL, 0, &size);
    f = parse_ok(p, size);
    free(p);
    assert_int_equal(tq_safetensors_count(f), 0);
    assert_int_equal(tq_safetensors_get(f, "x", &t), TQ_ERR_NOT_FOUND);
    tq_safetensors_free(f);

    /* Every escape JSON has, a surrogate pair, upper-case hex: each
     * decodes to the character it names (and the writer's output of the
     * names reads back the same). */
    p = image("{'\\ud83d\\ude00\\u00C9\\u0041\\/\\b\\f\\n\\r\\t\\\\\\\"':"
              "{'dtype':'I8','shape':[1],'data_offsets':[0,1]},"
              "'__metadata__':{'\\uD83D\\uDE00':'\\udbff\\udfff\\u007f'}}",
              data, 1, &size);
    f = parse_ok(p, size);
    free(p);
    const int64_t s_one[1] = {1};
    check_tensor(f, "\xf0\x9f\x98\x80\xc3\x89" "A/\b\f\n\r\t\\\"", TQ_S8, 1,
                 s_one, data, 1);
    assert_int_equal(tq_safetensors_metadata(f, "\xf0\x9f\x98\x80", &v), TQ_OK);
    assert_string_equal(v, "\xf4\x8f\xbf\xbf\x7f");
    tq_safetensors_free(f);

    /* Only metadata, with an empty key and an empty value. */
    p = image("{'__metadata__':{'':'','k':'v'}}", NULL, 0, &size);
    f = parse_ok(p, size);
    free(p);
    assert_int_equal(tq_safetensors_count(f), 0);
    assert_int_equal(tq_safetensors_metadata(f, "", &v), TQ_OK);
    assert_string_equal(v, "");
    assert_int_equal(tq_safetensors_metadata(f, "k", &v), TQ_OK);
    assert_string_equal(v, "v");
    tq_safetensors_free(f);
}

/* Every dtype safetensors defines parses; only F32, I8 and I32 can be
 * fetched, and a tensor of more than 4 dims parses but cannot be fetched. */
static void test_parse_other_dtypes_and_ranks(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t size;
        int32_t tq;
    } dtypes[] = {
        {"BOOL", 1, 0}, {"U8", 1, 0},      {"I8", 1, TQ_S8},    {"U16", 2, 0},
        {"I16", 2, 0},  {"F16", 2, 0},     {"BF16", 2, 0},      {"U32", 4, 0},
        {"I32", 4, TQ_S32}, {"F32", 4, TQ_F32}, {"U64", 8, 0},  {"I64", 8, 0},
        {"F64", 8, 0},  {"F8_E4M3", 1, 0}, {"F8_E5M2", 1, 0},
    };
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; ++i) {
        char hdr[160];
        const size_t bytes = 3 * dtypes[i].size;
        snprintf(hdr, sizeof hdr,
                 "{'t':{'dtype':'%s','shape':[3],'data_offsets':[0,%zu]}}",
                 dtypes[i].name, bytes);
        unsigned char data[24] = {0};
        size_t size;
        unsigned char *p = image(hdr, data, bytes, &size);
        tq_safetensors *f = NULL;
        const tq_status st = tq_safetensors_parse(p, size, &f);
        free(p);
        if (st != TQ_OK)
            fail_msg("dtype %s: status %d", dtypes[i].name, (int)st);
        tq_tensor t;
        memset(&t, 0x11, sizeof t);
        const tq_tensor before = t;
        const tq_status g = tq_safetensors_get(f, "t", &t);
        if (dtypes[i].tq) {
            assert_int_equal(g, TQ_OK);
            assert_int_equal(t.dtype, dtypes[i].tq);
        } else {
            assert_int_equal(g, TQ_ERR_DTYPE);
            assert_memory_equal(&t, &before, sizeof t);
        }
        tq_safetensors_free(f);

        /* One byte short: the size no longer agrees with the dtype. */
        snprintf(hdr, sizeof hdr,
                 "{'t':{'dtype':'%s','shape':[3],'data_offsets':[0,%zu]}}",
                 dtypes[i].name, bytes - 1);
        expect_format(hdr, bytes - 1);
    }

    unsigned char data[8] = {0};
    size_t size;
    unsigned char *p = image(
        "{'r5':{'dtype':'F32','shape':[1,1,2,1,1],'data_offsets':[0,8]},"
        "'r4':{'dtype':'I8','shape':[1,1,0,1],'data_offsets':[8,8]}}",
        data, 8, &size);
    tq_safetensors *f = parse_ok(p, size);
    free(p);
    tq_tensor t;
    memset(&t, 0x22, sizeof t);
    const tq_tensor before = t;
    assert_int_equal(tq_safetensors_get(f, "r5", &t), TQ_ERR_SHAPE);
    assert_memory_equal(&t, &before, sizeof t);
    assert_int_equal(tq_safetensors_get(f, "r4", &t), TQ_OK);
    assert_int_equal(t.ndim, 4);
    tq_safetensors_free(f);
}

/* ---- malformed files ---------------------------------------------------- */

static void test_parse_every_prefix_fails(void **state)
{
    (void)state;
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *p = mixed_image(&size, data);
    tq_safetensors_free(parse_ok(p, size));
    for (size_t len = 0; len < size; ++len) {
        /* A private copy of exactly len bytes, so ASan sees any read past
         * the end. */
        unsigned char *q = malloc(len ? len : 1);
        assert_non_null(q);
        memcpy(q, p, len);
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu of %zu bytes", len, size);
        expect_format_bytes(q, len, what);
        free(q);
    }
    free(p);
}

static void test_parse_header_length_lies(void **state)
{
    (void)state;
    const char *hdr = "{'a':{'dtype':'I8','shape':[2],'data_offsets':[0,2]}}";
    const size_t hlen = strlen(hdr);
    const unsigned char data[2] = {7, 9};
    const uint64_t lies[] = {0,
                             1,
                             hlen - 1,
                             hlen + 1, /* swallows a data byte: bad JSON */
                             hlen + 2, /* the whole file */
                             hlen + 3, /* past the end */
                             UINT64_C(100000001),
                             UINT64_C(1) << 32,
                             UINT64_C(1) << 63,
                             UINT64_MAX,
                             UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; ++i) {
        size_t size;
        unsigned char *p = image_raw(lies[i], hdr, hlen, 1, data, 2, &size);
        char what[64];
        snprintf(what, sizeof what, "header length %llu",
                 (unsigned long long)lies[i]);
        expect_format_bytes(p, size, what);
        free(p);
    }
    size_t size;
    unsigned char *p = image_raw(hlen, hdr, hlen, 1, data, 2, &size);
    tq_safetensors_free(parse_ok(p, size));
    free(p);
}

/* The 100,000,000-byte header limit, on each side. */
static void test_parse_header_limit(void **state)
{
    (void)state;
    /* 10^8 bytes of header or 10^6 entries take an hour under valgrind;
     * the ASan run and the plain runs cover them. */
    if (getenv("TINYQ_TEST_UNDER_VALGRIND"))
        skip();
    const size_t limit = 100000000;
    unsigned char *p = malloc(8 + limit + 1);
    assert_non_null(p);
    memset(p + 8, ' ', limit + 1);
    p[8] = '{';
    p[9] = '}';
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)((uint64_t)(limit + 1) >> (8 * i));
    expect_format_bytes(p, 8 + limit + 1, "header of 10^8 + 1 bytes");
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)((uint64_t)limit >> (8 * i));
    /* Same bytes, but now the last space is a 1-byte data buffer that no
     * tensor covers. */
    expect_format_bytes(p, 8 + limit + 1, "a hole after a 10^8 header");
    tq_safetensors *f = parse_ok(p, 8 + limit);
    assert_int_equal(tq_safetensors_count(f), 0);
    tq_safetensors_free(f);
    free(p);
}

/* Each header is broken in one way; the data length makes everything else
 * right (the first entry is a control that must parse). */
typedef struct bad_case {
    const char *hdr;
    size_t dlen;
} bad_case;

#define T_A "'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}"

static const bad_case bad_cases[] = {
    /* not an object, or not JSON */
    {"[]", 0}, {"42", 0}, {"'x'", 0}, {"null", 0}, {"true", 0},
    {" {}", 0}, {"\n{}", 0}, {"{", 0}, {"}", 0}, {"{}x", 0}, {"{}}", 0},
    {"{} {}", 0}, {"{" T_A ",}", 4}, {"{'a'}", 4}, {"{'a':}", 4},
    {"{'a' " T_A "}", 4}, {"{a:1}", 0}, {"{" T_A "", 4},
    {"{'__metadata__':{}}]", 0},
    /* duplicates */
    {"{" T_A ",'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8},
    {"{'__metadata__':{},'__metadata__':{}}", 0},
    {"{'__metadata__':{'k':'1','k':'2'}}", 0},
    {"{'a':{'dtype':'F32','dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4],"
     "'data_offsets':[0,4]}}", 4},
    /* entry structure */
    {"{'a':1}", 0}, {"{'a':[]}", 0}, {"{'a':'F32'}", 0}, {"{'a':null}", 0},
    {"{'a':{}}", 0},
    {"{'a':{'shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'x':1}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'x':null}}", 4},
    /* dtype */
    {"{'a':{'dtype':'F31','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F31','shape':[4],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F31','shape':[2],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32 ','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':['F32'],'shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':null,'shape':[1],'data_offsets':[0,4]}}", 4},
    /* shape entries */
    {"{'a':{'dtype':'F32','shape':[-1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[-0],'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'F32','shape':[1.5],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1.0],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1e0],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[0.1e1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[01],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[+1],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':['1'],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[[1]],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[true],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[null],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':1,'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':{},'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':null,'data_offsets':[0,4]}}", 4},
    /* huge entries: 2^53 + 1 reads back as 2^53, so both are refused */
    {"{'a':{'dtype':'U8','shape':[0,9007199254740993],"
     "'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'U8','shape':[0,9007199254740992],"
     "'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'U8','shape':[0,18446744073709551616],"
     "'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'U8','shape':[0,1e400],'data_offsets':[0,0]}}", 0},
    /* byte counts that overflow 64 bits (the first wraps to exactly 0) */
    {"{'a':{'dtype':'U8','shape':[4294967296,4294967296],"
     "'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'I8','shape':[4294967296,4294967296,0],"
     "'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'F32','shape':[4294967296,4294967296,16],"
     "'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'U8','shape':[4503599627370496,4503599627370496],"
     "'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F64','shape':[4503599627370495,4096],"
     "'data_offsets':[0,4]}}", 4},
    /* data_offsets */
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,8]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':['0','4']}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[-1,3]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4.0]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0.5,4.5]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':{'0':4}}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':4}}", 4},
    {"{'a':{'dtype':'U8','shape':[0],'data_offsets':[4,0]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,0]}}", 4},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':"
     "[18446744073709551612,18446744073709551616]}}", 4},
    /* sizes that disagree with the offsets */
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'I32','shape':[3],'data_offsets':[0,8]}}", 8},
    {"{'a':{'dtype':'F32','shape':[],'data_offsets':[0,0]}}", 0},
    {"{'a':{'dtype':'F32','shape':[0],'data_offsets':[0,4]}}", 4},
    /* tiling of the buffer */
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
     "'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
     "'b':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8},
    {"{" T_A ",'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}", 12},
    {"{" T_A "}", 8},
    {"{" T_A "}", 5},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
     "'z':{'dtype':'U8','shape':[0],'data_offsets':[4,4]}}", 8},
    {"{" T_A ",'z':{'dtype':'U8','shape':[0],'data_offsets':[8,8]}}", 4},
    {"{'z':{'dtype':'U8','shape':[0],'data_offsets':[0,0]}}", 1},
    {"{}", 1},
    /* metadata */
    {"{'__metadata__':{'k':1}}", 0},
    {"{'__metadata__':{'k':null}}", 0},
    {"{'__metadata__':{'k':true}}", 0},
    {"{'__metadata__':{'k':{}}}", 0},
    {"{'__metadata__':{'k':['v']}}", 0},
    {"{'__metadata__':'x'}", 0},
    {"{'__metadata__':[]}", 0},
    {"{'__metadata__':null}", 0},
    {"{'__metadata__':{'k':'v'}," T_A ",'__metadata__':{}}", 4},
    {"{'__metadata__':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
     "'__metadata__':{}}", 4},
    /* text that is not JSON or not representable as C strings */
    {"{'a\x01':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\t':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\u0000b':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\ud800':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\x41':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'\xff':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'\xc0\xaf':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'\xed\xa0\x80':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'\xf4\x90\x80\x80':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
     4},
    {"{'\xe2\x82':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'__metadata__':{'k':'\x80'}}", 0},
    {"{'__metadata__':{'k':'v\\u0000'}}", 0},
    {"\xef\xbb\xbf{}", 0},
    /* \u escapes: exactly four hex digits, not NUL, no unpaired surrogate
     * (cJSON decodes a malformed escape as U+0000, which would end the C
     * string there: issue 14) */
    {"{'w\\uZZZZjunk':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u00G0':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u12':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u 123':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u-123':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u+123':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u0x12':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u000':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'w\\u0000':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'\\u0000':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'__metadata__':{'k':'tinyq-lenet-s8\\u00G0 NOT REALLY'}}", 0},
    {"{'__metadata__':{'k\\uZZZZ':'v'}}", 0},
    {"{'__metadata__':{'k':'\\u0'}}", 0},
    {"{'a\\udc00':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\udfff':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\udbff':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\ud800x':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\ud800\\n':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'a\\ud800\\ud800':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
     4},
    {"{'a\\ud800\\u0041':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
     4},
    {"{'a\\ud800\\uZZZZ':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
     4},
    {"{'a\\udc00\\ud800':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
     4},
    {"{'__metadata__':{'k':'\\ud83d'}}", 0},
    {"{'__metadata__':{'k':'\\ude00'}}", 0},
    /* control bytes outside strings: cJSON skips every byte up to 0x20 as
     * whitespace, JSON only space, tab, LF and CR (found by
     * scripts/fuzz-json-check over the fuzz corpus) */
    {"{\x01" T_A "}", 4},
    {"{'a':{'dtype':'I8','shape':[2\x01\x00\x00\x04,2,1],"
     "'data_offsets':[0,4]}}", 4},
    {"{'a':{'dtype':'F32','shape':[\x11],'data_offsets':[0,0]}}", 0},
    {"{" T_A "\x0b}", 4},
    {"{" T_A "}\x0c", 4},
    {"{" T_A ",\x1f'b':{'dtype':'U8','shape':[0],'data_offsets':[4,4]}}", 4},
    {"{" T_A "}\x7f", 4},
    /* an empty tensor name, which the writer refuses: the reader and the
     * writer accept the same files (issue 14) */
    {"{'':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4},
    {"{'':{'dtype':'U8','shape':[0],'data_offsets':[0,0]}}", 0},
};

static void test_parse_malformed_headers(void **state)
{
    (void)state;
    /* The control: the one entry all the cases start from. */
    size_t size;
    unsigned char *p = image("{" T_A "}", NULL, 4, &size);
    tq_safetensors_free(parse_ok(p, size));
    free(p);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; ++i)
        expect_format(bad_cases[i].hdr, bad_cases[i].dlen);
}

static void test_parse_malformed_bytes(void **state)
{
    (void)state;
    size_t size;
    /* A NUL inside the header, after the object and before the padding. */
    static const char nul_pad[8] = {'{', '}', '\0', ' ', ' ', ' ', ' ', ' '};
    unsigned char *p = image_raw(8, nul_pad, 8, 0, NULL, 0, &size);
    expect_format_bytes(p, size, "NUL in the header padding");
    free(p);
    static const char nul_in[8] = {'{', '\'', 'a', '\0', '\'', ':', '1', '}'};
    p = image_raw(8, nul_in, 8, 1, NULL, 0, &size);
    expect_format_bytes(p, size, "NUL in a key");
    free(p);

    /* Deep nesting must be refused without exhausting the stack. */
    const size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    assert_non_null(deep);
    size_t k = 0;
    k += (size_t)sprintf(deep, "{'a':");
    for (size_t i = 0; i < depth; ++i)
        deep[k++] = '[';
    for (size_t i = 0; i < depth; ++i)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    expect_format(deep, 0);
    free(deep);
}

/* One more tensor than the limit of 10^6, every entry valid: only the
 * count can be what is refused. At the limit itself the file parses. */
static void test_parse_tensor_count_limit(void **state)
{
    (void)state;
    /* 10^8 bytes of header or 10^6 entries take an hour under valgrind;
     * the ASan run and the plain runs cover them. */
    if (getenv("TINYQ_TEST_UNDER_VALGRIND"))
        skip();
    const size_t limit = 1000000;
#define ENTRY "'%zx':{'dtype':'I8','shape':[0],'data_offsets':[0,0]}"
    char *hdr = malloc((limit + 1) * 64 + 8);
    assert_non_null(hdr);
    size_t k = 0;
    hdr[k++] = '{';
    for (size_t i = 0; i < limit; ++i) {
        if (i)
            hdr[k++] = ',';
        k += (size_t)sprintf(hdr + k, ENTRY, i);
    }
    hdr[k] = '}';
    hdr[k + 1] = '\0';
    size_t size;
    unsigned char *p = image(hdr, NULL, 0, &size);
    tq_safetensors *f = parse_ok(p, size);
    free(p);
    assert_int_equal(tq_safetensors_count(f), (int32_t)limit);
    tq_tensor t;
    assert_int_equal(tq_safetensors_get(f, "f423f", &t), TQ_OK);
    assert_int_equal(t.dtype, TQ_S8);
    tq_safetensors_free(f);

    hdr[k++] = ',';
    k += (size_t)sprintf(hdr + k, ENTRY, limit);
    hdr[k] = '}';
    hdr[k + 1] = '\0';
    expect_format(hdr, 0);
    free(hdr);
#undef ENTRY
}

/* ---- fuzzing ------------------------------------------------------------ */

/* Use everything a parsed file offers, touching every data byte, so ASan
 * checks the memory a successful parse hands out. */
static void exercise(const tq_safetensors *f)
{
    const int32_t n = tq_safetensors_count(f);
    unsigned sum = 0;
    for (int32_t i = 0; i < n; ++i) {
        const char *name = NULL;
        assert_int_equal(tq_safetensors_name(f, i, &name), TQ_OK);
        tq_tensor t;
        const tq_status st = tq_safetensors_get(f, name, &t);
        assert_true(st == TQ_OK || st == TQ_ERR_DTYPE || st == TQ_ERR_SHAPE);
        if (st != TQ_OK)
            continue;
        size_t bytes = t.dtype == TQ_S8 ? 1 : 4;
        for (int32_t d = 0; d < t.ndim; ++d)
            bytes *= (size_t)t.shape[d];
        for (size_t b = 0; b < bytes; ++b)
            sum += ((const unsigned char *)t.data)[b];
    }
    const char *v;
    if (tq_safetensors_metadata(f, "format", &v) == TQ_OK)
        sum += (unsigned)strlen(v);
    (void)sum;
}

/* Reader and writer accept the same files (issue 14): a file the reader
 * accepted whose tensors tinyq can represent is saved back with
 * tq_safetensors_save() (never refused), and the saved file loads with the
 * same tensors in the same order, the same bytes and the same metadata.
 * Returns 1 when it was written back, 0 when some tensor has a dtype or
 * rank tinyq cannot hold. */
static int write_back_check(const tq_safetensors *f)
{
    const int32_t n = tq_safetensors_count(f);
    const int32_t m = tq__safetensors_meta_count(f);
    tq_named_tensor *t = calloc((size_t)n + 1, sizeof *t);
    const char **keys = calloc((size_t)m + 1, sizeof *keys);
    const char **values = calloc((size_t)m + 1, sizeof *values);
    assert_true(t && keys && values);
    int representable = 1;
    for (int32_t i = 0; i < n && representable; ++i) {
        assert_int_equal(tq_safetensors_name(f, i, &t[i].name), TQ_OK);
        representable = tq_safetensors_get(f, t[i].name, &t[i].tensor) == TQ_OK;
    }
    for (int32_t i = 0; i < m; ++i)
        assert_int_equal(tq__safetensors_meta_at(f, i, &keys[i], &values[i]),
                         TQ_OK);
    if (representable) {
        char path[64];
        snprintf(path, sizeof path, "%s/tq_test_st_wb_%ld",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
                 (long)getpid());
        assert_int_equal(tq_safetensors_save(path, t, n, keys, values, m),
                         TQ_OK);
        tq_safetensors *g = NULL;
        assert_int_equal(tq_safetensors_load(path, &g), TQ_OK);
        unlink(path);
        assert_int_equal(tq_safetensors_count(g), n);
        for (int32_t i = 0; i < n; ++i) {
            const char *name;
            tq_tensor u;
            assert_int_equal(tq_safetensors_name(g, i, &name), TQ_OK);
            assert_string_equal(name, t[i].name);
            assert_int_equal(tq_safetensors_get(g, name, &u), TQ_OK);
            assert_int_equal(u.dtype, t[i].tensor.dtype);
            assert_int_equal(u.ndim, t[i].tensor.ndim);
            size_t bytes = u.dtype == TQ_S8 ? 1 : 4;
            for (int32_t d = 0; d < u.ndim; ++d) {
                assert_int_equal(u.shape[d], t[i].tensor.shape[d]);
                bytes *= (size_t)u.shape[d];
            }
            if (bytes)
                assert_memory_equal(u.data, t[i].tensor.data, bytes);
        }
        assert_int_equal(tq__safetensors_meta_count(g), m);
        for (int32_t i = 0; i < m; ++i) {
            const char *v;
            assert_int_equal(tq_safetensors_metadata(g, keys[i], &v), TQ_OK);
            assert_string_equal(v, values[i]);
        }
        tq_safetensors_free(g);
    }
    free(t);
    free(keys);
    free(values);
    return representable;
}

/* Every valid file of this test program that tinyq can represent is
 * written back and reads back the same; in test_parse_fuzz, every mutated
 * file the reader accepts is put to the same check. */
static void test_accepted_files_write_back(void **state)
{
    (void)state;
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *p = mixed_image(&size, data);
    tq_safetensors *f = parse_ok(p, size);
    assert_true(write_back_check(f));
    tq_safetensors_free(f);
    free(p);
    static const char *const valid[] = {
        "{}",
        "{'__metadata__':{'':'','k':'v','\\u00e9\\ud83d\\ude00':'\\n\\u0001'}}",
        ("{'z0':{'dtype':'F32','shape':[0,3],'data_offsets':[0,0]},"
         "'s':{'dtype':'I32','shape':[],'data_offsets':[0,4]},"
         "'a\\\"b\\u00e9\\t':{'dtype':'I8','shape':[2,1,1,2],"
         "'data_offsets':[4,8]},"
         "'zend':{'dtype':'I8','shape':[0],'data_offsets':[8,8]}}"),
        ("{'b':{'dtype':'I8','shape':[4],'data_offsets':[4,8]},"
         "'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}"),
    };
    unsigned char bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const size_t dlen[] = {0, 0, 8, 8};
    int written = 1;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; ++i) {
        p = image(valid[i], bytes, dlen[i], &size);
        f = parse_ok(p, size);
        written += write_back_check(f);
        tq_safetensors_free(f);
        free(p);
    }
    /* Dtypes tinyq cannot hold parse, and are not written back. */
    p = image("{'h':{'dtype':'F16','shape':[2],'data_offsets':[0,4]}}", bytes,
              4, &size);
    f = parse_ok(p, size);
    assert_false(write_back_check(f));
    tq_safetensors_free(f);
    free(p);
    assert_int_equal(written, 5);
}

static void test_parse_fuzz(void **state)
{
    (void)state;
    static const unsigned char interesting[] = {
        '{', '}', '[', ']', '"', ',', ':', '0', '1', '9', '-', '.', 'e',
        ' ', '\\', 'u', 0, 0x7f, 0x80, 0xc3, 0xff};
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *base = mixed_image(&size, data);
    const size_t hlen = strlen(MIXED_HEADER);
    unsigned char *q = malloc(size);
    assert_non_null(q);
    const uint64_t seed = 20240601;
    tt_rng rng = {seed};
    int parsed = 0, written_back = 0;
    const int iterations = 5000;
    for (int it = 0; it < iterations; ++it) {
        memcpy(q, base, size);
        const int edits = tt_int(&rng, 1, 4);
        for (int e = 0; e < edits; ++e) {
            /* Mostly in the header, where the interesting rules live. */
            const size_t pos = tt_int(&rng, 0, 3) != 0
                                   ? 8 + (size_t)tt_int(&rng, 0,
                                                        (int32_t)hlen - 1)
                                   : (size_t)tt_int(&rng, 0,
                                                    (int32_t)size - 1);
            switch (tt_int(&rng, 0, 2)) {
            case 0:
                q[pos] ^= (unsigned char)(1u << tt_int(&rng, 0, 7));
                break;
            case 1:
                q[pos] = (unsigned char)tt_next(&rng);
                break;
            default:
                q[pos] = interesting[tt_int(
                    &rng, 0, (int32_t)sizeof interesting - 1)];
                break;
            }
        }
        size_t len = size;
        if (tt_int(&rng, 0, 9) == 0)
            len = (size_t)tt_int(&rng, 0, (int32_t)size);
        /* An exact-size copy, so that ASan sees any overread. */
        unsigned char *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, q, len);
        tq_safetensors *f = SENTINEL;
        const tq_status st = tq_safetensors_parse(exact, len, &f);
        free(exact);
        if (st == TQ_OK) {
            ++parsed;
            exercise(f);
            written_back += write_back_check(f);
            tq_safetensors_free(f);
        } else if (st != TQ_ERR_FORMAT || f != SENTINEL) {
            fail_msg("seed %llu iteration %d: status %d",
                     (unsigned long long)seed, it, (int)st);
        }
    }
    print_message("fuzz: %d of %d mutated files parsed, %d written back\n",
                  parsed, iterations, written_back);
    free(q);
    free(base);
}

/* ---- files -------------------------------------------------------------- */

static char *temp_path(void)
{
    char *path = strdup("/tmp/tq_test_st_XXXXXX");
    assert_non_null(path);
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Is there an entry "<base of path>.tmp..." beside path (a temporary file
 * of the writer, whatever its unique suffix)? */
static int tmp_sibling_exists(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[512], prefix[512];
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path);
        snprintf(prefix, sizeof prefix, "%s.tmp", slash + 1);
    } else {
        snprintf(dir, sizeof dir, ".");
        snprintf(prefix, sizeof prefix, "%s.tmp", path);
    }
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    for (const struct dirent *e; !found && (e = readdir(d)) != NULL;)
        found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    const long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    unsigned char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    p[n] = 0; /* so that the header can be searched as a string */
    *size = (size_t)n;
    return p;
}

static void write_all(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* The tensors of the round trip, with odd sizes, a scalar, an empty tensor
 * and names that need escaping. */
typedef struct rt_set {
    float w[4 * 3 * 3 * 2];
    int32_t bias[4];
    int8_t fc[5 * 7];
    float scale;
    int8_t one;
    tq_named_tensor t[6];
} rt_set;

static void rt_fill(rt_set *s, tt_rng *rng)
{
    tt_fill_f32(rng, s->w, 72, -3.0f, 3.0f);
    for (int i = 0; i < 4; ++i)
        s->bias[i] = (int32_t)tt_next(rng);
    s->bias[0] = INT32_MIN;
    s->bias[3] = INT32_MAX;
    tt_fill_s8(rng, s->fc, 35, -128, 127);
    s->scale = 0.0123f;
    s->one = -128;
    memset(s->t, 0, sizeof s->t);
    const struct {
        const char *name;
        void *data;
        int32_t dtype, ndim;
        int64_t shape[4];
    } spec[6] = {
        {"conv.weight", s->w, TQ_F32, 4, {4, 3, 3, 2}},
        {"conv.bias", s->bias, TQ_S32, 1, {4, 0, 0, 0}},
        {"fc.weight", s->fc, TQ_S8, 2, {5, 7, 0, 0}},
        {"scale", &s->scale, TQ_F32, 0, {0, 0, 0, 0}},
        {"empty", NULL, TQ_S8, 2, {0, 3, 0, 0}},
        {"\xc3\xbcn\"i\\c\xc3\xb8" "d\xc3\xa9\n\x01", &s->one, TQ_S8, 1,
         {1, 0, 0, 0}},
    };
    for (int i = 0; i < 6; ++i) {
        s->t[i].name = spec[i].name;
        s->t[i].tensor.data = spec[i].data;
        s->t[i].tensor.dtype = spec[i].dtype;
        s->t[i].tensor.ndim = spec[i].ndim;
        memcpy(s->t[i].tensor.shape, spec[i].shape, sizeof spec[i].shape);
    }
}

/* Little-endian bytes of a tensor, encoded here independently. */
static size_t encode_le(const tq_tensor *t, unsigned char *out)
{
    size_t n = 1;
    for (int32_t d = 0; d < t->ndim; ++d)
        n *= (size_t)t->shape[d];
    if (t->dtype == TQ_S8) {
        for (size_t i = 0; i < n; ++i)
            out[i] = (unsigned char)((const int8_t *)t->data)[i];
        return n;
    }
    for (size_t i = 0; i < n; ++i) {
        uint32_t v;
        memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
        put_le32(out + 4 * i, v);
    }
    return 4 * n;
}

static void check_rt(const tq_safetensors *f, const rt_set *s,
                     const char *const *keys, const char *const *values,
                     int nmeta)
{
    assert_int_equal(tq_safetensors_count(f), 6);
    for (int i = 0; i < 6; ++i) {
        const char *name;
        assert_int_equal(tq_safetensors_name(f, i, &name), TQ_OK);
        assert_string_equal(name, s->t[i].name);
        unsigned char le[4 * 72];
        const size_t n = encode_le(&s->t[i].tensor, le);
        check_tensor(f, name, s->t[i].tensor.dtype, s->t[i].tensor.ndim,
                     s->t[i].tensor.shape, le, n);
    }
    for (int i = 0; i < nmeta; ++i) {
        const char *v;
        assert_int_equal(tq_safetensors_metadata(f, keys[i], &v), TQ_OK);
        assert_string_equal(v, values[i]);
    }
}

static void test_save_load_roundtrip(void **state)
{
    (void)state;
    tt_rng rng = {7};
    rt_set s;
    rt_fill(&s, &rng);
    const char *keys[3] = {"format", "tinyq.scheme", "quote \"q\""};
    const char *values[3] = {"pt", "per-channel",
                             "a \"b\" \\ c\n\t\xc3\xa9 \x1f end"};
    char *path = temp_path();
    assert_int_equal(tq_safetensors_save(path, s.t, 6, keys, values, 3),
                     TQ_OK);
    assert_false(tmp_sibling_exists(path));

    tq_safetensors *f = SENTINEL;
    assert_int_equal(tq_safetensors_load(path, &f), TQ_OK);
    assert_true(f != SENTINEL);
    check_rt(f, &s, keys, values, 3);
    tq_safetensors_free(f);

    /* The bytes themselves: a padded header, metadata first, then the
     * tensors' little-endian bytes in the order given with no holes. */
    size_t size;
    unsigned char *raw = read_all(path, &size);
    assert_true(size >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = n << 8 | raw[i];
    assert_int_equal(n % 8, 0);
    assert_true(n <= size - 8);
    const char *hdr = (const char *)raw + 8;
    assert_memory_equal(hdr, "{\"__metadata__\":{\"format\":\"pt\"", 30);
    size_t end = (size_t)n;
    while (end > 0 && hdr[end - 1] == ' ')
        --end;
    assert_int_equal(hdr[end - 1], '}');
    assert_true((size_t)n - end < 8);
    /* The tensor names appear in the order given. */
    const char *prev = hdr;
    for (int i = 0; i < 5; ++i) {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\":", s.t[i].name);
        const char *at = strstr(hdr, quoted);
        assert_non_null(at);
        assert_true(at > prev);
        prev = at;
    }
    unsigned char expect[1024];
    size_t total = 0;
    for (int i = 0; i < 6; ++i)
        total += encode_le(&s.t[i].tensor, expect + total);
    assert_int_equal(size, 8 + (size_t)n + total);
    assert_memory_equal(raw + 8 + n, expect, total);

    /* The in-memory parser agrees with the loader. */
    f = parse_ok(raw, size);
    check_rt(f, &s, keys, values, 3);
    tq_safetensors_free(f);
    free(raw);

    /* Saving again over the file replaces it. */
    assert_int_equal(tq_safetensors_save(path, s.t, 2, NULL, NULL, 0), TQ_OK);
    assert_int_equal(tq_safetensors_load(path, &f), TQ_OK);
    assert_int_equal(tq_safetensors_count(f), 2);
    const char *v;
    assert_int_equal(tq_safetensors_metadata(f, "format", &v),
                     TQ_ERR_NOT_FOUND);
    tq_safetensors_free(f);
    raw = read_all(path, &size);
    assert_memory_equal(raw + 8, "{\"conv.weight\":", 15);
    free(raw);

    /* Nothing to save is still a valid file. */
    assert_int_equal(tq_safetensors_save(path, NULL, 0, NULL, NULL, 0), TQ_OK);
    raw = read_all(path, &size);
    static const unsigned char empty[16] = {8, 0, 0, 0, 0, 0, 0, 0,
                                            '{', '}', ' ', ' ',
                                            ' ', ' ', ' ', ' '};
    assert_int_equal(size, 16);
    assert_memory_equal(raw, empty, 16);
    free(raw);
    assert_int_equal(tq_safetensors_load(path, &f), TQ_OK);
    assert_int_equal(tq_safetensors_count(f), 0);
    tq_safetensors_free(f);

    assert_int_equal(unlink(path), 0);
    free(path);
}

/* Random tensors through save and load, many times. */
static void test_save_load_random(void **state)
{
    (void)state;
    char *path = temp_path();
    const uint64_t seed = 99;
    tt_rng rng = {seed};
    for (int round = 0; round < 40; ++round) {
        const int count = tt_int(&rng, 0, 6);
        tq_named_tensor t[6];
        char names[6][16];
        void *bufs[6] = {0};
        for (int i = 0; i < count; ++i) {
            snprintf(names[i], sizeof names[i], "t%d_%d", round, i);
            t[i].name = names[i];
            static const int32_t dtypes[3] = {TQ_F32, TQ_S8, TQ_S32};
            t[i].tensor.dtype = dtypes[tt_int(&rng, 0, 2)];
            t[i].tensor.ndim = tt_int(&rng, 0, 4);
            size_t n = 1;
            for (int d = 0; d < 4; ++d) {
                t[i].tensor.shape[d] = tt_int(&rng, 0, 5);
                if (d < t[i].tensor.ndim)
                    n *= (size_t)t[i].tensor.shape[d];
            }
            const size_t bytes = n * (t[i].tensor.dtype == TQ_S8 ? 1 : 4);
            bufs[i] = malloc(bytes ? bytes : 1);
            assert_non_null(bufs[i]);
            for (size_t b = 0; b < bytes; ++b)
                ((unsigned char *)bufs[i])[b] = (unsigned char)tt_next(&rng);
            t[i].tensor.data = bufs[i];
        }
        if (tq_safetensors_save(path, t, count, NULL, NULL, 0) != TQ_OK)
            fail_msg("seed %llu round %d: save failed",
                     (unsigned long long)seed, round);
        tq_safetensors *f;
        assert_int_equal(tq_safetensors_load(path, &f), TQ_OK);
        assert_int_equal(tq_safetensors_count(f), count);
        for (int i = 0; i < count; ++i) {
            unsigned char le[4 * 625];
            const size_t n = encode_le(&t[i].tensor, le);
            check_tensor(f, t[i].name, t[i].tensor.dtype, t[i].tensor.ndim,
                         t[i].tensor.shape, le, n);
        }
        tq_safetensors_free(f);
        for (int i = 0; i < count; ++i)
            free(bufs[i]);
    }
    unlink(path);
    free(path);
}

static void expect_save_fails(const char *path, tq_status want,
                              const tq_named_tensor *t, int32_t count,
                              const char *const *keys,
                              const char *const *values, int32_t nmeta,
                              const char *what)
{
    const tq_status st = tq_safetensors_save(path, t, count, keys, values,
                                             nmeta);
    if (st != want)
        fail_msg("%s: expected status %d, got %d", what, (int)want, (int)st);
    if (path && exists(path)) {
        /* The old file is intact and no temporary file is left. */
        size_t size;
        unsigned char *raw = read_all(path, &size);
        if (size != 3 || memcmp(raw, "old", 3) != 0)
            fail_msg("%s: the existing file was changed", what);
        free(raw);
        if (tmp_sibling_exists(path))
            fail_msg("%s: a temporary file was left behind", what);
    }
}

static void test_save_errors(void **state)
{
    (void)state;
    tt_rng rng = {3};
    rt_set s;
    rt_fill(&s, &rng);
    char *path = temp_path();
    write_all(path, "old", 3);
    const char *keys[2] = {"k", "k2"}, *values[2] = {"v", "v2"};

    expect_save_fails(NULL, TQ_ERR_NULL, s.t, 6, NULL, NULL, 0, "NULL path");
    expect_save_fails("", TQ_ERR_PARAM, s.t, 6, NULL, NULL, 0, "empty path");
    assert_false(exists(".tmp"));
    expect_save_fails(path, TQ_ERR_NULL, NULL, 1, NULL, NULL, 0,
                      "NULL tensors");
    expect_save_fails(path, TQ_ERR_PARAM, s.t, -1, NULL, NULL, 0,
                      "negative count");
    expect_save_fails(path, TQ_ERR_PARAM, s.t, 6, keys, values, -1,
                      "negative metadata count");
    expect_save_fails(path, TQ_ERR_NULL, s.t, 6, NULL, values, 1,
                      "NULL metadata keys");
    expect_save_fails(path, TQ_ERR_NULL, s.t, 6, keys, NULL, 1,
                      "NULL metadata values");
    const char *null_key[2] = {"k", NULL};
    expect_save_fails(path, TQ_ERR_NULL, s.t, 6, null_key, values, 2,
                      "a NULL metadata key");
    const char *dup_keys[2] = {"k", "k"};
    expect_save_fails(path, TQ_ERR_PARAM, s.t, 6, dup_keys, values, 2,
                      "duplicate metadata keys");
    const char *bad_utf8[2] = {"k", "\xff"};
    expect_save_fails(path, TQ_ERR_PARAM, s.t, 6, keys, bad_utf8, 2,
                      "metadata value not UTF-8");

    tq_named_tensor t[6];
    const struct {
        int index;
        const char *name;
        int32_t dtype, ndim;
        int64_t shape0;
        int null_data;
        tq_status want;
        const char *what;
    } cases[] = {
        {1, "conv.weight", TQ_S32, 1, 4, 0, TQ_ERR_PARAM, "duplicate name"},
        {5, "fc.weight", TQ_S8, 1, 1, 0, TQ_ERR_PARAM, "duplicate name, far"},
        {2, "", TQ_S8, 2, 5, 0, TQ_ERR_PARAM, "empty name"},
        {2, "__metadata__", TQ_S8, 2, 5, 0, TQ_ERR_PARAM, "reserved name"},
        {2, "\xc0\x80", TQ_S8, 2, 5, 0, TQ_ERR_PARAM, "name not UTF-8"},
        {2, NULL, TQ_S8, 2, 5, 0, TQ_ERR_NULL, "NULL name"},
        {2, "fc.weight", 0, 2, 5, 0, TQ_ERR_DTYPE, "dtype 0"},
        {2, "fc.weight", 99, 2, 5, 0, TQ_ERR_DTYPE, "dtype 99"},
        {2, "fc.weight", TQ_S8, 5, 5, 0, TQ_ERR_SHAPE, "ndim 5"},
        {2, "fc.weight", TQ_S8, -1, 5, 0, TQ_ERR_SHAPE, "ndim -1"},
        {2, "fc.weight", TQ_S8, 2, -5, 0, TQ_ERR_SHAPE, "negative extent"},
        {2, "fc.weight", TQ_S8, 2, 5, 1, TQ_ERR_NULL, "NULL data"},
        {4, "empty", TQ_S8, 2, INT64_MAX, 0, TQ_ERR_OVERFLOW,
         "extent of 2^63 - 1"},
        {0, "conv.weight", TQ_F32, 4, INT64_C(1) << 62, 0, TQ_ERR_OVERFLOW,
         "byte count overflow"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        memcpy(t, s.t, sizeof t);
        tq_named_tensor *x = &t[cases[c].index];
        x->name = cases[c].name;
        x->tensor.dtype = cases[c].dtype;
        x->tensor.ndim = cases[c].ndim;
        x->tensor.shape[0] = cases[c].shape0;
        if (cases[c].null_data)
            x->tensor.data = NULL;
        expect_save_fails(path, cases[c].want, t, 6, keys, values, 2,
                          cases[c].what);
    }
    /* A NULL data pointer is fine for an empty tensor (t[4] has none). */
    assert_int_equal(tq_safetensors_save(path, s.t, 6, keys, values, 2),
                     TQ_OK);

    /* I/O failures: a directory that does not exist, and a target that is
     * a directory (the rename fails after the data was written). */
    expect_save_fails("/nonexistent-tinyq-dir/model.safetensors", TQ_ERR_IO,
                      NULL, 0, NULL, NULL, 0, "missing directory");
    char dir[] = "/tmp/tq_test_st_dir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(tq_safetensors_save(dir, s.t, 6, keys, values, 2),
                     TQ_ERR_IO);
    assert_false(tmp_sibling_exists(dir));
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(rmdir(dir), 0);

    unlink(path);
    free(path);
}

/* A fresh directory for one test, and a path of `name` inside it. */
static void make_dir(char *dir)
{
    strcpy(dir, "/tmp/tq_test_st_dir_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void join(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* One int8 tensor "t" of `n` bytes, all `value`. */
static tq_status save_filled(const char *path, int8_t *buf, int64_t n,
                             int8_t value)
{
    memset(buf, value, (size_t)n);
    tq_named_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "t";
    t.tensor.data = buf;
    t.tensor.dtype = TQ_S8;
    t.tensor.ndim = 1;
    t.tensor.shape[0] = n;
    const char *key = "tag", *val = value == 1 ? "one" : "two";
    return tq_safetensors_save(path, &t, 1, &key, &val, 1);
}

/* Does `path` hold exactly what save_filled(n, value) wrote, for one of
 * the two (n, value) pairs of the concurrency test? */
static int is_whole_save(const char *path, int64_t n1, int64_t n2)
{
    tq_safetensors *f = NULL;
    if (tq_safetensors_load(path, &f) != TQ_OK)
        return 0;
    tq_tensor t;
    const char *tag = NULL;
    int ok = tq_safetensors_count(f) == 1 &&
             tq_safetensors_get(f, "t", &t) == TQ_OK && t.ndim == 1 &&
             tq_safetensors_metadata(f, "tag", &tag) == TQ_OK;
    if (ok) {
        const int one = strcmp(tag, "one") == 0;
        const int8_t v = one ? 1 : 2;
        ok = (one || strcmp(tag, "two") == 0) &&
             t.shape[0] == (one ? n1 : n2);
        for (int64_t i = 0; ok && i < t.shape[0]; ++i)
            ok = ((const int8_t *)t.data)[i] == v;
    }
    tq_safetensors_free(f);
    return ok;
}

/* A symbolic link planted at the old fixed temporary name "PATH.tmp" must
 * not be followed (it used to overwrite its target and leave PATH a
 * symlink: issue 14); a dangling one must not create its target. */
static void test_save_symlink_trap(void **state)
{
    (void)state;
    char dir[64], path[128], tmp[160], victim[128], absent[128];
    make_dir(dir);
    join(path, sizeof path, dir, "model.safetensors");
    join(victim, sizeof victim, dir, "victim");
    join(absent, sizeof absent, dir, "absent");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_all(victim, "victim", 6);
    assert_int_equal(symlink(victim, tmp), 0);

    int8_t buf[40];
    assert_int_equal(save_filled(path, buf, 40, 1), TQ_OK);
    size_t size;
    unsigned char *raw = read_all(victim, &size);
    assert_int_equal(size, 6);
    assert_memory_equal(raw, "victim", 6);
    free(raw);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_true(is_whole_save(path, 40, 40));
    assert_int_equal(lstat(tmp, &sb), 0); /* the planted link is left */
    assert_true(S_ISLNK(sb.st_mode));

    assert_int_equal(unlink(tmp), 0);
    assert_int_equal(symlink(absent, tmp), 0);
    assert_int_equal(save_filled(path, buf, 40, 2), TQ_OK);
    assert_false(exists(absent));
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));

    assert_int_equal(unlink(tmp), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(victim), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* The saved file keeps the permission bits of the file it replaces; a new
 * file gets 0666 less the umask, as fopen() would give it. */
static void test_save_permissions(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir);
    join(path, sizeof path, dir, "model.safetensors");
    int8_t buf[8];
    struct stat sb;
    static const mode_t kept[] = {0600, 0640, 0444, 0755, 0604};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; ++i) {
        write_all(path, "old", 3);
        assert_int_equal(chmod(path, kept[i]), 0);
        assert_int_equal(save_filled(path, buf, 8, 1), TQ_OK);
        assert_int_equal(stat(path, &sb), 0);
        if ((sb.st_mode & 07777) != kept[i])
            fail_msg("a %04o file became %04o", (unsigned)kept[i],
                     (unsigned)(sb.st_mode & 07777));
        assert_true(is_whole_save(path, 8, 8));
        assert_int_equal(unlink(path), 0);
    }
    static const mode_t masks[] = {022, 077, 0, 027};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; ++i) {
        const mode_t old = umask(masks[i]);
        const tq_status st = save_filled(path, buf, 8, 2);
        umask(old);
        assert_int_equal(st, TQ_OK);
        assert_int_equal(stat(path, &sb), 0);
        if ((sb.st_mode & 07777) != (0666 & ~masks[i]))
            fail_msg("umask %03o: a new file is %04o", (unsigned)masks[i],
                     (unsigned)(sb.st_mode & 07777));
        assert_int_equal(unlink(path), 0);
    }
    assert_false(tmp_sibling_exists(path));
    assert_int_equal(rmdir(dir), 0);
}

/* Two processes save to one path over and over while this one loads it:
 * every load must see one whole file of one writer (issue 14: 623 of
 * 6,021 loads read a malformed file with the fixed temporary name). */
enum { CONCURRENT_SAVES = 100 };
static void test_save_concurrent(void **state)
{
    (void)state;
    if (tt_no_processes()) {
        print_message("no fork() here (TINYQ_TEST_NO_PROCESSES): skipped\n");
        skip();
    }
    char dir[64], path[128];
    make_dir(dir);
    join(path, sizeof path, dir, "model.safetensors");
    static int8_t buf[2][150000];
    const int64_t n1 = 100000, n2 = 150000;
    assert_int_equal(save_filled(path, buf[0], n1, 1), TQ_OK);
    pid_t pid[2];
    for (int w = 0; w < 2; ++w) {
        pid[w] = fork();
        assert_true(pid[w] >= 0);
        if (pid[w] == 0) {
            int bad = 0;
            for (int i = 0; i < CONCURRENT_SAVES; ++i)
                bad += save_filled(path, buf[w], w ? n2 : n1,
                                   (int8_t)(w + 1)) != TQ_OK;
            _exit(bad ? 1 : 0);
        }
    }
    int loads = 0, broken = 0, running = 2, status[2] = {-1, -1};
    while (running > 0) {
        loads++;
        broken += !is_whole_save(path, n1, n2);
        for (int w = 0; w < 2; ++w) {
            int wst;
            if (status[w] == -1 && waitpid(pid[w], &wst, WNOHANG) == pid[w]) {
                status[w] = wst;
                --running;
            }
        }
    }
    print_message("concurrent saves: %d loads, %d broken\n", loads, broken);
    for (int w = 0; w < 2; ++w) {
        assert_true(WIFEXITED(status[w]));
        assert_int_equal(WEXITSTATUS(status[w]), 0);
    }
    assert_int_equal(broken, 0);
    assert_true(is_whole_save(path, n1, n2));
    assert_false(tmp_sibling_exists(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void expect_load_fails(const char *path, tq_status want,
                              const char *what)
{
    tq_safetensors *f = SENTINEL;
    const tq_status st = tq_safetensors_load(path, &f);
    if (st != want || f != SENTINEL)
        fail_msg("%s: expected status %d and an untouched output, got %d",
                 what, (int)want, (int)st);
}

static void test_load_errors(void **state)
{
    (void)state;
    tq_safetensors *f = SENTINEL;
    assert_int_equal(tq_safetensors_load(NULL, &f), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_load("/tmp", NULL), TQ_ERR_NULL);
    assert_true(f == SENTINEL);
    expect_load_fails("/nonexistent-tinyq-dir/x.safetensors", TQ_ERR_IO,
                      "missing file");
    char dir[] = "/tmp/tq_test_st_dir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    expect_load_fails(dir, TQ_ERR_IO, "a directory");
    assert_int_equal(rmdir(dir), 0);

    /* Every truncation of a valid file, through the file path too. */
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *p = mixed_image(&size, data);
    char *path = temp_path();
    for (size_t len = 0; len < size; len += 3) {
        write_all(path, p, len);
        char what[64];
        snprintf(what, sizeof what, "file truncated to %zu bytes", len);
        expect_load_fails(path, TQ_ERR_FORMAT, what);
    }
    write_all(path, p, size);
    assert_int_equal(tq_safetensors_load(path, &f), TQ_OK);
    const int64_t s_acc[2] = {1, 3};
    check_tensor(f, "acc", TQ_S32, 2, s_acc, data + 67, 12);
    tq_safetensors_free(f);
    free(p);
    unlink(path);
    free(path);
}

static void test_null_args(void **state)
{
    (void)state;
    unsigned char data[MIXED_DATA];
    size_t size;
    unsigned char *p = mixed_image(&size, data);
    tq_safetensors *f = SENTINEL;
    assert_int_equal(tq_safetensors_parse(NULL, size, &f), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_parse(NULL, 0, &f), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_parse(p, size, NULL), TQ_ERR_NULL);
    assert_true(f == SENTINEL);
    f = parse_ok(p, size);
    free(p);

    tq_tensor t;
    const char *s;
    assert_int_equal(tq_safetensors_get(NULL, "acc", &t), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_get(f, NULL, &t), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_get(f, "acc", NULL), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_name(NULL, 0, &s), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_name(f, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_metadata(NULL, "format", &s), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_metadata(f, NULL, &s), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_metadata(f, "format", NULL), TQ_ERR_NULL);
    assert_int_equal(tq_safetensors_count(NULL), 0);
    tq_safetensors_free(f);
    tq_safetensors_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_mixed),
        cmocka_unit_test(test_parse_zero_size_scalar_and_names),
        cmocka_unit_test(test_parse_other_dtypes_and_ranks),
        cmocka_unit_test(test_parse_every_prefix_fails),
        cmocka_unit_test(test_parse_header_length_lies),
        cmocka_unit_test(test_parse_header_limit),
        cmocka_unit_test(test_parse_malformed_headers),
        cmocka_unit_test(test_parse_malformed_bytes),
        cmocka_unit_test(test_parse_tensor_count_limit),
        cmocka_unit_test(test_accepted_files_write_back),
        cmocka_unit_test(test_parse_fuzz),
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_save_load_random),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_save_symlink_trap),
        cmocka_unit_test(test_save_permissions),
        cmocka_unit_test(test_save_concurrent),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
