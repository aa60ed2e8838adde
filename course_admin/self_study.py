"""Self-study: a learner grading their own notebook assesses their written answers themselves.

Written answers are graded by a person, so a course of one (a learner who runs `course
autograde` on their own `<lab>.ipynb` in their clone) has no one to grade them. There, and
only there, the learner's feedback page shows each written question's model answer and
rubric beside their answer, and the terminal says where to look. The model answers are read
from the course root's `solutions/` and nowhere else; a class's feedback never shows them
(`is_self_study` decides, `StudentFeedback.self_study` is off unless the `course` command
turns it on for such a grading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from course_admin import labformat, neutralise

LEARNER = "me"  # the student a lone `<lab>.ipynb` is graded as (collect._lab_of_name)
SOURCE = "solutions"  # the course root's folder of source notebooks (pipeline.SOURCE)
SELF_ASSESSMENT = "self_assessment"  # the course metadata key of the cells added here
# The rubric starts at a bold "Rubric" line ("**Rubric (3 points).**"), as every lab writes it.
_RUBRIC = re.compile(r"^[ \t]*\*\*Rubric\b", re.M)


@dataclass
class ModelAnswer:
    """One written question of a lab: its model answer and rubric, as the source writes them."""

    grade_id: str
    points: float
    model: str
    rubric: str


def is_self_study(source: Path, student: str, students: list[str]) -> bool:
    """Whether a grading is one learner's self-study: the command was given one notebook
    file, graded as the lone learner (a `<lab>.ipynb`, not `<student>_<lab>.ipynb`), in a
    gradebook that holds no other student for the lab (a course of one)."""
    return source.is_file() and source.suffix == ".ipynb" and student == LEARNER and set(students) <= {LEARNER}


def split_rubric(text: str) -> tuple[str, str]:
    """(model answer, rubric) of a solution text; the rubric is "" when none is marked."""
    found = _RUBRIC.search(text)
    if not found:
        return text.strip(), ""
    return text[:found.start()].strip(), text[found.start():].strip()


def model_answers(course: Path, lab: str) -> dict[str, ModelAnswer] | str:
    """The written questions of `lab` (grade_id -> model answer and rubric), read from
    `<course>/solutions/<lab>/<lab>.ipynb` only; or one line saying why there are none."""
    folder = (Path(course) / SOURCE).resolve()
    path = Path(course) / SOURCE / lab / f"{lab}.ipynb"
    where = f"{SOURCE}/{lab}/{lab}.ipynb"
    try:
        if not path.resolve().is_relative_to(folder):  # a link out of solutions/ is not the course's answer
            return f"Model answers not shown: {where} points outside the course's {SOURCE}/ folder."
        source = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except FileNotFoundError:
        return (f"Model answers not shown: this course folder has no {where} (a copy of the course with its "
                f"{SOURCE}/ folder has them).")
    except (OSError, UnicodeDecodeError) as error:
        return f"Model answers not shown: {where} cannot be read ({type(error).__name__})."
    except Exception:  # nbformat raises several types for a file that is not a notebook
        return f"Model answers not shown: {where} is not a readable notebook."
    found = {}
    for question in labformat.read_lab(source).written.values():
        if question.grade_id:
            model, rubric = split_rubric(labformat.solution_text(question.source))
            found[question.grade_id] = ModelAnswer(question.grade_id, question.points, model, rubric)
    return found


def assessment_cell(question: ModelAnswer, answer: str) -> NotebookNode:
    """The feedback cell put right under a written answer: the learner's answer and the model
    answer side by side, the rubric below, every text rendered and sanitised as the feedback
    renders a student's markdown (`neutralise.inert_markdown`)."""
    heading = (f"**Assess yourself: {neutralise.for_markdown(question.grade_id)} ({question.points:g} points).** "
               "Compare your answer with the model answer, then score it with the rubric. "
               "These points are not in your automatic total.")
    yours = neutralise.inert_markdown("**Your answer.**\n\n" + answer) if answer.strip() else \
        neutralise.inert_markdown("**Your answer.** (empty)")
    model = question.model if re.match(r"\W*model answer", question.model, re.I) else \
        "**Model answer.**\n\n" + question.model  # the labs' own start with "*Model answer.*"
    rubric = question.rubric or "**Rubric.** The solution notebook gives none for this question."
    html = ('<div class="course-self-assessment">' + neutralise.inert_markdown(heading)
            + '<div class="course-self-columns">' + yours + neutralise.inert_markdown(model) + "</div>"
            + neutralise.inert_markdown(rubric) + "</div>")
    cell = nbformat.v4.new_markdown_cell(html)
    cell.metadata["course"] = {SELF_ASSESSMENT: question.grade_id}
    return cell


def written_line(count: int, points: float) -> str:
    """"3 written answers (9 points) to assess yourself against the model answers"."""
    answers = "written answer" if count == 1 else "written answers"
    models = "the model answer" if count == 1 else "the model answers"
    return f"{count} {answers} ({points:g} points) to assess yourself against {models}"
