"""Using a trained run: a person's images as MNIST digits, predictions, the drawing page, exports."""

EXPORT_FORMATS = ("torch", "onnx")  # here, not in export.py: the CLI lists them without importing torch
