# examples/python/ptq_lenet.py against the C demo (examples/cifar10/ptq,
# whose path meson passes in TINYQ_PTQ_DEMO): the same tables, the same
# int8 predictions image for image on the --quick subset of CIFAR-10, and a
# byte-identical quantized model file. Parts needing CIFAR-10 are skipped
# without it.
#
# SPDX-License-Identifier: Apache-2.0
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, data_dir, needs_host

# The example reads the model with the safetensors host helper.
pytestmark = needs_host

EXAMPLE = os.path.join(REPO, "examples", "python", "ptq_lenet.py")


def c_demo():
    path = os.environ.get("TINYQ_PTQ_DEMO")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("the C demo is not available: set TINYQ_PTQ_DEMO to "
                    "<builddir>/examples/cifar10/ptq (meson test does)")
    return path


def run(cmd, cwd, data):
    env = dict(os.environ, TINYQ_DATA_DIR=data, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"{cmd[0]} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def tables(text):
    """The lines both programs must print identically: every table row,
    the float accuracy and the chosen method with its accuracy."""
    keep = []
    for line in text.splitlines():
        if line.startswith("| ") and "peak activation" not in line:
            keep.append(line)
        elif "float accuracy" in line or "CIFAR-10 not found" in line:
            keep.append(line)
        elif line.startswith("Chosen activation range"):
            keep.append(line.split(" %.")[0])
    return keep


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Both programs on the --quick subset (every fifth test image)."""
    demo = c_demo()
    data = data_dir()
    test_batch = os.path.join(data, "cifar10", "test_batch.bin")
    if not os.path.exists(test_batch):
        pytest.skip(f"CIFAR-10 not found: looked for {test_batch} "
                    "(set TINYQ_DATA_DIR to the folder holding cifar10/)")
    tmp = tmp_path_factory.mktemp("lenet")
    c_out = run([demo, "--quick", "--threads", "2", "--predictions",
                 str(tmp / "c.pred"), "--save", str(tmp / "c.safetensors")],
                tmp, data)
    py_out = run([sys.executable, EXAMPLE, "--quick", "--predictions",
                  str(tmp / "py.pred"), "--save",
                  str(tmp / "py.safetensors")], tmp, data)
    return tmp, c_out, py_out


def test_int8_predictions_equal_the_c_demo(quick_runs):
    tmp, _, _ = quick_runs
    c = np.fromfile(tmp / "c.pred", dtype=np.uint8)
    py = np.fromfile(tmp / "py.pred", dtype=np.uint8)
    assert c.size == py.size == 2000
    diff = np.flatnonzero(c != py)
    assert diff.size == 0, (f"{diff.size} predictions differ, first at "
                            f"quick image {diff[0]} (test image "
                            f"{5 * diff[0]}): C {c[diff[0]]}, "
                            f"Python {py[diff[0]]}")


def test_same_tables_as_the_c_demo(quick_runs):
    _, c_out, py_out = quick_runs
    c, py = tables(c_out), tables(py_out)
    assert len(c) > 30
    assert py == c


def test_same_quantized_model_file(quick_runs):
    tmp, _, py_out = quick_runs
    assert "2000 of 2000 predictions identical" in py_out
    assert (tmp / "c.safetensors").read_bytes() == \
        (tmp / "py.safetensors").read_bytes()


def test_without_data_same_weight_statistics(tmp_path):
    """No CIFAR-10 needed: Stage 1's statistics and the memory table."""
    demo = c_demo()
    empty = tmp_path / "nodata"
    empty.mkdir()
    c_out = run([demo], tmp_path, str(empty))
    py_out = run([sys.executable, EXAMPLE], tmp_path, str(empty))
    c, py = tables(c_out), tables(py_out)
    assert any(line.startswith("| conv1 ") for line in c)
    assert py == c


def test_plots(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed "
                        "(Debian python3-matplotlib): plots not tested")
    empty = tmp_path / "nodata"
    empty.mkdir()
    run([sys.executable, EXAMPLE, "--plots", str(tmp_path / "plots")],
        tmp_path, str(empty))
    names = sorted(os.listdir(tmp_path / "plots"))
    assert names == ["weights.png"] + [f"weights_{n}.png" for n in
                                       ("conv1", "conv2", "fc1", "fc2",
                                        "fc3")]
    for n in names:
        head = (tmp_path / "plots" / n).read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n"


COMPARE = os.path.join(REPO, "examples", "cifar10", "compare_ptq.py")


def test_compare_ptq_one_draw(tmp_path):
    """examples/cifar10/compare_ptq.py (tinyq against PyTorch's PTQ) on one
    calibration draw: its tinyq row repeats the C demo's prediction rules."""
    pytest.importorskip("torch")
    demo = c_demo()
    data = data_dir()
    if not os.path.exists(os.path.join(data, "cifar10", "test_batch.bin")):
        pytest.skip("CIFAR-10 not found")
    out = run([sys.executable, COMPARE, "--ptq", demo, "--draws", "1",
               "--engines", "qnnpack"], tmp_path, data)
    c_out = run([demo, "--threads", "2", "--save",
                 str(tmp_path / "c.safetensors")], tmp_path, data)
    rules = [line.split("|")[2].strip() for line in c_out.splitlines()
             if line.startswith("| argmax of")]
    assert len(rules) == 3
    assert f"| 0 | 0..399 | tinyq | {rules[0]} | {rules[1]} | {rules[2]} |" in out
    assert "| 0 | 0..399 | PyTorch qnnpack | - |" in out
    assert "sign-test p" in out


def test_sign_test_p_exact():
    """The exact two-sided sign test of compare_ptq.py on known values."""
    pytest.importorskip("torch")
    sys.path.insert(0, os.path.dirname(COMPARE))
    try:
        from compare_ptq import sign_test_p
    finally:
        sys.path.remove(os.path.dirname(COMPARE))
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(5, 0) == pytest.approx(2 / 32)
    assert sign_test_p(0, 5) == pytest.approx(2 / 32)
    assert sign_test_p(3, 3) == 1.0
    # n = 10, 2 vs 8: 2 * (1 + 10 + 45) / 1024
    assert sign_test_p(2, 8) == pytest.approx(112 / 1024)
    # Past 1,023 discordant images 2.0**n overflows a double: the p-value is
    # the exact rational, so it stays in [0, 1] (7000 vs 3 underflows to 0;
    # 600 vs 600 is 1; 520 vs 500 is near the normal approximation with
    # continuity correction: z = (520 - 510 - 0.5) / (0.5 * sqrt(1020))
    # = 0.595, two-sided p = 0.55).
    assert sign_test_p(7000, 3) == 0.0
    assert sign_test_p(600, 600) == 1.0
    assert sign_test_p(520, 500) == pytest.approx(0.55, abs=0.02)
