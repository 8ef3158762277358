"""A small numpy interpreter for the ONNX graphs of tinyq's test models.

No onnxruntime exists on the project machines; this is the independent
check that an exported .onnx file computes what the PyTorch module computes.
It is written from the ONNX operator specifications (opset 13), in float64,
for the ops that these models use, and refuses anything else: Conv (group,
stride, dilation, pads), BatchNormalization (inference form), Relu, Clip,
Add, Pad (constant mode), MaxPool, AveragePool, GlobalAveragePool, Flatten,
Reshape, Gemm, MatMul, Identity, Constant.  Inputs and outputs are NCHW.
"""

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pad_nchw(x, pads, value=0.0):
    """pads = [top, left, bottom, right] (ONNX order for 2-D: begins then ends)."""
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _windows(x, kh, kw, sh, sw, dh, dw):
    """All kh x kw windows of x [N, C, H, W]: array [N, C, OH, OW, kh, kw]."""
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = x[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw]
    return out


def _conv(x, w, b, a):
    kh, kw = w.shape[2:]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    group = a.get("group", 1)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    x = _pad_nchw(x, a.get("pads", [0, 0, 0, 0]))
    win = _windows(x, kh, kw, sh, sw, dh, dw)  # N C OH OW kh kw
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    outs = []
    for g in range(group):
        xg = win[:, g * cg : (g + 1) * cg]
        wg = w[g * mg : (g + 1) * mg]  # mg cg kh kw
        outs.append(np.einsum("nchwij,mcij->nmhw", xg, wg))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def _pool(x, a, kind):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError(f"{kind} ceil_mode / auto_pad")
    pads = a.get("pads", [0, 0, 0, 0])
    if kind == "MaxPool":
        return _windows(_pad_nchw(x, pads, -np.inf), kh, kw, sh, sw, 1, 1).max(axis=(4, 5))
    total = _windows(_pad_nchw(x, pads), kh, kw, sh, sw, 1, 1).sum(axis=(4, 5))
    if a.get("count_include_pad", 0):
        return total / (kh * kw)
    ones = _windows(_pad_nchw(np.ones_like(x[:1, :1]), pads), kh, kw, sh, sw, 1, 1).sum(axis=(4, 5))
    return total / ones


def run(model, x):
    """Outputs (dict name -> float64 array) of an onnx.ModelProto on input x."""
    values = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    ints = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in values]
    assert len(inputs) == 1, inputs
    values[inputs[0]] = np.asarray(x, dtype=np.float64)
    for node in model.graph.node:
        a = _attrs(node)
        get = [values[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant":
            t = numpy_helper.to_array(a["value"])
            ints[node.output[0]] = t
            y = t.astype(np.float64)
        elif op == "Identity":
            y = get[0]
            if node.input[0] in ints:
                ints[node.output[0]] = ints[node.input[0]]
        elif op == "Conv":
            y = _conv(get[0], get[1], get[2] if len(get) > 2 else None, a)
        elif op == "BatchNormalization":
            x_, scale, bias, mean, var = get
            eps = a.get("epsilon", 1e-5)
            if a.get("training_mode", 0):
                raise NotImplementedError("BatchNormalization training_mode")
            shape = (1, -1, 1, 1)
            y = (x_ - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
        elif op == "Relu":
            y = np.maximum(get[0], 0.0)
        elif op == "Clip":
            lo = get[1] if len(get) > 1 and get[1] is not None else -np.inf
            hi = get[2] if len(get) > 2 and get[2] is not None else np.inf
            y = np.minimum(np.maximum(get[0], lo), hi)
        elif op == "Add":
            y = get[0] + get[1]
        elif op == "Pad":
            if a.get("mode", b"constant") not in (b"constant", "constant"):
                raise NotImplementedError("Pad mode")
            pads = ints[node.input[1]].astype(np.int64)
            value = get[2].item() if len(get) > 2 and get[2] is not None else 0.0
            r = get[0].ndim
            y = np.pad(get[0], [(pads[i], pads[i + r]) for i in range(r)], constant_values=value)
        elif op in ("MaxPool", "AveragePool"):
            y = _pool(get[0], a, op)
        elif op == "GlobalAveragePool":
            y = get[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            axis = a.get("axis", 1)
            y = get[0].reshape(int(np.prod(get[0].shape[:axis])), -1)
        elif op == "Reshape":
            shape = [int(s) for s in ints[node.input[1]]]
            shape = [get[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            y = get[0].reshape(shape)
        elif op == "Gemm":
            A = get[0].T if a.get("transA", 0) else get[0]
            B = get[1].T if a.get("transB", 0) else get[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(get) > 2 and get[2] is not None:
                y = y + a.get("beta", 1.0) * get[2]
        elif op == "MatMul":
            y = get[0] @ get[1]
        else:
            raise NotImplementedError(f"op {op} (node {node.name})")
        values[node.output[0]] = y
    return {o.name: values[o.name] for o in model.graph.output}
