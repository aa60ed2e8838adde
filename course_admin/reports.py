"""The reports of a class's grading, from the gradebook: grades.csv, summary.md, and the folder they go in.

``course autograde`` writes them after grading, ``course report`` alone (:func:`write_reports`).
They read the gradebook, so grades given by hand in Formgrader appear in them too, and a
notebook that was not graded is listed with the reason (never as a zero). Every command that
writes into an output folder claims it first (:func:`claim_output`): the course overwrites
and deletes only what it made there.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_admin import exchange, neutralise, pipeline
from course_admin.batch import saved_results
from course_admin.collect import Problem
from course_admin.neutralise import for_csv


# ---------------------------------------------------------------- output folders
OUTPUT_MARKER = ".course-output"
# What the reports write: a folder holding only these was made by an earlier version.
_REPORT_NAMES = re.compile(r"^(grades\.csv|summary\.md|problems\.json|progress|summary_.*\.png|course)$")


class OutputRefused(RuntimeError):
    """An output folder that holds what the course did not make; the message says what to do."""


def claim_output(folder: Path, command: str) -> Path:
    """`folder`, made the course's output folder (a marker file inside says so). Refuses a
    link, a file, and a folder that holds anything the course did not make: the course
    overwrites and deletes only what it made."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise OutputRefused(f"{folder} is not a folder the course made; give another --out")
    marker = folder / OUTPUT_MARKER
    if folder.is_dir() and not marker.is_file():
        foreign = sorted(p.name for p in folder.iterdir() if not _REPORT_NAMES.match(p.name))
        if foreign:
            raise OutputRefused(f"{folder} already holds files the course did not make ({', '.join(foreign[:3])}"
                                f"{', ...' if len(foreign) > 3 else ''}): give --out an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        marker.write_text(f"Made by `{command}`: the course may replace or delete what is in this folder.\n")
    return folder


# ---------------------------------------------------------------- reports
@dataclass
class Row:
    """One student's notebook of one lab, as the reports show it."""

    lab: str
    student: str
    graded: bool
    reason: str = ""  # why it was not graded
    scores: list[pipeline.ExerciseScore] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    late_penalty: float = 0.0
    timestamp: str = ""

    @property
    def auto(self) -> tuple[float, float]:
        auto = [s for s in self.scores if not s.manual]
        return sum(s.score for s in auto), sum(s.max_score for s in auto)

    @property
    def total(self) -> tuple[float, float]:
        """(points so far, points graded so far): written answers still to grade are out."""
        done = [s for s in self.scores if not s.pending]
        return max(sum(s.score for s in done) - self.late_penalty, 0.0), sum(s.max_score for s in done)

    @property
    def pending(self) -> list[str]:
        return [s.exercise for s in self.scores if s.pending]


def rows(workspace: pipeline.Workspace, out: Path, labs: list[str]) -> list[Row]:
    """Every submission the gradebook or the last runs know, graded or not, with its scores."""
    found = []
    for lab in labs:
        students = set(workspace.students(lab))
        saved = saved_results(out, lab)
        for student in sorted(students | set(saved)):
            if workspace.graded(lab, student):  # the gradebook's record, whichever machine graded
                found.append(Row(lab, student, True, scores=workspace.exercise_scores(lab, student),
                                 flags=workspace.flags(lab, student), late_penalty=workspace.late_penalty(lab, student),
                                 timestamp=workspace.timestamp(lab, student)))
            else:
                error = workspace.not_graded_reason(lab, student) or (saved[student].error if student in saved else "")
                found.append(Row(lab, student, False, reason=error or "not autograded yet (or its autograding "
                                 "failed outside `course autograde`: see nbgrader's log)"))
    return found


def export_grades(found: list[Row], target: Path) -> Path:
    """grades.csv: one row per submission. A notebook that was not graded has no score (its
    status says why), so it can never be mistaken for a zero; written answers still to
    grade are named and left out of the score."""
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "student_id", "timestamp", "status", "score", "max_score",
                         "auto_score", "auto_max_score", "late_penalty", "to_grade"])
        for row in found:
            if not row.graded:
                writer.writerow([row.lab, for_csv(row.student), for_csv(row.timestamp), for_csv(f"not graded: {row.reason}"),
                                 "", "", "", "", "", ""])
                continue
            (score, top), (auto, auto_top) = row.total, row.auto
            status = "graded" + (", written answers to grade" if row.pending else "")
            writer.writerow([row.lab, for_csv(row.student), for_csv(row.timestamp), status, f"{score:g}", f"{top:g}",
                             f"{auto:g}", f"{auto_top:g}", f"{row.late_penalty:g}", for_csv(" ".join(row.pending))])
    return target


def class_summary(found: list[Row], lab: str) -> list[dict]:
    """Per exercise: max points, class mean, and how many students got full marks."""
    graded = [r for r in found if r.lab == lab and r.graded]
    if not graded:
        return []
    summary = []
    for first in graded[0].scores:
        scores = [next(s for s in r.scores if s.exercise == first.exercise) for r in graded]
        earned = [s.score for s in scores if not s.pending]
        row = {"exercise": first.exercise, "max": first.max_score, "n": len(earned),
               "to_grade": sum(s.pending for s in scores)}
        row.update(mean=sum(earned) / len(earned), full=sum(e == first.max_score for e in earned)) if earned \
            else row.update(mean=None, full=None)
        summary.append(row)
    return summary


def summary_cells(row: dict) -> tuple[str, str]:
    """(class mean, full marks) of one `class_summary` row, as the table and report show them."""
    pending = f"; {row['to_grade']} answer(s) still to grade" if row.get("to_grade") else ""
    if row["mean"] is None:
        return "to grade" + pending, ""
    return f"{row['mean']:.2f} ({100 * row['mean'] / row['max']:.0f}%)" + pending, f"{row['full']}/{row['n']}"


def plot_summary(summary: list[dict], lab: str, target: Path) -> Path:
    """Bar chart of the class's mean score per exercise, as a share of its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = [r for r in summary if r["mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(summary) + 1.2))
    shares = [100 * r["mean"] / r["max"] if r["max"] else 0 for r in summary]
    ax.barh([r["exercise"] for r in summary], shares, color=["tab:red" if s < 60 else "tab:blue" for s in shares])
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("class mean, % of the exercise's points (red: below 60%)")
    ax.set_title(f"{lab}: where the class struggled")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def _cell(text: str) -> str:
    """Text safe inside a summary.md table cell or list item: `neutralise.for_markdown`."""
    return neutralise.for_markdown(text)


def write_report(out: Path, found: list[Row], problems: list[Problem], run: str = "",
                 collected: dict[str, list[str]] | None = None) -> Path:
    """summary.md: per lab, the exercise table and chart, each student's score and flags,
    every notebook and file that was not graded with the reason, and what nbgrader's collect
    refused or dated differently from the student's claim (`collected`: lines per lab)."""
    lines = ["# Autograde summary", ""]
    graded = [r for r in found if r.graded]
    lines.append(f"{len(graded)} notebook(s) graded, {len(found) - len(graded)} not graded, "
                 f"{len(problems)} file(s) not recognised as submissions." + (f" {run}" if run else ""))
    for lab in sorted({r.lab for r in found} | {lab for lab, notes in (collected or {}).items() if notes}):
        summary = class_summary(found, lab)
        lines += ["", f"## {lab}", ""]
        if summary:
            chart = plot_summary(summary, lab, out / f"summary_{lab}.png")
            lines += ["| exercise | points | class mean | full marks |", "|---|---:|---:|---:|"]
            for row in summary:
                mean, full = summary_cells(row)
                lines.append(f"| {_cell(row['exercise'])} | {row['max']:g} | {mean} | {full} |")
            lines += ["", f"![class means per exercise]({chart.name})", ""]
        lines += ["| student | score | tests | status and flags |", "|---|---:|---:|---|"]
        for r in sorted((r for r in found if r.lab == lab), key=lambda r: r.student):
            if not r.graded:
                lines.append(f"| {_cell(r.student)} | | | **not graded**: {_cell(r.reason)} |")
                continue
            (score, top), (auto, auto_top) = r.total, r.auto
            notes = ([f"written answer to grade: {', '.join(r.pending)}"] if r.pending else []) + \
                ([f"late: -{r.late_penalty:g}"] if r.late_penalty else []) + r.flags
            lines.append(f"| {_cell(r.student)} | {score:g}/{top:g} | {auto:g}/{auto_top:g} | "
                         f"{_cell('; '.join(notes))} |")
        notes = (collected or {}).get(lab, [])
        if notes:
            lines += ["", f"Collect (nbgrader's exchange) for {lab}:", ""] + [f"- {_cell(note)}" for note in notes]
        missing = [r for r in found if r.lab == lab and not r.graded]
        if missing:
            lines += ["", f"Not graded ({len(missing)}): " + "; ".join(f"{_cell(r.student)} ({_cell(r.reason)})" for r in missing)
                      + ". Run `course autograde` again to retry them."]
    if problems:
        lines += ["", "## Files not graded", ""] + [f"- {_cell(p.file)}: {_cell(p.reason)}" for p in problems]
    target = out / "summary.md"
    target.write_text("\n".join(lines) + "\n")
    return target


def save_problems(out: Path, problems: list[Problem]) -> None:
    (out / "problems.json").write_text(json.dumps([asdict(p) for p in problems], indent=1))


def load_problems(out: Path) -> list[Problem]:
    path = out / "problems.json"
    return [Problem(**p) for p in json.loads(path.read_text())] if path.is_file() else []


def write_reports(workspace: pipeline.Workspace, out: Path, labs: list[str], run: str = "") -> tuple[Path, Path, list[Row]]:
    """grades.csv and summary.md (with charts) from the gradebook, as it is now."""
    out.mkdir(parents=True, exist_ok=True)
    found, problems = rows(workspace, out, labs), load_problems(out)
    for problem in problems:  # a refused file in a student's folder is worth a look at that student
        for row in found:
            if problem.student and row.student == problem.student and row.graded:
                row.flags.append(f"a file in their folder was not graded: {problem.file}: {problem.reason}")
    collected = {lab: exchange.collect_notes(workspace.path, lab) for lab in labs}
    return export_grades(found, out / "grades.csv"), write_report(out, found, problems, run, collected), found
