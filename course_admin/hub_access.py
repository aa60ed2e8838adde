"""What the students of a hub may read, found by trying as each of them.

Before the hub starts, `check_students_cannot_read` tries, as each student (with the groups
the student's server gets), to open the repository's solutions, answer files and .git, the
instructor's course root (solutions, gradebook.db), the hub's private folder and the other
homes of the class; if any opens it refuses to start and says what to change (`read_fixes`).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from course_admin.hub_accounts import as_account, run_as
from course_admin.hub_folder import HubError, Settings, private_folder


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
