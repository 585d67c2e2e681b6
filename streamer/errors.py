"""Errors of the streaming side: configuration, cameras, publishing."""

from __future__ import annotations

from engines.errors import VigilError


class ConfigError(VigilError):
    """The configuration is malformed; the message names the offending field. Exit code 2."""

    code = "bad_config"
    exit_code = 2


class CameraError(VigilError):
    """A camera could not be opened or stopped delivering frames."""

    code = "camera_error"


class PublishError(VigilError):
    """An alert or status could not be handed to the MQTT broker."""

    code = "publish_error"
