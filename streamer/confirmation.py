"""Decides which cameras get a confirmation burst, within the node's budget.

A burst (``streamer.sources.burst``) decodes a camera's frames between keyframes for about a second, so that the
alert vote can complete on them instead of on the next keyframes; it costs decoding and, above all, embedding. So
bursts are rationed: a camera gets at most ``max_bursts_per_camera_per_min`` (a camera that triggers constantly,
a poster that looks like someone, is shed, not served), the node runs at most ``max_concurrent`` at once, and none
starts while the batcher already has a batch waiting (under load keyframes come first). Every request that is not
absorbed by a burst already running is counted in ``vigil_confirm_bursts_total{camera,outcome}``.

Bursts serve the kinds in ``confirm.kinds`` (faces by default): only their sightings ask for one, and only theirs
vote on its frames, because a burst frame is a near-copy of its keyframe and would let a stray hit pass the vote.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from streamer.alerts.event import AlertKind
from streamer.alerts.policy import AlertPolicy, Sighting
from streamer.config import ConfirmConfig
from streamer.metrics import VigilMetrics
from streamer.sources.burst import BurstRequest, BurstSwitch
from streamer.sources.frame import Keyframe

OUTCOMES = ("started", "shed_camera", "shed_concurrent", "shed_load")
BUDGET_WINDOW_S = 60.0


class ConfirmationScheduler:
    """Turns "this camera saw something" into a burst request, or sheds it.

    Args:
        config: the ``confirm:`` section (burst size and budgets).
        switches: each camera's burst switch (cameras without one never burst).
        metrics: ``confirm_bursts{camera,outcome}``.
        backlogged: True while the inference stage is behind (the batcher holds a full batch).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        config: ConfirmConfig,
        switches: Mapping[str, BurstSwitch],
        metrics: VigilMetrics,
        backlogged: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._switches = dict(switches)
        self._metrics = metrics
        self._backlogged = backlogged
        self._clock = clock
        self._kinds = frozenset(AlertKind(kind) for kind in config.kinds)
        self._burst = BurstRequest(frames=config.frames, max_s=config.max_s, every_nth=config.every_nth)
        self._started: dict[str, deque[float]] = {camera: deque() for camera in self._switches}
        self._lock = threading.Lock()
        for camera in self._switches:
            for outcome in OUTCOMES:
                metrics.confirm_bursts.labels(camera=camera, outcome=outcome)

    def request(self, camera: str) -> str | None:
        """Ask ``camera`` for a burst. Returns the outcome counted, or None when nothing was asked (bursts off,
        a camera without a switch, or a burst already pending or running there: it serves this request too)."""
        switch = self._switches.get(camera)
        if not self._config.enabled or switch is None or switch.active:
            return None
        with self._lock:
            outcome = self._outcome(camera)
            if outcome == "started" and not switch.request(self._burst):
                return None  # another thread's request got there first
            if outcome == "started":
                self._started[camera].append(self._clock())
        self._metrics.confirm_bursts.labels(camera=camera, outcome=outcome).inc()
        return outcome

    def matches(self, frame: Keyframe, kind: AlertKind) -> bool:
        """Whether ``frame`` is worth matching for ``kind``: every keyframe is; a burst frame only for the kinds
        bursts confirm, since only their sightings may vote on it (``votes``)."""
        return not frame.burst or kind in self._kinds

    def votes(self, frame: Keyframe, sightings: list[Sighting]) -> list[Sighting]:
        """The sightings of ``frame`` that may vote: all of a keyframe's; of a burst frame's, only the kinds bursts
        confirm (``confirm.kinds``). The others, a fraction of a second after their keyframe, would copy its vote."""
        if not frame.burst:
            return sightings
        return [s for s in sightings if s.kind in self._kinds]

    def follow(self, camera: str, sightings: Sequence[Sighting], policy: AlertPolicy) -> None:
        """After a frame was voted on: any sighting or near candidate of a kind bursts confirm, of an entry not
        alerting yet on the camera (or back after a lull), asks it for a burst; once all those are settled, a
        running burst has nothing left to confirm and ends."""
        confirmable = [s for s in sightings if s.kind in self._kinds]
        if any(not policy.settled(camera, s.entry_id) for s in confirmable):
            self.request(camera)
        elif confirmable:
            self.cancel(camera)

    def cancel(self, camera: str) -> None:
        """Nothing is left to confirm on ``camera`` (its alert opened): end its burst early, saving its frames."""
        switch = self._switches.get(camera)
        if switch is not None:
            switch.cancel()

    def _outcome(self, camera: str) -> str:
        started = self._started[camera]
        now = self._clock()
        while started and now - started[0] >= BUDGET_WINDOW_S:
            started.popleft()
        if len(started) >= self._config.max_bursts_per_camera_per_min:
            return "shed_camera"
        if sum(switch.active for switch in self._switches.values()) >= self._config.max_concurrent:
            return "shed_concurrent"
        if self._backlogged():
            return "shed_load"
        return "started"
