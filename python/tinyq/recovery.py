# Accuracy recovery helpers: AdaRound of one matrix, its objective, and the
# clamped-normal expectation of analytic bias correction.
#
# SPDX-License-Identifier: Apache-2.0
"""Accuracy recovery (docs/recovery.md). The graph-level calls are
:meth:`tinyq.Graph.equalize` and :meth:`tinyq.Graph.recover`; here are the
pieces they are made of, on numpy arrays."""

import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from .errors import ParamError, ShapeError, check

_lib_ = _lib.lib


def expected_clamped_normal(mean, std, lo=0.0, hi=float("inf")):
    """E[clamp(x, lo, hi)] for x ~ N(mean, std^2)."""
    out = ctypes.c_double()
    check(_lib_.tq_expected_clamped_normal(float(mean), float(std), float(lo),
                                           float(hi), ctypes.byref(out)),
          "tq_expected_clamped_normal")
    return out.value


def _gram(gram, k, fn):
    g = np.ascontiguousarray(gram, dtype=np.float64)
    if g.shape != (k, k):
        raise ShapeError(fn, f"gram must be ({k}, {k}), got {g.shape}")
    return g


def adaround_objective(w, scale, gram, v, *, qmin=-127, qmax=127, lam=0.01,
                       beta=2.0):
    """(loss, gradient) of one row's AdaRound objective."""
    fn = "tq_adaround_objective"
    w = np.ascontiguousarray(w, dtype=np.float32).ravel()
    v = np.ascontiguousarray(v, dtype=np.float64).ravel()
    if v.shape != w.shape:
        raise ShapeError(fn, "v must have one value per weight")
    g = _gram(gram, w.size, fn)
    loss = ctypes.c_double()
    grad = np.empty(w.size, np.float64)
    d = ctypes.c_double
    check(_lib_.tq_adaround_objective(w.size, A.ptr(w), float(scale),
                                      A.ptr(g, d), qmin, qmax, A.ptr(v, d),
                                      float(lam), float(beta),
                                      ctypes.byref(loss), A.ptr(grad, d)), fn)
    return loss.value, grad


def adaround_objective_target(w, scale, gram, target, constant, v, *,
                               qmin=-127, qmax=127, lam=0.01, beta=2.0):
    """(loss, gradient) of one row's asymmetric AdaRound objective
    u A u - 2 u t + c (+ regulariser), u = scale * q
    (``tq_adaround_objective_target``)."""
    fn = "tq_adaround_objective_target"
    w = np.ascontiguousarray(w, dtype=np.float32).ravel()
    v = np.ascontiguousarray(v, dtype=np.float64).ravel()
    t = np.ascontiguousarray(target, dtype=np.float64).ravel()
    if v.shape != w.shape or t.shape != w.shape:
        raise ShapeError(fn, "v and target must have one value per weight")
    g = _gram(gram, w.size, fn)
    loss = ctypes.c_double()
    grad = np.empty(w.size, np.float64)
    d = ctypes.c_double
    check(_lib_.tq_adaround_objective_target(
        w.size, A.ptr(w), float(scale), A.ptr(g, d), A.ptr(t, d),
        float(constant), qmin, qmax, A.ptr(v, d), float(lam), float(beta),
        ctypes.byref(loss), A.ptr(grad, d)), fn)
    return loss.value, grad


def adaround_matrix(w, scales, gram, *, qmin=-127, qmax=127, iterations=1000,
                    lam=0.01, beta=(20.0, 2.0), warmup=0.2,
                    learning_rate=0.01):
    """AdaRound codes (int8, shape of ``w`` (rows, k)) for weights ``w``
    with one scale per row (or one for all) and the input Gram matrix
    ``gram`` (k, k)."""
    fn = "tq_adaround_matrix"
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ShapeError(fn, f"w must be (rows, k), got {w.shape}")
    s = np.ascontiguousarray(np.atleast_1d(scales), dtype=np.float32)
    if s.size not in (1, w.shape[0]):
        raise ParamError(fn, "scales must be one value or one per row")
    g = _gram(gram, w.shape[1], fn)
    c = _lib.RecoveryConfig()
    check(_lib_.tq_recovery_config_init(ctypes.byref(c)), fn)
    c.iterations = A.int32(iterations, fn, "iterations")
    c.lambda_ = float(lam)
    c.beta_start, c.beta_end = float(beta[0]), float(beta[1])
    c.warmup = float(warmup)
    c.learning_rate = float(learning_rate)
    codes = np.empty(w.shape, np.int8)
    check(_lib_.tq_adaround_matrix(w.shape[0], w.shape[1], A.ptr(w), A.ptr(s),
                                   int(s.size > 1 or w.shape[0] == 1),
                                   A.ptr(g, ctypes.c_double), qmin, qmax,
                                   ctypes.byref(c),
                                   A.ptr(codes)), fn)
    return codes
