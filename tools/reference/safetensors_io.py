"""Minimal, dependency-free (torch + numpy only) safetensors reader/writer.

Format: 8-byte little-endian u64 N, then N bytes of JSON header
  {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}}
then the raw little-endian tensor bytes; offsets are relative to the end of the header.
BF16 goes through torch.bfloat16 <-> int16 bit views (numpy has no bfloat16).
"""
import json
import os
import struct

import numpy as np
import torch

# dtype name -> (torch dtype, numpy dtype used to move the raw bytes, element size)
_DTYPES = {
    "F32": (torch.float32, np.dtype("<f4")),
    "F16": (torch.float16, np.dtype("<f2")),
    "BF16": (torch.bfloat16, np.dtype("<i2")),  # raw bits, re-viewed as bfloat16
    "F64": (torch.float64, np.dtype("<f8")),
    "I64": (torch.int64, np.dtype("<i8")),
    "I32": (torch.int32, np.dtype("<i4")),
    "I16": (torch.int16, np.dtype("<i2")),
    "I8": (torch.int8, np.dtype("i1")),
    "U8": (torch.uint8, np.dtype("u1")),
    "BOOL": (torch.bool, np.dtype("?")),
}
_TORCH_TO_NAME = {v[0]: k for k, v in _DTYPES.items()}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2", copy=False).tobytes()
    name = _TORCH_TO_NAME[t.dtype]
    return t.numpy().astype(_DTYPES[name][1], copy=False).tobytes()


def save_file(tensors, path, metadata=None):
    """Write a dict {name: torch.Tensor} to `path` (keys sorted, like the reference library).
    Tensors are streamed one at a time, so large checkpoints need no second copy in memory."""
    header = {}
    offset = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        if t.dtype not in _TORCH_TO_NAME:
            raise TypeError(f"unsupported dtype {t.dtype} for {name}")
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": _TORCH_TO_NAME[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # pad so the data section is 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name in names:
            b = _tensor_bytes(tensors[name])
            assert len(b) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            f.write(b)
    return offset


def read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n).decode("utf-8")), 8 + n


def load_file(path):
    """Read a safetensors file into {name: torch.Tensor} in the stored dtype. Each tensor is read
    straight into its own buffer, so peak memory is about one copy of the weights."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        base = 8 + n
        items = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                       key=lambda kv: kv[1]["data_offsets"][0])
        for name, info in items:
            tdtype, npdtype = _DTYPES[info["dtype"]]
            b, e = info["data_offsets"]
            arr = np.empty((e - b) // npdtype.itemsize, dtype=npdtype)
            f.seek(base + b)
            if f.readinto(memoryview(arr).cast("B")) != e - b:
                raise ValueError(f"{path}: truncated data for {name}")
            t = torch.from_numpy(arr).reshape(info["shape"])
            if info["dtype"] == "BF16":
                t = t.view(torch.bfloat16)
            out[name] = t
    return out


def load_metadata(path):
    header, _ = read_header(path)
    return header.get("__metadata__", {})


def save_sharded(tensors, folder, n_shards, prefix="model"):
    """Split tensors (in sorted name order, roughly equal bytes) into n_shards files
    `{prefix}-0000i-of-0000n.safetensors` plus `{prefix}.safetensors.index.json`."""
    names = sorted(tensors)
    sizes = {k: tensors[k].numel() * tensors[k].element_size() for k in names}
    total = sum(sizes.values())
    shards = [[] for _ in range(n_shards)]
    acc = 0
    for k in names:
        idx = min(n_shards - 1, int(acc * n_shards // max(total, 1)))
        shards[idx].append(k)
        acc += sizes[k]
    weight_map = {}
    files = []
    for i, keys in enumerate(shards):
        fname = f"{prefix}-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file({k: tensors[k] for k in keys}, os.path.join(folder, fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
        files.append(fname)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, f"{prefix}.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return files


def load_checkpoint(folder):
    """Load every tensor of an HF checkpoint folder (single file or sharded with an index)."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        out = {}
        for fname in sorted(set(wm.values())):
            out.update(load_file(os.path.join(folder, fname)))
        missing = set(wm) - set(out)
        if missing:
            raise ValueError(f"index names tensors missing from shards: {sorted(missing)[:5]}")
        return out
    return load_file(os.path.join(folder, "model.safetensors"))
