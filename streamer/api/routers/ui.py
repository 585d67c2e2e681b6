"""The admins' web page: ``/`` redirects to ``/ui/``, one static page with five scripts and one style sheet.

The page itself holds no data and needs no token; everything it shows comes from ``/api/v1`` with the bearer token
the admin pastes, so it opens no way in that the API lacks. Its files ship in the package (``streamer/api/web``) and
are served from a fixed table, so no part of a request path reaches the file system. A strict Content-Security-Policy
lets the page load only its own files and talk only to its own origin: nothing comes from the internet, no inline
script runs, and no form can be submitted natively (a token typed into one never lands in a URL).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from streamer.api.errors import ApiError

router = APIRouter(include_in_schema=False)

WEB_FILES: dict[str, tuple[str, str]] = {
    "": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "entry.js": ("entry.js", "text/javascript; charset=utf-8"),
    "search.js": ("search.js", "text/javascript; charset=utf-8"),
    "live.js": ("live.js", "text/javascript; charset=utf-8"),
    "unknown.js": ("unknown.js", "text/javascript; charset=utf-8"),
    "routes.js": ("routes.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
}
"""URL name under ``/ui/`` -> (file in ``streamer/api/web``, content type)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
def root() -> RedirectResponse:
    """To the page; relative, so it also works behind a reverse proxy that serves Vigil under a path prefix."""
    return RedirectResponse("ui/", status_code=307)


@router.get("/ui")
def ui_without_slash() -> RedirectResponse:
    """To ``/ui/``: the page's own files are named relative to it."""
    return RedirectResponse("ui/", status_code=307)


@router.get("/ui/")
def page() -> Response:
    """The page."""
    return web_file("")


@router.get("/ui/{name}")
def web_file(name: str) -> Response:
    """One of the page's files; ``not_found`` (404) for any other name."""
    if name not in WEB_FILES:
        raise ApiError(f"the web page has no file {name[:60]!r}", code="not_found")
    file_name, content_type = WEB_FILES[name]
    content = (files("streamer.api.web") / file_name).read_bytes()
    return Response(content, media_type=content_type, headers=_HEADERS)
