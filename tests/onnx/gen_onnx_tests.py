#!/usr/bin/python3
"""Generate the ONNX importer's test models (tests/onnx/data) and their
expected outputs.

Every supported operator alone in a tiny model (and its attribute variants:
each auto_pad, ceil_mode, count_include_pad, Gemm transposes, Clip forms,
opsets 10/11/13/17), with a fixed-seed input and the output computed here by
numpy or PyTorch (never by tinyq); a few small CNNs exported by
torch.onnx.export; and the rejection cases (unsupported op, bad attribute,
truncated file, lying raw_data size, cycle, dangling input, ...).

Files per accepted case NAME: NAME.onnx, NAME.in.bin and NAME.out.bin (raw
little-endian float32, ONNX layout: NCHW or [N, F], `batch` samples).
Files per rejection: NAME.onnx. manifest.txt lists them:

    ok NAME BATCH IN_RANK IN_DIMS... OUT_RANK OUT_DIMS...   (dims of one sample)
    ok_nhwc NAME ...   (as ok; the input is NHWC, tf2onnx's, and fed as is)
    reject NAME STATUS PATTERN[|PATTERN...]  (substrings of the message)

Usage: /usr/bin/python3 tests/onnx/gen_onnx_tests.py [OUTDIR]
Needs the `onnx` package (Debian python3-onnx), numpy and torch.
"""
import io
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import torch
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "data")
os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    os.remove(os.path.join(OUT, f))

TQ_ERR_FORMAT = 12
TQ_ERR_UNSUPPORTED = 6

manifest = []
rng = np.random.default_rng(20261203)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=13, check=True):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="tinyq-gen")
    m.ir_version = 7 if opset < 15 else 8
    if check:
        onnx.checker.check_model(m)
    return m


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save_ok(name, m, x, y):
    """x, y: batch-first float32 arrays in ONNX layout."""
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())
    x.astype("<f4").tofile(os.path.join(OUT, name + ".in.bin"))
    y.astype("<f4").tofile(os.path.join(OUT, name + ".out.bin"))
    ins, outs = x.shape[1:], y.shape[1:]
    manifest.append("ok %s %d %d %s %d %s" % (
        name, x.shape[0], len(ins) + 1, " ".join(["1"] + [str(d) for d in ins]),
        len(outs) + 1, " ".join(["1"] + [str(d) for d in outs])))


def save_reject(name, data, status, *patterns):
    if not isinstance(data, (bytes, bytearray)):
        data = data.SerializeToString()
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(data)
    manifest.append("reject %s %d %s" % (name, status, "|".join(patterns)))


B = 2  # samples per test input (the batch extent is symbolic: "N")


def single(name, op, x_shape, attrs=None, inits=(), extra_inputs=(),
           opset=13, fn=None, out_shape=None, batch=B):
    """One node `op` over input X (N, *x_shape) plus initializers; expected
    output from fn(x, *init arrays)."""
    nd = helper.make_node(op, ["X"] + list(extra_inputs), ["Y"],
                          name="n0_" + op, **(attrs or {}))
    x = rand(batch, *x_shape)
    y = fn(x)
    m = model([nd], [vi("X", ["N"] + list(x_shape))],
              [vi("Y", ["N"] + list(y.shape[1:]))], inits, opset)
    save_ok(name, m, x, y)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ---- numpy / torch oracles (ONNX semantics) ---------------------------------

def conv_ref(x, w, b, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1),
             group=1):
    """pads: ONNX order top, left, bottom, right; zero padding."""
    xp = F.pad(t(x), (pads[1], pads[3], pads[0], pads[2]))
    y = F.conv2d(xp.double(), t(w).double(),
                 None if b is None else t(b).double(), stride=strides,
                 dilation=dil, groups=group)
    return y.numpy().astype(np.float32)


def same_pads(hw, k, s, d, upper):
    pads = [0, 0, 0, 0]
    for a in range(2):
        o = -(-hw[a] // s[a])
        need = max(0, (o - 1) * s[a] + (k[a] - 1) * d[a] + 1 - hw[a])
        lo = need // 2 if upper else need - need // 2
        pads[a], pads[a + 2] = lo, need - lo
    return pads


def pool_out(n, k, s, pb, pe, ceil):
    span = n + pb + pe - k
    o = span // s + 1
    if ceil and span % s:
        if o * s < n + pb:
            o += 1
    return o


def pool_ref(x, kind, k, s, pads, ceil=0, cip=0):
    """ONNX / PyTorch pooling: the average counts the padded window clipped
    to [-pad_begin, n + pad_end) when count_include_pad, else the real
    pixels only; ceil_mode's extra end rows are never counted."""
    N, C, H, W = x.shape
    oh = pool_out(H, k[0], s[0], pads[0], pads[2], ceil)
    ow = pool_out(W, k[1], s[1], pads[1], pads[3], ceil)
    y = np.zeros((N, C, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - pads[0], j * s[1] - pads[1]
            h1, w1 = h0 + k[0], w0 + k[1]
            rh0, rh1 = max(h0, 0), min(h1, H)
            rw0, rw1 = max(w0, 0), min(w1, W)
            win = x[:, :, rh0:rh1, rw0:rw1].astype(np.float64)
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if cip:
                    cnt = (min(h1, H + pads[2]) - h0) * (min(w1, W + pads[3]) - w0)
                else:
                    cnt = (rh1 - rh0) * (rw1 - rw0)
                y[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return y.astype(np.float32)


# ---- Conv --------------------------------------------------------------------

def conv_case(name, C, O, hw, k, group=1, strides=(1, 1), pads=None,
              dil=(1, 1), auto_pad=None, bias=True, opset=13):
    w = rand(O, C // group, *k, scale=0.3)
    b = rand(O) if bias else None
    attrs = {"kernel_shape": list(k), "strides": list(strides),
             "dilations": list(dil), "group": group}
    if auto_pad is not None:
        attrs["auto_pad"] = auto_pad
    if pads is not None:
        attrs["pads"] = list(pads)
    eff = list(pads) if pads is not None else [0, 0, 0, 0]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        eff = same_pads(hw, k, strides, dil, auto_pad == "SAME_UPPER")
    elif auto_pad == "VALID":
        eff = [0, 0, 0, 0]
    inits = [init("W", w)] + ([init("B", b)] if bias else [])
    single(name, "Conv", (C,) + tuple(hw), attrs, inits,
           ["W", "B"] if bias else ["W"], opset,
           lambda x: conv_ref(x, w, b, strides, eff, dil, group))


conv_case("conv_basic", 3, 4, (6, 6), (3, 3), pads=(1, 1, 1, 1))
conv_case("conv_opset11", 3, 4, (6, 6), (3, 3), pads=(1, 1, 1, 1), opset=11)
conv_case("conv_opset17", 3, 4, (6, 6), (3, 3), pads=(1, 1, 1, 1), opset=17)
conv_case("conv_nobias_stride2", 2, 3, (7, 7), (3, 3), strides=(2, 2),
          bias=False)
conv_case("conv_asym_pads", 2, 3, (5, 6), (3, 3), pads=(0, 1, 2, 1))
conv_case("conv_rect_kernel_stride", 2, 3, (7, 8), (3, 2), strides=(2, 1),
          pads=(1, 0, 1, 1))
conv_case("conv_dilation", 2, 3, (8, 8), (3, 3), dil=(2, 2), pads=(2, 2, 2, 2))
conv_case("conv_same_upper", 2, 3, (8, 8), (3, 3), strides=(2, 2),
          auto_pad="SAME_UPPER")
conv_case("conv_same_lower", 2, 3, (8, 8), (3, 3), strides=(2, 2),
          auto_pad="SAME_LOWER")
conv_case("conv_valid", 2, 3, (7, 7), (3, 3), auto_pad="VALID")
conv_case("conv_notset", 2, 3, (6, 6), (3, 3), auto_pad="NOTSET",
          pads=(1, 0, 0, 1))
conv_case("conv_1x1", 5, 4, (3, 3), (1, 1))
conv_case("conv_group2", 4, 6, (5, 5), (3, 3), group=2, pads=(1, 1, 1, 1))
conv_case("conv_depthwise", 4, 4, (6, 6), (3, 3), group=4, pads=(1, 1, 1, 1))
conv_case("conv_depthwise_mult2", 3, 6, (6, 6), (3, 3), group=3,
          strides=(2, 2), pads=(1, 1, 1, 1))
conv_case("conv_depthwise_same_upper", 4, 4, (7, 7), (3, 3), group=4,
          strides=(2, 2), auto_pad="SAME_UPPER")


# ---- BatchNormalization, activations ---------------------------------------

def bn_case(name, shape, opset=13, eps=1e-3):
    C = shape[0]
    sc, bi, mu = rand(C), rand(C), rand(C)
    var = (rng.random(C) + 0.5).astype(np.float32)
    bshape = (1, C) + (1,) * (len(shape) - 1)

    def fn(x):
        xd = x.astype(np.float64)
        return ((xd - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + eps)
                * sc.reshape(bshape) + bi.reshape(bshape)).astype(np.float32)
    single(name, "BatchNormalization", shape, {"epsilon": eps},
           [init("s", sc), init("b", bi), init("m", mu), init("v", var)],
           ["s", "b", "m", "v"], opset, fn)


bn_case("batchnorm", (4, 5, 5))
bn_case("batchnorm_opset15", (4, 5, 5), opset=15)
bn_case("batchnorm_2d", (6,))

single("relu", "Relu", (3, 4, 4), fn=lambda x: np.maximum(x, 0))
single("relu_2d", "Relu", (7,), fn=lambda x: np.maximum(x, 0))
single("leakyrelu", "LeakyRelu", (3, 4, 4), {"alpha": 0.2},
       fn=lambda x: np.where(x < 0, 0.2 * x, x).astype(np.float32))
single("leakyrelu_default", "LeakyRelu", (3, 4, 4),
       fn=lambda x: np.where(x < 0, np.float32(0.01) * x, x).astype(np.float32))


def clip_inputs(name, lo, hi, opset=13):
    inits, ins = [], []
    if lo is not None:
        inits.append(init("lo", np.array(lo, np.float32)))
    ins.append("lo" if lo is not None else "")
    if hi is not None:
        inits.append(init("hi", np.array(hi, np.float32)))
        ins.append("hi")
    single(name, "Clip", (3, 4, 4), inits=inits, extra_inputs=ins, opset=opset,
           fn=lambda x: np.clip(x, -np.inf if lo is None else lo,
                                np.inf if hi is None else hi))


clip_inputs("clip_relu6", 0.0, 6.0 / 4)   # bounds [0, 1.5]
clip_inputs("clip_0_6_opset11", 0.0, 6.0, opset=11)
clip_inputs("clip_min_only", -0.3, None)
clip_inputs("clip_max_only", None, 0.4)
clip_inputs("clip_both", -0.5, 0.7, opset=17)
single("clip_none", "Clip", (3, 4, 4), fn=lambda x: x)
single("clip_attr_opset10", "Clip", (3, 4, 4), {"min": -0.5, "max": 0.7},
       opset=10, fn=lambda x: np.clip(x, -0.5, 0.7))
single("clip_attr_min_opset10", "Clip", (3, 4, 4), {"min": 0.0}, opset=10,
       fn=lambda x: np.maximum(x, 0))


# ---- pools ---------------------------------------------------------------------

def pool_case(name, kind, hw, k, s, pads=(0, 0, 0, 0), ceil=0, cip=0,
              auto_pad=None, opset=13, C=3):
    op = "MaxPool" if kind == "max" else "AveragePool"
    attrs = {"kernel_shape": list(k), "strides": list(s)}
    eff = list(pads)
    if auto_pad is not None:
        attrs["auto_pad"] = auto_pad
        if auto_pad.startswith("SAME"):
            eff = same_pads(hw, k, s, (1, 1), auto_pad == "SAME_UPPER")
        elif auto_pad == "VALID":
            eff = [0, 0, 0, 0]
    else:
        attrs["pads"] = list(pads)
    if ceil:
        attrs["ceil_mode"] = 1
    if kind == "avg" and cip:
        attrs["count_include_pad"] = 1

    def fn(x):
        y = pool_ref(x, kind, k, s, eff, ceil, cip)
        # PyTorch agrees where it can express the case (symmetric pads)
        if eff[0] == eff[2] and eff[1] == eff[3] and \
                eff[0] <= k[0] // 2 and eff[1] <= k[1] // 2:
            if kind == "max":
                yt = F.max_pool2d(t(x), k, s, (eff[0], eff[1]),
                                  ceil_mode=bool(ceil))
            else:
                yt = F.avg_pool2d(t(x), k, s, (eff[0], eff[1]),
                                  ceil_mode=bool(ceil),
                                  count_include_pad=bool(cip))
            assert np.allclose(yt.numpy(), y, atol=1e-6), name
        return y
    single(name, op, (C,) + tuple(hw), attrs, opset=opset, fn=fn)


pool_case("maxpool_2x2", "max", (6, 6), (2, 2), (2, 2))
pool_case("maxpool_3x3_s2_pad1", "max", (7, 7), (3, 3), (2, 2), (1, 1, 1, 1))
pool_case("maxpool_asym_pads", "max", (6, 7), (3, 3), (2, 2), (0, 1, 2, 1))
pool_case("maxpool_ceil", "max", (6, 6), (3, 3), (2, 2), ceil=1)
pool_case("maxpool_ceil_pad", "max", (7, 7), (3, 3), (2, 2), (1, 1, 1, 1),
          ceil=1)
pool_case("maxpool_same_upper", "max", (7, 7), (2, 2), (2, 2),
          auto_pad="SAME_UPPER")
pool_case("maxpool_same_lower", "max", (7, 7), (2, 2), (2, 2),
          auto_pad="SAME_LOWER")
pool_case("maxpool_valid", "max", (7, 7), (3, 3), (2, 2), auto_pad="VALID")
pool_case("maxpool_opset11", "max", (6, 6), (2, 2), (2, 2), opset=11)
pool_case("avgpool_2x2", "avg", (6, 6), (2, 2), (2, 2))
pool_case("avgpool_pad_excl", "avg", (6, 6), (3, 3), (1, 1), (1, 1, 1, 1))
pool_case("avgpool_pad_incl", "avg", (6, 6), (3, 3), (1, 1), (1, 1, 1, 1),
          cip=1)
pool_case("avgpool_asym_incl", "avg", (6, 6), (3, 3), (2, 2), (0, 1, 2, 1),
          cip=1)
pool_case("avgpool_ceil_excl", "avg", (6, 6), (3, 3), (2, 2), ceil=1)
pool_case("avgpool_ceil_incl", "avg", (6, 6), (3, 3), (2, 2), ceil=1, cip=1)
pool_case("avgpool_ceil_pad_incl", "avg", (6, 6), (3, 3), (2, 2),
          (1, 1, 1, 1), ceil=1, cip=1)
pool_case("avgpool_ceil_pad_excl", "avg", (6, 6), (3, 3), (2, 2),
          (1, 1, 1, 1), ceil=1, cip=0)
pool_case("avgpool_same_upper", "avg", (7, 7), (3, 3), (2, 2),
          auto_pad="SAME_UPPER")
pool_case("avgpool_same_lower_incl", "avg", (7, 7), (2, 2), (2, 2),
          auto_pad="SAME_LOWER", cip=1)
pool_case("avgpool_valid", "avg", (7, 7), (3, 3), (2, 2), auto_pad="VALID",
          opset=17)
single("globalavgpool", "GlobalAveragePool", (5, 4, 3),
       fn=lambda x: x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
       .astype(np.float32))


# ---- elementwise ----------------------------------------------------------------

def binary_const(name, op, shape, kshape, const_first=False, opset=13):
    k = rand(*kshape)
    if op == "Div":
        k = (np.abs(k) + 0.5).astype(np.float32)
    f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
         "Div": np.divide}[op]
    nd = helper.make_node(op, ["K", "X"] if const_first else ["X", "K"], ["Y"],
                          name="n0_" + op)
    x = rand(B, *shape)
    y = (f(k, x) if const_first else f(x, k)).astype(np.float32)
    m = model([nd], [vi("X", ["N"] + list(shape))],
              [vi("Y", ["N"] + list(shape))], [init("K", k)], opset)
    save_ok(name, m, x, y)


binary_const("add_scalar", "Add", (3, 4, 4), ())
binary_const("add_per_channel_c11", "Add", (3, 4, 4), (3, 1, 1))
binary_const("add_per_channel_1c11", "Add", (3, 4, 4), (1, 3, 1, 1),
             const_first=True)
binary_const("mul_scalar", "Mul", (3, 4, 4), (1,))
binary_const("mul_per_channel", "Mul", (3, 4, 4), (3, 1, 1), opset=11)
binary_const("sub_const", "Sub", (3, 4, 4), (3, 1, 1))
binary_const("sub_from_const", "Sub", (3, 4, 4), (), const_first=True)
binary_const("div_const", "Div", (3, 4, 4), (3, 1, 1))
binary_const("add_vector", "Add", (6,), (6,))
binary_const("mul_vector_1f", "Mul", (6,), (1, 6), opset=17)


def binary_act(name, op):
    """op between two activations: X and Relu(X) (Relu is checked alone)."""
    f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
    nodes = [helper.make_node("Relu", ["X"], ["R"], name="n0_Relu"),
             helper.make_node(op, ["R", "X"], ["Y"], name="n1_" + op)]
    x = rand(B, 3, 4, 4)
    y = f(np.maximum(x, 0), x).astype(np.float32)
    m = model(nodes, [vi("X", ["N", 3, 4, 4])], [vi("Y", ["N", 3, 4, 4])])
    save_ok(name, m, x, y)


binary_act("add_act", "Add")
binary_act("sub_act", "Sub")
binary_act("mul_act", "Mul")


# ---- Gemm, MatMul, Flatten, Reshape -------------------------------------------

def gemm_case(name, K, N, transB=0, alpha=1.0, beta=1.0, cshape=(None,),
              opset=13):
    w = rand(N, K, scale=0.3) if transB else rand(K, N, scale=0.3)
    attrs = {"transB": transB}
    if alpha != 1.0:
        attrs["alpha"] = alpha
    if beta != 1.0:
        attrs["beta"] = beta
    inits, ins = [init("W", w)], ["W"]
    c = None
    if cshape != (None,):
        c = rand(*cshape)
        inits.append(init("C", c))
        ins.append("C")

    def fn(x):
        wm = w.T if transB else w
        y = alpha * (x.astype(np.float64) @ wm.astype(np.float64))
        if c is not None:
            y = y + beta * c.astype(np.float64)
        return y.astype(np.float32)
    single(name, "Gemm", (K,), attrs, inits, ins, opset, fn)


gemm_case("gemm_transb", 12, 5, transB=1, cshape=(5,))
gemm_case("gemm_notrans", 12, 5, transB=0, cshape=(1, 5))
gemm_case("gemm_alpha_beta", 12, 5, transB=1, alpha=0.5, beta=2.0,
          cshape=(5,))
gemm_case("gemm_no_c", 12, 5, transB=1, opset=11)
gemm_case("gemm_scalar_c", 12, 5, transB=0, cshape=(), opset=17)


def matmul_case(name, K, N, with_add):
    w, b = rand(K, N, scale=0.3), rand(N)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["M" if with_add else "Y"],
                              name="n0_MatMul")]
    inits = [init("W", w)]
    if with_add:
        nodes.append(helper.make_node("Add", ["M", "B"], ["Y"], name="n1_Add"))
        inits.append(init("B", b))
    x = rand(B, K)
    y = x.astype(np.float64) @ w
    if with_add:
        y = y + b
    m = model(nodes, [vi("X", ["N", K])], [vi("Y", ["N", N])], inits)
    save_ok(name, m, x, y.astype(np.float32))


matmul_case("matmul", 10, 4, False)
matmul_case("matmul_add", 10, 4, True)


def flatten_fc(name, shape, how, fc, opset=13):
    """Flatten / Reshape of a spatial map, then a fully connected layer: the
    importer permutes the layer's columns from C,H,W to H,W,C order."""
    C, H, W = shape
    K, N = C * H * W, 5
    nodes, inits = [], []
    if how == "flatten":
        nodes.append(helper.make_node("Flatten", ["X"], ["F"], axis=1,
                                      name="n0_Flatten"))
    elif how == "reshape_init":
        inits.append(init("shape", np.array([-1, K], np.int64)))
        nodes.append(helper.make_node("Reshape", ["X", "shape"], ["F"],
                                      name="n0_Reshape"))
    else:  # reshape from a Constant node, with a 0 (copy) extent
        nodes.append(helper.make_node(
            "Constant", [], ["shape"], name="n0_Constant",
            value=numpy_helper.from_array(np.array([0, -1], np.int64))))
        nodes.append(helper.make_node("Reshape", ["X", "shape"], ["F"],
                                      name="n1_Reshape"))
    w, b = rand(N, K, scale=0.2), rand(N)
    if fc == "gemm":
        inits += [init("W", w), init("B", b)]
        nodes.append(helper.make_node("Gemm", ["F", "W", "B"], ["Y"], transB=1,
                                      name="n9_Gemm"))
    else:
        inits += [init("W", w.T.copy()), init("B", b)]
        nodes.append(helper.make_node("MatMul", ["F", "W"], ["M"],
                                      name="n8_MatMul"))
        nodes.append(helper.make_node("Add", ["M", "B"], ["Y"], name="n9_Add"))
    x = rand(B, C, H, W)
    y = (x.reshape(B, K).astype(np.float64) @ w.T.astype(np.float64) + b)
    m = model(nodes, [vi("X", ["N", C, H, W])], [vi("Y", ["N", N])], inits,
              opset)
    save_ok(name, m, x, y.astype(np.float32))


flatten_fc("flatten_gemm", (3, 4, 4), "flatten", "gemm")
flatten_fc("flatten_matmul_add", (4, 3, 2), "flatten", "matmul", opset=11)
flatten_fc("reshape_init_gemm", (3, 4, 4), "reshape_init", "gemm")
flatten_fc("reshape_constant_gemm", (2, 3, 5), "reshape_const", "gemm",
           opset=17)

single("flatten_one_channel", "Flatten", (1, 4, 4), {"axis": 1},
       fn=lambda x: x.reshape(x.shape[0], -1))
single("flatten_pixels", "Flatten", (8, 1, 1), {"axis": -3},
       fn=lambda x: x.reshape(x.shape[0], -1))
single("reshape_vec_to_map", "Reshape", (8,),
       inits=[init("s", np.array([-1, 8, 1, 1], np.int64))],
       extra_inputs=["s"], fn=lambda x: x.reshape(x.shape[0], 8, 1, 1))


# ---- Softmax, Concat, Pad, Identity, Dropout, Constant -------------------------

def softmax_ref(x, axis):
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


single("softmax", "Softmax", (10,), fn=lambda x: softmax_ref(x, 1))
single("softmax_opset11", "Softmax", (10,), {"axis": 1}, opset=11,
       fn=lambda x: softmax_ref(x, 1))
single("softmax_channels", "Softmax", (5, 1, 1), {"axis": 1},
       fn=lambda x: softmax_ref(x, 1))
single("softmax_channels_map", "Softmax", (5, 2, 3), {"axis": 1}, opset=17,
       fn=lambda x: softmax_ref(x, 1))


def concat_case(name, axis):
    nodes = [helper.make_node("Relu", ["X"], ["R"], name="n0_Relu"),
             helper.make_node("Conv", ["X", "W"], ["Z"], name="n1_Conv"),
             helper.make_node("Concat", ["R", "X", "Z"], ["Y"], axis=axis,
                              name="n2_Concat")]
    w = rand(2, 3, 1, 1)
    x = rand(B, 3, 4, 4)
    y = np.concatenate([np.maximum(x, 0), x, conv_ref(x, w, None)], axis=1)
    m = model(nodes, [vi("X", ["N", 3, 4, 4])], [vi("Y", ["N", 8, 4, 4])],
              [init("W", w)])
    save_ok(name, m, x, y)


concat_case("concat", 1)
concat_case("concat_neg_axis", -3)


def pad_case(name, pads, opset, attr=False):
    if attr:
        nd = helper.make_node("Pad", ["X"], ["Y"], pads=list(pads),
                              mode="constant", name="n0_Pad")
        inits = []
    else:
        nd = helper.make_node("Pad", ["X", "p", "v"], ["Y"], name="n0_Pad")
        inits = [init("p", np.array(pads, np.int64)),
                 init("v", np.array(0.0, np.float32))]
    x = rand(B, 3, 4, 5)
    y = np.pad(x, [(pads[0], pads[4]), (pads[1], pads[5]),
                   (pads[2], pads[6]), (pads[3], pads[7])])
    m = model([nd], [vi("X", ["N", 3, 4, 5])], [vi("Y", ["N"] + list(y.shape[1:]))],
              inits, opset)
    save_ok(name, m, x, y)


pad_case("pad", (0, 0, 1, 2, 0, 0, 2, 1), 13)
pad_case("pad_opset11", (0, 0, 1, 1, 0, 0, 1, 1), 11)
pad_case("pad_attr_opset10", (0, 0, 0, 1, 0, 0, 2, 0), 10, attr=True)


def pad_then(name, op):
    """A zero Pad before a conv / pool (the rewrite folds it)."""
    pads = (0, 0, 1, 0, 0, 0, 1, 2)
    w = rand(4, 3, 3, 3, scale=0.3)
    nodes = [helper.make_node("Pad", ["X", "p"], ["P"], name="n0_Pad")]
    inits = [init("p", np.array(pads, np.int64))]
    if op == "Conv":
        nodes.append(helper.make_node("Conv", ["P", "W"], ["Y"],
                                      name="n1_Conv"))
        inits.append(init("W", w))
    else:
        nodes.append(helper.make_node("AveragePool", ["P"], ["Y"],
                                      kernel_shape=[3, 3], strides=[1, 1],
                                      name="n1_AveragePool"))
    x = rand(B, 3, 5, 5)
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (0, 2)])
    y = conv_ref(xp, w, None) if op == "Conv" else \
        pool_ref(xp, "avg", (3, 3), (1, 1), (0, 0, 0, 0))
    m = model(nodes, [vi("X", ["N", 3, 5, 5])],
              [vi("Y", ["N"] + list(y.shape[1:]))], inits)
    save_ok(name, m, x, y)


pad_then("pad_conv", "Conv")
pad_then("pad_avgpool", "AveragePool")

single("identity", "Identity", (3, 4, 4), fn=lambda x: x)
single("dropout", "Dropout", (3, 4, 4), fn=lambda x: x)
single("dropout_opset11", "Dropout", (3, 4, 4), {"ratio": 0.3}, opset=11,
       fn=lambda x: x)


def dropout_mask_unused():
    nd = helper.make_node("Dropout", ["X", "r"], ["Y", "mask"],
                          name="n0_Dropout")
    x = rand(B, 6)
    m = model([nd], [vi("X", ["N", 6])], [vi("Y", ["N", 6])],
              [init("r", np.array(0.5, np.float32))])
    save_ok("dropout_mask_unused", m, x, x)


dropout_mask_unused()


def constant_case(name, kind):
    if kind == "tensor":
        k = rand(3, 1, 1)
        cn = helper.make_node("Constant", [], ["K"], name="n0_Constant",
                              value=numpy_helper.from_array(k))
    else:
        k = np.array(0.75, np.float32)
        cn = helper.make_node("Constant", [], ["K"], name="n0_Constant",
                              value_float=0.75)
    nodes = [cn, helper.make_node("Mul", ["X", "K"], ["Y"], name="n1_Mul")]
    x = rand(B, 3, 4, 4)
    m = model(nodes, [vi("X", ["N", 3, 4, 4])], [vi("Y", ["N", 3, 4, 4])])
    save_ok(name, m, x, (x * k).astype(np.float32))


constant_case("constant_tensor", "tensor")
constant_case("constant_value_float", "float")


def float_data_case():
    """Initializers in float_data (not raw_data), bias included."""
    w, b = rand(4, 3, 3, 3, scale=0.3), rand(4)
    wt = helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel().tolist())
    bt = helper.make_tensor("B", TensorProto.FLOAT, b.shape, b.tolist())
    nd = helper.make_node("Conv", ["X", "W", "B"], ["Y"], pads=[1, 1, 1, 1],
                          name="n0_Conv")
    x = rand(B, 3, 5, 5)
    m = model([nd], [vi("X", ["N", 3, 5, 5])], [vi("Y", ["N", 4, 5, 5])],
              [wt, bt])
    save_ok("conv_float_data", m, x, conv_ref(x, w, b, pads=(1, 1, 1, 1)))


float_data_case()


# ---- small CNNs exported by torch.onnx.export (PyTorch 1.13) --------------------

class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.b2 = torch.nn.BatchNorm2d(8)
        self.c3 = torch.nn.Conv2d(8, 16, 1)
        self.sc = torch.nn.Conv2d(8, 16, 1, stride=2)
        self.fc = torch.nn.Linear(16 * 4 * 4, 10)
        self.drop = torch.nn.Dropout(0.2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)          # 8x8 -> 4... (16->8)
        y = F.relu6(self.b2(self.c2(x)))                            # 8 -> 4
        y = self.c3(y)
        x = F.relu(y + self.sc(x))                                  # residual
        x = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        x = self.drop(torch.flatten(x, 1))
        return F.softmax(self.fc(x), dim=1)


class GapCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 6, 3, stride=2)
        self.c2 = torch.nn.Conv2d(6, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.1)
        x = F.relu(self.c2(x)) + x
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


def torch_case(name, net, shape, opset, dynamic=True):
    torch.manual_seed(7)
    net = net()
    # BatchNorm statistics that are not the identity
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    net.eval()
    x = rand(B if dynamic else 1, *shape)
    buf = io.BytesIO()
    kw = {"dynamic_axes": {"x": {0: "N"}, "y": {0: "N"}}} if dynamic else {}
    torch.onnx.export(net, t(x), buf, opset_version=opset, input_names=["x"],
                      output_names=["y"], do_constant_folding=True, **kw)
    m = onnx.load_from_string(buf.getvalue())
    with torch.no_grad():
        y = net(t(x)).numpy()
    save_ok(name, m, x, y)


torch_case("torch_smallcnn_opset11", SmallCNN, (3, 16, 16), 11)
torch_case("torch_smallcnn_opset13", SmallCNN, (3, 16, 16), 13)
torch_case("torch_smallcnn_opset17", SmallCNN, (3, 16, 16), 17, dynamic=False)
torch_case("torch_gapcnn_opset13", GapCNN, (3, 9, 9), 13, dynamic=False)


class ViewCNN(torch.nn.Module):
    """x.view(x.size(0), -1) with a dynamic batch: Shape, Gather, Unsqueeze,
    Concat, Reshape (folded by the importer), then a dense layer over a
    C,H,W-ordered vector (its columns permuted)."""
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 6, 3, stride=2)
        self.fc = torch.nn.Linear(6 * 4 * 4, 4)

    def forward(self, x):
        x = F.relu(self.c1(x))
        return self.fc(x.view(x.size(0), -1))


torch_case("torch_viewcnn_dynamic_opset11", ViewCNN, (3, 9, 9), 11)
torch_case("torch_viewcnn_dynamic_opset13", ViewCNN, (3, 9, 9), 13)


# ---- rejections ------------------------------------------------------------------

def conv_model(attrs=None, w=None, opset=13, name="conv7"):
    w = rand(2, 3, 3, 3) if w is None else w
    nd = helper.make_node("Conv", ["X", "W"], ["Y"], name=name, **(attrs or {}))
    return model([nd], [vi("X", ["N", 3, 6, 6])], [vi("Y", None)],
                 [init("W", w)], opset, check=False)


save_reject("rej_unsupported_op", model(
    [helper.make_node("Sigmoid", ["X"], ["Y"], name="sig1")],
    [vi("X", ["N", 4])], [vi("Y", ["N", 4])]), TQ_ERR_UNSUPPORTED,
    "node 0 'sig1'", "Sigmoid", "not supported")
save_reject("rej_bad_auto_pad", conv_model({"auto_pad": "SAME_SIDEWAYS"}),
            TQ_ERR_UNSUPPORTED, "conv7", "(Conv)", "auto_pad", "SAME_SIDEWAYS")
save_reject("rej_unknown_attribute", conv_model({"frobnicate": 3}),
            TQ_ERR_UNSUPPORTED, "conv7", "Conv", "frobnicate")
save_reject("rej_gemm_transa", model(
    [helper.make_node("Gemm", ["X", "W"], ["Y"], transA=1, name="fc9")],
    [vi("X", ["N", 4])], [vi("Y", ["N", 3])], [init("W", rand(4, 3))],
    check=False), TQ_ERR_UNSUPPORTED, "fc9", "Gemm", "transA")
save_reject("rej_pad_reflect", model(
    [helper.make_node("Pad", ["X", "p"], ["Y"], mode="reflect", name="pad3")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", None)],
    [init("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], check=False),
    TQ_ERR_UNSUPPORTED, "pad3", "Pad", "mode", "reflect")
save_reject("rej_maxpool_storage_order", model(
    [helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[2, 2],
                      storage_order=1, name="mp")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", None)], check=False),
    TQ_ERR_UNSUPPORTED, "mp", "MaxPool", "storage_order")
save_reject("rej_double_weights", conv_model(w=rand(2, 3, 3, 3).astype(np.float64)),
            TQ_ERR_UNSUPPORTED, "conv7", "Conv", "data type 11")
save_reject("rej_opset18", conv_model(opset=18), TQ_ERR_UNSUPPORTED,
            "opset 18")
save_reject("rej_flatten_output", model(
    [helper.make_node("Flatten", ["X"], ["Y"], name="fl")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", ["N", 48])]), TQ_ERR_UNSUPPORTED,
    "'Y'", "flattened")
save_reject("rej_two_inputs", model(
    [helper.make_node("Add", ["X", "Z"], ["Y"], name="add2")],
    [vi("X", ["N", 4]), vi("Z", ["N", 4])], [vi("Y", ["N", 4])]),
    TQ_ERR_UNSUPPORTED, "more than one input")

good = conv_model().SerializeToString()
save_reject("rej_truncated", good[: len(good) // 2], TQ_ERR_FORMAT,
            "protobuf")
save_reject("rej_garbage", bytes(range(7, 250, 3)) * 3, TQ_ERR_FORMAT,
            "protobuf")
save_reject("rej_empty", b"", TQ_ERR_FORMAT, "empty")
# A message nested far past any ONNX model (AttributeProto.g -> GraphProto
# .node -> NodeProto.attribute -> ...): protobuf-c would recurse on it.
g = helper.make_graph([], "leaf", [], [])
for _ in range(40):
    n = helper.make_node("If", ["c"], ["o"], then_branch=g)
    g = helper.make_graph([n], "g", [], [])
deep = helper.make_model(helper.make_graph(
    [helper.make_node("If", ["c"], ["o"], then_branch=g)],
    "top", [vi("X", ["N", 3])], [vi("o", None)]),
    opset_imports=[helper.make_opsetid("", 13)])
save_reject("rej_deep_nesting", deep, TQ_ERR_FORMAT, "nested")

m = conv_model()
m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:-8]
save_reject("rej_lying_raw_data", m, TQ_ERR_FORMAT, "initializer 'W'",
            "raw_data")
m = conv_model()
m.graph.initializer[0].dims[1] = -3
save_reject("rej_negative_dim", m, TQ_ERR_FORMAT, "initializer 'W'",
            "negative")
m = conv_model()
del m.graph.initializer[0].dims[:]
m.graph.initializer[0].dims.extend([1 << 40, 1 << 40, 1 << 40, 2])
save_reject("rej_dims_overflow", m, TQ_ERR_FORMAT, "initializer 'W'",
            "overflow")
m = conv_model()
m.graph.initializer[0].data_location = TensorProto.EXTERNAL
e = m.graph.initializer[0].external_data.add()
e.key, e.value = "location", "weights.bin"
save_reject("rej_external_data", m, TQ_ERR_UNSUPPORTED, "initializer 'W'",
            "external data")
m = conv_model()
del m.graph.initializer[:]
save_reject("rej_missing_initializer", m, TQ_ERR_FORMAT, "conv7", "'W'",
            "not defined")
save_reject("rej_dangling_input", model(
    [helper.make_node("Relu", ["X"], ["R"], name="r0"),
     helper.make_node("Add", ["R", "ghost"], ["Y"], name="a1")],
    [vi("X", ["N", 4])], [vi("Y", ["N", 4])], check=False),
    TQ_ERR_FORMAT, "node 1 'a1'", "Add", "'ghost'", "not defined")
save_reject("rej_cycle", model(
    [helper.make_node("Add", ["X", "B"], ["A"], name="c0"),
     helper.make_node("Relu", ["A"], ["B"], name="c1"),
     helper.make_node("Relu", ["A"], ["Y"], name="c2")],
    [vi("X", ["N", 4])], [vi("Y", ["N", 4])], check=False),
    TQ_ERR_FORMAT, "cycle", "(Add)")
save_reject("rej_duplicate_output", model(
    [helper.make_node("Relu", ["X"], ["Y"], name="d0"),
     helper.make_node("Relu", ["X"], ["Y"], name="d1")],
    [vi("X", ["N", 4])], [vi("Y", ["N", 4])], check=False),
    TQ_ERR_FORMAT, "node 1 'd1'", "'Y'", "twice")
save_reject("rej_no_output", model(
    [helper.make_node("Relu", ["X"], ["Y"], name="d0")],
    [vi("X", ["N", 4])], [], check=False), TQ_ERR_FORMAT, "0 outputs")
save_reject("rej_no_input", model(
    [helper.make_node("Constant", [], ["Y"], value_float=1.0, name="k")],
    [], [vi("Y", [])], check=False), TQ_ERR_FORMAT, "no input")
save_reject("rej_conv_channels", conv_model(w=rand(2, 5, 3, 3)),
            TQ_ERR_FORMAT, "conv7", "Conv", "group")



# ---- empty lists (added after the fuzzer met one: their own generator, so
# the cases above keep their random draws) -----------------------------------

def empty_axes_case(name, opset):
    """Squeeze of a constant with an empty axes list (attribute up to opset
    12, an empty int64 initializer from 13): protobuf-c gives such a list no
    array at all. Empty axes squeeze every extent of 1, so the constant
    [[-1, 6]] becomes the Reshape target [-1, 6] (of an [N, 6] input: the
    shape arithmetic is what is tested)."""
    local = np.random.default_rng(20261204)
    nodes = [helper.make_node("Squeeze", ["S0"] + (["E"] if opset >= 13
                                                   else []),
                              ["S"], name="n0_Squeeze")]
    inits = [init("S0", np.array([[-1, 6]], np.int64))]
    if opset >= 13:
        inits.append(init("E", np.zeros(0, np.int64)))
    else:
        axes = onnx.AttributeProto()
        axes.name = "axes"
        axes.type = onnx.AttributeProto.INTS
        nodes[0].attribute.append(axes)
    nodes += [helper.make_node("Reshape", ["X", "S"], ["R"], name="n1_Reshape"),
              helper.make_node("Relu", ["R"], ["Y"], name="n2_Relu")]
    x = (local.standard_normal((B, 6))).astype(np.float32)
    m = model(nodes, [vi("X", ["N", 6])], [vi("Y", ["N", 6])], inits,
              opset, check=False)
    save_ok(name, m, x, np.maximum(x.reshape(B, 6), 0))


empty_axes_case("squeeze_empty_axes_attr_opset11", 11)
empty_axes_case("squeeze_empty_axes_input_opset13", 13)

# ---- tf2onnx layout Transposes (their own generator, so the cases above keep
# their random draws) ----------------------------------------------------------

def save_ok_nhwc(name, m, x, y):
    """As save_ok, for a model whose graph input is NHWC ([N, H, W, C], read
    by a Transpose with perm [0, 3, 1, 2]): tinyq takes x as it is."""
    save_ok(name, m, x, y)
    manifest[-1] = "ok_nhwc" + manifest[-1][2:]


def tf2onnx_case(name, fc, opset):
    """What tf2onnx writes for a small Keras CNN: an NHWC input, a Transpose
    to NCHW, Conv, Relu, MaxPool, a Transpose back to NHWC, then a flatten
    in H,W,C order and the classifier (MatMul + Add after a Reshape to
    [-1, K], or Gemm after a Flatten). The Gemm variant reads the input
    through two Transposes (two conv branches added)."""
    local = np.random.default_rng(20261205)
    H, W, C, O, N = 6, 6, 3, 4, 5

    def r(*shape, scale=1.0):
        return (local.standard_normal(shape) * scale).astype(np.float32)

    x = r(B, H, W, C)
    w1, b1 = r(O, C, 3, 3, scale=0.3), r(O)
    w2 = r(O, C, 1, 1, scale=0.3)
    K = O * (H // 2) * (W // 2)
    wf, bf = r(K, N, scale=0.2), r(N)
    nodes = [helper.make_node("Transpose", ["X"], ["Xt"], perm=[0, 3, 1, 2],
                              name="tp_in"),
             helper.make_node("Conv", ["Xt", "W1", "B1"], ["C1"],
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              name="conv1")]
    inits = [init("W1", w1), init("B1", b1)]
    xn = x.transpose(0, 3, 1, 2)
    a = conv_ref(xn, w1, b1, pads=(1, 1, 1, 1))
    if fc == "gemm":
        nodes += [helper.make_node("Transpose", ["X"], ["Xt2"],
                                   perm=[0, 3, 1, 2], name="tp_in2"),
                  helper.make_node("Conv", ["Xt2", "W2"], ["C2"],
                                   kernel_shape=[1, 1], name="conv2"),
                  helper.make_node("Add", ["C1", "C2"], ["S"], name="add")]
        inits.append(init("W2", w2))
        a = a + conv_ref(xn, w2, None)
        last = "S"
    else:
        last = "C1"
    nodes += [helper.make_node("Relu", [last], ["R"], name="relu"),
              helper.make_node("MaxPool", ["R"], ["P"], kernel_shape=[2, 2],
                               strides=[2, 2], name="pool"),
              helper.make_node("Transpose", ["P"], ["T"], perm=[0, 2, 3, 1],
                               name="tp_out")]
    p = pool_ref(np.maximum(a, 0), "max", (2, 2), (2, 2), (0, 0, 0, 0))
    f = p.transpose(0, 2, 3, 1).reshape(B, K).astype(np.float64)
    if fc == "gemm":
        nodes += [helper.make_node("Flatten", ["T"], ["F"], axis=1,
                                   name="flatten"),
                  helper.make_node("Gemm", ["F", "Wf", "Bf"], ["Y"], transB=1,
                                   name="dense")]
        inits += [init("Wf", wf.T.copy()), init("Bf", bf)]
    else:
        nodes += [helper.make_node("Reshape", ["T", "shape"], ["F"],
                                   name="reshape"),
                  helper.make_node("MatMul", ["F", "Wf"], ["M"],
                                   name="dense"),
                  helper.make_node("Add", ["M", "Bf"], ["Y"],
                                   name="dense_bias")]
        inits += [init("shape", np.array([-1, K], np.int64)),
                  init("Wf", wf), init("Bf", bf)]
    y = (f @ wf.astype(np.float64) + bf).astype(np.float32)
    m = model(nodes, [vi("X", ["N", H, W, C])], [vi("Y", ["N", N])], inits,
              opset)
    save_ok_nhwc(name, m, x, y)


tf2onnx_case("tf2onnx_cnn_matmul", "matmul", 13)
tf2onnx_case("tf2onnx_cnn_gemm", "gemm", 11)

save_reject("rej_transpose_perm", model(
    [helper.make_node("Transpose", ["X"], ["Y"], perm=[0, 2, 1, 3],
                      name="tp9")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", None)], check=False),
    TQ_ERR_UNSUPPORTED, "node 0 'tp9'", "Transpose", "perm [0, 2, 1, 3]")
save_reject("rej_transpose_nhwc_conv", model(
    [helper.make_node("Transpose", ["X"], ["T"], perm=[0, 2, 3, 1],
                      name="tp_nhwc"),
     helper.make_node("Conv", ["T", "W"], ["Y"], name="conv_after")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", None)],
    [init("W", np.full((2, 4, 1, 1), 0.5, np.float32))], check=False),
    TQ_ERR_UNSUPPORTED, "'tp_nhwc'", "perm [0, 2, 3, 1]", "'conv_after'",
    "(Conv)")
save_reject("rej_transpose_non_input", model(
    [helper.make_node("Relu", ["X"], ["R"], name="r0"),
     helper.make_node("Transpose", ["R"], ["Y"], perm=[0, 3, 1, 2],
                      name="tp_mid")],
    [vi("X", ["N", 3, 4, 4])], [vi("Y", None)], check=False),
    TQ_ERR_UNSUPPORTED, "'tp_mid'", "perm [0, 3, 1, 2]", "graph input only")
save_reject("rej_transpose_input_other_reader", model(
    [helper.make_node("Transpose", ["X"], ["T"], perm=[0, 3, 1, 2],
                      name="tp_in"),
     helper.make_node("Relu", ["X"], ["R"], name="relu_raw"),
     helper.make_node("Add", ["T", "R"], ["Y"], name="add")],
    [vi("X", ["N", 2, 2, 2])], [vi("Y", None)], check=False),
    TQ_ERR_UNSUPPORTED, "'relu_raw'", "'X'", "NHWC graph input")

with open(os.path.join(OUT, "manifest.txt"), "w") as f:
    f.write("# generated by tests/onnx/gen_onnx_tests.py; see its docstring\n")
    f.write("\n".join(manifest) + "\n")
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print("%d cases, %d bytes in %s" % (len(manifest), total, OUT))
