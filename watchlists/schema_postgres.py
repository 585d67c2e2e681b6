"""The watchlist's PostgreSQL schema and its migrations, tracked in ``schema_migrations``.

The same tables, constraints and version numbers as the SQLite schema (``watchlists.schema``), in PostgreSQL's
types: ``bytea`` blobs, ``jsonb`` cameras and audit details, ``timestamptz`` times, identity ids (a sequence never
hands an id out twice, not even after a rollback), ``boolean`` flags. Each step runs in its own transaction
together with its row in ``schema_migrations``, under an advisory lock, so nodes starting at once migrate once and
a failed step leaves the previous version whole. A database from a newer build is refused.

Triggers keep the SQLite schema's two promises:

- ``audit_log`` is append-only: UPDATE, DELETE and TRUNCATE raise ``restrict_violation``.
- ``revision`` is bumped in the writing transaction by every statement that changed entries, images, negatives or
  embeddings. Statement triggers with transition tables bump once per statement rather than once per row (a
  re-embedding writes thousands of rows), and not at all for a statement that changed nothing (an
  ``ON CONFLICT DO NOTHING`` that skipped), so an index polling ``revision()`` rebuilds only for real changes.
"""

from __future__ import annotations

import psycopg

from watchlists.errors import StoreError

_V1 = """
CREATE TABLE entries (
    id          text PRIMARY KEY CHECK (length(id) = 32),
    kind        text NOT NULL CHECK (kind IN ('face', 'anomaly')),
    label       text NOT NULL CHECK (length(trim(label)) > 0),
    notes       text NOT NULL DEFAULT '',
    threshold   double precision CHECK (threshold IS NULL OR threshold BETWEEN -1.0 AND 1.0),
    cameras     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cameras) = 'array'),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX entries_kind ON entries (kind);

CREATE TABLE images (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    text NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    sha256      text NOT NULL UNIQUE CHECK (length(sha256) = 64),
    media_type  text NOT NULL,
    bytes       bytea NOT NULL,
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    source      text NOT NULL DEFAULT '',
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL
);
CREATE INDEX images_entry ON images (entry_id);

CREATE TABLE embeddings (
    image_id       bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    model_version  text NOT NULL,
    dim            integer NOT NULL CHECK (dim > 0),
    vector         bytea NOT NULL CHECK (octet_length(vector) = 4 * dim),
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (image_id, model_version)
);
CREATE INDEX embeddings_model ON embeddings (model_version);

CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    entry_id  text,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entry ON audit_log (entry_id);
CREATE FUNCTION watchlist_audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION watchlist_audit_log_is_append_only();

CREATE TABLE revision (
    id     smallint PRIMARY KEY CHECK (id = 1),
    value  bigint NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);
CREATE FUNCTION watchlist_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE revision SET value = value + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END $$;
"""

_REVISION_TRIGGER = """
CREATE TRIGGER {table}_{event}_bumps_revision AFTER {event} ON {table}
    REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION watchlist_bump_revision();
"""


def _revision_triggers(*tables: str) -> str:
    """One trigger per table and event: a trigger with a transition table may have only one event."""
    events = {"insert": "NEW", "update": "NEW", "delete": "OLD"}
    return "".join(
        _REVISION_TRIGGER.format(table=table, event=event, rows=rows)
        for table in tables
        for event, rows in events.items()
    )


# Version 2: negative examples ("not this"), as in the SQLite schema (see ``watchlists.schema`` for why apart).
_V2 = """
CREATE TABLE negatives (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    text NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    sha256      text NOT NULL CHECK (length(sha256) = 64),
    media_type  text NOT NULL,
    bytes       bytea NOT NULL,
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    source      text NOT NULL DEFAULT '',
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL,
    UNIQUE (entry_id, sha256)
);

CREATE TABLE negative_embeddings (
    negative_id    bigint NOT NULL REFERENCES negatives (id) ON DELETE CASCADE,
    model_version  text NOT NULL,
    dim            integer NOT NULL CHECK (dim > 0),
    vector         bytea NOT NULL CHECK (octet_length(vector) = 4 * dim),
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (negative_id, model_version)
);
CREATE INDEX negative_embeddings_model ON negative_embeddings (model_version);
"""

# Version 3: few-shot adaptations, as in the SQLite schema (no revision trigger: see ``watchlists.schema``).
_V3 = """
CREATE TABLE adaptations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('face', 'anomaly')),
    model_version       text NOT NULL,
    version             text NOT NULL,
    watchlist_revision  bigint NOT NULL,
    data_digest         text NOT NULL CHECK (length(data_digest) = 64),
    trained_at          timestamptz NOT NULL,
    artefact            bytea NOT NULL
);
CREATE INDEX adaptations_kind_model ON adaptations (kind, model_version, id);
"""

MIGRATIONS: tuple[str, ...] = (
    _V1 + _revision_triggers("entries", "images", "embeddings"),
    _V2 + _revision_triggers("negatives", "negative_embeddings"),
    _V3,
)
"""One script per schema version; ``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)

MIGRATION_LOCK = 0x5649_4749_4C57_4C00  # "VIGILWL": the advisory lock nodes take to migrate one at a time

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def migrate(connection: psycopg.Connection) -> int:
    """Bring the database to ``SCHEMA_VERSION``; a no-op when it is current.

    The connection must be in autocommit mode: each step is its own transaction.

    Returns:
        The version the database had before.

    Raises:
        StoreError: the database was written by a newer build.
        psycopg.Error: a step failed (it was rolled back; earlier steps stay).
    """
    found = _version(connection)
    _refuse_newer(found)
    for version in range(found, SCHEMA_VERSION):
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(_VERSIONS_TABLE)
            current = _version(connection)
            _refuse_newer(current)
            if current != version:  # another node migrated meanwhile
                continue
            connection.execute(MIGRATIONS[version])
            connection.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version + 1,))
    return found


def _version(connection: psycopg.Connection) -> int:
    row = connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    return int(connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def _refuse_newer(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StoreError(f"watchlist database has schema version {found}, this build knows up to {SCHEMA_VERSION}")
