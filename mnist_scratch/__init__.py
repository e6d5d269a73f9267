"""mnist-scratch: the first lesson of deep learning from the foundations, as verified software."""

__version__ = "0.1.0"
