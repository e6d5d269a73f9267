"""Training: fit, the engines (reference, fused, autograd), run folders, checkpoints, evaluation."""
