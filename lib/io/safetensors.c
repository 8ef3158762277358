/*
 * safetensors model files (host only): a strict parser that enforces every
 * rule of the reference implementation plus the lexical rules cJSON does not
 * check, a loader that reads tensor data straight into 64-byte aligned
 * memory, and a writer that publishes a file atomically (a fresh temporary
 * file beside it, fsync, rename, fsync of the directory).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../tq_internal.h"
#include "io_internal.h"

#if defined(_WIN32)
typedef long long st_off;
#define st_fseek _fseeki64
#define st_ftell _ftelli64
#else
#include <sys/types.h>
typedef off_t st_off;
#define st_fseek fseeko
#define st_ftell ftello
#endif

/* The reference implementation's header limit. */
#define ST_MAX_HEADER UINT64_C(100000000)
/* More tensors than any model tinyq targets; bounds the work a hostile
 * header can cause. */
#define ST_MAX_TENSORS 1000000
/* Tensor data alignment in memory: a cache line, and enough for any SIMD. */
#define ST_ALIGN ((size_t)64)
/* Integers in the header must be below 2^53: cJSON stores numbers as double,
 * and every integer below 2^53 survives that exactly (2^53 + 1 would read
 * back as 2^53, so 2^53 itself is ambiguous and refused too). */
#define ST_INT_LIMIT 9007199254740992.0

#define ST_METADATA_KEY "__metadata__"

/* ---- dtypes ------------------------------------------------------------ */

typedef struct st_dtype {
    const char *name; /* as spelled in the header */
    size_t size;      /* bytes per element */
    int32_t tq;       /* the tq_dtype, or 0 when tinyq cannot compute on it */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"BOOL", 1, 0},    {"U8", 1, 0},       {"I8", 1, TQ_S8},
    {"U16", 2, 0},     {"I16", 2, 0},      {"F16", 2, 0},
    {"BF16", 2, 0},    {"U32", 4, 0},      {"I32", 4, TQ_S32},
    {"F32", 4, TQ_F32}, {"U64", 8, 0},     {"I64", 8, 0},
    {"F64", 8, 0},     {"F8_E4M3", 1, 0},  {"F8_E5M2", 1, 0},
};
#define ST_NUM_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static const st_dtype *st_dtype_by_name(const char *name)
{
    for (size_t i = 0; i < ST_NUM_DTYPES; ++i)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return &st_dtypes[i];
    return NULL;
}

/* The safetensors dtype a tq_dtype is written as, or NULL. */
static const st_dtype *st_dtype_of_tq(int32_t dtype)
{
    for (size_t i = 0; i < ST_NUM_DTYPES; ++i)
        if (st_dtypes[i].tq != 0 && st_dtypes[i].tq == dtype)
            return &st_dtypes[i];
    return NULL;
}

/* ---- the loaded file --------------------------------------------------- */

typedef struct st_entry {
    const char *name;            /* in the string pool */
    const st_dtype *dtype;
    int32_t ndim;                /* may exceed TQ_MAX_DIMS */
    int64_t shape[TQ_MAX_DIMS];  /* the first dims only */
    uint64_t begin, end;         /* data_offsets, into the file's buffer */
    size_t offset;               /* where the bytes live in `data` */
} st_entry;

typedef struct st_pair {
    const char *key, *value;     /* in the string pool */
} st_pair;

struct tq_safetensors {
    int32_t count;
    int32_t meta_count;
    st_entry *entries;     /* header order */
    st_entry **by_name;    /* sorted by name, for lookups */
    st_pair *meta;         /* sorted by key */
    char *strings;         /* one pool for every name, key and value */
    void *data_block;      /* the allocation behind `data` */
    unsigned char *data;   /* tensor bytes, each tensor 64-byte aligned */
};

void tq_safetensors_free(tq_safetensors *file)
{
    if (!file)
        return;
    free(file->entries);
    free(file->by_name);
    free(file->meta);
    free(file->strings);
    free(file->data_block);
    free(file);
}

/* ---- small helpers ----------------------------------------------------- */

static uint64_t st_read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

static void st_write_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int st_host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Files are little-endian; big-endian hosts swap 4-byte elements. */
static void st_swap4(unsigned char *p, size_t bytes)
{
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        unsigned char t = p[i];
        p[i] = p[i + 3];
        p[i + 3] = t;
        t = p[i + 1];
        p[i + 1] = p[i + 2];
        p[i + 2] = t;
    }
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int st_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; ++k) {
            const unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static int st_is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int st_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int st_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of the escape "\uXXXX" starting at s[i] (the backslash),
 * or -1 unless exactly four hex digits follow "\u". */
static int32_t st_u_escape(const char *s, size_t n, size_t i)
{
    if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u')
        return -1;
    int32_t v = 0;
    for (size_t k = 2; k < 6; ++k) {
        const int d = st_hex_digit(s[i + k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One escape sequence starting at s[i] (the backslash) inside a string:
 * its length in bytes, or 0 when it is not JSON or would decode to
 * something a C string cannot hold faithfully. JSON allows \" \\ \/ \b
 * \f \n \r \t and \uXXXX with exactly four hex digits; tinyq also refuses
 * \u0000 (a C string would end there) and any surrogate that is not a high
 * one (D800-DBFF) immediately followed by an escaped low one (DC00-DFFF).
 * cJSON decodes a \u with non-hex digits as U+0000, silently cutting the
 * string, and so cannot be the judge of this (issue 14). */
static size_t st_escape_length(const char *s, size_t n, size_t i)
{
    if (n - i < 2)
        return 0;
    switch (s[i + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    const int32_t u = st_u_escape(s, n, i);
    if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return 0;
    if (u < 0xD800 || u > 0xDBFF)
        return 6;
    const int32_t low = st_u_escape(s, n, i + 6);
    return low >= 0xDC00 && low <= 0xDFFF ? 12 : 0;
}

/* Lexical rules checked on text cJSON has already accepted, for what cJSON
 * lets through or cannot report:
 *  - every number must be a plain non-negative integer literal (a valid
 *    header holds numbers only in shapes and offsets, and "1.0", "1e0" or
 *    "-0" would otherwise be indistinguishable from 1 or 0 as doubles);
 *    leading zeros are not JSON;
 *  - outside strings, the only whitespace is space, tab, LF and CR (cJSON
 *    skips any byte up to 0x20), and nothing is outside ASCII;
 *  - strings hold no raw control characters (not JSON), and every escape
 *    is one JSON defines, \u with four hex digits that decode neither to
 *    NUL nor to half a surrogate pair (st_escape_length()). */
static int st_json_lexically_strict(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char c = s[i];
        if (c == '"') {
            for (++i;;) {
                if (i >= n || (unsigned char)s[i] < 0x20)
                    return 0;
                if (s[i] == '"')
                    break;
                if (s[i] == '\\') {
                    const size_t len = st_escape_length(s, n, i);
                    if (len == 0)
                        return 0;
                    i += len;
                } else {
                    ++i;
                }
            }
            ++i;
        } else if (c == '-' || c == '+' || c == '.') {
            return 0;
        } else if (((unsigned char)c < 0x20 && !st_is_json_space(c)) ||
                   (unsigned char)c >= 0x7F) {
            /* cJSON skips every byte up to 0x20 as whitespace */
            return 0;
        } else if (st_is_digit(c)) {
            const size_t start = i;
            while (i < n && (st_is_digit(s[i]) || s[i] == '.' || s[i] == 'e' ||
                             s[i] == 'E' || s[i] == '+' || s[i] == '-')) {
                if (!st_is_digit(s[i]))
                    return 0;
                ++i;
            }
            if (s[start] == '0' && i - start > 1)
                return 0;
        } else {
            ++i;
        }
    }
    return 1;
}

/* A JSON number holding an exact integer in [0, 2^53). */
static int st_json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    const double d = v->valuedouble;
    if (!(d >= 0.0 && d < ST_INT_LIMIT))
        return 0;
    const uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return 0;
    *out = u;
    return 1;
}

/* String pool cursor: copies are always in bounds because the pool was
 * sized from the same strings. */
static const char *st_pool_add(char **cursor, const char *s)
{
    const size_t len = strlen(s) + 1;
    char *dst = *cursor;
    memcpy(dst, s, len);
    *cursor += len;
    return dst;
}

static int st_cmp_entry_name(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a;
    const st_entry *y = *(const st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int st_cmp_entry_offsets(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a;
    const st_entry *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int st_cmp_pair_key(const void *a, const void *b)
{
    return strcmp(((const st_pair *)a)->key, ((const st_pair *)b)->key);
}

/* ---- header parsing ---------------------------------------------------- */

/* One tensor entry: an object with exactly dtype, shape and data_offsets,
 * whose byte count agrees with its offsets. */
static tq_status st_parse_entry(const cJSON *obj, uint64_t buffer_size,
                                st_entry *e)
{
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    if (!cJSON_IsObject(obj))
        return TQ_ERR_FORMAT;
    for (const cJSON *f = obj->child; f; f = f->next) {
        const cJSON **slot;
        if (!f->string)
            return TQ_ERR_FORMAT;
        if (strcmp(f->string, "dtype") == 0)
            slot = &dtype;
        else if (strcmp(f->string, "shape") == 0)
            slot = &shape;
        else if (strcmp(f->string, "data_offsets") == 0)
            slot = &offsets;
        else
            return TQ_ERR_FORMAT;
        if (*slot)
            return TQ_ERR_FORMAT; /* duplicate field */
        *slot = f;
    }
    if (!dtype || !shape || !offsets)
        return TQ_ERR_FORMAT;

    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return TQ_ERR_FORMAT;
    e->dtype = st_dtype_by_name(dtype->valuestring);
    if (!e->dtype)
        return TQ_ERR_FORMAT;

    if (!cJSON_IsArray(shape))
        return TQ_ERR_FORMAT;
    size_t ndim = 0, bytes = e->dtype->size;
    for (const cJSON *d = shape->child; d; d = d->next, ++ndim) {
        uint64_t extent;
        if (!st_json_uint(d, &extent) || extent > SIZE_MAX ||
            ndim >= (size_t)INT32_MAX)
            return TQ_ERR_FORMAT;
        if (tq__mul_size(bytes, (size_t)extent, &bytes))
            return TQ_ERR_FORMAT;
        if (ndim < TQ_MAX_DIMS)
            e->shape[ndim] = (int64_t)extent;
    }
    e->ndim = (int32_t)ndim;

    const cJSON *b = cJSON_IsArray(offsets) ? offsets->child : NULL;
    const cJSON *en = b ? b->next : NULL;
    if (!b || !en || en->next || !st_json_uint(b, &e->begin) ||
        !st_json_uint(en, &e->end))
        return TQ_ERR_FORMAT;
    if (e->begin > e->end || e->end > buffer_size ||
        e->end - e->begin != (uint64_t)bytes)
        return TQ_ERR_FORMAT;
    return TQ_OK;
}

/* Does the JSON text end at `end`, up to trailing whitespace? */
static int st_only_space_after(const char *text, size_t n, const char *end)
{
    if (!end || end < text || end > text + n)
        return 0;
    for (const char *p = end; p < text + n; ++p)
        if (!st_is_json_space(*p))
            return 0;
    return 1;
}

/* Everything about the header except reading the data. On success *out is
 * a complete file whose data memory is allocated but not yet filled, and
 * *sorted lists its entries by offset (the caller frees it). */
static tq_status st_parse_header(const unsigned char *hdr, size_t n,
                                 uint64_t buffer_size, tq_safetensors **out,
                                 st_entry ***sorted)
{
    tq_status st = TQ_ERR_FORMAT;
    char *text = NULL;
    cJSON *root = NULL;
    tq_safetensors *f = NULL;
    st_entry **by_offset = NULL;

    if (n == 0 || hdr[0] != '{' || !st_utf8_valid(hdr, n))
        return TQ_ERR_FORMAT;

    /* cJSON wants a NUL-terminated buffer; the file's header is not. */
    text = malloc(n + 1);
    if (!text)
        return TQ_ERR_NO_MEMORY;
    memcpy(text, hdr, n);
    text[n] = '\0';

    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root || !cJSON_IsObject(root) || !st_only_space_after(text, n, end) ||
        !st_json_lexically_strict(text, n))
        goto done;

    /* First pass: count tensors and pool bytes, and check the metadata. */
    const cJSON *meta = NULL;
    size_t count = 0, meta_count = 0, pool = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!it->string)
            goto done;
        if (strcmp(it->string, ST_METADATA_KEY) == 0) {
            if (meta || !cJSON_IsObject(it))
                goto done;
            meta = it;
            for (const cJSON *kv = it->child; kv; kv = kv->next) {
                if (!kv->string || !cJSON_IsString(kv) || !kv->valuestring)
                    goto done;
                pool += strlen(kv->string) + strlen(kv->valuestring) + 2;
                ++meta_count;
            }
            continue;
        }
        /* The writer refuses an empty name; so does the reader, so that
         * every file read can be written back (issue 14). */
        if (it->string[0] == '\0' || ++count > ST_MAX_TENSORS)
            goto done;
        pool += strlen(it->string) + 1;
    }
    /* Counts and pool are bounded by the header length (<= 10^8): the sums
     * above cannot overflow, nor can meta_count exceed INT32_MAX. */

    st = TQ_ERR_NO_MEMORY;
    f = calloc(1, sizeof *f);
    if (!f)
        goto done;
    f->entries = calloc(count ? count : 1, sizeof *f->entries);
    f->by_name = calloc(count ? count : 1, sizeof *f->by_name);
    f->meta = calloc(meta_count ? meta_count : 1, sizeof *f->meta);
    f->strings = malloc(pool ? pool : 1);
    by_offset = calloc(count ? count : 1, sizeof *by_offset);
    if (!f->entries || !f->by_name || !f->meta || !f->strings || !by_offset)
        goto done;
    f->count = (int32_t)count;
    f->meta_count = (int32_t)meta_count;

    /* Second pass: the entries, in header order. */
    st = TQ_ERR_FORMAT;
    char *cursor = f->strings;
    size_t i = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it == meta)
            continue;
        st_entry *e = &f->entries[i];
        if (st_parse_entry(it, buffer_size, e) != TQ_OK)
            goto done;
        e->name = st_pool_add(&cursor, it->string);
        f->by_name[i] = e;
        by_offset[i] = e;
        ++i;
    }
    i = 0;
    for (const cJSON *kv = meta ? meta->child : NULL; kv; kv = kv->next, ++i) {
        f->meta[i].key = st_pool_add(&cursor, kv->string);
        f->meta[i].value = st_pool_add(&cursor, kv->valuestring);
    }

    /* Unique names and keys. ("__metadata__" twice was caught above.) */
    qsort(f->by_name, count, sizeof *f->by_name, st_cmp_entry_name);
    for (i = 1; i < count; ++i)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            goto done;
    qsort(f->meta, meta_count, sizeof *f->meta, st_cmp_pair_key);
    for (i = 1; i < meta_count; ++i)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            goto done;

    /* The tensors must tile the buffer exactly: in offset order each one
     * begins where the previous ended, and the last ends at its end. */
    qsort(by_offset, count, sizeof *by_offset, st_cmp_entry_offsets);
    uint64_t covered = 0;
    for (i = 0; i < count; ++i) {
        if (by_offset[i]->begin != covered)
            goto done;
        covered = by_offset[i]->end;
    }
    if (covered != buffer_size)
        goto done;

    /* Lay the tensors out in memory, each on a 64-byte boundary. */
    st = TQ_ERR_NO_MEMORY;
    size_t total = 0;
    for (i = 0; i < count; ++i) {
        size_t padded;
        f->entries[i].offset = total;
        if (tq__add_size((size_t)(f->entries[i].end - f->entries[i].begin),
                         ST_ALIGN - 1, &padded) ||
            tq__add_size(total, padded & ~(ST_ALIGN - 1), &total))
            goto done;
    }
    /* The extra ST_ALIGN bytes leave room to align the block, and keep a
     * zero-size tensor at the very end pointing inside it. */
    size_t block;
    if (tq__add_size(total, ST_ALIGN, &block))
        goto done;
    f->data_block = malloc(block);
    if (!f->data_block)
        goto done;
    const uintptr_t raw = (uintptr_t)f->data_block;
    f->data = (unsigned char *)f->data_block +
              ((ST_ALIGN - raw % ST_ALIGN) % ST_ALIGN);

    *out = f;
    *sorted = by_offset;
    f = NULL;
    by_offset = NULL;
    st = TQ_OK;
done:
    tq_safetensors_free(f);
    free(by_offset);
    cJSON_Delete(root);
    free(text);
    return st;
}

/* After the bytes are in place: make 4-byte dtypes native-endian. */
static void st_to_host_order(tq_safetensors *f)
{
    if (st_host_is_little_endian())
        return;
    for (int32_t i = 0; i < f->count; ++i) {
        const st_entry *e = &f->entries[i];
        if (e->dtype->size == 4)
            st_swap4(f->data + e->offset, (size_t)(e->end - e->begin));
    }
}

/* Length N of the header from the 8-byte prefix, checked against its
 * limits and against the bytes that follow the prefix. */
static tq_status st_check_header_length(uint64_t n, uint64_t after_prefix)
{
    if (n == 0 || n > ST_MAX_HEADER || n > after_prefix)
        return TQ_ERR_FORMAT;
    return TQ_OK;
}

tq_status tq_safetensors_parse(const void *bytes, size_t size,
                               tq_safetensors **file)
{
    if (!bytes || !file)
        return TQ_ERR_NULL;
    const unsigned char *p = bytes;
    if (size < 8)
        return TQ_ERR_FORMAT;
    const uint64_t n = st_read_le64(p);
    TQ_CHECK(st_check_header_length(n, (uint64_t)size - 8));

    tq_safetensors *f = NULL;
    st_entry **sorted = NULL;
    const unsigned char *buffer = p + 8 + (size_t)n;
    TQ_CHECK(st_parse_header(p + 8, (size_t)n, (uint64_t)(size - 8 - (size_t)n),
                             &f, &sorted));
    for (int32_t i = 0; i < f->count; ++i) {
        const st_entry *e = &f->entries[i];
        if (e->end > e->begin)
            memcpy(f->data + e->offset, buffer + (size_t)e->begin,
                   (size_t)(e->end - e->begin));
    }
    free(sorted);
    st_to_host_order(f);
    *file = f;
    return TQ_OK;
}

/* ---- loading from a file ----------------------------------------------- */

tq_status tq__file_size(FILE *fp, uint64_t *size)
{
    /* fopen() accepts a directory on POSIX systems; reading it fails. */
    if (fgetc(fp) == EOF && ferror(fp))
        return TQ_ERR_IO;
    if (st_fseek(fp, 0, SEEK_END) != 0)
        return TQ_ERR_IO;
    const st_off end = st_ftell(fp);
    if (end < 0 || st_fseek(fp, 0, SEEK_SET) != 0)
        return TQ_ERR_IO;
    *size = (uint64_t)end;
    return TQ_OK;
}

int tq__file_seek(FILE *fp, uint64_t offset)
{
    /* offset <= the file's size, which st_off holds. */
    return st_fseek(fp, (st_off)offset, SEEK_SET) == 0;
}

static int st_read_exact(FILE *fp, void *dst, size_t bytes)
{
    return bytes == 0 || fread(dst, 1, bytes, fp) == bytes;
}

static tq_status st_load_stream(FILE *fp, tq_safetensors **file)
{
    uint64_t size;
    TQ_CHECK(tq__file_size(fp, &size));
    if (size < 8)
        return TQ_ERR_FORMAT;

    unsigned char prefix[8];
    if (!st_read_exact(fp, prefix, sizeof prefix))
        return TQ_ERR_IO;
    const uint64_t n = st_read_le64(prefix);
    TQ_CHECK(st_check_header_length(n, size - 8));
    const uint64_t buffer_size = size - 8 - n;
    if (buffer_size > SIZE_MAX)
        return TQ_ERR_OVERFLOW;

    unsigned char *hdr = malloc((size_t)n);
    if (!hdr)
        return TQ_ERR_NO_MEMORY;
    if (!st_read_exact(fp, hdr, (size_t)n)) {
        free(hdr);
        return TQ_ERR_IO;
    }
    tq_safetensors *f = NULL;
    st_entry **sorted = NULL;
    const tq_status st = st_parse_header(hdr, (size_t)n, buffer_size, &f,
                                         &sorted);
    free(hdr);
    if (st != TQ_OK)
        return st;

    /* The tensors tile the buffer, so reading them in offset order is one
     * sequential pass over the rest of the file. */
    for (int32_t i = 0; i < f->count; ++i) {
        const st_entry *e = sorted[i];
        if (!st_read_exact(fp, f->data + e->offset,
                           (size_t)(e->end - e->begin))) {
            free(sorted);
            tq_safetensors_free(f);
            return TQ_ERR_IO;
        }
    }
    free(sorted);
    st_to_host_order(f);
    *file = f;
    return TQ_OK;
}

tq_status tq_safetensors_load(const char *path, tq_safetensors **file)
{
    if (!path || !file)
        return TQ_ERR_NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return TQ_ERR_IO;
    const tq_status st = st_load_stream(fp, file);
    fclose(fp);
    return st;
}

/* ---- queries ----------------------------------------------------------- */

int32_t tq_safetensors_count(const tq_safetensors *file)
{
    return file ? file->count : 0;
}

tq_status tq_safetensors_name(const tq_safetensors *file, int32_t index,
                              const char **name)
{
    if (!file || !name)
        return TQ_ERR_NULL;
    if (index < 0 || index >= file->count)
        return TQ_ERR_PARAM;
    *name = file->entries[index].name;
    return TQ_OK;
}

static const st_entry *st_find(const tq_safetensors *file, const char *name)
{
    size_t lo = 0, hi = (size_t)file->count;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(name, file->by_name[mid]->name);
        if (c == 0)
            return file->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

tq_status tq_safetensors_get(const tq_safetensors *file, const char *name,
                             tq_tensor *tensor)
{
    if (!file || !name || !tensor)
        return TQ_ERR_NULL;
    const st_entry *e = st_find(file, name);
    if (!e)
        return TQ_ERR_NOT_FOUND;
    if (e->dtype->tq == 0)
        return TQ_ERR_DTYPE;
    if (e->ndim > TQ_MAX_DIMS)
        return TQ_ERR_SHAPE;
    tq_tensor t;
    memset(&t, 0, sizeof t);
    t.data = file->data + e->offset;
    t.dtype = e->dtype->tq;
    t.ndim = e->ndim;
    for (int32_t d = 0; d < e->ndim; ++d)
        t.shape[d] = e->shape[d];
    *tensor = t;
    return TQ_OK;
}

tq_status tq_safetensors_metadata(const tq_safetensors *file, const char *key,
                                  const char **value)
{
    if (!file || !key || !value)
        return TQ_ERR_NULL;
    size_t lo = 0, hi = (size_t)file->meta_count;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(key, file->meta[mid].key);
        if (c == 0) {
            *value = file->meta[mid].value;
            return TQ_OK;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return TQ_ERR_NOT_FOUND;
}

/* ---- saving ------------------------------------------------------------ */

static int st_cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Are the n strings distinct? 1 yes, 0 no, -1 out of memory. */
static int st_all_distinct(const char *const *s, size_t n)
{
    if (n < 2)
        return 1;
    const char **copy = malloc(n * sizeof *copy);
    if (!copy)
        return -1;
    memcpy(copy, s, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, st_cmp_cstr);
    int distinct = 1;
    for (size_t i = 1; i < n && distinct; ++i)
        distinct = strcmp(copy[i - 1], copy[i]) != 0;
    free(copy);
    return distinct;
}

static int st_valid_text(const char *s)
{
    return st_utf8_valid((const unsigned char *)s, strlen(s));
}

/* One tensor to write: everything tq_tensor_nbytes() checks, plus the
 * limits of the format as tinyq reads it (extents below 2^53). */
static tq_status st_check_named(const tq_named_tensor *nt, size_t *bytes)
{
    const tq_tensor *t = &nt->tensor;
    if (!nt->name)
        return TQ_ERR_NULL;
    if (nt->name[0] == '\0' || strcmp(nt->name, ST_METADATA_KEY) == 0 ||
        !st_valid_text(nt->name))
        return TQ_ERR_PARAM;
    const st_dtype *dt = st_dtype_of_tq(t->dtype);
    if (!dt)
        return TQ_ERR_DTYPE;
    if (t->ndim < 0 || t->ndim > TQ_MAX_DIMS)
        return TQ_ERR_SHAPE;
    size_t b = dt->size;
    for (int32_t d = 0; d < t->ndim; ++d)
        if (t->shape[d] < 0)
            return TQ_ERR_SHAPE;
    for (int32_t d = 0; d < t->ndim; ++d) {
        if ((double)t->shape[d] >= ST_INT_LIMIT ||
            (uint64_t)t->shape[d] > SIZE_MAX ||
            tq__mul_size(b, (size_t)t->shape[d], &b))
            return TQ_ERR_OVERFLOW;
    }
    if (b > 0 && !t->data)
        return TQ_ERR_NULL;
    *bytes = b;
    return TQ_OK;
}

static tq_status st_check_save_args(const char *path,
                                    const tq_named_tensor *tensors,
                                    int32_t count, const char *const *keys,
                                    const char *const *values,
                                    int32_t meta_count)
{
    if (!path || (count > 0 && !tensors) ||
        (meta_count > 0 && (!keys || !values)))
        return TQ_ERR_NULL;
    if (path[0] == '\0' || count < 0 || meta_count < 0 ||
        count > ST_MAX_TENSORS)
        return TQ_ERR_PARAM;
    size_t sum = 0;
    for (int32_t i = 0; i < count; ++i) {
        size_t bytes;
        TQ_CHECK(st_check_named(&tensors[i], &bytes));
        if (tq__add_size(sum, bytes, &sum) || (double)sum >= ST_INT_LIMIT)
            return TQ_ERR_OVERFLOW;
    }
    for (int32_t i = 0; i < meta_count; ++i) {
        if (!keys[i] || !values[i])
            return TQ_ERR_NULL;
        if (!st_valid_text(keys[i]) || !st_valid_text(values[i]))
            return TQ_ERR_PARAM;
    }
    int distinct = st_all_distinct(keys, (size_t)meta_count);
    if (distinct == 1 && count > 1) {
        const char **names = malloc((size_t)count * sizeof *names);
        if (!names)
            return TQ_ERR_NO_MEMORY;
        for (int32_t i = 0; i < count; ++i)
            names[i] = tensors[i].name;
        distinct = st_all_distinct(names, (size_t)count);
        free(names);
    }
    if (distinct < 0)
        return TQ_ERR_NO_MEMORY;
    return distinct ? TQ_OK : TQ_ERR_PARAM;
}

/* Give `item` to `parent` under `key`; on failure it is freed. */
static int st_add(cJSON *parent, const char *key, cJSON *item)
{
    if (!item)
        return 0;
    if (!cJSON_AddItemToObject(parent, key, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

/* Integers are written as raw JSON text: cJSON would print large doubles
 * in exponent form, which the strict parser rightly refuses. */
static cJSON *st_uint_array(const uint64_t *v, int32_t n)
{
    char buf[2 + TQ_MAX_DIMS * 21 + 1];
    size_t len = 0;
    buf[len++] = '[';
    for (int32_t i = 0; i < n; ++i)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%llu",
                                i ? "," : "", (unsigned long long)v[i]);
    buf[len++] = ']';
    buf[len] = '\0';
    return cJSON_CreateRaw(buf);
}

/* The header text, unpadded; NULL when out of memory. */
static char *st_build_header(const tq_named_tensor *tensors, int32_t count,
                             const char *const *keys, const char *const *values,
                             int32_t meta_count)
{
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (meta_count > 0) {
        cJSON *meta = cJSON_CreateObject();
        if (!st_add(root, ST_METADATA_KEY, meta))
            goto done;
        for (int32_t i = 0; i < meta_count; ++i)
            if (!st_add(meta, keys[i], cJSON_CreateString(values[i])))
                goto done;
    }
    uint64_t begin = 0;
    for (int32_t i = 0; i < count; ++i) {
        const tq_tensor *t = &tensors[i].tensor;
        const st_dtype *dtype = st_dtype_of_tq(t->dtype);
        uint64_t shape[TQ_MAX_DIMS], offsets[2];
        uint64_t bytes = dtype->size;
        for (int32_t d = 0; d < t->ndim; ++d) {
            shape[d] = (uint64_t)t->shape[d];
            bytes *= shape[d]; /* checked by st_check_named() */
        }
        offsets[0] = begin;
        offsets[1] = begin + bytes;
        begin += bytes;
        cJSON *entry = cJSON_CreateObject();
        if (!st_add(root, tensors[i].name, entry) ||
            !st_add(entry, "dtype", cJSON_CreateString(dtype->name)) ||
            !st_add(entry, "shape", st_uint_array(shape, t->ndim)) ||
            !st_add(entry, "data_offsets", st_uint_array(offsets, 2)))
            goto done;
    }
    text = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return text;
}

/* Tensor bytes in file order (little-endian), through a bounce buffer on
 * big-endian hosts. */
static int st_write_data(FILE *fp, const tq_named_tensor *tensors,
                         int32_t count)
{
    const int little = st_host_is_little_endian();
    for (int32_t i = 0; i < count; ++i) {
        const tq_tensor *t = &tensors[i].tensor;
        const size_t elem = st_dtype_of_tq(t->dtype)->size;
        size_t bytes = elem;
        for (int32_t d = 0; d < t->ndim; ++d)
            bytes *= (size_t)t->shape[d]; /* checked by st_check_named() */
        if (bytes == 0)
            continue;
        if (little || elem != 4) {
            if (fwrite(t->data, 1, bytes, fp) != bytes)
                return 0;
            continue;
        }
        unsigned char chunk[4096];
        for (size_t done = 0; done < bytes;) {
            const size_t k = bytes - done < sizeof chunk ? bytes - done
                                                         : sizeof chunk;
            memcpy(chunk, (const unsigned char *)t->data + done, k);
            st_swap4(chunk, k);
            if (fwrite(chunk, 1, k, fp) != k)
                return 0;
            done += k;
        }
    }
    return 1;
}

tq_status tq__safetensors_write(FILE *fp, const tq_named_tensor *tensors,
                                int32_t count, const char *const *meta_keys,
                                const char *const *meta_values,
                                int32_t meta_count)
{
    if (!fp)
        return TQ_ERR_NULL;
    TQ_CHECK(st_check_save_args(".", tensors, count, meta_keys, meta_values,
                                meta_count));
    char *header = st_build_header(tensors, count, meta_keys, meta_values,
                                   meta_count);
    if (!header)
        return TQ_ERR_NO_MEMORY;
    /* The reference writer pads with spaces to a multiple of 8. */
    const size_t len = strlen(header);
    const size_t padded = (len + 7) & ~(size_t)7;
    if ((uint64_t)padded > ST_MAX_HEADER) {
        free(header);
        return TQ_ERR_OVERFLOW;
    }
    unsigned char prefix[8];
    static const char spaces[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    st_write_le64(prefix, (uint64_t)padded);
    const int ok = fwrite(prefix, 1, 8, fp) == 8 &&
                   fwrite(header, 1, len, fp) == len &&
                   fwrite(spaces, 1, padded - len, fp) == padded - len &&
                   st_write_data(fp, tensors, count) && fflush(fp) == 0 &&
                   !ferror(fp);
    free(header);
    return ok ? TQ_OK : TQ_ERR_IO;
}

/* ---- publishing a file ------------------------------------------------- */

/* A name for a temporary file beside @p path: PATH.tmp.XXXXXXXX, the last
 * part different at every call (process, time, a counter). Uniqueness is
 * not relied on: the file is created with O_EXCL and another name tried. */
static void st_temp_name(char *tmp, size_t n, const char *path)
{
    static _Atomic uint32_t counter;
    struct timespec ts;
    memset(&ts, 0, sizeof ts);
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)getpid() * UINT64_C(0x9E3779B97F4A7C15) ^
                 (uint64_t)ts.tv_nsec * UINT64_C(0xBF58476D1CE4E5B9) ^
                 (uint64_t)ts.tv_sec ^
                 ((uint64_t)atomic_fetch_add(&counter, 1) << 40);
    x ^= x >> 31;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 29;
    snprintf(tmp, n, "%s.tmp.%016llx", path, (unsigned long long)x);
}

/* Make the rename of a file into @p path durable: fsync its directory.
 * File systems that cannot sync a directory (EINVAL) are taken as done. */
static int st_sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = malloc(2);
        if (dir)
            memcpy(dir, ".", 2);
    } else {
        const size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir)
        return 0;
    const int fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    free(dir);
    if (fd < 0)
        return 0;
    const int ok = fsync(fd) == 0 || errno == EINVAL;
    return (close(fd) == 0) && ok;
}

tq_status tq_safetensors_save(const char *path, const tq_named_tensor *tensors,
                              int32_t count, const char *const *meta_keys,
                              const char *const *meta_values,
                              int32_t meta_count)
{
    TQ_CHECK(st_check_save_args(path, tensors, count, meta_keys, meta_values,
                                meta_count));

    /* The permission bits of the file being replaced; a new file gets
     * 0666 less the umask, which open() applies by itself. */
    struct stat old;
    const int replacing = stat(path, &old) == 0 && S_ISREG(old.st_mode);

    const size_t tmp_size = strlen(path) + sizeof ".tmp." + 16;
    char *tmp = malloc(tmp_size);
    if (!tmp)
        return TQ_ERR_NO_MEMORY;
    /* A fresh file that did not exist before (O_EXCL: never an existing
     * file, never through a symbolic link planted at the name), in the
     * target's directory so that the rename cannot cross file systems. */
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        st_temp_name(tmp, tmp_size, path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        free(tmp);
        return TQ_ERR_IO;
    }
    tq_status st = TQ_ERR_IO;
    if (replacing && fchmod(fd, old.st_mode & 07777) != 0) {
        close(fd);
    } else {
        FILE *fp = fdopen(fd, "wb");
        if (!fp) {
            close(fd);
        } else {
            st = tq__safetensors_write(fp, tensors, count, meta_keys,
                                       meta_values, meta_count);
            if (st == TQ_OK && fsync(fileno(fp)) != 0)
                st = TQ_ERR_IO;
            if (fclose(fp) != 0 && st == TQ_OK)
                st = TQ_ERR_IO;
        }
    }
    if (st == TQ_OK && rename(tmp, path) != 0)
        st = TQ_ERR_IO;
    if (st != TQ_OK)
        unlink(tmp);
    else if (!st_sync_parent(path))
        st = TQ_ERR_IO; /* published, but not known to be durable */
    free(tmp);
    return st;
}

/* ---- internal: metadata by index (fuzz harnesses, round-trip tests) --- */

int32_t tq__safetensors_meta_count(const tq_safetensors *file)
{
    return file ? file->meta_count : 0;
}

tq_status tq__safetensors_meta_at(const tq_safetensors *file, int32_t index,
                                  const char **key, const char **value)
{
    if (!file || !key || !value)
        return TQ_ERR_NULL;
    if (index < 0 || index >= file->meta_count)
        return TQ_ERR_PARAM;
    *key = file->meta[index].key;
    *value = file->meta[index].value;
    return TQ_OK;
}
