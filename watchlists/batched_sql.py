"""Many rows in a few statements, in the SQL both engines share: multi-row inserts and chunked ``IN (...)`` lookups.

One statement per row costs a round trip each on PostgreSQL (an enrollment of 500 images was 2,000 of them) and
fires the statement-level revision trigger once per row; SQLite runs in-process and minds less, but takes the same
statements. The chunk sizes keep every statement under both engines' parameter limits (SQLite 32,766, PostgreSQL
65,535). Every function runs inside a transaction the store opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from watchlists.database import SqlConnection

LOOKUP_CHUNK = 500
"""Values per ``IN (...)`` list."""

INSERT_PARAMETERS = 1_000
"""Parameters per multi-row ``INSERT`` (rows times columns): past a few hundred, bigger statements measured no
faster on PostgreSQL (twenty 500-image enrollments: 1.7 s at 400 and at 30,000)."""

INSERT_BYTES = 16 * 1024 * 1024
"""Blob bytes per multi-row ``INSERT``: photos run to megabytes, and PostgreSQL refuses a message over 1 GiB."""


def insert_rows(db: SqlConnection, into: str, rows: Sequence[Sequence[Any]], tail: str = "") -> int:
    """Insert ``rows`` into ``into`` (``table (columns)``) with multi-row ``VALUES``.

    Args:
        tail: what follows the values, such as ``ON CONFLICT DO NOTHING``.

    Returns:
        How many rows were inserted.
    """
    return sum(db.execute(sql, params).rowcount for sql, params in _statements(into, rows, tail))


def insert_rows_returning(db: SqlConnection, into: str, rows: Sequence[Sequence[Any]], returning: str) -> list[Any]:
    """``insert_rows`` with ``RETURNING returning``: the returned rows, in no promised order (neither engine
    promises one), so ``returning`` names a unique key to match them to their rows by."""
    returned: list[Any] = []
    for sql, params in _statements(into, rows, f"RETURNING {returning}"):
        returned += db.execute(sql, params).fetchall()  # read whole, so SQLite finishes the statement
    return returned


def select_in(db: SqlConnection, sql: str, values: Sequence[Any], params_before: Sequence[Any] = ()) -> list[Any]:
    """The rows of ``sql``, whose ``{values}`` becomes an ``IN`` list of ``values`` (deduplicated, chunked).

    Example:
        >>> select_in(db, "SELECT id FROM images WHERE id IN ({values})", [3, 5, 8])
    """
    unique = list(dict.fromkeys(values))
    found: list[Any] = []
    for start in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[start : start + LOOKUP_CHUNK]
        found += db.execute(sql.format(values=", ".join("?" * len(chunk))), (*params_before, *chunk)).fetchall()
    return found


def _statements(into: str, rows: Sequence[Sequence[Any]], tail: str) -> Iterator[tuple[str, list[Any]]]:
    """The multi-row statements for ``rows``: each within ``INSERT_PARAMETERS`` and ``INSERT_BYTES`` (a single
    row over the byte budget still goes, alone)."""
    chunk: list[Sequence[Any]] = []
    size = 0
    for row in rows:
        row_size = sum(len(value) for value in row if isinstance(value, bytes))
        if chunk and ((len(chunk) + 1) * len(row) > INSERT_PARAMETERS or size + row_size > INSERT_BYTES):
            yield _statement(into, chunk, tail)
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield _statement(into, chunk, tail)


def _statement(into: str, rows: Sequence[Sequence[Any]], tail: str) -> tuple[str, list[Any]]:
    placeholders = "(" + ", ".join("?" * len(rows[0])) + ")"
    sql = f"INSERT INTO {into} VALUES {', '.join([placeholders] * len(rows))} {tail}".rstrip()
    return sql, [value for row in rows for value in row]
