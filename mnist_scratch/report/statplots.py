"""PNG pictures of training statistics (`plot RUN`) and of the init study (`init --plot`); matplotlib, no pyplot."""

import math
from pathlib import Path

from mnist_scratch.report.plots import _figure, _save

DPI = 100
WIDTH = 14.0  # inches
GUIDE = -3.0  # log10 update-to-data ratio of a healthy step: a thousandth of the weight


def _nums(values: list) -> list[float]:
    """None (JSON's stand-in for inf/nan) as nan, which matplotlib leaves as a gap."""
    return [math.nan if v is None else v for v in values]


def _top(fig, gs, d: dict):
    """Valid loss and accuracy per epoch, the per-batch loss (raw and smoothed), the lr beneath: one x in epochs."""
    ep_ax = fig.add_subplot(gs[0, :])
    loss_ax = fig.add_subplot(gs[1, :], sharex=ep_ax)
    lr_ax = fig.add_subplot(gs[2, :], sharex=ep_ax)
    rows = d["epochs"]
    if rows:
        ep = [r["epoch"] for r in rows]
        ep_ax.plot(ep, [r["valid_loss"] for r in rows], "o-", color="tab:orange", label="valid loss")
        ep_ax.plot(ep, [r["train_loss"] for r in rows], "o--", color="tab:blue", label="train loss (epoch mean)")
        acc_ax = ep_ax.twinx()
        acc_ax.plot(ep, [100 * r["valid_acc"] for r in rows], "s-", color="tab:green", label="valid accuracy")
        acc_ax.set_ylabel("valid accuracy (%)", color="tab:green")
        best = max(rows, key=lambda r: r["valid_acc"])
        acc_ax.annotate(f"{100 * best['valid_acc']:.2f} %", (best["epoch"], 100 * best["valid_acc"]),
                        textcoords="offset points", xytext=(-10, -14), ha="right", color="tab:green", fontsize=9)
        h1, l1 = ep_ax.get_legend_handles_labels()
        h2, l2 = acc_ax.get_legend_handles_labels()
        ep_ax.legend(h1 + h2, l1 + l2, loc="center right", fontsize=8)
    ep_ax.set(ylabel="loss", title="per epoch (at the end of epoch N)")
    b = d["batches"]
    if b["epoch"]:
        loss_ax.plot(b["epoch"], _nums(b["loss"]), color="tab:blue", alpha=0.25, lw=0.6, label="batch loss")
        loss_ax.plot(b["epoch"], _nums(b["smoothed"]), color="tab:blue", lw=1.6, label="smoothed (EMA 0.98)")
        loss_ax.set_yscale("log")
        loss_ax.legend(loc="upper right", fontsize=8)
        lr_ax.plot(b["epoch"], b["lr"], color="tab:purple")
    else:  # say why the panels are empty
        loss_ax.text(0.5, 0.5, "no per-batch record: trained with --no-stats", ha="center", va="center",
                     transform=loss_ax.transAxes)
        lr_ax.set_yticks([])
    loss_ax.set(ylabel="train loss (log)", title="per batch")
    lr_ax.set(ylabel="learning rate", xlabel="epoch")
    for ax in (ep_ax, loss_ax, lr_ax):
        ax.grid(alpha=0.3)
    for ax in (ep_ax, loss_ax):
        ax.tick_params(labelbottom=False)


def _layer(fig, gs, row: int, l: dict):
    """One layer's row: activation mean/std, the colorful-dimension histogram, zero/dead units, update ratio."""
    name, ep = l["name"], _nums(l["epoch"])
    kind = "ReLU output" if l["relu"] else "output (logits, no ReLU)"
    a = fig.add_subplot(gs[row, 0])
    a.plot(ep, _nums(l["mean"]), label="mean")
    a.plot(ep, _nums(l["std"]), label="std")
    a.set(title=f"{name}: {kind}", xlabel="epoch", ylabel="activation")
    a.legend(fontsize=8)
    h = fig.add_subplot(gs[row, 1])
    if "hist" in l and l["hist"]["counts"]:
        import numpy as np

        counts = np.log1p(np.asarray(l["hist"]["counts"], dtype=float)).T  # (bins, steps): log, as colour
        hep, (lo, hi) = l["hist"]["epoch"], l["hist"]["range"]
        right = hep[-1] + (hep[-1] - hep[0]) / max(1, len(hep) - 1)
        im = h.imshow(counts, origin="lower", aspect="auto", extent=(hep[0], right, lo, hi), cmap="viridis",
                      interpolation="nearest")
        fig.colorbar(im, ax=h, label="log(1 + count)", pad=0.01)
    h.set(title=f"{name}: histogram over steps", xlabel="epoch", ylabel="activation")
    z = fig.add_subplot(gs[row, 2])
    if l["relu"]:
        dead = [100 * v for v in _nums(l["dead_frac"])]
        z.plot(ep, [100 * v for v in _nums(l["zero_frac"])], label="zero on the batch")
        z.plot(ep, dead, color="red", label=f"dead units (last {dead[-1]:.1f} %)" if dead else "dead units")
        z.set_ylim(0, 100)
        z.legend(fontsize=8, loc="center right")
        z.set(title=f"{name}: units at zero", xlabel="epoch", ylabel="% of outputs / of units")
    else:  # nothing to draw: say why instead of showing empty axes
        z.text(0.5, 0.5, f"{name} has no ReLU:\nno zero or dead units", ha="center", va="center",
               transform=z.transAxes)
        z.set_axis_off()
    u = fig.add_subplot(gs[row, 3])
    u.plot(ep, _nums(l["w_update_ratio"]), label="w")
    u.plot(ep, _nums(l["b_update_ratio"]), label="b", alpha=0.6)
    u.axhline(GUIDE, color="black", ls="--", lw=1, label="1e-3 guide")
    u.set(title=f"{name}: update / data (the step taken)", xlabel="epoch", ylabel="log10(|Δw| / |w|)")
    u.legend(fontsize=8)
    for ax in (a, z, u):
        ax.grid(alpha=0.3)
    return h


def plot_run(d: dict, path: Path) -> tuple[int, int]:
    """Write the run's statistics (run_stats' dict) as one PNG; return its pixel size."""
    n = len(d["layers"])
    heights = [1.9, 2.2, 1.1] + [2.6] * n
    h_in = sum(heights) + 0.6
    fig = _figure(WIDTH, h_in, layout="constrained")
    gs = fig.add_gridspec(3 + n, 4, height_ratios=heights)
    _top(fig, gs, d)
    for i, l in enumerate(d["layers"]):
        _layer(fig, gs, 3 + i, l)
    fig.suptitle(f"training statistics: {Path(d['run']).name}", fontsize=12)
    _save(fig, path)
    return round(WIDTH * DPI), round(h_in * DPI)


def plot_init(r, path: Path) -> tuple[int, int]:
    """The init study (InitStats) as a picture: std of the activations per layer, one line per scheme, log y."""
    w_in, h_in = 9.0, 5.0
    fig = _figure(w_in, h_in, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    std0 = r.schemes[0].layers[0].std
    ax.axhspan(std0 / 2, std0 * 2, color="tab:green", alpha=0.1, label="keeps: 0.5x to 2x the input's std")
    styles = ["o-", "s-", "D-", "x--", "^-"]  # He and torch fan_out draw the same weights: dashed over solid
    for k, s in enumerate(r.schemes):
        ys = [l.std if math.isfinite(l.std) and l.std > 0 else math.nan for l in s.layers]
        ax.plot([l.layer for l in s.layers], ys, styles[k % len(styles)], lw=3.5 if k == 2 else 1.5,
                ms=8 if k == 3 else 5, label=f"{s.name} ({s.verdict})")
    ax.set_yscale("log")
    ax.set(xlabel="layer (0: the input)", ylabel="std of the activations (log scale)",
           title=f"activation std through {r.depth} layers of relu(x @ w), width {r.nh}\n{r.n:,} inputs: {r.source}")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8)
    _save(fig, path)
    return round(w_in * DPI), round(h_in * DPI)
