"""The lesson's pieces as one table: name, signature, docstring, shapes and the reference body.

One source of truth: the exercise stubs and the teacher's solutions are both rendered from PIECES, and the
catalogue of broken solutions (mutants.py) starts from the rendered solutions.
"""

from dataclasses import dataclass

PARTS = ("matmul", "init", "forward", "backward", "classes", "ce")
PART_TITLES = {
    "matmul": "Matrix multiply with three loops",
    "init": "Normalize the inputs and initialize the weights",
    "forward": "The forward pass as functions",
    "backward": "The backward pass: gradient rules that store their result in .g",
    "classes": "The same model as layer classes with forward and bwd",
    "ce": "Extension: softmax cross-entropy for 10 outputs",
}
PART_NOTES = {
    "matmul": "Loops only (no @, no broadcasting): slow, and the point is to see why.",
    "init": "He init keeps the variance of a ReLU layer's output near its input's.",
    "forward": "The lesson's model: lin -> relu -> lin, one output regressed onto the digit with MSE.",
    "backward": "A backward function sets .g on the tensors it receives and returns nothing.\n"
                "Read the upstream gradient from out.g; never write into it.",
    "classes": "Module keeps its inputs and output so backward() can call bwd(out, *args).",
    "ce": "The loss a real classifier uses; its gradient w.r.t. the logits is short.",
}
PREAMBLE = "import math\n\nimport torch\nfrom torch import tensor"
DATA_CELL = ("from mnist_scratch import load_mnist\n\n"
             "# the lesson's data: (50000, 784) floats in [0, 1) and labels 0..9; nothing loads while `check` grades\n"
             "x_train, y_train, x_valid, y_valid = load_mnist()\n"
             "n, m = x_train.shape\nnh = 50\n"
             "w1, b1 = torch.randn(m, nh) * math.sqrt(2 / m), torch.zeros(nh)  # forward_and_backward reads these\n"
             "w2, b2 = torch.randn(nh, 1) / math.sqrt(nh), torch.zeros(1)")
TRAIN_CELL = ("from mnist_scratch import train\n\n"
              "# SGD through your own forward and backward code; does nothing while `check` grades\n"
              "history = train(rules=globals(), epochs=1)")


@dataclass(frozen=True)
class Piece:
    """One blank of the exercise: a function (kind "def") or a class (kind "class") with its answer."""

    name: str
    part: str
    kind: str
    header: str  # the def/class line without the trailing colon
    doc: str  # one line
    shapes: str  # comment lines naming the shapes involved
    body: str  # the reference body (indented one level)
    stub: str = "        raise NotImplementedError\n"  # classes: methods with this body; unused for def


PIECES = (
    Piece("matmul", "matmul", "def", "def matmul(a, b)", "a @ b computed with three Python loops.",
          "# a (ar, ac), b (br, bc) with ac == br -> (ar, bc)",
          "    ar, ac = a.shape\n    br, bc = b.shape\n    assert ac == br\n"
          "    c = torch.zeros(ar, bc, dtype=a.dtype)\n"
          "    for i in range(ar):\n        for j in range(bc):\n            for k in range(ac):\n"
          "                c[i, j] += a[i, k] * b[k, j]\n    return c\n"),
    Piece("normalize", "init", "def", "def normalize(x, m, s)", "x shifted by the mean m and scaled by the std s.",
          "# x (n, 784); m, s scalars (the training set's mean and std)",
          "    return (x - m) / s\n"),
    Piece("he_init", "init", "def", "def he_init(n_in, n_out)", "A (n_in, n_out) weight drawn from N(0, 2 / n_in).",
          "# -> (n_in, n_out); std sqrt(2 / n_in) because ReLU zeroes half of each layer's output",
          "    return torch.randn(n_in, n_out) * math.sqrt(2 / n_in)\n"),
    Piece("lin", "forward", "def", "def lin(x, w, b)", "The affine layer x @ w + b.",
          "# x (bs, n_in), w (n_in, n_out), b (n_out,) -> (bs, n_out)",
          "    return x @ w + b\n"),
    Piece("relu", "forward", "def", "def relu(x)", "max(x, 0) entry by entry, in a new tensor.",
          "# x (bs, nh) -> (bs, nh)",
          "    return x.clamp_min(0.0)\n"),
    Piece("mse", "forward", "def", "def mse(output, targ)", "Mean squared error of one output column against targ.",
          "# output (bs, 1), targ (bs,) -> scalar; beware (bs, 1) - (bs,) broadcasts to (bs, bs)",
          "    return (output[:, 0] - targ).pow(2).mean()\n"),
    Piece("mse_grad", "backward", "def", "def mse_grad(inp, targ)", "Set inp.g to d mse / d inp.",
          "# inp (bs, 1), targ (bs,) -> inp.g (bs, 1)",
          "    inp.g = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n"),
    Piece("relu_grad", "backward", "def", "def relu_grad(inp, out)", "Set inp.g from out.g through relu.",
          "# inp (bs, nh) the relu input, out (bs, nh) its output carrying out.g -> inp.g (bs, nh)",
          "    inp.g = (inp > 0).to(out.g.dtype) * out.g\n"),
    Piece("lin_grad", "backward", "def", "def lin_grad(inp, out, w, b)", "Set inp.g, w.g and b.g from out.g.",
          "# inp (bs, n_in), out (bs, n_out) carrying out.g, w (n_in, n_out), b (n_out,)",
          "    inp.g = out.g @ w.t()  # (bs, n_in)\n"
          "    w.g = inp.t() @ out.g  # (n_in, n_out): summed over the batch\n"
          "    b.g = out.g.sum(0)  # (n_out,)\n"),
    Piece("forward_and_backward", "backward", "def", "def forward_and_backward(inp, targ)",
          "Forward through lin, relu, lin and mse, then every gradient rule in reverse (globals w1, b1, w2, b2).",
          "# inp (bs, n_in), targ (bs,); uses the globals w1 (n_in, nh), b1 (nh,), w2 (nh, 1), b2 (1,)",
          "    l1 = inp @ w1 + b1  # (bs, nh)\n    l2 = l1.clamp_min(0.0)\n    out = l2 @ w2 + b2  # (bs, 1)\n"
          "    loss = (out[:, 0] - targ).pow(2).mean()  # not needed for the gradients, as in the lesson\n"
          "    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    relu_grad(l1, l2)\n"
          "    lin_grad(inp, l1, w1, b1)\n"),
    Piece("Module", "classes", "class", "class Module", "A layer that remembers its inputs and output.",
          "# __call__(*args) keeps self.args and self.out; backward() calls self.bwd(self.out, *self.args)",
          "    def __call__(self, *args):\n        self.args = args\n        self.out = self.forward(*args)\n"
          "        return self.out\n\n    def forward(self, *args):\n        raise NotImplementedError\n\n"
          "    def backward(self):\n        self.bwd(self.out, *self.args)\n",
          "    def __call__(self, *args):\n        raise NotImplementedError\n\n"
          "    def forward(self, *args):\n        raise NotImplementedError\n\n"
          "    def backward(self):\n        raise NotImplementedError\n"),
    Piece("Lin", "classes", "class", "class Lin(Module)", "Affine layer with weight w (n_in, n_out) and bias b.",
          "# forward: inp (bs, n_in) -> (bs, n_out); bwd sets inp.g, w.g, b.g from out.g",
          "    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
          "    def forward(self, inp):\n        return inp @ self.w + self.b\n\n"
          "    def bwd(self, out, inp):\n        inp.g = out.g @ self.w.t()\n"
          "        self.w.g = inp.t() @ out.g\n        self.b.g = out.g.sum(0)\n",
          "    def __init__(self, w, b):\n        raise NotImplementedError\n\n"
          "    def forward(self, inp):\n        raise NotImplementedError\n\n"
          "    def bwd(self, out, inp):\n        raise NotImplementedError\n"),
    Piece("Relu", "classes", "class", "class Relu(Module)", "max(inp, 0) with its backward rule.",
          "# forward: inp (bs, nh) -> (bs, nh); bwd sets inp.g from out.g",
          "    def forward(self, inp):\n        return inp.clamp_min(0.0)\n\n"
          "    def bwd(self, out, inp):\n        inp.g = (inp > 0).to(out.g.dtype) * out.g\n",
          "    def forward(self, inp):\n        raise NotImplementedError\n\n"
          "    def bwd(self, out, inp):\n        raise NotImplementedError\n"),
    Piece("Mse", "classes", "class", "class Mse(Module)", "The lesson's loss with its backward rule.",
          "# forward: inp (bs, 1), targ (bs,) -> scalar; bwd sets inp.g (bs, 1)",
          "    def forward(self, inp, targ):\n        return (inp[:, 0] - targ).pow(2).mean()\n\n"
          "    def bwd(self, out, inp, targ):\n        inp.g = 2.0 * (inp[:, 0] - targ)[:, None] / inp.shape[0]\n",
          "    def forward(self, inp, targ):\n        raise NotImplementedError\n\n"
          "    def bwd(self, out, inp, targ):\n        raise NotImplementedError\n"),
    Piece("Model", "classes", "class", "class Model", "Lin, Relu, Lin and Mse chained; call returns the loss.",
          "# Model(w1, b1, w2, b2); model(x, targ) -> loss; model.backward() fills every .g",
          "    def __init__(self, w1, b1, w2, b2):\n        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]\n"
          "        self.loss = Mse()\n\n    def __call__(self, x, targ):\n"
          "        for l in self.layers:\n            x = l(x)\n        return self.loss(x, targ)\n\n"
          "    def backward(self):\n        self.loss.backward()\n"
          "        for l in reversed(self.layers):\n            l.backward()\n",
          "    def __init__(self, w1, b1, w2, b2):\n        raise NotImplementedError\n\n"
          "    def __call__(self, x, targ):\n        raise NotImplementedError\n\n"
          "    def backward(self):\n        raise NotImplementedError\n"),
    Piece("log_softmax", "ce", "def", "def log_softmax(x)", "log of softmax over each row, through logsumexp.",
          "# x (bs, 10) logits -> (bs, 10); stable for large logits",
          "    m = x.max(-1, keepdim=True)[0]  # (bs, 1): exp never overflows after this shift\n"
          "    return x - (m + (x - m).exp().sum(-1, keepdim=True).log())\n"),
    Piece("nll", "ce", "def", "def nll(input, target)", "Mean negative log-likelihood of the target classes.",
          "# input (bs, 10) log-probabilities, target (bs,) integer labels -> scalar",
          "    return -input[range(target.shape[0]), target].mean()\n"),
    Piece("cross_entropy_grad", "ce", "def", "def cross_entropy_grad(inp, targ)",
          "Set inp.g to d nll(log_softmax(inp), targ) / d inp.",
          "# inp (bs, 10) logits, targ (bs,) integer labels -> inp.g (bs, 10) = (softmax - onehot) / bs",
          "    sm = log_softmax(inp).exp()  # (bs, 10)\n"
          "    onehot = torch.zeros_like(sm)\n    onehot[range(targ.shape[0]), targ] = 1.0\n"
          "    inp.g = (sm - onehot) / inp.shape[0]\n"),
)

NAMES = tuple(p.name for p in PIECES)
BY_NAME = {p.name: p for p in PIECES}


def piece_source(p: Piece, solutions: bool) -> str:
    """One piece's source: its header, docstring, shape comment and either the answer or the stub."""
    body = p.body if solutions else (p.stub if p.kind == "class" else "    raise NotImplementedError\n")
    return f'{p.header}:\n    """{p.doc}"""\n' + "".join(f"    {line}\n" for line in p.shapes.splitlines()) + \
        ("\n" if p.kind == "class" else "") + body


def cells(parts: "tuple[str, ...]" = PARTS, solutions: bool = False) -> list[tuple[str, str]]:
    """The exercise as (kind, source) cells in order: "markdown", "code" (the rules), "lesson" (data, training)."""
    out = [("markdown", "# The lesson as an exercise\n\nFill in every `raise NotImplementedError`, then run "
                        "`mnist-scratch check THIS_FILE` (or, in a notebook, "
                        "`from mnist_scratch import check; check()`)."),
           ("code", PREAMBLE), ("markdown", "## The data"), ("lesson", DATA_CELL)]
    for part in PARTS:
        if part not in parts:
            continue
        out.append(("markdown", f"## {PART_TITLES[part]} (part `{part}`)\n\n{PART_NOTES[part]}"))
        out += [("code", piece_source(p, solutions).rstrip("\n")) for p in PIECES if p.part == part]
    out += [("markdown", "## Watch your rules learn\n\nOnce `check` passes, train the model on MNIST with your own "
                         "rules."), ("lesson", TRAIN_CELL)]
    return out
