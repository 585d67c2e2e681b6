"""The one error the development services raise (clip encoding, the test RTSP server)."""

from __future__ import annotations

from engines.errors import VigilError


class DevServiceError(VigilError):
    """A development service (ffmpeg, the GStreamer RTSP server) could not do its job; the message says why."""

    code = "devservice_error"
