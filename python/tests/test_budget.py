# Mixed precision under a budget through the binding: sensitivity records,
# the search respecting the budget (bytes recounted here from the quantized
# graph's tensors), the refusal of an impossible budget, bad input, and a
# numpy oracle of the error measure.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
from conftest import needs_host

pytestmark = needs_host


def _net(seed=3):
    r = np.random.default_rng(seed)
    g = tq.GraphBuilder()
    x = g.input((1, 8, 8, 3), name="x")
    c1 = g.node("conv2d", [x, g.constant(r.normal(0, .4, (6, 3, 3, 3))
                                         .astype(np.float32)),
                           g.constant(r.normal(0, .1, 6).astype(np.float32))],
                name="c1", padding=(1, 1, 1, 1), act="relu")
    c2 = g.node("conv2d", [c1, g.constant(r.normal(0, .4, (8, 3, 3, 6))
                                          .astype(np.float32)),
                           g.constant(r.normal(0, .1, 8).astype(np.float32))],
                name="c2", padding=(1, 1, 1, 1), act="relu")
    p = g.node("global_avg_pool", [c2], name="gap")
    f = g.node("fully_connected", [p, g.constant(
        r.normal(0, .6, (4, 8)).astype(np.float32)), g.constant(
        r.normal(0, .1, 4).astype(np.float32))], name="fc")
    g.output(f)
    images = r.normal(0, 1, (40, 8, 8, 3)).astype(np.float32)
    return g.finalize(), images


def _bytes(q, layers):
    total = 0
    nodes = q.nodes
    for rec in layers:
        w = q.tensor(rec.weight_tensor)
        n = int(np.prod(w.shape))
        total += (n + 1) // 2 if w.dtype == tq.DType.S4 else n
        for node in nodes:
            if len(node.inputs) > 2 and node.inputs[1] == rec.weight_tensor:
                b = q.tensor(node.inputs[2])
                total += (8 if b.dtype == tq.DType.S64 else 4) * b.shape[0]
    return total


def test_sensitivity_and_search():
    g, x = _net()
    layers = tq.budget.sensitivity(g, x, layout="NHWC")
    assert len(layers) == 3
    assert [r.can_s16 for r in layers] == [1, 1, 0]
    for r in layers:
        assert r.error_s4 >= 0 and 0 <= r.agreement_s4 <= 1
        assert r.bytes_s4 < r.bytes_s8 < r.bytes_s16
    # the all-int8 error, recomputed in numpy from the int8 graph
    q8 = g.calibrate([x], layout="NHWC")
    y = q8.run(x, layout="NHWC", dequantize=True).astype(np.float64)
    ref = g.run(x, layout="NHWC").astype(np.float64)
    err = np.sum((y - ref) ** 2) / np.sum(ref ** 2)
    assert layers[0].error_s8 == pytest.approx(err, rel=1e-6)
    b8 = sum(r.bytes_s8 for r in layers)
    for frac in (1.0, 0.8, 0.6):
        q, res, chosen = tq.budget.quantize_budget(g, x, layers,
                                                   int(b8 * frac),
                                                   layout="NHWC")
        assert res.weight_bytes <= int(b8 * frac)
        assert _bytes(q, chosen) == res.weight_bytes
        assert res.weight_bytes_s8 == b8
        assert res.error >= 0 and res.measured >= 1
        assert all(c.weight_dtype in (tq.DType.S8, tq.DType.S4)
                   for c in chosen)
        assert q.run(x[:3], layout="NHWC").dtype == np.int8


def test_impossible_and_bad_input():
    g, x = _net()
    layers = tq.budget.sensitivity(g, x, layout="NHWC")
    bmin = sum(r.bytes_s4 for r in layers)
    with pytest.raises(tq.UnsupportedError, match="smallest reachable"):
        tq.budget.quantize_budget(g, x, layers, bmin - 1, layout="NHWC")
    with pytest.raises(tq.ParamError):
        tq.budget.quantize_budget(g, x, layers, 0, layout="NHWC")
    with pytest.raises(tq.ParamError):
        tq.budget.quantize_budget(g, x, layers[:2], 10**6, layout="NHWC")
    with pytest.raises(tq.ParamError):
        tq.budget.quantize_budget(g, x, [], 10**6, layout="NHWC")
    with pytest.raises(tq.ParamError):
        tq.budget.sensitivity(g, x, tq.QuantConfig(weight_dtype="s4"),
                              layout="NHWC")
    with pytest.raises(tq.ParamError):
        tq.budget.sensitivity(g.calibrate([x], layout="NHWC"), x,
                              layout="NHWC")
    with pytest.raises(tq.ShapeError):
        tq.budget.sensitivity(g, x[:, :4], layout="NHWC")
    bad = x.copy()
    bad[1, 2, 3, 0] = np.inf
    with pytest.raises(tq.NotFiniteError):
        tq.budget.sensitivity(g, bad, layout="NHWC")
