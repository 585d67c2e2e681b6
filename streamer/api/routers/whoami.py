"""``GET /whoami``: the name and role of the calling token, so a client (the web page) can show a viewer a read-only
page from sign-in on instead of discovering the role on its first refused write.

Only what ``vigil tokens list`` shows already: never the secret, never its digest.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from streamer.api.auth import Viewer
from streamer.api.schemas import ErrorResponse
from streamer.api.tokens import Role

router = APIRouter(tags=["auth"])


class WhoamiResponse(BaseModel):
    name: str = Field(description="The token's name, as the audit log names its holder (`api:<name>`).")
    role: Role = Field(description="`admin` may change the watchlist; `viewer` may read.")


@router.get("/whoami", response_model=WhoamiResponse, responses={401: {"model": ErrorResponse}})
def whoami(token: Viewer) -> WhoamiResponse:
    """Who the bearer token belongs to and what it may do (any valid token)."""
    return WhoamiResponse(name=token.name, role=token.role)
