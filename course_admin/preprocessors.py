"""The course's nbgrader preprocessors, configured in ``nbgrader_config.py``.

Autograding (after `course_admin.execute.CourseExecute`):

* `CleanOutputs` cuts every output by bytes, lines and line length, removes the grading
  machine's paths from tracebacks and sanitises HTML (no scripts, no event handlers), so
  that what Formgrader and the feedback show cannot attack the person reading it;
* `StrictAutoGrades` scores a test cell 0 when it has any error output, and accepts a
  partial score only from a number;
* `GraderNotes` removes the hidden tests' code from the graded notebook (so no feedback,
  whatever its configuration, can show it), drops nbgrader metadata the course does not
  know (a student's fake test cell), puts each written question's rubric under the answer
  for the grader, and records what the guard and the code scan flagged.

Feedback: `StudentFeedback` takes grader-only cells out, names the exercise each test
belongs to, and keeps written answers that nobody graded yet out of the total ("to be
graded"); the course's ``feedback`` template renders that. Only for one learner's
self-study (`StudentFeedback.self_study`, which the `course` command alone turns on) does it
add the model answer and rubric beside each written answer (`course_admin.self_study`).
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import SaveAutoGrades
from traitlets import Bool, Integer

from course_admin import gradebook, intake, labformat, neutralise, scan, self_study
from course_admin.kernel import guard

HIDDEN_NOTE = "# (hidden test: its code is not shown)"
GRADER_ONLY = "grader_only"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

WIDGET = "application/vnd.jupyter.widget-view+json"


def _converter(preprocessor: Preprocessor) -> Any:
    """The nbgrader converter (Autograde, GenerateFeedback) running this preprocessor."""
    return getattr(getattr(preprocessor, "parent", None), "parent", None)


def _course_notebook(preprocessor: Preprocessor, resources: dict, folder: str) -> NotebookNode | None:
    converter = _converter(preprocessor)
    coursedir = getattr(converter, "coursedir", None)
    info = resources.get("nbgrader", {})
    if coursedir is None or "assignment" not in info:
        return None
    path = Path(coursedir.format_path(getattr(coursedir, folder), ".", info["assignment"])) / f"{info['notebook']}.ipynb"
    return nbformat.read(path, as_version=4) if path.is_file() else None


# ------------------------------------------------------------------------------ scores
def strict_grade(cell: NotebookNode) -> tuple[float | None, float]:
    """nbgrader's determine_grade without its loopholes: for a test cell, an error output
    anywhere means 0, and a partial score is read only from a finite number."""
    max_points = float(labformat.grading(cell)["points"])
    if utils.is_solution(cell) or cell.cell_type != "code":
        return utils.determine_grade(cell)
    outputs = cell.get("outputs", [])
    if any(output.output_type == "error" for output in outputs):
        return 0.0, max_points
    for output in outputs:
        if output.output_type == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            try:
                value = float(text.strip())
            except ValueError:
                continue
            if math.isfinite(value):
                return min(max(value, 0.0), max_points), max_points
    return max_points, max_points


class StrictAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, scoring with `strict_grade`."""

    def _add_score(self, cell: NotebookNode, resources: dict) -> None:
        grade = self.gradebook.find_grade(labformat.grade_id(cell), self.notebook_id, self.assignment_id,
                                          self.student_id)
        grade.auto_score, _ = strict_grade(cell)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()


# ------------------------------------------------------------------------------ outputs
def _scrub_paths(text: str) -> str:
    """The grading machine's paths, shortened (site-packages/..., the course's packages)."""
    import course_admin
    import course_utils

    replacements = [(str(Path(p).resolve()), label) for p, label in (
        (Path(course_utils.__file__).parent, "course_utils"), (Path(course_admin.__file__).parent, "course_admin"),
    )]
    for prefix in {sys.prefix, sys.base_prefix, str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}:
        replacements.append((prefix + "/lib/python" + ".".join(map(str, sys.version_info[:2])) + "/site-packages",
                             "site-packages"))
        replacements.append((prefix, "python"))
    for old, new in sorted(replacements, key=lambda pair: -len(pair[0])):
        text = text.replace(old, new)
    text = re.sub(r"(?:/[\w.-]+)*/course-k-[\w.-]+", "<kernel>", text)  # under any TMPDIR
    return re.sub(r"/home/student/work/?", "", text)


class CleanOutputs(Preprocessor):
    """Cut, scrub and sanitise every output of a graded notebook, and replace each markdown
    cell a student wrote by its sanitised rendering (`neutralise.inert_markdown`): nbgrader's
    and the course's templates render markdown with raw HTML and every link scheme kept.
    All HTML goes through `neutralise.sanitise_html`, the course's one sanitiser."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    max_cell_bytes = Integer(500_000, help="Text kept of one cell's outputs").tag(config=True)
    max_lines = Integer(200, help="Lines kept of one cell's printed output").tag(config=True)
    max_line_chars = Integer(2000, help="Characters kept of one line").tag(config=True)
    max_traceback = Integer(30, help="Lines kept of a traceback").tag(config=True)

    _lab_markdown: set[str] = set()
    _lab_code: set[str] = set()

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        release = _course_notebook(self, resources, "release_directory")
        self._lab_markdown = {c.source.strip() for c in release.cells if c.cell_type == "markdown"} if release else set()
        # The lab's own cells (lime's explanation page) display scripts: sanitised, not flagged.
        self._lab_code = {c.source.strip() for c in release.cells
                          if c.cell_type == "code" and not labformat.is_answer(c)} if release else set()
        return super().preprocess(nb, resources)

    def _cut(self, text: str, budget: list[int]) -> str:
        kept = []
        for line in text.split("\n"):
            if budget[0] <= 0 or budget[1] <= 0:
                kept.append(f"... output cut (more than {self.max_lines} lines or {self.max_cell_bytes} characters)")
                break
            if len(line) > self.max_line_chars:
                line = line[:self.max_line_chars] + f" ... (line cut at {self.max_line_chars} characters)"
            kept.append(line)
            budget[0] -= len(line) + 1
            budget[1] -= 1
        return "\n".join(kept)

    def _note(self, resources: dict, index: int, what: str) -> None:
        resources.setdefault("course", {}).setdefault("notes", []).append(f"cell {index + 1}: {what}")

    def _cut_html(self, html: str, budget: list[int]) -> str:
        """Sanitised HTML, cut by bytes only (at a tag's end)."""
        if len(html) > budget[0]:
            end = html.rfind(">", 0, max(budget[0], 0)) + 1
            html = html[:end] + f"<p>... output cut (more than {self.max_cell_bytes} characters)</p>"
        budget[0] -= len(html)
        return html

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type == "markdown":
            # The course's own text (a written answer left as released included) stays as it is:
            # nbgrader scores an unchanged answer 0 by its checksum, with nothing to grade by hand.
            if cell.source.strip() not in self._lab_markdown:
                attachments = cell.get("attachments")
                active = neutralise.active_parts(neutralise.render_markdown(cell.source, attachments))
                if active:
                    self._note(resources, index, "markdown with HTML that could run a script or open a page "
                                                 f"(removed: {', '.join(active[:6])})")
                cell.source = neutralise.inert_markdown(cell.source, attachments)
            return cell, resources
        if cell.cell_type == "raw":
            # nbconvert's templates copy a raw cell marked as HTML into the page as it is
            active = neutralise.active_parts(cell.source)
            if active:
                self._note(resources, index, f"raw HTML that could run a script or open a page (removed: "
                                             f"{', '.join(active[:6])})")
            cell.source = neutralise.sanitise_html(cell.source)
            return cell, resources
        if cell.cell_type != "code":
            return cell, resources
        budget = [self.max_cell_bytes, self.max_lines]  # characters, lines left for this cell
        outputs = []
        for output in cell.get("outputs", []):
            if (budget[0] <= 0 or budget[1] <= 0) and output.output_type != "error":
                continue  # an error is always kept: it is what scores a test cell 0
            if output.output_type == "stream":
                if "output cut: this cell printed more than" in output.text or \
                        max(map(len, output.text.split("\n"))) > 50 * self.max_line_chars:
                    self._note(resources, index, "printed an enormous output (cut)")
                output.text = self._cut(_scrub_paths(output.text), budget)
            elif output.output_type == "error":
                output.ename = _scrub_paths(str(output.get("ename", "Error")))[:200]
                output.evalue = self._cut(_scrub_paths(str(output.get("evalue", ""))), [self.max_line_chars * 2, 20])
                lines = [self._cut(_scrub_paths(str(line)), [self.max_line_chars * 4, 40])
                         for line in output.get("traceback", [])]
                if len(lines) > self.max_traceback:
                    half = self.max_traceback // 2
                    lines = lines[:half] + ["... traceback cut ..."] + lines[-half:]
                output.traceback = lines
            else:
                data = output.get("data", {})
                if WIDGET in data:
                    continue  # a widget (a progress bar): its text is a frozen placeholder without the kernel
                students_cell = labformat.is_answer(cell) or cell.source.strip() not in self._lab_code
                original = output.get("data", {})
                svg = original.get("image/svg+xml") if "text/html" not in original else None
                data = _displayable(original)
                # an SVG drawing becomes an <img> (inert), but its script was meant to run: flagged
                active = neutralise.active_parts(data.get("text/html", "") + "".join(svg if isinstance(svg, list)
                                                                                     else [str(svg or "")]))
                if students_cell and (active or "application/javascript" in original):
                    self._note(resources, index, "displayed HTML that could run a script or open a page "
                                                 f"(removed: {', '.join((active or ['javascript'])[:6])})")
                for key in list(data):
                    value = data[key]
                    if key in ("image/png", "image/jpeg", "image/gif"):
                        if len(str(value)) > 20 * self.max_cell_bytes:
                            del data[key]
                    elif key == "text/html":  # one long line, often; cut at a tag's end, then made whole again
                        data[key] = neutralise.sanitise_html(
                            self._cut_html(neutralise.sanitise_html(_scrub_paths(value)), budget))
                    elif isinstance(value, str):
                        data[key] = self._cut(_scrub_paths(value), budget)
                output.data = data
                if not data:
                    continue
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources


# Output types shown as they are: text nbconvert escapes, bitmaps, MathJax input.
SAFE_OUTPUT_TYPES = ("text/plain", "text/latex", "application/json", "image/png", "image/jpeg", "image/gif")


def _displayable(data: dict) -> dict:
    """What of one display output may reach a page, as strings: plain types as they are,
    HTML sanitised, markdown rendered (as nbconvert would) and sanitised into HTML, an SVG
    drawing as an image (a browser runs no script in an <img>); JavaScript and the rest
    dropped. The whole thing is HTML-sanitised again after cutting."""
    text = {key: "".join(value) if isinstance(value, list) else value for key, value in data.items()
            if isinstance(value, (str, list))}
    kept = {key: value for key, value in text.items() if key in SAFE_OUTPUT_TYPES}
    if "application/json" in data and not isinstance(data["application/json"], (str, list)):
        kept["application/json"] = data["application/json"]
    if "text/html" in text:
        kept["text/html"] = text["text/html"]
    elif "text/markdown" in text:
        kept["text/html"] = neutralise.render_markdown(text["text/markdown"])
    elif "image/svg+xml" in text:
        import base64

        encoded = base64.b64encode(text["image/svg+xml"].encode()).decode()
        kept["text/html"] = f'<img src="data:image/svg+xml;base64,{encoded}" alt="drawing">'
    return kept


# ------------------------------------------------------------------------------ graded notebook
class ForgetUnknownCells(Preprocessor):
    """First step of autograding: a cell whose grading metadata the course does not know (a
    test cell a student added, a solution cell turned into a test) becomes a plain cell, so
    it is neither scored nor run as a test; the note reaches the grader's report."""

    enabled = Bool(True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        source = _course_notebook(self, resources, "source_directory")
        known = {labformat.grading(c).get("grade_id"): c for c in source.cells} if source else {}
        notes, seen = [], set()
        for index, cell in enumerate(nb.cells):
            meta = labformat.grading(cell)
            if "nbgrader" in cell.metadata and not meta:
                del cell.metadata["nbgrader"]
            if not meta:
                continue
            original = known.get(meta.get("grade_id"))
            same = original is not None and original.cell_type == cell.cell_type and all(
                bool(meta.get(key)) == bool(labformat.grading(original).get(key))
                for key in ("grade", "solution", "task", "locked"))
            # A second cell with a known id is a copy (nbgrader would keep the last one): the first stays.
            if not same or meta.get("grade_id") in seen:
                del cell.metadata["nbgrader"]
                notes.append(f"cell {index + 1}: grading metadata the course does not know or a copy of a graded "
                             f"cell ({neutralise.for_terminal(meta.get('grade_id'), 60)}; ignored)")
            else:
                seen.add(meta.get("grade_id"))
        if source is not None:
            notes += test_cell_notes(nb, source, _course_notebook(self, resources, "release_directory"))
        nb.metadata["course_notes"] = notes
        return nb, resources


def _points(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _runs_nothing(code: str) -> bool:
    """Whether a cell's code has no statement (a hidden test's cell as released: its comment)."""
    import ast

    try:
        return not ast.parse(code).body
    except SyntaxError:
        return False


def test_cell_notes(nb: NotebookNode, source: NotebookNode, release: NotebookNode | None) -> list[str]:
    """What a submission changed in the course's test cells, for the grader's report. None of
    it counts: nbgrader puts back the course's points and code, outputs are cleared, and the
    tests run in the course's order (`course_admin.execute.CourseOrder`); an attempt is still
    worth knowing about. Run on the submission as handed in, before those steps."""
    course = {labformat.grade_id(c): c for c in source.cells if labformat.is_test(c) and labformat.grade_id(c)}
    released = {labformat.grade_id(c): c.source.strip() for c in release.cells
                if labformat.is_test(c)} if release else {}
    holder = {code: grade_id for grade_id, code in released.items()}
    notes, order = [], []
    for index, cell in enumerate(nb.cells):
        grade_id = labformat.grade_id(cell)
        if not (labformat.is_test(cell) and grade_id in course):
            continue
        order.append(grade_id)
        where = f"cell {index + 1} ({grade_id})"
        points = _points(labformat.grading(cell).get("points"))
        expected = _points(labformat.grading(course[grade_id]).get("points"))
        if points != expected:
            shown = ["not a number" if value is None else f"{value:g}" for value in (points, expected)]
            notes.append(f"{where}: test cell's points edited ({shown[0]} instead of {shown[1]}; the course's count)")
        code = cell.source.strip()
        if grade_id in released and code != released[grade_id]:
            other = holder.get(code)
            notes.append(f"{where}: test cell's grade_id edited (it holds the test {other}; the course's tests ran)"
                         if other else f"{where}: test cell's code edited (the course's own test ran)")
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") in ("execute_result", "display_data") for o in outputs) or (
                outputs and _runs_nothing(released.get(grade_id, code))):
            notes.append(f"{where}: outputs in a test cell that its code does not produce (cleared before grading)")
    if order != [grade_id for grade_id in course if grade_id in set(order)]:
        notes.append("test cells reordered: the tests ran in the course's order")
    return notes



def rubric_text(source: NotebookNode, grade_id: str) -> str | None:
    """The model answer and rubric of a written question (its solution text in the source)."""
    for cell in source.cells:
        if labformat.grade_id(cell) == grade_id and labformat.is_answer(cell):
            return labformat.solution_text(cell.source)
    return None


def grader_cell(text: str) -> NotebookNode:
    """A markdown cell for the grader only (Formgrader shows it, feedback drops it), already
    rendered and sanitised like every markdown cell (`neutralise.inert_markdown`)."""
    cell = nbformat.v4.new_markdown_cell(neutralise.inert_markdown(text))
    cell.metadata["course"] = {GRADER_ONLY: True}
    return cell


class GraderNotes(Preprocessor):
    """Last autograde step: hidden test code out, unknown grade cells neutralised, a rubric
    under each written answer, flags recorded."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        source = _course_notebook(self, resources, "source_directory")
        release = _course_notebook(self, resources, "release_directory")
        cells = []
        report = resources.setdefault("course", {})
        report.setdefault("notes", []).extend(str(note)[:200] for note in nb.metadata.pop("course_notes", [])[:20])
        for cell in nb.cells:
            meta = labformat.grading(cell)
            grade_id = meta.get("grade_id")
            if labformat.is_test(cell):
                cell.source = labformat.without_hidden(cell.source, HIDDEN_NOTE)
            cells.append(cell)
            if labformat.is_written(cell) and source:
                rubric = rubric_text(source, grade_id)
                if rubric and "nbgrader" in cell.metadata:
                    cells.append(grader_cell(f"**For the grader (not shown to the student): model answer and "
                                             f"rubric of {neutralise.for_markdown(grade_id)}**\n\n{rubric}"))
        lab_cells = {guard.cell_key(c.source) for c in release.cells if c.cell_type == "code"} if release else set()
        report["tampering"] = [record for record in report.get("tampering", []) if record["cell"] not in lab_cells]
        flags = flag_lines(report, scan.scan_notebook(nb, release))
        report["flags"] = flags
        nb.metadata["course"] = {"flags": flags, "submission_sha256": _submission_sha256(self, resources)}
        if flags:
            cells.insert(0, grader_cell("**For the grader: this submission was flagged**\n\n"
                                        + "\n".join(f"- {neutralise.for_markdown(flag)}" for flag in flags)))
        nb.cells = cells
        return nb, resources


class RecordGradingStart(Preprocessor):
    """First step of autograding: the gradebook records that this submission (its SHA-256)
    is being graded, so that until `RecordGraded` runs, every report reads the lab as not
    graded (a grader killed mid-notebook leaves no score that could pass for a 0)."""

    enabled = Bool(True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources.get("nbgrader", {})
        digest = _submission_sha256(self, resources)
        if "db_url" in info and digest:
            gradebook.start(info["db_url"], info["assignment"], info["student"], digest)
        return nb, resources


class RecordGraded(Preprocessor):
    """Last step of autograding: the graded notebook, exactly as nbgrader writes it to
    autograded/, goes into the gradebook with the submission's SHA-256, so any course root
    on the same database reports this grade and can show the notebook in Formgrader."""

    enabled = Bool(True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources.get("nbgrader", {})
        digest = nb.metadata.get("course", {}).get("submission_sha256")
        if "db_url" in info and digest:
            gradebook.finish(info["db_url"], info["assignment"], info["student"], digest,
                             nbformat.writes(nb).encode())
        return nb, resources


def _submission_sha256(preprocessor: Preprocessor, resources: dict) -> str | None:
    """The SHA-256 of the submitted notebook this grade belongs to (reports use it to tell a
    graded submission from one whose grading failed or that changed since)."""
    import hashlib

    coursedir = getattr(_converter(preprocessor), "coursedir", None)
    info = resources.get("nbgrader", {})
    if coursedir is None or "student" not in info:
        return None
    path = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"])) \
        / f"{info['notebook']}.ipynb"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def flag_lines(report: dict, scanned: list[str]) -> list[str]:
    """One line per thing worth an instructor's look: what the kernel's guard logged, what
    the call protocol saw, what the code scan found."""
    lines = []
    probes = report.get("probes", {})
    for record in report.get("tampering", []):
        what = ", ".join(record.get("changed", []))
        where = f"{probes[record['cell']]} (while a test called the student's function)" \
            if record["cell"] in probes else "a student cell"
        if record.get("when") == "exit":
            lines.append(f"{where}: called {what} (refused; the notebook was graded on)")
        else:
            lines.append(f"{where}: rebound {what}")
    lines += report.get("protocol", [])
    lines += report.get("notes", [])
    lines += scanned
    seen, unique = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            unique.append(line[:300])
    return unique[:30]


# ------------------------------------------------------------------------------ feedback
class StudentFeedback(Preprocessor):
    """Feedback: grader-only cells and hidden test code out, exercise names and pending
    written answers marked for the course's feedback template."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled
    # Only `course autograde` of one learner's own notebook turns this on (course_admin.self_study).
    self_study = Bool(False, help="show the model answers and rubrics beside the written answers "
                                  "(one learner's self-study only; never for a class)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        exercises = labformat.exercise_names(nb)
        pending = _pending_grades(resources)
        answers = self._model_answers(resources)
        cells = []
        score = max_score = pending_points = auto_score = auto_max = written_points = 0.0
        written = 0
        for cell in nb.cells:
            if cell.metadata.get("course", {}).get(GRADER_ONLY):
                continue
            cell.metadata.get("course", {}).pop(self_study.SELF_ASSESSMENT, None)  # only this step adds it
            meta = labformat.grading(cell)
            if labformat.is_test(cell):
                cell.source = labformat.without_hidden(cell.source, HIDDEN_NOTE)  # GraderNotes did it in a graded one
                owner = labformat.owner(meta["grade_id"], exercises) or meta["grade_id"]
                cell.metadata["course"] = {"exercise": owner, "hidden": HIDDEN_NOTE in cell.source,
                                           "what": _description(cell.source)}
            if meta.get("grade"):
                if meta.get("grade_id") in pending:
                    cell.metadata["course"] = {**cell.metadata.get("course", {}), "pending": True}
                    pending_points += labformat.points(cell)
                else:
                    score += float(meta.get("score") or 0)
                    max_score += labformat.points(cell)
                if labformat.is_answer(cell):  # a written answer: graded by a person
                    written += 1
                    written_points += labformat.points(cell)
                else:
                    auto_score += float(meta.get("score") or 0)
                    auto_max += labformat.points(cell)
            cells.append(cell)
            if meta.get("grade") and labformat.is_answer(cell) and isinstance(answers, dict) \
                    and meta.get("grade_id") in answers:
                cells.append(self_study.assessment_cell(answers[meta["grade_id"]], cell.source))
        nb.cells = cells
        _only_feedback_pages(self, resources)
        late = float(resources.get("nbgrader", {}).get("late_penalty") or 0)
        resources["course"] = {"score": max(score - late, 0.0), "max_score": max_score, "pending": pending_points,
                               "late_penalty": late}
        if answers is not None:  # self-study: the automatic points alone, the written answers apart
            resources["course"].update(score=max(auto_score - late, 0.0), max_score=auto_max, pending=0.0,
                                       self_study={"written": written, "points": written_points,
                                                   "note": answers if isinstance(answers, str) else ""})
        return nb, resources

    def _model_answers(self, resources: dict) -> dict[str, self_study.ModelAnswer] | str | None:
        """None for a class's feedback (always, unless `self_study` is on and the notebook is
        the lone learner's); else the model answers from the course root's solutions/, or
        the one line saying why there are none."""
        coursedir = getattr(_converter(self), "coursedir", None)
        info = resources.get("nbgrader", {})
        if not self.self_study or coursedir is None or info.get("student") != self_study.LEARNER:
            return None
        return self_study.model_answers(Path(coursedir.root), info["assignment"])


def _only_feedback_pages(preprocessor: Preprocessor, resources: dict) -> None:
    """Feedback hands back the feedback pages only (and the two small files nbgrader's
    release_feedback reads: the submission's time and secret). nbgrader copies every other file of the graded folder beside
    them, whatever a student handed in; this run made those copies (generate_feedback starts
    from an empty folder), so they are removed, links as links."""
    coursedir = getattr(_converter(preprocessor), "coursedir", None)
    info = resources.get("nbgrader", {})
    if coursedir is None or "student" not in info:
        return
    source = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
    # nbgrader's release_feedback files the pages under a hash of the submission's secret and time
    pages = {f"{notebook.stem}.html" for notebook in source.glob("*.ipynb")} | intake.NBGRADER_FILES
    folder = Path(coursedir.format_path(coursedir.feedback_directory, info["student"], info["assignment"]))
    for parent, folders, files in os.walk(folder, topdown=False, followlinks=False):
        for name in files + [f for f in folders if os.path.islink(os.path.join(parent, f))]:
            if not (Path(parent) == folder and name in pages and not os.path.islink(os.path.join(parent, name))):
                os.unlink(os.path.join(parent, name))
        if Path(parent) != folder and not os.listdir(parent):
            os.rmdir(parent)


def _description(source: str) -> str:
    """What a test checks, from its opening comment ("# Hidden test: rows sum to 1.")."""
    comment = []
    for line in source.lstrip().splitlines():  # the opening comment may wrap over several lines
        if not line.startswith("#") or line.startswith("###"):
            break
        comment.append(line.lstrip("#").strip())
    text = re.sub(r"^((hidden|visible) test:?\s*)", "", " ".join(comment), flags=re.I).strip()
    return text if len(text) <= 300 else text[:299].rstrip() + "…"


def _pending_grades(resources: dict) -> set[str]:
    """Grade cells of this submission that still wait for a human grader."""
    from nbgrader.api import Gradebook, MissingEntry

    info = resources.get("nbgrader", {})
    if "db_url" not in info:
        return set()
    with Gradebook(info["db_url"]) as gradebook:
        try:
            submission = gradebook.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
        except MissingEntry:
            return set()
        return {grade.name for grade in submission.grades if grade.needs_manual_grade}


def template_folder() -> str:
    """The course's nbconvert templates (its `feedback` template replaces nbgrader's)."""
    return str(Path(__file__).resolve().parent / "templates")
