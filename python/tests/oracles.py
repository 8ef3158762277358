# Independent numpy references for the binding's tests: written from the
# definitions in include/tinyq.h and docs (float64 or exact int64), never by
# calling tinyq.
#
# SPDX-License-Identifier: Apache-2.0
"""Reference implementations (numpy, float64 / int64)."""

import math

import numpy as np

I32_MIN, I32_MAX = -2**31, 2**31 - 1


# ---- rounding --------------------------------------------------------------------

def round_half_away(x):
    """Round half away from zero, exactly, for float64 arrays whose values
    are below 2^52 in magnitude (larger ones are integers already)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    f = np.floor(a)
    r = np.where(a - f >= 0.5, f + 1.0, f)
    return np.copysign(r, x)


# ---- convolution and pooling -------------------------------------------------

def conv_out(size, k, stride, dilation, before, after):
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def conv2d(x, w, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
           groups=1, acc_dtype=np.float64, offset=0):
    """NHWC x, OHWI w {Cout, KH, KW, Cin/groups}; padded taps contribute
    nothing; ``offset`` is added to every real input value first (the s8
    input offset). Exact in int64, or float64."""
    n, h, wd, cin = x.shape
    cout, kh, kw, cg = w.shape
    top, bottom, left, right = pads
    sh, sw = stride
    dh, dw = dilation
    oh = conv_out(h, kh, sh, dh, top, bottom)
    ow = conv_out(wd, kw, sw, dw, left, right)
    xp = np.zeros((n, h + top + bottom, wd + left + right, cin), acc_dtype)
    xp[:, top:top + h, left:left + wd, :] = x.astype(acc_dtype) + offset
    wg = w.astype(acc_dtype).reshape(groups, cout // groups, kh, kw, cg)
    out = np.zeros((n, oh, ow, groups, cout // groups), acc_dtype)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xp[:, y0:y0 + sh * (oh - 1) + 1:sh,
                       x0:x0 + sw * (ow - 1) + 1:sw, :]
            patch = patch.reshape(n, oh, ow, groups, cg)
            out += np.einsum("nhwgc,goc->nhwgo", patch, wg[:, :, ky, kx, :])
    return out.reshape(n, oh, ow, cout)


def depthwise(x, w, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
              acc_dtype=np.float64, offset=0):
    """Depthwise: w {1, KH, KW, Cin·M}, output channel oc = ic·M + m."""
    n, h, wd, cin = x.shape
    _, kh, kw, cout = w.shape
    mult = cout // cin
    top, bottom, left, right = pads
    sh, sw = stride
    dh, dw = dilation
    oh = conv_out(h, kh, sh, dh, top, bottom)
    ow = conv_out(wd, kw, sw, dw, left, right)
    xp = np.zeros((n, h + top + bottom, wd + left + right, cin), acc_dtype)
    xp[:, top:top + h, left:left + wd, :] = x.astype(acc_dtype) + offset
    xr = np.repeat(xp, mult, axis=3)  # channel ic·M + m reads input ic
    out = np.zeros((n, oh, ow, cout), acc_dtype)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xr[:, y0:y0 + sh * (oh - 1) + 1:sh,
                       x0:x0 + sw * (ow - 1) + 1:sw, :]
            out += patch * w[0, ky, kx, :].astype(acc_dtype)
    return out


def _windows(x, kernel, stride, pads, fill):
    """Every pooling window as an extra axis, padded taps set to fill."""
    n, h, w, c = x.shape
    kh, kw = kernel
    sh, sw = stride
    top, bottom, left, right = pads
    oh = conv_out(h, kh, sh, 1, top, bottom)
    ow = conv_out(w, kw, sw, 1, left, right)
    xp = np.full((n, h + top + bottom, w + left + right, c), fill,
                 dtype=np.float64)
    xp[:, top:top + h, left:left + w, :] = x
    mask = np.zeros(xp.shape[1:3], dtype=bool)
    mask[top:top + h, left:left + w] = True
    taps, real = [], []
    for ky in range(kh):
        for kx in range(kw):
            taps.append(xp[:, ky:ky + sh * (oh - 1) + 1:sh,
                           kx:kx + sw * (ow - 1) + 1:sw, :])
            real.append(mask[ky:ky + sh * (oh - 1) + 1:sh,
                             kx:kx + sw * (ow - 1) + 1:sw])
    return np.stack(taps), np.stack(real)[:, None, :, :, None]


def max_pool(x, kernel, stride, pads):
    taps, _ = _windows(x, kernel, stride, pads, -np.inf)
    return taps.max(axis=0)


def avg_pool_sum_count(x, kernel, stride, pads):
    taps, real = _windows(x, kernel, stride, pads, 0.0)
    return taps.sum(axis=0), real.sum(axis=0)


def avg_pool(x, kernel, stride, pads):
    s, c = avg_pool_sum_count(x, kernel, stride, pads)
    return s / c


def s8_avg_pool(x, kernel, stride, pads):
    """Sum over the real taps divided by their count, ties away from zero
    with C's truncating division."""
    s, c = avg_pool_sum_count(x.astype(np.float64), kernel, stride, pads)
    s = s.astype(np.int64)
    c = np.broadcast_to(c, s.shape).astype(np.int64)
    return np.where(s > 0, (s + c // 2) // c, -((-s + c // 2) // c))


def softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- fixed-point requantization (docs/int8-arithmetic.md) ----------------------

def _sat32(v):
    return np.clip(v, I32_MIN, I32_MAX)


def requantize(x, m, shift, rounding=0):
    """MultiplyByQuantizedMultiplier, elementwise, exact in int64.
    rounding 0: double rounding (SRDHM then RDBPOT), 1: single rounding."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if rounding == 1:
        total = 31 - shift
        prod = x * m
        return _sat32((prod + (np.int64(1) << (total - 1))) >> total)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    exact = x * (np.int64(1) << left)
    # Where TFLite's int32 x * 2^left overflows (undefined there), tinyq
    # rounds the exact x * 2^left * m / 2^31 half up and saturates:
    # floor((x*m + 2^(30 - left)) / 2^(31 - left)), right being 0 there.
    over = (exact < I32_MIN) | (exact > I32_MAX)
    e = 31 - left
    wide = _sat32((x * m + (np.int64(1) << np.maximum(e - 1, 0))) >> e)
    shifted = np.where(over, 0, exact)
    ab = shifted * m
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    t = ab + nudge
    high = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C division by 2^31
    mask = (np.int64(1) << right) - 1
    rem = high & mask
    threshold = (mask >> 1) + (high < 0)
    return np.where(over, wide, (high >> right) + (rem > threshold))


def output_stage(acc, mult, shift, zp_out, act_min, act_max, rounding=0):
    """The s8 output stage, channel = last axis."""
    v = requantize(acc, mult, shift, rounding) + zp_out
    return np.clip(v, act_min, act_max).astype(np.int8)


def quantize_multiplier(real):
    """TFLite's QuantizeMultiplier (None where tinyq refuses: shift > 30)."""
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)
    m = int(round_half_away(math.ldexp(q, 31)))
    if m == 2**31:
        m, e = 2**30, e + 1
    if e < -31:
        return 0, 0
    if e > 30:
        return None
    return m, e



# ---- the integer softmax (TFLite / gemmlowp fixed point) ------------------------
# Plain Python integers (unbounded), so nothing here can wrap: each step is
# the gemmlowp formula, with int32 saturation only where gemmlowp saturates.

def _srdhm(a, b):
    """SaturatingRoundingDoublingHighMul of two int32 values."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    t = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return t // 2**31 if t >= 0 else -((-t) // 2**31)  # C: toward zero


def _rdbpot(x, e):
    """RoundingDivideByPOT: round half away from zero."""
    mask = (1 << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def _sat_lshift(x, e):
    return max(I32_MIN, min(I32_MAX, x * (1 << e)))


def _exp_on_interval(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor around -1/8)."""
    c, third = 1895147668, 715827883  # exp(-1/8), 1/3 in Q0.31
    x = a + (1 << 28)
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    t = _rdbpot(_srdhm(_rdbpot(x4, 2) + x3, third) + x2, 1)
    return c + _srdhm(c, x + t)


def _exp_on_negative_values(a):
    """exp(a) for a <= 0 in Q5.26, result in Q0.31."""
    if a == 0:
        return I32_MAX
    quarter = 1 << 24
    m = (a & (quarter - 1)) - quarter
    res = _exp_on_interval(_sat_lshift(m, 5))
    rem = m - a
    # exp(-2^k) in Q0.31, k = -2 .. 4
    for k, mult in zip(range(-2, 5), (1672461947, 1302514674, 790015084,
                                      290630308, 39332535, 720401, 242)):
        if rem & (1 << (26 + k)):
            res = _srdhm(res, mult)
    return res


def _one_over_one_plus_x(a):
    """1 / (1 + a) for a in [0, 1) Q0.31, result Q1.30 (Newton-Raphson)."""
    half = (a + I32_MAX + 1) // 2  # RoundingHalfSum(a, 1): a + 2^31 - 1 > 0
    x = 1515870810 + _srdhm(half, -1010580540)  # 48/17 - 32/17 · half
    for _ in range(3):
        x = x + _sat_lshift(_srdhm(x, (1 << 29) - _srdhm(half, x)), 2)
    return _sat_lshift(x, 1)


def s8_softmax_params(input_scale, beta=1.0):
    """TFLite's PreprocessSoftmaxScaling for 5 integer bits: (multiplier,
    left shift, diff_min), from the float32 scale and beta."""
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) *
               2.0**26, float(I32_MAX))
    mult, shift = quantize_multiplier(real)
    diff_min = -((31 << 26) >> shift)  # -floor(31 · 2^26 / 2^shift)
    return mult, shift, diff_min


def s8_softmax(x, input_scale, beta=1.0, out_bits=8):
    """TFLite's int8 softmax over the last axis, output int8 (scale 1/256,
    zero point -128) or int16 (1/65536, -32768)."""
    mult, shift, diff_min = s8_softmax_params(input_scale, beta)
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    x = np.asarray(x)
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64).tolist()
    out = []
    for row in rows:
        top = max(row)
        exps = [None if v - top < diff_min else
                _exp_on_negative_values(_srdhm((v - top) << shift, mult))
                for v in row]
        total = sum(_rdbpot(e, 12) for e in exps if e is not None)  # Q12.19
        lz = 32 - total.bit_length()  # leading zeros of a positive int32
        recip = _one_over_one_plus_x((total << lz) - (1 << 31))
        sh = (12 - lz) + 31 - out_bits
        out.append([lo if e is None else
                    max(lo, min(hi, _rdbpot(_srdhm(recip, e), sh) + lo))
                    for e in exps])
    return np.array(out, np.int64).reshape(x.shape)

# ---- float quantization ---------------------------------------------------------

def quantize(x, scale, zp, qmin, qmax, rounding=0):
    """Per-element codes, with float32 arithmetic as the header defines:
    half away: round(x / scale) in float; half even: nearbyint(x · (1/scale))
    in float."""
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if rounding == 1:
            r = np.rint(x * (np.float32(1) / scale))
        else:
            r = round_half_away((x / scale).astype(np.float64))
    r = r.astype(np.float64)
    codes = np.clip(r + zp, qmin, qmax)
    return codes.astype(np.int64)


def dequantize(q, scale, zp):
    return (np.asarray(q, np.int64) - zp).astype(np.float32) * \
        np.asarray(scale, np.float32)


def qparams_from_range(lo, hi, qmin, qmax, symmetric, pow2=False):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if symmetric:
        s = max(-lo, hi) / qmax
    else:
        s = (hi - lo) / (qmax - qmin)
    if lo == hi:
        s = 1.0
    if pow2:
        f, e = math.frexp(s)
        s = s if f == 0.5 else math.ldexp(1.0, e)
    sf = np.float32(s)
    zp = 0
    if not symmetric:
        z = qmin - float(round_half_away(lo / float(sf)))
        zp = int(min(max(z, qmin), qmax))
    return float(sf), zp


def qrange(bits, narrow):
    return (-(2**(bits - 1)) + (1 if narrow else 0), 2**(bits - 1) - 1)


# ---- histograms ----------------------------------------------------------------------

def histogram(x, lo, hi, nbins):
    """Bin i is the largest with lo + i·w <= v (w = (hi - lo) / nbins, in
    double); values outside [lo, hi] are counted apart."""
    v = np.asarray(x, dtype=np.float64).ravel()
    w = (hi - lo) / nbins
    below = int(np.count_nonzero(v < lo))
    above = int(np.count_nonzero(v > hi))
    inside = v[(v >= lo) & (v <= hi)]
    left_edges = lo + np.arange(nbins, dtype=np.float64) * w
    idx = np.searchsorted(left_edges, inside, side="right") - 1
    idx = np.clip(idx, 0, nbins - 1)
    return np.bincount(idx, minlength=nbins).astype(np.uint64), below, above


def percentile(bins, below, above, lo, hi, percent):
    """The header's histogram percentile: the rank percent/100 · total
    located in the first non-empty bin that reaches it, interpolated."""
    total = int(bins.sum()) + below + above
    rank = percent / 100.0 * total
    if below > 0 and rank <= below:
        return lo
    n = len(bins)
    w = (hi - lo) / n
    cum = float(below)
    for i, c in enumerate(bins):
        c = float(c)
        if c == 0:
            continue
        if rank <= cum + c:
            frac = min(max((rank - cum) / c, 0.0), 1.0)
            left = lo + i * w
            right = hi if i + 1 == n else lo + (i + 1) * w
            return min(max(left + frac * (right - left), lo), hi)
        cum += c
    return hi
