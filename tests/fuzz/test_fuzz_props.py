"""Property tests (hypothesis) for the config loader, the checkpoint loader, the restricted unpickler and the idx
parser: any input gives a valid result or the project's own error, never another exception or a large allocation.
They drive the same entry functions as the atheris harnesses (fuzz/targets.py). The idx parser's and unpickler's
byte-level properties (any bytes, one flipped byte) live in test_data_formats.py / test_data_pickle.py.
"""

import importlib.util
import json
import math
import struct
import tracemalloc
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

from mnist_scratch.config import TrainConfig, merge
from mnist_scratch.errors import ConfigError
from mnist_scratch.training import checkpoint

_spec = importlib.util.spec_from_file_location("fuzz_targets", Path(__file__).resolve().parents[2] / "fuzz"
                                               / "targets.py")
targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(targets)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = [f.name for f in TrainConfig.__dataclass_fields__.values()]


def _bounded(fn, data: bytes, factor: int = 64) -> None:
    """Run fn(data) and check its peak allocation stays near the input's size."""
    tracemalloc.start()
    try:
        fn(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < factor * len(data) + (4 << 20), peak


# --- the config loader: TOML text -> TrainConfig or ConfigError ---

_scalar = st.one_of(
    st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.sampled_from(["nan", "+inf", "-inf", "1e400", "0x10", "1_000", "true", "false", "1979-05-27", "07:32:00"]),
    st.text(max_size=12).map(json.dumps), st.sampled_from(['"ce"', '"mse"', '"onecycle"', '"cpu"', '"manual"']))
_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(st.sampled_from(["a", "b", "nh"]), inner, max_size=3).map(
        lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}")), max_leaves=8)
_toml = st.lists(st.tuples(st.sampled_from([*KEYS, "lr_", "x", "nh.a"]), _value), max_size=6).map(
    lambda kv: "".join(f"{k} = {v}\n" for k, v in kv))


@FAST
@given(_toml)
def test_config_from_structured_toml(text):
    targets.config(text.encode())


@FAST
@given(st.text(max_size=300))
def test_config_from_any_text(text):
    targets.config(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.dictionaries(st.sampled_from([*KEYS, "dropout"]), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.booleans(), st.text(max_size=3)), max_size=3)), max_size=5))
def test_config_merge_of_any_flag_values(values):
    try:
        cfg = merge(TrainConfig(), values)
    except ConfigError:
        return
    assert cfg.bs > 0 and cfg.epochs > 0 and cfg.lr > 0 and math.isfinite(cfg.lr) and all(n > 0 for n in cfg.nh)


# --- the checkpoint loader: bytes -> Checkpoint or CheckpointError ---

def _valid(cfg: TrainConfig = TrainConfig(nh=(2,))) -> bytes:
    state = {k: torch.full(s, 0.5) for k, s in checkpoint.expected_shapes(cfg).items()}
    meta = {"format": checkpoint.FORMAT, "config": json.dumps(cfg.to_dict()), "epoch": "1", "mean": "0.1",
            "std": "0.3", "best": "0.5", "data": ""}
    return st_save(state, metadata={**meta, "sha256": checkpoint.sealed(state, meta)})


VALID = _valid()


@FAST
@given(st.binary(max_size=600))
def test_checkpoint_from_any_bytes(data):
    _bounded(targets.checkpoint, data)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_checkpoint_with_overwritten_bytes(edits):
    data = bytearray(VALID)
    for pos, value in edits:
        data[pos] = value
    _bounded(targets.checkpoint, bytes(data))


@FAST
@given(st.integers(0, len(VALID)))
def test_checkpoint_truncated_anywhere(n):
    targets.checkpoint(VALID[:n])


_meta_value = st.one_of(st.text(max_size=20), st.sampled_from([
    checkpoint.FORMAT, checkpoint.LEGACY, "[]", "{}", "null", "1", '{"nh": [2]}', '{"nh": "2", "loss": "mse"}', "-1",
    "1e9", "nan"]))


@FAST
@given(st.dictionaries(st.sampled_from(["format", "config", "epoch", "mean", "std", "sha256", "best", "data", "x"]),
                       _meta_value),
       st.dictionaries(st.sampled_from(["lin1.w", "lin1.b", "lin2.w", "lin2.b", "momentum.lin1.w", "w"]),
                       st.tuples(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8,
                                                  torch.bfloat16, torch.bool]),
                                 st.lists(st.integers(0, 12), max_size=3)), max_size=5))
def test_checkpoint_with_arbitrary_metadata_and_tensors(meta, specs):
    meta.setdefault("format", checkpoint.FORMAT)
    state = {k: torch.zeros(shape, dtype=dtype) for k, (dtype, shape) in specs.items()}
    targets.checkpoint(st_save(state, metadata=meta))


# --- the restricted unpickler: pickles built from real opcodes around the allow-listed globals ---

_GLOBALS = [b"cnumpy\ndtype\n", b"cnumpy\nndarray\n", b"cnumpy.core.multiarray\n_reconstruct\n",
            b"cnumpy._core.multiarray\n_reconstruct\n", b"cos\nsystem\n", b"cbuiltins\neval\n"]
_ATOMS = [b"N", b"\x88", b"\x89", b")", b"]", b"}", b"(", b"t", b"l", b"\x85", b"\x86", b"\x87", b"R", b"b", b"a",
          b"e", b"s", b"u", b"0", b"2", b"q\x00", b"h\x00", b"\x94", b"U\x01b", b"U\x02<f", b"U\x02f4", b"U\x01|",
          b"U\x02u1", b"U\x01O", b"\x96" + struct.pack("<Q", 2**26), b"\x8e" + struct.pack("<Q", 2**26),
          b"\x95" + struct.pack("<Q", 2**26), b"T\xff\xff\xff\x7f", b"\x8a\x01\x01"]
_op = st.one_of(st.sampled_from(_GLOBALS + _ATOMS), st.integers(-1, 300).map(
    lambda i: b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([b"\x80\x02", b"\x80\x04", b"\x80\x05", b""]), st.lists(_op, max_size=30))
def test_unpickler_on_opcode_soup(proto, ops):
    _bounded(targets.unpickle, proto + b"".join(ops) + b".")


# --- the idx parser: any declared shape, incl. zeros beside huge sizes (what atheris found) ---

@FAST
@given(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]),
       st.lists(st.one_of(st.sampled_from([0, 1, 2, 3, 2**16, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1)),
                min_size=1, max_size=8),
       st.integers(0, 64))
def test_idx_any_declared_shape(code, dims, payload):
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + b"\x01" * payload
    _bounded(targets.idx, data)
