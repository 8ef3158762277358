# The f32 kernels against float64 numpy references over seeded random
# shapes: strides, padding forms, dilation, groups, channel multipliers,
# clamps, PyTorch layouts, strided GEMM rows.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles

ACTS = [None, "relu", tq.Activation.RELU6, "none", (-0.5, 0.75)]


def clamp(ref, act):
    if act is None:
        return ref
    lo, hi = act if isinstance(act, tuple) else tq.f32.act_from(act)
    return np.clip(ref, lo, hi)


def assert_close(out, ref, mag, what=""):
    """|out - ref| within 1e-5 of the sum of |products| (mag), the scale
    float32 rounding errors are measured against."""
    err = np.abs(out.astype(np.float64) - ref)
    bound = 1e-5 * mag + 1e-30
    assert (err <= bound).all(), f"{what}: worst {np.max(err / bound)}"


def rnd(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def test_act_from():
    assert tq.f32.act_from("none") == (-np.inf, np.inf)
    assert tq.f32.act_from(tq.Activation.RELU) == (0.0, np.inf)
    assert tq.f32.act_from(2) == (0.0, 6.0)
    with pytest.raises(tq.ParamError):
        tq.f32.act_from(3)


def test_gemm(rng):
    for i in range(30):
        m, n, k = (int(v) for v in rng.integers(0, 20, 3))
        a, b = rnd(rng, (m, k)), rnd(rng, (n, k))
        bias = rnd(rng, n) if i % 2 else None
        act = ACTS[i % len(ACTS)]
        ref = a.astype(np.float64) @ b.T.astype(np.float64)
        mag = np.abs(a).astype(np.float64) @ np.abs(b).T.astype(np.float64)
        if bias is not None:
            ref, mag = ref + bias, mag + np.abs(bias)
        out = tq.f32.gemm(a, b, bias, act)
        assert out.shape == (m, n)
        assert_close(out, clamp(ref, act), mag, f"gemm {m}x{n}x{k}")
        # strided rows in and out
        wa = np.zeros((m, k + 3), np.float32)
        wa[:, 1:1 + k] = a
        wc = np.full((m, n + 4), 9.0, np.float32)
        tq.f32.gemm(wa[:, 1:1 + k], b, bias, act, out=wc[:, 2:2 + n])
        np.testing.assert_array_equal(wc[:, 2:2 + n], out)
        assert (wc[:, :2] == 9).all() and (wc[:, 2 + n:] == 9).all()


def conv_case(rng, i):
    groups = [1, 1, 2, 3][i % 4]
    cin = groups * int(rng.integers(1, 4))
    cout = groups * int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    stride = tuple(int(v) for v in rng.integers(1, 3, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    h = int(rng.integers(dilation[0] * (kh - 1) + 1, 12))
    w = int(rng.integers(dilation[1] * (kw - 1) + 1, 12))
    n = int(rng.integers(1, 3))
    return n, h, w, cin, cout, kh, kw, stride, dilation, pads, groups


def test_conv2d(rng):
    for i in range(40):
        n, h, w, cin, cout, kh, kw, stride, dil, pads, groups = \
            conv_case(rng, i)
        x = rnd(rng, (n, h, w, cin))
        wt = rnd(rng, (cout, kh, kw, cin // groups))
        bias = rnd(rng, cout) if i % 3 else None
        act = ACTS[i % len(ACTS)]
        ref = oracles.conv2d(x, wt, stride, pads, dil, groups)
        mag = oracles.conv2d(np.abs(x), np.abs(wt), stride, pads, dil, groups)
        if bias is not None:
            ref, mag = ref + bias, mag + np.abs(bias)
        out = tq.f32.conv2d(x, wt, bias, stride=stride, padding=pads,
                            dilation=dil, groups=groups, act=act)
        assert_close(out, clamp(ref, act), mag, f"conv case {i}")
        # the same through PyTorch's layouts
        out_nchw = tq.f32.conv2d(x.transpose(0, 3, 1, 2).copy(),
                                 wt.transpose(0, 3, 1, 2).copy(), bias,
                                 stride=stride, padding=pads, dilation=dil,
                                 groups=groups, act=act, layout="NCHW")
        np.testing.assert_array_equal(out_nchw, out.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("padding", ["same", "valid", 1, (1, 2)])
def test_conv2d_padding_forms(rng, padding):
    x, wt = rnd(rng, (1, 9, 8, 2)), rnd(rng, (3, 3, 4, 2))
    stride = (2, 1)
    out = tq.f32.conv2d(x, wt, stride=stride, padding=padding)
    if padding == "same":
        # TensorFlow SAME: ceil(in / stride) outputs, odd pad at the end
        assert out.shape == (1, 5, 8, 3)
        pads = (1, 1, 1, 2)
    elif padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == 1:
        pads = (1, 1, 1, 1)
    else:
        pads = (1, 1, 2, 2)
    ref = oracles.conv2d(x, wt, stride, pads)
    mag = oracles.conv2d(np.abs(x), np.abs(wt), stride, pads)
    assert_close(out, ref, mag, str(padding))
    with pytest.raises(tq.ParamError):
        tq.f32.conv2d(x, wt, padding="full")
    with pytest.raises(tq.ParamError):
        tq.f32.conv2d(x, wt, padding=(1, 2, 3))


def test_depthwise(rng):
    for i in range(30):
        n, h, w, cin, _, kh, kw, stride, dil, pads, _ = conv_case(rng, i)
        mult = int(rng.integers(1, 4))
        x = rnd(rng, (n, h, w, cin))
        wt = rnd(rng, (1, kh, kw, cin * mult))
        bias = rnd(rng, cin * mult) if i % 2 else None
        act = ACTS[i % len(ACTS)]
        ref = oracles.depthwise(x, wt, stride, pads, dil)
        mag = oracles.depthwise(np.abs(x), np.abs(wt), stride, pads, dil)
        if bias is not None:
            ref, mag = ref + bias, mag + np.abs(bias)
        out = tq.f32.depthwise_conv2d(x, wt, bias, stride=stride,
                                      padding=pads, dilation=dil, act=act)
        assert_close(out, clamp(ref, act), mag, f"depthwise case {i}")
        torch_w = wt[0].transpose(2, 0, 1)[:, None].copy()  # {C·M, 1, KH, KW}
        out_nchw = tq.f32.depthwise_conv2d(
            x.transpose(0, 3, 1, 2).copy(), torch_w, bias, stride=stride,
            padding=pads, dilation=dil, act=act, layout="NCHW")
        np.testing.assert_array_equal(out_nchw, out.transpose(0, 3, 1, 2))
    with pytest.raises(tq.ShapeError):
        tq.f32.depthwise_conv2d(rnd(rng, (1, 4, 4, 2)), rnd(rng, (2, 3, 3, 2)))


def test_fully_connected(rng):
    for i in range(20):
        batch, nin, nout = (int(v) for v in rng.integers(1, 40, 3))
        x, wt = rnd(rng, (batch, nin)), rnd(rng, (nout, nin))
        bias = rnd(rng, nout) if i % 2 else None
        act = ACTS[i % len(ACTS)]
        ref = x.astype(np.float64) @ wt.T.astype(np.float64)
        mag = np.abs(x).astype(np.float64) @ np.abs(wt).T.astype(np.float64)
        if bias is not None:
            ref, mag = ref + bias, mag + np.abs(bias)
        out = tq.f32.fully_connected(x, wt, bias, act)
        assert_close(out, clamp(ref, act), mag, "fc")
        one = tq.f32.fully_connected(x[0].copy(), wt, bias, act)
        assert one.shape == (nout,)
        np.testing.assert_array_equal(one, out[0])


def pool_case(rng):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    stride = tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = (int(rng.integers(0, kh)), int(rng.integers(0, kh)),
            int(rng.integers(0, kw)), int(rng.integers(0, kw)))
    shape = (int(rng.integers(1, 3)), int(rng.integers(kh, 10)),
             int(rng.integers(kw, 10)), int(rng.integers(1, 5)))
    return (kh, kw), stride, pads, shape


def test_pools(rng):
    for i in range(30):
        kernel, stride, pads, shape = pool_case(rng)
        x = rnd(rng, shape)
        act = ACTS[i % len(ACTS)]
        mx = tq.f32.max_pool(x, kernel, stride, pads, act)
        np.testing.assert_array_equal(
            mx, clamp(oracles.max_pool(x, kernel, stride, pads), act)
            .astype(np.float32))
        av = tq.f32.avg_pool(x, kernel, stride, pads, act)
        mag = oracles.avg_pool(np.abs(x), kernel, stride, pads)
        assert_close(av, clamp(oracles.avg_pool(x, kernel, stride, pads),
                               act), mag, "avg pool")
        nchw = x.transpose(0, 3, 1, 2).copy()
        np.testing.assert_array_equal(
            tq.f32.max_pool(nchw, kernel, stride, pads, act, layout="NCHW"),
            mx.transpose(0, 3, 1, 2))
    # stride defaults to the kernel
    x = rnd(rng, (1, 6, 6, 2))
    np.testing.assert_array_equal(tq.f32.max_pool(x, 2),
                                  oracles.max_pool(x, (2, 2), (2, 2),
                                                   (0, 0, 0, 0)))


def test_add_and_softmax(rng):
    a, b = rnd(rng, (3, 7, 5)), rnd(rng, (3, 7, 5))
    for act in ACTS:
        ref = clamp(a.astype(np.float64) + b, act).astype(np.float32)
        np.testing.assert_array_equal(tq.f32.add(a, b, act), ref)
    c = a.copy()
    assert tq.f32.add(c, b, out=c) is c
    np.testing.assert_array_equal(c, a + b)
    x = rnd(rng, (6, 11), 5.0)
    np.testing.assert_allclose(tq.f32.softmax(x), oracles.softmax(x),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(tq.f32.softmax(x[2].copy()),
                               oracles.softmax(x[2]), rtol=1e-6, atol=1e-7)
    y = x.copy()
    tq.f32.softmax(y, out=y)
    np.testing.assert_allclose(y, oracles.softmax(x), rtol=1e-6, atol=1e-7)
    with pytest.raises(tq.NotFiniteError):
        tq.f32.softmax(np.array([[1, -np.inf]], np.float32))
    with pytest.raises(tq.ShapeError):
        tq.f32.add(a, b[:2].copy())
    buf = np.zeros(a.size + 1, np.float32)
    with pytest.raises(tq.AliasError):
        tq.f32.add(buf[:-1], b.ravel(), out=buf[1:])


def test_conv2d_relu_maxpool2(rng):
    for i in range(20):
        n, h, w, cin, cout, kh, kw, stride, dil, pads, _ = conv_case(rng, i)
        h, w = h + 2, w + 2
        x = rnd(rng, (n, h, w, cin))
        wt = rnd(rng, (cout, kh, kw, cin))
        bias = rnd(rng, cout) if i % 2 else None
        act = [None, "relu6", (-0.25, 0.5)][i % 3]
        fused = tq.f32.conv2d_relu_maxpool2(x, wt, bias, stride=stride,
                                            padding=pads, dilation=dil,
                                            act=act)
        conv = tq.f32.conv2d(x, wt, bias, stride=stride, padding=pads,
                             dilation=dil, act=act or "relu")
        oh, ow = conv.shape[1] // 2 * 2, conv.shape[2] // 2 * 2
        pooled = tq.f32.max_pool(np.ascontiguousarray(conv[:, :oh, :ow]), 2)
        np.testing.assert_array_equal(fused, pooled)  # bit-identical
        nchw = tq.f32.conv2d_relu_maxpool2(
            x.transpose(0, 3, 1, 2).copy(), wt.transpose(0, 3, 1, 2).copy(),
            bias, stride=stride, padding=pads, dilation=dil, act=act,
            layout="NCHW")
        np.testing.assert_array_equal(nchw, fused.transpose(0, 3, 1, 2))
    with pytest.raises(tq.ShapeError):  # a 1-pixel conv output pools to 0
        tq.f32.conv2d_relu_maxpool2(rnd(rng, (1, 3, 3, 1)),
                                    rnd(rng, (1, 3, 3, 1)))


def test_scratch_sizes():
    assert tq.f32.conv2d_scratch_size((1, 8, 8, 4), (5, 1, 1, 4)) == 0
    assert tq.f32.conv2d_scratch_size((1, 8, 8, 4), (5, 3, 3, 4)) >= \
        32 * 9 * 4 * 4
    assert tq.f32.conv2d_relu_maxpool2_scratch_size((1, 32, 32, 3),
                                                    (6, 5, 5, 3)) > 0
    with pytest.raises(tq.ShapeError):
        tq.f32.conv2d_scratch_size((1, 8, 8), (5, 3, 3, 4))
