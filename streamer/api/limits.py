"""A cap on request bodies, applied before the body is read: uploads are bounded whatever a client claims.

Two checks, so neither an honest nor a lying client makes the service buffer more than the cap:

- a ``Content-Length`` over the cap is refused at once with 413, before a byte of the body is read (a 2 GB claim
  costs nothing);
- a body without a length (chunked) or longer than its claim is counted as it streams in, and reading stops with
  413 at the first chunk past the cap.

Pure ASGI (no buffering of its own), outermost in the stack so it guards every route.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.api.errors import RequestTooLargeError, error_body


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes``.

    Args:
        app: the application to guard.
        max_bytes: the largest body accepted, in bytes (multipart overhead included).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            message = f"request body of {declared} bytes is over the {self.max_bytes}-byte limit"
            await _refuse(scope, receive, send, message)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLargeError(f"request body is over the {self.max_bytes}-byte limit")
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except RequestTooLargeError as exc:  # raised where no handler of the app was in charge
            if started:
                raise
            await _refuse(scope, receive, send, exc.message)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; a malformed header counts as over any limit (refused, not guessed at)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 2**63
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    response = JSONResponse(error_body(RequestTooLargeError.code, message), status_code=413)
    response.headers["Connection"] = "close"  # the unread body must not be taken for the next request
    await response(scope, receive, send)
