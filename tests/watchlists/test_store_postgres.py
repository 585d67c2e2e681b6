"""The watchlist on PostgreSQL, shared by several nodes: each node sees the others' writes through ``revision()``,
concurrent writers queue instead of colliding, the audit log refuses changes, a lost server is reconnected, and
the password never shows in a message or a log line."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from streamer.devservices.mosquitto import free_port
from streamer.devservices.postgres import PostgresServer
from tests.watchlists.samples import DIM, TEST_MODEL, new_image, unit
from watchlists.errors import DuplicateImageError, StoreError
from watchlists.index import WatchlistIndex
from watchlists.store import WatchlistStore


def _without_password(url: str, password: str) -> str:
    return url.replace(f":{password}@", "@")


def _whole_error(error: BaseException) -> str:
    """The message and the whole traceback with every chained exception: all a log handler could print."""
    return "".join(traceback.format_exception(error))


def test_a_write_on_one_node_is_seen_by_another_nodes_revision_embeddings_and_index(postgres_url: str) -> None:
    with WatchlistStore(postgres_url) as node_a, WatchlistStore(postgres_url) as node_b:
        index_b = WatchlistIndex.from_store(node_b, "anomaly", TEST_MODEL, default_threshold=0.5, dim=DIM)
        before = node_b.revision()

        entry = node_a.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="node-a").entry

        assert node_b.revision() > before
        assert node_b.embeddings("anomaly", TEST_MODEL).entry_ids == (entry.id,)
        assert index_b.sync() and [m.label for m in index_b.search(unit(1)[None])[0]] == ["fire"]
        node_b.update_entry(entry.id, enabled=False, actor="node-b")
        assert node_a.get_entry(entry.id).enabled is False
        assert [a.actor for a in node_a.audit(entry.id)] == ["node-b", "node-a"]


def _revision_steps(store: WatchlistStore, entry_id: str) -> tuple[int, int]:
    """How much one single-image enrollment, then one single-image addition, moves the revision."""
    before = store.revision()
    store.create_entry("anomaly", "probe", [new_image(unit(1), "probe")], actor="t")
    enrolled = store.revision()
    store.add_images(entry_id, [new_image(unit(1), "probe 2")], actor="t")
    return enrolled - before, store.revision() - enrolled


def test_concurrent_writers_queue_without_losing_a_revision_or_storing_an_image_twice(postgres_url: str) -> None:
    writers, writes_each = 4, 5
    stores = [WatchlistStore(postgres_url) for _ in range(writers)]
    try:
        shared = stores[0].create_entry("anomaly", "shared", [new_image(unit(1), "first")], actor="t").entry
        per_enroll, per_add = _revision_steps(stores[0], shared.id)  # what each write adds, alone
        start = stores[0].revision()
        barrier = threading.Barrier(writers)
        outcomes: list[str] = []

        def write(number: int, store: WatchlistStore) -> None:
            barrier.wait(timeout=30)
            try:  # every writer adds the same photo at the same moment: it checks first, then inserts
                result = store.add_images(shared.id, [new_image(unit(2), "same")], actor="t")
                outcomes.append("added" if result.added else "reported as stored")
            except DuplicateImageError:  # a writer checked before another one's insert had committed
                outcomes.append("collided")
            for i in range(writes_each):
                store.create_entry("anomaly", f"w{number}-{i}", [new_image(unit(3), f"w{number}-{i}")], actor="t")

        threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(outcomes) == ["added"] + ["reported as stored"] * (writers - 1)
        assert stores[1].get_entry(shared.id).image_count == 3
        assert stores[1].revision() - start == per_add + per_enroll * writers * writes_each
        assert sum(e.image_count for e in stores[1].list_entries()) == 3 + 1 + writers * writes_each
    finally:
        for store in stores:
            store.close()


def test_a_write_waits_for_another_nodes_write_lock_and_gives_up_with_a_clear_error_while_reads_go_on(
    postgres_url: str,
) -> None:
    with WatchlistStore(postgres_url, busy_timeout_s=0.5) as store, psycopg.connect(postgres_url) as other_node:
        other_node.execute("LOCK TABLE revision IN EXCLUSIVE MODE")  # a write in progress elsewhere

        assert store.revision() == 0 and store.list_entries() == []
        with pytest.raises(StoreError, match=r"not writable now: another write held the lock for over 0\.5 s"):
            store.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="t")

        other_node.rollback()
        assert store.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="t").entry.image_count == 1


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
def test_the_audit_log_refuses_update_delete_and_truncate(postgres_url: str, statement: str) -> None:
    with WatchlistStore(postgres_url) as store:
        store.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="alice")

        with (
            psycopg.connect(postgres_url) as plain,
            pytest.raises(psycopg.errors.RestrictViolation, match="append-only"),
        ):
            plain.execute(statement)

        assert [a.actor for a in store.audit()] == ["alice"]


def test_the_password_never_appears_in_a_message_a_traceback_or_a_log_line(
    postgres_server: PostgresServer, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = postgres_server.password
    refused: list[BaseException] = []
    with WatchlistStore(postgres_url) as store:
        store.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="t")
        shown = [repr(store), store.location]
    bad_urls = [
        postgres_url.replace(f":{password}@", ":Wrong-Secret-1@"),
        postgres_url.replace(f":{password}@", ":Wrong Secret 2@"),  # malformed: libpq quotes the bad part
        postgres_url.replace(f":{password}@", ":Wrong-Secret-3@") + "?sslmode=sometimes",
        postgres_url.replace(str(postgres_server.port), str(free_port())).replace(password, "Wrong-Secret-4"),
    ]
    for url in bad_urls:
        with pytest.raises(StoreError) as error:
            WatchlistStore(url)
        refused.append(error.value)

    texts = shown + [_whole_error(e) for e in refused] + [caplog.text]
    for secret in (password, "Wrong-Secret-1", "Wrong Secret 2", "Wrong-Secret-3", "Wrong-Secret-4"):
        assert not [t for t in texts if secret in t], secret
    assert store.location == f"postgresql://vigil@127.0.0.1:{postgres_server.port}/{postgres_url.rsplit('/', 1)[1]}"


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("wrong password", "password authentication failed"),
        ("nobody listening", "Connection refused"),
        ("no such database", "does not exist"),
    ],
)
def test_a_server_that_cannot_be_used_is_a_store_error_naming_host_and_port(
    postgres_server: PostgresServer, problem: str, message: str
) -> None:
    port = free_port() if problem == "nobody listening" else postgres_server.port
    password = "not-it" if problem == "wrong password" else postgres_server.password
    database = "no_such_database" if problem == "no such database" else "postgres"
    url = f"postgresql://vigil:{password}@127.0.0.1:{port}/{database}"

    with pytest.raises(StoreError, match=message) as refused:
        WatchlistStore(url, busy_timeout_s=2)

    assert f"cannot connect to watchlist database postgresql://vigil@127.0.0.1:{port}/{database}:" in str(refused.value)
    assert refused.value.exit_code == 1 and refused.value.code == "store_error"


@pytest.mark.parametrize("source", ["PGPASSWORD", "password_file"])
def test_the_password_may_come_from_the_environment_or_a_file_instead_of_the_url(
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    password_file = None
    if source == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    else:
        password_file = tmp_path / "password"
        password_file.write_text(postgres_server.password + "\n")  # as a mounted secret file holds it

    with WatchlistStore(
        _without_password(postgres_url, postgres_server.password), password_file=password_file
    ) as store:
        assert store.revision() == 0


def test_an_unreadable_password_file_is_named_in_the_error(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match=r"watchlist\.password_file .*missing cannot be read"):
        WatchlistStore(_without_password(postgres_url, postgres_server.password), password_file=tmp_path / "missing")


@pytest.fixture
def own_server() -> Iterator[Callable[[], PostgresServer]]:
    """A second server, for a test that stops and starts it."""
    servers: list[PostgresServer] = []

    def start() -> PostgresServer:
        servers.append(PostgresServer().start())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_store_reconnects_by_itself_after_the_server_restarts(own_server: Callable[[], PostgresServer]) -> None:
    server = own_server()
    with WatchlistStore(server.create_database("watchlist")) as store:
        store.create_entry("anomaly", "fire", [new_image(unit(1), "fire")], actor="t")
        revision = store.revision()

        server.stop()
        with pytest.raises(StoreError, match=r"watchlist database postgresql://vigil@127\.0\.0\.1"):
            store.revision()
        server.start()

        assert store.revision() == revision
        assert store.create_entry("anomaly", "smoke", [new_image(unit(2), "smoke")], actor="t").entry.label == "smoke"
