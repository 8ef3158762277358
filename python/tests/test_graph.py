# Tests of tinyq.Graph / GraphBuilder against numpy oracles.
#
# SPDX-License-Identifier: Apache-2.0
import os
import shutil
import subprocess

import numpy as np
import pytest

import tinyq as tq
from conftest import needs_host

# The graph is a host helper: a firmware build of the library has none.
pytestmark = needs_host

rng = np.random.default_rng(1234)


def conv_nhwc(x, w, b, stride, pad):
    """Naive float64 conv: x (N,H,W,C), w OHWI, pad (t, b, l, r)."""
    x = np.pad(x.astype(np.float64),
               ((0, 0), (pad[0], pad[1]), (pad[2], pad[3]), (0, 0)))
    o, kh, kw, _ = w.shape
    n, h, wd, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, i, j] = np.einsum("nhwc,ohwc->no", patch, w)
    return y + (0 if b is None else b)


def small_net():
    """conv 3x3 s1 pad 1 (8 ch) + ReLU -> residual add -> global avg pool
    -> fc 10, with its weights, as a builder graph and a numpy oracle."""
    w1 = rng.normal(0, 0.3, (8, 3, 3, 4)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.3, (8, 3, 3, 8)).astype(np.float32)
    wf = rng.normal(0, 0.3, (10, 8)).astype(np.float32)
    g = tq.GraphBuilder()
    x = g.input((1, 6, 6, 4), name="x")
    c1 = g.node("conv2d", [x, g.constant(w1), g.constant(b1)], name="c1",
                padding=(1, 1, 1, 1))
    r1 = g.node("activation", [c1], name="r1", act="relu")
    c2 = g.node("conv2d", [r1, g.constant(w2)], name="c2",
                padding=(1, 1, 1, 1))
    s = g.node("add", [c2, r1], name="sum", act="relu")
    p = g.node("global_avg_pool", [s], name="gap")
    f = g.node("fully_connected", [p, g.constant(wf)], name="fc")
    g.output(f)

    def features(xs):  # the FC's input
        a = np.maximum(conv_nhwc(xs, w1, b1, 1, (1, 1, 1, 1)), 0)
        s_ = np.maximum(conv_nhwc(a, w2, None, 1, (1, 1, 1, 1)) + a, 0)
        return s_.mean(axis=(1, 2))

    def oracle(xs):
        return features(xs) @ wf.T.astype(np.float64)

    oracle.features = features

    return g.finalize(), oracle


def test_float_run_matches_numpy_nhwc_and_nchw():
    graph, oracle = small_net()
    x = rng.normal(0, 1, (5, 6, 6, 4)).astype(np.float32)
    want = oracle(x)
    got = graph.run(x, layout="NHWC")
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    got_nchw = graph.run(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(got_nchw, got)


def test_introspection():
    graph, _ = small_net()
    assert not graph.quantized
    assert graph.input.shape == (1, 6, 6, 4)
    assert graph.output.shape == (1, 10)
    ops = [n.op for n in graph.nodes]
    assert tq.Op.CONV2D in ops and tq.Op.FULLY_CONNECTED in ops
    # ReLU fused into c1 by the default rewrites
    assert tq.Op.ACTIVATION not in ops
    assert graph.arena_size(8) >= graph.arena_size(1) > 0


def test_calibrate_and_int8_run():
    graph, oracle = small_net()
    calib = [rng.normal(0, 1, (20, 6, 6, 4)).astype(np.float32)
             for _ in range(3)]
    q = graph.calibrate(calib, layout="NHWC")
    assert q.quantized
    x = rng.normal(0, 1, (50, 6, 6, 4)).astype(np.float32)
    want = graph.run(x, layout="NHWC")
    codes, acc = q.run(x, layout="NHWC", accumulators=True)
    assert codes.dtype == np.int8 and codes.shape == (50, 10)
    assert acc.dtype == np.int32
    y = q.run(x, layout="NHWC", dequantize=True)
    scale = q.output.scale[0]
    span = want.max() - want.min()
    assert np.abs(y - want).max() < 0.1 * span + 4 * scale
    # the int8 input path and the float input path agree
    codes2 = q.run(_quantize_like(q, x), layout="NHWC")
    np.testing.assert_array_equal(codes, codes2)


def test_calibration_statistics():
    """Graph.calibrate(statistics=...) gives every activation's first-pass
    statistics (tq_calibrator_stats); the input's against numpy, the output
    against the float run."""
    graph, _ = small_net()
    calib = [rng.normal(0, 1, (20, 6, 6, 4)).astype(np.float32)
             for _ in range(3)]
    for method in ("minmax", "kl"):  # one pass, and two
        stats = {}
        graph.calibrate(calib, tq.QuantConfig(activation=method),
                        layout="NHWC", statistics=stats)
        x = np.concatenate(calib)
        s = stats[graph.input.id]
        assert s.count == x.size
        assert s.min == x.min() and s.max == x.max()
        assert abs(s.mean - x.astype(np.float64).mean()) < 1e-9
        y = graph.run(x, layout="NHWC")
        o = stats[graph.output.id]
        assert o.count == y.size and o.min == y.min() and o.max == y.max()
        assert all(not graph.tensor(t).is_constant for t in stats)


def _quantize_like(q, x):
    info = q.input
    s, z = float(info.scale[0]), int(info.zero_point[0])
    v = x.astype(np.float64) / s
    r = np.sign(v) * np.floor(np.abs(v) + 0.5) + z
    return np.clip(r, -128, 127).astype(np.int8)


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "kl"])
def test_calibration_methods(method):
    graph, _ = small_net()
    calib = [rng.normal(0, 1, (16, 6, 6, 4)).astype(np.float32)
             for _ in range(2)]
    # a one-shot generator must work too (kept for a second pass)
    q = graph.calibrate((c for c in calib), tq.QuantConfig(activation=method),
                        layout="NHWC")
    assert q.quantized


def test_errors_carry_the_graph_message():
    graph, _ = small_net()
    with pytest.raises(tq.ShapeError):
        graph.run(np.zeros((2, 5, 5, 4), np.float32), layout="NHWC")
    g = tq.GraphBuilder()
    x = g.input((1, 6, 6, 4), name="x")
    w = g.constant(np.zeros((8, 3, 3, 5), np.float32), name="w_bad")
    with pytest.raises(tq.TinyqError) as e:
        g.node("conv2d", [x, w], name="conv_bad")
    assert "conv_bad" in str(e.value)
    with pytest.raises(tq.TinyqError):
        tq.Graph.from_onnx(b"\x08\x07 definitely not onnx \xff\xff")
    with pytest.raises(tq.TinyqError):
        graph.run(np.zeros((1, 6, 6, 4), np.float32), layout="NHWC",
                  accumulators=True)


def test_save_load_and_export_c(tmp_path):
    graph, _ = small_net()
    calib = [rng.normal(0, 1, (20, 6, 6, 4)).astype(np.float32)]
    q = graph.calibrate(calib, layout="NHWC")
    path = tmp_path / "net.safetensors"
    q.save(path)
    l1 = tq.Graph.load(path)
    l2 = tq.Graph.load(path.read_bytes())
    assert l1.quantized and l2.quantized
    x = rng.normal(0, 1, (9, 6, 6, 4)).astype(np.float32)
    want = q.run(x, layout="NHWC", accumulators=True)
    for g in (l1, l2):
        got = g.run(x, layout="NHWC", accumulators=True)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    l1.save(tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()
    l1.export_c(tmp_path, prefix="net")
    header = (tmp_path / "net.h").read_text()
    assert "#define NET_ARENA_BYTES" in header
    assert "tq_status net_run(int8_t *output" in header
    assert "tq_s8_conv2d(" in (tmp_path / "net.c").read_text()
    with pytest.raises(tq.FormatError):
        tq.Graph.load(b"not a model file")
    with pytest.raises(tq.TinyqError):
        l1.export_c(tmp_path, prefix="not an identifier")
    with pytest.raises(tq.TinyqError):
        graph.save(tmp_path / "float.safetensors")


def test_mixed_precision_config():
    graph, oracle = small_net()
    x = rng.normal(0, 1, (40, 6, 6, 4)).astype(np.float32)
    # calibrated on the test inputs themselves: no tensor saturates (int16
    # scales are max|x| / 32767, no headroom), so the oracle below needs
    # no clipping model
    calib = [x[:20], x[20:]]
    names = {t.name: t for t in graph.tensors}
    c1 = [n for n in graph.nodes if n.name == "c1"][0]
    fc = [n for n in graph.nodes if n.name == "fc"][0]
    w_fc = graph.tensor(fc.inputs[1]).name
    # int16 activations by default, int4 weights for the FC by name
    cfg = tq.QuantConfig(activation_dtype="s16", dtypes={w_fc: tq.DType.S4})
    q = graph.calibrate(calib, cfg, layout="NHWC")
    assert q.tensor(c1.output).dtype == tq.DType.S16
    assert q.tensor(c1.output).zero_point[0] == 0
    assert q.tensor(fc.inputs[1]).dtype == tq.DType.S4
    assert q.input.dtype == tq.DType.S8 and q.output.dtype == tq.DType.S8
    # requantization nodes where the type changes
    assert any(n.name.endswith("/requantize") for n in q.nodes)
    want = oracle(x)
    span = want.max() - want.min()
    y = q.run(x, layout="NHWC", dequantize=True)
    # Each 4-bit FC weight is off by at most half its step, so output j
    # moves by at most sum_i |a_i| * s_w / 2; the 8-/16-bit roundings of
    # the input and the activations add a few percent of the span.
    s_w = np.max(np.asarray(q.tensor(fc.inputs[1]).scale, np.float64))
    w4_err = np.abs(oracle.features(x)).sum(axis=1, keepdims=True) * s_w / 2
    assert np.all(np.abs(y - want) <
                  w4_err + 0.05 * span + 4 * q.output.scale[0])
    codes, acc = q.run(x, layout="NHWC", accumulators=True)
    assert codes.dtype == np.int8 and acc.dtype == np.int32
    # one int16 tensor (per tensor, by id), int4 weights by default
    q2 = graph.calibrate(calib, tq.QuantConfig(weight_dtype="s4",
                                               dtypes={c1.output: "s16"}),
                         layout="NHWC")
    assert q2.tensor(c1.output).dtype == tq.DType.S16
    assert q2.tensor(fc.inputs[1]).dtype == tq.DType.S4
    # the int8 default is unchanged
    q3 = graph.calibrate(calib, layout="NHWC")
    assert all(t.dtype in (tq.DType.S8, tq.DType.S32) for t in q3.tensors
               if t.scale is not None)
    assert "x" in names


def _compile_export(tmp_path, prefix):
    """The exported C with a main() that runs it on int8 inputs from a file,
    built against the library the binding loaded; None without a compiler
    or library file."""
    cc = shutil.which("cc") or shutil.which("gcc")
    lib = os.environ.get("TINYQ_LIBRARY")
    if not cc or not lib or not os.path.isfile(lib):
        return None
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    P = prefix.upper()
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include <string.h>
#include "{prefix}.h"
int main(int argc, char **argv)
{{
    FILE *f = fopen(argv[1], "rb");
    static int8_t y[{P}_OUTPUTS];
    int n = 0;
    (void)argc;
    while (fread({prefix}_input(), 1, {P}_INPUT_BYTES, f) == {P}_INPUT_BYTES) {{
        if ({prefix}_run(y, NULL) != TQ_OK)
            return 1;
        fwrite(y, 1, sizeof y, stdout);
        ++n;
    }}
    return n == 0;
}}
""")
    exe = tmp_path / "run"
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-I", os.path.join(repo, "include"), "-I",
                        str(tmp_path), str(tmp_path / "main.c"),
                        str(tmp_path / f"{prefix}.c"), lib, "-Wl,-rpath," +
                        os.path.dirname(os.path.abspath(lib)), "-o", str(exe)],
                       capture_output=True, text=True)
    if r.returncode != 0 and "san" in r.stderr:
        return None  # a sanitizer build of the library: not linkable so
    assert r.returncode == 0, r.stderr
    return exe


def test_mixed_precision_export_c(tmp_path):
    graph, _ = small_net()
    calib = [rng.normal(0, 1, (16, 6, 6, 4)).astype(np.float32)]
    fc = [n for n in graph.nodes if n.name == "fc"][0]
    w_fc = graph.tensor(fc.inputs[1]).name
    c1 = [n for n in graph.nodes if n.name == "c1"][0]
    for name, cfg in [
            ("s16", tq.QuantConfig(activation_dtype="s16")),
            ("s4", tq.QuantConfig(weight_dtype="s4")),
            ("mix", tq.QuantConfig(dtypes={graph.tensor(c1.output).name:
                                           "s16", w_fc: "s4"}))]:
        q = graph.calibrate(calib, cfg, layout="NHWC")
        prefix = "m_" + name
        q.export_c(tmp_path, prefix=prefix)
        src = (tmp_path / f"{prefix}.c").read_text()
        assert ("tq_s16_" in src) == (name != "s4")
        assert ("tq_s4_" in src) == (name != "s16")
        exe = _compile_export(tmp_path, prefix)
        if exe is None:
            continue
        x = rng.integers(-128, 128, (12, 6, 6, 4), dtype=np.int8)
        (tmp_path / "x.bin").write_bytes(x.tobytes())
        out = subprocess.run([str(exe), str(tmp_path / "x.bin")],
                             check=True, capture_output=True).stdout
        got = np.frombuffer(out, np.int8).reshape(12, -1)
        want = q.run(x, layout="NHWC").reshape(12, -1)
        np.testing.assert_array_equal(got, want)


def test_mixed_precision_refusals(tmp_path):
    graph, _ = small_net()
    calib = [rng.normal(0, 1, (8, 6, 6, 4)).astype(np.float32)]
    out = graph.output.name
    with pytest.raises(tq.UnsupportedError) as e:
        graph.calibrate(calib, tq.QuantConfig(dtypes={out: "s16"}),
                        layout="NHWC")
    assert "output" in str(e.value)
    with pytest.raises(tq.ParamError):
        graph.calibrate(calib, tq.QuantConfig(dtypes={"x": "s4"}),
                        layout="NHWC")
    with pytest.raises(tq.ParamError):
        graph.calibrate(calib, tq.QuantConfig(activation_dtype="s4"),
                        layout="NHWC")
    with pytest.raises(tq.ParamError):
        graph.calibrate(calib, tq.QuantConfig(weight_dtype="bogus"),
                        layout="NHWC")
    q = graph.calibrate(calib, tq.QuantConfig(activation_dtype="s16",
                                              weight_dtype="s4"),
                        layout="NHWC")
    # model files hold mixed graphs: same outputs, same bytes again
    path = tmp_path / "mixed.safetensors"
    q.save(path)
    loaded = tq.Graph.load(path)
    x = rng.normal(0, 1, (7, 6, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(x, layout="NHWC"),
                                  q.run(x, layout="NHWC"))
    assert [t.dtype for t in loaded.tensors] == [t.dtype for t in q.tensors
                                                 if t.name in
                                                 {u.name for u in
                                                  loaded.tensors}]
    loaded.save(tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


def test_tf2onnx_nhwc_input_layout():
    """A tf2onnx model reads an NHWC input through Transpose [0, 3, 1, 2]:
    the graph input is that NHWC shape, so the caller passes its NHWC array
    with layout="NHWC"; layout="NCHW" still means the array is NCHW (it is
    transposed to the NHWC the graph holds). Model, input and numpy output
    from tests/onnx/gen_onnx_tests.py."""
    data = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "tests", "onnx", "data")
    name = os.path.join(data, "tf2onnx_cnn_matmul")
    try:
        g = tq.Graph.from_onnx(name + ".onnx")
    except tq.UnsupportedError as e:
        if "without protobuf-c" in str(e):
            pytest.skip("tinyq was built without protobuf-c")
        raise
    x = np.fromfile(name + ".in.bin", "<f4").reshape(2, 6, 6, 3)
    y_ref = np.fromfile(name + ".out.bin", "<f4").reshape(2, 5)
    assert tuple(g.input.shape) == (1, 6, 6, 3)
    tol = 1e-5 * max(1.0, float(np.ptp(y_ref)))
    assert np.abs(g.run(x, layout="NHWC") - y_ref).max() <= tol
    y_nchw = g.run(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    assert np.abs(y_nchw - y_ref).max() <= tol
    with pytest.raises(tq.ShapeError):
        g.run(x)  # NHWC data read as NCHW: (6, 3, 6) per sample
