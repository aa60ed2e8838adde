"""A sandbox per grading kernel: bubblewrap, resource limits, a reduced environment.

Every submission's kernel is started inside `bwrap` (bubblewrap, Debian's ``bubblewrap``
package; no daemon, no root needed) with

* its own network namespace (no network: the grading process talks to it over Unix
  sockets in a private folder, ZMQ's ``ipc`` transport),
* its own PID namespace (it sees only its own processes, and all of them die with it),
* a read-only view of the system (``/usr``), the Python installation, the virtual
  environment and the course's packages, and nothing else of the machine: not the course
  repository (sources, solutions), the gradebook, the reports, other students' files or
  the grader's home,
* a size-capped, private, writable home and ``/tmp`` (tmpfs), with the student's submitted
  files (read-only) in its working folder,
* limits (``prlimit``) on address space, file size, processes and CPU time,
* an environment reduced to what the labs need (offline flags, thread counts, paths).

When the grader runs as root, the kernel also drops to the unprivileged user ``nobody``
(``setpriv``), so that the process limit applies and no file of the machine is writable.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
STUDENT_HOME = "/home/student"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one grading kernel (per process unless said otherwise)."""

    memory_mb: int = 6144  # address space: torch maps ~2.6 GB; a lab peaks under 1 GB resident
    file_mb: int = 256  # largest file the kernel may write
    disk_mb: int = 1024  # home + /tmp together (tmpfs, in memory)
    shm_mb: int = 64  # /dev/shm (tmpfs), as a container gets by default
    processes: int = 1024  # threads count too (torch, ipykernel)
    cpu_seconds: int = 7200
    open_files: int = 4096
    folder_mb: int = 128  # the kernel's folder on the host (sockets, guard log, staged tokenizers)
    folder_files: int = 4096


class SandboxUnavailable(RuntimeError):
    """No working bubblewrap on this machine."""


@functools.lru_cache(maxsize=1)
def problem() -> str | None:
    """Why the sandbox cannot run here (None when it can)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return ("bubblewrap is not installed (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
                "Fedora: `sudo dnf install bubblewrap`)")
    for tool in ("prlimit", "setpriv") if os.geteuid() == 0 else ("prlimit",):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    try:
        probe = subprocess.run([bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap cannot start: {error}"
    if probe.returncode != 0:
        return ("bubblewrap cannot create namespaces here (unprivileged user namespaces may be "
                f"disabled): {probe.stderr.strip()[:300]}")
    return None


def _namespaces() -> list[str]:
    # As root, no user namespace: the kernel drops to `nobody` itself (setpriv), which also
    # makes RLIMIT_NPROC apply (the kernel ignores it for root). Otherwise bubblewrap creates
    # a user namespace, the way it always does unprivileged.
    shared = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    return shared if os.geteuid() == 0 else ["--unshare-user", *shared]


def package_roots() -> list[Path]:
    """The folders the grader imported the course packages from: the kernel's PYTHONPATH, so
    that it imports the same course_utils and course_admin (an editable install or a
    PYTHONPATH of the grader may point elsewhere than the venv's own mapping; in the sandbox
    those folders hold nothing but the two packages)."""
    import course_admin
    import course_utils

    return sorted({Path(module.__file__).resolve().parent.parent for module in (course_utils, course_admin)})


def readonly_paths() -> list[Path]:
    """What the kernel may read: the Python installation, the venv, the course packages."""
    import course_admin
    import course_utils

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(course_utils.__file__).resolve().parent, Path(course_admin.__file__).resolve().parent}
    # Keep only the outermost of nested paths (a venv inside the repository, for instance).
    return sorted(p for p in paths if not any(other != p and other in p.parents for other in paths))


_SYSTEM = ("/usr",)
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "localtime", "timezone", "fonts",
        "alternatives", "mime.types", "ssl/certs")


class _Mounts:
    """bwrap arguments, creating each destination's parent folders world-readable (bwrap
    would create them 0700 when run as root, and `nobody` could not reach what is inside);
    those made inside the writable home stay writable (matplotlib refuses a cache folder it
    cannot write to, and warns on stderr, which fails a graded cell)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._made: set[str] = {"/"}

    def parents(self, destination: str) -> None:
        for parent in reversed(Path(destination).parents):
            if str(parent) not in self._made:
                perms = "0777" if parent.is_relative_to(STUDENT_HOME) else "0755"
                self.args += ["--perms", perms, "--dir", str(parent)]
                self._made.add(str(parent))

    def add(self, option: str, source: str, destination: str | None = None) -> None:
        destination = destination or source
        self.parents(destination)
        self.args += [option, source, destination]
        self._made.add(destination)

    def folder(self, destination: str, perms: str = "0755", size_mb: int | None = None) -> None:
        self.parents(destination)
        if size_mb is None:
            self.args += ["--perms", perms, "--dir", destination]
        else:
            self.args += ["--perms", perms, "--size", str(size_mb * 2**20), "--tmpfs", destination]
        self._made.add(destination)


def command(kernel_argv: list[str], *, ipc: Path, workdir: str, files: list[Path], environment: dict[str, str],
            limits: Limits = Limits(), extra: dict[str, Path] | None = None) -> list[str]:
    """The command line that starts `kernel_argv` in a sandbox.

    `ipc` (writable, same path inside) holds the connection file and sockets; `files` are
    the student's submitted files, shown read-only in the working folder `workdir` (a
    folder under the sandbox's home); `extra` maps paths inside to files shown read-only
    there (caches the grader built once).
    """
    mounts = _Mounts()
    for path in _SYSTEM:
        mounts.add("--ro-bind", path)
    for path in _SYSTEM_LINKS:
        if os.path.islink(path):
            mounts.args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            mounts.add("--ro-bind", path)
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            mounts.add("--ro-bind", f"/etc/{name}")
    mounts.args += ["--proc", "/proc", "--dev", "/dev"]
    # POSIX semaphores and shared memory live in /dev/shm: without a writable one,
    # multiprocessing's locks fail and joblib (imported by lime through scikit-learn)
    # warns on stderr.
    mounts.folder("/dev/shm", perms="1777", size_mb=limits.shm_mb)
    mounts.folder("/tmp", perms="1777", size_mb=limits.disk_mb // 2)
    mounts.folder(STUDENT_HOME, perms="0777", size_mb=limits.disk_mb // 2)
    mounts.folder(workdir, perms="0777")
    for path in files:
        mounts.add("--ro-bind", str(path), f"{workdir}/{path.name}")
    for destination, source in (extra or {}).items():
        mounts.add("--ro-bind", str(source), destination)
    for path in readonly_paths():
        mounts.add("--ro-bind", str(path))
    mounts.add("--bind", str(ipc))
    sandbox = ["bwrap", "--die-with-parent", "--new-session", *_namespaces(), "--hostname", "grading",
               *mounts.args, "--chdir", workdir, "--clearenv"]
    for key, value in environment.items():
        sandbox += ["--setenv", key, value]
    sandbox.append("--")
    if os.geteuid() == 0:
        sandbox += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                    "--bounding-set=-all", "--inh-caps=-all"]
    sandbox += ["prlimit", f"--as={limits.memory_mb * 2**20}", f"--fsize={limits.file_mb * 2**20}",
                f"--nproc={limits.processes}", f"--cpu={limits.cpu_seconds}", f"--nofile={limits.open_files}",
                "--core=0", "--"]
    return sandbox + kernel_argv


def prepare_ipc(folder: Path) -> None:
    """Make the kernel's private folder writable for the user the kernel will run as."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)


def cap_folder(folder: Path, limits: Limits = Limits()) -> str | None:
    """Make `folder` (new, empty: the kernel's private folder on the host) a size-limited tmpfs,
    so that what the kernel writes there cannot fill the host's disk; None when done, else why
    not (only root may mount; then RLIMIT_FSIZE bounds each file, not their sum). Its pages
    count towards the memory of the sandbox's cgroup when the kernel writes them."""
    if os.geteuid() != 0:
        return "only root can mount a size-limited folder"
    owner = f",uid={NOBODY},gid={NOBODY}"
    options = f"size={limits.folder_mb}m,nr_inodes={limits.folder_files},mode=0700,nosuid,nodev{owner}"
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "course-k", str(folder)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"mount failed: {error}"
    return None if result.returncode == 0 else f"mount failed: {result.stderr.strip()[:200]}"


def folder_full(folder: Path) -> bool:
    """Whether a capped folder is (nearly) full: a kernel that wrote up to the cap."""
    try:
        usage = os.statvfs(folder)
    except OSError:
        return False
    return usage.f_bavail < usage.f_blocks * 0.1 or usage.f_favail < usage.f_files * 0.1


def release_folder(folder: Path) -> None:
    """Unmount a folder `cap_folder` mounted (lazily: a process still holding a file there
    cannot keep it, and its memory is freed when the last one closes)."""
    subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, timeout=30)


def matplotlib_font_cache() -> Path | None:
    """matplotlib's font list, built once by the grader: shown read-only in each sandbox's
    home, so a kernel does not spend a second rebuilding it (its home is new every time)."""
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    return path if path.is_file() else None
