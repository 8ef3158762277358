# Accuracy recovery through the binding: equalization keeps the float
# outputs, recover() makes 4-bit AdaRound codes that still run, the
# objective's gradient matches finite differences, the clamped normal
# matches a Monte-Carlo mean (oracles here, in numpy).
#
# SPDX-License-Identifier: Apache-2.0
import os

import numpy as np
import pytest

import tinyq
from conftest import REPO, needs_host

# Recovery lives beside the graph, a host helper: a firmware build of the
# library has none of it.
pytestmark = needs_host

LENET = os.path.join(REPO, "models", "lenet", "lenet_bias.onnx")


def _lenet():
    try:
        return tinyq.Graph.from_onnx(LENET)
    except tinyq.UnsupportedError as e:  # built without protobuf-c
        pytest.skip(str(e))


def test_equalize_keeps_outputs(rng):
    g = _lenet()
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    y0 = g.run(x)
    pairs = g.equalize(iterations=50)
    assert pairs >= 3
    y1 = g.run(x)
    assert np.max(np.abs(y1 - y0)) <= 1e-5 * np.max(np.abs(y0))
    with pytest.raises(tinyq.ParamError):
        g.equalize(relu6="maybe")
    # "aware" (no ReLU6 in LeNet): the same exact equalization.
    g2 = _lenet()
    assert g2.equalize(iterations=50, relu6="aware") == pairs
    assert np.max(np.abs(g2.run(x) - y0)) <= 1e-5 * np.max(np.abs(y0))


def test_recover_w4_adaround(rng):
    g = _lenet()
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    q = g.calibrate([x])
    seen = []
    q.recover(g, x, weight_bits=4, adaround=True, iterations=200,
              bias_correction="empirical",
              progress=lambda n, i, t, loss: seen.append((n, i)) and False)
    assert seen and seen[0][1] == 0
    layers = [n for n in q.nodes if n.op in (tinyq.Op.CONV2D,
                                            tinyq.Op.FULLY_CONNECTED,
                                            tinyq.Op.CONV2D_RELU_MAXPOOL2)]
    inner = layers[1:-1]
    assert inner
    for n in inner:
        w = q.tensor(n.inputs[1])
        assert w.scale is not None
    codes = q.run(x[:4])
    assert codes.dtype == np.int8
    with pytest.raises(tinyq.ParamError):
        q.recover(g, x, bias_correction="magic")
    with pytest.raises(tinyq.ParamError):
        q.recover(g, x, weight_bits=5)


def test_recover_asymmetric(rng):
    g = _lenet()
    x = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    q = g.calibrate([x])
    with pytest.raises(tinyq.ParamError):  # needs empirical correction
        q.recover(g, x, bias_quantized=True)
    q.recover(g, x, weight_bits=4, adaround=True, iterations=100,
              asymmetric=True, bias_correction="empirical",
              bias_quantized=True)
    layers = [n for n in q.nodes if n.op in (tinyq.Op.CONV2D,
                                            tinyq.Op.FULLY_CONNECTED,
                                            tinyq.Op.CONV2D_RELU_MAXPOOL2)]
    assert layers[1:-1]
    for n in layers[1:-1]:
        assert q.tensor(n.inputs[1]).scale is not None
    assert q.run(x[:2]).dtype == np.int8


def test_objective_target_direct(rng):
    # mean over patches of (s q . xq - w . xf)^2 against the closed form.
    k, n, s = 7, 30, 0.05
    xq = rng.standard_normal((n, k))
    xf = xq + 0.1 * rng.standard_normal((n, k))
    w = rng.uniform(-0.3, 0.3, k).astype(np.float32)
    v = rng.uniform(-2, 2, k)
    y = xf @ w.astype(np.float64)
    A = xq.T @ xq / n
    t = xq.T @ y / n
    c = float(np.mean(y * y))
    h = np.clip(1.2 / (1 + np.exp(-v)) - 0.1, 0, 1)
    q = np.clip(np.floor(w / np.float32(s)) + h, -7, 7)
    direct = float(np.mean((xq @ (s * q) - y) ** 2))
    loss, _ = tinyq.recovery.adaround_objective_target(
        w, s, A, t, c, v, qmin=-7, qmax=7, lam=0.0)
    assert abs(loss - direct) <= 1e-9 * max(1.0, direct)


def test_objective_gradient(rng):
    k = 9
    a = rng.standard_normal((40, k))
    gram = a.T @ a / 40
    w = rng.uniform(-0.3, 0.3, k).astype(np.float32)
    v = rng.uniform(-2, 2, k)
    loss, grad = tinyq.recovery.adaround_objective(w, 0.05, gram, v, lam=0.1,
                                                   beta=3.0)
    h = 1e-6
    for i in range(k):
        vp, vm = v.copy(), v.copy()
        vp[i] += h
        vm[i] -= h
        fd = (tinyq.recovery.adaround_objective(w, 0.05, gram, vp, lam=0.1,
                                                beta=3.0)[0] -
              tinyq.recovery.adaround_objective(w, 0.05, gram, vm, lam=0.1,
                                                beta=3.0)[0]) / (2 * h)
        assert abs(fd - grad[i]) <= 1e-5 * max(1e-3, abs(fd))


def test_adaround_matrix_not_worse(rng):
    x = rng.standard_normal((300, 16)) + 0.3
    gram = x.T @ x / 300
    w = (rng.standard_normal((6, 16)) * 0.2).astype(np.float32)
    s = (np.abs(w).max(axis=1) / 7).astype(np.float32)
    codes = tinyq.recovery.adaround_matrix(w, s, gram, qmin=-7, qmax=7,
                                           iterations=1500)
    rtn = np.clip(np.sign(w / s[:, None]) *
                  np.floor(np.abs(w / s[:, None]) + 0.5), -7, 7)

    def err(q):
        d = q * s[:, None] - w
        return np.sum((x @ d.T) ** 2) / 300
    assert err(codes) <= err(rtn) * (1 + 1e-9)


def test_expected_clamped_normal(rng):
    for mean, std, lo, hi in [(0.5, 1.0, 0.0, np.inf), (3.0, 2.0, 0.0, 6.0)]:
        z = np.clip(mean + std * rng.standard_normal(400000), lo, hi)
        e = tinyq.recovery.expected_clamped_normal(mean, std, lo, hi)
        assert abs(e - z.mean()) < 5 * z.std() / np.sqrt(z.size)


def test_w4a4_activation_scheme(rng, tmp_path):
    # 4-bit activations: QuantConfig's activation_scheme with bits=4 makes
    # every activation but the graph input int8 codes in [-8, 7]
    # (asymmetric: zero point in [-8, 7]); the integer run stays there,
    # also on inputs far beyond the calibration range.
    g = _lenet()
    x = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    cfg = tinyq.QuantConfig(activation_scheme=tinyq.QScheme(bits=4))
    q = g.calibrate([x], cfg)
    q.recover(g, x, weight_bits=4)
    acts = [t for t in q.tensors if not t.is_constant and t.scale is not None]
    inner = [t for t in acts if t.id != q.input.id]
    assert inner
    for t in inner:
        assert -8 <= int(t.zero_point[0]) <= 7, t.name
    y = q.run(3.0 * x)
    assert y.dtype == np.int8
    assert y.min() >= -8 and y.max() <= 7
    assert (y == -8).any() or (y == 7).any()  # the clamp was reached
    # The clamps are part of the saved model.
    path = os.path.join(str(tmp_path), "w4a4.tqm")
    q.save(path)
    assert np.array_equal(tinyq.Graph.load(path).run(3.0 * x), y)
    # The float network with 16-level activations agrees in ranking more
    # often than chance: the argmax of the W4A4 run matches the float one
    # on most of the calibration inputs.
    yf = g.run(x)
    yq = q.run(x, dequantize=True)
    assert np.mean(np.argmax(yf, 1) == np.argmax(yq, 1)) >= 0.5
    # Refused: 4-bit weight schemes (tq_calibrator_set_dtype / recover
    # make 4-bit weights) and a 4-bit graph input.
    with pytest.raises(tinyq.UnsupportedError):
        g.calibrate([x], tinyq.QuantConfig(
            weight_scheme=tinyq.QScheme(bits=4, symmetric=True,
                                        narrow_range=True)))
    with pytest.raises(tinyq.UnsupportedError):
        g.calibrate([x], cfg, overrides={
            g.input.id: (tinyq.RangeMethod.MINMAX, tinyq.QScheme(bits=4))})
    with pytest.raises(tinyq.ParamError):
        g.calibrate([x], tinyq.QuantConfig(
            activation_scheme=tinyq.QScheme(bits=9)))
