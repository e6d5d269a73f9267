"""The bench's plain hand-written loop trains the same model as the fused engine: the same loss at every step."""

import torch

from mnist_scratch.bench.plain import PlainLoop
from mnist_scratch.config import TrainConfig
from mnist_scratch.lesson.nn import make_model
from mnist_scratch.training.fused import FusedEngine


def test_plain_loop_computes_the_engines_losses_and_weights(one_thread):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(640, 784, generator=g) * 0.3, torch.randint(0, 10, (640,), generator=g)
    batches = torch.randperm(640, generator=g).split(64)
    model = make_model((24,), "ce", generator=torch.Generator().manual_seed(1))
    plain = PlainLoop(dict(model.params()), 64)
    engine = FusedEngine(model, TrainConfig(nh=(24,), bs=64, momentum=0.0, weight_decay=0.0))
    steps, lr = 25, 0.1  # cycles the batches more than twice
    want = torch.stack([engine.step(x[batches[k % 10]], y[batches[k % 10]], lr) for k in range(steps)])
    got = plain.run(x, y, list(batches), steps, lr)
    assert got.shape == (steps,) and got[-1] < got[0]  # it learns
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    state = engine.state()
    for k, v in (("lin1.w", plain.w1), ("lin1.b", plain.b1), ("lin2.w", plain.w2), ("lin2.b", plain.b2)):
        torch.testing.assert_close(v, state[k], rtol=1e-5, atol=1e-6)
