#!/usr/bin/python3
"""PyTorch float and int8 times of tinyq's test models (ResNet-8, DS-CNN).

The peer rows of bench/graph_s8_bench --models --torch, which runs this
script (or run it alone). Each model is built from its committed float
weights (models/export_onnx.load, the weights the ONNX files were exported
from) and quantized with PyTorch's FX-graph-mode static PTQ exactly as
models/torch_ptq_models.py does it (conv+BN(+ReLU) fused; calibrated on the
first N images of data_batch_1.bin, default 400, in one batch), with each
engine's default qconfig:

  onednn   the oneDNN (x86) int8 engine (Debian's torch has no fbgemm)
  qnnpack  the QNNPACK engine

Timing: one thread; per-image CPU time of this process (time.process_time,
as models/torch_ptq_models.py: on the shared machine the wall time mostly
measures the other jobs) of batch 1 (64 single-image calls) and batch 64
(one call), after an untimed pass; passes repeat for about --seconds
seconds of CPU time (at least 3) and the fastest pass is reported, as
graph_s8_bench does for tinyq.

Output: human-readable lines, plus one machine line per measurement:
    TORCH <model> <float|onednn|qnnpack> <batch> <microseconds per image>

Usage: /usr/bin/python3 bench/torch_graph_bench.py [--models M ...]
           [--calib N] [--seconds S]
Data: $TINYQ_DATA_DIR/cifar10 (default <repo>/../shared/data/cifar10).
"""

import argparse
import os
import sys
import time
import warnings

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "models"))

import torch  # noqa: E402
from torch_ptq_models import (CALIB_FILE, data_dir, fail_data, load,  # noqa: E402
                              normalise, quantise, read_batches)

ENGINES = ("onednn", "qnnpack")


def fastest_us_per_image(model, inputs, batch, seconds):
    """Fastest pass over `inputs` in batches of `batch`, in microseconds of
    CPU time per image."""
    chunks = [inputs[s : s + batch] for s in range(0, len(inputs), batch)]
    best, passes = float("inf"), 0
    with torch.no_grad():
        for c in chunks:  # untimed: weight packing, allocation
            model(c)
        start = time.process_time()
        while passes < 3 or time.process_time() - start < seconds:
            t0 = time.process_time()
            for c in chunks:
                model(c)
            best = min(best, (time.process_time() - t0) / len(inputs) * 1e6)
            passes += 1
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet8", "dscnn"], choices=["resnet8", "dscnn"])
    parser.add_argument("--calib", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    directory = data_dir()
    if not os.path.isfile(os.path.join(directory, CALIB_FILE)):
        fail_data(directory, f"CIFAR-10 data not found (missing: {CALIB_FILE})")
    images, _ = read_batches(directory, [CALIB_FILE])
    calib = normalise(torch.from_numpy(images[: args.calib]))
    timing = calib[:64]
    print(f"torch {torch.__version__}, 1 thread, engines {torch.backends.quantized.supported_engines}; "
          f"FX static PTQ calibrated on images 0..{args.calib - 1} of {CALIB_FILE}; fastest pass, process CPU time",
          flush=True)
    for name in args.models:
        float_model = load(name)[0]
        models = [("float", float_model)]
        for engine in ENGINES:
            if engine in torch.backends.quantized.supported_engines:
                models.append((engine, quantise(engine, float_model, calib)[0]))
        for label, model in models:
            if label != "float":
                torch.backends.quantized.engine = label
            for batch in (1, 64):
                us = fastest_us_per_image(model, timing, batch, args.seconds)
                print(f"  {name} {label:8s} batch {batch:2d}: {us:9.1f} us/image", flush=True)
                print(f"TORCH {name} {label} {batch} {us:.3f}", flush=True)


if __name__ == "__main__":
    main()
