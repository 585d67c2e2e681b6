"""Root of the ``vigil`` command: wires the sub-commands and turns Vigil errors into exit codes."""

from __future__ import annotations

import logging
import sys

import typer

from engines.errors import VigilError
from streamer.cli.adapt import adapt_command
from streamer.cli.api import tokens_app
from streamer.cli.calibrate import calibrate_command
from streamer.cli.evaluate import eval_command
from streamer.cli.models import models_app
from streamer.cli.search import search_command
from streamer.cli.service import bench, demo, run
from streamer.cli.unknown import unknown_app
from streamer.cli.watchlist import watchlist_app

app = typer.Typer(
    name="vigil",
    help="Vigil: match live camera streams against a watchlist and publish alerts over MQTT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(models_app, name="models")
app.add_typer(tokens_app, name="tokens")
app.add_typer(unknown_app, name="unknown")
app.command("run")(run)
app.command("demo")(demo)
app.command("bench")(bench)
app.command("calibrate")(calibrate_command)
app.command("eval")(eval_command)
app.command("search")(search_command)
app.command("adapt")(adapt_command)


SERVICE_COMMANDS = frozenset({"run", "demo"})
"""Commands that run for long and whose log is their output; the others print results and log only problems."""


def log_level(command: str | None, verbosity: int) -> int:
    """The root log level: INFO for the service (``-v``: DEBUG), WARNING for one-shot commands, so that loading
    models does not bury a command's answer (``-v``: INFO, ``-vv``: DEBUG)."""
    base = logging.INFO if command in SERVICE_COMMANDS else logging.WARNING
    return max(logging.DEBUG, base - 10 * verbosity)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging (-v: info, -vv: debug)."),
    log_json: bool = typer.Option(False, "--log-json", help="One JSON object per log line (for log shippers)."),
) -> None:
    from streamer.logs import configure_logging

    configure_logging(log_level(ctx.invoked_subcommand, verbose), json_lines=log_json)


def main() -> None:
    """Entry point: run the CLI; a ``VigilError`` prints its message and exits with its code (2 = bad config)."""
    try:
        code = app(standalone_mode=False)  # without standalone mode, typer.Exit(n) comes back as n, not raised
        if isinstance(code, int) and code:
            sys.exit(code)
    except VigilError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors (typer's vendored click) carry their own exit code (2)
        typer.secho(f"error: {exc.format_message()}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
