"""What ``GET /api/v1/events`` streams: alert events, acknowledgements and camera state changes, as server-sent events.

One poller per API (an asyncio task, started by the first client, ended with the last) follows the outbox, the
acknowledgements and the camera statuses, and hands each new event to every client's bounded queue. The outbox is the
source of truth, so the stream needs no hook into the pipeline and cannot disagree with ``GET /alerts``: an alert
reaches clients within ``poll_s`` of being stored. A client that falls ``queue_size`` events behind is cut off rather
than buffered without bound; it reconnects with ``Last-Event-ID`` and is replayed what it missed from the outbox.

Every alert and acknowledgement event carries ``id: <alert seq>.<ack seq>``, the position after it in both histories;
camera events carry the position too, so the last id a client saw is always a valid place to resume. A client that
sends none, or one that does not parse, starts live. On connect the stream first sends every camera's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from streamer.alerts.acks import AlertAcks
from streamer.alerts.outbox import AlertOutbox
from streamer.api.schemas import CameraResponse
from streamer.sources.status import CameraStatus

HEARTBEAT_S = 15.0
RETRY_MS = 2000


@dataclass(frozen=True)
class Cursor:
    """A position in the alert history and in the acknowledgements (their sequence numbers)."""

    alerts: int = 0
    acks: int = 0

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """``"12.3"`` (or ``"12"``) as a cursor; None for anything else."""
        parts = (text or "").strip().split(".")
        if not 1 <= len(parts) <= 2 or not all(p.isdigit() and len(p) <= 18 for p in parts):
            return None
        return cls(int(parts[0]), int(parts[1]) if len(parts) == 2 else 0)

    def __str__(self) -> str:
        return f"{self.alerts}.{self.acks}"


def sse(event: str, data: dict[str, Any], cursor: Cursor | None) -> bytes:
    """One server-sent event (the JSON has no newline, so it is one ``data:`` line)."""
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[bytes | None]
    ended: bool = False


@dataclass
class LiveEvents:
    """The hub: follows the histories and fans new events out to the clients' queues.

    Args:
        outbox: the alert history (None: no alerts to stream, camera states only).
        acks: the acknowledgements (None with no outbox).
        camera_statuses: every camera's current status.
        poll_s: how often the histories and statuses are looked at.
        queue_size: events a client may fall behind before it is cut off.
        replay_limit: at most this many missed alerts (the newest) and acknowledgements are replayed on resume.
    """

    outbox: AlertOutbox | None
    acks: AlertAcks | None
    camera_statuses: Callable[[], list[CameraStatus]]
    poll_s: float = 0.25
    queue_size: int = 256
    replay_limit: int = 200
    _clients: set[_Client] = field(default_factory=set)
    _cursor: Cursor | None = None
    _cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _closed: bool = False

    async def stream(self, last_event_id: str | None) -> AsyncIterator[bytes]:
        """The bytes of one client's stream: replay after ``last_event_id``, camera states, then live events with a
        heartbeat comment every ``HEARTBEAT_S``; ends when the hub closes or the client falls too far behind."""
        yield f"retry: {RETRY_MS}\n\n".encode()
        if self._closed:
            return
        if self._cursor is None or not self._clients:  # nobody listened meanwhile: start from now, not from then
            self._cursor = await asyncio.to_thread(self._position)
        client = _Client(asyncio.Queue(self.queue_size))
        upto, resume = self._cursor, Cursor.parse(last_event_id)
        self._clients.add(client)  # from here on the poller queues every event after ``upto`` for this client
        self._start()
        try:
            if resume is not None:
                for chunk in await asyncio.to_thread(self._replay, resume, upto):
                    yield chunk
            for status in await asyncio.to_thread(self.camera_statuses):
                yield sse("camera", _camera(status), upto)
            while True:
                try:
                    chunk = await asyncio.wait_for(client.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    chunk = b": heartbeat\n\n"
                if chunk is None:
                    return
                yield chunk
        finally:
            self._clients.discard(client)

    def close(self) -> None:
        """End every stream and the poller (the server stops); thread-safe."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile: nothing is left to end
                self._loop.call_soon_threadsafe(self._close)
        self._closed = True

    def _close(self) -> None:
        self._closed = True
        for client in list(self._clients):
            self._end(client)
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._poll(), name="live-events")

    async def _poll(self) -> None:
        """Until no client is left: new events from the histories and camera changes, to every client."""
        while self._clients and not self._closed:
            await asyncio.sleep(self.poll_s)
            assert self._cursor is not None
            self._cursor, chunks = await asyncio.to_thread(self._news, self._cursor)
            for client in list(self._clients):
                for chunk in chunks:
                    if client.queue.full():
                        self._end(client)
                        break
                    client.queue.put_nowait(chunk)

    def _end(self, client: _Client) -> None:
        """Empty the client's queue and leave it the end mark; it no longer gets events."""
        self._clients.discard(client)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    def _position(self) -> Cursor:
        if self.outbox is None or self.acks is None:
            return Cursor()
        return Cursor(self.outbox.last_seq(), self.acks.last_seq())

    def _news(self, cursor: Cursor) -> tuple[Cursor, list[bytes]]:
        """The events after ``cursor``, then the cameras whose status changed; and the cursor after them."""
        chunks = self._history(cursor, None)
        if chunks:
            cursor = chunks[-1][0]
        for status in self.camera_statuses():
            shown = _camera(status)
            state = {name: value for name, value in shown.items() if name != "last_frame_at"}  # a frame is no change
            if self._cameras.get(status.camera) != state:
                if status.camera in self._cameras:
                    chunks.append((cursor, sse("camera", shown, cursor)))
                self._cameras[status.camera] = state
        return cursor, [chunk for _, chunk in chunks]

    def _replay(self, resume: Cursor, upto: Cursor) -> list[bytes]:
        """What a client resuming at ``resume`` missed up to ``upto`` (the newest ``replay_limit`` of each)."""
        limit = self.replay_limit
        start = Cursor(max(resume.alerts, upto.alerts - limit), max(resume.acks, upto.acks - limit))
        return [chunk for _, chunk in self._history(start, upto)]

    def _history(self, after: Cursor, upto: Cursor | None) -> list[tuple[Cursor, bytes]]:
        """Alert events, then acknowledgements, after ``after`` (up to ``upto``), each with the cursor after it."""
        if self.outbox is None or self.acks is None:
            return []
        alerts = self.outbox.after(after.alerts, self.replay_limit)
        acks = self.acks.after(after.acks, self.replay_limit)
        if upto is not None:
            alerts = [item for item in alerts if item.seq <= upto.alerts]
            acks = [ack for ack in acks if ack.seq <= upto.acks]
        chunks: list[tuple[Cursor, bytes]] = []
        position = after
        for item in alerts:
            position = Cursor(item.seq, position.acks)
            chunks.append((position, sse("alert", item.payload, position)))
        for ack in acks:
            position = Cursor(position.alerts, ack.seq)
            chunks.append((position, sse("ack", ack.to_json(), position)))
        return chunks


def _camera(status: CameraStatus) -> dict[str, Any]:
    return CameraResponse.from_status(status).model_dump(mode="json")
