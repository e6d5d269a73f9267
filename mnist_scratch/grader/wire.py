"""The pipe between the grader and the child that runs the learner's code: plain data and tensors as raw bytes.

A frame is an 8-byte length, a JSON header and the tensors' bytes. Tensors are numbered per frame, so the same tensor
sent twice (or reached through `.g`) is one tensor on the other side. The grader decodes strictly: JSON, dtypes from
a short list, sizes checked; it only ever builds plain torch tensors, never unpickles what the child sends.
"""

import json
import os
import select
import time

import torch
from torch import Tensor

MAX_FRAME = 16 * 2**20  # a reply holds a few tensors of the graded shapes (well under 1 MB); a bigger frame is not one
MAX_DEPTH = 20
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float64, torch.float32, torch.float16, torch.bfloat16,
                                                     torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
                                                     torch.bool)}


class WireError(Exception):
    """The other side sent something that is not a frame, or went quiet past the deadline."""


class Opaque:
    """A value of the learner's that is neither plain data nor a tensor: only its type name crosses."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def plain(t: Tensor) -> Tensor:
    """A tensor subclass (or a tensor with a __torch_function__ trick) as a plain contiguous CPU tensor."""
    with torch._C.DisableTorchFunction():
        t = torch.Tensor.as_subclass(t, Tensor)
        return t.detach().cpu().contiguous().clone()


class Encoder:
    """Turns values into a JSON tree plus numbered tensors; `.g` and `.grad` travel with each tensor."""

    def __init__(self):
        self.ids: dict[int, int] = {}
        self.keep: list[Tensor] = []  # the original objects, so ids stay unique while encoding
        self.entries: list[dict] = []
        self.blobs: list[bytes] = []

    def tensor(self, t: Tensor, depth: int) -> int:
        if id(t) in self.ids:
            return self.ids[id(t)]
        n = self._register(t)
        self._attrs(t, n, depth)
        return n

    def number(self, ts: list) -> None:
        """Give ts the numbers 0, 1, ... in order (before any tensor their .g reaches)."""
        for t in ts:
            self._register(t)
        for n, t in enumerate(ts):
            self._attrs(t, n, 0)

    def _register(self, t: Tensor) -> int:
        p = plain(t)
        if str(p.dtype).removeprefix("torch.") not in DTYPES:
            p = p.double() if p.is_floating_point() or p.is_complex() else p.long()
        n = len(self.entries)
        self.ids[id(t)] = n
        self.keep.append(t)
        self.entries.append({"dtype": str(p.dtype).removeprefix("torch."), "shape": list(p.shape)})
        self.blobs.append(p.reshape(-1).view(torch.uint8).numpy().tobytes() if p.numel() else b"")
        return n

    def _attrs(self, t: Tensor, n: int, depth: int) -> None:
        for attr in ("g", "grad"):
            v = _attr(t, attr)
            if v is not None:
                self.entries[n][attr] = self.value(v, depth + 1)

    def value(self, v, depth: int = 0):
        if depth > MAX_DEPTH:
            return {"$o": "too deep"}
        if v is None or isinstance(v, (bool, str)) or type(v) in (int, float):
            return v
        if isinstance(v, Tensor):
            return {"$t": self.tensor(v, depth)}
        if isinstance(v, (int, float)):  # a subclass of int or float: its plain value
            return float(v) if isinstance(v, float) else int(v)
        if type(v) in (list, tuple):
            return {"$" + type(v).__name__: [self.value(x, depth + 1) for x in v]}
        if type(v) is dict and all(type(k) is str for k in v):
            return {"$dict": {k: self.value(x, depth + 1) for k, x in v.items()}}
        if type(v).__module__ == "numpy" and hasattr(v, "dtype"):
            try:
                return {"$t": self.tensor(torch.as_tensor(v), depth)}
            except (TypeError, ValueError, RuntimeError):
                pass
        return {"$o": type(v).__name__[:80]}


def _attr(t: Tensor, name: str):
    try:
        v = t.grad if name == "grad" else t.__dict__.get(name)
    except Exception:  # noqa: BLE001 - a learner's tensor may raise on any attribute
        return None
    return v


def encode(header: dict, values: dict, enc: "Encoder | None" = None) -> bytes:
    """One frame: header plus values (each a tree) and the tensor table."""
    enc = enc or Encoder()
    trees = {k: enc.value(v) for k, v in values.items()}
    body = json.dumps({**header, "values": trees, "tensors": enc.entries}, allow_nan=True).encode()
    data = b"".join(enc.blobs)
    return len(body).to_bytes(4, "big") + len(data).to_bytes(4, "big") + body + data


class Decoder:
    """Builds plain tensors from a frame; `known` maps tensor numbers to objects that already exist here."""

    def __init__(self, header: dict, data: bytes, known: "dict[int, Tensor] | None" = None):
        self.header, self.known = header, known or {}
        entries = header.get("tensors", [])
        if not isinstance(entries, list):
            raise WireError("bad tensor table")
        self.tensors, off = [], 0
        for e in entries:
            dtype = DTYPES.get(e.get("dtype")) if isinstance(e, dict) else None
            shape = e.get("shape") if isinstance(e, dict) else None
            if dtype is None or not isinstance(shape, list) or not all(type(s) is int and 0 <= s for s in shape):
                raise WireError("bad tensor entry")
            numel = 1
            for s in shape:
                numel *= s
            size = numel * torch.empty((), dtype=dtype).element_size()
            if off + size > len(data):
                raise WireError("tensor bytes missing")
            buf = bytearray(data[off:off + size])
            off += size
            t = torch.frombuffer(buf, dtype=dtype) if size else torch.empty(0, dtype=dtype)
            self.tensors.append(t.reshape(shape))
        self.entries = entries

    def value(self, tree, depth: int = 0):
        if depth > MAX_DEPTH + 2:
            raise WireError("value too deep")
        if tree is None or isinstance(tree, (bool, int, float, str)):
            return tree
        if not isinstance(tree, dict) or len(tree) != 1:
            raise WireError("bad value")
        (tag, v), = tree.items()
        if tag == "$t":
            if type(v) is not int or not 0 <= v < len(self.tensors):
                raise WireError("bad tensor number")
            return self.known.get(v, self.tensors[v])
        if tag in ("$list", "$tuple") and isinstance(v, list):
            items = [self.value(x, depth + 1) for x in v]
            return items if tag == "$list" else tuple(items)
        if tag == "$dict" and isinstance(v, dict):
            return {k: self.value(x, depth + 1) for k, x in v.items()}
        if tag == "$o" and isinstance(v, str):
            return Opaque(v)
        raise WireError("bad value")

    def attrs(self, n: int) -> dict:
        """The `.g` / `.grad` the other side's tensor number n carried (absent ones left out)."""
        e = self.entries[n]
        return {a: self.value(e[a]) for a in ("g", "grad") if a in e}


def write_frame(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int, deadline: "float | None" = None) -> tuple[dict, bytes]:
    """(header, tensor bytes) of the next frame; WireError on EOF, garbage or the deadline passing."""
    head = _read(fd, 8, deadline)
    n_body, n_data = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
    if n_body + n_data > MAX_FRAME:
        raise WireError("frame too large")
    body = _read(fd, n_body, deadline)
    data = _read(fd, n_data, deadline)
    try:
        header = json.loads(body)
    except (ValueError, RecursionError, MemoryError):  # (UnicodeDecodeError is a ValueError) nested too deep
        raise WireError("frame is not JSON") from None
    if not isinstance(header, dict):
        raise WireError("frame is not an object")
    return header, data


def _read(fd: int, n: int, deadline: "float | None") -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise WireError("timeout")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
