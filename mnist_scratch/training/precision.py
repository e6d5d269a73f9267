"""The float32 matmul precision a run asks for, set for the span of its training and then put back."""

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def matmul_precision(value: str) -> Iterator[None]:
    """torch.set_float32_matmul_precision(value) inside the block, the previous setting after it.

    The setting is process-wide, so a library caller (a test, a notebook) gets its own back when training ends.
    """
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(value)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
