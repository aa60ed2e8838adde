"""`course hub`: the course on a JupyterHub for a small class, on one Linux machine.

    course hub --instructor teacher --students alice,bob [--port 8000] [--ip 0.0.0.0]
               [--password-file FILE] [--root /srv/course-hub] [--exchange /srv/nbgrader/exchange]
               [--offline] [--background] [--ssl-cert CERT --ssl-key KEY]
    course hub stop   [--root DIR]
    course hub remove --yes [--root DIR]

Run as root, `course hub` sets up what is missing, then starts JupyterHub (in the
foreground, or detached with ``--background``; ``course hub stop`` stops it). Running it
again changes nothing that exists, so it is also how the hub is restarted:

* a local account per student and for the instructor (``useradd``; home readable by its
  owner only); passwords from ``--password-file`` (``user:password`` lines, as chpasswd
  reads them) or generated once, kept in the hub's private folder and printed at start;
  an account that existed before keeps its password unless the file names it;
* nbgrader's exchange (world-writable with the sticky bit, as nbgrader's documentation says);
* the instructor's course root, ``~instructor/<course id>``: a copy of this repository's
  ``nbgrader_config.py``, ``solutions/`` and ``notebooks/``, owned by the instructor, with
  every lab recorded in its gradebook (``generate_assignment``), ready to release from
  Formgrader; Formgrader grades through that configuration (the sandbox included);
* Jupyter configuration per role, in root-owned folders the hub puts first on each server's
  ``JUPYTER_CONFIG_PATH``: students get nbgrader's Assignments tab and Validate button only;
  the instructor also Formgrader, Create Assignment and Course List; both get the course id
  and the exchange, and a ``python3`` kernel that is the course venv's interpreter;
* configurable-http-proxy, installed with npm into the hub's folder (``proxy/``);
* JupyterHub: PAM logins for these accounts only, each server a local process running as
  its user (the course venv's ``jupyterhub-singleuser``, JupyterLab).

``course hub remove --yes`` stops the hub and deletes what `course hub` created: the
accounts it added (with their homes: students' work and the instructor's gradebook), the
exchange if it made it, and its folder.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HUB_FILES = Path(__file__).resolve().parent / "hub_files"
DEFAULT_ROOT = Path("/srv/course-hub")
DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")
PROXY_PACKAGE = "configurable-http-proxy"
PROXY_VERSION = "5.3.0"  # needs node >= 20
MIN_NODE = 20
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# nbgrader's extensions per role (nbgrader's docs, "Using nbgrader with JupyterHub").
SERVER_EXTENSIONS = ("formgrader", "assignment_list", "course_list", "validate_assignment")
LAB_PLUGINS = ("formgrader", "assignment-list", "course-list", "create-assignment", "validate-assignment")
STUDENT_TOOLS = {"assignment_list", "validate_assignment", "assignment-list", "validate-assignment"}
# JupyterLab's news feed asks every new user whether to fetch news from the internet.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)


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
    hub_port: int = 0
    proxy_api_port: int = 0


@dataclass
class State:
    """What `course hub` created (private/state.json), so that `remove` deletes only that."""

    created_users: list[str] = field(default_factory=list)
    created_exchange: bool = False

    @classmethod
    def load(cls, root: Path) -> State:
        path = private_folder(root) / "state.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else cls()

    def save(self, root: Path) -> None:
        write_private(private_folder(root) / "state.json", json.dumps(asdict(self), indent=1))


# ------------------------------------------------------------------------------ helpers
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


def run(argv: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run a system command; raise HubError with its own message when it fails."""
    tool = shutil.which(argv[0], path=SYSTEM_PATH) or argv[0]  # root's PATH may lack /usr/sbin
    result = subprocess.run([tool, *argv[1:]], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise HubError(f"{' '.join(argv[:3])} failed: {(result.stderr or result.stdout).strip()[:500]}")
    return result


def run_as(user: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `argv` as `user` (in their home, with their groups dropped to their own and a
    private umask): what the instructor's own server would do, without root's rights."""
    entry = pwd.getpwnam(user)
    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
           "PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}", **(extra_env or {})}
    return subprocess.run(argv, user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], env=env,
                          cwd=entry.pw_dir, umask=0o077, capture_output=True, text=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_names(text: str) -> list[str]:
    """Comma-separated account names, checked, in order, without repeats."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    for name in names:
        if not NAME.match(name):
            raise HubError(f"{name!r} is not a valid account name (lower-case letters, digits, - and _; "
                           "starting with a letter; at most 32 characters)")
    return names


def first_regular_uid() -> int:
    """UID_MIN of /etc/login.defs: accounts below it belong to the system."""
    try:
        found = re.search(r"^\s*UID_MIN\s+(\d+)", Path("/etc/login.defs").read_text(), re.M)
    except OSError:
        found = None
    return int(found.group(1)) if found else 1000


def read_password_file(path: Path) -> dict[str, str]:
    """`user:password` lines (chpasswd's format); blank lines and # comments skipped."""
    passwords: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not password:
            raise HubError(f"{path}:{number}: expected user:password")
        passwords[user.strip()] = password
    return passwords


# ------------------------------------------------------------------------------ set-up steps
def check_host(needs_node: bool = True) -> None:
    """Root on Linux, with the system tools the set-up uses."""
    if sys.platform != "linux":
        raise HubError("course hub runs on Linux (local accounts, PAM, bubblewrap)")
    if os.geteuid() != 0:
        raise HubError("course hub creates accounts and logs users in with PAM: run it as root")
    tools = ["useradd", "userdel", "chpasswd"] + (["node", "npm"] if needs_node else [])
    missing = [tool for tool in tools if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing:
        raise HubError(f"missing system tools: {', '.join(missing)} (Debian: apt-get install passwd nodejs npm)")


def ensure_account(name: str, state: State) -> bool:
    """Create `name` (home 0700, bash) unless it exists; True when it was created.
    Refuses system accounts: a hub login as one of them would run a server with its rights."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
        if name not in state.created_users:
            state.created_users.append(name)
        return True
    if entry.pw_uid < first_regular_uid():
        raise HubError(f"{name} is a system account (uid {entry.pw_uid}); choose another name")
    if name in state.created_users:
        os.chmod(entry.pw_dir, 0o700)  # ours: keep the home private even if someone opened it
    return False


def set_passwords(passwords: dict[str, str]) -> None:
    """Set account passwords with chpasswd (on its standard input: never on a command line)."""
    if passwords:
        run(["chpasswd"], stdin="".join(f"{user}:{password}\n" for user, password in passwords.items()))


def ensure_exchange(exchange: Path, state: State) -> None:
    """nbgrader's exchange: every user may create entries, nobody may delete others' (1777)."""
    if not exchange.exists():
        exchange.mkdir(parents=True, mode=0o755)
        state.created_exchange = True
    os.chmod(exchange, 0o1777)


def nbgrader_student_config(settings: Settings) -> str:
    """The students' nbgrader_config.py: where the exchange is, which course, Validate's limits."""
    return (f'"""nbgrader settings for the students of this hub (written by `course hub`)."""\n\n'
            f"c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
            f"c.Exchange.root = {settings.exchange!r}\n"
            f"# Validate runs the whole lab: the course's limits, not nbgrader's 30 s per cell.\n"
            f"c.Execute.timeout = {settings.cell_timeout}\n"
            f"c.Execute.startup_timeout = {settings.startup_timeout}\n")


def nbgrader_instructor_config(settings: Settings) -> str:
    """The instructor's nbgrader_config.py: the course root and its own grading configuration."""
    course_config = str(Path(settings.course_root) / "nbgrader_config.py")
    return (f'"""nbgrader settings for the instructor on this hub (written by `course hub`).\n\n'
            f"Formgrader and nbgrader's commands read the course's own configuration (grading in\n"
            f'the sandbox, the tests outside the kernel, the feedback template) from the course root."""\n\n'
            f"c = get_config()  # noqa: F821\n"
            f"load_subconfig({course_config!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {settings.course_root!r}\n"
            f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
            f"c.Exchange.root = {settings.exchange!r}\n")


def role_extensions(role: str) -> tuple[dict[str, bool], dict[str, bool]]:
    """(server extensions enabled, lab plugins disabled) for a role: students get nbgrader's
    Assignments tab and Validate only; the instructor everything."""
    instructor = role == "instructor"
    server = {f"nbgrader.server_extensions.{name}": instructor or name in STUDENT_TOOLS for name in SERVER_EXTENSIONS}
    # Explicit true/false at the highest level: nothing a lower level says can change a role.
    disabled = {f"@jupyter/nbgrader:{name}": not (instructor or name in STUDENT_TOOLS) for name in LAB_PLUGINS}
    disabled.update({plugin: True for plugin in QUIET_PLUGINS})
    return server, disabled


def write_role_tools(folder: Path, role: str) -> None:
    """One Jupyter configuration folder (a venv's etc/jupyter, say) set up for `role`: the
    two files `course tools` writes; other lab settings in page_config.json are kept."""
    server, disabled = role_extensions(role)
    (folder / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_server_config.d" / "course-tools.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": server}}, indent=1))
    page = folder / "labconfig" / "page_config.json"
    page.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(page.read_text()) if page.is_file() else {}
    current["disabledExtensions"] = {**current.get("disabledExtensions", {}), **disabled}
    page.write_text(json.dumps(current, indent=1))


def role_files(settings: Settings, role: str) -> dict[str, str]:
    """The files of one role's Jupyter configuration folder (relative path -> text)."""
    instructor = role == "instructor"
    server, disabled = role_extensions(role)
    return {
        "nbgrader_config.py": nbgrader_instructor_config(settings) if instructor else nbgrader_student_config(settings),
        "jupyter_server_config.d/course-hub.json": json.dumps({"ServerApp": {"jpserver_extensions": server}}, indent=1),
        "labconfig/page_config.json": json.dumps({"disabledExtensions": disabled}, indent=1),
    }


def kernelspec(python: str) -> str:
    """The `python3` kernel every server of the hub offers: the course venv's interpreter."""
    return json.dumps({"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                       "display_name": "Python 3 (course)", "language": "python",
                       "metadata": {"debugger": True}}, indent=1)


def write_jupyter_config(settings: Settings) -> None:
    """Both roles' configuration folders and the hub's `python3` kernelspec (root-owned, 0644)."""
    root = Path(settings.root)
    for role in ("student", "instructor"):
        for relative, text in role_files(settings, role).items():
            write_public(root / "jupyter" / role / relative, text)
    write_public(root / "share" / "jupyter" / "kernels" / "python3" / "kernel.json", kernelspec(settings.python))


def prepare_course(repository: str, destination: str, students: list[str]) -> None:
    """Run as the instructor: copy the course root (first time only), record every lab in
    its gradebook (so that Formgrader can release it) and every student (so that Formgrader's
    Manage Students lists the class, missing submissions included). Prints what it did."""
    from nbgrader.api import Gradebook, MissingEntry

    from course_admin import pipeline

    target = Path(destination)
    if not (target / "nbgrader_config.py").is_file():
        source = Path(repository)
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        shutil.copy2(source / "nbgrader_config.py", partial / "nbgrader_config.py")
        for folder in (pipeline.SOURCE, pipeline.RELEASE):
            shutil.copytree(source / folder, partial / folder,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        partial.rename(target)  # whole or not at all: a second run sees a complete course
        print(f"copied the course to {target}")
    workspace = pipeline.Workspace(target)
    for lab in workspace.labs:
        if not workspace.registered(lab):
            workspace.release(lab)
            print(f"recorded {lab} in {target / 'gradebook.db'}")
    with Gradebook(workspace.db_url) as gradebook:
        for student in students:
            try:
                gradebook.find_student(student)
            except MissingEntry:
                gradebook.add_student(student)
                print(f"recorded student {student}")


def set_up_course(settings: Settings) -> None:
    """The instructor's course root, made by the instructor's own account."""
    from course_admin import pipeline

    code = "import sys; from course_admin import hub; hub.prepare_course(sys.argv[1], sys.argv[2], sys.argv[3:])"
    result = run_as(settings.instructor, [settings.python, "-c", code, str(pipeline.course_root()),
                                          settings.course_root, *settings.students],
                    {"COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    if result.returncode != 0:
        raise HubError(f"preparing the course for {settings.instructor} failed:\n{result.stderr.strip()[-2000:]}")
    for line in result.stdout.splitlines():
        print(f"  {line}")


def check_interpreter_for(user: str, python: str) -> None:
    """The course's interpreter and packages must run for every user of the hub: a venv
    made from a Python under /root (pyenv's, for instance) cannot."""
    try:
        result = run_as(user, [python, "-c", "import course_admin, nbgrader, jupyterhub"])
        problem = result.stderr.strip()[-500:] if result.returncode else ""
    except PermissionError as error:
        problem = str(error)
    if problem:
        raise HubError(f"{user} cannot run the course's interpreter {python} (it resolves to "
                       f"{Path(python).resolve()}): {problem}\nEvery account must be able to read and run the "
                       "venv, its base Python and the repository: make the venv from a system-wide Python, "
                       "e.g. `/usr/bin/python3.11 -m venv .venv`, in a folder every user can traverse.")


def sandbox_problem_for(user: str, python: str) -> str | None:
    """Why the grading sandbox cannot start for `user` (None when it can): Formgrader grades
    as the instructor, so bubblewrap runs unprivileged, in a user namespace."""
    code = "from course_admin import sandbox; print(sandbox.problem() or '')"
    result = run_as(user, [python, "-c", code])
    if result.returncode != 0:
        return result.stderr.strip()[-500:]
    return result.stdout.strip() or None


def node_major() -> int:
    """Node.js's major version (configurable-http-proxy 5 needs 20 or later)."""
    output = run(["node", "--version"]).stdout.strip().lstrip("v")
    return int(output.split(".")[0])


def install_proxy(root: Path) -> Path:
    """configurable-http-proxy from the npm registry into root/proxy (once per version)."""
    prefix = root / "proxy"
    command = prefix / "node_modules" / ".bin" / PROXY_PACKAGE
    manifest = prefix / "node_modules" / PROXY_PACKAGE / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("version") == PROXY_VERSION:
        return command
    if node_major() < MIN_NODE:
        raise HubError(f"{PROXY_PACKAGE} {PROXY_VERSION} needs node >= {MIN_NODE}")
    prefix.mkdir(parents=True, exist_ok=True, mode=0o755)
    print(f"installing {PROXY_PACKAGE}@{PROXY_VERSION} with npm into {prefix}")
    run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--omit=dev",
         "--save-exact", f"{PROXY_PACKAGE}@{PROXY_VERSION}"])
    return command


def course_settings() -> dict[str, str | int]:
    """From the repository's nbgrader_config.py: the course id, and the execution limits that
    students' Validate should share with grading (nbgrader's own cell timeout is 30 s)."""
    from traitlets.config.loader import PyFileConfigLoader

    from course_admin import pipeline

    config = PyFileConfigLoader("nbgrader_config.py", path=str(pipeline.course_root())).load_config()
    found = {"course_id": config.CourseDirectory.course_id}
    for key, name in (("cell_timeout", "timeout"), ("startup_timeout", "startup_timeout")):
        if name in config.Execute:
            found[key] = int(config.Execute[name])
    return found


# ------------------------------------------------------------------------------ the hub process
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


# ------------------------------------------------------------------------------ commands
def passwords_for(settings: Settings, created: list[str], given: dict[str, str], root: Path) -> dict[str, str]:
    """Set passwords: the file's, and a generated one for each new account; return those
    known to the hub (stored root-only, so a second run prints the same ones)."""
    store_path = private_folder(root) / "passwords"
    store = read_password_file(store_path) if store_path.is_file() else {}
    users = [settings.instructor, *settings.students]
    changes = {user: given[user] for user in users if user in given}
    for user in created:
        if user not in changes:
            changes[user] = secrets.token_urlsafe(9)
    set_passwords(changes)
    store.update(changes)
    write_private(store_path, "".join(f"{user}:{password}\n" for user, password in store.items()))
    return {user: store[user] for user in users if user in store}


def configure(args: argparse.Namespace) -> Settings:
    """Every set-up step (idempotent); returns the hub's settings, written for its config."""
    check_host()
    instructor = parse_names(args.instructor or "")
    students = parse_names(args.students or "")
    if len(instructor) != 1:
        raise HubError("give one instructor account: --instructor NAME")
    if not students:
        raise HubError("give the students' accounts: --students alice,bob")
    if instructor[0] in students:
        raise HubError(f"{instructor[0]} cannot be both the instructor and a student")
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise HubError("give both --ssl-cert and --ssl-key, or neither")
    given = read_password_file(Path(args.password_file)) if args.password_file else {}
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    os.chmod(root, 0o755)
    private = private_folder(root)
    private.mkdir(exist_ok=True, mode=0o700)
    os.chmod(private, 0o700)
    state = State.load(root)

    created = [name for name in (*instructor, *students) if ensure_account(name, state)]
    state.save(root)
    home = pwd.getpwnam(instructor[0]).pw_dir
    settings = Settings(instructor=instructor[0], students=students, root=str(root),
                        exchange=str(Path(args.exchange).resolve()), python=sys.executable, course_root="",
                        port=args.port, ip=args.ip, offline=args.offline, ssl_cert=args.ssl_cert or "",
                        ssl_key=args.ssl_key or "", **course_settings())
    settings.course_root = str(Path(home) / settings.course_id)
    passwords = passwords_for(settings, created, given, root)
    ensure_exchange(Path(settings.exchange), state)
    state.save(root)
    write_jupyter_config(settings)
    check_interpreter_for(settings.instructor, settings.python)
    set_up_course(settings)
    problem = sandbox_problem_for(settings.instructor, settings.python)
    if problem:
        raise HubError(f"Formgrader grades as {settings.instructor}, and the grading sandbox cannot start for "
                       f"that account: {problem}")
    settings.proxy = str(install_proxy(root))
    settings.hub_port, settings.proxy_api_port = free_port(), free_port()
    write_private(private / "settings.json", json.dumps(asdict(settings), indent=1))
    write_private(private / "jupyterhub_config.py", (HUB_FILES / "jupyterhub_config.py").read_text())
    print_summary(settings, passwords, created)
    return settings


def print_summary(settings: Settings, passwords: dict[str, str], created: list[str]) -> None:
    """Where the hub answers, who may log in (with the passwords the hub knows), where things are."""
    url = hub_url(settings)
    print(f"\nJupyterHub for {settings.course_id}: {url}")
    for role, user in [("instructor", settings.instructor)] + [("student", s) for s in settings.students]:
        password = passwords.get(user, "(existing account: its own password)")
        print(f"  {role:<10}  {user:<16}  {password}{'   (new account)' if user in created else ''}")
    print(f"Formgrader (instructor, in its own browser tab): {url}user/{settings.instructor}/formgrader\n"
          f"Course root: {settings.course_root}; exchange: {settings.exchange}")


def cmd_start(args: argparse.Namespace) -> int:
    """Set up what is missing, then start the hub (refused while one runs from the same folder)."""
    root = Path(args.root).resolve()
    if hub_pid(root) is not None:
        raise HubError(f"a hub already runs from {root}: `course hub stop` first")
    settings = configure(args)
    return start_hub(settings, args.background)


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the hub of --root, if one runs."""
    check_host(needs_node=False)
    stopped = stop_hub(Path(args.root).resolve())
    print("JupyterHub stopped" if stopped else "no hub was running")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Stop the hub and delete what `course hub` created (accounts, exchange, its folder)."""
    check_host(needs_node=False)
    root = Path(args.root).resolve()
    if not args.yes:
        raise HubError("this deletes the accounts `course hub` made, with their homes (students' work, the "
                       "instructor's gradebook): add --yes")
    stop_hub(root)
    state = State.load(root)
    settings_path = private_folder(root) / "settings.json"
    exchange = json.loads(settings_path.read_text())["exchange"] if settings_path.is_file() else None
    for user in state.created_users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        run(["userdel", "--remove", user])
        print(f"deleted account {user}")
    if exchange and state.created_exchange:
        shutil.rmtree(exchange, ignore_errors=True)
        print(f"deleted {exchange}")
    shutil.rmtree(root, ignore_errors=True)
    print(f"deleted {root}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """`course hub` and its options, on the `course` command's sub-parsers."""
    hub = commands.add_parser("hub", help="a JupyterHub for a small class on this machine",
                              description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    hub.add_argument("action", nargs="?", choices=["start", "stop", "remove"], default="start",
                     help="start (default: set up what is missing, then start), stop, or remove")
    hub.add_argument("--instructor", help="the instructor's account (created if missing)")
    hub.add_argument("--students", help="students' accounts, comma-separated (created if missing)")
    hub.add_argument("--password-file", help="user:password lines; accounts not named get generated passwords")
    hub.add_argument("--port", type=int, default=8000, help="public port (default 8000)")
    hub.add_argument("--ip", default="", help="address to listen on (default: all)")
    hub.add_argument("--root", default=str(DEFAULT_ROOT), help=f"the hub's folder (default {DEFAULT_ROOT})")
    hub.add_argument("--exchange", default=str(DEFAULT_EXCHANGE),
                     help=f"nbgrader's exchange (default {DEFAULT_EXCHANGE})")
    hub.add_argument("--offline", action="store_true",
                     help="servers and kernels never try the Hugging Face hub (embedded models)")
    hub.add_argument("--background", action="store_true", help="start detached; `course hub stop` stops it")
    hub.add_argument("--ssl-cert", help="TLS certificate for the public port (with --ssl-key)")
    hub.add_argument("--ssl-key", help="TLS key for the public port")
    hub.add_argument("--yes", action="store_true", help="confirm `remove`")


def cmd_hub(args: argparse.Namespace) -> int:
    """Run `course hub ACTION`; a HubError is printed as one message (exit code 2)."""
    handlers = {"start": cmd_start, "stop": cmd_stop, "remove": cmd_remove}
    try:
        return handlers[args.action](args)
    except HubError as error:
        print(f"course hub: {error}", file=sys.stderr)
        return 2
