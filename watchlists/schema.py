"""The watchlist's SQLite schema and its migrations, tracked with ``PRAGMA user_version``.

``watchlists.schema_postgres`` holds the same schema, version for version, in PostgreSQL's terms.

Each migration is one SQL script; ``user_version`` counts how many have run. A database is migrated when a store
opens it, each step in its own transaction together with its version bump, so a crash mid-migration leaves the
previous version intact. A database from a newer build is refused rather than guessed at.

Design choices the scripts encode:

- ``images.sha256`` is unique across the whole watchlist: the same photo enrolled twice (even under another entry)
  is reported, not duplicated.
- ``images.id`` uses ``AUTOINCREMENT`` so ids are never reused: they are the FAISS ids and alerts may cite them.
- ``embeddings`` are keyed by (image, model version): a model change adds rows beside the old ones.
- ``audit_log`` has no foreign key (it outlives the entries it describes) and triggers make it append-only.
- ``revision`` is one counter bumped by triggers on every change to entries, images, negatives and embeddings, in
  the same transaction as the change, so a pipeline in another process notices changes with one cheap read.
- ``negatives`` ("not this" examples) mirror ``images`` per entry, with their own embeddings (version 2).
- ``adaptations`` hold trained few-shot heads per (kind, model version), newest last (version 3).
"""

from __future__ import annotations

import sqlite3

from watchlists.errors import StoreError

_V1 = """
CREATE TABLE entries (
    id          TEXT PRIMARY KEY CHECK (length(id) = 32),
    kind        TEXT NOT NULL CHECK (kind IN ('face', 'anomaly')),
    label       TEXT NOT NULL CHECK (length(trim(label)) > 0),
    notes       TEXT NOT NULL DEFAULT '',
    threshold   REAL CHECK (threshold IS NULL OR threshold BETWEEN -1.0 AND 1.0),
    cameras     TEXT NOT NULL DEFAULT '[]' CHECK (json_type(cameras) = 'array'),
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX entries_kind ON entries (kind);

CREATE TABLE images (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id    TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
    media_type  TEXT NOT NULL,
    bytes       BLOB NOT NULL,
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    source      TEXT NOT NULL DEFAULT '',
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL
) STRICT;
CREATE INDEX images_entry ON images (entry_id);

CREATE TABLE embeddings (
    image_id       INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    model_version  TEXT NOT NULL,
    dim            INTEGER NOT NULL CHECK (dim > 0),
    vector         BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (image_id, model_version)
) STRICT;
CREATE INDEX embeddings_model ON embeddings (model_version);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entry_id  TEXT,
    detail    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX audit_log_entry ON audit_log (entry_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE revision (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
) STRICT;
INSERT INTO revision (id, value) VALUES (1, 0);
"""

_REVISION_TRIGGER = """
CREATE TRIGGER {table}_{event}_bumps_revision AFTER {event} ON {table}
BEGIN UPDATE revision SET value = value + 1 WHERE id = 1; END;
"""

_V1_TRIGGERS = "".join(
    _REVISION_TRIGGER.format(table=table, event=event)
    for table in ("entries", "images", "embeddings")
    for event in ("INSERT", "UPDATE", "DELETE")
)

# Version 2: negative examples ("not this"). Their own tables, not a flag on ``images``: an image that is one entry's
# reference may well be another entry's negative (Jane's entry says "not John"), which the global uniqueness of
# ``images.sha256`` forbids; within one entry a negative is stored once.
_V2 = """
CREATE TABLE negatives (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id    TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    media_type  TEXT NOT NULL,
    bytes       BLOB NOT NULL,
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    source      TEXT NOT NULL DEFAULT '',
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    UNIQUE (entry_id, sha256)
) STRICT;

CREATE TABLE negative_embeddings (
    negative_id    INTEGER NOT NULL REFERENCES negatives (id) ON DELETE CASCADE,
    model_version  TEXT NOT NULL,
    dim            INTEGER NOT NULL CHECK (dim > 0),
    vector         BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (negative_id, model_version)
) STRICT;
CREATE INDEX negative_embeddings_model ON negative_embeddings (model_version);
"""

_V2_TRIGGERS = "".join(
    _REVISION_TRIGGER.format(table=table, event=event)
    for table in ("negatives", "negative_embeddings")
    for event in ("INSERT", "UPDATE", "DELETE")
)

# Version 3: few-shot adaptations (``watchlists.adaptation``), kept with the watchlist so every node serves the same
# heads. No revision trigger: an adaptation is derived from the watchlist, and bumping the revision would make the
# trainer see a change of its own making and train again.
_V3 = """
CREATE TABLE adaptations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                TEXT NOT NULL CHECK (kind IN ('face', 'anomaly')),
    model_version       TEXT NOT NULL,
    version             TEXT NOT NULL,
    watchlist_revision  INTEGER NOT NULL,
    data_digest         TEXT NOT NULL CHECK (length(data_digest) = 64),
    trained_at          TEXT NOT NULL,
    artefact            BLOB NOT NULL
) STRICT;
CREATE INDEX adaptations_kind_model ON adaptations (kind, model_version, id);
"""

MIGRATIONS: tuple[str, ...] = (_V1 + _V1_TRIGGERS, _V2 + _V2_TRIGGERS, _V3)
"""One script per schema version; ``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the database to ``SCHEMA_VERSION``; a no-op when it is current.

    The connection must be in autocommit mode (``isolation_level=None``): each step runs in its own
    ``BEGIN IMMEDIATE`` transaction, which also serialises two processes opening a new file at once.

    Returns:
        The version the database had before.

    Raises:
        StoreError: the database was written by a newer build.
    """
    found = _user_version(connection)
    if found > SCHEMA_VERSION:
        raise StoreError(f"watchlist database has schema version {found}, this build knows up to {SCHEMA_VERSION}")
    for version in range(found, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if _user_version(connection) != version:  # another process migrated it meanwhile
                connection.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[version]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return found


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> list[str]:
    """Split a script into complete statements (``executescript`` would commit the open transaction)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")
    return statements
