/*
 * Random convolution cases and the exact sum oracle shared by the integer
 * convolution tests (test_s16.c, test_s4.c): the geometry from the output
 * size formula, the sum from the definition in int64 over NHWC input, OHWI
 * (or depthwise [1][KH][KW][Cout]) int8 weights, padded taps skipped. Never
 * calls the library.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_TEST_ORACLE_CONV_H
#define TQ_TEST_ORACLE_CONV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "tinyq.h"

typedef struct conv_case {
    tq_conv_params p;
    tq_dims in, f, out;
} conv_case;

/* Output extent along one axis; 0 when the window does not fit. */
static inline int conv_extent(int in, int k, int s, int d, int p0, int p1)
{
    const int span = d * (k - 1) + 1;
    return in + p0 + p1 < span ? 0 : (in + p0 + p1 - span) / s + 1;
}

static inline size_t dims_n(const tq_dims *d)
{
    return (size_t)d->n * d->h * d->w * d->c;
}

/* The largest value of each draw of random_conv() (the smallest are 1, or
 * 0 for the pads). */
typedef struct conv_limits {
    int dw_cin;       /* input channels of a depthwise case */
    int size;         /* input height and width */
    int k;            /* filter height and width */
    int stride_h;
    int pad_top, pad_bottom, pad_left, pad_right;
} conv_limits;

/* A random case within @p lim: grouped (2 or 3 groups, one case in four)
 * or depthwise with a channel multiplier up to 7; stride up to
 * lim->stride_h / 3, dilation up to 2. Returns 0 when the window does not
 * fit (the caller draws again). */
static inline int random_conv(tt_rng *r, conv_case *c, int depthwise,
                              const conv_limits *lim)
{
    memset(c, 0, sizeof *c);
    const int groups = depthwise ? 1 : (tt_int(r, 0, 3) == 0 ? tt_int(r, 2, 3) : 1);
    const int cin_g = tt_int(r, 1, depthwise ? lim->dw_cin : 9);
    const int cout_g = tt_int(r, 1, 7);
    c->in.n = tt_int(r, 1, 2);
    c->in.h = tt_int(r, 1, lim->size);
    c->in.w = tt_int(r, 1, lim->size);
    c->in.c = cin_g * groups;
    c->f.h = tt_int(r, 1, lim->k);
    c->f.w = tt_int(r, 1, lim->k);
    c->p.stride_h = tt_int(r, 1, lim->stride_h);
    c->p.stride_w = tt_int(r, 1, 3);
    c->p.dilation_h = tt_int(r, 1, 2);
    c->p.dilation_w = tt_int(r, 1, 2);
    c->p.pad_top = tt_int(r, 0, lim->pad_top);
    c->p.pad_bottom = tt_int(r, 0, lim->pad_bottom);
    c->p.pad_left = tt_int(r, 0, lim->pad_left);
    c->p.pad_right = tt_int(r, 0, lim->pad_right);
    c->p.groups = groups;
    c->f.n = depthwise ? 1 : cout_g * groups;
    c->f.c = depthwise ? cin_g * cout_g : cin_g;
    c->out.n = c->in.n;
    c->out.h = conv_extent(c->in.h, c->f.h, c->p.stride_h, c->p.dilation_h,
                           c->p.pad_top, c->p.pad_bottom);
    c->out.w = conv_extent(c->in.w, c->f.w, c->p.stride_w, c->p.dilation_w,
                           c->p.pad_left, c->p.pad_right);
    c->out.c = depthwise ? c->f.c : c->f.n;
    return c->out.h > 0 && c->out.w > 0;
}

/* Σ w · (x + io) over the taps of output (n, oy, ox, oc), exactly; x holds
 * int8 values (x_s16 0) or int16 ones (x_s16 1). Depthwise: output channel
 * oc reads input channel oc / (Cout / Cin). */
static inline int64_t o_conv_sum(const conv_case *c, const void *x, int x_s16,
                                 int io, const int8_t *w, int depthwise, int n,
                                 int oy, int ox, int oc)
{
    const int8_t *x8 = x;
    const int16_t *x16 = x;
    int64_t sum = 0;
    for (int ky = 0; ky < c->f.h; ++ky)
        for (int kx = 0; kx < c->f.w; ++kx) {
            const int iy = oy * c->p.stride_h + ky * c->p.dilation_h - c->p.pad_top;
            const int ix = ox * c->p.stride_w + kx * c->p.dilation_w - c->p.pad_left;
            if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                continue;
            const size_t px = (((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c;
            if (depthwise) {
                const size_t ic = px + (size_t)(oc / (c->out.c / c->in.c));
                const int64_t xv = x_s16 ? x16[ic] : x8[ic];
                sum += (int64_t)w[((size_t)ky * c->f.w + kx) * c->out.c + oc] * (xv + io);
            } else {
                const int g = oc / (c->f.n / c->p.groups);
                for (int ci = 0; ci < c->f.c; ++ci) {
                    const size_t i = px + (size_t)g * c->f.c + ci;
                    const int64_t xv = x_s16 ? x16[i] : x8[i];
                    sum += (int64_t)w[(((size_t)oc * c->f.h + ky) * c->f.w + kx) * c->f.c + ci] *
                           (xv + io);
                }
            }
        }
    return sum;
}

#endif /* TQ_TEST_ORACLE_CONV_H */
