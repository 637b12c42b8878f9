"""Safetensors files read lazily (memory-mapped, tensor by tensor) and written streaming.

No torch and no pickle: the format is an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then raw bytes.
Reading maps the file; a tensor is a numpy view whose pages are read only when touched, so a
converter can copy out one shard of one tensor without holding the file in memory.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Callable, Iterable, Mapping

import ml_dtypes
import numpy as np

DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64), "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16), "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
SHARD_BYTES = 5 * 2**30  # transformers' default max_shard_size


class TensorInfo:
    """Where one tensor lives: file, dtype name, shape, byte range."""

    def __init__(self, path: str, dtype: str, shape: tuple[int, ...], begin: int, end: int):
        self.path, self.dtype, self.shape, self.begin, self.end = path, dtype, shape, begin, end


class SafetensorsDir:
    """The tensors of a model directory: model.safetensors, or shards listed by
    model.safetensors.index.json (any *.safetensors files when there is no index)."""

    def __init__(self, directory: str):
        self.directory = directory
        self.tensors: dict[str, TensorInfo] = {}
        self._maps: dict[str, np.memmap] = {}
        for path in _safetensors_files(directory):
            for name, info in read_header(path).items():
                if name in self.tensors:
                    raise ValueError(f"tensor {name} appears in both {self.tensors[name].path} "
                                     f"and {path}; remove the duplicate file")
                self.tensors[name] = info

    def array(self, name: str) -> np.ndarray:
        """A read-only numpy view of the tensor (nothing is read until it is used)."""
        info = self.tensors[name]
        if info.dtype not in DTYPES:
            raise ValueError(f"tensor {name} has dtype {info.dtype}, which tailjax does not read")
        if info.path not in self._maps:
            self._maps[info.path] = np.memmap(info.path, dtype=np.uint8, mode="r")
        raw = self._maps[info.path][info.begin:info.end]
        return raw.view(DTYPES[info.dtype]).reshape(info.shape)


def read_header(path: str) -> dict[str, TensorInfo]:
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path} is not a safetensors file (shorter than its header)")
        (n,) = struct.unpack("<Q", prefix)
        size = os.path.getsize(path)
        if n > size - 8:
            raise ValueError(f"{path} is not a safetensors file (header length {n} exceeds the "
                             f"file size {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(f"{path} is not a safetensors file (its header is not JSON)") from None
    header.pop("__metadata__", None)
    start = 8 + n
    out = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        shape = tuple(h["shape"])
        if start + end > size:
            raise ValueError(f"{path} is truncated: tensor {name} ends at byte {start + end} "
                             f"of a {size}-byte file")
        itemsize = DTYPES[h["dtype"]].itemsize if h["dtype"] in DTYPES else None
        if itemsize is not None and (end - begin) != itemsize * int(np.prod(shape)):
            needed = itemsize * int(np.prod(shape))
            raise ValueError(f"{path}: tensor {name} has {end - begin} bytes, but shape "
                             f"{list(shape)} of {h['dtype']} needs {needed}")
        out[name] = TensorInfo(path, h["dtype"], shape, start + begin, start + end)
    return out


def _safetensors_files(directory: str) -> list[str]:
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        missing = [p for p in files if not os.path.exists(os.path.join(directory, p))]
        if missing:
            raise ValueError(f"{index} lists {', '.join(missing)}, which are missing from "
                             f"{directory}; download every shard")
        return [os.path.join(directory, p) for p in files]
    files = sorted(p for p in os.listdir(directory) if p.endswith(".safetensors"))
    if not files:
        raise ValueError(f"no *.safetensors files in {directory}; tailjax reads safetensors only "
                         "(no pickled .bin files)")
    return [os.path.join(directory, p) for p in files]


def write_dir(directory: str, tensors: Iterable[tuple[str, tuple[int, ...], np.dtype,
                                                      Callable[[], np.ndarray]]],
              shard_bytes: int = SHARD_BYTES) -> list[str]:
    """Write tensors (name, shape, dtype, producer) as model.safetensors, or as numbered shards
    plus model.safetensors.index.json when they exceed `shard_bytes`. Each producer is called
    once, when its bytes are written, so only one tensor is in memory at a time."""
    tensors = list(tensors)
    groups: list[list] = [[]]
    size = 0
    for t in tensors:
        nbytes = int(np.prod(t[1])) * np.dtype(t[2]).itemsize
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += nbytes
    names = (["model.safetensors"] if len(groups) == 1 else
             [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))])
    os.makedirs(directory, exist_ok=True)
    total = 0
    for fname, group in zip(names, groups):
        total += _write_file(os.path.join(directory, fname), group)
    if len(groups) > 1:
        weight_map = {t[0]: fname for fname, group in zip(names, groups) for t in group}
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return names


def _write_file(path: str, group) -> int:
    header: dict[str, Mapping] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, dtype, _ in group:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        header[name] = {"dtype": DTYPE_NAMES[np.dtype(dtype)], "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape, dtype, produce in group:
            array = np.ascontiguousarray(produce())
            if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
                raise AssertionError(f"{name}: produced {array.shape} {array.dtype}, "
                                     f"declared {tuple(shape)} {np.dtype(dtype)}")
            f.write(array.reshape(-1).view(np.uint8).data)  # no extra copy
    return offset
