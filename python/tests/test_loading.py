# Loading the library (TINYQ_LIBRARY, next to the package, version check),
# the completeness of the ctypes prototypes against include/tinyq.h, and
# the mapping of status codes to exceptions.
#
# SPDX-License-Identifier: Apache-2.0
import os
import re
import shutil
import subprocess
import sys

import pytest

import tinyq as tq
from tinyq import _lib, errors
from conftest import PYTHON_DIR, REPO

HEADER = os.path.join(REPO, "include", "tinyq.h")


def header_functions():
    """name -> parameter count of every TQ_API function in the header."""
    text = open(HEADER, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = {}
    for m in re.finditer(r"TQ_API\s+[^;{]*?\b(tq_\w+)\s*\(([^)]*)\)\s*;",
                         text):
        params = m.group(2).strip()
        # Arrays like "const float mean[3]" hold no commas; function
        # pointers do not occur in this header.
        out[m.group(1)] = 0 if params in ("", "void") else \
            params.count(",") + 1
    return out


def test_every_header_function_has_a_prototype():
    funcs = header_functions()
    assert len(funcs) >= 70, "the header parser found too few functions"
    assert set(funcs) == set(_lib.PROTOTYPES), (
        f"missing: {sorted(set(funcs) - set(_lib.PROTOTYPES))}, "
        f"extra: {sorted(set(_lib.PROTOTYPES) - set(funcs))}")
    for name, count in funcs.items():
        assert len(_lib.PROTOTYPES[name][1]) == count, name
        if name not in _lib.missing:
            assert getattr(_lib.lib, name).argtypes is not None, name


def test_missing_functions_raise_not_implemented():
    stub = _lib._Library._stub("tq_something_new", "libx.so")
    assert stub.__name__ == "tq_something_new"
    with pytest.raises(NotImplementedError, match="tq_something_new"):
        stub(1, 2)


def test_header_structs_match_ctypes_sizes():
    # Field counts of the header's structs against the ctypes ones.
    text = re.sub(r"/\*.*?\*/", "", open(HEADER, encoding="utf-8").read(),
                  flags=re.S)
    structs = {"tq_tensor": _lib.Tensor, "tq_dims": _lib.Dims,
               "tq_stats": _lib.Stats, "tq_histogram": _lib.Histogram,
               "tq_qscheme": _lib.QScheme, "tq_range_config": _lib.RangeConfig,
               "tq_qparams": _lib.QParams, "tq_quant_error": _lib.QuantError,
               "tq_s8_output": _lib.S8Output, "tq_f32_act": _lib.F32Act,
               "tq_conv_params": _lib.ConvParams,
               "tq_pool_params": _lib.PoolParams,
               "tq_s8_add_params": _lib.S8AddParams,
               "tq_s16_output": _lib.S16Output,
               "tq_s16_mul_params": _lib.S16MulParams,
               "tq_s16_softmax_params": _lib.S16SoftmaxParams,
               "tq_named_tensor": _lib.NamedTensor}
    for cname, cls in structs.items():
        m = re.search(r"typedef struct " + cname + r"\s*\{(.*?)\}", text,
                      re.S)
        assert m, cname
        fields = [f for f in m.group(1).split(";") if f.strip()]
        names = [re.findall(r"\w+", f.split("[")[0])[-1] for f in fields]
        assert names == [f[0] for f in cls._fields_], cname


def test_version():
    text = open(HEADER, encoding="utf-8").read()
    major, minor, patch = (int(re.search(rf"#define TQ_VERSION_{k} (\d+)",
                                         text).group(1))
                           for k in ("MAJOR", "MINOR", "PATCH"))
    assert tq.EXPECTED_MAJOR == major
    assert tq.version_number() == major * 10000 + minor * 100 + patch
    assert tq.version() == f"{major}.{minor}.{patch}"
    assert tq.kernel_path() in ("portable-c", "x86-avx2", "x86-avx512-vnni",
                                "aarch64-neon", "aarch64-neon-dot")
    assert os.path.exists(tq.library_path())


def test_status_messages_and_exception_classes():
    messages = set()
    classes = set()
    for status in tq.Status:
        msg = tq.status_message(status)
        assert msg and msg != tq.status_message(999)
        messages.add(msg)
        if status == tq.Status.OK:
            errors.check(status, "f")  # no exception
            continue
        cls = errors.error_class(status)
        assert issubclass(cls, tq.TinyqError) and cls is not tq.TinyqError
        classes.add(cls)
        with pytest.raises(cls) as info:
            errors.check(int(status), "tq_something", "detail")
        e = info.value
        assert e.status == status and e.message == msg
        assert e.function == "tq_something" and e.detail == "detail"
        assert str(e) == f"tq_something: {msg} (detail)"
    assert len(messages) == len(tq.Status)
    assert len(classes) == len(tq.Status) - 1
    assert tq.status_message(999) == "unknown status"
    assert tq.status_message(2**40) == "unknown status"
    with pytest.raises(tq.TinyqError) as info:
        errors.check(999, "f")
    assert type(info.value) is tq.TinyqError and info.value.status == 999


@pytest.mark.parametrize("cls,base", [
    (tq.NullError, ValueError), (tq.ShapeError, ValueError),
    (tq.DtypeError, TypeError), (tq.SizeOverflowError, OverflowError),
    (tq.ParamError, ValueError), (tq.UnsupportedError, ValueError),
    (tq.BufferTooSmallError, ValueError), (tq.EmptyError, ValueError),
    (tq.NotFiniteError, ValueError), (tq.AliasError, ValueError),
    (tq.TinyqIOError, OSError), (tq.FormatError, ValueError),
    (tq.NotFoundError, LookupError), (tq.NoMemoryError, MemoryError),
    (tq.ArrayLayoutError, ValueError)])
def test_exception_builtin_bases(cls, base):
    assert issubclass(cls, base) and issubclass(cls, tq.TinyqError)


def run_python(code, env, cwd):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_bad_tinyq_library_fails_with_a_clear_message(tmp_path):
    env = dict(os.environ, TINYQ_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=PYTHON_DIR)
    r = run_python("import tinyq", env, tmp_path)
    assert r.returncode != 0
    assert "LibraryLoadError" in r.stderr and "nope.so" in r.stderr


def test_library_next_to_the_package(tmp_path):
    pkg = tmp_path / "tinyq"
    shutil.copytree(os.path.join(PYTHON_DIR, "tinyq"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.realpath(tq.library_path()), pkg / "libtinyq.so.0")
    env = {k: v for k, v in os.environ.items() if k != "TINYQ_LIBRARY"}
    env["PYTHONPATH"] = str(tmp_path)
    r = run_python("import tinyq; print(tinyq.library_path())", env,
                   tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(pkg / "libtinyq.so.0")


def test_wrong_major_version_is_refused(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler to build a fake library with")
    src = tmp_path / "fake.c"
    src.write_text("#include <stdint.h>\n"
                   "uint32_t tq_version_number(void) { return 10203; }\n"
                   "const char *tq_version_string(void) { return \"1.2.3\"; }\n")
    so = tmp_path / "libfake.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src)],
                   check=True)
    env = dict(os.environ, TINYQ_LIBRARY=str(so), PYTHONPATH=PYTHON_DIR)
    r = run_python("import tinyq", env, tmp_path)
    assert r.returncode != 0
    assert "1.2.3" in r.stderr and "major version 0" in r.stderr


def test_a_library_that_is_not_tinyq_is_refused(tmp_path):
    env = dict(os.environ, TINYQ_LIBRARY="libm.so.6", PYTHONPATH=PYTHON_DIR)
    r = run_python("import tinyq", env, tmp_path)
    assert r.returncode != 0 and "not libtinyq" in r.stderr


def test_firmware_library_lacks_only_the_host_helpers():
    """With a library built without host helpers, their wrappers raise
    NotImplementedError and everything else works."""
    host = [n for n in _lib.PROTOTYPES if n.startswith(
        ("tq_safetensors_", "tq_cifar10_", "tq_tensor_alloc",
         "tq_tensor_free"))]
    if "tq_safetensors_load" not in _lib.missing:
        assert not set(host) & _lib.missing
        pytest.skip("this libtinyq has the host helpers")
    assert set(host) <= _lib.missing
    with pytest.raises(NotImplementedError):
        tq.io.load_safetensors("model.safetensors")
    with pytest.raises(NotImplementedError):
        tq.empty_aligned(4)
