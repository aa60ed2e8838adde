"""The course as an nbgrader course root, driven through nbgrader's own API.

A *course root* is a folder with ``nbgrader_config.py``, ``solutions/`` (nbgrader's source
folder) and ``notebooks/`` (its release folder); nbgrader keeps its gradebook
(``gradebook.db``, or any ``--db`` URL nbgrader accepts) and its ``submitted/``,
``autograded/`` and ``feedback/`` folders there. The repository is one; `scratch_course`
makes others (tests, `course check`). Every nbgrader command run in a course root reads its
``nbgrader_config.py``, so ``nbgrader autograde``, Formgrader and ``course autograde`` grade
the same way (sandbox, tests outside the kernel, strict scores, clean feedback).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.warnings import MissingIDFieldWarning
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from course_admin import gradebook, labformat

SOURCE, RELEASE = "solutions", "notebooks"


def course_root() -> Path:
    """The course root: the current folder when it is one (a learner's own clone, whichever
    copy the ``course`` command was installed from), else the installed repository."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (candidate / "nbgrader_config.py").is_file() and (candidate / SOURCE).is_dir():
            return candidate
    raise FileNotFoundError(
        "course root not found: run `course` from the course repository (the folder with "
        "nbgrader_config.py), or install it with `pip install -e .`"
    )


def finished_labs(root: Path | None = None) -> list[str]:
    """Labs with a solution notebook, in course order (lab1, lab2, ...)."""
    root = root or course_root()
    labs = [p.name for p in (root / SOURCE).iterdir() if (p / f"{p.name}.ipynb").is_file()]
    return sorted(labs, key=lambda name: (int(re.match(r"lab(\d+)", name).group(1)), name))


def lab_notebook(lab: str, folder: str = SOURCE, root: Path | None = None) -> Path:
    return (root or course_root()) / folder / lab / f"{lab}.ipynb"


def scratch_course(path: Path, labs: list[str] | None = None, root: Path | None = None) -> Path:
    """A copy of the course root at `path` (configuration, solutions, student notebooks):
    somewhere to grade without touching the repository's gradebook."""
    root = root or course_root()
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", path / "nbgrader_config.py")
    for lab in labs or finished_labs(root):
        for folder in (SOURCE, RELEASE):
            target = path / folder / lab
            target.mkdir(parents=True, exist_ok=True)
            if lab_notebook(lab, folder, root).is_file():
                shutil.copy2(lab_notebook(lab, folder, root), target / f"{lab}.ipynb")
    return path


@contextlib.contextmanager
def grading_environment() -> Iterator[None]:
    """Offline, quiet, and with this interpreter's tools on PATH, for nbgrader and kernels.

    nbgrader creates its gradebook by running the `alembic` executable, which lives
    beside this interpreter in a venv; unsandboxed kernels inherit these variables.
    """
    saved = dict(os.environ)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ.update(COURSE_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                      TOKENIZERS_PARALLELISM="false", JUPYTER_PLATFORM_DIRS="1", MPLBACKEND="Agg")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute_notebook(path: Path, timeout: int = 600,
                     on_cell: Callable[[], None] | None = None) -> tuple[NotebookNode, float]:
    """Run a notebook of the course (trusted: solutions, releases) top to bottom in its
    folder on this interpreter's kernel; return it and the seconds taken. The kernel gets as
    many threads as this process has cores (`course_utils.threads`: it runs beside this
    process, under the same CPU quota), fewer where OMP_NUM_THREADS asks for fewer. `on_cell`
    is called after each code cell (a progress bar's step; `code_cells` counts them)."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    from course_utils.threads import size_threads

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with grading_environment(), tempfile.TemporaryDirectory(prefix="course-ipc-") as sockets:
        size_threads()  # the kernel inherits the variables (grading_environment restores them after)
        # IPC sockets: no TCP port is opened, and ipykernel has no plain-TCP warning to print.
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=manager, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}},
                                on_cell_executed=(lambda **_: on_cell()) if on_cell else None)
        try:
            client.execute()
        finally:  # a client given its manager does not shut the kernel down itself
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return nb, time.perf_counter() - start


def code_cells(nb: NotebookNode) -> int:
    """How many cells `execute_notebook` runs in `nb` (nbclient skips empty code cells)."""
    return sum(cell.cell_type == "code" and bool(cell.source.strip()) for cell in nb.cells)


def stderr_outputs(nb: NotebookNode) -> list[str]:
    """Text written to stderr by any cell of an executed notebook."""
    return [
        output.get("text", "")
        for cell in nb.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]


def leaked_text(source: NotebookNode, release: NotebookNode) -> list[str]:
    """Solution or hidden-test text of `source` that appears in `release` (should be empty).

    Checks the markers, every substantial line of a solution or hidden-test region that does
    not also occur in the visible part of the source notebook, and the source's misspelled
    markers (`labformat.near_misses`): they hide nothing, so what follows them is released.
    """
    release_text = "\n".join(cell.source for cell in release.cells)
    leaks = [marker for marker in labformat.MARKERS if marker in release_text]
    release_lines = {line.strip() for line in release_text.splitlines()}
    leaks += [f"a misspelled marker: {line}" for cell in source.cells for line in labformat.near_misses(cell.source)
              if line in release_lines]
    visible_lines, secret_lines = set(), set()
    for cell in source.cells:
        secrets = labformat.hidden_regions(cell.source) + labformat.solution_regions(cell.source)
        visible = labformat.without_solution(labformat.without_hidden(cell.source))
        visible_lines.update(line.strip() for line in visible.splitlines())
        for region in secrets:
            secret_lines.update(line.strip() for line in region.splitlines() if len(line.strip()) >= 25)
    leaks += sorted((secret_lines - visible_lines) & release_lines)
    return leaks


def fill_submission(
    source: NotebookNode, release: NotebookNode, plan: Mapping[str, str | tuple[str, str]]
) -> NotebookNode:
    """A student notebook: the release with some solution cells answered.

    `plan` maps a solution cell's grade_id to "solution" (the reference answer) or to an
    `(old, new)` text substitution applied to the reference answer (a deliberate mistake).
    Cells not in the plan stay blank. Raises if a substitution does not apply.
    """
    answers = {labformat.grade_id(cell): cell.source for cell in source.cells if labformat.is_answer(cell)}
    student = nbformat.from_dict(release)
    for cell in student.cells:
        grade_id = labformat.grade_id(cell)
        if grade_id not in plan:
            continue
        answer = labformat.without_solution_markers(answers[grade_id])
        if plan[grade_id] != "solution":
            old, new = plan[grade_id]
            if old not in answer:
                raise ValueError(f"{grade_id}: the text to replace, {old!r}, is not in the reference answer")
            answer = answer.replace(old, new)
        cell.source = answer
    return student


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(data: bytes) -> NotebookNode:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        return nbformat.reads(data.decode(), as_version=4)


def _made_by_grading(data: bytes) -> bool:
    """Whether a file is a notebook the course's autograding wrote (its last step marks it)."""
    try:
        return "submission_sha256" in _read(data).metadata.get("course", {})
    except Exception:  # not a notebook at all
        return False


@dataclass
class ExerciseScore:
    """Points of one exercise (its test cells summed) or of one written answer (`manual`)."""

    exercise: str
    score: float
    max_score: float
    manual: bool = False  # a written answer, graded by hand
    pending: bool = False  # a written answer nobody has graded yet


class GradingFailed(RuntimeError):
    """nbgrader could not grade a submission; the message says why, in an instructor's words."""


def failure_reason(log: str) -> str:
    """Why an autograde failed, from nbgrader's log."""
    if "SandboxUnavailable" in log:
        found = re.search(r"SandboxUnavailable: (.*)", log)
        return "not graded: " + (found.group(1)[:300] if found else "no sandbox")
    if "NotebookRefused" in log:
        found = re.search(r"NotebookRefused: (.*)", log)
        return "not graded: " + (found.group(1)[:300] if found else "the notebook is past the course's limits")
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died while running the notebook (a crash, or the memory limit); not graded"
    if "UnresponsiveKernel" in log:
        found = re.search(r"UnresponsiveKernelError: (.*)", log)
        return ((found.group(1)[:200] if found else "the kernel stopped responding") + "; not graded")
    if "CellTimeoutError" in log or "TimeoutError" in log:
        return "a cell ran past the time limit and could not be interrupted; not graded"
    causes = [line.strip() for line in log.splitlines()
              if re.match(r"\s*\w+(\.\w+)*(Error|Exception):", line) and "NbGraderException" not in line]
    return "grading failed: " + (causes[-1][:200] if causes else "unknown error (see the nbgrader log)")


def course_config(path: Path, db_url: str | None = None, cell_timeout: int | None = None,
                  memory_limit_mb: int | None = None, sandbox: bool = True) -> Config:
    """The nbgrader configuration of the course root `path` (its nbgrader_config.py) with a
    command's overrides (`Workspace`'s arguments), as every grading in this process reads it."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(path)).load_config()
    config.CourseDirectory.root = str(path)
    # --db, else nbgrader_config.py's own db_url (as Formgrader reads it), else gradebook.db,
    # where parallel graders wait for SQLite's lock instead of failing.
    db_url = db_url or config.CourseDirectory.get("db_url")
    config.CourseDirectory.db_url = gradebook.normalise_url(db_url) if db_url else \
        f"sqlite:///{path / 'gradebook.db'}?timeout=120"
    if cell_timeout is not None:
        config.Execute.timeout = config.CourseExecute.timeout = cell_timeout
    if memory_limit_mb is not None:
        config.CourseExecute.memory_limit_mb = memory_limit_mb
    if not sandbox:
        config.CourseExecute.sandbox = False
    config.Exchange.root = config.Exchange.get("root", str(path / "exchange"))
    return config


class Workspace:
    """One course root, configured from its nbgrader_config.py, graded through nbgrader's API.

    `db_url` replaces the gradebook (any URL nbgrader accepts); `cell_timeout`,
    `memory_limit_mb` and `sandbox=False` override the configuration for this process.
    """

    def __init__(self, path: Path, labs: list[str] | None = None, db_url: str | None = None,
                 cell_timeout: int | None = None, memory_limit_mb: int | None = None, sandbox: bool = True):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        self.path = Path(path).resolve()
        if not (self.path / "nbgrader_config.py").is_file():
            raise FileNotFoundError(f"{self.path} is not a course root (no nbgrader_config.py)")
        self.labs = labs or finished_labs(self.path)
        config = course_config(self.path, db_url, cell_timeout, memory_limit_mb, sandbox)
        self.config = config
        self.course_id = config.CourseDirectory.get("course_id", "default_course")
        gradebook.check(self.db_url)  # a missing driver or server: one sentence, not a traceback
        with grading_environment():
            gradebook.ensure_schema(self.db_url, self.course_id)  # once, whoever starts first
            self.api = NbGraderAPI(CourseDirectory(config=config), config=config)

    @property
    def db_url(self) -> str:
        return self.config.CourseDirectory.db_url

    def _run(self, action: str, call: Callable[[], dict]) -> dict:
        with grading_environment(), warnings.catch_warnings():
            # nbgrader's gradebook code trips SQLAlchemy's autoflush warning, and the cells
            # it puts back (add_missing_cells) have no id; both are harmless
            warnings.simplefilter("ignore", SAWarning)
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            result = call()
        if not result.get("success"):
            log = f"{result.get('log') or ''}\n{result.get('error') or ''}"
            raise GradingFailed(failure_reason(log) if action.startswith("autograde") else f"nbgrader {action} failed:\n{log}")
        return result

    # -- the assignment
    def release(self, lab: str) -> Path:
        """Generate the student notebook of `lab` (notebooks/) and record the lab in the gradebook."""
        with gradebook.schema_lock(self.db_url):
            self._run(f"generate_assignment {lab}", lambda: self.api.generate_assignment(lab, force=True))
        return self.path / RELEASE / lab / f"{lab}.ipynb"

    def register(self, lab: str) -> bytes:
        """Record `lab` and its cells in the gradebook without touching the release folder
        (grading must never regenerate notebooks/, where a learner may be working); return
        the blank release notebook this generated, as bytes."""
        with gradebook.schema_lock(self.db_url):  # graders sharing a database record it one at a time
            return self._register(lab)

    def ensure_registered(self, lab: str) -> None:
        """Record `lab` unless the gradebook knows it (checked under the lock: two graders
        starting together on an empty database would both record it, and one would crash)."""
        with gradebook.schema_lock(self.db_url):
            if not self.registered(lab):
                self._register(lab)

    def _register(self, lab: str) -> bytes:
        import copy

        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        with tempfile.TemporaryDirectory(prefix=".register-", dir=self.path) as scratch:
            config = copy.deepcopy(self.config)
            config.CourseDirectory.release_directory = Path(scratch).name
            with grading_environment():
                api = NbGraderAPI(CourseDirectory(config=config), config=config)
            self._run(f"generate_assignment {lab}", lambda: api.generate_assignment(lab, force=True))
            return (Path(scratch) / lab / f"{lab}.ipynb").read_bytes()

    def registered(self, lab: str) -> bool:
        """Whether the gradebook knows `lab` (with its notebook's cells)."""
        from nbgrader.api import MissingEntry

        with self._gradebook() as book:
            try:
                book.find_notebook(lab, lab)
            except MissingEntry:
                return False
        return True

    @contextlib.contextmanager
    def _gradebook(self) -> Iterator:
        from nbgrader.api import Gradebook

        with warnings.catch_warnings(), grading_environment():
            warnings.simplefilter("ignore", SAWarning)
            with Gradebook(self.db_url, self.course_id) as book:
                yield book

    # -- submissions
    def submitted_path(self, lab: str, student: str) -> Path:
        return self.path / "submitted" / student / lab / f"{lab}.ipynb"

    def autograded_path(self, lab: str, student: str) -> Path:
        return self.path / "autograded" / student / lab / f"{lab}.ipynb"

    def submit(self, lab: str, student: str, notebook: NotebookNode | Path, timestamp: str | None = None) -> Path:
        """Put a notebook where `nbgrader collect` would (with its timestamp, when known)."""
        target = self.submitted_path(lab, student)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(notebook, Path):
            data = notebook.read_bytes()
            if not (target.is_file() and not target.is_symlink() and target.read_bytes() == data):
                target.unlink(missing_ok=True)  # never write through a link left there
                target.write_bytes(data)
        else:
            nbformat.write(notebook, target)
        if timestamp is not None:
            (target.parent / "timestamp.txt").write_text(timestamp)
        return target

    def autograde(self, lab: str, student: str) -> float:
        """Autograde one submission (nbgrader's Autograde with the course's configuration);
        return the seconds it took. Raises GradingFailed with the reason when it fails."""
        start = time.perf_counter()
        self._run(f"autograde {lab} for {student}", lambda: self.api.autograde(lab, student, force=True))
        return time.perf_counter() - start

    def feedback(self, lab: str, student: str, self_study: bool = False) -> Path:
        """nbgrader's feedback page of one graded notebook; with `self_study`, the page of a
        learner grading their own notebook, model answers and rubrics included (the caller
        decides with `course_admin.self_study.is_self_study`; never for a class)."""
        api = self.api
        if self_study:  # a configuration of its own: the workspace's stays a class's
            from nbgrader.apps import NbGraderAPI
            from nbgrader.coursedir import CourseDirectory

            config = copy.deepcopy(self.config)
            config.StudentFeedback.self_study = True
            api = NbGraderAPI(CourseDirectory(config=config), config=config)
        self._run(f"generate_feedback {lab} for {student}", lambda: api.generate_feedback(lab, student))
        return self.path / "feedback" / student / lab / f"{lab}.html"

    def record(self, lab: str, student: str) -> gradebook.Record | None:
        """What the last grading of this lab left in the gradebook (whichever machine graded)."""
        return gradebook.record(self.db_url, lab, student)

    def graded(self, lab: str, student: str) -> bool:
        """Whether the submission was autograded to the end: the gradebook's record of its
        last grading says so, and, where this course root holds the submission, it is the
        one that was graded (a notebook collected again since is not graded yet)."""
        found = self.record(lab, student)
        submitted = self.submitted_path(lab, student)
        if found is None:  # graded by a course version without the record: the files tell
            path = self.autograded_path(lab, student)
            return path.is_file() and submitted.is_file() and \
                _read(path.read_bytes()).metadata.get("course", {}).get("submission_sha256") == sha256(submitted)
        if found.state != gradebook.GRADED:
            return False
        return not submitted.is_file() or sha256(submitted) == found.submission_sha256

    def not_graded_reason(self, lab: str, student: str) -> str:
        """Why `graded` is False, from the gradebook's record ("" when it has none to give)."""
        found = self.record(lab, student)
        if found is None:
            return ""
        if found.state == gradebook.FAILED:
            return found.error
        if found.state == gradebook.STARTED:
            return "its grading started but did not finish (the grader was stopped, or is still running): " \
                   "run `course autograde` again"
        return "the submission in submitted/ changed since it was graded: run `course autograde` again"

    def flags(self, lab: str, student: str) -> list[str]:
        """What grading flagged for an instructor's look (tampering attempts, code scan)."""
        found = self.record(lab, student)
        path = self.autograded_path(lab, student)
        if found is not None and found.notebook is not None:
            data = found.notebook
        elif path.is_file():
            data = path.read_bytes()
        else:
            return []
        return list(_read(data).metadata.get("course", {}).get("flags", []))

    def sync(self, labs: list[str] | None = None) -> tuple[int, list[str]]:
        """Put every notebook the gradebook records as graded in this course root's
        autograded/ folder (where Formgrader and nbgrader's feedback read it), whichever
        machine graded it. Writes a file that is missing or that an earlier grading of the
        course wrote (its metadata says so); anything else is left alone and named.
        Returns (notebooks written, problems)."""
        written, problems = 0, []
        for lab in labs or self.labs:
            for student in gradebook.graded_students(self.db_url, lab):
                found = self.record(lab, student)
                if found is None or found.notebook is None:
                    continue
                target = self.autograded_path(lab, student)
                if target.is_symlink() or (target.exists() and not target.is_file()):
                    problems.append(f"{target}: not a plain file, left alone")
                    continue
                if target.is_file():
                    current = target.read_bytes()
                    if current == found.notebook:
                        continue
                    if not _made_by_grading(current):
                        problems.append(f"{target}: not a notebook the course graded, left alone")
                        continue
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.{os.getpid()}.sync")
                temporary.write_bytes(found.notebook)
                temporary.replace(target)  # atomic: the old notebook or the new one, never half
                written += 1
        return written, problems

    def grades(self, lab: str, student: str) -> dict[str, tuple[float | None, float]]:
        """(score, max score) per grade cell; score None while a written answer awaits a grader."""
        with self._gradebook() as book:
            submission = book.find_submission_notebook(lab, lab, student)
            return {grade.name: (None if grade.needs_manual_grade else grade.score, grade.max_score)
                    for grade in submission.grades}

    def exercise_scores(self, lab: str, student: str) -> list[ExerciseScore]:
        """Scores summed per exercise (its test cells, `course_admin.labformat.owner`), written answers apart."""
        exercises = labformat.exercise_names(nbformat.read(lab_notebook(lab, root=self.path), as_version=4))
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        pending: set[str] = set()
        for grade_id, (score, max_score) in self.grades(lab, student).items():
            owner = labformat.owner(grade_id, exercises) or grade_id
            totals[owner][0] += score or 0.0
            totals[owner][1] += max_score
            if score is None:
                pending.add(owner)
        written = sorted(set(totals) - set(exercises))
        return [ExerciseScore(name, *totals[name], manual=name in written, pending=name in pending)
                for name in exercises + written if name in totals]

    def students(self, lab: str) -> list[str]:
        """Students with a submission of `lab` in the gradebook."""
        from nbgrader.api import MissingEntry

        with self._gradebook() as book:
            try:
                assignment = book.find_assignment(lab)
            except MissingEntry:
                return []
            return sorted(submission.student.id for submission in assignment.submissions)

    def late_penalty(self, lab: str, student: str) -> float:
        """The late policy applied to the notebook's total as it is now, hand-given points
        included (`gradebook.settle_late_penalty`: stored, so feedback and Formgrader agree)."""
        from traitlets.config import Configurable

        with self._gradebook() as book:
            return gradebook.settle_late_penalty(book, Configurable(config=self.config), lab, lab, student)

    def timestamp(self, lab: str, student: str) -> str:
        with self._gradebook() as book:
            stamp = book.find_submission(lab, student).timestamp
            return stamp.isoformat(sep=" ", timespec="seconds") if stamp else ""
