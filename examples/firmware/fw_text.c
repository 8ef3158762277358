/*
 * Lines of text and the command line for the QEMU firmware examples; see
 * fw_text.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "fw_text.h"

#include "semihost.h"

static int32_t out_handle = -1;

void fw_text_open(void)
{
    out_handle = sh_open(":tt", SH_MODE_W);
}

void fw_put_str(fw_line *l, const char *s)
{
    while (*s && l->len + 1 < FW_LINE_BYTES)
        l->text[l->len++] = *s++;
}

void fw_put_int(fw_line *l, int32_t v)
{
    char digits[12];
    int n = 0;
    /* Work on the magnitude in unsigned arithmetic: -INT32_MIN overflows. */
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    do {
        digits[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0)
        fw_put_str(l, "-");
    while (n > 0 && l->len + 1 < FW_LINE_BYTES)
        l->text[l->len++] = digits[--n];
}

void fw_flush(fw_line *l)
{
    fw_put_str(l, "\n");
    if (out_handle >= 0)
        sh_write(out_handle, l->text, l->len);
    l->len = 0;
}

void fw_say(const char *s)
{
    fw_line l = {{0}, 0};
    fw_put_str(&l, s);
    fw_flush(&l);
}

int fw_split(char *s, char **words, int max)
{
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ')
            *s++ = 0;
        if (!*s)
            break;
        words[n++] = s;
        while (*s && *s != ' ')
            ++s;
    }
    return n;
}

int32_t fw_parse_count(const char *s)
{
    int32_t v = 0;
    if (!*s)
        return -1;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9' || v > (INT32_MAX - 9) / 10)
            return -1;
        v = 10 * v + (*s - '0');
    }
    return v;
}
