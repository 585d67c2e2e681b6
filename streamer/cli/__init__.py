"""The ``vigil`` command line: thin commands over library calls.

Exit codes: 0 ok, 2 bad usage or configuration (the message names the field), 1 runtime failure.
"""

from __future__ import annotations

from streamer.cli.app import app, main

__all__ = ["app", "main"]
