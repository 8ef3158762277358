#!/usr/bin/python3
"""Export tinyq's test models to ONNX from their committed weights and check them.

For every model: build the PyTorch module (models/nets.py, or LeNet as
examples/cifar10/train.py defines it), load the committed float weights
(safetensors, strict), and export with torch.onnx.export, opset 13, input
"input" [batch, 3, 32, 32] and output "logits" [batch, 10] with a dynamic
batch axis.  The models with BatchNorm are written twice:

    <name>.onnx      the plain export of the eval-mode model; PyTorch 1.13's
                     exporter folds every BatchNorm into the conv before it
    <name>_bn.onnx   the same model exported with training=PRESERVE (still in
                     eval mode), which keeps inference-form BatchNormalization
                     nodes, as tf2onnx and other exporters emit them

Each file is then checked: onnx.checker (full_check, which includes shape
inference), its op list with the attribute values that occur, and its
outputs against PyTorch's on test images at batch 1 and 64, computed by the
numpy interpreter in models/onnx_ref.py (no onnxruntime on this machine).

Usage:
    /usr/bin/python3 models/export_onnx.py [--check-only] [NAME ...] > models/export.log
NAME is one of resnet8, dscnn, lenet, lenet_bias (default: all).
"""

import argparse
import collections
import hashlib
import io
import os
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(MODELS_DIR)
CIFAR_DIR = os.path.join(REPO_ROOT, "examples", "cifar10")
sys.path.insert(0, MODELS_DIR)
sys.path.insert(0, CIFAR_DIR)
import nets  # noqa: E402
import onnx_ref  # noqa: E402
import safetensors_io  # noqa: E402
from train import TEST_FILE, LeNet, data_dir, fail_data, normalise, read_batches  # noqa: E402

OPSET = 13
CHECK_IMAGES = 64


def spec(name):
    """(module, weights path, output folder, export BN-kept variant too)."""
    if name in nets.MODELS:
        return nets.MODELS[name](), os.path.join(MODELS_DIR, name, f"{name}.safetensors"), name, True
    bias = name == "lenet_bias"
    return LeNet(bias), os.path.join(CIFAR_DIR, f"{name}.safetensors"), "lenet", False


NAMES = ["resnet8", "dscnn", "lenet", "lenet_bias"]


def load(name):
    module, path, folder, with_bn = spec(name)
    tensors, metadata = safetensors_io.load(path)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return module.eval(), path, folder, with_bn, metadata


def export_bytes(module, keep_bn):
    f = io.BytesIO()
    kwargs = {"training": torch.onnx.TrainingMode.PRESERVE} if keep_bn else {}
    torch.onnx.export(
        module,
        torch.zeros(1, 3, 32, 32),
        f,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        **kwargs,
    )
    return f.getvalue()


def fmt_attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, onnx.TensorProto):
        a = onnx.numpy_helper.to_array(v)
        return f"tensor({a.dtype}{list(a.shape)}={a.tolist()})"
    return str(v)


def op_report(model):
    """Lines: every op type with its count and the distinct attribute sets it has."""
    inits = {t.name: t for t in model.graph.initializer}
    consts = {}
    per_op = collections.OrderedDict()
    for node in model.graph.node:
        attrs = []
        for a in node.attribute:
            if node.op_type == "Constant":
                consts[node.output[0]] = onnx.numpy_helper.to_array(a.t)
                continue
            attrs.append(f"{a.name}={fmt_attr(onnx.helper.get_attribute_value(a))}")
        # Constant inputs that act as attributes (Clip min/max, Pad pads, Reshape shape).
        for k, i in enumerate(node.input[1:], 1):
            if node.op_type in ("Clip", "Pad", "Reshape") and i in consts:
                attrs.append(f"input{k}={consts[i].tolist()} ({consts[i].dtype})")
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            shapes = [list(inits[i].dims) if i in inits else "activation" for i in node.input[1:]]
            attrs.append(f"const inputs {shapes}")
        per_op.setdefault(node.op_type, collections.Counter())[", ".join(attrs)] += 1
    lines = []
    for op, variants in per_op.items():
        lines.append(f"  {op} x{sum(variants.values())}")
        for attrs, count in variants.items():
            lines.append(f"      {count} x {{{attrs}}}")
    return lines


def check(path, data, module, images):
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    print(f"{os.path.relpath(path, REPO_ROOT)}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    print(
        f"  onnx.checker.check_model(full_check=True): ok; ir_version {model.ir_version}, "
        f"opset {[(o.domain or 'ai.onnx', o.version) for o in model.opset_import]}, producer "
        f"{model.producer_name} {model.producer_version}"
    )
    print(
        f"  input {[(i.name, dims(i)) for i in model.graph.input]}, output "
        f"{[(o.name, dims(o)) for o in model.graph.output]}; {len(model.graph.initializer)} initializers, "
        f"{params} values; {len(model.graph.node)} nodes"
    )
    print(f"  op types: {sorted(set(n.op_type for n in model.graph.node))}")
    for line in op_report(model):
        print(line)
    with torch.no_grad():
        ref = module(images).numpy()
    worst = 0.0
    for batch in (1, CHECK_IMAGES):
        got = np.concatenate(
            [onnx_ref.run(model, images[s : s + batch].numpy())["logits"] for s in range(0, CHECK_IMAGES, batch)][
                : (8 if batch == 1 else None)
            ]
        )
        diff = float(np.abs(got - ref[: len(got)]).max())
        worst = max(worst, diff)
        same = int((got.argmax(1) == ref[: len(got)].argmax(1)).sum())
        print(
            f"  numpy reference (float64) vs torch float32, batch {batch}, {len(got)} test images: "
            f"max |logit diff| {diff:.3g} (logit range {float(ref.max() - ref.min()):.3g}), "
            f"same argmax {same}/{len(got)}"
        )
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--check-only", action="store_true", help="check the committed .onnx files, write nothing")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    args.names = args.names or NAMES
    torch.set_num_threads(1)
    torch.manual_seed(0)

    directory = data_dir()
    if not os.path.isfile(os.path.join(directory, TEST_FILE)):
        fail_data(directory, f"CIFAR-10 data not found (missing: {TEST_FILE})")
    test_u8, _ = read_batches(directory, [TEST_FILE])
    images = normalise(torch.from_numpy(test_u8[:CHECK_IMAGES]))

    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}; opset {OPSET}\n")
    worst = 0.0
    for name in args.names:
        module, weights, folder, with_bn, metadata = load(name)
        print(
            f"== {name}: weights {os.path.relpath(weights, REPO_ROOT)} ({os.path.getsize(weights)} bytes"
            + (f", trained test accuracy {metadata['test_accuracy']} %" if "test_accuracy" in metadata else "")
            + ")"
        )
        variants = [(name, False)] + ([(f"{name}_bn", True)] if with_bn else [])
        for file_stem, keep_bn in variants:
            path = os.path.join(MODELS_DIR, folder, f"{file_stem}.onnx")
            if args.check_only:
                with open(path, "rb") as f:
                    data = f.read()
                if data != export_bytes(module, keep_bn):
                    print(f"  note: {os.path.relpath(path, REPO_ROOT)} differs from a fresh export")
            else:
                data = export_bytes(module, keep_bn)
                with open(path, "wb") as f:
                    f.write(data)
            worst = max(worst, check(path, data, module, images))
        print()
    print(f"largest |logit difference| of any file against torch: {worst:.3g}")


if __name__ == "__main__":
    main()
