"""load_dataset / prepare_dataset: from the cache when intact, else fetch, verify, cache, normalize."""

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mnist_scratch.data.cache import MNIST, Cache, Slot, Stored, cache_root, check_name
from mnist_scratch.data.check import FileFact
from mnist_scratch.data.diskio import disk_errors
from mnist_scratch.data.pins import OFFICIAL, Net, Pins
from mnist_scratch.data.split import Dataset, histograms, make_dataset, split_stats
from mnist_scratch.data.transfer import Progress, is_http_url, matches, redact
from mnist_scratch.errors import DataError, UsageError

SOURCES = ("auto", "web", "index", "local")


@dataclass
class DataReport:
    """What `download` reports: where the data came from, each file's digest, the split and its stats."""

    source: str  # "web", "index" or "local" (the source that served the cached copy, when cached)
    origin: str  # URL or path it came from
    verified: bool  # official MNIST (every digest matched); False: a custom dataset
    cached: bool  # True when this run read the cache without fetching
    data_dir: str
    files: list[FileFact]
    split: dict[str, int]
    stats: dict[str, float]  # mean/std before normalizing; train_/valid_ mean/std after
    attempts: list = field(default_factory=list)  # sources.Attempt tried and failed before success
    name: str = MNIST  # the name the dataset is cached (and trained) under
    digest: str = ""  # sha256 of its images and labels: what a run records to be evaluated on the same data

    def to_json(self) -> dict:
        """A JSON-ready dict (keys: source, files, split, stats, and the rest)."""
        return asdict(self)


def load_dataset(data_dir: Path | None = None, *, device="cpu", download: bool = True, source: str = "auto",
                 from_path: Path | None = None, progress: Progress | None = None, index_url: str | None = None,
                 pins: Pins = OFFICIAL, name: str = MNIST) -> Dataset:
    """The normalized canonical split: from the cache when present, else fetched (see prepare_dataset)."""
    return prepare_dataset(data_dir, device=device, download=download, source=source, from_path=from_path,
                           progress=progress, index_url=index_url, pins=pins, name=name)[0]


def prepare_dataset(data_dir: Path | None = None, *, device="cpu", download: bool = True, source: str = "auto",
                    from_path: Path | Sequence[Path] | None = None, progress: Progress | None = None,
                    index_url: str | None = None, force: bool = False, verify_raw: bool = False,
                    pins: Pins = OFFICIAL, net: Net | None = None, name: str = MNIST) -> tuple[Dataset, DataReport]:
    """The dataset and its report. force: rebuild the processed file; verify_raw: re-hash cached raw files.

    name: mnist (the official set, fetched when missing) or a name given to other files with --from: such a set is
    only ever read from the cache or from --from, never replaced by MNIST."""
    if source not in SOURCES:
        raise UsageError(f"--source must be one of {', '.join(SOURCES)}, not {source!r}")
    if name != MNIST:
        return _named(Cache(cache_root(data_dir)), check_name(name), source, from_path, pins, force, device)
    if source == "local" and from_path is None:
        raise UsageError("--source local needs --from PATH")
    if from_path is not None and source not in ("auto", "local"):
        raise UsageError(f"--from reads local files; it cannot be combined with --source {source}")
    net = Net(index_url=index_url) if net is None else net
    if net.index_url is not None and not is_http_url(net.index_url):
        raise UsageError(f"--index-url must be an http:// or https:// URL, got {redact(net.index_url)!r}")
    cache = Cache(cache_root(data_dir))
    if from_path is not None:
        return _local(cache, from_path, pins, force, device)
    slot = cache.slot()
    why = "forced"
    if not force:
        stored, why = slot.load(pins)
        if stored is not None and (not verify_raw or _raw_intact(cache, stored, pins)):
            return _result(cache, stored, pins, device, cached=True)
    if not download:
        raise DataError(f"no intact dataset in {cache.root} ({why}); run `mnist-scratch download` first")
    from mnist_scratch.data.sources import Fetcher

    with cache.locked():
        if not force:  # another process may have finished while this one waited for the lock
            stored, _ = slot.load(pins)
            if stored is not None and (not verify_raw or _raw_intact(cache, stored, pins)):
                return _result(cache, stored, pins, device, cached=True)
        fetcher = Fetcher(cache.raw, pins, net, progress)
        with disk_errors(cache.root):
            fetched = fetcher.fetch(source)
        stored = _store(slot, fetched, pins)
    return _result(cache, stored, pins, device, cached=False, attempts=fetcher.attempts)


def _named(cache: Cache, name: str, source: str, from_path, pins: Pins, force: bool,
           device) -> tuple[Dataset, DataReport]:
    """A dataset the user named: stored from --from, or read back from its own slot (never fetched)."""
    if source not in ("auto", "local"):
        raise UsageError(f"--source {source} fetches MNIST; the dataset {name} comes from --from DIR only")
    if from_path is not None:
        return _local(cache, from_path, pins, force, device, name)
    stored, why = cache.named(name).load(pins)
    if stored is None:
        raise DataError(f"no dataset named {name} in {cache.root} ({why}); add it with "
                        f"`mnist-scratch download --from DIR --name {name}`")
    return _result(cache, stored, pins, device, cached=True, name=name)


def _local(cache: Cache, from_path, pins: Pins, force: bool, device,
           name: str = MNIST) -> tuple[Dataset, DataReport]:
    """--from PATH: official files go to the main slot, others to a custom slot of their own."""
    from mnist_scratch.data.local import read_local, scan_local

    found = scan_local(from_path, pins)
    slot = cache.named(name) if name != MNIST else cache.slot(None if found.verified else found.key)
    if not force:
        stored, _ = slot.load(pins)
        same = stored is not None and stored.manifest.get("files") == _facts_json(found.files)
        if stored is not None and ((found.verified and name == MNIST) or same):
            return _result(cache, stored, pins, device, cached=True, name=name)
    with cache.locked():
        stored = _store(slot, read_local(found, pins), pins)
    return _result(cache, stored, pins, device, cached=False, name=name)


def _store(slot: Slot, fetched, pins: Pins) -> Stored:
    """Histogram the split and write it with its manifest."""
    images = torch.from_numpy(fetched.canonical.images)
    hist_train, hist_valid = histograms(images, pins.n_train, pins.n_valid)
    tensors = {"images": images, "labels": torch.from_numpy(fetched.canonical.labels),
               "hist_train": hist_train, "hist_valid": hist_valid}
    manifest = {"source": fetched.source, "origin": fetched.origin, "files": _facts_json(fetched.files),
                "verified": all(f.verified for f in fetched.files), "raw": _facts_json(fetched.raw),
                "split": {"train": pins.n_train, "valid": pins.n_valid, "test": pins.n_test},
                "digest": data_digest(tensors["images"], tensors["labels"])}
    return slot.save(tensors, manifest)


def data_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 of the canonical images and labels: the same data whatever file format or source it came from."""
    h = hashlib.sha256()
    for t in (images, labels):
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    return "sha256:" + h.hexdigest()


def _raw_intact(cache: Cache, stored: Stored, pins: Pins) -> bool:
    """Every raw file the manifest lists is either absent or still hashes to its digest."""
    raw = stored.manifest.get("raw", [])
    for f in raw if isinstance(raw, list) else []:
        name, digest = (f.get("name"), f.get("digest")) if isinstance(f, dict) else (None, None)
        if not (isinstance(name, str) and isinstance(digest, str) and Path(name).name == name not in ("", "..")):
            return False  # a manifest naming a path outside raw/ (or no name) is not one this tool wrote
        path = cache.raw / name
        if os.path.lexists(path) and not matches(path, digest, pins.size_cap(name)):
            return False
    return True


def _facts_json(files: list[FileFact]) -> list[dict]:
    """FileFacts as plain dicts."""
    return [asdict(f) for f in files]


def _result(cache: Cache, stored: Stored, pins: Pins, device, *, cached: bool,
            attempts=(), name: str = MNIST) -> tuple[Dataset, DataReport]:
    """Normalize the stored split and describe it."""
    t, m = stored.tensors, stored.manifest
    digest = m.get("digest")  # caches written before datasets had names lack it: hashed here, once a load
    if not (isinstance(digest, str) and len(digest) == 71 and digest.startswith("sha256:")):
        digest = data_digest(t["images"], t["labels"])
    mean, std, stats = split_stats(t["hist_train"], t["hist_valid"])
    ds = make_dataset(t["images"], t["labels"], pins.n_train, pins.n_valid, mean, std,
                      verified=bool(m["verified"]), source=m["source"], device=device, release=stored.release,
                      name=name, digest=digest)
    files = [FileFact(f["name"], f["digest"], bool(f["verified"])) for f in m["files"]]
    report = DataReport(m["source"], m["origin"], bool(m["verified"]), cached, str(cache.root), files,
                        dict(m["split"]), stats, list(attempts), name, digest)
    return ds, report
