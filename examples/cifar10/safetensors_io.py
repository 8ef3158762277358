"""Minimal reader/writer for the safetensors file format, using only numpy.

The safetensors package is not available on the project's machines, and the
format is simple enough that a self-contained implementation is easier to
audit than a vendored one.  Layout of a file:

    8 bytes   little-endian uint64 N: length of the JSON header
    N bytes   UTF-8 JSON object, padded with trailing spaces so that N is a
              multiple of 8 (keeps the tensor data 8-byte aligned)
    rest      the byte buffer: every tensor's raw little-endian bytes,
              row-major, back to back

The JSON maps each tensor name to {"dtype", "shape", "data_offsets"}, where
data_offsets = [begin, end) is relative to the start of the byte buffer.  The
optional "__metadata__" entry maps strings to strings.
"""

import json
import os
import struct

import numpy as np

METADATA_KEY = "__metadata__"

# Only dtypes that numpy can represent exactly; BF16 and the FP8 variants are
# deliberately absent rather than silently converted.
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _dtype_name(dtype):
    """Return the safetensors name of a numpy dtype, ignoring byte order."""
    for name, known in _DTYPES.items():
        if known.kind == dtype.kind and known.itemsize == dtype.itemsize:
            return name
    raise ValueError(f"dtype {dtype} has no safetensors equivalent here")


def save(path, tensors, metadata=None):
    """Write `tensors` (mapping name -> numpy array) to `path`.

    Tensors are stored in the mapping's iteration order, so a PyTorch
    state_dict keeps its natural layer order in the file.  `metadata` values
    must be strings, as the format requires.  The file is written to a
    temporary name first and then renamed, so an interrupted run never leaves
    a truncated model behind under the final name.
    """
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")
        header[METADATA_KEY] = dict(metadata)

    blobs = []
    offset = 0
    for name, array in tensors.items():
        if name == METADATA_KEY:
            raise ValueError(f"{METADATA_KEY!r} cannot be used as a tensor name")
        array = np.asarray(array)
        dtype_name = _dtype_name(array.dtype)
        # Force little-endian, C (row-major) order regardless of the input.
        blob = np.ascontiguousarray(array, dtype=_DTYPES[dtype_name]).tobytes()
        header[name] = {
            "dtype": dtype_name,
            "shape": [int(d) for d in array.shape],
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    tmp_path = f"{path}.tmp{os.getpid()}"
    with open(tmp_path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp_path, path)


def load(path):
    """Read a safetensors file.

    Returns (tensors, metadata): a dict name -> numpy array (in file header
    order, each array a writable copy in native layout) and a dict of the
    string metadata (empty if the file has none).  Raises ValueError if the
    file is malformed: bad header length, invalid JSON, unknown dtype, a size
    that does not match the shape, or offsets that overlap, leave holes, or
    do not cover the byte buffer exactly.
    """
    with open(path, "rb") as f:
        data = f.read()

    if len(data) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise ValueError(f"{path}: header length {header_len} exceeds file size")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    buffer = memoryview(data)[8 + header_len :]

    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"{path}: {METADATA_KEY} must map strings to strings")

    tensors = {}
    spans = []
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise ValueError(f"{where}: entry is not an object")
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise ValueError(f"{where}: unsupported dtype {info.get('dtype')!r}")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
            type(d) is int and d >= 0 for d in shape
        ):
            raise ValueError(f"{where}: bad shape {shape!r}")
        offsets = info.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= len(buffer)
        ):
            raise ValueError(f"{where}: bad data_offsets {offsets!r}")
        begin, end = offsets
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if end - begin != expected:
            raise ValueError(
                f"{where}: {end - begin} bytes for shape {shape} of {info['dtype']}"
                f" (expected {expected})"
            )
        spans.append((begin, end, name))
        array = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
        tensors[name] = array.astype(dtype.newbyteorder("="), copy=True)

    # The spec requires the tensors to tile the buffer exactly; anything else
    # hints at a truncated or hand-edited file.
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else "leaves a hole"
            raise ValueError(f"{path}: tensor {name!r} {kind} at byte {begin}")
        position = end
    if position != len(buffer):
        raise ValueError(
            f"{path}: tensors cover {position} bytes but the buffer has {len(buffer)}"
        )

    return tensors, metadata
