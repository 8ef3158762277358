#!/usr/bin/python3
"""Regenerate docs/results-models.md: tinyq's graph PTQ on the models of models/.

Per model (lenet, resnet8, dscnn), all on the 10,000 CIFAR-10 test images:

* float: tinyq's float graph (tq_graph_run_f32 of the .onnx file) against
  PyTorch's module on the committed weights: accuracy of each, identical
  predictions, largest |logit difference|;
* int8, integer-only (tq_graph_run_s8): calibrated on the first 400 images
  of data_batch_1.bin (tinyq's and torch_ptq_models.py's rule) with the
  default tq_quant_config and with each of the six activation range methods
  (everything else default); accuracy with tinyq's rule (argmax of the last
  layer's int32 accumulators) and with the first maximum of the int8 logits,
  agreement with tinyq's float predictions;
* PyTorch's FX post-training quantization on the same calibration images
  (models/torch_ptq/<model>.npz, written by models/torch_ptq_models.py) side
  by side, with the paired test of examples/cifar10/compare_ptq.py: both
  predicting with the first maximum of their int8 logits, on how many images
  tinyq is right and PyTorch wrong and the reverse, exact two-sided sign test;
* arena bytes of a batch-1 run against the sum of all activation tensors;
* time per image through the Python binding (one thread), batch 1 and 100.

Nothing here looks at the test labels to choose anything.

Usage (scripts/results-models wraps this: builds the library, sets TINYQ_LIBRARY):
    nice /usr/bin/python3 models/results_models.py [--torch] [--out FILE]
--torch first re-runs models/torch_ptq_models.py for each model (about 10
minutes each on the shared machine); without it the committed npz files are
read.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

sys.dont_write_bytecode = True

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(MODELS_DIR)
CIFAR_DIR = os.path.join(REPO_ROOT, "examples", "cifar10")
sys.path.insert(0, MODELS_DIR)
sys.path.insert(0, CIFAR_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "python"))
if "TINYQ_LIBRARY" not in os.environ:
    os.environ["TINYQ_LIBRARY"] = os.path.join(REPO_ROOT, "build", "x", "libtinyq.so")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import export_onnx  # noqa: E402
import tinyq  # noqa: E402
from compare_ptq import sign_test_p  # noqa: E402
from tinyq import QuantConfig, RangeMethod  # noqa: E402
from torch_ptq import CALIB_FILE  # noqa: E402
from train import TEST_FILE, data_dir, fail_data, normalise, read_batches  # noqa: E402

MODELS = [
    ("lenet", "LeNet (the lab's, no bias)", os.path.join(MODELS_DIR, "lenet", "lenet.onnx")),
    ("resnet8", "ResNet-8", os.path.join(MODELS_DIR, "resnet8", "resnet8.onnx")),
    ("dscnn", "DS-CNN", os.path.join(MODELS_DIR, "dscnn", "dscnn.onnx")),
]
TORCH_CONFIGS = ["qnnpack", "qnnpack-pc", "onednn", "onednn-rr"]
CALIB = 400
CALIB_BATCH = 100
EVAL_BATCH = 500
OUT = os.path.join(REPO_ROOT, "docs", "results-models.md")


def pct(n, d):
    return 100.0 * n / d


def run_batched(g, x, **kw):
    outs = [g.run(x[s : s + EVAL_BATCH], **kw) for s in range(0, len(x), EVAL_BATCH)]
    if isinstance(outs[0], tuple):
        return tuple(np.concatenate(o) for o in zip(*outs))
    return np.concatenate(outs)


def time_per_image(g, x, batch, images):
    """Median of 3 passes over `images` inputs, microseconds per image."""
    x = x[:images]
    g.run(x[:batch])  # untimed first call
    samples = []
    for _ in range(3):
        t = time.perf_counter()
        for s in range(0, len(x), batch):
            g.run(x[s : s + batch])
        samples.append((time.perf_counter() - t) / len(x) * 1e6)
    return sorted(samples)[1]


def activation_bytes(g):
    """Sum of the bytes of every activation of one sample: the graph input and
    every node's output, except Reshape/Identity outputs (views of their
    input); tensors that the load-time rewrites fused away are not counted."""
    tensors = g.tensors
    size = {1: 4, 2: 1, 3: 4, 4: 2, 5: 8}
    ids = [g.input.id] + [n.output for n in g.nodes if n.op not in (tinyq.Op.RESHAPE, tinyq.Op.IDENTITY)]
    return sum(int(np.prod(tensors[i].shape)) * size[int(tensors[i].dtype)] for i in ids)


def configs():
    yield "default", QuantConfig()
    for m in RangeMethod:
        yield m.name.lower(), QuantConfig(activation=m)


def evaluate(name, title, path, test_x, labels, calib_batches, lines):
    n = len(labels)
    module, _, _, _, _ = export_onnx.load(name)
    with torch.no_grad():
        torch_logits = np.concatenate(
            [module(torch.from_numpy(test_x[s : s + EVAL_BATCH])).numpy() for s in range(0, n, EVAL_BATCH)]
        )
    g = tinyq.Graph.from_onnx(path)
    f_logits = run_batched(g, test_x)
    f_pred = f_logits.argmax(1)
    t_pred = torch_logits.argmax(1)
    f_acc = pct(int((f_pred == labels).sum()), n)
    t_acc = pct(int((t_pred == labels).sum()), n)
    diff = float(np.abs(f_logits - torch_logits).max())
    logit_range = float(torch_logits.max() - torch_logits.min())
    same = int((f_pred == t_pred).sum())
    print(f"{name}: float tinyq {f_acc:.2f} %, torch {t_acc:.2f} %", file=sys.stderr, flush=True)

    lines += [f"## {title} (`{os.path.relpath(path, REPO_ROOT)}`)", ""]
    lines += [
        "| float | accuracy | identical predictions | max \\|logit difference\\| (logit range) |",
        "|---|---:|---:|---:|",
        f"| tinyq (`tq_graph_run_f32`) | {f_acc:.2f} % | {same} / {n} | {diff:.2g} ({logit_range:.3g}) |",
        f"| PyTorch (`{type(module).__name__}`) | {t_acc:.2f} % | | |",
        "",
    ]

    results = {}
    q_default = None
    done = {}
    for cname, cfg in configs():
        same = [k for k, c in done.items() if c == cfg]
        if same:  # minmax is the default: the same quantized graph
            results[cname] = results[same[0]]
            continue
        done[cname] = cfg
        q = g.calibrate(calib_batches, cfg)
        codes, acc = run_batched(q, test_x, accumulators=True)
        p32 = acc.argmax(1)
        p8 = codes.argmax(1)
        results[cname] = (
            pct(int((p32 == labels).sum()), n),
            pct(int((p8 == labels).sum()), n),
            pct(int((p32 == f_pred).sum()), n),
            p8 == labels,
        )
        if cname == "default":
            q_default = q
        print(f"  {cname}: int8 {results[cname][0]:.2f} %", file=sys.stderr, flush=True)

    lines += [
        f"int8, integer-only, calibrated on images 0..{CALIB - 1} of `{CALIB_FILE}`; "
        "`default` is `tq_quant_config_init()`, the others change only the activation range method:",
        "",
        "| configuration | int8 accuracy (int32 argmax) | delta vs float pp | int8 accuracy (first max of int8 logits) "
        "| agreement with float |",
        "|---|---:|---:|---:|---:|",
    ]
    for cname, (a32, a8, agree, _) in results.items():
        lines.append(f"| {cname} | {a32:.2f} % | {a32 - f_acc:+.2f} | {a8:.2f} % | {agree:.2f} % |")
    d = results["default"][0] - f_acc
    lines += [
        "",
        f"Target \"int8 within 0.5 pp of float with the default configuration\": "
        f"{d:+.2f} pp, **{'met' if abs(d) <= 0.5 or d > 0 else 'missed'}**.",
        "",
    ]

    npz_path = os.path.join(MODELS_DIR, "torch_ptq", f"{name}.npz")
    if os.path.isfile(npz_path):
        z = np.load(npz_path)
        if not np.array_equal(z["labels"], labels):
            sys.exit(f"error: {npz_path} was made on other test labels")
        tz_float = pct(int((z["float_pred"] == labels).sum()), n)
        lines += [
            f"PyTorch FX PTQ on the same calibration images (`{os.path.relpath(npz_path, REPO_ROOT)}`, "
            f"float {tz_float:.2f} %), paired with tinyq's default, both predicting with the first "
            "maximum of their int8 logits (`examples/cifar10/compare_ptq.py`'s test):",
            "",
            "| PyTorch configuration | PyTorch int8 | tinyq default int8 | tinyq right, PyTorch wrong "
            "| PyTorch right, tinyq wrong | sign-test p |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        ours = results["default"][3]
        for c in TORCH_CONFIGS:
            key = c.replace("-", "_")
            theirs = z[f"{key}_pred"] == labels
            wins = int((ours & ~theirs).sum())
            losses = int((~ours & theirs).sum())
            lines.append(
                f"| {c} | {pct(int(theirs.sum()), n):.2f} % | {results['default'][1]:.2f} % | {wins} | {losses} "
                f"| {sign_test_p(wins, losses):.2g} |"
            )
        lines.append("")
    else:
        lines += [f"(no `{os.path.relpath(npz_path, REPO_ROOT)}`: run `models/torch_ptq_models.py` first)", ""]

    xb = test_x[:1000]
    tf1, tf100 = time_per_image(g, xb, 1, 200), time_per_image(g, xb, 100, 1000)
    tq1, tq100 = time_per_image(q_default, xb, 1, 200), time_per_image(q_default, xb, 100, 1000)
    lines += [
        "| graph | arena, batch 1 (`tq_graph_arena_size`) | sum of all activation tensors | us/image batch 1 "
        "| us/image batch 100 |",
        "|---|---:|---:|---:|---:|",
        f"| float | {g.arena_size(1):,} | {activation_bytes(g):,} | {tf1:.0f} | {tf100:.0f} |",
        f"| int8 (default) | {q_default.arena_size(1):,} | {activation_bytes(q_default):,} | {tq1:.0f} | {tq100:.0f} |",
        "",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", action="store_true", help="re-run models/torch_ptq_models.py first")
    parser.add_argument("--out", default=OUT, help="output file (default docs/results-models.md)")
    parser.add_argument("--models", nargs="*", default=[m[0] for m in MODELS], help="subset of lenet resnet8 dscnn")
    args = parser.parse_args()
    torch.set_num_threads(1)
    directory = data_dir()
    missing = [f for f in (CALIB_FILE, TEST_FILE) if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        fail_data(directory, f"CIFAR-10 data not found (missing: {', '.join(missing)})")
    if args.torch:
        for name in args.models:
            with open(os.path.join(MODELS_DIR, "torch_ptq", f"{name}.log"), "w") as log:
                subprocess.run(
                    [sys.executable, os.path.join(MODELS_DIR, "torch_ptq_models.py"), "--models"]
                    + ([name, "lenet_bias"] if name == "lenet" else [name]) + [
                     "--json", os.path.join(MODELS_DIR, "torch_ptq", f"{name}.json")],
                    check=True, stdout=log,
                )
    test_u8, labels = read_batches(directory, [TEST_FILE])
    calib_u8, _ = read_batches(directory, [CALIB_FILE])
    test_x = np.ascontiguousarray(normalise(torch.from_numpy(test_u8)).numpy())
    calib_x = normalise(torch.from_numpy(calib_u8[:CALIB])).numpy()
    calib_batches = [calib_x[s : s + CALIB_BATCH] for s in range(0, CALIB, CALIB_BATCH)]
    labels = np.asarray(labels)

    lines = [
        "# tinyq's graph PTQ on the models of `models/`",
        "",
        "Generated by `scripts/results-models` (add `--torch` to re-run PyTorch's PTQ "
        "first); do not edit by hand.",
        f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, one thread, shared 2-core machine (times are indicative).",
        "",
        "All accuracies on the 10,000 CIFAR-10 test images; inputs `(pixel / 255 - 0.5) / 0.5`, NCHW.",
        "Times are through the Python binding (`tinyq.Graph.run`, one ctypes call per batch).",
        "",
    ]
    for name, title, path in MODELS:
        if name in args.models:
            evaluate(name, title, path, test_x, labels, calib_batches, lines)
    with open(args.out, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
