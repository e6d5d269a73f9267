"""Write the seed corpus (fuzz/corpus/<target>/seed-*): valid inputs and near misses for each entry point.

Run from the repository root: python fuzz/seed_corpus.py (crashers found later are added by hand as crash-*).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as st_save

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests"))

from fakemnist import classic_splits, evil_pickle, idx_bytes, make_arrays, py2_pickle  # noqa: E402

from mnist_scratch import checkpoint  # noqa: E402
from mnist_scratch.config import TrainConfig  # noqa: E402


def _ckpt(cfg: TrainConfig, **meta_over) -> bytes:
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g) for k, s in checkpoint.expected_shapes(cfg).items()}
    meta = {"format": checkpoint.FORMAT, "config": json.dumps(cfg.to_dict()), "epoch": "1", "mean": "0.13",
            "std": "0.31", "sha256": checkpoint.digest(state), **meta_over}
    return st_save(state, metadata=meta)


def seeds() -> dict[str, dict[str, bytes]]:
    arrays = make_arrays(6, 2)
    small = TrainConfig(nh=(2,))
    return {
        "idx": {
            "u8-images": idx_bytes(arrays["train_images"][:2]),
            "u8-labels": idx_bytes(arrays["train_labels"]),
            "i32": idx_bytes(np.arange(6, dtype=">i4").reshape(2, 3), 0x0C),
            "f64": idx_bytes(np.linspace(0, 1, 4).astype(">f8"), 0x0E),
            "huge-dims": bytes([0, 0, 8, 3]) + b"\xff" * 12 + b"x",
            "bad-magic": b"\x01\x00\x08\x01\x00\x00\x00\x01x",
        },
        "unpickle": {
            "classic": py2_pickle(classic_splits(arrays, n_train=4)),
            "os-system": evil_pickle("os", "system", "touch /tmp/fuzz-sentinel"),
            "dtype-object": b"\x80\x02cnumpy\ndtype\nU\x01O\x85R.",
            "empty-array-1gib": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x40"
                                b"\x85U\x01b\x87R.",
        },
        "config": {
            name: (ROOT.parent / "configs" / f"{name}.toml").read_bytes() for name in ("default", "lesson", "wide")
        } | {
            "types": b'nh = "100,50"\nbs = 64.0\nlr = nan\nloss = "hinge"\n',
            "unknown": b"learning_rate = 0.1\n[extra]\nx = 1\n",
        },
        "checkpoint": {
            "valid": _ckpt(small),
            "valid-mse": _ckpt(TrainConfig(nh=(3, 2), loss="mse")),
            "config-list": _ckpt(small, config="[]"),
            "foreign": st_save({"weight": torch.zeros(3)}),
            "truncated": _ckpt(small)[:200],
        },
    }


def main() -> None:
    for target, files in seeds().items():
        folder = ROOT / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
