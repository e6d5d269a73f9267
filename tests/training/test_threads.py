"""The default thread count: from a step's work, the affinity mask and the cgroup quota; recorded and reused."""

import json

import pytest
from typer.testing import CliRunner

from mnist_scratch.cli import app
from mnist_scratch.training import threads
from mnist_scratch.training.threads import auto_threads, quota, read_quota, step_flops, usable_cpus


def test_step_flops_counts_the_five_gemms_of_one_hidden_layer():
    bs, a, b, c = 64, 784, 50, 10
    assert step_flops((b,), bs) == 2 * bs * (a * b * 2 + b * c * 3)  # layer 1: forward, w.g; layer 2: and inp.g


@pytest.mark.parametrize("text,cfs,want", [
    ("max 100000", None, None), ("150000 100000", None, 1.5), ("200000", None, 2.0), ("garbage", None, None),
    ("0 0", None, None), (None, ("-1", "100000"), None), (None, ("50000", "100000"), 0.5), (None, ("x", "y"), None),
    (None, None, None),
])
def test_quota_parses_cgroup_v2_and_v1(text, cfs, want):
    assert quota(cpu_max=text, cfs=cfs) == want


def fake_cgroup(tmp_path, own: str, limits: dict[str, str], v1: "tuple[str, str] | None" = None):
    root = tmp_path / "cgroup"
    for group, text in limits.items():
        (root / group).mkdir(parents=True, exist_ok=True)
        (root / group / "cpu.max").write_text(text + "\n")
    if v1:
        (root / "cpu").mkdir(parents=True)
        (root / "cpu" / "cpu.cfs_quota_us").write_text(v1[0])
        (root / "cpu" / "cpu.cfs_period_us").write_text(v1[1])
    proc = tmp_path / "proc-cgroup"
    proc.write_text(f"4:memory:/x\n0::{own}\n")
    return root, proc


def test_read_quota_takes_the_tightest_limit_from_the_process_group_up(tmp_path):
    root, proc = fake_cgroup(tmp_path, "/a/b", {".": "max 100000", "a": "150000 100000", "a/b": "400000 100000"})
    assert read_quota(root, proc) == 1.5  # the parent's limit binds the child


def test_read_quota_falls_back_to_cgroup_v1_and_to_none(tmp_path):
    root, proc = fake_cgroup(tmp_path, "/", {}, v1=("300000", "100000"))
    assert read_quota(root, proc) == 3.0
    root, proc = fake_cgroup(tmp_path / "none", "/", {"": "max 100000"}, v1=("-1", "100000"))
    assert read_quota(root, proc) is None
    assert read_quota(tmp_path / "missing", tmp_path / "missing-proc") is None


@pytest.mark.parametrize("affinity,q,want", [(2, None, 2), (16, 1.5, 1), (16, 0.2, 1), (4, 8.0, 4), (1, None, 1)])
def test_usable_cpus_is_the_affinity_capped_by_the_quota(affinity, q, want):
    assert usable_cpus(affinity, q) == want


def test_usable_cpus_reads_this_process_affinity():
    assert 1 <= usable_cpus() <= 4096


@pytest.mark.parametrize("nh,bs,cpus,want", [
    ((50,), 64, 2, 1), ((50,), 256, 64, 1),  # small steps: one thread whatever the machine
    ((1000,), 256, 2, 2), ((1000,), 256, 1, 1), ((1000,), 256, 64, 8),  # large: by the work, at most the CPUs
])
def test_auto_threads_follows_the_work_and_the_cpus(nh, bs, cpus, want):
    assert auto_threads(nh, bs, cpus) == want


def test_quiet_waits_keeps_the_users_choice():
    env: dict[str, str] = {}
    threads.quiet_waits(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.quiet_waits(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}


@pytest.mark.usefixtures("fake_dataset")
def test_train_records_the_chosen_count_and_resume_reuses_it(tmp_path, monkeypatch):
    import torch

    before = torch.get_num_threads()
    runner = CliRunner()
    args = ["--nh", "16", "--bs", "64", "--no-progress", "--json"]
    monkeypatch.setattr(threads, "usable_cpus", lambda cgroup_quota=None: 3)  # a 3-CPU machine
    monkeypatch.setattr(threads, "PER_THREAD", 1.0)  # every step is large: one thread per CPU
    try:
        r = runner.invoke(app, ["train", *args, "--epochs", "1", "--out", str(tmp_path / "a")])
        assert r.exit_code == 0, r.output
        assert json.loads((tmp_path / "a" / "config.json").read_text())["threads"] == 3
        assert torch.get_num_threads() == 3
        monkeypatch.setattr(threads, "usable_cpus", lambda cgroup_quota=None: 1)  # resumed on a smaller machine
        r = runner.invoke(app, ["train", "--resume", str(tmp_path / "a"), "--epochs", "2", "--json", "--no-progress"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["config"]["threads"] == 3 and torch.get_num_threads() == 3
        r = runner.invoke(app, ["train", *args, "--epochs", "1", "--threads", "2", "--out", str(tmp_path / "b")])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["config"]["threads"] == 2  # --threads overrides
    finally:
        torch.set_num_threads(before)
