"""The only code that touches the learner's objects: named operations run where their code lives (the child).

Each takes the learner's namespace first and plain data or tensors after, and returns plain data or tensors, so the
grader can run it in a child process and compare the answers in its own. Classes are driven by behaviour: forward
through `forward` or `__call__`, backward through `bwd(out, *args)` or `backward()`, whatever names the layer keeps
its tensors under.
"""

import functools
import inspect

import torch

_MISSING = object()


def kind(obj) -> str:
    """What a name holds: missing, function, class, nn.Module (an autograd model), or other:<type>."""
    if obj is None:
        return "missing"
    if inspect.isclass(obj):
        return "nn.Module" if issubclass(obj, torch.nn.Module) else "class"
    if inspect.isfunction(obj):
        return "function"
    if callable(obj):
        return "callable"
    return f"other:{type(obj).__name__}"


def kinds(ns: dict, names) -> dict:
    """kind() of each name in ns."""
    return {n: kind(ns.get(n)) for n in names}


def grad_of(t):
    """The gradient a learner stored on t: .g as the lesson does, else a hand-assigned .grad."""
    g = getattr(t, "g", None)
    return g if g is not None else getattr(t, "grad", None)


def call(ns: dict, name: str, *args):
    """The learner's function, as written."""
    return ns[name](*args)


def _has(cls, attr: str) -> bool:
    return callable(getattr(cls, attr, None))


def _split(args: tuple, n_ctor: int) -> tuple[tuple, tuple]:
    """(the layer's call arguments, its constructor arguments): the grader passes the constructor's last."""
    cut = len(args) - n_ctor
    return args[:cut], args[cut:]


def layer_forward(ns: dict, name: str, n_ctor: int, *args):
    """A layer's output: its own `forward` (not relying on their Module), else calling the layer."""
    fwd, ctor = _split(args, n_ctor)
    layer = ns[name](*ctor)
    return layer.forward(*fwd) if _has(layer, "forward") else layer(*fwd)


def layer_backward(ns: dict, name: str, n_ctor: int, has_out: bool, *args):
    """A layer's backward rule: bwd(out, *args) when it has one, else call it and backward() (the 2019 layers).

    args are (inp, out, *ctor) when has_out (out.g set by the grader), else (*inputs, *ctor) (a loss).
    """
    fwd, ctor = _split(args, n_ctor)
    out = None
    if has_out:
        fwd, out = fwd[:1], fwd[1]
    layer = ns[name](*ctor)
    if _has(layer, "bwd"):
        if out is None:
            out = layer.forward(*fwd) if _has(layer, "forward") else layer(*fwd)
        layer.args, layer.out = fwd, out  # what Module.__call__ would have kept: no reliance on their Module
        layer.bwd(out, *fwd)
        return None
    if not _has(layer, "backward"):
        raise AttributeError(f"{name} has neither bwd(out, *args) nor backward()")
    y = layer(*fwd)  # the 2019 layers keep their tensors in __call__, under names of their own
    g = getattr(out, "g", None)
    if g is not None and isinstance(y, torch.Tensor):
        y.g = g
    layer.backward()
    return None


def module_probe(ns: dict, name: str, x, k):
    """A two-input layer on the learner's Module, called on (x, k), then backward() with out.g = 0.5.

    Returns (its output, x.g, whether some attribute holds the output, whether one holds the inputs in order,
    the error backward() raised or ""): behaviour first, the bookkeeping only to say why it went wrong.
    """

    def forward(self, x, k):
        return x * k

    def bwd(self, out, x, k):
        x.g = k * out.g

    scale = type("Scale", (ns[name],), {"forward": forward, "bwd": bwd})
    layer = scale()
    y = layer(x, k)
    kept = list(vars(layer).values())
    kept_out = y is not None and any(v is y for v in kept)
    kept_args = any(isinstance(v, (tuple, list)) and len(v) == 2 and v[0] is x and v[1] == k for v in kept)
    error = ""
    if isinstance(y, torch.Tensor):
        y.g = torch.ones_like(y) * 0.5
        try:
            layer.backward()
        except Exception as e:  # noqa: BLE001 - the learner's backward may raise anything: it is the answer
            error = f"{type(e).__name__}: {e}"[:500]
    return y, getattr(x, "g", None), kept_out, kept_args, error


def _spy(fn, calls: list, name: str):
    @functools.wraps(fn)
    def spy(*args, **kw):
        calls.append((name, args + tuple(kw.values())))
        return fn(*args, **kw)

    return spy


def chain_run(ns: dict, name: str, t: dict):
    """forward_and_backward(inp, targ) with the globals w1, b1, w2, b2 set to t's; the gradients it left.

    Their lin_grad / relu_grad / mse_grad calls are watched on the way (the functions still run as written), so the
    intermediates l1, l2 and out are found too. Returns ({name: tensor}, {name: its gradient}) for what it exposed.
    """
    fn = ns[name]
    glb = getattr(fn, "__globals__", None)
    if glb is None:
        raise TypeError("forward_and_backward must be a plain function (it reads the globals w1, b1, w2, b2)")
    names = ("w1", "b1", "w2", "b2", "mse_grad", "lin_grad", "relu_grad")
    saved, calls = {n: glb.get(n, _MISSING) for n in names}, []
    try:
        glb.update({n: t[n] for n in ("w1", "b1", "w2", "b2")})
        for n in ("mse_grad", "lin_grad", "relu_grad"):
            if callable(glb.get(n)):
                glb[n] = _spy(glb[n], calls, n)
        fn(t["inp"], t["targ"])
    finally:
        for n, v in saved.items():
            if v is _MISSING:
                glb.pop(n, None)
            else:
                glb[n] = v
    found = {n: grad_of(t[n]) for n in ("w2", "b2", "w1", "b1", "inp")}
    outs = {}
    for fname, args in calls:
        if fname == "mse_grad" and args:
            outs["out"] = args[0]
        elif fname == "relu_grad" and args:
            outs["l1"] = args[0]
        elif fname == "lin_grad" and len(args) >= 3 and args[2] is t["w2"]:  # lin_grad(l2, out, w2, b2)
            outs["l2"], outs["out"] = args[0], args[1]
        elif fname == "lin_grad" and len(args) >= 3 and args[2] is t["w1"]:  # lin_grad(inp, l1, w1, b1)
            outs["l1"] = args[1]
    found |= {n: grad_of(o) for n, o in outs.items()}
    return outs, found


def model_run(ns: dict, name: str, t: dict):
    """Model(w1, b1, w2, b2): (the loss it returns, its layers' outputs, the gradients backward() left)."""
    m = ns[name](t["w1"], t["b1"], t["w2"], t["b2"])
    loss = m(t["inp"], t["targ"])
    outs = {}
    layers = getattr(m, "layers", None)
    if isinstance(layers, (list, tuple)) and len(layers) == 3:
        for lname, layer in zip(("l1", "l2", "out"), layers, strict=True):
            if isinstance(getattr(layer, "out", None), torch.Tensor):
                outs[lname] = layer.out
    m.backward()
    found = {n: grad_of(t[n]) for n in ("w2", "b2", "w1", "b1", "inp")}
    found |= {n: grad_of(o) for n, o in outs.items()}
    return loss, outs, found


OPS = {f.__name__: f for f in (call, layer_forward, layer_backward, module_probe, chain_run, model_run)}
