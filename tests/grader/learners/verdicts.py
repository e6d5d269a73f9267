"""An independent referee for the learners' files: each rule tried against autograd, without the grader's code.

`python tests/grader/learners/verdicts.py` prints every file's verdict per rule in expected.toml's form. It reads
the files its own crude way (code cells, IPython lines dropped, only imports, defs and classes run), so the
grader's loader and judge are never trusted to establish what they are held to.

Conventions both courses teach count as right: (bs, 1) or (bs,) targets, a scalar or (1,)-shaped loss, float32
results (compared at float32 tolerance; when float64 inputs crash the learner's float32 code the rule is tried
again on float32 inputs), `__call__`/`backward()` or Module `forward`/`bwd`, gradients on `.g` or `.grad`.
"""

import ast
import json
import math
import re
import sys
from pathlib import Path

import torch

RULES = ("matmul", "normalize", "he_init", "lin", "relu", "mse", "mse_grad", "relu_grad", "lin_grad",
         "forward_and_backward", "Module", "Lin", "Relu", "Mse", "Model", "log_softmax", "nll", "cross_entropy_grad")
HERE = Path(__file__).parent
IPY = re.compile(r"^\s*([%!?]|.*get_ipython\(\)|[\w.()]+\?{1,2}\s*$|[\w.]+\s*=\s*[!%])")


class Wrong(Exception):
    """The rule ran and computed something else."""


def sources(path: Path) -> list[str]:
    """The code cells' text: a notebook's code cells, or the whole .py."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in nb["cells"] if c["cell_type"] == "code"]
    return [path.read_text()]


def definitions(path: Path) -> tuple[dict, set]:
    """Namespace with the imports and the last hand-written def/class of each name; names only nn.Module defines."""
    ns: dict = {"__name__": "learner"}
    autograd_only = set()
    for src in sources(path):
        lines = ["" if IPY.match(line) or line.strip().startswith("%%") else line for line in src.splitlines()]
        tree = ast.parse("\n".join(lines))
        for stmt in tree.body:
            if not isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
                continue
            before = ns.get(getattr(stmt, "name", ""), None)
            try:
                exec(compile(ast.Module([stmt], []), str(path), "exec"), ns)
            except Exception:  # noqa: BLE001,S110 - a missing package: the defs that need it fail when tried
                pass
            if isinstance(stmt, ast.ClassDef) and issubclass(ns[stmt.name], torch.nn.Module):
                if before is None:
                    autograd_only.add(stmt.name)
                    del ns[stmt.name]
                else:
                    ns[stmt.name] = before  # the last hand-written one stays the graded one
    return ns, autograd_only


def rnd(*shape, scale=1.0, shift=0.0, dtype=torch.float64):
    return (torch.randn(*shape, dtype=torch.float64) * scale + shift).to(dtype)


def grad_of(t):
    """The gradient the learner stored: .g, else .grad."""
    g = getattr(t, "g", None)
    return g if g is not None else t.grad


def same(got, want):
    """got equals want (a scalar may come as shape (1,)), at float64 or float32 round-off."""
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"not a tensor: {type(got).__name__}")
    if got.numel() == want.numel() and got.numel() == 1:
        got, want = got.reshape(()), want.reshape(())
    if got.shape != want.shape:
        raise Wrong(f"shape {tuple(got.shape)} != {tuple(want.shape)}")
    tol = 1e-4 if got.dtype == torch.float32 else 1e-8
    if not torch.allclose(got.double(), want.double(), rtol=tol, atol=tol * max(1.0, want.abs().max().item())):
        raise Wrong(f"max diff {(got.double() - want.double()).abs().max().item():.3g}")


def vjp(f, *xs, up=None):
    leaves = [x.detach().clone().requires_grad_() for x in xs]
    out = f(*leaves)
    return torch.autograd.grad(out if up is None else (out * up).sum(), leaves)


def ref_mse(out, targ):
    return (out[:, 0] - targ).pow(2).mean()


def ref_model(x, w1, b1, w2, b2, targ):
    return ref_mse((x @ w1 + b1).clamp_min(0) @ w2 + b2, targ)


def with_up(t, up):
    """t carrying the upstream gradient under both conventions."""
    t.g = up
    t.grad = up.to(t.dtype)
    return t


def targets(bs, dtype):
    t = torch.randint(0, 10, (bs,)).to(dtype)
    return (t, t), (t[:, None], t)  # (as given to the learner, as the reference reads it)


def either(*tries):
    """Right when one convention's try is right; the first error or wrong otherwise."""
    first = None
    for t in tries:
        try:
            t()
            return
        except Exception as e:  # noqa: BLE001 - the learner's code may raise anything
            first = first or e
    raise first


def in_dtypes(check):
    """check(float64); when the learner's code crashes on float64 inputs, check(float32) instead."""
    try:
        check(torch.float64)
    except (RuntimeError, TypeError) as e:
        if "dtype" not in str(e) and "Double" not in str(e) and "Float" not in str(e) and "type" not in str(e):
            raise
        check(torch.float32)


def v_matmul(f):
    a, b = rnd(5, 4), rnd(4, 3)
    same(f(a, b), a @ b)


def v_normalize(f):
    x = rnd(6, 5)
    same(f(x, 0.3, 1.7), (x - 0.3) / 1.7)


def v_he_init(f):
    torch.manual_seed(0)
    w = f(500, 400)
    if tuple(w.shape) != (500, 400):
        raise Wrong("shape")
    if abs(w.std().item() / math.sqrt(2 / 500) - 1) > 0.05 or abs(w.mean().item()) > 0.01:
        raise Wrong(f"std {w.std().item():.4f}")


def v_lin(f):
    x, w, b = rnd(7, 6), rnd(6, 4), rnd(4)
    same(f(x, w, b), x @ w + b)


def v_relu(f):
    x = rnd(7, 4)
    same(f(x), x.clamp_min(0))


def v_mse(f):
    out = rnd(7, 1, shift=4.0)
    tries = [lambda t=t, r=r: same(f(out, t), ref_mse(out, r)) for t, r in targets(7, torch.float64)]
    either(*tries)


def v_mse_grad(f):
    def check(t, r, dtype):
        inp = rnd(7, 1, shift=4.0, dtype=dtype)
        f(inp, t.to(dtype))
        same(grad_of(inp), vjp(lambda o: ref_mse(o.double(), r.double()), inp)[0])

    in_dtypes(lambda dt: either(*[lambda t=t, r=r: check(t, r, dt) for t, r in targets(7, torch.float64)]))


def v_relu_grad(f):
    def check(dtype):
        inp = rnd(7, 4, dtype=dtype)
        out = with_up(inp.clamp_min(0), rnd(7, 4, dtype=dtype))
        up = out.g.clone()
        f(inp, out)
        if not torch.equal(out.g, up):
            raise Wrong("upstream gradient modified in place")
        same(grad_of(inp), (inp > 0).to(up.dtype) * up)

    in_dtypes(check)


def v_lin_grad(f):
    def check(dtype):
        inp, w, b = rnd(7, 6, dtype=dtype), rnd(6, 4, dtype=dtype), rnd(4, dtype=dtype)
        out = with_up(inp @ w + b, rnd(7, 4, dtype=dtype))
        f(inp, out, w, b)
        gi, gw, gb = vjp(lambda i, w_, b_: i @ w_ + b_, inp, w, b, up=out.g)
        same(grad_of(inp), gi)
        same(grad_of(w), gw)
        same(grad_of(b), gb)

    in_dtypes(check)


def v_forward_and_backward(f):
    def check(t, r, dtype):
        x, w1, b1, w2, b2 = rnd(7, 6, dtype=dtype), rnd(6, 5, dtype=dtype), rnd(5, dtype=dtype), \
            rnd(5, 1, dtype=dtype), rnd(1, dtype=dtype)
        f.__globals__.update(w1=w1, b1=b1, w2=w2, b2=b2)
        f(x, t.to(dtype))
        want = vjp(lambda *a: ref_model(*a, r.double()), x.double(), w1.double(), b1.double(), w2.double(), b2.double())
        for got, w in zip((x, w1, b1, w2, b2), want, strict=True):
            same(grad_of(got), w)

    in_dtypes(lambda dt: either(*[lambda t=t, r=r: check(t, r, dt) for t, r in targets(7, torch.float64)]))


def layer(cls_call, inputs, up):
    """out = layer(*inputs); out carries up; layer.backward()."""
    inst, out = cls_call(inputs)
    with_up(out, up)
    inst.backward()
    return out


def v_Module(cls):
    class Triple(cls):
        def forward(self, x):
            return x * 3

        def bwd(self, out, x):
            x.g = 3 * out.g

    x = rnd(4, 3)
    m = Triple()
    out = m(x)
    same(out, 3 * x)
    with_up(out, rnd(4, 3))
    m.backward()
    same(x.g, 3 * out.g)


def v_Lin(cls):
    def check(dtype):
        inp, w, b = rnd(7, 6, dtype=dtype), rnd(6, 4, dtype=dtype), rnd(4, dtype=dtype)
        layer_ = cls(w, b)
        out = layer_(inp)
        same(out, inp @ w + b)
        with_up(out, rnd(7, 4, dtype=dtype))
        layer_.backward()
        gi, gw, gb = vjp(lambda i, w_, b_: i @ w_ + b_, inp, w, b, up=out.g)
        for got, want in ((inp, gi), (w, gw), (b, gb)):
            same(grad_of(got), want)

    in_dtypes(check)


def v_Relu(cls):
    def check(dtype):
        inp = rnd(7, 4, dtype=dtype)
        layer_ = cls()
        out = layer_(inp)
        same(out, inp.clamp_min(0))
        with_up(out, rnd(7, 4, dtype=dtype))
        layer_.backward()
        same(grad_of(inp), (inp > 0).to(dtype) * out.g)

    in_dtypes(check)


def v_Mse(cls):
    def check(t, r, dtype):
        inp = rnd(7, 1, shift=4.0, dtype=dtype)
        layer_ = cls()
        same(layer_(inp, t.to(dtype)), ref_mse(inp.double(), r.double()))
        layer_.backward()
        same(grad_of(inp), vjp(lambda o: ref_mse(o, r.double()), inp.double())[0])

    in_dtypes(lambda dt: either(*[lambda t=t, r=r: check(t, r, dt) for t, r in targets(7, torch.float64)]))


def v_Model(cls):
    def check(t, r, dtype):
        x, w1, b1, w2, b2 = rnd(7, 6, dtype=dtype), rnd(6, 5, dtype=dtype), rnd(5, dtype=dtype), \
            rnd(5, 1, dtype=dtype), rnd(1, dtype=dtype)
        model = cls(w1, b1, w2, b2)
        loss = model(x, t.to(dtype))
        ps = [p.double() for p in (x, w1, b1, w2, b2)]
        same(loss, ref_model(*ps, r.double()))
        model.backward()
        for got, want in zip((x, w1, b1, w2, b2), vjp(lambda *a: ref_model(*a, r.double()), *ps), strict=True):
            same(grad_of(got), want)

    in_dtypes(lambda dt: either(*[lambda t=t, r=r: check(t, r, dt) for t, r in targets(7, torch.float64)]))


def v_log_softmax(f):
    x = rnd(7, 10, scale=2.0)
    same(f(x), torch.log_softmax(x, -1))


def v_nll(f):
    x, y = torch.log_softmax(rnd(7, 10), -1), torch.randint(0, 10, (7,))
    same(f(x, y), torch.nn.functional.nll_loss(x, y))


def v_cross_entropy_grad(f):
    x, y = rnd(7, 10, scale=2.0), torch.randint(0, 10, (7,))
    f(x, y)
    same(grad_of(x), vjp(lambda z: torch.nn.functional.cross_entropy(z, y), x)[0])


def verdict(ns: dict, autograd_only: set, name: str) -> str:
    """pass / wrong / error / missing / skipped for one rule."""
    if name in autograd_only:
        return "skipped"
    obj = ns.get(name)
    if obj is None or not callable(obj):
        return "missing"
    torch.manual_seed(1)
    try:
        globals()[f"v_{name}"](obj)
    except Wrong:
        return "wrong"
    except Exception:  # noqa: BLE001 - the learner's code raised on the right inputs
        return "error"
    return "pass"


def file_verdicts(path: Path) -> dict[str, str]:
    ns, autograd_only = definitions(path)
    return {name: verdict(ns, autograd_only, name) for name in RULES}


def learner_files() -> list[Path]:
    return sorted(p for p in HERE.iterdir() if p.suffix in (".py", ".ipynb") and p.name[:2].isdigit())


if __name__ == "__main__":
    for p in learner_files():
        print(f'\n["{p.name}"]')
        for name, v in file_verdicts(p).items():
            print(f'{name} = "{v}"')
    sys.exit(0)
