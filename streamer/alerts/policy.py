"""Turns per-frame matches into alert events an operator can trust.

A single frame that matches is weak evidence (a reflection, a poster, one noisy embedding), so an entry must match
on ``vote_hits`` of the camera's last ``vote_window`` sampled frames before an event opens. An open event is
``update``d when its score improves, or when the entry is voted in again after ``resight_after_s`` without a match
(it went away and came back: the operator gets the new picture), and ``close``d once the entry has not matched for
``close_after_s``; after a close the same (entry, camera) stays quiet for ``cooldown_s``. A sighting scoring
``open_at_once_margin`` (per kind) over its threshold is strong enough alone and opens at once. Near sightings
(``Sighting.near``) never vote: they only ask the pipeline for a confirmation burst. State is per (camera, entry)
and is dropped as soon as it carries no information, so memory stays bounded however many identities pass by.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime

from streamer.alerts.event import AlertEvent, AlertKind, AlertPhase
from streamer.config import AlertPolicyConfig

UPDATE_MARGIN = 0.01  # a score must improve by this much to be worth an update message


@dataclass(frozen=True)
class Sighting:
    """One watchlist match on one frame: who/what, how well, and where in the frame."""

    entry_id: str
    label: str
    kind: AlertKind
    score: float
    threshold: float
    bbox: tuple[int, int, int, int]
    model: str = ""  # the model that produced the match, when it is not the frame's default (faces vs scene)
    near: bool = False  # scored just under its threshold: asks for a confirmation burst, never a vote


@dataclass
class _Track:
    """Voting and lifecycle state of one (camera, entry)."""

    hits: deque[int] = field(default_factory=deque)  # indices of the camera's frames that matched
    open_event: AlertEvent | None = None
    best_score: float = 0.0
    last_hit_at: float = 0.0  # monotonic
    last_hit_wall: datetime | None = None
    resighted: bool = False  # matched again after a lull while open: an update is due once the vote agrees
    quiet_until: float = 0.0  # monotonic end of cooldown


class AlertPolicy:
    """Temporal voting, open/update/close lifecycle and cooldown.

    Args:
        config: voting window, close delay and cooldown.
        node_id: stamped on every event.
    """

    def __init__(self, config: AlertPolicyConfig, node_id: str) -> None:
        self._config = config
        self._node_id = node_id
        self._frame_index: dict[str, int] = {}
        self._tracks: dict[tuple[str, str], _Track] = {}

    def observe(
        self,
        camera: str,
        frame_time: datetime,
        frame_size: tuple[int, int],
        now: float,
        sightings: list[Sighting],
        model: str,
    ) -> list[AlertEvent]:
        """Feed one sampled frame of ``camera`` (with what matched on it); returns the events it causes."""
        index = self._frame_index.get(camera, -1) + 1
        self._frame_index[camera] = index
        best: dict[str, Sighting] = {}
        for s in (s for s in sightings if not s.near):  # one vote per entry per frame: its best region
            if s.entry_id not in best or s.score > best[s.entry_id].score:
                best[s.entry_id] = s
        events = []
        for sighting in best.values():
            track = self._tracks.setdefault((camera, sighting.entry_id), _Track())
            track.hits.append(index)
            lull = self._config.resight_after_s
            if track.open_event is not None and lull > 0 and now - track.last_hit_at >= lull:
                track.resighted = True
            track.last_hit_at, track.last_hit_wall = now, frame_time
            event = self._decide(track, camera, index, frame_time, frame_size, now, sighting, model)
            if event is not None:
                events.append(event)
        self._forget_stale(camera, index, now)
        return events

    def settled(self, camera: str, entry_id: str) -> bool:
        """An event of this entry is open on this camera and nothing awaits a vote: not a first sighting, nor a
        return after a lull (either is worth a confirmation burst)."""
        track = self._tracks.get((camera, entry_id))
        return track is not None and track.open_event is not None and not track.resighted

    def expire(self, now: float) -> list[AlertEvent]:
        """Close events whose entry has not matched for ``close_after_s`` (call periodically, even without frames)."""
        events = []
        for (camera, _entry), track in list(self._tracks.items()):
            event = track.open_event
            if event is not None and now - track.last_hit_at >= self._config.close_after_s:
                events.append(self._close(track, event, now))
            self._forget_if_idle(camera, _entry, track, now)
        return events

    def close_all(self, now: float) -> list[AlertEvent]:
        """Close every open event (service shutdown), so consumers never see an event left open forever."""
        events = [self._close(t, t.open_event, now) for t in self._tracks.values() if t.open_event is not None]
        self._tracks.clear()
        return events

    def _decide(
        self,
        track: _Track,
        camera: str,
        index: int,
        frame_time: datetime,
        frame_size: tuple[int, int],
        now: float,
        s: Sighting,
        model: str,
    ) -> AlertEvent | None:
        window_start = index - self._config.vote_window + 1
        while track.hits and track.hits[0] < window_start:
            track.hits.popleft()
        if track.open_event is not None:
            resighted = track.resighted and len(track.hits) >= self._config.vote_hits
            if s.score < track.best_score + UPDATE_MARGIN and not resighted:
                return None
            track.resighted = False
            track.best_score = max(track.best_score, s.score)
            track.open_event = self._event(
                track.open_event.alert_id, AlertPhase.UPDATE, camera, frame_time, frame_size, s, model
            )
            return track.open_event
        if now < track.quiet_until or (len(track.hits) < self._config.vote_hits and not self._strong(s)):
            return None
        track.best_score = s.score
        track.open_event = self._event(str(uuid.uuid4()), AlertPhase.OPEN, camera, frame_time, frame_size, s, model)
        return track.open_event

    def _strong(self, s: Sighting) -> bool:
        """Scores so far over its threshold that one frame is enough (``open_at_once_margin`` of its kind)."""
        margin = self._config.open_at_once_margin.get(s.kind.value)
        return margin is not None and s.score >= s.threshold + margin

    def _event(
        self,
        alert_id: str,
        phase: AlertPhase,
        camera: str,
        frame_time: datetime,
        frame_size: tuple[int, int],
        s: Sighting,
        model: str,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=alert_id,
            event=phase,
            camera=camera,
            kind=s.kind,
            entry_id=s.entry_id,
            label=s.label,
            score=s.score,
            threshold=s.threshold,
            frame_time=frame_time,
            bbox=s.bbox,
            frame_size=frame_size,
            node_id=self._node_id,
            model=s.model or model,
        )

    def _close(self, track: _Track, event: AlertEvent, now: float) -> AlertEvent:
        track.open_event = None
        track.resighted = False
        track.hits.clear()
        track.quiet_until = now + self._config.cooldown_s
        # The close carries the best score seen and the time of the last sighting.
        last_seen = track.last_hit_wall or event.frame_time
        return replace(event, event=AlertPhase.CLOSE, score=track.best_score, frame_time=last_seen)

    def _forget_stale(self, camera: str, index: int, now: float) -> None:
        for (cam, entry), track in list(self._tracks.items()):
            if cam == camera and track.open_event is None:
                while track.hits and track.hits[0] <= index - self._config.vote_window:
                    track.hits.popleft()
                self._forget_if_idle(cam, entry, track, now)

    def _forget_if_idle(self, camera: str, entry: str, track: _Track, now: float) -> None:
        if track.open_event is None and not track.hits and now >= track.quiet_until:
            self._tracks.pop((camera, entry), None)
