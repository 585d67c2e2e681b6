"""A real RTSP server for tests and the demo: H.264 MP4 clips served by GStreamer's RTSP server, looping forever.

This script runs under Debian's ``/usr/bin/python3`` (python3-gi and gst-rtsp-server are system packages that a
virtual environment cannot see); ``streamer.devservices.rtsp_server.RtspTestServer`` starts it as a subprocess and
talks to it only through argv, stdout and signals:

* stdout gets exactly one line, ``READY <port>``, once ``server.attach()`` has bound the port (so callers wait for
  a fact, not a sleep); a failure goes to stderr with exit status 1;
* SIGTERM or SIGINT quit the main loop cleanly; EOF on stdin (the parent died) does too, so no server outlives its
  test run.

A live camera never ends, so each clip loops: a pad probe drops the end-of-stream event before it reaches the RTP
payloader (which would otherwise send RTCP BYE and end the client's session) and a flushing seek restarts the clip.
Timestamps start again from zero at each loop, like a camera that restarted its encoder.

Example::

    /usr/bin/python3 gst_rtsp_serve.py --port 0 --user admin --password s3cret lobby=/tmp/lobby.mp4
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402  (versions must be required first)

ROLE = "viewer"
LAUNCH = (
    '( filesrc location="{path}" ! qtdemux ! h264parse name=parse config-interval=-1 '
    "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve H.264 MP4 clips over RTSP until SIGTERM.")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port; the bound one is printed.")
    parser.add_argument("--user", help="Require RTSP basic auth with this user (and --password).")
    parser.add_argument("--password")
    parser.add_argument("--no-loop", action="store_true", help="End each session at the end of its clip.")
    parser.add_argument("mounts", nargs="+", metavar="MOUNT=PATH", help="Serve PATH at rtsp://ADDRESS:PORT/MOUNT.")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    return args


def loop_at_end_of_stream(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
    """Turn the end of the clip into a seek back to its start (see the module docstring for why a probe)."""
    bin_ = media.get_element()

    def restart() -> bool:
        pipeline = bin_.get_parent()
        if pipeline is not None:
            pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        return False  # one-shot idle callback

    def drop_eos(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        if info.get_event().type == Gst.EventType.EOS:
            GLib.idle_add(restart)  # seeking from the streaming thread would deadlock
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    bin_.get_by_name("parse").get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, drop_eos)


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", ROLE)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    mount_points = server.get_mount_points()
    for spec in args.mounts:
        mount, sep, path = spec.partition("=")
        if not sep or not mount or not path:
            raise SystemExit(f"bad mount {spec!r}: expected MOUNT=PATH")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(path=path.replace("\\", "\\\\").replace('"', '\\"')))
        factory.set_shared(False)  # every client starts at the beginning of the clip: deterministic tests
        if not args.no_loop:
            factory.connect("media-configure", loop_at_end_of_stream)
        if args.user is not None:
            permissions = Gst.Structure.new_from_string(
                f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
            factory.add_role_from_structure(permissions)
        mount_points.add_factory("/" + mount.strip("/"), factory)
    return server


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    server = build_server(args)
    if server.attach(None) == 0:
        sys.stderr.write(f"gst_rtsp_serve: cannot listen on {args.address}:{args.port}\n")
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda: loop.quit() or False)
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP,
        lambda *_: loop.quit() or False,
    )
    sys.stdout.write(f"READY {server.get_bound_port()}\n")
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
