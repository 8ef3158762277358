# pytest setup for the Python binding: the in-tree package on sys.path,
# seeded random generators, and the optional PyTorch and CIFAR-10 pieces.
#
# The library is found as the package finds it; meson's test registration
# sets TINYQ_LIBRARY to the shared library it built.
#
# SPDX-License-Identifier: Apache-2.0
import os
import sys

import numpy as np
import pytest

# Keep the source tree free of __pycache__ directories.
sys.dont_write_bytecode = True

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS_DIR)
REPO = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, TESTS_DIR)


def _host_helpers_missing():
    from tinyq import _lib
    return "tq_safetensors_load" in _lib.missing


#: For tests of the host helpers (files, heap), absent from a firmware
#: build of the library (meson -Dhost_helpers=false).
needs_host = pytest.mark.skipif(
    _host_helpers_missing(), reason="libtinyq was built without host "
    "helpers (-Dhost_helpers=false)")


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name, so every test sees its own
    reproducible data (and a failure can be replayed)."""
    seed = sum(ord(c) * 31**i for i, c in enumerate(request.node.name)) % \
        2**32
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip(
        "torch", reason="PyTorch is not installed (Debian python3-torch): "
                        "the comparisons with torch are skipped")


def data_dir():
    """Where the CIFAR-10 tests look: $TINYQ_DATA_DIR, else the meson
    option's default passed in $TINYQ_TEST_DEFAULT_DATA_DIR, else
    ../shared/data beside the checkout."""
    return (os.environ.get("TINYQ_DATA_DIR")
            or os.environ.get("TINYQ_TEST_DEFAULT_DATA_DIR")
            or os.path.join(REPO, "..", "shared", "data"))
