"""Joining the process group: a rendezvous address that never answers is given up on within --dist-timeout plus a
few seconds, with one line naming the address and no C++ frame dumps."""

import os
import subprocess
import sys
import time

import pytest
import torch
from faultkit import Silent

from mnist_scratch.errors import PeerLostError
from mnist_scratch.training import distributed
from mnist_scratch.training.distributed import GRACE, World


def test_a_listener_that_never_answers_is_given_up_within_the_timeout(monkeypatch):
    with Silent() as silent:
        port = silent.sock.getsockname()[1]
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(port))
        t0 = time.monotonic()
        with pytest.raises(PeerLostError) as e, distributed.joined(World(1, 2, 0, 2), torch.device("cpu"), 1.0):
            pass
        took = time.monotonic() - t0
    assert f"rank 1 could not reach the rendezvous at 127.0.0.1:{port} within 1 s" in str(e.value)
    assert took < 1.0 + GRACE + 2  # slack for a loaded machine; before, it retried for as long as the listener lived


def test_the_command_says_one_line_and_no_cpp_frames(tmp_path):
    with Silent() as silent:
        port = silent.sock.getsockname()[1]
        env = dict(os.environ, RANK="1", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), MNIST_SCRATCH_DATA=str(tmp_path / "cache"), HTTP_PROXY="http://127.0.0.1:9",
                   HTTPS_PROXY="http://127.0.0.1:9")
        env.pop("TORCH_CPP_LOG_LEVEL", None)
        r = subprocess.run([sys.executable, "-m", "mnist_scratch", "train", "--dist-timeout", "1", "--epochs", "1",
                            "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"error: rank 1 could not reach the rendezvous at 127.0.0.1:{port} within 1 s "
                                "(--dist-timeout); check MASTER_ADDR and MASTER_PORT")
