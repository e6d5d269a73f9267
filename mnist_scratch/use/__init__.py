"""Using a trained run: a person's images as MNIST digits, predictions, the drawing page, exports."""
