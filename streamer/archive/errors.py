"""Errors of the keyframe archive, with codes the API and the CLI share."""

from __future__ import annotations

from engines.errors import VigilError


class ArchiveError(VigilError):
    """The archive is off (``archive_disabled``), absent (``no_archive``) or lacks a keyframe
    (``keyframe_not_found``)."""

    code = "archive_error"


class BadTimeError(ArchiveError):
    """A time filter (``since``, ``until``) is not ISO 8601; the message names the option. Exit code 2 (HTTP 400)."""

    code = "bad_time"
    exit_code = 2
