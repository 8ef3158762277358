#!/usr/bin/python3
"""Train one of tinyq's CIFAR-10 test models (resnet8 or dscnn) and save it.

Reproducible recipe: fixed seeds (torch.manual_seed for initialisation, a
numpy RandomState for the shuffle order and the augmentation), a fixed
thread count, torch.use_deterministic_algorithms.  Augmentation, written
here with numpy (torchvision is not needed): a random 32x32 crop of the image
zero-padded by 4 pixels on every side, and a horizontal flip with
probability 1/2.  Optimiser: SGD, Nesterov momentum 0.9, weight decay 5e-4
(on conv/linear weights only), OneCycle learning rate over all steps.

The final model (after the last epoch; nothing is chosen on the test set)
is written as <out>/<model>.safetensors with its recipe and float test
accuracy in the metadata.  Every line printed here is the training log.

Usage:
    nice /usr/bin/python3 models/train_model.py resnet8 [--epochs N] [--seed N] [--out DIR]
        > models/resnet8/train.log 2>&1

Data: the official CIFAR-10 binary files in $TINYQ_DATA_DIR/cifar10
(default for TINYQ_DATA_DIR: <repo root>/../shared/data).
"""

import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(MODELS_DIR)
sys.path.insert(0, MODELS_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "examples", "cifar10"))
import nets  # noqa: E402
import safetensors_io  # noqa: E402
from train import TEST_FILE, TRAIN_FILES, data_dir, fail_data, normalise, read_batches  # noqa: E402

# Per-model defaults: epochs chosen so that one training fits in the 15-minute
# CPU budget (BUDGET_SECONDS): 9 epochs took 709 s (resnet8) and 886 s (dscnn).
DEFAULTS = {
    "resnet8": {"epochs": 9, "batch": 128, "max_lr": 0.2},
    "dscnn": {"epochs": 9, "batch": 128, "max_lr": 0.2},
}
WEIGHT_DECAY = 5e-4
MOMENTUM = 0.9
PAD = 4
THREADS = 1  # measured: under contention 2 OpenMP threads ran 4x slower than 1
EVAL_BATCH = 1000
# The budget is counted in CPU seconds of this process (time.process_time),
# which with one thread is the wall time on an otherwise idle machine.  The
# project machine is shared by several jobs at once, so wall time there is
# 2-4x longer and varies from run to run; it is logged as well.
BUDGET_SECONDS = 15 * 60


def augment(padded, index, rng):
    """Random crops and flips of the images `index` of the zero-padded set.

    padded: uint8 [N, 3, 32 + 2*PAD, 32 + 2*PAD].  One gather does both: the
    crop picks rows oy..oy+31 and columns ox..ox+31, a flip reverses the
    columns.  Returns uint8 [B, 3, 32, 32].
    """
    b = len(index)
    oy = rng.randint(0, 2 * PAD + 1, size=b)
    ox = rng.randint(0, 2 * PAD + 1, size=b)
    flip = rng.randint(0, 2, size=b).astype(bool)
    ramp = np.arange(32)
    rows = oy[:, None] + ramp[None, :]
    cols = ox[:, None] + np.where(flip[:, None], 31 - ramp[None, :], ramp[None, :])
    return padded[
        index[:, None, None, None],
        np.arange(3)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def evaluate(model, images_u8, labels):
    """(correct, mean loss) of the model in eval mode over a uint8 image set."""
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(images_u8), EVAL_BATCH):
            x = normalise(torch.from_numpy(images_u8[start : start + EVAL_BATCH]))
            y = torch.from_numpy(labels[start : start + EVAL_BATCH])
            logits = model(x)
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((np.argmax(logits.numpy(), axis=1) == y.numpy()).sum())
    return correct, loss_sum / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(nets.MODELS))
    parser.add_argument("--epochs", type=int, help="epochs (default: per model, see DEFAULTS)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--out", help="output folder (default: models/<model>/)")
    args = parser.parse_args()
    cfg = dict(DEFAULTS[args.model])
    if args.epochs:
        cfg["epochs"] = args.epochs
    out_dir = args.out or os.path.join(MODELS_DIR, args.model)

    directory = data_dir()
    missing = [n for n in TRAIN_FILES + [TEST_FILE] if not os.path.isfile(os.path.join(directory, n))]
    if missing:
        fail_data(directory, f"CIFAR-10 data not found (missing: {', '.join(missing)})")

    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    train_x, train_y = read_batches(directory, TRAIN_FILES)
    test_x, test_y = read_batches(directory, [TEST_FILE])
    padded = np.pad(train_x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))  # zero = black, as torchvision

    model = nets.MODELS[args.model]()
    # NHWC in memory during training: PyTorch's oneDNN convolutions, the
    # depthwise ones above all, run several times faster in this layout.
    # The saved weights are in the usual contiguous layout.
    model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"model {args.model}: {n_params} parameters; torch {torch.__version__}, numpy {np.__version__}, "
        f"threads {torch.get_num_threads()}; seed {args.seed}; epochs {cfg['epochs']}, batch {cfg['batch']}, "
        f"SGD nesterov momentum {MOMENTUM}, weight decay {WEIGHT_DECAY}, OneCycle max lr {cfg['max_lr']}; "
        f"augmentation: random crop (pad {PAD}) + horizontal flip; input (x/255 - 0.5)/0.5; "
        f"train {len(train_y)}, test {len(test_y)} images from {directory}",
        flush=True,
    )
    print(model, flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["max_lr"],
        momentum=MOMENTUM,
        nesterov=True,
    )
    steps_per_epoch = (len(train_y) + cfg["batch"] - 1) // cfg["batch"]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg["max_lr"], epochs=cfg["epochs"], steps_per_epoch=steps_per_epoch
    )
    criterion = nn.CrossEntropyLoss()

    started = time.monotonic()
    cpu_started = time.process_time()
    for epoch in range(cfg["epochs"]):
        epoch_started = time.monotonic()
        model.train()
        order = rng.permutation(len(train_y))
        loss_sum, correct = 0.0, 0
        for start in range(0, len(order), cfg["batch"]):
            index = order[start : start + cfg["batch"]]
            x = normalise(torch.from_numpy(augment(padded, index, rng)))
            x = x.contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(train_y[index])
            optimizer.zero_grad()
            logits = model(x)
            loss = criterion(logits, y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss) * len(index)
            correct += int((logits.argmax(1) == y).sum())
        train_seconds = time.monotonic() - epoch_started
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        print(
            f"epoch {epoch + 1:2d}/{cfg['epochs']}: train loss {loss_sum / len(train_y):.4f} "
            f"acc {100.0 * correct / len(train_y):.2f} % (augmented, while training) | lr {scheduler.get_last_lr()[0]:.5f} | "
            f"epoch {train_seconds:.1f} s (train), {elapsed:.1f} s wall / {cpu:.1f} s CPU total",
            flush=True,
        )
        if epoch == 0 and cpu * cfg["epochs"] > BUDGET_SECONDS * 1.07:
            sys.exit(
                f"error: {cfg['epochs']} epochs would take about {cpu * cfg['epochs'] / 60:.1f} CPU min, "
                f"over the {BUDGET_SECONDS // 60} min budget; rerun with fewer --epochs"
            )
    total_seconds = time.monotonic() - started
    total_cpu = time.process_time() - cpu_started
    model = model.to(memory_format=torch.contiguous_format)

    test_correct, test_loss = evaluate(model, test_x, test_y)
    accuracy = f"{100.0 * test_correct / len(test_y):.2f}"
    print(
        f"training took {total_cpu:.1f} s CPU ({total_cpu / 60:.1f} min; budget {BUDGET_SECONDS // 60} min), "
        f"{total_seconds:.1f} s wall ({total_seconds / 60:.1f} min) on a machine shared with other jobs",
        flush=True,
    )
    print(f"final float test accuracy: {accuracy} % ({test_correct}/{len(test_y)}), test loss {test_loss:.4f}", flush=True)

    tensors = {name: t.detach().numpy() for name, t in model.state_dict().items()}
    metadata = {
        "format": "pt",
        "arch": f"{args.model}-cifar10",
        "input": "NCHW float32 [N,3,32,32], (pixel/255 - 0.5)/0.5",
        "seed": str(args.seed),
        "epochs": str(cfg["epochs"]),
        "batch": str(cfg["batch"]),
        "max_lr": str(cfg["max_lr"]),
        "torch": torch.__version__,
        "train_cpu_seconds": f"{total_cpu:.0f}",
        "train_wall_seconds": f"{total_seconds:.0f}",
        "test_accuracy": accuracy,
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{args.model}.safetensors")
    safetensors_io.save(path, tensors, metadata)
    loaded, loaded_meta = safetensors_io.load(path)
    assert loaded_meta == metadata and list(loaded) == list(tensors)
    assert all(np.array_equal(loaded[n], tensors[n]) for n in tensors)
    print(f"wrote {os.path.relpath(path, REPO_ROOT)} ({len(tensors)} tensors, {os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
