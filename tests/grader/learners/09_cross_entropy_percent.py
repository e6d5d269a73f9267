# %% [markdown]
# # Going further: softmax and cross-entropy (my notes on the minibatch-training notebook)

# %%
import gzip
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, tensor

path_gz = Path("data") / "mnist.pkl.gz"
with gzip.open(path_gz, "rb") as f:
    ((x_train, y_train), (x_valid, y_valid), _) = pickle.load(f, encoding="latin-1")
x_train, y_train, x_valid, y_valid = map(tensor, [x_train, y_train, x_valid, y_valid])

# %%
n, m = x_train.shape
c = y_train.max() + 1
nh = 50


# %%
def lin(x, w, b):
    return x @ w + b


def relu(x):
    return x.clamp_min(0.)


# %%
class Model(nn.Module):
    def __init__(self, n_in, nh, n_out):
        super().__init__()
        self.layers = [nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out)]

    def __call__(self, x):
        for l in self.layers:
            x = l(x)
        return x


model = Model(m, nh, 10)
pred = model(x_train)
pred.shape


# %%
def log_softmax(x):
    return (x.exp() / (x.exp().sum(-1, keepdim=True))).log()


log_softmax(pred)


# %%
# %%time
def logsumexp(x):
    m = x.max(-1)[0]
    return m + (x - m[:, None]).exp().sum(-1).log()


def log_softmax(x):
    return x - logsumexp(x)[:, None]


# %%
def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


loss = nll(log_softmax(pred), y_train)
loss


# %%
def cross_entropy_grad(inp, targ):
    # d loss / d logits = (softmax - onehot) / bs
    inp.g = (log_softmax(inp).exp() - F.one_hot(targ, inp.shape[-1])) / inp.shape[0]


# %%
test_close(F.cross_entropy(pred, y_train), loss, 1e-3)
