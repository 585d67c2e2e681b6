"""``vigil tokens``: create, list and revoke the bearer tokens of the REST API.

The tokens file (``api.tokens_file``) keeps SHA-256 digests only: ``create`` prints the secret once, and it cannot
be shown again (revoke and create another if it is lost). A running service picks changes up without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamer.api.tokens import Role, create_token, read_tokens, revoke_token
from streamer.cli.watchlist_options import ConfigOption, JsonOption
from streamer.config import load_config

tokens_app = typer.Typer(
    help="Manage REST API tokens (roles: viewer reads, admin changes the watchlist).", no_args_is_help=True
)

NameArgument = Annotated[
    str, typer.Argument(help="Who holds the token (letters, digits, . _ @ -).", show_default=False)
]


def _tokens_file(config: Path | None) -> Path:
    return Path(load_config(config).api.tokens_file)


@tokens_app.command("create")
def create(
    name: NameArgument,
    role: Annotated[Role, typer.Option(help="viewer: read only; admin: may change the watchlist.")] = "viewer",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret: the only time it is shown."""
    path = _tokens_file(config)
    token, secret = create_token(path, name, role)
    if as_json:
        typer.echo(json.dumps({"name": token.name, "role": token.role, "token": secret}))
        return
    typer.echo(secret)
    typer.echo(
        f"created {token.role} token {token.name!r} in {path}; the secret above is not stored, keep it", err=True
    )


@tokens_app.command("list")
def list_tokens(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List token names, roles and creation times (never secrets)."""
    tokens = read_tokens(_tokens_file(config))
    if as_json:
        typer.echo(
            json.dumps([{"name": t.name, "role": t.role, "created_at": t.created_at.isoformat()} for t in tokens])
        )
        return
    table = Table(title=f"{len(tokens)} API tokens")
    for column in ("name", "role", "created"):
        table.add_column(column)
    for t in tokens:
        table.add_row(t.name, t.role, t.created_at.isoformat())
    Console().print(table)


@tokens_app.command("revoke")
def revoke(name: NameArgument, config: ConfigOption = None) -> None:
    """Revoke a token: requests bearing it get 401 from then on."""
    token = revoke_token(_tokens_file(config), name)
    typer.echo(f"revoked {token.role} token {token.name!r}")
