"""Vigil's error hierarchy.

Every error a user can cause carries a stable ``code`` that the CLI, the REST API and camera status reuse, so a
message in a log, an HTTP body and an exit code all name the same problem. It lives in ``engines`` because that is
the lowest layer: ``watchlists`` and ``streamer`` both build on it.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose.

    Args:
        message: what went wrong, for a person; names the field, file or camera concerned.
        code: stable machine-readable code (``bad_config``, ``no_face_found`` ...).
    """

    code = "vigil_error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class EngineError(VigilError):
    """A model could not be exported, loaded or run."""

    code = "engine_error"
