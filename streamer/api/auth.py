"""Who is calling: ``Authorization: Bearer <token>``, role ``viewer`` to read, ``admin`` to change the watchlist.

Dependencies, so each route states its role in its signature, and so that the check runs before an upload's body is
read: a client without a valid token never gets the service to buffer anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamer.api.context import ApiContext, api_context
from streamer.api.errors import ForbiddenError, UnauthorizedError
from streamer.api.tokens import ApiToken

_bearer = HTTPBearer(auto_error=False, description="A token from `vigil tokens create NAME --role viewer|admin`.")


def caller(
    context: Annotated[ApiContext, Depends(api_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The token of the request, whatever its role.

    Raises:
        UnauthorizedError: no bearer token, or an unknown one (401).
    """
    if credentials is None or not credentials.credentials:
        raise UnauthorizedError("this endpoint needs 'Authorization: Bearer <token>'")
    token = context.tokens.authenticate(credentials.credentials)
    if token is None:
        raise UnauthorizedError("unknown or revoked token")
    return token


def viewer(token: Annotated[ApiToken, Depends(caller)]) -> ApiToken:
    """Any valid token: viewers and admins may read."""
    return token


def admin(token: Annotated[ApiToken, Depends(caller)]) -> ApiToken:
    """An admin token.

    Raises:
        ForbiddenError: a viewer's token (403).
    """
    if token.role != "admin":
        raise ForbiddenError(f"token {token.name!r} has role {token.role}; changing the watchlist needs admin")
    return token


def actor(token: ApiToken) -> str:
    """How the audit log names the holder of ``token``."""
    return f"api:{token.name}"


Viewer = Annotated[ApiToken, Depends(viewer)]
Admin = Annotated[ApiToken, Depends(admin)]
Context = Annotated[ApiContext, Depends(api_context)]
