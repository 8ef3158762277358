#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The post-training quantization lab on CIFAR-10 in Python, through tinyq.

The same procedure as the C demo (examples/cifar10/ptq.c), so it prints the
same tables and the same accuracies:

  Stage 1  weight statistics; weights-only fake quantization (min/max,
           abs-max, 3-sigma; per tensor and per channel) and its accuracy
  Stage 2  activation statistics on the calibration images; for each of the
           six range methods, the graph calibrated, quantized and run
           integer-only, and its accuracy (the class is the argmax of the
           output layer's int32 accumulators); the method agreeing best with
           float on the calibration images is chosen, saved as a tinyq model
           file and reloaded.

The network is a tinyq graph (tq.GraphBuilder, built from train.py's
weights exactly as ptq.c builds it); calibration, quantization, the float
and integer runs and the model file all go through the graph API
(Graph.calibrate, Graph.run, Graph.save, Graph.load), in batches: each
output element is computed exactly as for a single image, so the numbers
are the C demo's. Only --plots still runs the float layers one by one, for
the activation histograms.

Usage:
    /usr/bin/python3 examples/python/ptq_lenet.py [--model FILE] [--calib N]
        [--calib-spread] [--quick] [--predictions FILE] [--save FILE]
        [--plots DIR]

--quick evaluates every fifth test image (2000), as the C demo's --quick.
--predictions writes the chosen int8 network's class of every evaluated test
image, one byte each (tests compare it with the C demo's). --plots saves the
lab's "distribution of weights" and "distribution of activations" histograms
as PNG files (needs matplotlib). The data comes from $TINYQ_DATA_DIR/cifar10
(default: ../shared/data beside this checkout). The library is found as
`import tinyq` finds it: set TINYQ_LIBRARY to build/libtinyq.so.
"""

import argparse
import importlib.util
import math
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
try:
    import tinyq as tq
except ModuleNotFoundError:  # not installed: use the package of this tree
    sys.path.insert(0, os.path.join(REPO, "python"))
    import tinyq as tq

# name, is_conv, out, in, kernel, followed by ReLU (and, for convs, a pool)
LAYERS = [("conv1", True, 6, 3, 5, True), ("conv2", True, 16, 6, 5, True),
          ("fc1", False, 120, 400, 1, True), ("fc2", False, 84, 120, 1, True),
          ("fc3", False, 10, 84, 1, False)]
TENSORS = ["input", "pool1", "pool2", "fc1", "fc2", "logits"]
HIST_BINS = 2048
BATCH = 2000  # images per kernel call; bounds memory, not the results
METHOD_NAMES = ["min/max", "abs-max", "3-sigma", "percentile 99.99", "MSE",
                "KL (entropy)"]
R = tq.RangeMethod


# ---- the model ----------------------------------------------------------------

class Model:
    """The float LeNet in tinyq layouts: conv weights OHWI, fc1's columns
    permuted from PyTorch's (c, h, w) flatten order to NHWC's (h, w, c)."""

    def __init__(self, w, b):
        self.w, self.b = w, b
        self.has_bias = b[0] is not None

    @classmethod
    def load(cls, path):
        w, b = [], []
        with tq.io.SafetensorsFile(path) as f:
            has_bias = "conv1.bias" in f
            for name, is_conv, out, cin, k, _ in LAYERS:
                t = f[f"{name}.weight"]
                want = (out, cin, k, k) if is_conv else (out, cin)
                if t.shape != want or t.dtype != np.float32:
                    raise tq.ShapeError("load", f"{name}.weight is "
                                        f"{t.dtype} {t.shape}, want {want}")
                if is_conv:
                    t = tq.oihw_to_ohwi(t)
                elif name == "fc1":
                    t = tq.nchw_to_nhwc(t.reshape(120, 16, 5, 5)) \
                        .reshape(120, 400)
                w.append(t)
                b.append(f[f"{name}.bias"] if has_bias else None)
        return cls(w, b)

    def copy(self):
        return Model([w.copy() for w in self.w],
                     [None if b is None else b.copy() for b in self.b])

    def matrix(self, l):
        """Layer l's weights as [out][rest], channel axis 0 (a view)."""
        return self.w[l].reshape(LAYERS[l][2], -1)

    def forward(self, x):
        """The float forward pass of a batch of NHWC images: every
        activation tensor, each as [images][values]."""
        acts = [x]
        for l in range(2):
            x = tq.f32.conv2d_relu_maxpool2(x, self.w[l], self.b[l],
                                            act="relu")
            acts.append(x)
        x = x.reshape(x.shape[0], -1)
        for l in range(2, 5):
            x = tq.f32.fully_connected(x, self.w[l], self.b[l],
                                       act="relu" if LAYERS[l][5] else "none")
            acts.append(x)
        return [a.reshape(a.shape[0], -1) for a in acts]


def lenet_graph(model):
    """The float LeNet as a tinyq graph, built as the C demo builds it
    (examples/cifar10/ptq.c, build_lenet()): the same node and tensor
    names, so the two save byte-identical model files."""
    b = tq.GraphBuilder()
    x = b.input((1, 32, 32, 3), name="input")
    for l, (name, is_conv, _, _, _, relu) in enumerate(LAYERS):
        ins = [x, b.constant(model.w[l], name=f"{name}.weight")]
        if model.has_bias:
            ins.append(b.constant(model.b[l], name=f"{name}.bias"))
        x = b.node("CONV2D" if is_conv else "FULLY_CONNECTED", ins, name=name,
                   act="relu" if relu else "none")
        if is_conv:
            x = b.node("MAX_POOL", [x], name=f"pool{l + 1}", kernel=2,
                       pool_stride=2)
    b.output(x)
    return b.finalize()


def quantize_graph(graph, calib, method, statistics=None):
    """tq_graph_quantize() of ``graph`` calibrated as the C demo does: the
    activation range ``method`` (abs-max with a symmetric scheme), abs-max
    weights per output channel, batches of 100 calibration images."""
    config = tq.QuantConfig(
        activation=tq.RangeConfig(method, k=3.0, percentile=99.99),
        activation_scheme=tq.QScheme(8, method == R.ABSMAX),
        weight=tq.RangeConfig(R.MINMAX, k=3.0, percentile=99.99))
    calib = np.asarray(calib, np.float32).reshape(-1, 32, 32, 3)
    return graph.calibrate([calib[i:i + 100] for i in range(0, len(calib), 100)],
                           config, layout="NHWC", statistics=statistics)


def batches(n):
    return [(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]


def logit_ties(logits):
    """Whether each image's top int8 logit is shared by several classes."""
    return (logits == logits.max(axis=1, keepdims=True)).sum(axis=1) > 1


def predict_f32(graph, images):
    """argmax of the float graph's logits, lowest index on ties (as
    torch.argmax)."""
    return np.concatenate([
        np.argmax(graph.run(images[i:j], layout="NHWC").reshape(j - i, -1),
                  axis=1) for i, j in batches(len(images))]).astype(np.uint8)


def predict_s8(qgraph, images):
    """Integer-only run of a quantized graph (the input quantized once):
    the classes (argmax of the output layer's int32 accumulators, lowest
    index on ties) and the int8 logits."""
    preds, logits = [], []
    for i, j in batches(len(images)):
        y, acc = qgraph.run(images[i:j], layout="NHWC", accumulators=True)
        preds.append(np.argmax(acc.reshape(j - i, -1), axis=1))
        logits.append(y.reshape(j - i, -1))
    return np.concatenate(preds).astype(np.uint8), np.concatenate(logits)


def activations(graph):
    """The activations worth a row, as the C demo lists them: the input,
    then every node's output with its own storage (no Reshape alias)."""
    ids = [graph.input.id]
    for node in graph.nodes:
        if node.op not in (tq.Op.RESHAPE, tq.Op.IDENTITY):
            ids.append(node.output)
    return ids


def tensor_label(graph, tid):
    return "logits" if tid == graph.output.id else graph.tensor(tid).name


# ---- weight quantization ---------------------------------------------------

def weight_qparams(model, l, method, symmetric, per_channel):
    """Per channel (along the output channels) or per tensor parameters of
    layer l's weights: 8 bits, narrow range when symmetric."""
    scheme = tq.QScheme(8, symmetric, narrow_range=symmetric)
    config = tq.RangeConfig(method, k=3.0, percentile=0.0)
    return tq.calibrate(model.matrix(l), scheme, config,
                        axis=0 if per_channel else None)


def fake_quant_weights(model, method, symmetric, per_channel):
    """Stage 1: the weights replaced by their fake-quantized values."""
    fq = model.copy()
    for l in range(len(LAYERS)):
        w = fq.matrix(l)
        tq.fake_quant(w, weight_qparams(fq, l, method, symmetric,
                                        per_channel), out=w)
    return fq


class Calibration:
    """The float network's activations on the calibration images: their
    statistics and a 2048-bin histogram over each tensor's [min, max]."""

    def __init__(self, model, images):
        acts = model.forward(images)
        self.acts = acts
        self.stats = [tq.Stats(a) for a in acts]
        self.hist = []
        for a, s in zip(acts, self.stats):
            hi = s.max if s.max > s.min else s.min + 1.0
            self.hist.append(tq.Histogram(s.min, hi, HIST_BINS).add(a))


# ---- printing -------------------------------------------------------------------

def stats_header(what):
    print(f"| {what:<8} | {'n':>7} | {'min':>9} | {'max':>9} | {'mean':>9} "
          f"| {'sigma':>9} | {'3-sigma range':>21} |")
    print("|----------|---------|-----------|-----------|-----------|"
          "-----------|-----------------------|")


def stats_row(name, s):
    lo, hi = s.ksigma_range(3.0)
    print(f"| {name:<8} | {s.count:7d} | {s.min:9.4f} | {s.max:9.4f} | "
          f"{s.mean:9.5f} | {s.std():9.5f} | [{lo:9.4f}, {hi:8.4f}] |")


def pct(correct, n):
    return 100.0 * correct / n


# ---- memory ------------------------------------------------------------------------

def memory_table(model, f32_file, s8_file, graph=None, qgraph=None):
    weights = sum(w.size for w in model.w)
    # One multiplier and shift per weight scale: per output channel, the
    # output layer per tensor (as the quantized graph has them).
    if qgraph is not None:
        channels = sum(len(qgraph.tensor(node.inputs[1]).scale)
                       for node in qgraph.nodes if len(node.inputs) > 1)
    else:
        channels = sum(layer[2] for layer in LAYERS[:-1]) + 1
    biases = sum(LAYERS[l][2] for l in range(5)) if model.has_bias else 0
    f32_bytes = (weights + biases) * 4
    s8_bytes = weights + biases * 4 + channels * 5 + 6 + 5 * 2 + 4
    print("\n## Memory\n")
    print("| what | f32 | int8 | ratio |\n|---|---:|---:|---:|")
    print(f"| weights ({weights} values) | {weights * 4} B | {weights} B | "
          f"{4.0:.2f}x |")
    print(f"| everything inference needs: weights"
          f"{' + biases' if biases else ''} + quantization parameters "
          f"({channels} channels) | {f32_bytes} B | {s8_bytes} B | "
          f"{f32_bytes / s8_bytes:.2f}x |")
    if s8_file:
        ff, fs = os.path.getsize(f32_file), os.path.getsize(s8_file)
        print(f"| model file (float: as given; int8: tinyq-graph-v1 "
              f"safetensors with its graph JSON and float scales) | {ff} B | "
              f"{fs} B | {ff / fs:.2f}x |")
    if qgraph is not None:
        pf, p8 = graph.arena_size(1), qgraph.arena_size(1)
        print(f"| arena of one forward pass (planned activations + scratch) | "
              f"{pf} B | {p8} B | {pf / p8:.2f}x |")


def plot_histograms(directory, kind, entries):
    """One PNG per tensor and one overview: the histogram, min / max and
    mean ± 3σ lines. ``entries``: (name, Stats, counts, edges, log_y)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draw(ax, name, s, counts, edges, log_y):
        ax.stairs(counts, edges, fill=True, color="#4c72b0", alpha=0.85,
                  label="count")
        lo, hi = s.ksigma_range(3.0)
        ax.axvline(s.min, color="#c44e52", lw=1.5, label="min / max")
        ax.axvline(s.max, color="#c44e52", lw=1.5)
        ax.axvline(lo, color="#dd8452", lw=1.5, ls="--", label="mean ± 3σ")
        ax.axvline(hi, color="#dd8452", lw=1.5, ls="--")
        ax.axvline(s.mean, color="0.4", lw=1, ls=":", label="mean")
        if log_y:
            ax.set_yscale("log")
        ax.set_title(f"{name}: n = {s.count}, σ = {s.std():.4g}\n"
                     f"[min, max] = [{s.min:.4g}, {s.max:.4g}], "
                     f"3σ = [{lo:.4g}, {hi:.4g}]", fontsize=9)
        ax.set_xlabel("value")
        ax.set_ylabel("count (log scale)" if log_y else "count")
        ax.grid(alpha=0.3)

    title = f"Distribution of {kind}"
    os.makedirs(directory, exist_ok=True)
    for name, s, counts, edges, log_y in entries:
        fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
        draw(ax, name, s, counts, edges, log_y)
        ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
        fig.suptitle(f"{title}: {name}")
        fig.savefig(os.path.join(directory, f"{kind}_{name}.png"), dpi=110)
        plt.close(fig)
    cols = 3
    rows = -(-len(entries) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(15, 4.2 * rows),
                             layout="constrained")
    for ax, entry in zip(axes.flat, entries):
        draw(ax, *entry)
    for ax in list(axes.flat)[len(entries):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=9, ncols=4)
    fig.suptitle(f"{title} (LeNet, CIFAR-10)", x=0.3)
    fig.savefig(os.path.join(directory, f"{kind}.png"), dpi=90)
    plt.close(fig)
    print(f"\nSaved the {kind} histograms to {directory}/{kind}*.png")


def weight_plot_entries(model):
    entries = []
    for l, layer in enumerate(LAYERS):
        w = model.w[l]
        s = tq.Stats(w)
        nbins = min(120, max(30, int(2 * math.sqrt(w.size))))
        h = tq.Histogram(s.min, s.max, nbins).add(w)
        entries.append((layer[0], s, h.bins, h.edges, False))
    return entries


def activation_plot_entries(calib, merge=16):
    """The calibration histograms, 2048 bins merged by 16 for the eye; the
    ReLU outputs pile up at 0, so theirs get a log count axis."""
    entries = []
    for t, name in enumerate(TENSORS):
        h = calib.hist[t]
        counts = h.bins.reshape(-1, merge).sum(axis=1)
        entries.append((name, calib.stats[t], counts, h.edges[::merge],
                        0 < t < 5))
    return entries


# ---- the lab ---------------------------------------------------------------------------

def load_calibration(opts):
    d = os.path.join(opts.data_dir, "cifar10")
    if not opts.calib_spread:
        return tq.io.load_cifar10(os.path.join(d, "data_batch_1.bin"), 0,
                                  opts.calib)
    images, labels = [], []
    for i in range(opts.calib):
        index = i * 50000 // opts.calib
        path = os.path.join(d, f"data_batch_{index // 10000 + 1}.bin")
        x, y = tq.io.load_cifar10(path, index % 10000, 1)
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def parse_options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.path.join(
        REPO, "examples", "cifar10", "lenet.safetensors"))
    p.add_argument("--calib", type=int, default=400,
                   help="calibration images (default 400)")
    p.add_argument("--calib-spread", action="store_true",
                   help="spread them over all five training batches")
    p.add_argument("--quick", action="store_true",
                   help="every fifth test image (2000)")
    p.add_argument("--predictions", metavar="FILE",
                   help="write the chosen int8 network's classes")
    p.add_argument("--save", metavar="FILE",
                   help="save the chosen int8 model and check its reload")
    p.add_argument("--plots", metavar="DIR",
                   help="save weight and activation histograms as PNG")
    opts = p.parse_args(argv)
    if not 1 <= opts.calib <= 50000:
        p.error("--calib must be in [1, 50000]")
    if opts.plots and importlib.util.find_spec("matplotlib") is None:
        p.error("--plots needs matplotlib (Debian: python3-matplotlib)")
    opts.data_dir = os.environ.get("TINYQ_DATA_DIR") or os.path.join(
        REPO, "..", "shared", "data")
    return opts


def main(argv=None):
    opts = parse_options(argv)
    print("# tinyq post-training quantization lab: LeNet on CIFAR-10 "
          "(Python)\n")
    print(f"tinyq {tq.version()}, kernel path {tq.kernel_path()}; "
          f"model {opts.model}")
    model = Model.load(opts.model)
    graph = lenet_graph(model)
    print(f"model: conv1-conv2-fc1-fc2-fc3, 61770 weights"
          f"{' plus 236 biases' if model.has_bias else ', no biases'}")

    # ---- Stage 1: weight statistics ----
    print("\n## Stage 1: weight statistics (population sigma)\n")
    stats_header("layer")
    everything = tq.Stats()
    for l, layer in enumerate(LAYERS):
        s = tq.Stats(model.w[l])
        stats_row(layer[0], s)
        everything.merge(s)
    stats_row("model", everything)
    if opts.plots:
        plot_histograms(opts.plots, "weights", weight_plot_entries(model))

    test_path = os.path.join(opts.data_dir, "cifar10", "test_batch.bin")
    if not os.access(test_path, os.R_OK):
        memory_table(model, opts.model, None)
        print(f"\nCIFAR-10 not found: {test_path} is missing.\n"
              "Get the official binary version (cifar-10-binary.tar.gz from "
              "the\nCIFAR-10 page of the University of Toronto) and point\n"
              "TINYQ_DATA_DIR at the folder that holds cifar10/.")
        return 0

    # ---- test set and float baseline ----
    test, labels = tq.io.load_cifar10(test_path, 0, 10000)
    if opts.quick:
        # The test file is sorted by class: keep every fifth image.
        test, labels = np.ascontiguousarray(test[::5]), labels[::5].copy()
    n = len(labels)
    t0 = time.perf_counter()
    float_pred = predict_f32(graph, test)
    f32_seconds = time.perf_counter() - t0
    float_acc = pct(np.count_nonzero(float_pred == labels), n)
    print("\n## Float baseline\n")
    print(f"CIFAR-10 (JPEG-decoded copy), {n} test images: float accuracy "
          f"{float_acc:.2f} %")

    # ---- Stage 1: weights only, fake-quantized ----
    print("\n## Stage 1: weights only (fake-quantized int8, activations "
          "float)\n")
    print("| weight range | granularity | accuracy | vs float | agreement "
          "with float |")
    print("|---|---|---:|---:|---:|")
    for method, symmetric, label in [
            (R.MINMAX, False, "min/max (asymmetric)"),
            (R.ABSMAX, True, "[-max, max] (abs-max, symmetric)"),
            (R.KSIGMA, True, "3-sigma (symmetric)")]:
        for per_channel in (False, True):
            pred = predict_f32(lenet_graph(fake_quant_weights(
                model, method, symmetric, per_channel)), test)
            acc = pct(np.count_nonzero(pred == labels), n)
            agree = pct(np.count_nonzero(pred == float_pred), n)
            print(f"| {label} | "
                  f"{'per channel' if per_channel else 'per tensor'} | "
                  f"{acc:.2f} % | {acc - float_acc:+.2f} pp | {agree:.2f} % |")

    # ---- Stage 2: calibration ----
    calib_images, calib_labels = load_calibration(opts)
    calib_float = predict_f32(graph, calib_images)
    stats = {}
    quantize_graph(graph, calib_images, R.MINMAX, statistics=stats)
    acts = activations(graph)
    where = ("spread over all five training batches" if opts.calib_spread
             else "the first images of data_batch_1")
    print(f"\n## Stage 2: activation statistics on {opts.calib} calibration "
          f"images ({where})\n")
    stats_header("tensor")
    for tid in acts:
        stats_row(tensor_label(graph, tid), stats[tid])
    if opts.plots:
        plot_histograms(opts.plots, "activations",
                        activation_plot_entries(Calibration(model,
                                                            calib_images)))

    # ---- Stage 2: integer-only inference per range method ----
    print("\nWeights: int8 symmetric [-127, 127], abs-max, per output channel "
          "(fc3 per tensor, so that its int32 accumulators share one scale)."
          "\nActivations: int8 asymmetric per tensor (abs-max: symmetric). "
          "Prediction: argmax of fc3's int32 accumulators.\n")
    print("| activation range |" +
          "".join(f" {tensor_label(graph, t)} |" for t in acts[1:]) +
          " calibration-set agreement | int8 accuracy | vs float | agreement "
          "| int8-logit ties |")
    print("|---|" + "---|" * (len(acts) - 1) + "---:|---:|---:|---:|---:|")
    best_agree, best_method = -1, R.MINMAX
    for method in R:
        q = quantize_graph(graph, calib_images, method)
        calib_pred, _ = predict_s8(q, calib_images)
        pred, logits = predict_s8(q, test)
        ties = logit_ties(logits)
        c_agree = np.count_nonzero(calib_pred == calib_float)
        acc = pct(np.count_nonzero(pred == labels), n)
        cells = []
        for tid in acts[1:]:
            # float arithmetic, as the C demo prints it
            info = q.tensor(tid)
            s, z = np.float32(info.scale[0]), int(info.zero_point[0])
            lo = float(s * np.float32(-128 - z))
            hi = float(s * np.float32(127 - z))
            cells.append(f" {lo:.2f}..{hi:.2f} |")
        print(f"| {METHOD_NAMES[method]} |" + "".join(cells) +
              f" {pct(c_agree, len(calib_float)):.2f} % | {acc:.2f} % | "
              f"{acc - float_acc:+.2f} pp | "
              f"{pct(np.count_nonzero(pred == float_pred), n):.2f} % | "
              f"{pct(np.count_nonzero(ties), n):.2f} % |")
        # Chosen without looking at the test set.
        if c_agree > best_agree:
            best_agree, best_method = c_agree, method

    # ---- the chosen model ----
    qgraph = quantize_graph(graph, calib_images, best_method)
    t0 = time.perf_counter()
    chosen, logits = predict_s8(qgraph, test)
    s8_seconds = time.perf_counter() - t0
    line = (f"\nChosen activation range (best agreement with float on the "
            f"calibration images): {METHOD_NAMES[best_method]}, test accuracy "
            f"{pct(np.count_nonzero(chosen == labels), n):.2f} %.")
    identical = n
    if opts.save:
        # The model file is the graph's (tinyq-graph-v1, tq_graph_save()).
        qgraph.save(opts.save)
        reloaded, _ = predict_s8(tq.Graph.load(opts.save), test)
        identical = int(np.count_nonzero(reloaded == chosen))
        line += (f" Saved to {opts.save} and reloaded: {identical} of {n} "
                 "predictions identical.")
    print(line)
    # The rules a tool with only int8 logits can use, as the C demo prints.
    ties = logit_ties(logits)
    first_max = np.argmax(logits, axis=1) == labels
    at_top = logits == logits.max(axis=1, keepdims=True)
    random_ties = (at_top[np.arange(n), labels] / at_top.sum(axis=1)).sum()
    print(f"\nPrediction rules on the chosen network "
          f"({pct(np.count_nonzero(ties), n):.2f} % of images have a tied top "
          f"int8 logit):\n\n| prediction rule | int8 accuracy |\n|---|---:|")
    print(f"| argmax of fc3's int32 accumulators (tinyq's rule) | "
          f"{pct(np.count_nonzero(chosen == labels), n):.2f} % |")
    print(f"| argmax of the int8 logits, first maximum (numpy, PyTorch) | "
          f"{pct(np.count_nonzero(first_max), n):.2f} % |")
    print(f"| argmax of the int8 logits, ties broken at random (expected) | "
          f"{pct(random_ties, n):.2f} % |")
    if opts.predictions:
        with open(opts.predictions, "wb") as f:
            f.write(chosen.tobytes())

    memory_table(model, opts.model, opts.save, graph, qgraph)
    print(f"\n## Time per image (batches of {BATCH} through ctypes, kernel "
          f"path {tq.kernel_path()}; informative)\n")
    print(f"f32: {1e6 * f32_seconds / n:.1f} us   int8 (incl. quantizing the "
          f"input): {1e6 * s8_seconds / n:.1f} us")
    return 0 if identical == n else 1


if __name__ == "__main__":
    sys.exit(main())
