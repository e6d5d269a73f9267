"""Mutation testing of the math and the checkers with mutmut, one target (module + its tests) at a time.

    python tools/mutants.py [TARGET ...] [--jobs N] [--only GLOB ...]   (or `make mutants TARGETS=nn JOBS=1`)
    python tools/mutants.py --semantic [TARGET ...]   (the hand-written mutants of SEMANTIC, a few minutes)

Each target runs in its own scratch copy under .mutants/TARGET/ (mutmut reads its settings from the
pyproject.toml of the folder it runs in, so every target gets a copy with its own [tool.mutmut] section).
mutmut runs the target's tests once to learn which test touches which function, then runs each mutant against
only those tests, with -x and a timeout. A surviving mutant listed in tools/mutants/equivalent.txt (with the
line it introduces, so a stale entry shows up) is reported as equivalent; any other survivor fails the run.
Not part of `make test` or CI: it takes tens of minutes.
"""

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutants"
EQUIVALENT = ROOT / "tools" / "mutants" / "equivalent.txt"
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider"]


@dataclass(frozen=True)
class Target:
    """Files to mutate and the tests that must catch every mutant (globs relative to the repository root)."""

    sources: list[str]
    tests: list[str]


# To add a module: one line here. A target whose sources do not exist yet is skipped with a note.
TARGETS = {
    "nn": Target(["mnist_scratch/lesson/nn.py"], ["tests/lesson/test_nn*.py"]),
    "engines": Target(
        ["mnist_scratch/training/engines.py"],
        ["tests/training/test_engines*.py", "tests/training/test_fit.py", "tests/training/test_fused.py"],
    ),
    "fused": Target(["mnist_scratch/training/fused.py"], ["tests/training/test_fused*.py"]),
    "gradcheck": Target(["mnist_scratch/gradcheck/*.py"], ["tests/gradcheck/test_*.py"]),
    "grader": Target(["mnist_scratch/grader/*.py"], ["tests/grader/test_*.py"]),
}



@dataclass(frozen=True)
class Semantic:
    """A hand-written mutant: a wrong idea (not an operator swap) that the target's tests must catch."""

    target: str
    path: str
    before: str  # occurs exactly once in path
    after: str
    why: str


# mutmut swaps operators; these change what a checker means. `--semantic` runs each against its target's tests.
SEMANTIC = [
    Semantic("gradcheck", "mnist_scratch/gradcheck/autograd.py", "all(r.ok for r in self.rows)",
             'all(r.ok for r in self.rows if r.kind == "autograd")', "the verdict ignores the finite-difference rows"),
    Semantic("gradcheck", "mnist_scratch/gradcheck/autograd.py", "all(r.ok for r in self.rows)",
             'all(r.ok for r in self.rows if r.kind == "fd")', "the verdict ignores the autograd rows"),
    Semantic("gradcheck", "mnist_scratch/gradcheck/autograd.py",
             "close = torch.allclose(g, ref, rtol=rtol, atol=atol * max(1.0, ref.abs().max().item()))",
             "close = bool(torch.isclose(g.norm(), ref.norm(), rtol=rtol, atol=atol))",
             "autograd rows compare norms instead of elements"),
    Semantic("gradcheck", "mnist_scratch/gradcheck/finitediff.py",
             "close = torch.allclose(ana, num, rtol=FD_RTOL, atol=FD_ATOL)",
             "close = bool(torch.isclose(ana.norm(), num.norm(), rtol=FD_RTOL, atol=FD_ATOL))",
             "finite-difference rows compare norms instead of elements"),
]

KILLED = {"killed", "timeout", "segfault", "caught by type check"}  # the tests noticed the mutant


@dataclass
class Report:
    """One target's counts and the mutants that need a look."""

    name: str
    total: int = 0
    killed: int = 0
    equivalent: list[str] = field(default_factory=list)
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # (id, status, diff)
    seconds: float = 0.0
    note: str = ""


def load_equivalent(path: Path = EQUIVALENT) -> dict[str, tuple[str, str]]:
    """id -> (the line the mutant introduces, why it cannot change behaviour); `id | + line | reason` per line."""
    out = {}
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if path.exists() else ():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" | ")  # the mutated line may hold " | " itself (type hints); id and reason may not
        mid, added, reason = parts[0].strip(), " | ".join(parts[1:-1]).strip(), parts[-1].strip()
        if len(parts) < 3 or not (mid and added.startswith("+ ") and reason):
            sys.exit(f"{path}:{n}: expected 'mutant id | + mutated line | reason'")
        out[mid] = (added, reason)
    return out


def added_lines(diff: str) -> list[str]:
    """The '+' lines of a mutant's diff, stripped of the marker and surrounding blanks."""
    return ["+ " + l[1:].strip() for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++")]


def globbed(patterns: list[str]) -> list[str]:
    return sorted({str(p.relative_to(ROOT)) for pat in patterns for p in ROOT.glob(pat)})


def prepare(name: str, sources: list[str], tests: list[str], keep: bool) -> Path:
    """A scratch copy of the package, the tests and a pyproject.toml that configures mutmut for the target.

    keep: leave mutmut's previous results (work/mutants) in place; the package and the tests are copied afresh.
    """
    work = SCRATCH / name
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("mnist_scratch", "tests"):
        shutil.rmtree(work / d, ignore_errors=True)
        shutil.copytree(ROOT / d, work / d, ignore=ignore)
    cfg = "\n".join(
        [
            "\n[tool.mutmut]",
            'source_paths = ["mnist_scratch"]  # the whole package is copied (imports need it), only_mutate is mutated',
            f"only_mutate = {sources!r}",
            f"pytest_add_cli_args_test_selection = {tests!r}",
            f"pytest_add_cli_args = {PYTEST_ARGS!r}",
            'process_isolation = "forkserver"  # torch is not fork-safe once it has run',
            "",
        ]
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf-8") + cfg, "utf-8")
    return work


def mutmut(work: Path, *args: str, log=None, timeout: float = 600) -> str:
    # one thread per mutant: the jobs share the cores; utf-8 because mutant ids contain non-ASCII separators
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "mutmut", *args]
    r = subprocess.run(cmd, cwd=work, env=env, stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT,
                       encoding="utf-8", timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"mutmut {' '.join(args)} exited {r.returncode} in {work} (see {work}/mutmut.log)")
    return r.stdout or ""


def results(work: Path) -> list[tuple[str, str]]:
    """(mutant id, mutmut's status) for every mutant of the last run in work."""
    lines = mutmut(work, "results", "--all", "true").splitlines()
    return [m.groups() for line in lines if (m := re.fullmatch(r"\s*(\S+): (.+)", line))]


def run_target(name: str, target: Target, jobs: int, equivalent: dict[str, tuple[str, str]], recheck: bool,
               only: "list[str] | None" = None) -> Report:
    """Mutate the target, run its tests against every mutant (or only the last run's survivors), sort the results.

    only: mutant-name globs (e.g. mnist_scratch.grader.diagnose.*): run and report those mutants alone.
    """
    picked = lambda mid: not only or any(fnmatch.fnmatch(mid, pat) for pat in only)  # noqa: E731
    rep, t0 = Report(name), time.monotonic()
    sources, tests = globbed(target.sources), globbed(target.tests)
    if not sources or not tests:
        rep.note = "skipped: " + ("no such source yet" if not sources else "no tests match " + " ".join(target.tests))
        return rep
    work = SCRATCH / name
    again, selection = [], work / "test-selection.txt"
    if recheck and not (work / "mutants").is_dir():
        print(f"   --recheck: no previous run of {name}; running every mutant", flush=True)
        recheck = False
    elif recheck and (not selection.exists() or selection.read_text("utf-8").split() != tests):
        # mutmut throws away every verdict when the set of test files changes: only a full run is honest then
        print(f"   --recheck: the test files of {name} changed since the last run; running every mutant", flush=True)
        recheck = False
    if recheck:
        again = [mid for mid, status in results(work) if status not in KILLED and mid not in equivalent and picked(mid)]
    prepare(name, sources, tests, keep=recheck)
    selection.write_text("\n".join(tests) + "\n", "utf-8")
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        if again or not recheck:
            names = again or (only if not recheck else [])
            mutmut(work, "run", "--max-children", str(jobs), *names, log=log, timeout=4 * 3600)
    for mid, status in results(work):
        if not picked(mid):
            continue
        rep.total += 1
        if status in KILLED:
            rep.killed += 1
            continue
        diff = mutmut(work, "show", mid)
        if mid in equivalent and equivalent[mid][0] in added_lines(diff):
            rep.equivalent.append(mid)
        else:
            why = status + (" (equivalent.txt names another line: stale entry)" if mid in equivalent else "")
            rep.survivors.append((mid, why, diff))
    rep.seconds = time.monotonic() - t0
    return rep


def run_semantic(mutant: Semantic, timeout: float = 900) -> bool:
    """Apply one hand-written mutant to a scratch copy and run its target's tests; True when they fail (killed)."""
    target = TARGETS[mutant.target]
    work = prepare("semantic", [mutant.path], target.tests, keep=False)
    src = work / mutant.path
    text = src.read_text("utf-8")
    if text.count(mutant.before) != 1:
        raise RuntimeError(f"{mutant.path} no longer holds {mutant.before!r} exactly once: update SEMANTIC")
    src.write_text(text.replace(mutant.before, mutant.after), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(work), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS, *globbed(target.tests)], cwd=work, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    return r.returncode == 1  # 1: a test failed; anything else (2: collection error) does not count as caught


def semantic(targets: list[str]) -> int:
    """Run the SEMANTIC mutants of the given targets (all by default); 1 if any survives."""
    survivors = 0
    for m in SEMANTIC:
        if targets and m.target not in targets:
            continue
        killed = run_semantic(m)
        survivors += not killed
        print(f"{'killed  ' if killed else 'SURVIVED'} {m.target}: {m.why}", flush=True)
    return 1 if survivors else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", metavar="TARGET", help="any of: " + " ".join(TARGETS) + " (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    ap.add_argument("--recheck", action="store_true",
                    help="re-test only the last run's survivors (after adding tests), keeping its other results")
    ap.add_argument("--only", action="append", metavar="GLOB",
                    help="only mutants whose name matches, e.g. 'mnist_scratch.grader.diagnose.*' (repeatable)")
    ap.add_argument("--semantic", action="store_true",
                    help="run the hand-written SEMANTIC mutants (wrong ideas, not operator swaps) instead of mutmut")
    a = ap.parse_args()
    if unknown := [t for t in a.targets if t not in TARGETS]:
        ap.error(f"unknown target {' '.join(unknown)}; known: {' '.join(TARGETS)}")
    sys.stdout.reconfigure(errors="backslashreplace")  # mutant ids contain non-ASCII separators
    if a.semantic:
        return semantic(a.targets)
    equivalent = load_equivalent()
    reports = []
    for name in a.targets or TARGETS:  # one target at a time: each already uses --jobs processes
        print(f"== {name}", flush=True)
        rep = run_target(name, TARGETS[name], a.jobs, equivalent, a.recheck, a.only)
        reports.append(rep)
        for mid, status, diff in rep.survivors:
            print(f"SURVIVOR {mid}: {status}\n{diff}", flush=True)
        print(f"   {rep.note or f'done in {rep.seconds:.0f} s'}", flush=True)
    print(f"\n{'target':<10} {'mutants':>8} {'killed':>8} {'equivalent':>11} {'survivors':>10} {'time':>7}")
    for r in reports:
        if r.note:
            print(f"{r.name:<10} {r.note}")
        else:
            counts = f"{r.total:>8} {r.killed:>8} {len(r.equivalent):>11} {len(r.survivors):>10}"
            print(f"{r.name:<10} {counts} {r.seconds:>6.0f}s")
    seen = {m for r in reports for m in r.equivalent}
    ran = {r.name for r in reports if not r.note}
    for mid in sorted(set(equivalent) - seen):
        if any(mid.startswith(_module(TARGETS[n])) for n in ran) and (
                not a.only or any(fnmatch.fnmatch(mid, pat) for pat in a.only)):
            print(f"note: equivalent.txt lists {mid}, which did not survive this run (stale entry?)")
    return 1 if any(r.survivors for r in reports) else 0


def _module(target: Target) -> str:
    """The dotted prefix shared by the target's mutant ids, e.g. mnist_scratch.lesson.nn."""
    return target.sources[0].removesuffix(".py").removesuffix("/*").replace("/", ".")


if __name__ == "__main__":
    sys.exit(main())
