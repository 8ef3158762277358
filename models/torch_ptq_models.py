#!/usr/bin/python3
"""PyTorch's own int8 post-training static quantisation of tinyq's test models.

The reference that tinyq's graph PTQ is measured against (issue 10, item 8):
each model (resnet8, dscnn, lenet, lenet_bias) is loaded from its committed
float weights, put through torch.ao.quantization's FX-graph-mode static PTQ
(prepare_fx: conv+BN(+ReLU) and linear(+ReLU) fused, observers inserted;
calibration; convert_fx), and evaluated on the 10,000 CIFAR-10 test images.
FX mode handles the residual adds and the reshape without editing the model;
for LeNet, examples/cifar10/torch_ptq.py does the same with eager mode.

Calibration set: the first N (default 400) images of data_batch_1.bin, fed
as one batch -- the same images, chosen by the same rule, as tinyq's ptq
(examples/cifar10/ptq.c) and torch_ptq.py.

Configurations (per model):
  qnnpack      the engine's default qconfig: HistogramObserver quint8
               activations, per-tensor symmetric qint8 weights
  qnnpack-pc   default_per_channel_symmetric_qnnpack_qconfig: qint8
               activations (HistogramObserver), per-channel symmetric weights
               in [-127, 127] -- the TFLite int8 scheme -- for the convs;
               the fully connected layers get the per-tensor variant
               (default_symmetric_qnnpack_qconfig), as the XNNPACK int8
               linear of PyTorch 1.13 rejects per-channel weights
  onednn       the engine's default qconfig: HistogramObserver quint8
               activations, per-channel symmetric qint8 weights
  onednn-rr    as onednn but 7-bit activations (reduce_range=True), what
               fbgemm uses on CPUs without VNNI, where the u8 x s8 pair sums
               of AVX2 (vpmaddubsw) can saturate int16

Reported: float and int8 accuracy, agreement of int8 with float predictions,
images whose int8 logits tie at the top, float and int8 time per image at
batch 1 and 64 (one thread).  The int8 output codes (uint8/int8 with the
output scale and zero point), the predictions and the labels are saved per
model to <out>/<model>.npz, so that a paired sign test against tinyq (as in
examples/cifar10/compare_ptq.py) can be run later:
  labels, float_pred                   [10000] uint8 each
  <cfg>_codes, <cfg>_scale, <cfg>_zero_point, <cfg>_pred

Usage:
    nice /usr/bin/python3 models/torch_ptq_models.py [--models M ...]
        [--configs C ...] [--calib N] [--out DIR] [--json FILE]
        > models/torch_ptq_models.log

Data: the official CIFAR-10 binary files in $TINYQ_DATA_DIR/cifar10
(default for TINYQ_DATA_DIR: <repo root>/../shared/data).
"""

import argparse
import copy
import json
import os
import shlex
import statistics
import sys
import time
import warnings

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.ao.quantization as tq  # noqa: E402
from torch.ao.quantization import QConfigMapping  # noqa: E402
from torch.ao.quantization.backend_config import get_native_backend_config, get_qnnpack_backend_config  # noqa: E402
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(MODELS_DIR)
sys.path.insert(0, MODELS_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "examples", "cifar10"))
from export_onnx import NAMES, load  # noqa: E402
from torch_ptq import CALIB_FILE, logits_of, tie_report  # noqa: E402
from train import TEST_FILE, data_dir, fail_data, normalise, read_batches  # noqa: E402

def _onednn_reduce_range():
    base = tq.get_default_qconfig("onednn")
    return tq.QConfig(activation=tq.HistogramObserver.with_args(reduce_range=True), weight=base.weight)


CONFIGS = {
    # name: (engine, global qconfig factory, qconfig for nn.Linear or None, backend config factory)
    "qnnpack": ("qnnpack", lambda: tq.get_default_qconfig("qnnpack"), None, get_qnnpack_backend_config),
    "qnnpack-pc": (
        "qnnpack",
        lambda: tq.default_per_channel_symmetric_qnnpack_qconfig,
        lambda: tq.default_symmetric_qnnpack_qconfig,
        get_qnnpack_backend_config,
    ),
    "onednn": ("onednn", lambda: tq.get_default_qconfig("onednn"), None, get_native_backend_config),
    "onednn-rr": ("onednn", _onednn_reduce_range, None, get_native_backend_config),
}


def time_per_image(model, inputs, batch, runs):
    """Median over `runs` passes through `inputs` of the time per image in
    microseconds, as CPU time of this (single-threaded) process: on the
    shared project machine the wall time mostly measures the other jobs.
    As torch_ptq.py's, after one untimed pass (weight packing, allocation)."""
    batches = [inputs[s : s + batch] for s in range(0, len(inputs), batch)]
    with torch.no_grad():
        for b in batches:
            model(b)
        samples = []
        for _ in range(runs):
            started = time.process_time()
            for b in batches:
                model(b)
            samples.append((time.process_time() - started) / len(inputs) * 1e6)
    return statistics.median(samples)


def describe_observer(factory):
    observer = factory()
    scheme = str(observer.qscheme).replace("torch.", "")
    dtype = str(observer.dtype).replace("torch.", "")
    return f"{type(observer).__name__} {dtype} {scheme} [{observer.quant_min}, {observer.quant_max}]"


def strip_final_dequantize(gm):
    """Make a converted GraphModule return its quantised output tensor, so that
    the int8 codes, scale and zero point of the logits can be read."""
    for node in gm.graph.nodes:
        if node.op == "output":
            arg = node.args[0]
            if isinstance(arg, torch.fx.Node) and arg.op == "call_method" and arg.target == "dequantize":
                node.args = (arg.args[0],)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def quantise(cfg, float_model, calib_inputs):
    engine, qconfig_factory, linear_factory, backend_factory = CONFIGS[cfg]
    torch.backends.quantized.engine = engine
    qconfig = qconfig_factory()
    mapping = QConfigMapping().set_global(qconfig)
    if linear_factory:
        # By module name, not set_object_type(nn.Linear): a type-wide entry
        # would have to be repeated for ReLU, which then also clashes with
        # the conv+ReLU fusions.
        for module_name, module in float_model.named_modules():
            if isinstance(module, torch.nn.Linear):
                mapping.set_module_name(module_name, linear_factory())
    model = prepare_fx(
        copy.deepcopy(float_model).eval(), mapping, (calib_inputs[:1],), backend_config=backend_factory()
    )
    with torch.no_grad():
        model(calib_inputs)
    return convert_fx(model, backend_config=backend_factory()), qconfig


def quantised_ops(gm):
    """Sorted distinct module types and functions left in the converted graph."""
    kinds = set()
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module":
            m = modules[node.target]
            kind = f"{type(m).__module__.replace('torch.ao.nn.', '').replace('torch.nn.', '')}.{type(m).__name__}"
            if callable(getattr(m, "weight", None)):  # quantised conv/linear: say how the weights are
                kind += f"[{str(m.weight().qscheme()).replace('torch.', '')}]"
            kinds.add(kind)
        elif node.op in ("call_function", "call_method"):
            kinds.add(getattr(node.target, "__name__", str(node.target)))
    return sorted(kinds)


def pct(part, whole):
    return 100.0 * part / whole


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=NAMES, default=NAMES, metavar="M")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), metavar="C")
    parser.add_argument("--calib", type=int, default=400, help=f"first N images of {CALIB_FILE} (default 400)")
    parser.add_argument("--timing-images", type=int, default=256, help="images per timing pass (default 256)")
    parser.add_argument("--timing-runs", type=int, default=3, help="timed passes, median reported (default 3)")
    parser.add_argument("--out", default=os.path.join(MODELS_DIR, "torch_ptq"), help="folder for <model>.npz")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    args = parser.parse_args()
    if not 1 <= args.calib <= 10000 or args.timing_images < 64 or args.timing_runs < 1:
        parser.error("--calib must be 1..10000, --timing-images >= 64, --timing-runs >= 1")

    command = shlex.join([sys.executable] + sys.argv)
    print(f"$ {command}\n", flush=True)
    # prepare_fx in 1.13 warns that passing a backend_config and the
    # reduce_range deprecation notice; neither is about this run's numbers.
    warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
    warnings.filterwarnings("ignore", message=".*must specify the `example_inputs`.*")
    torch.set_num_threads(1)  # reproducible sums; timings comparable to tinyq's one thread
    torch.manual_seed(0)

    directory = data_dir()
    missing = [n for n in (CALIB_FILE, TEST_FILE) if not os.path.isfile(os.path.join(directory, n))]
    if missing:
        fail_data(directory, f"CIFAR-10 data not found (missing: {', '.join(missing)})")
    calib_u8, _ = read_batches(directory, [CALIB_FILE])
    test_u8, labels = read_batches(directory, [TEST_FILE])
    calib_inputs = normalise(torch.from_numpy(calib_u8[: args.calib]))
    test_inputs = normalise(torch.from_numpy(test_u8))
    timing_inputs = test_inputs[: args.timing_images]
    n = len(labels)
    print(
        f"torch {torch.__version__}, 1 thread, quantized engines {torch.backends.quantized.supported_engines}; "
        f"calibration: images 0..{args.calib - 1} of {CALIB_FILE} in one batch; test: {n} images of {TEST_FILE}"
    )
    for cfg in args.configs:
        engine, qf, lf, _ = CONFIGS[cfg]
        q = qf()
        print(f"{cfg} (engine {engine}): activations {describe_observer(q.activation)}; "
              f"weights {describe_observer(q.weight)}"
              + (f"; nn.Linear weights {describe_observer(lf().weight)}" if lf else ""))
    print(flush=True)

    os.makedirs(args.out, exist_ok=True)
    rows, report = [], {"command": command, "torch_version": torch.__version__, "calib_images": args.calib,
                        "test_images": n, "models": {}}
    for name in args.models:
        float_model, weights, _, _, metadata = load(name)
        float_logits = logits_of(float_model, test_inputs)
        float_pred = np.argmax(float_logits, axis=1)
        float_correct = int((float_pred == labels).sum())
        # Float logits are left out (400 kB a model, incompressible); the
        # committed float weights reproduce them.
        saved = {"labels": labels.astype(np.uint8), "float_pred": float_pred.astype(np.uint8)}
        torch.backends.quantized.engine = "qnnpack"
        entry = {
            "weights": os.path.relpath(weights, REPO_ROOT),
            "float_correct": float_correct,
            "float_accuracy": pct(float_correct, n),
            "float_us_per_image_batch_1": time_per_image(float_model, timing_inputs, 1, args.timing_runs),
            "float_us_per_image_batch_64": time_per_image(float_model, timing_inputs, 64, args.timing_runs),
            "configs": {},
        }
        print(f"== {name} ({entry['weights']}): float accuracy {entry['float_accuracy']:.2f} % "
              f"({float_correct}/{n}); float {entry['float_us_per_image_batch_1']:.1f} CPU us/img at batch 1, "
              f"{entry['float_us_per_image_batch_64']:.1f} us/img at batch 64", flush=True)
        for cfg in args.configs:
            try:
                int8_model, _ = quantise(cfg, float_model, calib_inputs)
                q_model = strip_final_dequantize(copy.deepcopy(int8_model))
                with torch.no_grad():
                    outs = [q_model(test_inputs[s : s + 1000]) for s in range(0, n, 1000)]
            except (RuntimeError, NotImplementedError, AssertionError) as e:
                print(f"  {cfg}: FAILED: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
                entry["configs"][cfg] = {"failed": str(e).splitlines()[0]}
                rows.append((name, cfg, None))
                continue
            if not all(o.is_quantized for o in outs):
                sys.exit(f"error: {name} {cfg}: the converted model's output is not a quantised tensor")
            scale, zp = outs[0].q_scale(), outs[0].q_zero_point()
            if any(o.q_scale() != scale or o.q_zero_point() != zp for o in outs):
                sys.exit(f"error: {name} {cfg}: output quantisation parameters differ between batches")
            codes = np.concatenate([o.int_repr().numpy() for o in outs])
            int8_logits = (codes.astype(np.float32) - zp) * np.float32(scale)
            with torch.no_grad():  # the model as converted (final dequantize kept) agrees
                check = logits_of(int8_model, test_inputs[:1000])
            if not np.array_equal(np.argmax(check, 1), np.argmax(int8_logits[:1000], 1)):
                sys.exit(f"error: {name} {cfg}: stripped and converted int8 models disagree")
            int8_pred = np.argmax(int8_logits, axis=1)
            int8_correct = int((int8_pred == labels).sum())
            ties, expected = tie_report(int8_logits, labels)
            r = {
                "int8_correct": int8_correct,
                "int8_accuracy": pct(int8_correct, n),
                "delta_pp": pct(int8_correct - float_correct, n),
                "agreement": pct(int((int8_pred == float_pred).sum()), n),
                "tied_images": ties,
                "tie_free_accuracy": pct(expected, n),
                "output_scale": scale,
                "output_zero_point": zp,
                "us_per_image_batch_1": time_per_image(int8_model, timing_inputs, 1, args.timing_runs),
                "us_per_image_batch_64": time_per_image(int8_model, timing_inputs, 64, args.timing_runs),
                "quantised_ops": quantised_ops(int8_model),
            }
            entry["configs"][cfg] = r
            key = cfg.replace("-", "_")
            saved[f"{key}_codes"] = codes
            saved[f"{key}_scale"] = np.float64(scale)
            saved[f"{key}_zero_point"] = np.int64(zp)
            saved[f"{key}_pred"] = int8_pred.astype(np.uint8)
            rows.append((name, cfg, r))
            print(f"  {cfg}: int8 {r['int8_accuracy']:.2f} % ({r['delta_pp']:+.2f} pp), agreement "
                  f"{r['agreement']:.2f} %, {ties} tied; {r['us_per_image_batch_1']:.1f} / "
                  f"{r['us_per_image_batch_64']:.1f} CPU us/img at batch 1 / 64", flush=True)
            print(f"    ops after convert_fx: {', '.join(r['quantised_ops'])}", flush=True)
        path = os.path.join(args.out, f"{name}.npz")
        np.savez_compressed(path, **saved)
        print(f"  wrote {os.path.relpath(path, REPO_ROOT)}\n", flush=True)
        report["models"][name] = entry

    print("| model | config | float acc | int8 acc | delta pp | agreement | tied top | acc, ties at random "
          "| float CPU us/img b1 | b64 | int8 CPU us/img b1 | b64 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, cfg, r in rows:
        e = report["models"][name]
        head = (f"| {name} | {cfg} | {e['float_accuracy']:.2f} % ")
        if r is None:
            print(head + "| failed | - | - | - | - | - | - | - | - |")
            continue
        print(head + f"| {r['int8_accuracy']:.2f} % | {r['delta_pp']:+.2f} | {r['agreement']:.2f} % "
              f"| {pct(r['tied_images'], n):.2f} % | {r['tie_free_accuracy']:.2f} % "
              f"| {e['float_us_per_image_batch_1']:.1f} | {e['float_us_per_image_batch_64']:.1f} "
              f"| {r['us_per_image_batch_1']:.1f} | {r['us_per_image_batch_64']:.1f} |")
    print(f"\n(times: CPU time per image of this one-threaded process, median of {args.timing_runs} passes "
          f"over {args.timing_images} test images, on a machine shared with other jobs; 'tied top': images whose int8 logits share their maximum, "
          "which numpy's argmax gives to the lowest class index)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
