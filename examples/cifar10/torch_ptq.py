#!/usr/bin/python3
"""PyTorch's own eager-mode int8 post-training quantisation of the CIFAR-10 LeNet.

A reference point for tinyq's ptq: the same float model, the same calibration
images (the first N of data_batch_1.bin) and the same 10,000 test images, put
through torch.ao.quantization's static PTQ (fuse conv/linear + ReLU, default
qconfig of the engine, HistogramObserver activations) for each quantised
engine, reporting accuracy, agreement with the float predictions and speed.

Usage:
    /usr/bin/python3 examples/cifar10/torch_ptq.py [--model FILE] [--calib N]
        [--calib-first K] [--calib-batch N] [--engines E ...] [--json FILE]

Data: the official CIFAR-10 binary files in $TINYQ_DATA_DIR/cifar10
(default for TINYQ_DATA_DIR: <repo root>/../shared/data).
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import time
import warnings

# train.py and safetensors_io.py are imported from beside this script; do not
# leave a __pycache__ directory in the source tree behind when doing so.
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.ao.quantization as tq  # noqa: E402
import torch.nn as nn  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import safetensors_io  # noqa: E402
from train import TEST_FILE, LeNet, data_dir, fail_data, normalise, read_batches  # noqa: E402

CALIB_FILE = "data_batch_1.bin"  # tinyq's ptq calibrates on its first N images
KNOWN_ENGINES = ("qnnpack", "onednn", "fbgemm")
EVAL_BATCH = 1000  # as in train.py; only affects memory, not the results


class QuantLeNet(LeNet):
    """LeNet with the extra modules eager-mode quantisation needs.

    Subclassing keeps the parameter names (conv1.weight, ...) identical to
    LeNet's, so the same safetensors file loads into both.  Eager mode only
    quantises what is a module, hence the stubs marking where tensors enter
    and leave the int8 domain, and ReLUs as modules so that fuse_modules can
    fold each into the preceding conv/linear (one int8 op that clamps its
    output, instead of requantising a tensor that is half zeros).
    """

    def __init__(self, bias):
        super().__init__(bias)
        self.quant = tq.QuantStub()
        self.dequant = tq.DeQuantStub()
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()
        self.relu4 = nn.ReLU()

    def forward(self, x):
        x = self.quant(x)
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.pool(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)  # NCHW order, the layout fc1 was trained on
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.dequant(self.fc3(x))


FUSE_GROUPS = [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"], ["fc2", "relu4"]]


def load_state(path):
    """Return (state_dict of torch tensors, bias flag, metadata) from a safetensors file."""
    tensors, metadata = safetensors_io.load(path)
    # The file carries no architecture switch we must trust: the presence of
    # bias tensors decides, and load_state_dict(strict=True) rejects a file
    # that has only some of them or any tensor of the wrong shape.
    bias = any(name.endswith(".bias") for name in tensors)
    state = {name: torch.from_numpy(array) for name, array in tensors.items()}
    return state, bias, metadata


def build(model_class, state, bias, path):
    model = model_class(bias)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        sys.exit(f"error: {path} does not hold a LeNet (bias={str(bias).lower()}): {e}")
    return model.eval()


def logits_of(model, inputs):
    """The model's outputs (as floats) for already-normalised inputs, in batches."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), EVAL_BATCH):
            outputs.append(model(inputs[start : start + EVAL_BATCH]).numpy())
    return np.concatenate(outputs)


def predict(model, inputs):
    """Class predictions for already-normalised inputs: numpy's argmax, which
    is documented to return the first maximum (the lowest class index)."""
    return np.argmax(logits_of(model, inputs), axis=1)


def tie_report(logits, labels):
    """Images whose top logit is shared by several classes, and the expected
    number of correct predictions if such ties were broken uniformly at
    random (an image tied between t classes, its label among them, counts
    1/t).  The int8 model's dequantised logits take only 256 distinct values,
    so ties are common, and breaking every one of them toward the lowest
    index moves accuracy by tenths of a point either way; tinyq avoids them
    by taking the argmax of the last layer's int32 accumulators."""
    top = logits.max(axis=1, keepdims=True)
    at_top = logits == top
    tied = at_top.sum(axis=1)
    label_at_top = at_top[np.arange(len(labels)), labels]
    expected = float((label_at_top / tied).sum())
    return int((tied > 1).sum()), expected


def time_per_image(model, inputs, batch, runs, clock=time.perf_counter):
    """Median over `runs` passes through `inputs` of the time per image, in
    microseconds, as measured by `clock` (wall time by default;
    models/torch_ptq_models.py passes time.process_time)."""
    batches = [inputs[s : s + batch] for s in range(0, len(inputs), batch)]
    with torch.no_grad():
        # One untimed pass: the first call of a shape pays for one-off work
        # (oneDNN primitive creation, qnnpack weight packing, allocations).
        for b in batches:
            model(b)
        samples = []
        for _ in range(runs):
            started = clock()
            for b in batches:
                model(b)
            samples.append((clock() - started) / len(inputs) * 1e6)
    return statistics.median(samples)


def describe_observer(factory, show_range=False):
    """One-line summary of an observer factory from a qconfig, e.g. for the
    report: its class, dtype and scheme, then its reduce_range flag, or with
    `show_range` its [quant_min, quant_max]."""
    observer = factory()
    scheme = str(observer.qscheme).replace("torch.", "")
    dtype = str(observer.dtype).replace("torch.", "")
    head = f"{type(observer).__name__} {dtype} {scheme}"
    if show_range:
        return f"{head} [{observer.quant_min}, {observer.quant_max}]"
    return f"{head} reduce_range={observer.reduce_range}"


def quantise(engine, state, bias, path, calib_inputs, calib_batch):
    """Eager-mode static PTQ of the model for `engine`; returns (int8 model, qconfig)."""
    # The default qconfig differs per engine (qnnpack: per-tensor weights;
    # onednn/fbgemm: per-channel; fbgemm: 7-bit activations), and the global
    # engine decides whose kernels convert() packs the weights for, so it has
    # to be set before the model is prepared.
    torch.backends.quantized.engine = engine
    model = build(QuantLeNet, state, bias, path)
    model = tq.fuse_modules(model, FUSE_GROUPS)
    qconfig = tq.get_default_qconfig(engine)
    model.qconfig = qconfig
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        for start in range(0, len(calib_inputs), calib_batch):
            model(calib_inputs[start : start + calib_batch])
    tq.convert(model, inplace=True)
    return model, qconfig  # convert() strips model.qconfig


def percent(part, whole):
    return 100.0 * part / whole


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=os.path.join(SCRIPT_DIR, "lenet.safetensors"),
        help="float model (default: lenet.safetensors beside this script)",
    )
    parser.add_argument(
        "--calib", type=int, default=400, help=f"calibrate on the first N images of {CALIB_FILE} (default 400)"
    )
    parser.add_argument(
        "--calib-first",
        type=int,
        default=0,
        metavar="K",
        help="calibrate on images K..K+N-1 instead (as ptq --calib-first; default 0)",
    )
    parser.add_argument(
        "--calib-batch",
        type=int,
        default=0,
        help="calibration batch size (default 0: all N images in one batch)",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=KNOWN_ENGINES,
        default=["qnnpack", "onednn"],
        metavar="ENGINE",
        help=f"quantised engines to try, of {', '.join(KNOWN_ENGINES)} (default: qnnpack onednn)",
    )
    parser.add_argument("--timing-images", type=int, default=640, help="images per timing pass (default 640)")
    parser.add_argument("--timing-runs", type=int, default=5, help="timed passes; the median is reported (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    args = parser.parse_args()
    if not 1 <= args.calib <= 10000 or args.calib_first < 0 or args.calib_first + args.calib > 10000:
        parser.error("--calib-first + --calib must be between 1 and 10000 (the images of one batch file)")
    if args.calib_batch < 0 or args.timing_images < 64 or args.timing_runs < 1:
        parser.error("--calib-batch must be >= 0, --timing-images >= 64, --timing-runs >= 1")
    calib_batch = args.calib_batch or args.calib

    command = shlex.join([sys.executable] + sys.argv)
    print(f"$ {command}\n", flush=True)

    # 1.13's observers warn on construction that reduce_range "will be
    # deprecated" whenever it is set, which fbgemm's default qconfig does.
    # That is about a future API, not about this run's numbers, so it is
    # noise here; every other warning (e.g. an observer that never saw data)
    # is still shown.  qnnpack and onednn raise no warnings at all.
    warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")

    # One thread: reproducible summation order and timings that compare with
    # tinyq's single-threaded kernels.
    torch.set_num_threads(1)

    directory = data_dir()
    missing = [n for n in (CALIB_FILE, TEST_FILE) if not os.path.isfile(os.path.join(directory, n))]
    if missing:
        fail_data(directory, f"CIFAR-10 data not found (missing: {', '.join(missing)})")
    calib_u8, _ = read_batches(directory, [CALIB_FILE])
    test_u8, test_labels = read_batches(directory, [TEST_FILE])
    calib_inputs = normalise(torch.from_numpy(calib_u8[args.calib_first : args.calib_first + args.calib]))
    test_inputs = normalise(torch.from_numpy(test_u8))
    timing_inputs = test_inputs[: args.timing_images]

    state, bias, metadata = load_state(args.model)
    float_model = build(LeNet, state, bias, args.model)
    float_pred = predict(float_model, test_inputs)
    float_correct = int((float_pred == test_labels).sum())
    float_acc = percent(float_correct, len(test_labels))

    # The quantisable copy must compute exactly what LeNet computes before
    # any observer is attached; a slip in its forward() would otherwise show
    # up as a quantisation error.
    fused_float = tq.fuse_modules(build(QuantLeNet, state, bias, args.model), FUSE_GROUPS)
    if not np.array_equal(predict(fused_float, test_inputs), float_pred):
        sys.exit("error: the fused float QuantLeNet disagrees with LeNet")

    supported = torch.backends.quantized.supported_engines
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"supported quantized engines: {', '.join(e for e in supported if e != 'none')}"
    )
    print(
        f"model {args.model} (bias={str(bias).lower()}"
        + (f", trained test accuracy {metadata['test_accuracy']} %" if "test_accuracy" in metadata else "")
        + ")"
    )
    print(
        f"calibration: images {args.calib_first}..{args.calib_first + args.calib - 1} of {CALIB_FILE} "
        f"in batches of {calib_batch}; "
        f"test: {len(test_labels)} images of {TEST_FILE}; data {directory}"
    )
    print(f"float accuracy: {float_acc:.2f} % ({float_correct}/{len(test_labels)})\n", flush=True)

    float_timing = {
        "us_per_image_batch_1": time_per_image(float_model, timing_inputs, 1, args.timing_runs),
        "us_per_image_batch_64": time_per_image(float_model, timing_inputs, 64, args.timing_runs),
    }

    results = []
    for engine in args.engines:
        if engine not in supported:
            results.append({"engine": engine, "available": False})
            continue
        int8_model, qconfig = quantise(engine, state, bias, args.model, calib_inputs, calib_batch)
        # Evaluation and timing run with the engine still selected, as the
        # packed weights belong to its kernels.
        int8_logits = logits_of(int8_model, test_inputs)
        int8_pred = np.argmax(int8_logits, axis=1)
        int8_correct = int((int8_pred == test_labels).sum())
        ties, expected_correct = tie_report(int8_logits, test_labels)
        int8_acc = percent(int8_correct, len(test_labels))
        results.append(
            {
                "engine": engine,
                "available": True,
                "activation_observer": describe_observer(qconfig.activation),
                "weight_observer": describe_observer(qconfig.weight),
                "int8_correct": int8_correct,
                "int8_accuracy": int8_acc,
                "delta_pp": percent(int8_correct - float_correct, len(test_labels)),
                "agreement": percent(int((int8_pred == float_pred).sum()), len(float_pred)),
                "tied_images": ties,
                "tie_free_accuracy": 100.0 * expected_correct / len(test_labels),
                "us_per_image_batch_1": time_per_image(int8_model, timing_inputs, 1, args.timing_runs),
                "us_per_image_batch_64": time_per_image(int8_model, timing_inputs, 64, args.timing_runs),
            }
        )

    print(
        "| engine | float acc | int8 acc | delta pp | agreement | tied top logits | acc, ties at random "
        "| int8 us/img batch 1 | int8 us/img batch 64 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if not r["available"]:
            print(f"| {r['engine']} | {float_acc:.2f} % | unavailable | - | - | - | - | - | - |")
            continue
        print(
            f"| {r['engine']} | {float_acc:.2f} % | {r['int8_accuracy']:.2f} % | {r['delta_pp']:+.2f} "
            f"| {r['agreement']:.2f} % | {percent(r['tied_images'], len(test_labels)):.2f} % "
            f"| {r['tie_free_accuracy']:.2f} % "
            f"| {r['us_per_image_batch_1']:.1f} | {r['us_per_image_batch_64']:.1f} |"
        )
    print(
        "\n(tied top logits: images whose int8 logits share their maximum; numpy's argmax gives them the "
        "lowest class index. 'ties at random': the expected accuracy when each tie is broken uniformly.)"
    )
    print(
        f"\nfloat model: {float_timing['us_per_image_batch_1']:.1f} us/img at batch 1, "
        f"{float_timing['us_per_image_batch_64']:.1f} us/img at batch 64 "
        f"(median of {args.timing_runs} passes over {args.timing_images} test images, 1 thread)"
    )
    for r in results:
        if r["available"]:
            print(f"{r['engine']}: activations {r['activation_observer']}; weights {r['weight_observer']}")
        else:
            print(f"{r['engine']}: not in torch.backends.quantized.supported_engines of this build")

    if args.json:
        report = {
            "command": command,
            "torch_version": torch.__version__,
            "model": args.model,
            "bias": bias,
            "calib_images": args.calib,
            "calib_first": args.calib_first,
            "calib_batch": calib_batch,
            "test_images": len(test_labels),
            "float_correct": float_correct,
            "float_accuracy": float_acc,
            "float_timing": float_timing,
            "timing_images": args.timing_images,
            "timing_runs": args.timing_runs,
            "engines": results,
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
