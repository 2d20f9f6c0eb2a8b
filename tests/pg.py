"""A throwaway PostgreSQL cluster for the tests, on a unix socket in a temp folder.

``postgres_url`` gives each test a fresh database; ``database_url`` runs a test
once on SQLite and once on PostgreSQL. Without PostgreSQL's server binaries
(Debian: ``apt-get install postgresql``) the PostgreSQL cases are skipped;
``.ci/run`` installs them and sets ``DIFY_BRIDGE_REQUIRE_POSTGRES=1``, which
turns such a skip into a failure, so CI runs every case.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

DB_USER = "bridge"
_names = itertools.count(1)


@dataclass(frozen=True)
class PostgresCluster:
    socket_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{DB_USER}@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser through the server's own client; returns its output."""
        psql = shutil.which("psql") or str(_server_bin() / "psql")
        done = subprocess.run(
            [
                psql,
                "-XAtq",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("DIFY_BRIDGE_REQUIRE_POSTGRES"):
        pytest.fail(f"{reason} (DIFY_BRIDGE_REQUIRE_POSTGRES is set)", pytrace=False)
    pytest.skip(reason)


def _server_bin() -> Path:
    """The folder of initdb/pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return versions[-1].parent


def _run_as(owner: pwd.struct_passwd | None, args: list[str]) -> None:
    # initdb and postgres refuse to run as root: run them as ``owner`` then
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
        user=owner.pw_uid if owner else None,
        group=owner.pw_gid if owner else None,
        extra_groups=[] if owner else None,
        cwd="/",
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}")


def _unprivileged_owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    _unavailable("running as root and no unprivileged user to run PostgreSQL as")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """initdb into a temp dir, start on a unix socket there, stop and delete at the end."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("the PostgreSQL store needs asyncpg (pip install -e '.[dev]')")
    bin_dir = _server_bin()
    owner = _unprivileged_owner()
    root = Path(tempfile.mkdtemp(prefix="dify-bridge-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if owner is not None:
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    root.chmod(0o700)
    port = 5432
    try:
        _run_as(
            owner,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
        options = (
            f"-k {sockets} -p {port} -c listen_addresses='' -c max_connections=300"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run_as(
            owner,
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
            ],
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start the test PostgreSQL: {exc}")
    try:
        yield PostgresCluster(sockets, port)
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run_as(owner, [str(bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(data)])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A new, empty database in the test cluster."""
    name = f"test_{os.getpid()}_{next(_names)}"
    postgres_cluster.psql(f"CREATE DATABASE {name}")
    return postgres_cluster.url(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store for the test: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    return str(request.getfixturevalue("postgres_url"))
