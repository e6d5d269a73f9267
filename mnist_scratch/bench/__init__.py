"""The benchmark: engines side by side with their GEMM floor, and the whole-command extras."""
