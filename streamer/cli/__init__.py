"""The ``vigil`` command line: thin commands over library calls.

Exit codes: 0 ok, 2 bad usage or configuration (the message names the field), 1 runtime failure.

``OPENBLAS_NUM_THREADS`` defaults to 1 here, before anything imports numpy (OpenBLAS reads it once, when loaded):
after a matrix product OpenBLAS's idle threads spin (measured: a whole core for 50 ms and more after a 224x1280 by
1280x64 product), taking cores from the networks, and the products Vigil runs (head scores, negatives) are too small
to gain from threads. Set it in the environment to override.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from streamer.cli.app import app, main  # after the variable: importing the app imports numpy

__all__ = ["app", "main"]
