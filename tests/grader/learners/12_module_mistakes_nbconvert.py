#!/usr/bin/env python
# coding: utf-8

# # Backprop with a Module base class

# In[ ]:


get_ipython().run_line_magic('matplotlib', 'inline')
import torch
from torch import tensor
from fastcore.test import test_close
get_ipython().system('ls data')


# In[ ]:


x_train = torch.load('data/x_train.pt')
y_train = torch.load('data/y_train.pt')
n, m = x_train.shape
w1, b1 = torch.randn(m, 50), torch.zeros(50)
w2, b2 = torch.randn(50, 1), torch.zeros(1)


# In[ ]:


class Module():
    def __call__(self, *args):
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def forward(self): raise Exception('not implemented')
    def backward(self): self.bwd(self.out, *self.args)


# In[ ]:


class Relu(Module):
    def forward(self, inp): return inp.clamp_min(0.)
    def bwd(self, out, inp): inp.g = (inp>0).float() * out.g


# In[ ]:


class Lin(Module):
    def __init__(self, w, b): self.w,self.b = w,b
    def forward(self, inp): return inp@self.w + self.b
    def bwd(self, out, inp):
        inp.g = out.g @ self.w.t()
        self.w.g = inp.t() @ out.g / inp.shape[0]
        self.b.g = out.g.sum(0)


# In[ ]:


class Mse(Module):
    def forward(self, inp, targ): return (inp[:,0] - targ).pow(2).mean()
    def bwd(self, out, inp, targ): inp.g = (inp[:,0] - targ)[:,None] / targ.shape[0]


# In[ ]:


class Model():
    def __init__(self, w1, b1, w2, b2):
        self.layers = [Lin(w1,b1), Relu(), Lin(w2,b2)]
        self.loss = Mse()

    def __call__(self, x, targ):
        for l in self.layers: x = l(x)
        return self.loss(x, targ)

    def backward(self):
        for l in self.layers: l.backward()
        self.loss.backward()


# In[ ]:


model = Model(w1, b1, w2, b2)
loss = model(x_train, y_train)
get_ipython().run_line_magic('time', 'model.backward()')
