"""The classic Python-2 `mnist.pkl.gz`, read through an unpickler that can only build numeric arrays."""

import io
import math
import pickle

import numpy as np

from mnist_scratch.errors import FormatError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

_DTYPES = {f"{k}{n}" for k in "iuf" for n in (1, 2, 4, 8)} | {"b1"}
# Opcodes one unpickling may run. The classic file takes about 200 (its arrays' bytes are one opcode each); every
# opcode builds at most one object or container of fixed size besides its own payload, so memory stays within the
# bytes read plus MAX_OPS small objects, where a file of empty-list opcodes would otherwise build one per byte.
MAX_OPS = 100_000


class _NdarrayMarker:
    """Stands in for numpy.ndarray: only _reconstruct may use it, calling it builds nothing."""


_NDARRAY = _NdarrayMarker()


def _reconstruct(subtype, shape, typecode):
    """numpy's array constructor, limited to the empty array numpy itself pickles."""
    if subtype is not _NDARRAY or tuple(shape) != (0,) or typecode not in ("b", b"b"):
        raise FormatError("pickle: unexpected array constructor arguments")
    return _np_reconstruct(np.ndarray, (0,), b"b")


def _dtype(obj, align=False, copy=False):
    """numpy.dtype, limited to plain numeric types."""
    if not isinstance(obj, str) or obj not in _DTYPES:
        raise FormatError(f"pickle: dtype {obj!r} is not a plain numeric type")
    return np.dtype(obj, bool(align), bool(copy))


# exactly the names a pickled numpy array needs (numpy 1 and numpy 2 spellings of _reconstruct)
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
}


def _check_state(inst, state) -> None:
    """BUILD may only set the state numpy itself writes for a plain dtype or array (nothing crafted)."""
    if isinstance(inst, np.dtype):
        ok = (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("<", ">", "|", "=")
              and state[2:] == (None, None, None, -1, -1, 0))
    elif isinstance(inst, np.ndarray):
        ok = (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and isinstance(state[1], tuple)
              and all(type(d) is int and d >= 0 for d in state[1]) and isinstance(state[2], np.dtype)
              and state[2].kind in "biuf" and isinstance(state[3], bool) and isinstance(state[4], str | bytes)
              and len(state[4]) == math.prod(state[1]) * state[2].itemsize)
    else:
        ok = False
    if not ok:
        raise FormatError(f"pickle: unexpected state for {type(inst).__name__}")


def _counted(op):
    """A dispatch entry that first counts the opcode against MAX_OPS."""

    def run(self):
        self.ops += 1
        if self.ops > MAX_OPS:
            raise FormatError(f"more than {MAX_OPS:,} pickle opcodes; the classic file needs a few hundred")
        op(self)

    return run


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that resolves only the allow-listed numpy names, checks every BUILD state and runs at most
    MAX_OPS opcodes."""

    ops = 0
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        """Refuse every global outside ALLOWED, so the pickle cannot call anything else."""
        obj = ALLOWED.get((module, name))
        if obj is None:
            raise FormatError(f"pickle names {module}.{name}, which is not allowed (only numpy arrays)")
        return obj

    def load_build(self):
        """BUILD, after checking the state it would set."""
        _check_state(self.stack[-2], self.stack[-1])
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):
        """BYTEARRAY8 (protocol 5, never in the classic file) allocates its declared size before reading: refused."""
        raise FormatError("pickle: BYTEARRAY8 is not allowed (it would allocate up to 2^63 bytes up front)")

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch = {k: _counted(op) for k, op in dispatch.items()}


def restricted_loads(data: bytes, name: str = "pickle"):
    """Unpickle Python-2 era bytes (latin1 strings) allowing only numeric numpy arrays."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except FormatError as e:
        raise FormatError(f"{name}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any malformed pickle is a format error
        raise FormatError(f"{name}: not a valid pickle ({type(e).__name__}: {str(e)[:80]})") from None


def classic_splits(obj, n_train: int, n_valid: int, n_test: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Check the ((x, y), (x, y), (x, y)) layout and return uint8 images (N, 784) and labels (N,)."""
    if not (isinstance(obj, tuple | list) and len(obj) == 3):
        raise FormatError(f"{name}: expected ((x_train, y_train), (x_valid, y_valid), (x_test, y_test))")
    xs, ys = [], []
    for part, pair, rows in zip(("train", "valid", "test"), obj, (n_train, n_valid, n_test), strict=True):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise FormatError(f"{name}: {part} is not an (x, y) pair")
        x, y = pair
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (rows, 784)):
            raise FormatError(f"{name}: {part} images must be float32 ({rows}, 784), got {_describe(x)}")
        if not (isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (rows,)):
            raise FormatError(f"{name}: {part} labels must be integers ({rows},), got {_describe(y)}")
        if rows and (y.min() < 0 or y.max() > 9):
            raise FormatError(f"{name}: {part} labels outside 0..9")
        scaled = x * np.float32(256)  # exact for byte / 256 values
        u8 = scaled.astype(np.uint8)
        if rows and (x.min() < 0 or x.max() >= 1 or not np.array_equal(u8, scaled)):
            raise FormatError(f"{name}: {part} pixels are not bytes / 256 in [0, 1)")
        xs.append(u8)
        ys.append(y.astype(np.uint8))
    return np.concatenate(xs), np.concatenate(ys)


def _describe(a) -> str:
    """A short description of what was found instead."""
    if isinstance(a, np.ndarray):
        return f"{a.dtype} {a.shape}"
    return type(a).__name__
