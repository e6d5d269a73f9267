"""The lesson's own steps: the hand-written model (nn), matmul built up, init statistics, timing."""
