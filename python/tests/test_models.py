# The committed models of models/ (issue 10, item 7) through tinyq's graph:
# every .onnx file against the independent float64 numpy interpreter
# models/onnx_ref.py (written from the ONNX operator specs) and against
# PyTorch's module built from the committed weights, and, when the
# CIFAR-10 data is there, float and int8 accuracy on the first 1,000 test
# images pinned to the numbers of the committed models.
#
# SPDX-License-Identifier: Apache-2.0
import os
import sys

import numpy as np
import pytest

import tinyq as tq
from conftest import needs_host

# The graph is a host helper: a firmware build of the library has none.
pytestmark = needs_host

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
FILES = ["lenet/lenet.onnx", "lenet/lenet_bias.onnx",
         "resnet8/resnet8.onnx", "resnet8/resnet8_bn.onnx",
         "dscnn/dscnn.onnx", "dscnn/dscnn_bn.onnx"]


@pytest.mark.parametrize("name", FILES)
def test_model_file_matches_numpy_reference(name):
    onnx = pytest.importorskip("onnx")
    sys.path.insert(0, MODELS)
    try:
        import onnx_ref
    finally:
        sys.path.remove(MODELS)
    path = os.path.join(MODELS, name)
    assert os.path.getsize(path) < 1 << 20  # the size limit
    rng = np.random.default_rng(10)
    x = rng.uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32)
    want = onnx_ref.run(onnx.load(path), x.astype(np.float64))["logits"]
    g = tq.Graph.from_onnx(path)
    got = g.run(x)
    assert got.shape == (3, 10)
    span = float(want.max() - want.min())
    assert span > 0
    assert float(np.abs(got - want).max()) < 1e-4 * span
    assert (got.argmax(1) == want.argmax(1)).all()


def cifar(name, count):
    base = (os.environ.get("TINYQ_DATA_DIR")
            or os.environ.get("TINYQ_TEST_DEFAULT_DATA_DIR"))
    path = os.path.join(base or "", "cifar10", name)
    if not base or not os.path.isfile(path):
        pytest.skip(f"CIFAR-10 data not found ({path}); set TINYQ_DATA_DIR")
    raw = np.fromfile(path, np.uint8, count * 3073).reshape(count, 3073)
    x = (raw[:, 1:].reshape(count, 3, 32, 32).astype(np.float32) / 255
         - 0.5) / 0.5
    return x, raw[:, 0].astype(np.int64)


# Correct predictions among test images 0..999: float (tq_graph_run_f32, the
# same as PyTorch's), int8 with the default configuration calibrated on
# images 0..399 of data_batch_1.bin (argmax of the int32 accumulators).
# docs/results-models.md has the whole test set.
PINNED = {"resnet8/resnet8.onnx": (810, 803), "dscnn/dscnn.onnx": (839, 836)}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_model_accuracy_pinned(name):
    calib, _ = cifar("data_batch_1.bin", 400)
    x, labels = cifar("test_batch.bin", 1000)
    g = tq.Graph.from_onnx(os.path.join(MODELS, name))
    float_right = int((g.run(x).argmax(1) == labels).sum())
    q = g.calibrate([calib[i:i + 100] for i in range(0, 400, 100)])
    _, acc = q.run(x, accumulators=True)
    int8_right = int((acc.argmax(1) == labels).sum())
    assert (float_right, int8_right) == PINNED[name]


# Issue 10, item 3: the float graph agrees with PyTorch on the same model,
# max |logit difference| below 1e-4 of the logit range. PyTorch runs the
# module built from the committed float weights (models/export_onnx.py's
# load(): models/nets.py or the lab's LeNet, strict safetensors load), not
# the ONNX file; tinyq runs the ONNX file, the _bn variants through its
# BatchNorm folding.
TORCH_FILES = [("lenet", "lenet/lenet.onnx"), ("lenet_bias", "lenet/lenet_bias.onnx"),
               ("resnet8", "resnet8/resnet8.onnx"), ("resnet8", "resnet8/resnet8_bn.onnx"),
               ("dscnn", "dscnn/dscnn.onnx"), ("dscnn", "dscnn/dscnn_bn.onnx")]


@pytest.mark.parametrize("name,path", TORCH_FILES)
def test_model_file_matches_pytorch(name, path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    sys.path.insert(0, MODELS)
    try:
        import export_onnx
    finally:
        sys.path.remove(MODELS)
    module = export_onnx.load(name)[0]
    module.eval()
    rng = np.random.default_rng(11)
    # uniform inputs in the models' input range, and a batch of 5 (not 1)
    x = rng.uniform(-1, 1, (5, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy().astype(np.float64)
    got = tq.Graph.from_onnx(os.path.join(MODELS, path)).run(x)
    span = float(want.max() - want.min())
    assert span > 0
    assert float(np.abs(got - want).max()) < 1e-4 * span
    assert (got.argmax(1) == want.argmax(1)).all()
