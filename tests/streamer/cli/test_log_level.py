"""How much the CLI logs: the service logs what it does, one-shot commands only problems unless asked (``-v``)."""

from __future__ import annotations

import logging

import pytest

from streamer.cli.app import log_level
from tests.fixtures.cli import Vigil


@pytest.mark.parametrize(
    ("command", "verbosity", "level"),
    [
        ("run", 0, logging.INFO),
        ("run", 1, logging.DEBUG),
        ("demo", 0, logging.INFO),
        ("watchlist", 0, logging.WARNING),
        ("watchlist", 1, logging.INFO),
        ("models", 2, logging.DEBUG),
        ("tokens", 5, logging.DEBUG),
        (None, 0, logging.WARNING),
    ],
)
def test_the_log_level_depends_on_the_command_and_the_v_count(command: str | None, verbosity: int, level: int):
    assert log_level(command, verbosity) == level


@pytest.mark.parametrize(("args", "level"), [((), logging.WARNING), (("-v",), logging.INFO), (("-vv",), logging.DEBUG)])
def test_a_one_shot_command_is_quiet_unless_asked(run_vigil: Vigil, args: tuple[str, ...], level: int):
    result = run_vigil(*args, "tokens", "list", "--json")

    assert result.code == 0 and result.out.strip() == "[]"
    assert logging.getLogger().level == level
