"""Rendering for `export`: what was written, how well it matches the run, and how to load it."""

from mnist_scratch.report.console import esc, print_json, stdout
from mnist_scratch.use.export import Exported


def render(res: Exported, *, as_json: bool = False) -> None:
    """The files, the check on the test split, then the loading snippet; or one JSON object."""
    if as_json:
        return print_json({"format": res.fmt, "files": [str(f) for f in res.files], "sizes": res.sizes,
                           "test_digits": res.n, "max_abs_diff": res.max_diff, "predictions_agree": res.agree,
                           "snippet": res.snippet})
    c = stdout()
    what = "state_dict for nn.Sequential" if res.fmt == "torch" else "ONNX model (pixels in [0, 1] in)"
    c.print(f"wrote {' and '.join(esc(f) for f in res.files)}: {what}, layers {'-'.join(map(str, res.sizes))}",
            soft_wrap=True)
    runner = "nn.Sequential" if res.fmt == "torch" else "onnxruntime"
    c.print(f"{runner} on the {res.n:,} test digits: max |difference| from the run's outputs {res.max_diff:.2e}, "
            f"same prediction on {res.agree:,} of {res.n:,}", soft_wrap=True)
    c.print("\n" + esc(res.snippet), soft_wrap=True, end="")
