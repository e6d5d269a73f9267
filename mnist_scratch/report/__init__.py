"""Rendering: the only place that imports rich. One module per command's report."""
