"""A real PostgreSQL server in a private folder on a free loopback port, for the tests and multi-node trials.

``initdb`` creates a throw-away cluster in a temp folder (socket included) and ``pg_ctl`` starts it, so a system
server is never touched. PostgreSQL refuses to run as root: as root, both run as the ``postgres`` user that
Debian's package creates, owning the folder. TCP logins need the password (scram-sha-256), as on a real server;
the socket in the folder trusts its own user, for administration.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from streamer.devservices.errors import DevServiceError
from streamer.devservices.mosquitto import free_port

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "vigil"


def postgres_bin_dir() -> Path | None:
    """The newest installed server's ``bin`` folder (Debian keeps one per major version), or ``None``."""
    found = [p.parent for p in POSTGRES_ROOT.glob("*/bin/initdb")] if POSTGRES_ROOT.is_dir() else []
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """Runs a private PostgreSQL cluster.

    Args:
        port: listening port on 127.0.0.1 (default: a free one).
        password: the superuser's password (default: a random one); the superuser is ``vigil``.

    Raises:
        DevServiceError: the server binaries are missing, or the server cannot be created or started.

    Example:
        >>> with PostgresServer() as server:
        ...     url = server.url("postgres")
    """

    def __init__(self, port: int | None = None, *, password: str | None = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise DevServiceError(
                f"PostgreSQL server binaries (initdb) not found under {POSTGRES_ROOT}: "
                "run deploy/bootstrap.sh (installs Debian's postgresql)"
            )
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.user = SUPERUSER
        self.password = password or secrets.token_urlsafe(16)
        self._dir = Path(tempfile.mkdtemp(prefix="vigil-postgres-"))
        self.data_dir = self._dir / "data"
        self.log_path = self._dir / "server.log"
        self._owner = _server_owner()
        if self._owner is not None:
            os.chown(self._dir, self._owner.pw_uid, self._owner.pw_gid)
        self._started = False

    def url(self, database: str, *, password: str | None = None) -> str:
        """A ``postgresql://`` URL for ``database`` over TCP, with the superuser's password (or ``password``)."""
        return f"postgresql://{self.user}:{password or self.password}@{self.host}:{self.port}/{database}"

    @property
    def socket_dir(self) -> Path:
        """The folder holding the server's Unix socket."""
        return self._dir

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create an empty database (or a copy of ``template``, which nobody may be connected to); returns its URL."""
        copy = f" TEMPLATE {_identifier(template)}" if template else ""
        self._admin(f"CREATE DATABASE {_identifier(name)}{copy}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection still open to it."""
        self._admin(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")

    def _admin(self, statement: str) -> None:
        """One statement as the superuser, through the socket (which trusts local users)."""
        conninfo = {"host": str(self._dir), "port": self.port, "user": self.user, "dbname": "postgres"}
        try:
            with psycopg.connect(**conninfo, autocommit=True) as connection:
                connection.execute(statement)
        except psycopg.Error as exc:
            raise DevServiceError(f"postgres on port {self.port}: {statement} failed: {exc}") from None

    def start(self) -> PostgresServer:
        """Create the cluster (first time only) and start the server; returns once it accepts connections."""
        if not self.data_dir.exists():
            self._initdb()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self._dir}",
                "-c listen_addresses=127.0.0.1",
                # A throw-away test cluster: durability of PostgreSQL itself is not what the tests check.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options
        )
        self._started = True
        return self

    def stop(self) -> None:
        """Fast shutdown: open connections are ended, the cluster stays for a restart."""
        if self._started:
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
            self._started = False

    @property
    def running(self) -> bool:
        return self._started and (self.data_dir / "postmaster.pid").exists()

    def close(self) -> None:
        """Stop and remove the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _initdb(self) -> None:
        password_file = self._dir / "superuser-password"
        password_file.write_text(self.password + "\n")
        self._give_to_owner(password_file)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={password_file}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _give_to_owner(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        """Run a server program as the cluster's owner; a failure quotes its output and the server log."""
        owner = self._owner
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self._dir)}
        try:
            subprocess.run(
                [str(self.bin_dir / program), *args],
                check=True,
                capture_output=True,
                text=True,
                cwd=self._dir,
                env=env,
                timeout=120,
                user=owner.pw_uid if owner else None,
                group=owner.pw_gid if owner else None,
                extra_groups=[] if owner else None,
            )
        except subprocess.CalledProcessError as exc:
            log_text = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise DevServiceError(
                f"{program} {args[0]} failed ({exc.returncode}): {exc.stderr.strip() or exc.stdout.strip()}\n{log_text}"
            ) from None
        except subprocess.TimeoutExpired:
            raise DevServiceError(f"{program} {args[0]} did not finish within 120 s (see {self.log_path})") from None


def _server_owner() -> pwd.struct_passwd | None:
    """Who runs the server: the ``postgres`` user when we are root (PostgreSQL refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise DevServiceError(
            "running as root, and there is no 'postgres' user to run the server as: "
            "install Debian's postgresql package (deploy/bootstrap.sh)"
        ) from None


def _identifier(name: str) -> str:
    """A database name as a quoted SQL identifier (test names are generated, but quote them all the same)."""
    return '"' + name.replace('"', '""') + '"'
