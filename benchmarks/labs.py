"""Each lab's cost: offline execution, autograding one submission (in the sandbox and without
it, to measure the sandbox's overhead), and the kernels' peak memory.

Every measurement runs in a fresh Python process (`python -m benchmarks.labs execute LAB`),
so the peak resident set size of the kernels it started (`RUSAGE_CHILDREN`) belongs to that
measurement alone and no warm cache from an earlier lab helps the next.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LabCost:
    lab: str
    execute_seconds: float
    execute_peak_mb: float
    autograde_seconds: float
    autograde_peak_mb: float
    unsandboxed_seconds: float
    selfgrade_seconds: float = 0.0  # `course autograde <lab>.ipynb`, a learner's own grading, end to end

    @property
    def autograde_ratio(self) -> float:
        return self.autograde_seconds / self.execute_seconds

    @property
    def sandbox_overhead(self) -> float:
        """Extra grading time the sandbox costs, as a share of grading without it."""
        return self.autograde_seconds / self.unsandboxed_seconds - 1


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB


def _execute(lab: str) -> dict:
    from course_admin import pipeline

    notebook, seconds = pipeline.execute_notebook(pipeline.lab_notebook(lab, root=ROOT))
    if pipeline.stderr_outputs(notebook):
        raise RuntimeError(f"{lab} wrote to stderr")
    return {"seconds": seconds, "peak_mb": _children_peak_mb()}


def _autograde(lab: str, sandbox: bool = True) -> dict:
    from course_admin import pipeline

    with tempfile.TemporaryDirectory() as scratch:
        course = pipeline.scratch_course(Path(scratch), [lab], ROOT)
        workspace = pipeline.Workspace(course, [lab], sandbox=sandbox)
        workspace.release(lab)  # the gradebook learns the lab's cells from its release
        workspace.submit(lab, "reference", pipeline.lab_notebook(lab, root=ROOT))
        seconds = workspace.autograde(lab, "reference")
        scores = workspace.exercise_scores(lab, "reference")
        if any(score.score != score.max_score for score in scores if not score.manual):
            raise RuntimeError(f"{lab}: the reference solution lost points while being benchmarked")
        return {"seconds": seconds, "peak_mb": _children_peak_mb()}


def _selfgrade(lab: str) -> dict:
    """A learner grading their own notebook: `course autograde <lab>.ipynb` in a fresh course of
    one, from the command's start to its last line (gradebook, grading, both feedback pages)."""
    with tempfile.TemporaryDirectory() as scratch:
        from course_admin import pipeline

        course = pipeline.scratch_course(Path(scratch) / "course", [lab], ROOT)
        notebook = Path(scratch) / f"{lab}.ipynb"
        notebook.write_bytes((ROOT / "solutions" / lab / f"{lab}.ipynb").read_bytes())
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(notebook), "--course",
                               str(course), "--out", str(Path(scratch) / "reports")], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"self-grading {lab} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"seconds": seconds, "peak_mb": _children_peak_mb()}


def measure(lab: str, what: str) -> dict:
    """Run `what` ('execute' or 'autograde') for `lab` in a fresh process; its figures."""
    # Offline: the notebook runner and the gradebook set up pipeline.grading_environment themselves.
    done = subprocess.run([sys.executable, "-m", "benchmarks.labs", what, lab], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} {lab} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lab_costs(labs: list[str], repeats: int = 2) -> list[LabCost]:
    """Each lab's cost; autograding with and without the sandbox and a learner's self-grading
    take turns `repeats` times and the fastest of each counts, so that a busy moment does not
    pass for the sandbox's cost or a learner's wait."""
    costs = []
    for lab in labs:
        run = measure(lab, "execute")
        graded, bare, selfgraded = [], [], []
        for _ in range(repeats):
            graded.append(measure(lab, "autograde"))
            bare.append(measure(lab, "autograde-unsandboxed"))
            selfgraded.append(measure(lab, "selfgrade")["seconds"])
        best = min(graded, key=lambda m: m["seconds"])
        costs.append(LabCost(lab, run["seconds"], run["peak_mb"], best["seconds"], best["peak_mb"],
                             min(m["seconds"] for m in bare), min(selfgraded)))
    return costs


@dataclass
class BatchRate:
    students: int
    labs: int
    jobs: int
    seconds: float  # wall time of the whole command
    graded: dict[str, list[float]]  # lab -> each notebook's grading time in its worker (its marker's figure)
    phases: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # lab -> each notebook's phases
    executed: dict[str, float] = field(default_factory=dict)  # lab -> seconds to execute it alone (`_execute`)
    warm: dict[str, list[bool]] = field(default_factory=dict)  # lab -> each notebook's `batch.Result.warm`

    def steady(self, lab: str, values: list) -> list:
        """Of `values` (one per notebook of `lab`, in `graded`'s order), those of the notebooks
        graded by a worker that had graded the lab before; all of them where the batch does not
        say which, or none was.

        A worker's first notebook of a lab also imports the lab's libraries and reads its models in
        the grading process. A class pays that once per worker and lab, however large it is, but
        in a class of 4 students half the notebooks are such firsts."""
        flags = self.warm.get(lab, [])
        later = [value for value, warm in zip(values, flags) if warm] if len(flags) == len(values) else []
        return later or values

    def phase_means(self, lab: str) -> dict[str, float]:
        """Mean seconds per notebook of each phase of `lab`'s grading (`grading_phases`), over its
        `steady` notebooks."""
        rows = [grading_phases(found) for found in self.steady(lab, self.phases.get(lab, []))]
        return {name: sum(row[name] for row in rows) / len(rows) for name in PHASES} if rows else {}

    @property
    def per_notebook(self) -> float:
        """What one more notebook adds to a large class: the workers' grading time per notebook
        (the mean of each lab's `steady` notebooks, the labs weighing alike), shared by the `jobs`
        workers (each figure was measured while the other workers were busy)."""
        means = [sum(later) / len(later) for later in (self.steady(lab, times) for lab, times in self.graded.items())]
        return sum(means) / len(means) / self.jobs

    @property
    def fixed(self) -> float:
        """What a class costs whatever its size: releasing the labs into the gradebook, the reports,
        each worker's first notebook of each lab beyond the others, and the tail where one worker
        waits for the other."""
        return self.seconds - self.per_notebook * self.students * self.labs

    def hours_for(self, students: int, labs: int = 4) -> float:
        return (self.fixed + self.per_notebook * students * labs) / 3600

    @property
    def cells_per_notebook(self) -> float:
        """The notebooks' own cells alone (as they ran in the grading), shared by the workers: what
        a class costs however fast the grading around them gets."""
        means = [self.phase_means(lab).get("notebook cells", 0.0) for lab in self.graded]
        return sum(means) / len(means) / self.jobs if means else 0.0


# The columns of the class benchmark's table of phases, from what `course_admin.timing` records.
PHASES = ("kernel start", "notebook cells", "tests", "lab set-up", "grading kernel, other", "nbgrader preprocessors",
          "gradebook", "validation", "nbgrader, other", "feedback", "grading")
# nbgrader's and the course's preprocessors that read or write the gradebook.
GRADEBOOK_STEPS = ("RecordGradingStart", "ForgetUnknownCells", "OverwriteCells", "StrictAutoGrades",
                   "AssignLatePenalties", "RecordGraded")


def grading_phases(found: dict[str, float]) -> dict[str, float]:
    """One notebook's grading, in the benchmark's columns (`PHASES`), from its `timing` record.

    "lab set-up" runs in a thread beside the kernel's start: it is shown, not added. What the
    grading kernel's step costs besides its kernel, cells and tests (folders, cgroup, the
    kernel's end) is "grading kernel, other"; nbgrader's autograde besides its preprocessors and
    their validation (its own set-up, files, gradebook reads) is "nbgrader, other"."""
    from course_admin import timing

    steps = {name[len(timing.PREPROCESSOR):]: seconds for name, seconds in found.items()
             if name.startswith(timing.PREPROCESSOR)}
    kernel, cells, tests = (found.get(name, 0.0) for name in (timing.KERNEL_START, timing.CELLS, timing.TESTS))
    executing = steps.pop("CourseExecute", 0.0)
    validation = steps.pop("validation", 0.0)
    gradebook = sum(steps.pop(name, 0.0) for name in GRADEBOOK_STEPS)
    others = sum(steps.values())
    autograde = found.get(timing.AUTOGRADE, 0.0)
    return {"kernel start": kernel, "notebook cells": cells, "tests": tests, "lab set-up": found.get(timing.SETUP, 0.0),
            "grading kernel, other": executing - kernel - cells - tests, "nbgrader preprocessors": others,
            "gradebook": gradebook, "validation": validation,
            "nbgrader, other": autograde - executing - validation - gradebook - others,
            "feedback": found.get(timing.FEEDBACK, 0.0), "grading": autograde + found.get(timing.FEEDBACK, 0.0)}


def batch_rate(labs: list[str], students: int = 4, jobs: int = 2) -> BatchRate:
    """Wall time of `course autograde --jobs N` on a class of `students` reference submissions of
    every lab (nbgrader collect's layout), in a scratch course: the figure a large class scales."""
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch) / "course"
        from course_admin import batch, pipeline

        pipeline.scratch_course(course, labs, ROOT)
        for number in range(students):
            for lab in labs:
                target = Path(scratch) / "submitted" / f"student{number:02d}" / lab
                target.mkdir(parents=True)
                (target / f"{lab}.ipynb").write_bytes(pipeline.lab_notebook(lab, root=ROOT).read_bytes())
        out = Path(scratch) / "reports"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(Path(scratch) / "submitted"),
                               "--course", str(course), "--out", str(out), "--jobs", str(jobs)], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"batch autograde failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        saved = {lab: list(batch.saved_results(out, lab).values()) for lab in labs}
    graded = {lab: [result.seconds for result in results] for lab, results in saved.items()}
    if any(len(times) != students for times in graded.values()):
        raise RuntimeError(f"batch autograde graded {graded}, expected {students} notebooks of each lab")
    # Each lab executed alone, after the class: the figure its grading time is compared with.
    executed = {lab: measure(lab, "execute")["seconds"] for lab in labs}
    return BatchRate(students, len(labs), jobs, seconds, graded,
                     phases={lab: [result.phases for result in results] for lab, results in saved.items()},
                     executed=executed,
                     warm={lab: [result.warm for result in results] for lab, results in saved.items()})


if __name__ == "__main__":
    action, lab_name = sys.argv[1:]
    actions = {"execute": _execute, "autograde": _autograde, "selfgrade": _selfgrade,
               "autograde-unsandboxed": lambda name: _autograde(name, sandbox=False)}
    print(json.dumps(actions[action](lab_name)))
