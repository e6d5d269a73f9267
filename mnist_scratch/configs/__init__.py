"""Configs shipped with the package: `--config NAME` (see `mnist-scratch train --config list`)."""
