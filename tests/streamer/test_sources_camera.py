"""A camera worker keeps its camera running against a real RTSP server: reconnects, backoff, stalls, stop, secrets."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from streamer.config import CameraConfig
from streamer.metrics import VigilMetrics
from streamer.sources.camera import CameraWorker
from streamer.sources.frame import Keyframe
from streamer.sources.open_slots import OpenSlots
from streamer.sources.status import CameraState, CameraStatus
from tests.fixtures.rtsp import wait_until

UP, DOWN, RECONNECTING = CameraState.UP, CameraState.DOWN, CameraState.RECONNECTING
QUICK = {"initial_s": 0.1, "max_s": 1.0, "jitter": 0.1, "open_timeout_s": 2.0, "stall_timeout_s": 3.0}


class Recorded:
    """What one worker handed out: frames and statuses (both arrive on the camera's thread)."""

    def __init__(self) -> None:
        self.frames: list[Keyframe] = []
        self.statuses: list[CameraStatus] = []
        self._lock = threading.Lock()

    def frame(self, frame: Keyframe) -> None:
        with self._lock:
            self.frames.append(frame)

    def status(self, status: CameraStatus) -> None:
        with self._lock:
            self.statuses.append(status)

    def states(self) -> list[CameraState]:
        with self._lock:
            return [s.state for s in self.statuses]

    def failures(self) -> list[CameraStatus]:
        with self._lock:
            return [s for s in self.statuses if s.next_retry_s is not None]


StartWorker = Callable[..., tuple[CameraWorker, Recorded]]


@pytest.fixture
def metrics() -> VigilMetrics:
    return VigilMetrics()


@pytest.fixture
def start_worker(metrics: VigilMetrics) -> Iterator[StartWorker]:
    """Start ``CameraWorker``s that are stopped at the end of the test."""
    workers: list[CameraWorker] = []

    def start(name: str, url: str, *, on_frame=None, loop: bool = False, open_slots=None, **reconnect: float):
        recorded = Recorded()
        config = CameraConfig(url=url, loop=loop, reconnect={**QUICK, **reconnect})
        worker = CameraWorker(
            name,
            config,
            on_frame or recorded.frame,
            recorded.status,
            metrics,
            rng=random.Random(len(workers)),
            open_slots=open_slots,
        )
        workers.append(worker)
        worker.start()
        return worker, recorded

    yield start
    for worker in workers:
        worker.stop(timeout=3.0)


def sample(metrics: VigilMetrics, name: str, camera: str) -> float:
    return metrics.registry.get_sample_value(name, {"camera": camera}) or 0.0


def test_a_camera_whose_server_dies_and_returns_reconnects_and_is_up_again_by_itself(
    clip_factory, rtsp_server, start_worker, metrics
):
    server = rtsp_server({"cam": clip_factory()})
    worker, recorded = start_worker("lobby", server.url("cam"))
    assert wait_until(lambda: worker.status.state is UP)
    assert sample(metrics, "vigil_camera_reconnects_total", "lobby") == 0

    server.kill()
    assert wait_until(lambda: worker.status.state is RECONNECTING)
    frames_before = len(recorded.frames)
    server.start()  # same port, like a rebooted camera

    assert wait_until(lambda: worker.status.state is UP and len(recorded.frames) > frames_before)
    states = recorded.states()
    assert states[:3] == [DOWN, UP, RECONNECTING] and states[-1] is UP, states
    assert sample(metrics, "vigil_camera_reconnects_total", "lobby") >= 1
    assert sample(metrics, "vigil_camera_up", "lobby") == 1
    assert sample(metrics, "vigil_frames_decoded_total", "lobby") == len(recorded.frames)


def test_a_network_stream_that_ends_is_reconnected(clip_factory, rtsp_server, start_worker, metrics):
    server = rtsp_server({"cam": clip_factory(seconds=1, fps=10, gop=5)}, loop=False)
    worker, recorded = start_worker("ends", server.url("cam"))

    assert wait_until(lambda: sample(metrics, "vigil_camera_reconnects_total", "ends") >= 2)

    assert "stream ended" in [s.reason for s in recorded.failures()]
    assert worker.running
    assert recorded.states().count(UP) >= 2


def test_an_unreachable_camera_is_down_with_growing_delays_while_a_healthy_one_keeps_delivering(
    clip_factory, rtsp_server, closed_port, start_worker, metrics
):
    server = rtsp_server({"cam": clip_factory()})
    healthy, healthy_seen = start_worker("healthy", server.url("cam"))
    assert wait_until(lambda: healthy.status.state is UP)
    frames_before = len(healthy_seen.frames)

    _, dead_seen = start_worker("dead", f"rtsp://127.0.0.1:{closed_port}/cam", max_s=5.0)
    assert wait_until(lambda: len(dead_seen.failures()) >= 4)

    failures = dead_seen.failures()
    assert {s.state for s in dead_seen.statuses} == {DOWN}
    assert all("Connection refused" in (s.reason or "") for s in failures)
    delays = [s.next_retry_s for s in failures]
    assert delays == sorted(delays) and len(set(delays)) == len(delays), f"delays did not grow: {delays}"
    assert sample(metrics, "vigil_camera_reconnects_total", "dead") >= 3
    assert sample(metrics, "vigil_camera_up", "dead") == 0
    assert healthy.status.state is UP
    assert wait_until(lambda: len(healthy_seen.frames) > frames_before + 1)


def test_credentials_never_reach_logs_or_status_reasons(clip_factory, rtsp_server, start_worker, caplog):
    caplog.set_level(logging.DEBUG)
    server = rtsp_server({"cam": clip_factory()}, user="viewer-name", password="s3cret-pass")
    good, good_seen = start_worker("good", server.url("cam"))
    bad, bad_seen = start_worker("bad", f"rtsp://viewer-name:wr0ng-pass@127.0.0.1:{server.port}/cam")
    assert wait_until(lambda: good.status.state is UP and len(bad_seen.failures()) >= 2)

    server.kill()  # the good camera fails too, and says so in the log
    assert wait_until(lambda: len(good_seen.failures()) >= 2)
    good.stop()
    bad.stop()

    published = " ".join(str(s.to_payload()) for s in good_seen.statuses + bad_seen.statuses)
    for secret in ("s3cret-pass", "wr0ng-pass", "viewer-name"):
        assert secret not in caplog.text
        assert secret not in published
    assert "401" in (bad_seen.failures()[0].reason or "")
    assert f"rtsp://***@127.0.0.1:{server.port}/cam" in caplog.text  # the URL is logged, redacted


def test_a_looping_file_camera_keeps_delivering_and_stops_promptly(clip_factory, start_worker):
    worker, recorded = start_worker("file", str(clip_factory(seconds=1, fps=10, gop=5)), loop=True)

    assert wait_until(lambda: len(recorded.frames) >= 4)  # two keyframes per pass: it looped

    assert worker.stop(timeout=3.0) is True
    assert not worker.running
    assert worker.status.state is DOWN and worker.status.reason == "stopped"
    assert [round(f.pts, 3) for f in recorded.frames[:4]] == [0.0, 0.5, 0.0, 0.5]


def test_a_file_camera_without_loop_ends_down_and_its_thread_finishes(clip_factory, start_worker, metrics):
    worker, recorded = start_worker("file", str(clip_factory(seconds=1, fps=10, gop=5)))

    assert wait_until(lambda: not worker.running)

    assert worker.status.state is DOWN and worker.status.reason == "end of file"
    assert len(recorded.frames) == 2
    assert sample(metrics, "vigil_camera_reconnects_total", "file") == 0


def test_a_stream_that_hangs_is_torn_down_by_the_stall_watchdog_and_recovers(clip_factory, rtsp_server, start_worker):
    server = rtsp_server({"cam": clip_factory()})
    worker, _ = start_worker("hung", server.url("cam"), stall_timeout_s=1.0, open_timeout_s=1.0)
    assert wait_until(lambda: worker.status.state is UP)

    server.freeze()  # connection open, nothing sent: the read hangs
    assert wait_until(lambda: worker.status.state is RECONNECTING)
    assert "stalled" in (worker.status.reason or "")
    server.thaw()

    assert wait_until(lambda: worker.status.state is UP)


def test_stop_returns_at_once_while_the_worker_sleeps_in_backoff(closed_port, start_worker):
    worker, recorded = start_worker("dead", f"rtsp://127.0.0.1:{closed_port}/cam", initial_s=60.0, max_s=60.0)
    assert wait_until(lambda: len(recorded.failures()) == 1)

    assert worker.stop(timeout=2.0) is True


def test_stop_returns_within_its_timeout_while_the_worker_is_blocked_in_a_read(clip_factory, rtsp_server, start_worker):
    server = rtsp_server({"cam": clip_factory()})
    worker, recorded = start_worker("hung", server.url("cam"), stall_timeout_s=30.0)
    assert wait_until(lambda: worker.status.state is UP)
    server.freeze()
    time.sleep(0.5)  # let the reader drain what was in flight and block

    started = time.monotonic()
    ended = worker.stop(timeout=1.0)
    elapsed = time.monotonic() - started

    assert ended is False and elapsed < 2.5  # returned at its timeout, with the read still hung
    statuses_at_stop = len(recorded.statuses)
    server.thaw()  # the read returns, the thread sees the stop event and ends, reporting nothing more
    assert wait_until(lambda: not worker.running)
    assert len(recorded.statuses) == statuses_at_stop
    assert recorded.statuses[-1].state is DOWN and recorded.statuses[-1].reason == "stopped"


def test_an_exception_in_on_frame_is_logged_and_the_camera_carries_on(clip_factory, start_worker, caplog):
    delivered: list[Keyframe] = []

    def on_frame(frame: Keyframe) -> None:
        delivered.append(frame)
        if len(delivered) == 1:
            raise RuntimeError("sampler bug")

    worker, _ = start_worker("buggy", str(clip_factory(seconds=1, fps=10, gop=5)), on_frame=on_frame, loop=True)

    assert wait_until(lambda: len(delivered) >= 3)
    assert worker.unexpected_errors == 1
    assert worker.running
    logged = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # with its traceback


def test_a_status_callback_that_raises_neither_stops_the_camera_nor_skips_the_backoff(closed_port, metrics):
    published: list[CameraStatus] = []

    def on_status(status: CameraStatus) -> None:
        published.append(status)
        raise RuntimeError("broker gone")

    config = CameraConfig(url=f"rtsp://127.0.0.1:{closed_port}/cam", reconnect={**QUICK, "max_s": 0.4})
    worker = CameraWorker("dead", config, lambda frame: None, on_status, metrics)
    worker.start()
    try:
        assert wait_until(lambda: len([s for s in published if s.next_retry_s is not None]) >= 4)
        attempts = sample(metrics, "vigil_camera_reconnects_total", "dead")
        failures = len([s for s in published if s.next_retry_s is not None])
        assert 3 <= attempts <= failures  # one attempt per failure: the backoff wait still happens
        assert worker.running
    finally:
        assert worker.stop() is True  # and stop() is not broken by the callback either
    assert worker.unexpected_errors >= 5


def test_a_camera_opens_only_within_a_free_open_slot_and_its_open_timeout_starts_there(
    clip_factory, rtsp_server, start_worker
):
    """A node starting 32 cameras lets a few open at a time, so that none misses its open timeout waiting."""
    server = rtsp_server({"cam": clip_factory()})
    slots, never = OpenSlots(1), threading.Event()
    assert slots.acquire(never)  # another camera's open holds the only slot
    worker, recorded = start_worker("waits", server.url("cam"), open_slots=slots, open_timeout_s=0.5)

    time.sleep(1.5)  # three open timeouts
    assert worker.status.state is not UP and not recorded.failures() and not recorded.frames

    slots.release()
    assert wait_until(lambda: worker.status.state is UP and recorded.frames)
    assert not recorded.failures()
    assert slots.acquire(never)  # the camera gave its slot back once open


def test_a_camera_stopped_while_waiting_for_an_open_slot_stops_at_once(clip_factory, rtsp_server, metrics):
    server = rtsp_server({"cam": clip_factory()})
    slots = OpenSlots(1)
    assert slots.acquire(threading.Event())
    worker = CameraWorker(
        "waits", CameraConfig(url=server.url("cam")), lambda frame: None, lambda s: None, metrics, open_slots=slots
    )
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert worker.stop(timeout=3.0)
    assert time.monotonic() - started < 1.0
