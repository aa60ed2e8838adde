"""JupyterHub configuration of `course hub` (course_admin/hub.py).

`course hub` copies this file into its private folder beside ``settings.json`` and starts
JupyterHub with it, so every value that changes from one class to the next (accounts,
ports, folders, the course's interpreter) is read from there and nothing here needs
editing. What it sets up:

* PAM logins for the local accounts `course hub` made (the instructor and the students),
  no one else; the instructor is the hub's administrator;
* each user's server is a local process running as that user: the course venv's
  ``jupyterhub-singleuser``, JupyterLab by default, with that venv's interpreter as the
  ``python3`` kernel, its threads sized to the user's cores when it starts
  (`course_admin.hub_kernel`; ``JUPYTER_PATH`` comes before a user's own kernelspecs);
* each server, with everything it starts, in a cgroup of its own with the user's CPU and
  memory limits (``course hub --cpu-limit/--mem-limit``; `course_admin.hub_spawner`);
* ``JUPYTER_CONFIG_PATH`` is the role's folder (root-owned, written by `course hub`): the
  nbgrader settings (course id, exchange; for the instructor also the course root and the
  course's grading configuration) and which nbgrader extensions each role has (students:
  Assignments and Validate; the instructor: Formgrader, Create Assignment, Course List too);
* configurable-http-proxy from the folder `course hub` installed it in with npm, run by the
  Node.js it chose (the machine's when 20 or later, else the course venv's).
"""

import json
from pathlib import Path

c = get_config()  # noqa: F821  (injected by traitlets when JupyterHub loads this file)

private = Path(__file__).resolve().parent
settings = json.loads((private / "settings.json").read_text())
root = Path(settings["root"])
venv_bin = str(Path(settings["python"]).parent)

c.JupyterHub.bind_url = f"http{'s' if settings['ssl_cert'] else ''}://{settings['ip']}:{settings['port']}"
if settings["ssl_cert"]:
    c.JupyterHub.ssl_cert = settings["ssl_cert"]
    c.JupyterHub.ssl_key = settings["ssl_key"]
# The hub's own API and the proxy's API listen on loopback ports chosen free at each start.
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings['hub_port']}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
# Run by the Node.js `course hub` chose (hub_proxy.find_node), whatever `env node` would find.
c.ConfigurableHTTPProxy.command = [settings["node"], settings["proxy"]] if settings.get("node") else [settings["proxy"]]
c.ConfigurableHTTPProxy.pid_file = str(private / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{private / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(private / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(private / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {settings["instructor"], *settings["students"]}
c.Authenticator.admin_users = {settings["instructor"]}

# LocalProcessSpawner with each server in a cgroup of its own that enforces these limits (the
# server, its kernels and terminals together): course_admin/hub_limits.py says how, and why
# not SystemdSpawner. `course hub --cpu-limit/--mem-limit` set them; `remove` ends the groups.
c.JupyterHub.spawner_class = "course_admin.hub_spawner.CourseSpawner"
c.Spawner.cpu_limit = float(settings["cpu_limit"])
c.Spawner.mem_limit = f"{settings['mem_limit_mb']}M"
c.CourseSpawner.records = str(private / "cgroups")  # hub_limits.records_folder: `remove` reads it
c.Spawner.cmd = [f"{venv_bin}/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
# Starting JupyterLab with nbgrader's extensions on a busy 2-core machine takes a while.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def _role_config(spawner) -> str:
    """The root-owned Jupyter configuration folder of this user's role."""
    role = "instructor" if spawner.user.name == settings["instructor"] else "student"
    return str(root / "jupyter" / role)


environment = {
    "JUPYTER_CONFIG_PATH": _role_config,
    "JUPYTER_PATH": str(root / "share" / "jupyter"),
    # The course venv first: nbgrader, alembic (the gradebook) and the kernel come from it.
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONNOUSERSITE": "1",  # a user's ~/.local packages must not shadow the course's pins
    "MPLBACKEND": "Agg",
    "TOKENIZERS_PARALLELISM": "false",
}
if settings["offline"]:
    environment.update(COURSE_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
c.Spawner.environment = environment
