#!/usr/bin/python3
"""Train the PyTorch CIFAR-10 tutorial LeNet and save it as safetensors.

The model is the float reference that tinyq's int8 post-training
quantisation is measured against, so the recipe follows the tutorial
(2 epochs, SGD lr 0.001 momentum 0.9, batch 4) and is made reproducible:
one thread, fixed seeds for initialisation and shuffling.

Usage:
    /usr/bin/python3 examples/cifar10/train.py [--bias] [--seed N] [--out PATH]

Data: the official CIFAR-10 binary files in $TINYQ_DATA_DIR/cifar10
(default for TINYQ_DATA_DIR: <repo root>/../shared/data).
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(SCRIPT_DIR))

# safetensors_io lives next to this script and is not an installed package.
sys.path.insert(0, SCRIPT_DIR)
import safetensors_io  # noqa: E402

TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"
RECORD_BYTES = 1 + 3 * 32 * 32
EPOCHS = 2
BATCH_SIZE = 4
LEARNING_RATE = 0.001
MOMENTUM = 0.9
LOG_EVERY = 2000  # mini-batches, as in the tutorial


def data_dir():
    base = os.environ.get("TINYQ_DATA_DIR") or os.path.join(REPO_ROOT, "..", "shared", "data")
    return os.path.normpath(os.path.join(base, "cifar10"))


def fail_data(directory, problem):
    print(
        f"error: {problem}\n"
        f"CIFAR-10 binary files (data_batch_1.bin .. data_batch_5.bin, {TEST_FILE})"
        f" are expected in {directory}\n"
        f"Set TINYQ_DATA_DIR to the folder that contains cifar10/, e.g.\n"
        f"    TINYQ_DATA_DIR=/path/to/data {sys.executable} {' '.join(sys.argv)}",
        file=sys.stderr,
    )
    sys.exit(2)


def read_batches(directory, names):
    """Return (images uint8 [N,3,32,32], labels int64 [N]) from CIFAR-10 .bin files."""
    images, labels = [], []
    for name in names:
        path = os.path.join(directory, name)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % RECORD_BYTES:
            fail_data(directory, f"{path} has {raw.size} bytes, not a multiple of {RECORD_BYTES}")
        records = raw.reshape(-1, RECORD_BYTES)
        if records[:, 0].max() > 9:
            fail_data(directory, f"{path} contains a label outside 0-9")
        labels.append(records[:, 0].astype(np.int64))
        # The pixel bytes are the R, G and B planes in turn, each row-major,
        # which is exactly CHW order.
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def normalise(images_u8):
    """uint8 CHW batch -> float32 in [-1, 1], the tutorial's ToTensor + Normalize(0.5, 0.5)."""
    return (images_u8.float() / 255.0 - 0.5) / 0.5


class LeNet(nn.Module):
    # Attribute names fix the state_dict keys (conv1.weight, ...) that the
    # exported file, and tinyq's tools reading it, rely on.
    def __init__(self, bias):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5, bias=bias)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=bias)
        self.fc1 = nn.Linear(16 * 5 * 5, 120, bias=bias)
        self.fc2 = nn.Linear(120, 84, bias=bias)
        self.fc3 = nn.Linear(84, 10, bias=bias)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # NCHW order: index = c*25 + h*5 + w
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def evaluate(model, images, labels):
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            logits = model(normalise(images[start : start + 1000]))
            # numpy's argmax is documented to return the first maximum, which
            # is the tie rule the C implementation is compared against.
            predictions.append(np.argmax(logits.numpy(), axis=1))
    correct = int((np.concatenate(predictions) == labels.numpy()).sum())
    return correct, len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bias", action="store_true", help="give every layer a bias (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling (default 0)")
    parser.add_argument(
        "--out",
        help="output .safetensors path (default: examples/cifar10/lenet.safetensors, "
        "or lenet_bias.safetensors with --bias, under the repository root)",
    )
    args = parser.parse_args()
    out = args.out or os.path.join(
        SCRIPT_DIR, "lenet_bias.safetensors" if args.bias else "lenet.safetensors"
    )

    directory = data_dir()
    missing = [n for n in TRAIN_FILES + [TEST_FILE] if not os.path.isfile(os.path.join(directory, n))]
    if missing:
        fail_data(directory, f"CIFAR-10 data not found (missing: {', '.join(missing)})")

    # A single thread makes the float summation order, and so the trained
    # weights, the same from run to run.
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    train_x, train_y = read_batches(directory, TRAIN_FILES)
    test_x, test_y = read_batches(directory, [TEST_FILE])
    train_x, train_y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    test_x, test_y = torch.from_numpy(test_x), torch.from_numpy(test_y)

    model = LeNet(args.bias)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"LeNet bias={str(args.bias).lower()} parameters={n_params} seed={args.seed} "
        f"train={len(train_y)} test={len(test_y)} data={directory}",
        flush=True,
    )

    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    # A dedicated generator keeps the shuffle order independent of how many
    # random numbers the weight initialisation happened to consume.
    shuffle_rng = torch.Generator().manual_seed(args.seed)

    started = time.monotonic()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train_y), generator=shuffle_rng)
        running_loss = 0.0
        for i, start in enumerate(range(0, len(order), BATCH_SIZE)):
            index = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = criterion(model(normalise(train_x[index])), train_y[index])
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            if i % LOG_EVERY == LOG_EVERY - 1:
                print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / LOG_EVERY:.3f}", flush=True)
                running_loss = 0.0
    train_seconds = time.monotonic() - started
    print(f"training took {train_seconds:.1f} s", flush=True)

    correct, total = evaluate(model, test_x, test_y)
    accuracy = f"{100.0 * correct / total:.2f}"
    print(f"test accuracy: {accuracy} % ({correct}/{total})", flush=True)

    tensors = {name: t.detach().numpy().astype(np.float32) for name, t in model.state_dict().items()}
    metadata = {
        "format": "pt",
        "arch": "lenet-cifar10",
        "bias": str(args.bias).lower(),
        "seed": str(args.seed),
        "epochs": str(EPOCHS),
        "test_accuracy": accuracy,
    }
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    safetensors_io.save(out, tensors, metadata)

    # Read the file back so a writer bug shows up here rather than later in C.
    loaded, loaded_meta = safetensors_io.load(out)
    assert loaded_meta == metadata and list(loaded) == list(tensors)
    assert all(np.array_equal(loaded[n], tensors[n]) for n in tensors)
    print(f"wrote {out} ({len(tensors)} tensors, {n_params} parameters)", flush=True)


if __name__ == "__main__":
    main()
