# Padding given by name or in another framework's order (ONNX, F.pad,
# TensorFlow SAME, CMSIS-NN's one pad per axis plus an output size), and
# the geometry check that names the wrong field (issue 16, items 1-2).
#
# SPDX-License-Identifier: Apache-2.0
import glob
import inspect
import os
import re

import numpy as np
import pytest

import tinyq as tq
from conftest import REPO, needs_host
import oracles

G = tq.GeometryField


def test_padding_forms():
    p = tq.Padding(top=1, bottom=2, left=3, right=4)
    assert tuple(p) == (1, 2, 3, 4)
    assert tq.Padding.from_onnx([1, 3, 2, 4]) == p
    assert tq.Padding.from_torch_pad((3, 4, 1, 2)) == p
    assert tq.Padding.from_torch_pad((3, 4)) == tq.Padding(left=3, right=4)
    assert p.to_onnx() == [1, 3, 2, 4]
    assert p.to_torch_pad() == (3, 4, 1, 2)
    assert tq.Padding.from_onnx(p.to_onnx()) == p
    # SAME: 6 rows, k 2 -> total 1, after; 7 cols, k 3, stride 2 -> 4 out,
    # total (4-1)*2 + 3 - 7 = 2.
    assert tq.Padding.same((6, 7), (2, 3), (1, 2)) == tq.Padding(0, 1, 1, 1)
    assert tq.conv_same_padding(6, 2) == (0, 1)
    assert tq.conv_same_padding(7, 3, 2) == (1, 1)
    # CMSIS-NN: pad per axis (h, w) and the output size.
    assert tq.Padding.cmsis((0, 1), (6, 7), (2, 3), (6, 7)) == \
        tq.Padding(0, 1, 1, 1)
    assert tq.conv_pad_after(8, 3, 0, 4, stride=2) == 1
    with pytest.raises(tq.ShapeError, match="even 0 gives more"):
        tq.conv_pad_after(7, 3, 1, 5)
    for bad in ([1, 2, 3], (1, 2, 3, 4, 5)):
        with pytest.raises(tq.ParamError):
            tq.Padding.from_onnx(bad)
        with pytest.raises(tq.ParamError):
            tq.Padding.from_torch_pad(bad)
    with pytest.raises(tq.ParamError):
        tq.Padding(top=2**31)


def test_padding_forms_accepted_by_every_kernel(rng):
    x = rng.standard_normal((1, 7, 8, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    named = tq.Padding(top=0, bottom=2, left=1, right=0)
    ref = tq.f32.conv2d(x, w, padding=(0, 2, 1, 0))
    np.testing.assert_array_equal(tq.f32.conv2d(x, w, padding=named), ref)
    np.testing.assert_array_equal(
        tq.f32.conv2d(x, w, padding=dict(top=0, bottom=2, left=1)), ref)
    with pytest.raises(tq.ParamError, match="unknown sides"):
        tq.f32.conv2d(x, w, padding=dict(up=1))
    np.testing.assert_array_equal(
        tq.f32.max_pool(x, 3, 1, padding=tq.Padding(1, 2, 0, 1)),
        oracles.max_pool(x, (3, 3), (1, 1), (1, 2, 0, 1)).astype(np.float32))
    xq = rng.integers(-128, 128, (1, 7, 8, 3)).astype(np.int8)
    wq = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    os_ = tq.OutputStage(2**30, -6)
    np.testing.assert_array_equal(
        tq.s8.conv2d(xq, wq, os_, padding=named),
        tq.s8.conv2d(xq, wq, os_, padding=(0, 2, 1, 0)))
    dwq = rng.integers(-127, 128, (1, 3, 3, 3)).astype(np.int8)
    np.testing.assert_array_equal(
        tq.s8.depthwise_conv2d(xq, dwq, os_, padding=named),
        tq.s8.depthwise_conv2d(xq, dwq, os_, padding=(0, 2, 1, 0)))


def _takes_padding():
    """Every public function of the binding with a ``padding=`` argument
    (found, not listed, so that a kernel added later is covered too)."""
    found = []
    for mod in (tq, tq.f32, tq.s8, tq.s16, tq.s4):
        for name in dir(mod):
            f = getattr(mod, name)
            if name.startswith("_") or not inspect.isfunction(f):
                continue
            if "padding" in inspect.signature(f).parameters:
                found.append(f)
    return found


def test_padding_order_stated_wherever_padding_is_accepted():
    # Issue 16, item 1: say the order everywhere it is accepted. Not
    # s8.transpose_conv, whose padding is the (top, left) pair of the
    # forward conv (its docstring says so).
    funcs = [f for f in _takes_padding() if f is not tq.s8.transpose_conv]
    names = {f.__module__ + "." + f.__name__ for f in funcs}
    assert {"tinyq.kernels_s16.conv2d", "tinyq.kernels_s4.conv2d",
            "tinyq.kernels_s16.max_pool", "tinyq.kernels_f32.conv2d",
            "tinyq._geometry.check_conv_geometry"} <= names
    for f in funcs:
        doc = f.__doc__ or ""
        assert "(top, bottom, left, right)" in doc, f.__qualname__
        assert "Padding.from_onnx" in doc, f.__qualname__
    assert "(top, left)" in tq.s8.transpose_conv.__doc__
    doc = tq.GraphBuilder.attrs.__doc__
    assert "(top, bottom, left, right)" in doc and "Padding" in doc


def test_padding_forms_in_s16_s4_kernels(rng):
    x16 = rng.integers(-3000, 3000, (1, 7, 8, 3)).astype(np.int16)
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    st = tq.s16.output_stage(2**30, -8)
    named = tq.Padding.from_onnx([0, 1, 2, 0])   # top 0, left 1, bottom 2
    np.testing.assert_array_equal(
        tq.s16.conv2d(x16, w, st, padding=named),
        tq.s16.conv2d(x16, w, st, padding=(0, 2, 1, 0)))
    np.testing.assert_array_equal(
        tq.s16.max_pool(x16, 3, 1, padding=dict(top=1, bottom=2, right=1)),
        tq.s16.max_pool(x16, 3, 1, padding=(1, 2, 0, 1)))
    x8 = rng.integers(-128, 128, (1, 7, 8, 3)).astype(np.int8)
    w4 = rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8)
    packed = tq.s4.pack(w4)
    os_ = tq.OutputStage(2**30, -6)
    np.testing.assert_array_equal(
        tq.s4.conv2d(x8, packed, w4.shape, os_, padding=named),
        tq.s8.conv2d(x8, w4, os_, padding=(0, 2, 1, 0)))


@needs_host  # the graph builder is a host helper
def test_graph_attrs_padding_forms():
    want = (2, 3, 1, 0)        # top, bottom, left, right
    for padding in (want, tq.Padding(*want),
                    tq.Padding.from_onnx([2, 1, 3, 0]),
                    dict(top=2, bottom=3, left=1)):
        a = tq.GraphBuilder.attrs(padding=padding)
        assert (a.conv.pad_top, a.conv.pad_bottom, a.conv.pad_left,
                a.conv.pad_right) == want
        assert (a.pool.pad_top, a.pool.pad_bottom, a.pool.pad_left,
                a.pool.pad_right) == want
    a = tq.GraphBuilder.attrs(padding=1)
    assert (a.conv.pad_top, a.conv.pad_right) == (1, 1)
    with pytest.raises(tq.ParamError):
        tq.GraphBuilder.attrs(padding=(1, 2, 3))


def test_onnx_pads_used_directly(rng):
    # ONNX pads [top, left, bottom, right] = [0, 1, 2, 3]: through
    # Padding.from_onnx the result is the convolution of the padded input;
    # the same list read as tinyq's tuple is another convolution.
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    w = rng.standard_normal((5, 3, 2, 3)).astype(np.float32)
    onnx_pads = [0, 1, 2, 3]
    top, left, bottom, right = onnx_pads
    want = oracles.conv2d(x, w, pads=(top, bottom, left, right))
    got = tq.f32.conv2d(x, w, padding=tq.Padding.from_onnx(onnx_pads))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    wrong = tq.f32.conv2d(x, w, padding=tuple(onnx_pads))
    assert wrong.shape != want.shape or not np.allclose(wrong, want)
    # int8: bit-exact against the int64 oracle.
    xq = rng.integers(-128, 128, x.shape).astype(np.int8)
    wq = rng.integers(-127, 128, w.shape).astype(np.int8)
    os_ = tq.OutputStage(2**30, -8, output_zero_point=3)
    acc = oracles.conv2d(xq, wq, pads=(top, bottom, left, right),
                         acc_dtype=np.int64, offset=5)
    got = tq.s8.conv2d(xq, wq, os_, input_zero_point=-5,
                       padding=tq.Padding.from_onnx(onnx_pads))
    np.testing.assert_array_equal(
        got, oracles.output_stage(acc, np.array([2**30]), np.array([-8]), 3,
                                  -128, 127))


def test_onnx_and_torch_pads_match_torch(torch, rng):
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)    # NCHW
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)    # OIHW
    torch_pad = (1, 0, 2, 1)        # F.pad: (left, right, top, bottom)
    want = F.conv2d(F.pad(torch.from_numpy(x), torch_pad),
                    torch.from_numpy(w)).numpy()
    p = tq.Padding.from_torch_pad(torch_pad)
    got = tq.f32.conv2d(x, w, padding=p, layout="NCHW")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The same pads written the ONNX way.
    onnx = [2, 1, 1, 0]
    got = tq.f32.conv2d(x, w, padding=tq.Padding.from_onnx(onnx),
                        layout="NCHW")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    pool_pad = (1, 0, 0, 1)   # pads below the 2x2 window
    want_pool = F.max_pool2d(F.pad(torch.from_numpy(x), pool_pad,
                                   value=-np.inf), 2, 1).numpy()
    np.testing.assert_array_equal(
        tq.f32.max_pool(x, 2, 1, padding=tq.Padding.from_torch_pad(pool_pad),
                        layout="NCHW"), want_pool)


def test_check_conv_geometry_names_the_field():
    # CMSIS-NN copy: 6 rows, k 2, SAME top pad 0 copied to the bottom.
    r = tq.check_conv_geometry((1, 6, 7, 4), (6, 2, 3, 4), (1, 6, 5, 6))
    assert r.status == tq.Status.ERR_SHAPE
    assert r.field == G.OUT_H and r.value == 6 and r.expected == 5
    assert r.pad_after == 1
    fixed = tq.check_conv_geometry((1, 6, 7, 4), (6, 2, 3, 4), (1, 6, 5, 6),
                                   padding=tq.Padding(bottom=1))
    assert fixed == (tq.Status.OK, G.OK, 0, -1, -1)
    r = tq.check_conv_geometry((1, 6, 7, 4), (6, 2, 3, 4), (1, 6, 5, 6),
                               stride=(1, 0))
    assert (r.status, r.field, r.value) == (tq.Status.ERR_PARAM, G.STRIDE_W,
                                            0)
    r = tq.check_conv_geometry((1, 6, 7, 4), (1, 2, 3, 8), (1, 5, 5, 8),
                               depthwise=True)
    assert r.status == tq.Status.OK
    r = tq.check_pool_geometry((1, 9, 8, 3), (1, 5, 4, 3), (3, 2), 2,
                               padding=tq.Padding(1, 3, 0, 0))
    assert (r.status, r.field, r.value) == (tq.Status.ERR_PARAM,
                                            G.PAD_BOTTOM, 3)


# A positional initialiser of these structs, e.g. (tq_dims){1, h, w, c} or
# tq_conv_params cp = {1, 1, ...}: what a copy from CMSIS-NN code ({w, h}
# tiles) would silently get wrong.
_POSITIONAL = re.compile(
    r"(\((tq_conv_params|tq_pool_params|tq_dims)\)"
    r"|\b(tq_conv_params|tq_pool_params|tq_dims)\s+\**\w+(\[\w*\])*\s*=)"
    r"\s*\{\s*[^\s.}]")


def test_examples_fill_geometry_structs_by_name():
    # Issue 16, item 3: the examples, tools, benchmarks and docs use
    # designated initialisers (the tests themselves may be positional).
    root = REPO
    files = [os.path.join(root, "README.md"),
             os.path.join(root, "include", "tinyq.h")]
    files += glob.glob(os.path.join(root, "docs", "*.md"))
    for sub in ("examples", "bench", "tools"):
        for ext in ("c", "h"):
            files += glob.glob(os.path.join(root, sub, "**", "*." + ext),
                               recursive=True)
    if not any(os.sep + "examples" + os.sep in f for f in files):
        pytest.skip("no source tree beside the package")
    found = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in _POSITIONAL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{os.path.relpath(path, root)}:{line}: "
                         f"{m.group(0)}")
    assert not found, "positional initialisers:\n" + "\n".join(found)
