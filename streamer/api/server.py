"""The API over HTTP: uvicorn on its own thread, bound before it starts, stopped with a timeout.

The socket is bound here (``listen``), not by uvicorn, and ``vigil run`` binds it before cameras and databases start,
so a port already in use fails at once with a clear error (exit 1), and port 0 (tests) reports the port it got.
uvicorn runs with the deadlines and connection cap of ``connection_guard``.

Example:
    >>> server = ApiServer(create_api(context), "127.0.0.1", 0)
    >>> server.start()
    >>> server.url   # 'http://127.0.0.1:41873'
    >>> server.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from streamer.alerts.outbox import AlertOutbox
from streamer.api.app import API_PREFIX, create_api
from streamer.api.connection_guard import guarded_protocol
from streamer.api.context import ApiContext, UploadLimits
from streamer.api.decode_budget import DecodeBudget
from streamer.api.errors import ApiError
from streamer.api.tokens import ApiTokens
from streamer.config import ApiConfig, VigilConfig
from streamer.pipeline import Pipeline
from streamer.service import index_dir
from streamer.unknown.store import UnknownFaceStore
from watchlists.embedders import KindEmbedders
from watchlists.store import WatchlistStore

log = logging.getLogger(__name__)


def listen(bind: str, port: int) -> socket.socket:
    """A socket bound to ``bind:port``, before anything else starts: a taken port is a clear error at once.

    Raises:
        ApiError: ``api_unavailable`` naming the address and why (in use, not an address of this machine).
    """
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind, port))
    except OSError as exc:
        sock.close()
        raise ApiError(f"api: cannot listen on {bind}:{port}: {exc.strerror}", code="api_unavailable") from None
    return sock


class ApiServer:
    """Serves an ASGI app on ``bind:port`` from a daemon thread.

    Args:
        app: the application (``create_api``).
        bind: address to listen on.
        port: TCP port; 0 picks a free one.
        listening: a socket already bound by ``listen`` (``vigil run`` binds before starting cameras).
        guard: request-head and body deadlines and the connection cap (``ApiConfig``'s defaults when omitted).
    """

    def __init__(
        self,
        app: FastAPI,
        bind: str,
        port: int,
        *,
        listening: socket.socket | None = None,
        guard: ApiConfig | None = None,
    ) -> None:
        self._app = app
        self._bind = bind
        self._requested_port = port
        self._listening = listening
        self._guard = guard or ApiConfig()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the server (``http://host:port``)."""
        return f"http://{self._bind}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Bind (unless bound already), then serve on a thread; returns once uvicorn accepts connections.

        Raises:
            ApiError: ``api_unavailable`` when the address cannot be bound or the server does not start in time.
        """
        sock = self._listening or listen(self._bind, self._requested_port)
        self.port = sock.getsockname()[1]
        guard = self._guard
        config = uvicorn.Config(
            self._app,
            http=guarded_protocol(guard.head_timeout_s, guard.body_timeout_s, guard.max_connections),
            limit_concurrency=guard.max_connections,
            timeout_keep_alive=5,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ApiError(f"api: the server on {self.url} did not start", code="api_unavailable")
            time.sleep(0.01)
        docs = f" (docs at {self.url}/docs)" if self._guard.docs else ""
        log.info("REST API on %s%s%s", self.url, API_PREFIX, docs)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``timeout``), and join the thread."""
        if self._server is None or self._thread is None:
            return
        live_events = getattr(self._app.state, "live_events", None)
        if live_events is not None:
            live_events.close()  # event streams never end by themselves: end them, or uvicorn waits for them
        self._server.should_exit = True
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("API server did not stop within %.1fs", timeout)


def start_api(
    config: VigilConfig,
    store: WatchlistStore,
    pipeline: Pipeline,
    outbox: AlertOutbox,
    listening: socket.socket | None = None,
    unknown: UnknownFaceStore | None = None,
) -> ApiServer:
    """The API of a running service: the pipeline's store, scene model and cameras, the node's alert outbox.

    Raises:
        ConfigError: the tokens file is malformed.
        ApiError: the address cannot be bound.
    """
    api = config.api
    embedders = KindEmbedders.from_models(
        config.models, scene_embedder=pipeline.embedder, face_pipeline=pipeline.face_pipeline
    )
    context = ApiContext(
        store=store,
        embedders=embedders,
        tokens=ApiTokens(Path(api.tokens_file), api.bootstrap_token_file),
        default_thresholds=config.watchlist.default_threshold,
        top_k=config.watchlist.top_k,
        outbox=outbox,
        camera_statuses=lambda: [camera.status for camera in pipeline.cameras],
        limits=UploadLimits(max_request_bytes=api.max_request_bytes, max_files=api.max_files),
        node_id=config.node_id,
        index_dir=index_dir(config),
        shared_indexes=pipeline.indexes,
        archive=pipeline.archive,
        snapshots_dir=config.storage.snapshots,
        adaptation=pipeline.adaptation,
        decode_budget=DecodeBudget(api.decode_pixels),
        cameras=frozenset(config.cameras),
        unknown=unknown,
        latest_jpeg=pipeline.latest.jpeg,
        posture=config.posture,
    )
    server = ApiServer(create_api(context, docs=api.docs), api.bind, api.port, listening=listening, guard=api)
    server.start()
    return server
