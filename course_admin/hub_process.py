"""The JupyterHub process of `course hub`: start it (in the foreground or detached), find it, stop it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from course_admin.hub_accounts import SYSTEM_PATH
from course_admin.hub_folder import DEFAULT_ROOT, HubError, Settings, private_folder


def hub_pid(root: Path) -> int | None:
    """The running hub's process id (from JupyterHub's pid file), None if it is not running."""
    path = private_folder(root) / "jupyterhub.pid"
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    # The pid must still be this hub (pids are reused after a crash).
    return pid if "jupyterhub" in cmdline and str(private_folder(root)) in cmdline else None


def hub_url(settings: Settings, host: str | None = None) -> str:
    """The hub's public address (this machine's name when it listens on every interface)."""
    scheme = "https" if settings.ssl_cert else "http"
    return f"{scheme}://{host or settings.ip or socket.getfqdn()}:{settings.port}/"


def wait_until_up(settings: Settings, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Wait until the hub answers on its public port, through the proxy."""
    host = settings.ip if settings.ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
    url = hub_url(settings, host) + "hub/api"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HubError(f"JupyterHub stopped (exit code {process.returncode}); its log: {log}\n"
                           + log.read_text()[-3000:])
        try:
            context = ssl._create_unverified_context()  # noqa: S323  (our own loopback, any certificate)
            with urllib.request.urlopen(url, timeout=5, context=context) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise HubError(f"JupyterHub did not answer on {url} within {seconds:.0f} s; its log: {log}")


def start_hub(settings: Settings, background: bool) -> int:
    """Start JupyterHub: in the foreground (this process becomes it) or detached."""
    private = private_folder(Path(settings.root))
    jupyterhub = str(Path(settings.python).parent / "jupyterhub")
    argv = [jupyterhub, "-f", str(private / "jupyterhub_config.py")]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "PYTHON"))}
    env["PATH"] = f"{Path(settings.python).parent}:{SYSTEM_PATH}"  # node for the proxy, the venv's tools
    os.chdir(private)
    if not background:
        sys.stdout.flush()
        os.execve(jupyterhub, argv, env)
    log = private / "jupyterhub.log"
    with open(log, "ab") as output:
        os.chmod(log, 0o600)
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    wait_until_up(settings, process, log)
    print(f"JupyterHub runs in the background (pid {process.pid}); log: {log}; stop it with "
          f"`course hub stop{'' if Path(settings.root) == DEFAULT_ROOT else ' --root ' + settings.root}`")
    return 0


def stop_hub(root: Path, seconds: float = 60) -> bool:
    """Stop the hub (it stops every user's server and the proxy); False if none ran."""
    pid = hub_pid(root)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if hub_pid(root) is None or not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    return True
