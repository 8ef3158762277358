# tinyq against PyTorch (skipped without it): f32 conv2d, linear, max and
# average pooling on random tensors to 1e-5 relative, in PyTorch's NCHW /
# OIHW layouts; fake quantization bit-exact with
# torch.fake_quantize_per_tensor_affine / _per_channel_affine under
# tinyq's TQ_FROUND_HALF_EVEN rounding.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq


def close(torch, ours, theirs):
    """Within 1e-5 of the reference, relative to the tensor's magnitude."""
    t = theirs.detach().numpy().astype(np.float64)
    scale = max(np.abs(t).max(), 1e-30)
    np.testing.assert_allclose(ours, t, rtol=1e-5, atol=1e-5 * scale)


def test_conv2d_matches_torch(torch, rng):
    F = torch.nn.functional
    for i in range(25):
        groups = [1, 2, 3, 1, 1][i % 5]
        cin, cout = groups * int(rng.integers(1, 5)), groups * int(
            rng.integers(1, 5))
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pad = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        h = int(rng.integers(dil[0] * (k[0] - 1) + 1, 20))
        w = int(rng.integers(dil[1] * (k[1] - 1) + 1, 20))
        x = rng.standard_normal((2, cin, h, w)).astype(np.float32)
        wt = rng.standard_normal((cout, cin // groups) + k).astype(np.float32)
        bias = rng.standard_normal(cout).astype(np.float32)
        ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(wt),
                       torch.from_numpy(bias), stride, pad, dil, groups)
        ours = tq.f32.conv2d(x, wt, bias, stride=stride, padding=pad,
                             dilation=dil, groups=groups, layout="NCHW")
        close(torch, ours, ref)
        relu = tq.f32.conv2d(x, wt, bias, stride=stride, padding=pad,
                             dilation=dil, groups=groups, act="relu",
                             layout="NCHW")
        close(torch, relu, F.relu(ref))


def test_depthwise_matches_torch(torch, rng):
    F = torch.nn.functional
    for _ in range(10):
        c, m = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        x = rng.standard_normal((1, c, 11, 9)).astype(np.float32)
        wt = rng.standard_normal((c * m, 1, 3, 3)).astype(np.float32)
        ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(wt), None, 2, 1,
                       1, c)
        ours = tq.f32.depthwise_conv2d(x, wt, stride=2, padding=1,
                                       layout="NCHW")
        close(torch, ours, ref)


def test_linear_matches_torch(torch, rng):
    F = torch.nn.functional
    for _ in range(15):
        batch, nin, nout = (int(v) for v in rng.integers(1, 300, 3))
        x = rng.standard_normal((batch, nin)).astype(np.float32)
        wt = rng.standard_normal((nout, nin)).astype(np.float32)
        bias = rng.standard_normal(nout).astype(np.float32)
        ref = F.linear(torch.from_numpy(x), torch.from_numpy(wt),
                       torch.from_numpy(bias))
        close(torch, tq.f32.fully_connected(x, wt, bias), ref)
        close(torch, tq.f32.gemm(x, wt, bias), ref)


def test_pooling_matches_torch(torch, rng):
    F = torch.nn.functional
    for _ in range(25):
        k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        p = (int(rng.integers(0, k[0] // 2 + 1)),
             int(rng.integers(0, k[1] // 2 + 1)))
        x = rng.standard_normal((2, 3, int(rng.integers(k[0], 17)),
                                 int(rng.integers(k[1], 17)))).astype(
            np.float32)
        tx = torch.from_numpy(x)
        mx = tq.f32.max_pool(x, k, s, p, layout="NCHW")
        np.testing.assert_array_equal(mx, F.max_pool2d(tx, k, s, p).numpy())
        # tinyq averages over the real taps: count_include_pad=False
        av = tq.f32.avg_pool(x, k, s, p, layout="NCHW")
        close(torch, av, F.avg_pool2d(tx, k, s, p, count_include_pad=False))


def test_fused_conv_relu_pool_matches_torch(torch, rng):
    F = torch.nn.functional
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    wt = rng.standard_normal((6, 3, 5, 5)).astype(np.float32)
    ref = F.max_pool2d(F.relu(F.conv2d(torch.from_numpy(x),
                                       torch.from_numpy(wt))), 2, 2)
    close(torch, tq.f32.conv2d_relu_maxpool2(x, wt, layout="NCHW"), ref)


def fq_inputs(rng, shape, scale_hint):
    """Random values plus exact ties of x / scale and far out-of-range
    values, where rounding and clamping differ between conventions."""
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    flat = x.reshape(-1)
    n = min(flat.size // 3, 40)
    flat[:n] = (rng.integers(-140, 140, n) + 0.5) * scale_hint
    flat[n:n + 4] = [100.0, -100.0, 1e-8, -0.0]
    return x


@pytest.mark.parametrize("qmin,qmax", [(-128, 127), (0, 255 - 128),
                                       (-127, 127), (-8, 7)])
def test_fake_quant_per_tensor_is_exact(torch, rng, qmin, qmax):
    for _ in range(20):
        scale = float(np.float32(rng.uniform(0.001, 0.1)))
        zp = int(rng.integers(qmin, qmax + 1))
        x = fq_inputs(rng, (4, 5, 6), scale)
        ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x),
                                                    scale, zp, qmin, qmax)
        ours = tq.fake_quant(x, tq.QParams(scale, zp, qmin=qmin, qmax=qmax,
                                           rounding="half_even"))
        np.testing.assert_array_equal(ours, ref.numpy())


@pytest.mark.parametrize("axis", [0, 1, 3])
def test_fake_quant_per_channel_is_exact(torch, rng, axis):
    for _ in range(10):
        shape = (3, 4, 5, 6)
        n = shape[axis]
        scale = rng.uniform(0.001, 0.1, n).astype(np.float32)
        zp = rng.integers(-128, 128, n).astype(np.int32)
        x = fq_inputs(rng, shape, float(scale.min()))
        ref = torch.fake_quantize_per_channel_affine(
            torch.from_numpy(x), torch.from_numpy(scale),
            torch.from_numpy(zp), axis, -128, 127)
        ours = tq.fake_quant(x, tq.QParams(scale, zp, axis=axis,
                                           rounding=tq.FloatRounding.HALF_EVEN))
        np.testing.assert_array_equal(ours, ref.numpy())


def test_half_away_differs_from_torch_on_ties(torch):
    """The default (TFLite) rounding is not PyTorch's: a tie shows it."""
    x = np.array([0.25, 0.75, -0.25], np.float32)  # exact ties at scale 0.5
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), 0.5, 0,
                                                -128, 127).numpy()
    even = tq.fake_quant(x, tq.QParams(0.5, rounding="half_even"))
    away = tq.fake_quant(x, tq.QParams(0.5))
    np.testing.assert_array_equal(even, ref)
    assert list(away) == [0.5, 1.0, -0.5] and list(ref) == [0.0, 1.0, -0.0]
