"""Shared fixtures: real services (mosquitto, a GStreamer RTSP server), clips and models, started from the tests."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.mqtt",
    "tests.fixtures.rtsp",
    "tests.fixtures.models",
    "tests.fixtures.faces",
    "tests.fixtures.pipeline",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
    "tests.fixtures.cli",
]
