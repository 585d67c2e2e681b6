"""Structured logging: human-readable by default, JSON lines with ``--log-json``.

Both formats pass every message through ``streamer.redaction`` (no URL credentials, whoever logged it: Vigil,
uvicorn, paho) and the text format escapes control characters, so a label holding a newline cannot forge a log
line. JSON lines need no escaping of their own: ``json.dumps`` already escapes them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from streamer.redaction import redact_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x00``): one log record, one line."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message``; the message redacted and its control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(redact_text(record.message))
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return redact_text(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` (redacted), ``exc`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO, *, json_lines: bool = False) -> None:
    """Configure the root logger once, writing to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
