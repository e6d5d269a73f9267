"""A run as files other tools load: a PyTorch state_dict for nn.Sequential, or an ONNX model with the
normalisation inside; each checked against the run's own outputs on the test split before it is written."""

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_scratch.atomic import atomic_write_bytes, shown
from mnist_scratch.errors import MnistScratchError, UsageError
from mnist_scratch.training.checkpoint import Checkpoint
from mnist_scratch.training.evaluation import model_from
from mnist_scratch.training.fit import predict_all
from mnist_scratch.use import EXPORT_FORMATS as FORMATS
from mnist_scratch.use.predict import class_names

OPSET, IR_VERSION = 17, 8  # read by every onnxruntime since 1.15
TOLERANCE = 1e-4  # float32 round-off of a 784-long dot product, relative to the largest output


class ExportError(MnistScratchError):
    """The exported model does not give the run's outputs (nothing is written)."""


@dataclass(frozen=True)
class Exported:
    """What export wrote and how closely the written model matches the run on the test split."""

    fmt: str
    files: list[Path]
    sizes: list[int]  # layer widths: 784, the hidden sizes, the outputs
    n: int  # test digits compared
    max_diff: float  # the largest |exported output - run output|
    agree: int  # test digits whose predicted class is the same
    snippet: str  # how to load and use it


def sizes_of(ckpt: Checkpoint) -> list[int]:
    """784, the hidden sizes, then 10 outputs (1 for the lesson's MSE model)."""
    return [784, *ckpt.cfg.nh, 10 if ckpt.cfg.loss == "ce" else 1]


def state_dict(ckpt: Checkpoint) -> dict[str, torch.Tensor]:
    """The run's weights named as nn.Sequential(Linear, ReLU, Linear, ...) names them, weights as (out, in)."""
    out = {}
    for i in range(len(ckpt.cfg.nh) + 1):
        out[f"{2 * i}.weight"] = ckpt.state[f"lin{i + 1}.w"].T.contiguous().float()  # (n_out, n_in)
        out[f"{2 * i}.bias"] = ckpt.state[f"lin{i + 1}.b"].contiguous().float()
    return out


def sequential(sizes: list[int]) -> torch.nn.Sequential:
    """nn.Sequential of Linear layers with a ReLU between each two."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers += [torch.nn.ReLU()] if i else []
        layers.append(torch.nn.Linear(a, b))
    return torch.nn.Sequential(*layers)


def torch_snippet(pt: Path, norm: Path, sizes: list[int]) -> str:
    """Python that rebuilds the network in PyTorch and applies the run's normalisation."""
    layers = ", nn.ReLU(), ".join(f"nn.Linear({a}, {b})" for a, b in zip(sizes, sizes[1:], strict=False))
    return (f"import json, torch\nfrom torch import nn\n\nmodel = nn.Sequential({layers})\n"
            f"model.load_state_dict(torch.load({str(pt)!r}, weights_only=True))\n"
            f"norm = json.load(open({str(norm)!r}))  # the run's mean and std of the training pixels\n"
            "x = torch.rand(1, 28, 28)  # your images: (n, 28, 28), ink high in [0, 1], as MNIST\n"
            "out = model((x.reshape(len(x), 784) - norm[\"mean\"]) / norm[\"std\"])\n"
            + ("print(out.argmax(-1))\n" if sizes[-1] > 1 else "print(out[:, 0].round().clamp(0, 9))\n"))


def onnx_bytes(ckpt: Checkpoint) -> bytes:
    """An ONNX model: pixels (batch, 784) in [0, 1] -> (pixels - mean) / std -> the run's layers -> outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, t):
        return numpy_helper.from_array(t.detach().cpu().float().numpy(), name)

    n = len(ckpt.cfg.nh) + 1
    inits = [const("mean", torch.tensor(ckpt.mean)), const("std", torch.tensor(ckpt.std))]
    nodes = [helper.make_node("Sub", ["pixels", "mean"], ["centred"]), helper.make_node("Div", ["centred", "std"],
                                                                                       ["h0"])]
    for i in range(1, n + 1):
        inits += [const(f"lin{i}.w", ckpt.state[f"lin{i}.w"]), const(f"lin{i}.b", ckpt.state[f"lin{i}.b"])]
        out = "output" if i == n else f"lin{i}.out"
        nodes += [helper.make_node("MatMul", [f"h{i - 1}", f"lin{i}.w"], [f"lin{i}.mm"]),  # w is (in, out) as stored
                  helper.make_node("Add", [f"lin{i}.mm", f"lin{i}.b"], [out])]
        if i < n:
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"]))
    sizes = sizes_of(ckpt)
    graph = helper.make_graph(nodes, "mnist_scratch",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 784])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", sizes[-1]])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mnist-scratch",
                              ir_version=IR_VERSION)
    helper.set_model_props(model, {"classes": json.dumps(class_names(ckpt)), "mean": repr(ckpt.mean),
                                   "std": repr(ckpt.std), "loss": ckpt.cfg.loss})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _compare(fmt: str, out: torch.Tensor, ref: torch.Tensor) -> tuple[float, int]:
    """(max |out - ref|, predictions that agree); ExportError beyond float32 round-off."""
    diff = float((out - ref).abs().max())
    if diff > TOLERANCE * max(1.0, float(ref.abs().max())):
        raise ExportError(f"the {fmt} export differs from the run by up to {diff:.3g} on the test split; "
                          "nothing was written")
    pick = (lambda o: o.argmax(-1)) if ref.shape[1] > 1 else (lambda o: o[:, 0].round().clamp(0, 9))
    return diff, int((pick(out) == pick(ref)).sum())


def export(ckpt: Checkpoint, fmt: str, out: "Path | None", x_test: torch.Tensor, data_mean: float,
           data_std: float, force: bool = False) -> Exported:
    """Build the export, check it on the test split (x_test normalised with data_mean, data_std), then write it."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out) if out is not None else ckpt.path.parent / ("model.pt" if fmt == "torch" else "model.onnx")
    norm = out.with_suffix(".json")
    files = [out, norm] if fmt == "torch" else [out]
    for f in files:
        if f.exists() and not force:
            raise UsageError(f"{shown(f)} exists; pass --force to replace it")
    pixels = (x_test * data_std + data_mean).float()  # (n, 784) in [0, 1], what a user of the export feeds it
    ref = predict_all(model_from(ckpt).predict, (pixels - ckpt.mean) / ckpt.std)  # (n, n_out): the run's outputs
    sizes = sizes_of(ckpt)
    if fmt == "torch":
        state = state_dict(ckpt)
        net = sequential(sizes)
        net.load_state_dict(state)
        with torch.no_grad():
            got = net((pixels - ckpt.mean) / ckpt.std)
        buf = io.BytesIO()
        torch.save(state, buf)
        blobs = [buf.getvalue(), json.dumps({"mean": ckpt.mean, "std": ckpt.std, "sizes": sizes,
                                             "classes": list(class_names(ckpt))}, indent=2).encode() + b"\n"]
        snippet = torch_snippet(out, norm, sizes)
    else:
        data = onnx_bytes(ckpt)
        got = torch.from_numpy(_onnx_run(data, pixels))
        blobs = [data]
        snippet = (f"import onnxruntime, numpy as np\nsess = onnxruntime.InferenceSession({str(out)!r})\n"
                   "x = np.random.rand(1, 784).astype(np.float32)  # your images: (n, 784), ink high in [0, 1]\n"
                   "out = sess.run(None, {\"pixels\": x})[0]\n")
    diff, agree = _compare(fmt, got, ref)
    for f, b in zip(files, blobs, strict=True):
        atomic_write_bytes(f, b)
    return Exported(fmt, files, sizes, len(ref), diff, agree, snippet)


def _onnx_run(data: bytes, pixels: torch.Tensor):
    """The ONNX model's outputs on pixels, by onnxruntime on the CPU."""
    import onnxruntime

    sess = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {"pixels": pixels.numpy()})[0]


def check_onnx_available() -> None:
    """UsageError naming the extra when onnx or onnxruntime is missing (asked before any work)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UsageError("--format onnx needs onnx and onnxruntime: pip install 'mnist-scratch[onnx]'") from None
