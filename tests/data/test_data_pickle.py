"""The restricted unpickler: reads the classic Python-2 layout, refuses every other global, never runs code."""

import pickle

import numpy as np
import pytest
from fakemnist import N_TEST, N_TRAIN, N_VALID, classic_splits, evil_pickle, make_arrays, py2_pickle
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_scratch.data.classic import classic_splits as check_splits
from mnist_scratch.data.classic import restricted_loads
from mnist_scratch.errors import FormatError


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_reads_python2_classic_layout(module):
    arrays = make_arrays()
    obj = restricted_loads(py2_pickle(classic_splits(arrays), module))
    images, labels = check_splits(obj, N_TRAIN, N_VALID, N_TEST, "p")
    assert images.dtype == np.uint8 and images.shape == (N_TRAIN + N_VALID + N_TEST, 784)
    want = np.concatenate([arrays["train_images"], arrays["test_images"]]).reshape(-1, 784)
    assert np.array_equal(images, want)
    assert np.array_equal(labels, np.concatenate([arrays["train_labels"], arrays["test_labels"]]))


def test_fake_pickle_matches_what_plain_pickle_reads():
    """The builder writes what Python 2 wrote: the standard unpickler (latin1) reads the same arrays."""
    splits = classic_splits(make_arrays())
    plain = pickle.loads(py2_pickle(splits), encoding="latin1")
    for (x, y), (px, py) in zip(splits, plain, strict=True):
        assert np.array_equal(x, px) and np.array_equal(y, py)


@pytest.mark.parametrize(("module", "name", "arg"), [
    ("os", "system", "touch {s}"),
    ("posix", "system", "touch {s}"),
    ("builtins", "eval", "__import__('os').system('touch {s}')"),
    ("builtins", "exec", "open('{s}', 'w').close()"),
    ("subprocess", "getoutput", "touch {s}"),
    ("numpy", "load", "{s}"),
    ("numpy.core.multiarray", "scalar", "x"),
])
def test_refuses_everything_outside_the_allow_list(tmp_path, module, name, arg):
    sentinel = tmp_path / "sentinel"
    blob = evil_pickle(module, name, arg.format(s=sentinel))
    with pytest.raises(FormatError, match=f"names {module}.{name}, which is not allowed"):
        restricted_loads(blob, "evil.pkl")
    assert not sentinel.exists()


def test_the_evil_builder_really_would_run_code(tmp_path):
    """Guard against a vacuous test: an unrestricted unpickler does call the named function."""
    assert pickle.loads(evil_pickle("builtins", "len", "abcd")) == 4


@pytest.mark.parametrize(("blob", "msg"), [
    (b"\x80\x02cnumpy\ndtype\nU\x01O\x85R.", "dtype 'O' is not a plain numeric type"),
    (b"\x80\x02cnumpy\nndarray\nK\x05\x85R.", "not a valid pickle"),  # calling ndarray directly
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x40\x85U\x01b\x87R.",
     "unexpected array constructor"),  # a 1 GiB empty array
    (b"garbage", "not a valid pickle"),
    (b"", "not a valid pickle"),
])
def test_malformed_or_abusive_pickles(blob, msg):
    with pytest.raises(FormatError, match=msg):
        restricted_loads(blob)


@pytest.mark.parametrize("mutate", ["shape", "dtype", "labels", "pixels", "layout"])
def test_structure_checks(mutate):
    (x, y), (xv, yv), (xt, yt) = classic_splits(make_arrays())
    if mutate == "shape":
        x = x[:, :700]
    elif mutate == "dtype":
        x = x.astype(np.float64)
    elif mutate == "labels":
        y = y + 5
    elif mutate == "pixels":
        x = x + np.float32(1e-3)
    splits = ((x, y), (xv, yv)) if mutate == "layout" else ((x, y), (xv, yv), (xt, yt))
    obj = restricted_loads(py2_pickle(splits))
    with pytest.raises(FormatError):
        check_splits(obj, N_TRAIN, N_VALID, N_TEST, "p")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_only_format_error(data):
    try:
        restricted_loads(data)
    except FormatError:
        pass


_VALID = py2_pickle(classic_splits(make_arrays(6, 2)))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.integers(0, 255))
def test_one_flipped_byte_gives_a_value_or_format_error(pos, value):
    data = bytearray(_VALID)
    data[pos] = value
    try:
        restricted_loads(bytes(data))
    except FormatError:
        pass


@pytest.mark.parametrize("op", [pickle.EMPTY_LIST, pickle.EMPTY_DICT, pickle.EMPTY_TUPLE, pickle.NONE,
                                pickle.MARK + pickle.EMPTY_LIST + pickle.LIST])
def test_opcodes_that_build_objects_are_bounded_by_count_not_by_memory(op):
    import tracemalloc

    data = pickle.PROTO + b"\x02" + op * (2_000_000 // len(op)) + pickle.STOP  # 2 MB: 2 million objects if built
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="more than 100,000 pickle opcodes"):
            restricted_loads(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20  # 100,000 small objects at most; unbounded, 2 million lists take ~150 MB
