"""H.264 MP4 clips made on the spot with Debian's ``ffmpeg`` (libx264), for tests, the demo and benchmarks.

Real encoded video is what the camera readers must survive, so tests never fake frames: they encode a clip whose
structure they control (size, frame rate, keyframe interval, B-frames) and check what comes out of the decoder.
Keyframes are exactly periodic (``-g N -keyint_min N -sc_threshold 0``), so "one keyframe every N frames" is a fact
a test can rely on.

Example::

    frames = moving_pattern(320, 240, count=40)
    write_clip(tmp_path / "lobby.mp4", frames, ClipEncoding(fps=10, gop=10, bframes=True))
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from streamer.devservices.errors import DevServiceError

ENCODE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ClipEncoding:
    """How a clip is encoded; the knobs a camera reader is sensitive to.

    Attributes:
        fps: frames per second (also the pace a file camera replays at).
        gop: keyframe interval in frames; keyframes land exactly every ``gop`` frames.
        bframes: allow B-frames (up to 2 in a row). Live cameras often send them; they reorder frames in the decoder.
        crf: x264 quality (lower is better and bigger).
        preset: x264 speed preset.
    """

    fps: float = 10.0
    gop: int = 10
    bframes: bool = True
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 240:
            raise ValueError(f"fps must be in (0, 240], got {self.fps}")
        if self.gop < 1:
            raise ValueError(f"gop must be >= 1 frame, got {self.gop}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")

    def x264_args(self) -> list[str]:
        """ffmpeg output arguments for this encoding (yuv420p, periodic keyframes, moov atom first)."""
        return [
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
            "-g", str(self.gop), "-keyint_min", str(self.gop), "-sc_threshold", "0",
            "-bf", "2" if self.bframes else "0", "-movflags", "+faststart",
        ]  # fmt: skip


def write_clip(path: Path, frames: Iterable[np.ndarray], encoding: ClipEncoding = ClipEncoding()) -> Path:
    """Encode HxWx3 uint8 RGB frames into an H.264 MP4 by piping raw video into ffmpeg.

    Args:
        path: the MP4 to write; written to a temporary name first, so a half-written clip is never seen.
        frames: all of one even size (yuv420p halves the chroma planes).
        encoding: frame rate, keyframe interval, B-frames.

    Raises:
        ValueError: a frame has the wrong shape, dtype or size, or there are no frames.
        DevServiceError: ffmpeg is missing or failed.
    """
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("a clip needs at least one frame")
    height, width = _check_frame(first, None)
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(encoding.fps), "-i", "-"]
    with _ffmpeg(path, args + encoding.x264_args()) as ffmpeg:
        assert ffmpeg.stdin is not None
        try:
            ffmpeg.stdin.write(np.ascontiguousarray(first).tobytes())
            for frame in iterator:
                _check_frame(frame, (height, width))
                ffmpeg.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg died; its exit status and stderr tell why
    return path


def write_scenes(
    path: Path, scenes: Sequence[tuple[np.ndarray, float]], encoding: ClipEncoding = ClipEncoding()
) -> Path:
    """Encode a clip that shows each image for its number of seconds (a face, then an empty corridor, ...).

    Args:
        path: the MP4 to write.
        scenes: ``(image, seconds)`` pairs; every image HxWx3 uint8 RGB of one even size; each lasts at least a frame.
        encoding: frame rate, keyframe interval, B-frames.
    """
    if not scenes:
        raise ValueError("write_scenes needs at least one (image, seconds) scene")

    def frames() -> Iterator[np.ndarray]:
        for image, seconds in scenes:
            if seconds <= 0:
                raise ValueError(f"scene duration must be > 0 s, got {seconds}")
            for _ in range(max(1, round(seconds * encoding.fps))):
                yield image

    return write_clip(path, frames(), encoding)


def moving_pattern(width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """Frames of a colour gradient with a bright square sliding across it: every frame differs, motion is smooth.

    Small and deterministic, for tests; use ``write_test_pattern_clip`` for large benchmark clips.
    """
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1), (xs + ys) % 256], axis=-1)
    background = background.astype(np.uint8)
    side = max(8, min(width, height) // 4)
    for index in range(count):
        frame = background.copy()
        x = (index * 7) % max(width - side, 1)
        y = (index * 3) % max(height - side, 1)
        frame[y : y + side, x : x + side] = (255, 255, 255)
        frame[: height // 16, : (index % 16 + 1) * width // 16] = (0, 0, 0)  # a counter bar
        yield frame


def write_test_pattern_clip(
    path: Path, width: int, height: int, seconds: float, encoding: ClipEncoding = ClipEncoding(), noise: int = 8
) -> Path:
    """Encode ffmpeg's moving ``testsrc2`` pattern, for 720p/1080p decode benchmarks.

    Generated inside ffmpeg (no Python per pixel), so a 1080p minute takes seconds. ``noise`` adds temporal
    grain (0-100) so the bitrate resembles a real camera's instead of a cartoon's.
    """
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even sizes, got {width}x{height}")
    source = f"testsrc2=size={width}x{height}:rate={encoding.fps}"
    if noise:
        source += f",noise=alls={noise}:allf=t"
    with _ffmpeg(path, ["-f", "lavfi", "-i", source, "-t", str(seconds), *encoding.x264_args()]):
        pass
    return path


def keyframe_interval_s(path: Path) -> float:
    """The clip's typical time between keyframes (median gap of its keyframe packets; 1 s with fewer than two)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [
            float(packet.pts * stream.time_base)
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        ]
    gaps = np.diff(sorted(times))
    return float(np.median(gaps)) if len(gaps) else 1.0


def write_keyframe_phase(path: Path, source: Path, offset_s: float, interval_s: float, crf: int = 18) -> Path:
    """Re-encode ``source`` with its keyframes ``offset_s`` later: at 0 (a stream starts on one), then
    ``offset_s + k * interval_s``. A camera's keyframes fall wherever its encoder's clock puts them, so a brief event
    is sampled at one moment by one camera and at another by the next: ``vigil eval --phases`` replays both."""
    force = f"expr:gte(t,{offset_s:.4f}+n_forced*{interval_s:.4f})"
    args = [
        "-i", str(source), "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0", "-force_key_frames", force,
        "-movflags", "+faststart",
    ]  # fmt: skip
    with _ffmpeg(path, args):
        pass
    return path


def _check_frame(frame: np.ndarray, size: tuple[int, int] | None) -> tuple[int, int]:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be HxWx3 uint8 RGB, got shape {frame.shape} dtype {frame.dtype}")
    height, width = frame.shape[:2]
    if size is None and (width % 2 or height % 2):
        raise ValueError(f"yuv420p needs even sizes, got {width}x{height}")
    if size is not None and (height, width) != size:
        raise ValueError(f"all frames must be {size[1]}x{size[0]}, got {width}x{height}")
    return height, width


@contextmanager
def _ffmpeg(path: Path, args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run ffmpeg into a temporary file beside ``path``; rename it on success, raise with ffmpeg's stderr on failure.

    The caller's block may write raw frames to the process's stdin (when ``args`` read ``-i -``).
    """
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise DevServiceError("ffmpeg not found on PATH (Debian package 'ffmpeg'; see deploy/bootstrap.sh)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(partial, 0o644)  # mkstemp's 0600 would hide the clip from a server running as another user
    reads_stdin = args[args.index("-i") + 1] == "-"
    command = [binary, "-hide_banner", "-loglevel", "error", "-y", *args, partial]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE if reads_stdin else subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
        try:
            yield process
        except BaseException:
            _finish(process)
            Path(partial).unlink(missing_ok=True)
            raise
        status = _finish(process)
        if status != 0:
            Path(partial).unlink(missing_ok=True)
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()[-2000:]
            raise DevServiceError(f"ffmpeg failed writing {path} (exit status {status}): {message}")
    os.replace(partial, path)


def _finish(process: subprocess.Popen[bytes]) -> int:
    """Close ffmpeg's input and wait for it (kill it if it hangs); its exit status."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        return process.wait(timeout=ENCODE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
