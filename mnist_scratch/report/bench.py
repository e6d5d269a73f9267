"""Rendering for `bench`: the speed table per setting, the extras, and the JSON object."""

import statistics

from rich.table import Table

from mnist_scratch.bench.parallel import ParallelBench
from mnist_scratch.bench.steps import Case
from mnist_scratch.bench.suite import BenchResult
from mnist_scratch.report.console import esc, print_json, stderr, stdout

ENGINES = (("manual", "manual (fused)"), ("autograd", "autograd, plain loop"), ("twin", "autograd, fit's loop"),
           ("reference", "reference (nn.py)"), ("floor", "GEMM floor"), ("gather_floor", "floor + gather"))


RATIOS = (("manual", "autograd"), ("manual", "twin"), ("floor", "manual"), ("gather_floor", "manual"),
          ("reference", "twin"))
NOTE = ("[dim]Every row trains the same model (softmax cross-entropy, SGD lr 0.1, no momentum). "
        "autograd: nn.Linear/nn.ReLU, F.cross_entropy, torch.optim.SGD; the plain loop batches with x\\[idx] "
        "as a PyTorch user writes it, fit's loop (twin) gathers into reused buffers as manual and reference do. "
        "steps: timed steps per repeat / steps in an epoch; times are scaled to an epoch. GFLOP/s: the step's matmul "
        "FLOPs over its time. floor: the step's matmuls alone, each in its faster orientation, on the same shapes in "
        "the same run; floor / manual is the share of that GEMM throughput reached. gather floor: the same matmuls, "
        "each step after gathering its batch as fit() does (random rows copied into a buffer: no trainer avoids it); "
        "gather floor / manual is the share of the reachable speed reached, the rest being the engine's own work "
        "outside its matmuls.[/]")


def render(res: "BenchResult | ParallelBench", *, as_json: bool = False, cost=None) -> None:
    """The conditions, the speed table, the ratios and the extras (and the statistics' cost), on stdout; or JSON."""
    if isinstance(res, ParallelBench):
        return _parallel_json(res) if as_json else _show_parallel(res)
    if as_json:
        return _json(res, cost)
    c = stdout()
    c.print(f"torch {res.torch_version}, device {res.device}, {res.threads} threads (torch.get_num_threads()), "
            f"float32 matmul precision {res.matmul_precision}, {res.repeats} interleaved repeats after a warm-up; "
            f"data: {res.data}", soft_wrap=True)
    clock = "CPU seconds of this process" if res.clock == "cpu" else "seconds"
    t = Table(title=f"{clock} per epoch", header_style="bold")
    for col in ("setting", "engine", "median", "min", "max", "GFLOP/s"):
        t.add_column(col, justify="left" if col in ("setting", "engine") else "right")
    for case in res.cases:
        for i, (k, label) in enumerate(ENGINES):
            tm = case.timings[k]
            name = {0: case.setting.name, 1: f"[dim]{case.steps}/{case.epoch_steps} steps[/]"}.get(i, "")
            t.add_row(name, label, f"{tm.median:.3f}", f"{tm.min:.3f}", f"{tm.max:.3f}", f"{case.gflops(k):.0f}",
                      end_section=i == len(ENGINES) - 1)
    c.print(t)
    r = Table(title="ratios: of the medians (of the minimums)", header_style="bold")
    for col in ("setting", "manual / autograd", "manual / twin", "floor / manual", "gather floor / manual",
                "reference / twin"):
        r.add_column(col, justify="left" if col == "setting" else "right")
    for case in res.cases:
        cells = [f"{case.ratio(a, b):.2f} ({case.ratio(a, b, 'min'):.2f})" for a, b in RATIOS]
        r.add_row(case.setting.name, *(f"[bold]{x}[/]" if i in (0, 2, 3) else x for i, x in enumerate(cells)))
    c.print(r)
    c.print(NOTE)
    if res.extras:
        e = Table(title="beside training", header_style="bold")
        for col in ("what", "value", "how"):
            e.add_column(col, justify="right" if col == "value" else "left")
        for x in res.extras:
            digits = 0 if x.unit == "MiB" else 3
            e.add_row(esc(x.name), "—" if x.value is None else f"{x.value:.{digits}f} {x.unit}", esc(x.note))
        c.print(e)


    if cost is not None:
        show_stats_cost(cost)


def show_stats_cost(cost) -> None:
    """The statistics' cost table: fit() per k, CPU and wall medians, ratios to statistics off."""
    import statistics

    t = Table(title=f"training statistics: fit() over {cost.steps} steps, nh {','.join(map(str, cost.nh))}, "
              f"bs {cost.bs}, {cost.engine}, {cost.threads} threads", header_style="bold")
    for col in ("every k steps", "CPU s (median)", "wall s (median)", "CPU / off", "wall / off", "estimate"):
        t.add_column(col, justify="right")
    for k in cost.cpu:
        est = "" if not k else f"{100 * cost.estimate(k):+.1f} %"
        t.add_row("off" if not k else str(k), f"{statistics.median(cost.cpu[k]):.3f}",
                  f"{statistics.median(cost.runs[k]):.3f}", f"{cost.ratio(k):.3f}",
                  f"{cost.ratio(k, clock='wall'):.3f}", est)
    c = stdout()
    c.print(t)
    c.print(f"[dim]Each repeat runs every k in rotating order. CPU time is the process's (steadier than wall time "
            f"on a shared machine). estimate: one stats step adds {1e3 * cost.per_stats_step():.2f} ms of CPU "
            f"(from the smallest k), over k steps' CPU time.[/]", soft_wrap=True)


def _case_json(case: Case) -> dict:
    s = case.setting
    return {"name": s.name, "nh": list(s.nh), "bs": s.bs, "steps": case.steps, "epoch_steps": case.epoch_steps,
            "flops_per_step": case.flops,
            "seconds_per_epoch": {k: {"median": t.median, "min": t.min, "max": t.max, "runs": t.runs}
                                  for k, t in case.timings.items()},
            "manual_over_autograd": case.ratio("manual", "autograd"),
            "manual_over_twin": case.ratio("manual", "twin"),
            "floor_over_manual": case.ratio("floor", "manual"),
            "gather_floor_over_manual": case.ratio("gather_floor", "manual"),
            "ratios_of_minimums": {f"{a}_over_{b}": case.ratio(a, b, "min") for a, b in RATIOS},
            "gflops": {"manual": case.gflops("manual"), "floor": case.gflops("floor")}}


def _json(res: BenchResult, cost=None) -> None:
    """One JSON object on stdout."""
    extra = {} if cost is None else {"stats_cost": {
        "nh": list(cost.nh), "bs": cost.bs, "steps": cost.steps, "engine": cost.engine, "threads": cost.threads,
        "per_stats_step_cpu_s": cost.per_stats_step(),
        "runs": [{"every": k, "wall_s": cost.runs[k], "cpu_s": cost.cpu[k], "cpu_over_off": cost.ratio(k),
                  "wall_over_off": cost.ratio(k, clock="wall"), "estimate": cost.estimate(k) if k else None}
                 for k in cost.cpu]}}
    print_json({"torch": res.torch_version, "device": res.device, "threads": res.threads, "repeats": res.repeats,
                "clock": res.clock,
                "matmul_precision": res.matmul_precision, "data": res.data, "cases": [_case_json(c) for c in res.cases],
                "extras": [{"name": x.name, "value": x.value, "unit": x.unit, "note": x.note} for x in res.extras],
                **extra})


def note(text: str) -> None:
    """A progress line on stderr while the bench runs."""
    stderr().print(f"[dim]{esc(text)}…[/]")


PARALLEL_NOTE = ("[dim]Each row: N worker processes (gloo over 127.0.0.1), each with total // N threads, training the "
                 "same global batches (SGD, momentum 0.9, weight decay 1e-3); steps/s as rank 0 saw it, median of "
                 "the repeats. path fused: FusedEngine.step in one process, the update folded into the gradient "
                 "GEMMs; split: the data-parallel step (gradient into a flat buffer, one all_reduce, then the "
                 "update). all_reduce: its share of each step, waiting for the slower rank included. scaling: "
                 "steps/s over the fused single process with the same total threads.[/]")


def _show_parallel(res: ParallelBench) -> None:
    """The data-parallel table on stdout."""
    c = stdout()
    c.print(f"{res.total_threads} threads in all, {res.steps} steps per repeat, {res.repeats} repeats; "
            f"data: {esc(res.data)}", soft_wrap=True)
    t = Table(title="data-parallel training steps", header_style="bold")
    for col in ("setting", "procs", "threads each", "path", "steps/s", "all_reduce", "scaling"):
        t.add_column(col, justify="left" if col in ("setting", "path") else "right")
    for r in res.rows:
        share = f"{100 * statistics.median(r.reduce_share):.1f} %" if r.reduce_share else "—"
        t.add_row(r.setting, str(r.procs), str(r.threads), r.path, f"{r.steps_per_s:.0f}", share,
                  f"{res.scaling(r):.2f}")
    c.print(t)
    c.print(PARALLEL_NOTE)


def _parallel_json(res: ParallelBench) -> None:
    """The data-parallel bench as one JSON object."""
    print_json({"total_threads": res.total_threads, "steps": res.steps, "repeats": res.repeats, "data": res.data,
                "rows": [{**r.__dict__, "steps_per_s": r.steps_per_s, "scaling": res.scaling(r),
                          "reduce_share_median": statistics.median(r.reduce_share) if r.reduce_share else None}
                         for r in res.rows]})
