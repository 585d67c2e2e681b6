"""The GStreamer RTSP test server serves clips the way a camera would: looping, with auth, surviving kills."""

from __future__ import annotations

import sys
from itertools import pairwise

import av
import av.error
import pytest

from streamer.devservices.errors import DevServiceError
from streamer.devservices.rtsp_server import RtspTestServer

OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "500000", "probesize": "100000"}


def keyframe_pts(url: str, count: int) -> list[int | None]:
    """The pts of the first ``count`` keyframe packets read from ``url``."""
    found: list[int | None] = []
    with av.open(url, options=OPTIONS, timeout=(10, 10)) as container:
        for packet in container.demux(video=0):
            if packet.is_keyframe and packet.size:
                found.append(packet.pts)
                if len(found) == count:
                    break
    return found


def test_a_clip_is_served_with_its_size(clip_factory, rtsp_server):
    server = rtsp_server({"lobby": clip_factory(width=320, height=240)})

    with av.open(server.url("lobby"), options=OPTIONS, timeout=(10, 10)) as container:
        context = container.streams.video[0].codec_context

    assert server.url("lobby") == f"rtsp://127.0.0.1:{server.port}/lobby"
    assert (context.name, context.width, context.height) == ("h264", 320, 240)


def test_a_clip_loops_so_the_stream_outlasts_it(clip_factory, rtsp_server):
    server = rtsp_server({"short": clip_factory(seconds=1.0, gop=5)})  # two keyframes per pass

    pts = keyframe_pts(server.url("short"), count=4)

    assert len(pts) == 4, "the stream ended with the clip"
    known = [p for p in pts if p is not None]
    assert any(later < earlier for earlier, later in pairwise(known)), f"no restart in {pts}"


def test_without_loop_a_session_ends_with_its_clip(clip_factory, rtsp_server):
    server = rtsp_server({"short": clip_factory(seconds=1.0, gop=5)}, loop=False)

    pts = keyframe_pts(server.url("short"), count=10)

    assert len(pts) == 2


@pytest.mark.parametrize(
    ("credentials", "error"),
    [
        ("viewer:s3cret@", None),
        ("viewer:wrong@", av.error.HTTPUnauthorizedError),
        ("", av.error.HTTPUnauthorizedError),
    ],
)
def test_basic_auth_lets_in_only_the_right_password(clip_factory, rtsp_server, credentials, error):
    server = rtsp_server({"cam": clip_factory()}, user="viewer", password="s3cret")
    url = f"rtsp://{credentials}127.0.0.1:{server.port}/cam"

    if error is None:
        assert len(keyframe_pts(url, count=1)) == 1
    else:
        with pytest.raises(error):
            keyframe_pts(url, count=1)


def test_url_embeds_the_servers_credentials_unless_asked_not_to(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory()}, user="viewer", password="p@ss:word")

    assert server.url("cam") == f"rtsp://viewer:p%40ss%3Aword@127.0.0.1:{server.port}/cam"
    assert server.url("cam", credentials=False) == f"rtsp://127.0.0.1:{server.port}/cam"
    assert len(keyframe_pts(server.url("cam"), count=1)) == 1


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_the_server_comes_back_on_the_same_port_again_and_again(clip_factory, rtsp_server, how):
    server = rtsp_server({"cam": clip_factory()})
    port = server.port

    for _ in range(3):
        with av.open(server.url("cam"), options=OPTIONS, timeout=(10, 10)) as client:  # a client connected
            next(client.demux(video=0))
            getattr(server, how)()
            assert not server.running
            server.start()

        assert server.port == port
        assert len(keyframe_pts(server.url("cam"), count=1)) == 1


def test_a_frozen_server_keeps_its_port_but_answers_nothing(clip_factory, rtsp_server):
    server = rtsp_server({"cam": clip_factory()})
    server.freeze()

    with pytest.raises(av.error.FFmpegError):
        av.open(server.url("cam"), options=OPTIONS, timeout=(1, 1))

    server.thaw()
    assert len(keyframe_pts(server.url("cam"), count=1)) == 1


def test_an_interpreter_without_gstreamer_is_reported_with_its_error(clip_factory):
    server = RtspTestServer({"cam": clip_factory()}, python=sys.executable)  # the venv has no python3-gi

    with pytest.raises(DevServiceError, match=r"(?s)exited.*No module named 'gi'"):
        server.start()
    server.close()


@pytest.mark.parametrize(
    ("mounts", "options", "message"),
    [
        ({}, {}, "at least one mount"),
        ({"cam": "/nonexistent.mp4"}, {}, "existing clip"),
        ({"cam": None}, {"user": "viewer"}, "go together"),
    ],
)
def test_a_server_that_cannot_work_is_refused_when_built(clip_factory, mounts, options, message):
    mounts = {name: path or clip_factory() for name, path in mounts.items()}

    with pytest.raises(ValueError, match=message):
        RtspTestServer(mounts, **options)
