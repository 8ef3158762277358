# Mixed precision under a budget: per-layer sensitivity and the greedy
# search of tq_graph_quantize_budget().
#
# SPDX-License-Identifier: Apache-2.0
"""Mixed precision under a budget (docs/mixed-precision-budget.md).

    layers = tinyq.budget.sensitivity(g, x)           # one record per layer
    q, result, layers = tinyq.budget.quantize_budget(
        g, x, layers, weight_bytes=int(0.6 * result_s8_bytes))

``x`` are calibration images (float32, batch first, NCHW unless
``layout="NHWC"``). Records are :class:`LayerSensitivity` tuples; the
result is a :class:`BudgetResult`.
"""

import collections
import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import DType
from .errors import ParamError, check
from .graph import Graph, QuantConfig, _raise

_lib_ = _lib.lib

_LAYER_FIELDS = [f for f, _ in _lib.LayerSensitivity._fields_]
_RESULT_FIELDS = [f for f, _ in _lib.BudgetResult._fields_]

LayerSensitivity = collections.namedtuple("LayerSensitivity", _LAYER_FIELDS)
LayerSensitivity.__doc__ = (
    "One weighted layer (``tq_layer_sensitivity``): bytes at int8 / int4 "
    "weights and under int16 activations, the relative output error and "
    "top-1 agreement all-int8, with only its weights int4, with only its "
    "output int16, and (after quantize_budget) the chosen dtypes.")

BudgetResult = collections.namedtuple("BudgetResult", _RESULT_FIELDS)
BudgetResult.__doc__ = "What quantize_budget chose (``tq_budget_result``)."


def _images(graph, x, layout, fn):
    if not isinstance(graph, Graph) or graph.quantized:
        raise ParamError(fn, "graph must be a float tinyq.Graph")
    return graph._batch_in(np.asarray(x, dtype=np.float32), np.float32,
                           layout, fn)


def _config(config, fn):
    config = config or QuantConfig()
    if not isinstance(config, QuantConfig):
        raise ParamError(fn, f"config must be a QuantConfig, got {config!r}")
    if (config.dtypes or
            A.enum_value(config.activation_dtype, DType, fn, "dtype") != 2 or
            A.enum_value(config.weight_dtype, DType, fn, "dtype") != 2):
        raise ParamError(fn, "the search chooses the dtypes: leave "
                             "activation_dtype, weight_dtype and dtypes at "
                             "their defaults")
    return config._c(fn)


def sensitivity(graph, x, config=None, *, layout="NCHW"):
    """Per-layer sensitivity of float ``graph`` on calibration images
    ``x`` (``tq_graph_sensitivity``): a list of :class:`LayerSensitivity`
    in execution order."""
    fn = "tq_graph_sensitivity"
    xb = _images(graph, x, layout, fn)
    c = _config(config, fn)
    n = ctypes.c_int32()
    _raise(graph._h, _lib_.tq_graph_sensitivity(
        graph._h, ctypes.byref(c), xb.shape[0], A.ptr(xb), None, 0,
        ctypes.byref(n)), fn)
    recs = (_lib.LayerSensitivity * n.value)()
    _raise(graph._h, _lib_.tq_graph_sensitivity(
        graph._h, ctypes.byref(c), xb.shape[0], A.ptr(xb), recs, n.value,
        ctypes.byref(n)), fn)
    return [LayerSensitivity(*(getattr(r, f) for f in _LAYER_FIELDS))
            for r in recs]


def quantize_budget(graph, x, layers, weight_bytes, *, arena_bytes=0,
                    allow_s16=True, max_verify=4, config=None,
                    layout="NCHW"):
    """Quantize float ``graph`` with int4 / int8 weights and int8 / int16
    activations chosen per layer to fit ``weight_bytes`` (and
    ``arena_bytes`` when > 0) with the least output error
    (``tq_graph_quantize_budget``). ``layers`` is :func:`sensitivity`'s
    list for the same graph, images and config. Returns ``(quantized
    Graph, BudgetResult, layers with weight_dtype / activation_dtype
    set)``."""
    fn = "tq_graph_quantize_budget"
    xb = _images(graph, x, layout, fn)
    c = _config(config, fn)
    layers = list(layers)
    if not layers or not all(isinstance(r, LayerSensitivity) for r in layers):
        raise ParamError(fn, "layers must be sensitivity()'s records")
    b = _lib.BudgetConfig()
    check(_lib_.tq_budget_config_init(ctypes.byref(b)), fn)
    b.weight_bytes = A.int64(weight_bytes, fn, "weight_bytes")
    b.arena_bytes = A.int64(arena_bytes, fn, "arena_bytes")
    b.allow_s16 = int(bool(allow_s16))
    b.max_verify = A.int32(max_verify, fn, "max_verify")
    recs = (_lib.LayerSensitivity * len(layers))()
    for r, src in zip(recs, layers):
        for f, v in zip(_LAYER_FIELDS, src):
            setattr(r, f, v)
    res = _lib.BudgetResult()
    q = ctypes.c_void_p()
    _raise(graph._h, _lib_.tq_graph_quantize_budget(
        graph._h, ctypes.byref(c), xb.shape[0], A.ptr(xb), ctypes.byref(b),
        recs, len(layers), ctypes.byref(res), ctypes.byref(q)), fn)
    return (Graph(q.value),
            BudgetResult(*(getattr(res, f) for f in _RESULT_FIELDS)),
            [LayerSensitivity(*(getattr(r, f) for f in _LAYER_FIELDS))
             for r in recs])
