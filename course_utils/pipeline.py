"""Drive nbgrader and notebook execution for the `course` command and the test suite.

Everything goes through nbgrader's own API (`NbGraderAPI`) and a real SQLite gradebook,
inside a *workspace*: a scratch nbgrader course root (solutions copied in, gradebook,
submitted/, autograded/, feedback/), so grading never writes into the repository.
"""

from __future__ import annotations

import contextlib
import json
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

from course_utils import guard

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "HIDDEN TESTS")
_HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
_SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)


# Address-space cap per grading kernel. A lab's kernel peaks near 2.6 GB of address space
# (torch maps large libraries) and 0.7 GB resident; 6 GB leaves room and still stops a
# runaway allocation long before it hurts the machine or the other graders.
DEFAULT_MEMORY_LIMIT_MB = 6144


@dataclass
class Tampering:
    """A guarded function found rebound after (`during`) or before (`before`) a cell ran."""

    grade_id: str
    when: str
    changed: list[str]
    is_test: bool


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def course_root() -> Path:
    """The folder that holds nbgrader_config.py, solutions/ and notebooks/."""
    for candidate in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (candidate / "nbgrader_config.py").is_file() and (candidate / "solutions").is_dir():
            return candidate
    raise FileNotFoundError(
        "course root not found: run `course` from the course repository (the folder with "
        "nbgrader_config.py), or install it with `pip install -e .`"
    )


def finished_labs(root: Path | None = None) -> list[str]:
    """Labs with a solution notebook, in course order (lab1, lab2, ...)."""
    root = root or course_root()
    labs = [p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()]
    return sorted(labs, key=lambda name: (int(re.match(r"lab(\d+)", name).group(1)), name))


def lab_notebook(lab: str, folder: str = "solutions", root: Path | None = None) -> Path:
    return (root or course_root()) / folder / lab / f"{lab}.ipynb"


@contextlib.contextmanager
def grading_environment() -> Iterator[None]:
    """Offline, quiet, and with this interpreter's tools on PATH, for nbgrader and kernels.

    nbgrader creates its gradebook by running the `alembic` executable, which lives
    beside this interpreter in a venv; kernels inherit these variables, so labs load the
    embedded models without waiting for the hub.
    """
    saved = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.update(
        COURSE_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        JUPYTER_PLATFORM_DIRS="1",
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute_notebook(path: Path, timeout: int = 600) -> tuple[NotebookNode, float]:
    """Run a notebook top to bottom in its folder on the `python3` kernel; return it and the seconds taken."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with grading_environment(), tempfile.TemporaryDirectory(prefix="course-ipc-") as sockets:
        # IPC sockets (absolute path: the kernel runs in the notebook's folder): no TCP
        # port is opened for the kernel, and ipykernel has no plain-TCP warning to print.
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=manager, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:  # a client given its manager does not shut the kernel down itself
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return nb, time.perf_counter() - start


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

    Checks the markers and every substantial line of a solution or hidden-test region
    that does not also occur in the visible part of the source notebook.
    """
    release_text = "\n".join(cell.source for cell in release.cells)
    leaks = [marker for marker in SOLUTION_MARKERS if marker in release_text]
    visible_lines, secret_lines = set(), set()
    for cell in source.cells:
        secrets = _HIDDEN_REGION.findall(cell.source) + _SOLUTION_REGION.findall(cell.source)
        visible = _SOLUTION_REGION.sub("", _HIDDEN_REGION.sub("", cell.source))
        visible_lines.update(line.strip() for line in visible.splitlines())
        for region in secrets:
            secret_lines.update(line.strip() for line in region.splitlines() if len(line.strip()) >= 25)
    release_lines = {line.strip() for line in release_text.splitlines()}
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
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    student = nbformat.from_dict(release)
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in plan:
            continue
        answer = _SOLUTION_MARKER_LINES.sub("", answers[grade_id])
        if plan[grade_id] != "solution":
            old, new = plan[grade_id]
            if old not in answer:
                raise ValueError(f"{grade_id}: the text to replace, {old!r}, is not in the reference answer")
            answer = answer.replace(old, new)
        cell.source = answer
    return student


_SOLUTION_MARKER_LINES = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


@dataclass
class ExerciseScore:
    """Points of one exercise (its test cells summed) or of one written answer (`manual`)."""

    exercise: str
    score: float
    max_score: float
    manual: bool = False  # a written answer, graded by hand
    pending: bool = False  # a written answer nobody has graded yet


class Workspace:
    """A scratch nbgrader course root for the given labs, configured like the course."""

    def __init__(self, path: Path, labs: list[str] | None = None, root: Path | None = None,
                 memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB, cell_timeout: int | None = None,
                 copy_sources: bool = True):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self.root = root or course_root()
        self.path = Path(path).resolve()
        self.labs = labs or finished_labs(self.root)
        self.memory_limit_mb = memory_limit_mb
        self.path.mkdir(parents=True, exist_ok=True)
        if copy_sources:  # a parallel worker reuses the sources its parent copied
            for lab in self.labs:
                target = self.path / "source" / lab
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(lab_notebook(lab, root=self.root), target / f"{lab}.ipynb")
            startup = self.path / "ipython" / "profile_default" / "startup"
            startup.mkdir(parents=True, exist_ok=True)
            (startup / "00-course-guard.py").write_text(guard.STARTUP_SCRIPT)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.path)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        # Parallel graders share this gradebook: wait for SQLite's lock instead of failing.
        config.CourseDirectory.db_url = f"sqlite:///{self.path / 'gradebook.db'}?timeout=120"
        if cell_timeout is not None:
            config.Execute.timeout = cell_timeout
        config.Exchange.root = str(self.path / "exchange")
        # Kernels talk to the grader over IPC sockets in the workspace, not TCP ports.
        (self.path / "ipc").mkdir(exist_ok=True)
        config.KernelManager.transport = "ipc"
        # One prefix per process: parallel graders picking socket names at the same moment
        # would otherwise pick the same ones, and one kernel would never answer.
        config.KernelManager.ip = str(self.path / "ipc" / f"kernel{os.getpid()}")
        self.config = config
        with grading_environment():
            self.api = NbGraderAPI(CourseDirectory(config=config), config=config)

    def _run(self, action: str, call: Callable[[], dict]) -> dict:
        with grading_environment(), warnings.catch_warnings():
            # nbgrader's gradebook code trips SQLAlchemy's autoflush warning, and the cells
            # it puts back (add_missing_cells) have no id; both are harmless
            warnings.simplefilter("ignore", SAWarning)
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            result = call()
        if not result.get("success"):
            raise RuntimeError(f"nbgrader {action} failed:\n{result.get('log') or ''}\n{result.get('error') or ''}")
        return result

    def release(self, lab: str) -> Path:
        """Generate the student version of `lab`; return its notebook's path."""
        self._run(f"generate_assignment {lab}", lambda: self.api.generate_assignment(lab))
        return self.path / "release" / lab / f"{lab}.ipynb"

    def submit(self, lab: str, student: str, notebook: NotebookNode | Path) -> Path:
        target = self.path / "submitted" / student / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(notebook, Path):
            shutil.copy2(notebook, target)
        else:
            nbformat.write(notebook, target)
        return target

    def guard_log(self, lab: str, student: str) -> Path:
        return self.path / "guard" / lab / f"{student}.jsonl"

    def autograde(self, lab: str, student: str) -> float:
        """Autograde one submission in guarded kernels; return the seconds it took.

        Test cells during which the student's code rebound a guarded function score 0
        (see `tampering`). Re-grading a student replaces the earlier grades.
        """
        log = self.guard_log(lab, student)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        kernel_env = {"IPYTHONDIR": str(self.path / "ipython"), guard.LOG_ENV: str(log),
                      guard.TRUSTED_ENV: str(self._trusted_cells(lab))}
        if self.memory_limit_mb:
            kernel_env[guard.MEMORY_ENV] = str(self.memory_limit_mb)
        start = time.perf_counter()
        self._set_test_overrides(lab, student, {})  # a re-grade starts from the tests alone
        with _environment(kernel_env):
            self._run(f"autograde {lab} for {student}", lambda: self.api.autograde(lab, student, force=True))
        penalised = {t.grade_id for t in self.tampering(lab, student) if t.is_test and t.when == "during"}
        self._set_test_overrides(lab, student, {grade_id: 0.0 for grade_id in penalised})
        return time.perf_counter() - start

    def _trusted_cells(self, lab: str) -> Path:
        """The guard's list of the lab's own code cells (set-up and demos, not answers or tests)."""
        target = self.path / "guard" / lab / "trusted.json"
        if not target.exists():
            release = nbformat.read(self.path / "release" / lab / f"{lab}.ipynb", as_version=4)
            keys = [guard.cell_key(cell.source) for cell in release.cells
                    if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade")
                    and not cell.metadata.get("nbgrader", {}).get("solution")]
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(keys))
            temporary.replace(target)
        return target

    def tampering(self, lab: str, student: str) -> list[Tampering]:
        """What the guard caught rebinding, per cell of the autograded notebook."""
        records = guard.read_log(self.guard_log(lab, student))
        if not records:
            return []
        path = self.path / "autograded" / student / lab / f"{lab}.ipynb"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingIDFieldWarning)  # cells nbgrader put back
            notebook = nbformat.read(path, as_version=4)
        cells = {guard.cell_key(cell.source): cell for cell in notebook.cells if cell.cell_type == "code"}
        found = []
        for record in records:
            cell = cells.get(record["cell"])
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "") if cell is not None else ""
            found.append(Tampering(grade_id or "a cell without grade id", record["when"], record["changed"],
                                   is_test=bool(cell is not None and _is_test_cell(cell))))
        return found

    def _set_test_overrides(self, lab: str, student: str, scores: Mapping[str, float]) -> None:
        """Override the given test cells' scores (nbgrader's manual score) and clear every
        other test cell's override; written answers keep their instructor's grade."""
        from nbgrader.api import Gradebook, MissingEntry

        with warnings.catch_warnings(), Gradebook(self.config.CourseDirectory.db_url) as gradebook:
            warnings.simplefilter("ignore", SAWarning)
            try:
                submission = gradebook.find_submission_notebook(lab, lab, student)
            except MissingEntry:
                return
            for grade in submission.grades:
                if grade.cell.name.startswith("test_"):
                    grade.manual_score = scores.get(grade.cell.name)
                    grade.needs_manual_grade = False
            gradebook.db.commit()

    def feedback(self, lab: str, student: str) -> Path:
        self._run(f"generate_feedback {lab} for {student}", lambda: self.api.generate_feedback(lab, student))
        return self.path / "feedback" / student / lab / f"{lab}.html"

    def grades(self, lab: str, student: str) -> dict[str, tuple[float | None, float]]:
        """(score, max score) per grade cell; score None while a written answer awaits a grader."""
        from nbgrader.api import Gradebook

        with warnings.catch_warnings():
            # nbgrader's lazy relationship loading trips SQLAlchemy's autoflush warning
            warnings.simplefilter("ignore", SAWarning)
            with Gradebook(self.config.CourseDirectory.db_url) as gradebook:
                submission = gradebook.find_submission_notebook(lab, lab, student)
                return {
                    grade.name: (None if grade.needs_manual_grade else grade.score, grade.max_score)
                    for grade in submission.grades
                }

    def exercise_scores(self, lab: str, student: str) -> list[ExerciseScore]:
        """Scores summed per exercise (test cells `test_<exercise>_*`), written answers apart."""
        source = nbformat.read(lab_notebook(lab, root=self.root), as_version=4)
        exercises = [
            cell.metadata["nbgrader"]["grade_id"][len("ex_"):]
            for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("ex_")
        ]
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        pending: set[str] = set()
        for grade_id, (score, max_score) in self.grades(lab, student).items():
            owner = next((e for e in sorted(exercises, key=len, reverse=True)
                          if grade_id.startswith(f"test_{e}_")), grade_id)
            totals[owner][0] += score or 0.0
            totals[owner][1] += max_score
            if score is None:
                pending.add(owner)
        written = sorted(set(totals) - set(exercises))
        return [ExerciseScore(name, *totals[name], manual=name in written, pending=name in pending)
                for name in exercises + written if name in totals]
