"""A data volume that fills up while alerts flow: nothing is lost, the node says it is degraded, and it heals itself.

The node's data folder (outbox, snapshots, keyframe archive) lives on a real, small filesystem: a loop-mounted ext4
image made with ``-m 0`` (no blocks reserved for root, so the test, running as root, really fills it), or a
``tmpfs`` with ``size=`` where loop devices are not available. A filler file takes every free block in the middle
of the run; a real RTSP clip goes through the real pipeline to a real mosquitto broker all along.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.devservices.mosquitto import MosquittoBroker
from streamer.metrics import VigilMetrics
from streamer.service import outbox_path
from tests.fixtures.mqtt import Recorder
from tests.fixtures.rtsp import wait_until
from tests.streamer.test_reliability import (  # noqa: F401  (fixtures)
    DurableSubscriber,
    alternating_clip,
    pipeline_config,
    produced_alerts,
    reference,
    running_vigil,
)

VOLUME_MB = 48
MIN_FREE_MB = 4
FULL_FOR_S = 15.0


@contextlib.contextmanager
def _mounted(target: Path, image: Path) -> Iterator[str]:
    """Mount a small filesystem at ``target``: ext4 on a loop device, else tmpfs; unmounted whatever happens."""
    attempts = []
    with contextlib.suppress(OSError):
        with open(image, "wb") as file:
            file.truncate(VOLUME_MB * 1024 * 1024)
        make = ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)]
        attempts.append(("loop-mounted ext4", [make, ["mount", "-o", "loop", str(image), str(target)]]))
    attempts.append(("tmpfs", [["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MB}m", "tmpfs", str(target)]]))
    failures = []
    for method, commands in attempts:
        results = [subprocess.run(command, capture_output=True, text=True) for command in commands]
        if all(result.returncode == 0 for result in results):
            try:
                yield method
            finally:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
                image.unlink(missing_ok=True)
            return
        failures.append(f"{method}: {' / '.join(r.stderr.strip() for r in results if r.returncode)}")
    pytest.skip(f"no way to mount a small filesystem here ({'; '.join(failures)})")


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A ``VOLUME_MB`` filesystem of its own, and the method that made it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root and mount(8)")
    target = tmp_path / "volume"
    target.mkdir()
    with _mounted(target, tmp_path / "volume.img") as method:
        yield target, method


def fill(volume: Path) -> Path:
    """Take every free block of ``volume`` with one file (bigger writes first, then smaller ones)."""
    filler = volume / "filler.bin"
    with open(filler, "wb", buffering=0) as file:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            block = b"\0" * chunk
            while True:
                try:
                    file.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        with contextlib.suppress(OSError):
            os.fsync(file.fileno())
    return filler


def test_a_full_data_disk_loses_no_alert_says_degraded_and_heals_when_space_returns(
    tmp_path: Path,
    small_volume: tuple[Path, str],
    mosquitto: MosquittoBroker,
    rtsp_server,
    alternating_clip: Path,  # noqa: F811
    reference: Path,  # noqa: F811
    model_cache_dir: Path,
):
    volume, method = small_volume
    print(f"filesystem: {method}")
    server = rtsp_server({"lobby": alternating_clip, "gate": alternating_clip})
    cameras = {name: {"url": server.url(name)} for name in ("lobby", "gate")}
    config = pipeline_config(tmp_path, mosquitto, cameras)
    storage = {"snapshots": volume / "snapshots", "min_free_mb": MIN_FREE_MB}
    config = config.model_copy(update={"storage": config.storage.model_copy(update=storage)})
    metrics = VigilMetrics()
    operator = DurableSubscriber(mosquitto, "vigil/alerts/#")
    health = Recorder(mosquitto.host, mosquitto.port, f"vigil/status/{config.node_id}/health")

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    def health_is(state: str) -> bool:
        return bool(health.messages) and health.messages[-1].json()["state"] == state

    try:
        with running_vigil(config, model_cache_dir, reference, metrics):
            assert wait_until(lambda: len(operator.unique()) >= 4, timeout=90), "no alert before the disk filled"
            filler = fill(volume)
            before_full = len(operator.unique())
            assert wait_until(lambda: value("vigil_outbox_write_failures_total") > 0, timeout=30), (
                "the outbox never failed a write: the disk did not fill"
            )
            assert wait_until(lambda: health_is("degraded"), timeout=10)
            degraded = health.messages[-1].json()
            wait_until(lambda: False, timeout=FULL_FOR_S)  # alerts keep flowing on a full disk
            during_full = len(operator.unique()) - before_full
            skipped = {kind: value("vigil_storage_skipped_writes_total", kind=kind) for kind in ("snapshot", "archive")}
            filler.unlink()  # space returns
            assert wait_until(lambda: health_is("online"), timeout=15), "the node never said it healed"
            recovered_at = len(operator.unique())
            assert wait_until(lambda: len(operator.unique()) >= recovered_at + 4, timeout=30), "no alert after"
        produced, pending = produced_alerts(outbox_path(config))
        assert wait_until(lambda: len(operator.unique()) >= len(produced), timeout=30)
        received = operator.unique()
    finally:
        operator.close()
        health.close()
    print(
        f"alerts produced {len(produced)}, received {len(received)} (unique), "
        f"{during_full} received while the disk was full for {FULL_FOR_S:.0f}s; "
        f"outbox write failures {value('vigil_outbox_write_failures_total'):.0f}, skipped writes {skipped}"
    )
    assert pending == 0
    assert set(received) == set(produced)  # every alert on disk at the end was delivered, and nothing else was
    assert len(produced) == len(set(produced))
    assert during_full >= FULL_FOR_S / 2 * 0.5  # ~2 events/s from two cameras: most of them went out meanwhile
    assert degraded["state"] == "degraded" and "outbox_write_failing" in degraded["reasons"]
    assert degraded["node_id"] == config.node_id and "disk is full" in degraded["reason"]
    assert skipped["archive"] > 0  # the guard kept the bulk writers off the volume
    assert value("vigil_outbox_write_failures_total") > 0


def test_the_guard_skips_snapshots_and_archive_below_min_free_and_resumes_above(tmp_path: Path):
    from streamer.free_space import FreeSpaceGuard

    metrics = VigilMetrics()
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    low = FreeSpaceGuard(tmp_path / "not-yet-created", free_mb + 1024, metrics)
    assert not low.allows("snapshot") and not low.allows("archive") and low.low
    assert FreeSpaceGuard(tmp_path, 1, metrics).allows("archive")
    assert FreeSpaceGuard(tmp_path, 0, metrics).allows("archive")  # 0 turns it off
    assert metrics.registry.get_sample_value("vigil_storage_skipped_writes_total", {"kind": "snapshot"}) == 1
    assert metrics.registry.get_sample_value("vigil_storage_free_bytes") > 0
