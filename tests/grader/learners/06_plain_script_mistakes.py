"""Lesson 8 homework: an MLP on MNIST with a hand-written backward pass (run with `python 06_plain_script_mistakes.py`)."""
import math

import matplotlib.pyplot as plt
import torch
from torchvision.datasets import MNIST

train_ds = MNIST("~/data", train=True, download=True)
x_train = train_ds.data.view(-1, 784).float() / 255
y_train = train_ds.targets.float()
n, m = x_train.shape
nh = 50
w1 = torch.randn(m, nh) * math.sqrt(2 / m)
b1 = torch.zeros(nh)
w2 = torch.randn(nh, 1) / math.sqrt(nh)
b2 = torch.zeros(1)
print(x_train.shape, y_train.shape)


def lin(x, w, b):
    return x @ w + b


def relu(x):
    return x.clamp_min(0.0)


def mse(output, targ):
    return (output[:, 0] - targ).pow(2).mean()


def mse_grad(inp, targ):
    # d/dx of (x - t)^2 is 2 (x - t)
    inp.g = 2.0 * (inp.squeeze(-1) - targ).unsqueeze(-1)


def relu_grad(inp, out):
    # gradient flows where the relu was active
    inp.g = (out.g > 0).float() * out.g


def lin_grad(inp, out, w, b):
    inp.g = out.g @ w.t()
    w.g = out.g.t() @ inp
    b.g = out.g.sum(0)


def forward_and_backward(inp, targ):
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    loss = mse(out, targ)
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad(inp, l1, w1, b1)
    return loss


if __name__ == "__main__":
    for epoch in range(3):
        loss = forward_and_backward(x_train, y_train)
        for p in (w1, b1, w2, b2):
            p -= 0.01 * p.g
        print(epoch, loss.item())
    plt.plot([1, 2, 3])
