"""atomic_write's file modes: a new file gets what open() would give it; a replaced one keeps its own."""

import os
import stat

import pytest

from mnist_scratch.atomic import atomic_write_bytes, temp_glob


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask,want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_users_umask_not_a_private_0600(tmp_path, umask, mask, want):
    """mkstemp creates 0600 files: a PNG or exercise the user shares would be unreadable to everyone else."""
    umask(mask)
    atomic_write_bytes(tmp_path / "new.png", b"data")
    assert mode(tmp_path / "new.png") == want and (tmp_path / "new.png").read_bytes() == b"data"


@pytest.mark.parametrize("old", [0o640, 0o604, 0o755])
def test_a_replaced_file_keeps_its_permissions(tmp_path, umask, old):
    """Rewriting a user's existing file (show --png over their PNG) must not change who may read it."""
    umask(0o077)
    path = tmp_path / "kept.png"
    path.write_bytes(b"old")
    path.chmod(old)
    atomic_write_bytes(path, b"new")
    assert mode(path) == old and path.read_bytes() == b"new"


def test_no_temp_file_is_left_and_temp_names_match_the_sweep(tmp_path, monkeypatch):
    """A failed write removes its temp file; the temp file it made was one the sweep recognises as the tool's."""
    seen = []

    def fail(tmp):
        seen.append(tmp.name)
        raise OSError("disk full")

    from mnist_scratch.atomic import atomic_write

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "f.json", fail)
    assert list(tmp_path.iterdir()) == []
    (name,) = seen
    assert tmp_path.joinpath(name).match(temp_glob("f.json"))
