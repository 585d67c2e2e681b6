"""What every reader shares: credential-free messages, the stall watchdog, the choice of reader by URL."""

from __future__ import annotations

import threading

import pytest

from streamer.config import CameraConfig
from streamer.errors import CameraError
from streamer.redaction import scrub as scrub_credentials
from streamer.sources.opencv_reader import OpenCvReader
from streamer.sources.pyav_reader import PyAvReader
from streamer.sources.reader import StallWatchdog, describe_failure, open_reader

URL = "rtsp://admin:s3cr%40t@10.0.0.5:554/stream1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"failed: '{URL}'", "failed: 'rtsp://***@10.0.0.5:554/stream1'"),
        ("401 for admin with s3cr@t", "401 for *** with ***"),
        ("401 for admin with s3cr%40t", "401 for *** with ***"),
        ("rtsp://other:pw@host/x refused", "rtsp://***@host/x refused"),
        ("Connection refused", "Connection refused"),
    ],
)
def test_messages_lose_every_trace_of_the_credentials(text, expected):
    assert scrub_credentials(text, URL) == expected


def test_a_url_without_credentials_leaves_messages_alone():
    assert scrub_credentials("cannot open rtsp://10.0.0.5/x", "rtsp://10.0.0.5/x") == "cannot open rtsp://10.0.0.5/x"


def test_library_errors_are_described_by_their_message_without_the_url():
    error = OSError(111, "Connection refused", URL)

    assert describe_failure(error, URL) == "Connection refused"
    assert describe_failure(ValueError(f"bad {URL}"), URL) == "bad rtsp://***@10.0.0.5:554/stream1"


def test_the_watchdog_bites_only_after_the_timeout_and_feeding_resets_it():
    now = [0.0]
    watchdog = StallWatchdog(2.0, clock=lambda: now[0])

    now[0] = 1.9
    watchdog.check()
    watchdog.feed()
    now[0] = 3.8
    watchdog.check()
    now[0] = 4.0

    with pytest.raises(CameraError, match="no frame for 2 s") as caught:
        watchdog.check()
    assert caught.value.code == "camera_stalled"


@pytest.mark.parametrize(
    ("url", "reader"),
    [("rtsp://cam/1", PyAvReader), ("rtsps://cam/1", PyAvReader), ("/dev/video0", OpenCvReader)],
)
def test_devices_go_to_opencv_and_everything_else_to_pyav(url, reader):
    config = CameraConfig(url=url)

    assert isinstance(open_reader("cam", config, threading.Event(), lambda: None), reader)
