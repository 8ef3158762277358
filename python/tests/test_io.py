# safetensors files against the repository's independent pure-numpy reader
# and writer (examples/cifar10/safetensors_io.py), and CIFAR-10 batches
# against a synthetic file and numpy's arithmetic.
#
# SPDX-License-Identifier: Apache-2.0
import json
import os
import struct
import sys

import numpy as np
import pytest

import tinyq as tq
from conftest import REPO, needs_host

sys.path.insert(0, os.path.join(REPO, "examples", "cifar10"))
import safetensors_io  # noqa: E402

pytestmark = needs_host


def sample_tensors(rng):
    return {
        "w": rng.standard_normal((3, 4, 2, 5)).astype(np.float32),
        "codes": rng.integers(-128, 128, (7, 9)).astype(np.int8),
        "bias": rng.integers(-2**31, 2**31, 11).astype(np.int32),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def test_save_then_reference_load(rng, tmp_path):
    path = tmp_path / "a.safetensors"
    tensors = sample_tensors(rng)
    tq.io.save_safetensors(path, tensors, {"format": "test", "k": "ü"})
    got, meta = safetensors_io.load(str(path))
    assert list(got) == list(tensors)  # order kept
    for name, a in tensors.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape
        np.testing.assert_array_equal(got[name], a)
    assert meta == {"format": "test", "k": "ü"}
    # no temporary (PATH.tmp.<suffix>) left beside the file
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_reference_save_then_load(rng, tmp_path):
    path = str(tmp_path / "b.safetensors")
    tensors = sample_tensors(rng)
    safetensors_io.save(path, tensors, {"note": "hello"})
    with tq.io.SafetensorsFile(path) as f:
        assert len(f) == len(tensors) and f.names() == list(tensors)
        assert list(f) == list(tensors) and "w" in f and "nope" not in f
        for name, a in tensors.items():
            b = f[name]
            assert b.dtype == a.dtype and b.shape == a.shape
            np.testing.assert_array_equal(b, a)
        assert f.metadata("note") == "hello"
        with pytest.raises(tq.NotFoundError):
            f.metadata("missing")
        with pytest.raises(tq.NotFoundError):
            f["missing"]
        kept = f["w"]
    # arrays are copies: still valid after close
    np.testing.assert_array_equal(kept, tensors["w"])
    with pytest.raises(tq.NullError):
        f["w"]
    with pytest.raises(tq.NullError):
        len(f)
    f.close()  # idempotent
    loaded = tq.io.load_safetensors(path)
    assert list(loaded) == list(tensors)
    data = open(path, "rb").read()
    g = tq.io.SafetensorsFile.parse(data)
    np.testing.assert_array_equal(g["codes"], tensors["codes"])
    g2 = tq.io.SafetensorsFile.parse(bytearray(data))
    assert g2.names() == list(tensors)


def test_dtypes_tinyq_cannot_use(tmp_path):
    path = str(tmp_path / "c.safetensors")
    safetensors_io.save(path, {"h": np.ones(3, np.float16),
                               "i": np.ones(2, np.int64)})
    with tq.io.SafetensorsFile(path) as f:
        assert "h" in f and f.names() == ["h", "i"]
        with pytest.raises(tq.DtypeError):
            f["h"]
        with pytest.raises(tq.DtypeError):
            f["i"]


def test_malformed_and_missing_files(tmp_path):
    with pytest.raises(tq.TinyqIOError) as info:
        tq.io.SafetensorsFile(tmp_path / "none.safetensors")
    assert "none.safetensors" in str(info.value)
    with pytest.raises(tq.TinyqIOError):
        tq.io.SafetensorsFile(tmp_path)  # a directory
    bad = tmp_path / "bad.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [2],
                               "data_offsets": [0, 12]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 12)
    with pytest.raises(tq.FormatError):
        tq.io.SafetensorsFile(bad)
    for blob in (b"", b"\x01", b"\xff" * 16):
        with pytest.raises(tq.FormatError):
            tq.io.SafetensorsFile.parse(blob)
    with pytest.raises(tq.DtypeError):
        tq.io.SafetensorsFile.parse("text")
    with pytest.raises(tq.ParamError):
        tq.io.SafetensorsFile("a\0b")
    with pytest.raises(tq.NullError):
        tq.io.SafetensorsFile(None)
    with pytest.raises(tq.ParamError):
        tq.io.SafetensorsFile(42)


def test_save_errors(tmp_path, rng):
    p = tmp_path / "d.safetensors"
    a = np.zeros(3, np.float32)
    with pytest.raises(tq.DtypeError):
        tq.io.save_safetensors(p, {"a": np.zeros(3)})
    with pytest.raises(tq.ArrayLayoutError):
        tq.io.save_safetensors(p, {"a": np.zeros((3, 3), np.float32).T})
    with pytest.raises(tq.ShapeError):
        tq.io.save_safetensors(p, {"a": np.zeros((1,) * 5, np.float32)})
    with pytest.raises(tq.ParamError):
        tq.io.save_safetensors(p, {"": a})
    with pytest.raises(tq.ParamError):
        tq.io.save_safetensors(p, {"__metadata__": a})
    with pytest.raises(tq.ParamError):
        tq.io.save_safetensors(p, {"a\0b": a})
    with pytest.raises(tq.ParamError):
        tq.io.save_safetensors(p, {"a": a}, {"k": 3})
    with pytest.raises(tq.ParamError):
        tq.io.save_safetensors(p, {1: a})
    with pytest.raises(tq.NullError):
        tq.io.save_safetensors(p, None)
    with pytest.raises(tq.TinyqIOError):
        tq.io.save_safetensors(tmp_path / "no" / "dir.safetensors", {"a": a})
    assert not p.exists()
    tq.io.save_safetensors(p, {})
    assert tq.io.load_safetensors(p) == {}


def raw_file(header, data=b""):
    h = header.encode()
    return struct.pack("<Q", len(h)) + h + data


def test_reader_refuses_what_json_or_the_writer_refuses(tmp_path):
    # Issue 14: cJSON read a malformed \u escape as U+0000 and cut the
    # name there; an empty name loaded but could not be saved back. Each
    # header below is refused by Python's json or by the rules the issue
    # adds (no escape decoding to NUL or to half a surrogate pair, no
    # empty name: nothing the writer could write back), so by the reader.
    entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    bad = ['{"w\\uZZZZjunk":' + entry + '}',
           '{"w\\u00G0":' + entry + '}',
           '{"w\\u12":' + entry + '}',
           '{"a\\ud800":' + entry + '}',
           '{"a\\udc00":' + entry + '}',
           '{"a\\u0000b":' + entry + '}',
           '{"":' + entry + '}',
           '{"__metadata__":{"k":"tinyq-lenet-s8\\u00G0 NOT REALLY"}}']
    for header in bad:
        with pytest.raises(tq.FormatError):
            tq.io.SafetensorsFile.parse(raw_file(header, b"\0" * 4))
    # The control: a well-formed escape and a surrogate pair load, with
    # the name Python's json reads, and save back.
    header = '{"w\\u00e9\\ud83d\\ude00":' + entry + '}'
    name = next(iter(json.loads(header)))
    with tq.io.SafetensorsFile.parse(raw_file(header, b"\0" * 4)) as f:
        assert f.names() == [name]
        t = {n: f[n] for n in f.names()}
    path = tmp_path / "back.safetensors"
    tq.io.save_safetensors(path, t)
    assert tq.io.SafetensorsFile(path).names() == [name]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions, links")
def test_save_keeps_mode_and_never_follows_links(tmp_path):
    # Issue 14: the save went through a fixed PATH.tmp (a planted link
    # there overwrote its target) and turned a 0600 file into 0644.
    path = tmp_path / "m.safetensors"
    a = np.arange(4, dtype=np.float32)
    tq.io.save_safetensors(path, {"a": a})
    os.chmod(path, 0o600)
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    os.symlink(victim, str(path) + ".tmp")
    tq.io.save_safetensors(path, {"a": a + 1})
    assert victim.read_bytes() == b"victim"
    assert not path.is_symlink()
    assert (os.stat(path).st_mode & 0o777) == 0o600
    np.testing.assert_array_equal(tq.io.load_safetensors(path)["a"], a + 1)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["m.safetensors", "m.safetensors.tmp", "victim"])


def write_cifar(path, labels, pixels):
    with open(path, "wb") as f:
        for y, img in zip(labels, pixels):
            f.write(bytes([y]) + img.tobytes())


def test_cifar10(rng, tmp_path):
    n = 7
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    path = tmp_path / "batch.bin"
    write_cifar(path, labels, pixels)
    assert tq.io.cifar10_count(path) == n
    y, p = tq.io.cifar10_read(path)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(p, pixels)
    y, p = tq.io.cifar10_read(path, 2, 3)
    np.testing.assert_array_equal(p, pixels[2:5])
    assert tq.io.cifar10_read(path, 7, 0)[1].shape == (0, 3, 32, 32)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    x = tq.io.cifar10_normalize(pixels, mean, std)
    # torchvision: ToTensor divides by 255 in float, Normalize subtracts and
    # divides in float
    want = (pixels.astype(np.float32) / np.float32(255) -
            np.array(mean, np.float32)[:, None, None]) / \
        np.array(std, np.float32)[:, None, None]
    np.testing.assert_array_equal(x, want.transpose(0, 2, 3, 1))
    images, y = tq.io.load_cifar10(path, 1, 2)
    assert images.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(y, labels[1:3])
    # Issue 16, item 5: raw pixels straight from the file, exactly.
    images, y = tq.io.load_cifar10(path, 1, 2, raw=True)
    np.testing.assert_array_equal(
        images, pixels[1:3].transpose(0, 2, 3, 1).astype(np.float32))
    np.testing.assert_array_equal(y, labels[1:3])


def test_cifar10_errors(rng, tmp_path):
    path = tmp_path / "batch.bin"
    write_cifar(path, [1, 2], rng.integers(0, 256, (2, 3, 32, 32))
                .astype(np.uint8))
    with pytest.raises(tq.FormatError):
        tq.io.cifar10_read(path, 1, 2)  # runs past the end
    with pytest.raises(tq.FormatError):
        tq.io.cifar10_read(path, 0, 10**12)  # refused before allocating
    with pytest.raises(tq.ParamError):
        tq.io.cifar10_read(path, -1, 1)
    with pytest.raises(tq.TinyqIOError):
        tq.io.cifar10_count(tmp_path / "missing.bin")
    (tmp_path / "odd.bin").write_bytes(b"\0" * 100)
    with pytest.raises(tq.FormatError):
        tq.io.cifar10_count(tmp_path / "odd.bin")
    bad = tmp_path / "label.bin"
    bad.write_bytes(bytes([10]) + b"\0" * 3072)
    with pytest.raises(tq.FormatError):
        tq.io.cifar10_read(bad)
    px = np.zeros((1, 3, 32, 32), np.uint8)
    with pytest.raises(tq.ParamError):
        tq.io.cifar10_normalize(px, std=(0.5, 0.0, 0.5))
    with pytest.raises(tq.ShapeError):
        tq.io.cifar10_normalize(px, mean=(0.5, 0.5))
    with pytest.raises(tq.ShapeError):
        tq.io.cifar10_normalize(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(tq.DtypeError):
        tq.io.cifar10_normalize(px.astype(np.float32))


def test_cifar10_raw_pixels_exact():
    # Issue 16: models fed raw 0..255 values. raw=True is exact; mean 0 and
    # std 1/255 through torchvision's arithmetic is not (the old trap).
    pixels = np.arange(3 * 1024 * 2, dtype=np.int64).reshape(2, 3, 32, 32)
    pixels = (pixels % 256).astype(np.uint8)
    want = pixels.transpose(0, 2, 3, 1).astype(np.float32)
    np.testing.assert_array_equal(tq.io.cifar10_normalize(pixels, raw=True),
                                  want)
    np.testing.assert_array_equal(tq.io.cifar10_affine(pixels), want)
    emulated = tq.io.cifar10_normalize(pixels, 0.0, 1 / 255)
    off = np.count_nonzero(emulated != want)
    assert 0.3 < off / want.size < 0.6      # about 47 % one ULP off
    # Other affine maps: p * a + b in double, rounded once to float.
    a, b = (2.0, 0.0078125, 1 / 63), (-255.0, -1.0, -125.3 / 63)
    got = tq.io.cifar10_affine(pixels, a, b)
    a32, b32 = np.float32(a).astype(np.float64), np.float32(b).astype(
        np.float64)
    exp = (pixels.astype(np.float64) * a32[:, None, None] +
           b32[:, None, None]).astype(np.float32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(got, exp)
    with pytest.raises(tq.ParamError):
        tq.io.cifar10_affine(pixels, np.inf, 0.0)
    with pytest.raises(tq.ShapeError):
        tq.io.cifar10_affine(pixels, (1.0, 2.0), 0.0)


def test_cifar10_normalize_matches_torchvision_rounding(torch, rng):
    # torchvision's ToTensor (img.float().div(255)) then Normalize
    # (tensor.sub(mean).div(std)) in torch's float32 arithmetic.
    pixels = rng.integers(0, 256, (3, 3, 32, 32)).astype(np.uint8)
    for mean, std in (((0.5,) * 3, (0.5,) * 3),
                      ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))):
        t = torch.from_numpy(pixels).float().div(255)
        m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        s = torch.tensor(std, dtype=torch.float32)[:, None, None]
        want = t.sub(m).div(s).numpy().transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(
            tq.io.cifar10_normalize(pixels, mean, std), want)
