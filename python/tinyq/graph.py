# Graphs: a network built node by node or loaded from ONNX, run in float,
# calibrated on caller batches, quantized, and run integer-only.
#
# SPDX-License-Identifier: Apache-2.0
"""Graphs (``tq_graph``): ONNX in, float run, calibration, int8 run.

    g = tinyq.Graph.from_onnx("resnet8.onnx")      # NCHW model, NHWC inside
    logits = g.run(x)                              # x: float32 (N, C, H, W)
    q = g.calibrate([x[i:i + 50] for i in range(0, 400, 50)])
    codes = q.run(x)                               # int8 logits

Arrays are numpy; images are NCHW (PyTorch's order) unless ``layout="NHWC"``
is given (``layout`` names the order of the array passed; pass the NHWC
data of a tf2onnx / Keras model, whose ONNX input is NHWC, with
``layout="NHWC"``). A graph holds one sample's shapes ``(1, H, W, C)``;
the leading extent of the arrays you pass is the batch.
"""

import collections
import ctypes
import dataclasses
import os

import numpy as np

from . import _arrays as A
from . import _geometry as G
from . import _lib
from .constants import Activation, DType, Op, RangeMethod, Rewrite, Rounding
from .errors import ParamError, ShapeError, check, error_class
from .quant import QScheme, RangeConfig
from .stats import Stats

_lib_ = _lib.lib
_vp = ctypes.c_void_p

NodeInfo = collections.namedtuple("NodeInfo", "name op inputs output attrs")
NodeInfo.__doc__ = "One node of a graph (``tq_graph_node_info``)."

TensorInfo = collections.namedtuple(
    "TensorInfo", "id name dtype shape is_constant scale zero_point qaxis")
TensorInfo.__doc__ = ("One tensor of a graph (``tq_graph_tensor_info``): "
                      "scale and zero_point are None for float tensors, "
                      "arrays of one or one per channel once quantized.")


def _raise(graph_ptr, status, fn):
    """Raise the exception of ``status`` with the graph's error sentence."""
    if status == 0:
        return
    detail = None
    if graph_ptr:
        msg = _lib_.tq_graph_error(graph_ptr)
        detail = msg.decode("utf-8", "replace") if msg else None
    raise error_class(status)(fn, detail, status)


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """How a float graph becomes an int8 one (``tq_quant_config``).

    ``activation`` and ``weight`` are :class:`RangeConfig` (or a
    :class:`RangeMethod` / its name); the defaults are TFLite's: min/max
    ranges, asymmetric int8 activations, symmetric narrow-range int8 weights
    per output channel, double rounding.

    Mixed precision (docs/graph-quantization.md): ``activation_dtype``
    (``DType.S8`` or ``DType.S16``, or "s8" / "s16") is the default type of
    the activations that can be int16 (TFLite's 16x8 kernels); the graph
    input and output stay int8. ``weight_dtype`` (``DType.S8`` or
    ``DType.S4``) is the default of conv, depthwise and fully connected
    weights under int8 activations. ``dtypes`` maps tensor names (or ids) to
    a dtype for those tensors alone (activations: s8 / s16; weights: s8 /
    s4), as ``tq_calibrator_set_dtype``.

    Narrow activations (W4A4, docs/recovery.md): ``activation_scheme`` may
    have fewer than 8 bits, e.g. ``QScheme(bits=4)``: every int8 activation
    but the graph input (which keeps 8 bits) then holds codes in the
    scheme's range ([-8, 7]), kept there by the kernels' output clamps;
    ``overrides`` can give single tensors 8 bits again.
    ``weight_scheme`` stays 8-bit (4-bit weights: ``weight_dtype`` or
    :meth:`Graph.recover`).
    """
    activation: object = RangeMethod.MINMAX
    activation_scheme: QScheme = QScheme()
    weight: object = RangeMethod.MINMAX
    weight_scheme: QScheme = QScheme(symmetric=True, narrow_range=True)
    per_channel: bool = True
    rounding: object = Rounding.DOUBLE
    histogram_bins: int = 2048
    activation_dtype: object = DType.S8
    weight_dtype: object = DType.S8
    dtypes: object = None

    @staticmethod
    def _range(r, fn, name):
        if isinstance(r, RangeConfig):
            return r._c(fn)
        return RangeConfig(method=r)._c(fn)

    def _c(self, fn):
        c = _lib.QuantConfig()
        check(_lib_.tq_quant_config_init(ctypes.byref(c)), fn)
        c.activation_range = self._range(self.activation, fn, "activation")
        c.activation_scheme = self.activation_scheme._c(fn)
        c.weight_range = self._range(self.weight, fn, "weight")
        c.weight_scheme = self.weight_scheme._c(fn)
        c.weight_per_channel = int(bool(self.per_channel))
        c.rounding = A.enum_value(self.rounding, Rounding, fn, "rounding")
        c.histogram_bins = A.int32(self.histogram_bins, fn, "histogram_bins")
        return c


def _load(source, path_fn, memory_fn):
    """The handle of a graph that C function ``path_fn`` loads from a path,
    or its twin ``memory_fn`` from ``bytes``; raises on refusal with the
    loader's message."""
    out = _vp()
    msg = ctypes.create_string_buffer(512)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        fn = memory_fn
        status = getattr(_lib_, fn)(
            data, len(data), ctypes.byref(out), msg, len(msg))
    else:
        fn = path_fn
        status = getattr(_lib_, fn)(
            os.fsencode(source), ctypes.byref(out), msg, len(msg))
    if status != 0:
        raise error_class(status)(
            fn, msg.value.decode("utf-8", "replace") or None, status)
    return out.value


class Graph:
    """A finalized graph: float (from ONNX or a :class:`GraphBuilder`) or
    quantized (from :meth:`calibrate`). Immutable; safe to share."""

    def __init__(self, handle):
        # Takes ownership of a finalized tq_graph *.
        self._h = _vp(handle)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h and h.value:
            _lib_.tq_graph_free(h)
            self._h = _vp()

    # ---- loading ---------------------------------------------------------

    @classmethod
    def from_onnx(cls, source):
        """Load an ONNX model from a path or from ``bytes`` (NCHW models
        become NHWC; every rewrite applied)."""
        return cls(_load(source, "tq_graph_load_onnx",
                         "tq_graph_load_onnx_memory"))

    @classmethod
    def load(cls, source):
        """Load a tinyq model file (docs/model-format.md) from a path or
        from ``bytes``: a quantized graph, validated before it is
        returned."""
        return cls(_load(source, "tq_graph_load", "tq_graph_load_memory"))

    def save(self, path):
        """Save this quantized graph as a tinyq model file."""
        _raise(self._h, _lib_.tq_graph_save(self._h, os.fsencode(path)),
               "tq_graph_save")

    def export_c(self, out_dir, prefix="model"):
        """Write ``out_dir/prefix.c`` and ``.h``: this quantized graph as C
        for a firmware (tq_graph_export_c), checked on the host first."""
        msg = ctypes.create_string_buffer(512)
        status = _lib_.tq_graph_export_c(self._h, prefix.encode("utf-8"),
                                         os.fsencode(out_dir), msg, len(msg))
        if status != 0:
            raise error_class(status)(
                "tq_graph_export_c",
                msg.value.decode("utf-8", "replace") or None, status)

    # ---- introspection -----------------------------------------------------

    @property
    def quantized(self):
        """True for an integer-only graph."""
        return bool(_lib_.tq_graph_is_quantized(self._h))

    def _io(self):
        i, o = ctypes.c_int32(), ctypes.c_int32()
        _raise(self._h, _lib_.tq_graph_io(self._h, ctypes.byref(i),
                                          ctypes.byref(o)), "tq_graph_io")
        return i.value, o.value

    def tensor(self, tensor):
        """:class:`TensorInfo` of a tensor id or name."""
        if isinstance(tensor, str):
            tid = ctypes.c_int32()
            _raise(self._h, _lib_.tq_graph_find_tensor(
                self._h, tensor.encode(), ctypes.byref(tid)),
                "tq_graph_find_tensor")
            tensor = tid.value
        info = _lib.GraphTensorInfo()
        tensor = A.int32(tensor, "tq_graph_tensor", "tensor")
        _raise(self._h, _lib_.tq_graph_tensor(self._h, tensor,
                                              ctypes.byref(info)),
               "tq_graph_tensor")
        scale = zp = None
        if info.qcount > 0:
            n = int(info.qcount)
            scale = np.ctypeslib.as_array(info.scale, (n,)).copy()
            zp = np.ctypeslib.as_array(info.zero_point, (n,)).copy()
        return TensorInfo(tensor, info.name.decode(), DType(info.dtype),
                          tuple(info.shape[:info.ndim]),
                          bool(info.is_constant), scale, zp, info.qaxis)

    @property
    def tensors(self):
        """Every tensor, by id."""
        return [self.tensor(i)
                for i in range(_lib_.tq_graph_tensor_count(self._h))]

    @property
    def nodes(self):
        """The nodes in execution order, as :class:`NodeInfo`."""
        out = []
        for i in range(_lib_.tq_graph_node_count(self._h)):
            info = _lib.GraphNodeInfo()
            _raise(self._h, _lib_.tq_graph_node(self._h, i,
                                                ctypes.byref(info)),
                   "tq_graph_node")
            inputs = tuple(info.inputs[j] for j in range(info.n_inputs))
            out.append(NodeInfo(info.name.decode(), Op(info.op), inputs,
                                info.output, info.attrs))
        return out

    @property
    def input(self):
        """:class:`TensorInfo` of the input."""
        return self.tensor(self._io()[0])

    @property
    def output(self):
        """:class:`TensorInfo` of the output."""
        return self.tensor(self._io()[1])

    def arena_size(self, batch=1):
        """Bytes of arena a run over ``batch`` samples uses."""
        n = ctypes.c_size_t()
        _raise(self._h, _lib_.tq_graph_arena_size(
            self._h, A.int64(batch, "tq_graph_arena_size", "batch"),
            ctypes.byref(n)), "tq_graph_arena_size")
        return n.value

    # ---- running -------------------------------------------------------------

    def _batch_in(self, x, dtype, layout, fn):
        """``x`` as a contiguous NHWC batch for the input tensor."""
        if layout not in ("NCHW", "NHWC"):
            raise ParamError(fn, f"layout must be 'NCHW' or 'NHWC', "
                                 f"got {layout!r}")
        shape = self.input.shape
        if not isinstance(x, np.ndarray):
            raise ParamError(fn, "x must be a numpy array")
        if x.ndim == len(shape) - 1:
            x = x[None]
        if x.ndim != len(shape):
            raise ShapeError(fn, f"x must have {len(shape)} dimensions "
                                 f"(batch first), got shape {x.shape}")
        if len(shape) == 4 and layout == "NCHW":
            x = x.transpose(0, 2, 3, 1)
        if tuple(x.shape[1:]) != tuple(shape[1:]):
            raise ShapeError(fn, f"one sample must be {shape[1:]} (NHWC), "
                                 f"got {x.shape[1:]}")
        return np.ascontiguousarray(x, dtype=dtype)

    def _batch_out(self, y, layout):
        if y.ndim == 4 and layout == "NCHW":
            return np.ascontiguousarray(y.transpose(0, 3, 1, 2))
        return y

    def _arena(self, batch):
        buf = np.empty(max(self.arena_size(batch), 1), dtype=np.uint8)
        return buf, ctypes.c_void_p(buf.ctypes.data)

    def run(self, x, *, layout="NCHW", accumulators=False, dequantize=False):
        """Run the graph on a batch.

        A float graph takes float32 and returns float32. A quantized graph
        takes int8 codes as they are, or floats that it quantizes with the
        input's parameters, and returns the int8 output (floats with
        ``dequantize=True``); with ``accumulators=True`` it returns
        ``(output, int32 accumulators of the output layer)``.
        """
        out_shape = self.output.shape
        if not self.quantized:
            fn = "tq_graph_run_f32"
            if accumulators or dequantize:
                raise ParamError(fn, "accumulators and dequantize are for "
                                     "quantized graphs")
            xb = self._batch_in(x, np.float32, layout, fn)
            batch = xb.shape[0]
            y = np.empty((batch,) + tuple(out_shape[1:]), np.float32)
            buf, arena = self._arena(batch)
            _raise(self._h, _lib_.tq_graph_run_f32(
                self._h, batch, A.ptr(xb), A.ptr(y), arena, buf.nbytes), fn)
            return self._batch_out(y, layout)
        fn = "tq_graph_run_s8"
        if isinstance(x, np.ndarray) and x.dtype == np.int8:
            q = self._batch_in(x, np.int8, layout, fn)
        else:
            xf = self._batch_in(np.asarray(x, dtype=np.float32), np.float32,
                                layout, fn)
            q = np.empty(xf.shape, np.int8)
            _raise(self._h, _lib_.tq_graph_quantize_input(
                self._h, xf.size, A.ptr(xf), A.ptr(q)),
                "tq_graph_quantize_input")
        batch = q.shape[0]
        y = np.empty((batch,) + tuple(out_shape[1:]), np.int8)
        acc = np.empty(y.shape, np.int32) if accumulators else None
        buf, arena = self._arena(batch)
        _raise(self._h, _lib_.tq_graph_run_s8(
            self._h, batch, A.ptr(q), A.ptr(y), A.ptr(acc), arena,
            buf.nbytes), fn)
        if dequantize:
            f = np.empty(y.shape, np.float32)
            _raise(self._h, _lib_.tq_graph_dequantize_output(
                self._h, y.size, A.ptr(y), A.ptr(f)),
                "tq_graph_dequantize_output")
            y = f
        y = self._batch_out(y, layout)
        if accumulators:
            return y, self._batch_out(acc, layout)
        return y

    # ---- calibration -------------------------------------------------------

    def calibrate(self, batches, config=None, *, layout="NCHW",
                  overrides=None, statistics=None):
        """Observe every activation over ``batches`` (float32 arrays, batch
        first) and return the quantized graph.

        ``statistics``, a dict, receives after the first pass the
        :class:`Stats` of every activation (``tq_calibrator_stats``), keyed
        by tensor id.

        ``batches`` is fed twice when a range method needs histograms
        (percentile, MSE, KL): pass a list or any re-iterable; a one-shot
        iterator is kept in memory for the second pass. ``overrides`` maps
        tensor names (or ids) to a :class:`RangeConfig` (or a method), or to
        a ``(RangeConfig, QScheme)`` pair, for those tensors alone.
        """
        fn = "tq_calibrator_create"
        if self.quantized:
            raise ParamError(fn, "the graph is quantized already")
        config = config or QuantConfig()
        if not isinstance(config, QuantConfig):
            raise ParamError(fn, f"config must be a QuantConfig, got "
                                 f"{config!r}")
        c = config._c(fn)
        cal = _vp()
        _raise(self._h, _lib_.tq_calibrator_create(
            self._h, ctypes.byref(c), ctypes.byref(cal)), fn)
        try:
            def cal_check(status, fn2, what):
                if status:
                    msg = _lib_.tq_calibrator_error(cal)
                    text = msg.decode("utf-8", "replace") if msg else ""
                    raise error_class(status)(fn2, f"{what}: {text}", status)
            fn2 = "tq_calibrator_set_default_dtypes"
            cal_check(_lib_.tq_calibrator_set_default_dtypes(
                cal, A.enum_value(config.activation_dtype, DType, fn2,
                                  "activation_dtype"),
                A.enum_value(config.weight_dtype, DType, fn2,
                             "weight_dtype")), fn2, "defaults")
            for key, value in (config.dtypes or {}).items():
                fn2 = "tq_calibrator_set_dtype"
                cal_check(_lib_.tq_calibrator_set_dtype(
                    cal, self.tensor(key).id,
                    A.enum_value(value, DType, fn2, "dtype")), fn2,
                    f"tensor {key!r}")
            for key, value in (overrides or {}).items():
                tid = self.tensor(key).id
                rng, scheme = (value if isinstance(value, tuple)
                               else (value, config.activation_scheme))
                r = QuantConfig._range(rng, fn, "override")
                s = scheme._c(fn)
                check(_lib_.tq_calibrator_set_tensor(
                    cal, tid, ctypes.byref(r), ctypes.byref(s)),
                    "tq_calibrator_set_tensor", f"tensor {key!r}")
            seen = []
            source = batches
            while True:
                for b in source:
                    xb = self._batch_in(np.asarray(b, dtype=np.float32),
                                        np.float32, layout,
                                        "tq_calibrator_feed")
                    if source is batches and iter(batches) is batches:
                        seen.append(xb)  # a one-shot iterator: keep it
                    check(_lib_.tq_calibrator_feed(cal, xb.shape[0],
                                                   A.ptr(xb)),
                          "tq_calibrator_feed")
                more = ctypes.c_int32()
                check(_lib_.tq_calibrator_end_pass(cal, ctypes.byref(more)),
                      "tq_calibrator_end_pass")
                if statistics is not None and source is batches:
                    st = _lib.Stats()
                    for info in self.tensors:
                        if not info.is_constant and _lib_.tq_calibrator_stats(
                                cal, info.id, ctypes.byref(st)) == 0:
                            statistics[info.id] = Stats._wrap(st)
                if not more.value:
                    break
                source = seen if iter(batches) is batches else batches
            q = _vp()
            _raise(self._h, _lib_.tq_graph_quantize(self._h, cal,
                                                    ctypes.byref(q)),
                   "tq_graph_quantize")
            return Graph(q.value)
        finally:
            _lib_.tq_calibrator_free(cal)

    # ---- accuracy recovery (docs/recovery.md) -------------------------------

    def equalize(self, *, iterations=20, relu6="skip", absorb_bias=False,
                 absorb_sigmas=3.0):
        """Cross-layer equalization of this float graph, IN PLACE (the one
        call that changes a finalized graph; do not run it meanwhile).
        ``relu6`` is ``"skip"`` (exact), ``"replace"`` (ReLU6 becomes
        ReLU on equalized pairs) or ``"aware"`` (ReLU6 kept, per-channel
        scales bounded by the folded BatchNorm statistics, see
        docs/recovery.md). Returns the number of pairs equalized."""
        fn = "tq_graph_equalize"
        if self.quantized:
            raise ParamError(fn, "equalize a float graph, before calibration")
        modes = {"skip": 0, "replace": 1, "aware": 2}
        if relu6 not in modes:
            raise ParamError(fn, f"relu6 must be 'skip', 'replace' or "
                                 f"'aware', got "
                                 f"{relu6!r}")
        c = _lib.EqualizeConfig()
        check(_lib_.tq_equalize_config_init(ctypes.byref(c)), fn)
        c.iterations = A.int32(iterations, fn, "iterations")
        c.relu6 = modes[relu6]
        c.absorb_bias = int(bool(absorb_bias))
        c.absorb_sigmas = float(absorb_sigmas)
        pairs = ctypes.c_int32()
        _raise(self._h, _lib_.tq_graph_equalize(self._h, ctypes.byref(c),
                                                ctypes.byref(pairs)), fn)
        return pairs.value

    def recover(self, float_graph, x, *, layout="NCHW", weight_bits=8,
                keep_ends_8bit=True, bias_correction="none", adaround=False,
                iterations=1000, lam=0.01, beta=(20.0, 2.0), warmup=0.2,
                learning_rate=0.01, max_patches=8192, seed=1, time_limit=0.0,
                progress=None, asymmetric=False, bias_quantized=False):
        """Improve this quantized graph IN PLACE from calibration inputs
        ``x`` (float32, batch first): 4-bit weights (``weight_bits=4``),
        AdaRound, bias correction (``"none"``, ``"empirical"``,
        ``"analytic"``). ``float_graph`` is the graph it was quantized
        from. ``progress(node, iteration, iterations, loss)`` may return
        True to end a layer's AdaRound early. ``asymmetric=True``: AdaRound
        fits each layer's float output from the partly quantized
        network's input; ``bias_quantized=True``: empirical bias correction
        measured on the partly quantized network's inputs
        (``tq_graph_recover_ext``). Returns self."""
        fn = "tq_graph_recover"
        if not self.quantized or float_graph.quantized:
            raise ParamError(fn, "call it on the quantized graph with the "
                                 "float graph it came from")
        methods = {"none": 0, "empirical": 1, "analytic": 2}
        if bias_correction not in methods:
            raise ParamError(fn, f"bias_correction must be one of "
                                 f"{sorted(methods)}, got {bias_correction!r}")
        xb = float_graph._batch_in(np.asarray(x, dtype=np.float32),
                                   np.float32, layout, fn)
        c = _lib.RecoveryConfig()
        check(_lib_.tq_recovery_config_init(ctypes.byref(c)), fn)
        c.weight_bits = A.int32(weight_bits, fn, "weight_bits")
        c.keep_ends_8bit = int(bool(keep_ends_8bit))
        c.bias_correction = methods[bias_correction]
        c.adaround = int(bool(adaround))
        c.iterations = A.int32(iterations, fn, "iterations")
        c.lambda_ = float(lam)
        c.beta_start, c.beta_end = float(beta[0]), float(beta[1])
        c.warmup = float(warmup)
        c.learning_rate = float(learning_rate)
        c.max_patches = A.int32(max_patches, fn, "max_patches")
        c.seed = int(seed)
        c.time_limit = float(time_limit)
        if progress is not None:
            def cb(ctx, node, it, its, loss):
                return 1 if progress(node.decode(), it, its, loss) else 0
            c.progress = _lib.RECOVERY_PROGRESS(cb)
        e = _lib.RecoveryExt()
        check(_lib_.tq_recovery_ext_init(ctypes.byref(e)), fn)
        e.asymmetric = int(bool(asymmetric))
        e.bias_quantized = int(bool(bias_quantized))
        _raise(self._h, _lib_.tq_graph_recover_ext(
            self._h, float_graph._h, xb.shape[0], A.ptr(xb),
            ctypes.byref(c), ctypes.byref(e)), fn)
        return self

    def __repr__(self):
        kind = "quantized" if self.quantized else "float"
        return (f"<tinyq.Graph {kind}, {len(self.nodes)} nodes, input "
                f"{self.input.shape}, output {self.output.shape}>")


class GraphBuilder:
    """Describe a network node by node, then :meth:`finalize` it into a
    :class:`Graph`. Weights are float32 in tinyq's layouts (conv OHWI,
    depthwise [1, KH, KW, C*M], fully connected [out, in])."""

    def __init__(self):
        h = _vp()
        check(_lib_.tq_graph_create(ctypes.byref(h)), "tq_graph_create")
        self._h = h

    def __del__(self):
        h = getattr(self, "_h", None)
        if h and h.value:
            _lib_.tq_graph_free(h)
            self._h = _vp()

    @staticmethod
    def _name(name):
        return None if name is None else str(name).encode()

    def input(self, shape, name=None):
        """The input of one sample, NHWC with a leading 1: ``(1, H, W, C)``."""
        fn = "tq_graph_add_input"
        shape = tuple(A.int64(s, fn, "shape") for s in shape)
        arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        out = ctypes.c_int32()
        _raise(self._h, _lib_.tq_graph_add_input(
            self._h, self._name(name), len(shape), arr, ctypes.byref(out)),
            fn)
        return out.value

    def constant(self, value, name=None):
        """A float32 constant (copied)."""
        fn = "tq_graph_add_constant"
        value = np.ascontiguousarray(value, dtype=np.float32)
        t = A.tensor(value, fn, "value")
        out = ctypes.c_int32()
        _raise(self._h, _lib_.tq_graph_add_constant(
            self._h, self._name(name), ctypes.byref(t), ctypes.byref(out)),
            fn)
        return out.value

    @staticmethod
    def attrs(*, stride=1, padding=(0, 0, 0, 0), dilation=1, groups=1,
              kernel=1, pool_stride=None, act=Activation.NONE,
              act_min=-np.inf, act_max=np.inf, alpha=0.01, epsilon=1e-5,
              count_include_pad=False, depth_multiplier=1, shape=None):
        """A ``tq_node_attrs``. ``padding`` is (top, bottom, left, right),
        for convolutions, pools and PAD alike: a 4-tuple in that order, a
        :class:`tinyq.Padding` (named sides; ``Padding.from_onnx(pads)``
        for ONNX's ``[top, left, bottom, right]``,
        ``Padding.from_torch_pad(pad)`` for ``F.pad``'s ``(left, right,
        top, bottom)``), a dict of sides, a pair ``(h, w)`` or an int."""
        fn = "tq_node_attrs_init"
        a = _lib.NodeAttrs()
        check(_lib_.tq_node_attrs_init(ctypes.byref(a)), fn)
        sh, sw = A.pair(stride, fn, "stride")
        dh, dw = A.pair(dilation, fn, "dilation")
        kh, kw = A.pair(kernel, fn, "kernel")
        ph, pw = A.pair(stride if pool_stride is None else pool_stride, fn,
                        "pool_stride")
        top, bottom, left, right = G.padding4(padding, fn)
        a.conv = _lib.ConvParams(sh, sw, top, bottom, left, right, dh, dw,
                                 A.int32(groups, fn, "groups"))
        a.pool = _lib.PoolParams(kh, kw, ph, pw, top, bottom, left, right)
        a.act = A.enum_value(act, Activation, fn, "act")
        a.act_min, a.act_max = float(act_min), float(act_max)
        a.alpha, a.epsilon = float(alpha), float(epsilon)
        a.count_include_pad = int(bool(count_include_pad))
        a.depth_multiplier = A.int32(depth_multiplier, fn,
                                     "depth_multiplier")
        if shape is not None:
            a.ndim = len(shape)
            for i, s in enumerate(shape):
                a.shape[i] = A.int64(s, fn, "shape")
        return a

    def node(self, op, inputs, name=None, **attrs):
        """Add a node of ``op`` (an :class:`Op` or its name) over tensor ids;
        keyword arguments are those of :meth:`attrs`. Returns the output
        tensor id."""
        fn = "tq_graph_add_node"
        code = A.enum_value(op, Op, fn, "op")
        ids = (ctypes.c_int32 * max(len(inputs), 1))(
            *(A.int32(i, fn, "inputs") for i in inputs))
        a = self.attrs(**attrs)
        out = ctypes.c_int32()
        _raise(self._h, _lib_.tq_graph_add_node(
            self._h, self._name(name), code, len(inputs), ids,
            ctypes.byref(a), ctypes.byref(out)), fn)
        return out.value

    def output(self, tensor):
        """Make ``tensor`` the graph output."""
        _raise(self._h, _lib_.tq_graph_set_output(
            self._h, A.int32(tensor, "tq_graph_set_output", "tensor")),
            "tq_graph_set_output")

    def finalize(self, rewrites=Rewrite.ALL):
        """Validate, rewrite and plan; returns the :class:`Graph` (the
        builder is empty afterwards)."""
        _raise(self._h, _lib_.tq_graph_finalize(self._h, int(rewrites)),
               "tq_graph_finalize")
        h, self._h = self._h, _vp()
        return Graph(h.value)
