"""The hub's folder (``course hub --root``): what `course hub` records in it, and how it writes there.

``private/settings.json`` holds everything the hub's jupyterhub_config.py reads (`Settings`);
``private/state.json`` what `course hub` created, so that `course hub remove` deletes only that
(`State`). What only root may read is written with `write_private`, the configuration every
user's server reads with `write_public`. `HubError` is what every step of `course hub` raises
when it cannot do something here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path("/srv/course-hub")
# The entries `course hub` makes in its folder: `remove` deletes these and nothing else there.
HUB_ENTRIES = ("jupyter", "share", "proxy", "private")


class HubError(RuntimeError):
    """Something `course hub` cannot do here; the message says what to change."""


@dataclass
class Settings:
    """Everything the hub's jupyterhub_config.py reads (private/settings.json)."""

    instructor: str
    students: list[str]
    root: str
    exchange: str
    python: str  # the course venv's interpreter: servers, kernels and grading use it
    course_id: str
    course_root: str  # the instructor's copy of the course
    cell_timeout: int = 900  # the course's per-cell limit; students' Validate uses it too
    startup_timeout: int = 180
    port: int = 8000
    ip: str = ""
    offline: bool = False
    ssl_cert: str = ""
    ssl_key: str = ""
    proxy: str = ""
    node: str = ""  # the Node.js that runs the proxy (find_node)
    hub_port: int = 0
    proxy_api_port: int = 0
    cpu_limit: float = 1.0  # cores' worth of CPU time each user's server may use (hub_limits)
    mem_limit_mb: int = 2048  # memory each user's server may use, everything it starts included


@dataclass
class State:
    """What `course hub` created (private/state.json), so that `remove` deletes only that."""

    created_users: list[str] = field(default_factory=list)
    created_exchange: bool = False
    created_root: bool = False  # the hub's folder itself did not exist before (else only its entries go)
    instructor: str = ""
    course_root: str = ""  # the instructor's course root: `remove` copies its gradebook out first
    gradebook_backups: list[str] = field(default_factory=list)  # copies `remove` made (said again on resume)

    @classmethod
    def load(cls, root: Path) -> State:
        """The recorded state; fields a newer or older `course hub` wrote are kept or defaulted."""
        path = private_folder(root) / "state.json"
        if not path.is_file():
            return cls()
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in json.loads(path.read_text()).items() if key in known})

    def save(self, root: Path) -> None:
        write_private(private_folder(root) / "state.json", json.dumps(asdict(self), indent=1))


def private_folder(root: Path) -> Path:
    """Where the hub keeps what only root may read (settings, passwords, its database)."""
    return root / "private"


def write_private(path: Path, text: str) -> None:
    """Write a file readable by root only (created with that mode: never briefly readable)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def write_public(path: Path, text: str) -> None:
    """Write a root-owned file every user may read (configuration for their servers)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text)
    os.chmod(path, 0o644)


def hub_settings(root: Path) -> dict:
    """The hub's settings.json (empty if set-up stopped before writing it)."""
    path = private_folder(root) / "settings.json"
    return json.loads(path.read_text()) if path.is_file() else {}
