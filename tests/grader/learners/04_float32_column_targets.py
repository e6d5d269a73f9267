# %% [markdown]
# # Backprop by hand (my rewrite, kept as a jupytext percent script)
#
# I keep everything float32 like the GPU would, and my targets are a column (bs, 1) so they match the model output.

# %%
import math
import torch
from torchvision.datasets import MNIST

ds = MNIST("data", train=True, download=True)
x_train = ds.data.reshape(-1, 784).float() / 255.
y_train = ds.targets.float().unsqueeze(-1)  # (n, 1): same shape as the model's output

# %%
n, m = x_train.shape
nh = 32
w1 = torch.randn(m, nh).float() * math.sqrt(2 / m)
b1 = torch.zeros(nh).float()
w2 = torch.randn(nh, 1).float() / math.sqrt(nh)
b2 = torch.zeros(1).float()


# %%
def lin(x, w, b):
    return (x @ w + b).float()


def relu(x):
    return x.clamp_min(0.).float()


def mse(output, targ):
    # targ is (bs, 1) like output: no broadcasting surprise; the loss comes back with shape (1,)
    return (output - targ).pow(2).mean(dim=0)


# %%
def mse_grad(inp, targ):
    inp.g = (2. * (inp - targ) / inp.shape[0]).float()


def relu_grad(inp, out):
    inp.g = (inp > 0).float() * out.g


def lin_grad(inp, out, w, b):
    inp.g = (out.g @ w.t()).float()
    w.g = torch.einsum("bi,bj->ij", inp, out.g).float()
    b.g = out.g.sum(0).float()


# %%
class Module:
    def __call__(self, *args):
        self.args = list(args)
        self.out = self.forward(*args)
        return self.out

    def forward(self, *args):
        raise NotImplementedError

    def backward(self):
        self.bwd(self.out, *self.args)


class Lin(Module):
    def __init__(self, w, b):
        self.w, self.b = w, b

    def forward(self, inp):
        return (inp @ self.w + self.b).float()

    def bwd(self, out, inp):
        inp.g = (out.g @ self.w.t()).float()
        self.w.g = (inp.t() @ out.g).float()
        self.b.g = out.g.sum(0).float()


class Relu(Module):
    def forward(self, inp):
        return inp.clamp_min(0.).float()

    def bwd(self, out, inp):
        inp.g = (inp > 0).float() * out.g


class Mse(Module):
    def forward(self, inp, targ):
        return (inp - targ).pow(2).mean(dim=0)

    def bwd(self, out, inp, targ):
        inp.g = (2. * (inp - targ) / inp.shape[0]).float()


class Model:
    def __init__(self, w1, b1, w2, b2):
        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]
        self.loss = Mse()

    def __call__(self, x, targ):
        for layer in self.layers:
            x = layer(x)
        return self.loss(x, targ)

    def backward(self):
        self.loss.backward()
        for layer in reversed(self.layers):
            layer.backward()


# %%
model = Model(w1, b1, w2, b2)
loss = model(x_train[:1000], y_train[:1000])
model.backward()
print(loss, w1.g.shape)
