"""A private, throwaway PostgreSQL server for the tests that need a real one.

Debian's server package (``scripts/install_system_packages.sh`` installs it) provides
``initdb`` and ``pg_ctl``; the server runs as the ``postgres`` account when the tests run
as root (PostgreSQL refuses to run as root), listens on a Unix socket in its own folder
only (no TCP port to collide with), and is stopped and deleted at the end of the session.
Each test asks for a fresh database with :func:`new_database`.

The URL form is SQLAlchemy's ``postgresql+psycopg://`` (psycopg 3, the ``postgres`` extra):
plain ``postgresql://`` also maps to psycopg 3 in SQLAlchemy 2.1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _bin_dir() -> Path | None:
    found = sorted(Path("/").glob(BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    return found[-1] if found else None


def available() -> str | None:
    """None when a server can be started here, else why not (shown in the failure)."""
    if _bin_dir() is None:
        return "PostgreSQL's server is not installed (run scripts/install_system_packages.sh --tests)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]' installs the postgres extra)"
    return None


@dataclass
class Server:
    folder: Path
    socket_dir: Path
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            ["psql", "-h", str(self.socket_dir), "-U", self.user, "-d", database, "-Atc", sql],
            capture_output=True, text=True, check=True)
        return done.stdout

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = "course_" + uuid.uuid4().hex[:12]
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres() -> dict:
    """Run the server as `postgres` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def start() -> Server:
    """initdb a new cluster in a temporary folder and start it on a private socket."""
    bin_dir = _bin_dir()
    assert bin_dir is not None, available()
    folder = Path(tempfile.mkdtemp(prefix="course-pg-"))
    socket_dir = folder / "socket"
    data = folder / "data"
    socket_dir.mkdir()
    run_as = _as_postgres()
    if run_as:
        os.chmod(folder, 0o755)
        for path in (folder, socket_dir):
            os.chown(path, run_as["user"], run_as["group"])
    user = "postgres" if run_as else pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, **run_as)
    subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                    "-o", f"-k {socket_dir} -c listen_addresses='' -c max_connections=200 -c fsync=off",
                    "start"], check=True, capture_output=True, **run_as)
    return Server(folder=folder, socket_dir=socket_dir, user=user)


def stop(server: Server) -> None:
    bin_dir = _bin_dir()
    subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(server.folder / "data"), "-m", "immediate", "-w", "stop"],
                   capture_output=True, **_as_postgres())
    shutil.rmtree(server.folder, ignore_errors=True)
