#!/usr/bin/python3
"""tinyq's post-training quantisation against PyTorch's, over several calibration draws.

One calibration set of 400 images gives one int8 network per tool, and two
int8 networks that differ on a hundred or two test images differ in accuracy
by a few tenths of a point for no reason but which images those are.  This
script repeats the comparison on D disjoint calibration sets (images
k*N .. k*N+N-1 of data_batch_1.bin for k < D) and reports, per draw and as
mean and standard deviation:

* tinyq: the whole `ptq` pipeline (range method chosen on the calibration
  images, integer-only inference), accuracy with tinyq's prediction rule
  (argmax of the last layer's int32 accumulators) and with the two rules a
  tool that only has int8 logits can use: the first maximum (numpy's and
  PyTorch's argmax) and the expected accuracy with ties broken at random;
* PyTorch (torch_ptq.py's eager-mode static PTQ, per engine): the same two
  int8-logit rules;
* a paired test per draw and pooled, both tools predicting with the same
  rule (first maximum of the int8 logits): on how many test images tinyq is
  right and PyTorch wrong and the reverse, with the exact two-sided sign
  test (McNemar) p-value for "the two are equally accurate".

Nothing here looks at the test labels to choose anything.

Usage:
    /usr/bin/python3 examples/cifar10/compare_ptq.py [--ptq BIN] [--model FILE]
        [--draws D] [--calib N] [--engines E ...]
(scripts/demo builds BIN, by default build/demo/examples/cifar10/ptq.)
"""

import argparse
import fractions
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import warnings

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(SCRIPT_DIR))
sys.path.insert(0, SCRIPT_DIR)
from torch_ptq import CALIB_FILE, LeNet, build, load_state, logits_of, quantise, tie_report  # noqa: E402
from train import TEST_FILE, data_dir, fail_data, normalise, read_batches  # noqa: E402

# The three rows of ptq's "Prediction rules" table, in order.
RULE_ROW = re.compile(r"^\| argmax of .* \| ([0-9.]+) % \|$")


def sign_test_p(wins, losses):
    """Exact two-sided p-value of `wins` against `losses` under p = 1/2."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    # Exact rational, then one rounding: 2.0**n overflows a double past n = 1023.
    return min(1.0, float(fractions.Fraction(2 * tail, 2**n)))


def run_tinyq(ptq, model, calib, first, workdir):
    """One ptq run; returns (int8 logits, [int32 rule, first max, random ties] accuracies)."""
    logits_path = os.path.join(workdir, f"tinyq_{first}.logits")
    command = [
        ptq, "--model", model, "--calib", str(calib), "--calib-first", str(first),
        "--logits", logits_path, "--save", os.path.join(workdir, "lenet_s8.safetensors"),
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rules = [float(m.group(1)) for m in map(RULE_ROW.match, out.splitlines()) if m]
    if len(rules) != 3:
        sys.exit(f"error: no prediction-rule table in the output of {shlex.join(command)}")
    return np.fromfile(logits_path, dtype=np.int8).reshape(-1, 10), rules


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ptq", default=os.path.join(ROOT, "build", "demo", "examples", "cifar10", "ptq"))
    parser.add_argument("--model", default=os.path.join(SCRIPT_DIR, "lenet.safetensors"))
    parser.add_argument("--draws", type=int, default=5, help="disjoint calibration sets (default 5)")
    parser.add_argument("--calib", type=int, default=400, help="images per calibration set (default 400)")
    parser.add_argument("--engines", nargs="+", default=["qnnpack", "onednn"])
    args = parser.parse_args()
    if args.draws < 1 or args.calib < 1 or args.draws * args.calib > 10000:
        parser.error("--draws x --calib must be between 1 and 10000 (one batch file)")
    if not os.access(args.ptq, os.X_OK):
        sys.exit(f"error: {args.ptq} is not built; run scripts/demo once (or pass --ptq)")
    print(f"$ {shlex.join([sys.executable] + sys.argv)}\n", flush=True)

    warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
    torch.set_num_threads(1)
    directory = data_dir()
    if not all(os.path.isfile(os.path.join(directory, n)) for n in (CALIB_FILE, TEST_FILE)):
        fail_data(directory, "CIFAR-10 data not found")
    calib_u8, _ = read_batches(directory, [CALIB_FILE])
    test_u8, labels = read_batches(directory, [TEST_FILE])
    test_inputs = normalise(torch.from_numpy(test_u8))
    state, bias, _ = load_state(args.model)
    float_acc = 100.0 * float((np.argmax(logits_of(build(LeNet, state, bias, args.model), test_inputs), 1) == labels).mean())
    print(f"model {args.model}: float accuracy {float_acc:.2f} %; {args.draws} calibration draws of "
          f"{args.calib} images from {CALIB_FILE}; {len(labels)} test images\n")

    tools = ["tinyq"] + [f"PyTorch {e}" for e in args.engines]
    # accuracy[tool][rule] = list over draws; rule 0 = int32 accumulators
    # (tinyq only), 1 = first maximum of the int8 logits, 2 = random ties.
    accuracy = {t: [[], [], []] for t in tools}
    pooled = {e: [0, 0] for e in args.engines}
    print("| draw | calibration images | tool | int32 argmax | int8 argmax, first max | int8 argmax, ties at random "
          "| tinyq right, this wrong | this right, tinyq wrong | sign-test p |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for d in range(args.draws):
            first = d * args.calib
            span = f"{first}..{first + args.calib - 1}"
            tinyq_logits, rules = run_tinyq(args.ptq, args.model, args.calib, first, workdir)
            tinyq_right = np.argmax(tinyq_logits, axis=1) == labels
            for r in range(3):
                accuracy["tinyq"][r].append(rules[r])
            print(f"| {d} | {span} | tinyq | {rules[0]:.2f} % | {rules[1]:.2f} % | {rules[2]:.2f} % | | | |")
            calib = normalise(torch.from_numpy(calib_u8[first : first + args.calib]))
            for engine in args.engines:
                model, _ = quantise(engine, state, bias, args.model, calib, args.calib)
                logits = logits_of(model, test_inputs)
                theirs = np.argmax(logits, axis=1)
                first_max = 100.0 * float((theirs == labels).mean())
                _, expected = tie_report(logits, labels)
                at_random = 100.0 * expected / len(labels)
                accuracy[f"PyTorch {engine}"][1].append(first_max)
                accuracy[f"PyTorch {engine}"][2].append(at_random)
                wins = int((tinyq_right & (theirs != labels)).sum())
                losses = int((~tinyq_right & (theirs == labels)).sum())
                pooled[engine][0] += wins
                pooled[engine][1] += losses
                print(f"| {d} | {span} | PyTorch {engine} | - | {first_max:.2f} % | {at_random:.2f} % "
                      f"| {wins} | {losses} | {sign_test_p(wins, losses):.2f} |", flush=True)

    def summary(values):
        if not values:
            return "-"
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2f} ± {sd:.2f} %"

    print(f"\nMean ± standard deviation over the {args.draws} draws (float {float_acc:.2f} %):\n")
    print("| tool | int32 argmax | int8 argmax, first max | int8 argmax, ties at random |")
    print("|---|---:|---:|---:|")
    for t in tools:
        print(f"| {t} | {summary(accuracy[t][0])} | {summary(accuracy[t][1])} | {summary(accuracy[t][2])} |")
    print("\nPaired over all draws (both predicting with the first maximum of their int8 logits):\n")
    for engine, (wins, losses) in pooled.items():
        print(f"- PyTorch {engine}: tinyq right and PyTorch wrong on {wins} image-draws, the reverse on "
              f"{losses}; sign-test p = {sign_test_p(wins, losses):.2f}")


if __name__ == "__main__":
    main()
