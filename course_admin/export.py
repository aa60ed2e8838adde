"""Grades an LMS imports: one row per student, one column per lab, through an id mapping.

``course export --format canvas|moodle|wide --mapping ids.csv`` reads the grades from the
gradebook through the reports' own code (`reports.rows`: the same scores, late penalties and
hand-given grades as grades.csv) and writes ``lms_<format>.csv`` and
``lms_<format>_ungraded.csv`` into the reports folder (a folder the course claimed:
`reports.claim_output`), each written to a temporary name and renamed, so an interrupted export
leaves the previous file or none, never half of one.

**The mapping** (``--mapping FILE``) is a UTF-8 CSV whose header names the columns
``student`` (the course's id: the submission's folder name, as in grades.csv) and ``lms_id``
(the LMS's id of that person, in the field ``--lms-field`` names), and optionally ``name``
(shown in Canvas's Student column). An id twice on either side, an empty id, or an LMS id a
spreadsheet would read as a formula is refused, with the line; a course id the gradebook does
not know is refused unless ``--include-absent`` (then that student gets a row of empty
cells: enrolled, nothing handed in); students the gradebook knows and the mapping does not are
listed, left out of the file, and make the command exit 1.

**Cells.** A lab's column holds the points the reports give (hand-given grades and the late
penalty included) out of the lab's full points (every graded cell, written answers included:
40 for Lab 1 whether or not anyone graded the answer yet). A cell is empty, never 0, when the
notebook was not graded, was not handed in, or still has a written answer to grade
(``--partial`` exports the points so far instead); every empty cell is listed, with its
reason, on stderr and in the ``_ungraded.csv`` side file.

**What the LMSs read** (checked by tests/test_export.py, which parses the files as these do):

* Canvas, Gradebook > Import (the parser, read for this: canvas-lms ``lib/gradebook_importer.rb``;
  a university's guide to it: teaching.resources.osu.edu, "Import a CSV file to Carmen Grades";
  Instructure's own guide, "How do I import grades in the Gradebook?", was not reachable from
  here): a header whose first cell contains ``Student`` and second
  ``ID``, then ``SIS User ID``, ``SIS Login ID`` and ``Section`` (the last student column must be
  ``Section``), then one column per assignment, named ``Title (assignment id)`` or the exact
  title (an unknown title creates a new assignment); a row whose first cell contains ``Points
  Possible`` sets the assignments' points. A student is found by ``ID`` (Canvas's numeric user
  id), else ``SIS User ID``, else ``SIS Login ID``, else *by name*: so the Student column holds
  the mapping's name or nothing, never the course id a student chose (it could be another
  student's name). Any column after Section that is not a known one is an assignment, so the
  file has no other column. A blank or ``-`` cell is "no score".
* Moodle, Grades > Import > CSV file (MoodleDocs "Grade import", docs.moodle.org/405/en/
  Grade_import, and the parser, moodle ``grade/import/csv/classes/load_data.php``): the file's
  columns are mapped by hand on the preview page, "Map from" the identifier column "Map to"
  ``useridnumber``, ``useremail`` or ``username``, and each lab column to a grade item (or a new
  one, with Moodle's default maximum of 100 until changed). Every row is a student: an unknown
  user aborts the whole import, so the file has no points row. A grade must be a number; ``-``
  is "no grade" both for an existing grade item and for a new one (an empty cell is "no grade"
  only for an existing one: a new item takes it as a value), so Moodle's empty cells hold ``-``,
  as Moodle's own export writes them.
* ``wide``: ``student,lms_id,<lab>...`` with a ``Points Possible`` row, UTF-8 with a byte-order
  mark so that spreadsheets read the names right.

Names and ids come from students (an LMS export's folder names) or from the mapping: every text
cell passes `neutralise.for_csv` (one line, no formula); grades are plain decimal numbers.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_admin import pipeline, reports
from course_admin.neutralise import for_csv, for_terminal

FORMATS = ("canvas", "moodle", "wide")
# The LMS field the mapping's lms_id is, per format: the column it goes in.
LMS_FIELDS = {
    "canvas": {"sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID", "canvas_id": "ID"},
    "moodle": {"idnumber": "ID number", "email": "Email address", "username": "Username"},
    "wide": {"lms_id": "lms_id"},
}
DEFAULT_FIELD = {"canvas": "sis_user_id", "moodle": "idnumber", "wide": "lms_id"}
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
MOODLE_NO_GRADE = "-"  # load_data.php: "-" is no grade for existing and new grade items alike
MAPPING_COLUMNS = ("student", "lms_id")


class ExportRefused(ValueError):
    """Input the export cannot use; the message says what is wrong and where."""


@dataclass
class Person:
    lms_id: str
    name: str = ""


@dataclass
class Empty:
    """A cell left empty, and why (for the side file and stderr)."""

    student: str
    lab: str
    reason: str


@dataclass
class Export:
    target: Path
    ungraded_file: Path
    ungraded: list[Empty] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # in the gradebook, not in the mapping


# ---------------------------------------------------------------- the mapping
def _read_csv(path: Path, what: str) -> list:
    """[header fields, (line, row dict)...] of a UTF-8 CSV (a byte-order mark is allowed); a
    file that cannot be read as one is refused."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [(reader.line_num, row) for row in reader]
            return [reader.fieldnames or []] + rows
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ExportRefused(f"cannot read {what} {path}: {error}") from None


def read_mapping(path: Path, lms_field: str = "lms_id") -> dict[str, Person]:
    """course id -> Person from the mapping CSV; refuses duplicates, empty ids, and LMS ids
    that would be changed on the way into a CSV (a formula sign, a control character)."""
    rows = _read_csv(path, "the mapping")
    missing = [name for name in MAPPING_COLUMNS if name not in (rows[0] if rows else {})]
    if missing:
        raise ExportRefused(f"{path}: the header must name the columns student,lms_id (and optionally name); "
                            f"missing: {', '.join(missing)}")
    people: dict[str, Person] = {}
    owners: dict[str, str] = {}
    for line, row in rows[1:]:
        student, lms_id = (row.get("student") or "").strip(), (row.get("lms_id") or "").strip()
        where = f"{path.name}, line {line}"
        if not student or not lms_id:
            raise ExportRefused(f"{where}: an empty student or lms_id")
        if student in people:
            raise ExportRefused(f"{where}: the student {for_terminal(student)!r} is mapped twice")
        if lms_id in owners:
            raise ExportRefused(f"{where}: the LMS id {for_terminal(lms_id)!r} is given to both "
                                f"{for_terminal(owners[lms_id])!r} and {for_terminal(student)!r}")
        if for_csv(lms_id) != lms_id:
            raise ExportRefused(f"{where}: the LMS id {for_terminal(lms_id)!r} starts with = + - @ or holds a control "
                                "character: no LMS id does, and a spreadsheet would run it as a formula")
        if lms_field == "canvas_id" and not lms_id.isdigit():
            raise ExportRefused(f"{where}: {for_terminal(lms_id)!r} is not a Canvas user id (a number); "
                                "use --lms-field sis_user_id or sis_login_id for other ids")
        people[student] = Person(lms_id, (row.get("name") or "").strip())
        owners[lms_id] = student
    return people


# ---------------------------------------------------------------- the grades
def lab_points(workspace: pipeline.Workspace, labs: list[str]) -> dict[str, float]:
    """Each lab's full points as the gradebook records them (every graded cell, written
    answers included); a lab the gradebook does not know is refused."""
    from nbgrader.api import Gradebook, MissingEntry

    points = {}
    with pipeline.grading_environment(), Gradebook(workspace.db_url) as gradebook:
        for lab in labs:
            try:
                points[lab] = float(gradebook.find_assignment(lab).max_score)
            except MissingEntry:
                raise ExportRefused(f"the gradebook does not know {lab}: release it (`course release {lab}`) or "
                                    "leave it out with --lab") from None
    return points


def _number(value: float) -> str:
    """A plain decimal both LMSs parse: no exponent, no thousands sign, at most 2 decimals
    (Canvas shows 2)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def cells(found: list[reports.Row], points: dict[str, float], partial: bool = False
          ) -> tuple[dict[str, dict[str, str]], list[Empty]]:
    """student -> lab -> the cell's text (a number, or "" for no grade), and every empty cell
    with its reason. Rows of labs not in `points` are ignored."""
    table: dict[str, dict[str, str]] = {}
    empty: list[Empty] = []
    for row in found:
        if row.lab not in points:
            continue
        cell = ""
        if not row.graded:
            empty.append(Empty(row.student, row.lab, f"not graded: {row.reason}"))
        elif row.pending and not partial:
            empty.append(Empty(row.student, row.lab, f"written answer to grade: {', '.join(row.pending)}"))
        else:
            full = sum(score.max_score for score in row.scores)
            if abs(full - points[row.lab]) > 1e-9:  # graded before the lab's points changed
                raise ExportRefused(f"{for_terminal(row.student)}'s {row.lab} was graded out of {full:g} points, the "
                                    f"lab is worth {points[row.lab]:g} now: grade it again before exporting")
            cell = _number(row.total[0])
        table.setdefault(row.student, {})[row.lab] = cell
    return table, empty


# ---------------------------------------------------------------- layouts
def _canvas_name(name: str) -> str:
    """The Student cell: the name as text, or nothing when Canvas would read the row as
    something else (a first cell containing "Points Possible" makes the row the points row;
    Canvas's test is case-sensitive, this one is not)."""
    return "" if "points possible" in name.lower() else for_csv(name)


def _header_name(lab: str, names: dict[str, str]) -> str:
    return for_csv(names.get(lab, lab))


def layout(form: str, table: dict[str, dict[str, str]], people: dict[str, Person], labs: list[str],
           points: dict[str, float], lms_field: str, names: dict[str, str] | None = None) -> list[list[str]]:
    """The file's rows, header first, students in the order of their course id."""
    names = names or {}
    columns = [_header_name(lab, names) for lab in labs]
    maxima = [_number(points[lab]) for lab in labs]
    students = sorted(people)
    if form == "canvas":
        column = CANVAS_STUDENT_COLUMNS.index(LMS_FIELDS["canvas"][lms_field])
        rows = [CANVAS_STUDENT_COLUMNS + columns, [POINTS_POSSIBLE, "", "", "", ""] + maxima]
        for student in students:
            ids = ["", "", "", ""]  # ID, SIS User ID, SIS Login ID, Section
            ids[column - 1] = people[student].lms_id
            rows.append([_canvas_name(people[student].name)] + ids + [table.get(student, {}).get(lab, "") for lab in labs])
        return rows
    if form == "moodle":
        rows = [[LMS_FIELDS["moodle"][lms_field], "Course id"] + columns]
        return rows + [[people[s].lms_id, for_csv(s)] + [table.get(s, {}).get(lab, "") or MOODLE_NO_GRADE for lab in labs]
                       for s in students]
    if form == "wide":
        rows = [["student", "lms_id"] + columns, [POINTS_POSSIBLE, ""] + maxima]
        return rows + [[for_csv(s), people[s].lms_id] + [table.get(s, {}).get(lab, "") for lab in labs]
                       for s in students]
    raise ExportRefused(f"unknown format {form!r}: one of {', '.join(FORMATS)}")


def write_atomically(rows: list[list[str]], target: Path, encoding: str = "utf-8") -> Path:
    """The rows as CSV at `target`, written beside it under a temporary name and renamed:
    an interrupted export leaves the previous file or none. A link at `target` is replaced,
    never written through."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(handle, "w", encoding=encoding, newline="") as out:
            csv.writer(out).writerows(rows)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_names(path: Path | None) -> dict[str, str]:
    """lab -> the LMS's column name, from a CSV with columns lab,name (e.g. a Canvas
    assignment `Lab 1 (12345)`, so that the import finds that assignment by its id)."""
    if path is None:
        return {}
    header, *rows = _read_csv(path, "the assignment names")
    if not {"lab", "name"} <= set(header):
        raise ExportRefused(f"{path}: the header must name the columns lab,name")
    return {row["lab"].strip(): row["name"].strip() for _, row in rows if row.get("lab") and row.get("name")}


# ---------------------------------------------------------------- the command's work
def export(workspace: pipeline.Workspace, out: Path, labs: list[str], form: str, mapping: Path,
           lms_field: str | None = None, names: Path | None = None, include_absent: bool = False,
           partial: bool = False) -> Export:
    """Write `out`/lms_<form>.csv and its _ungraded.csv side file from the gradebook."""
    lms_field = lms_field or DEFAULT_FIELD[form]
    if lms_field not in LMS_FIELDS.get(form, {}):
        raise ExportRefused(f"--lms-field for {form}: one of {', '.join(LMS_FIELDS.get(form, {}))}")
    people = read_mapping(mapping, lms_field)
    points = lab_points(workspace, labs)
    found = reports.rows(workspace, out, labs)
    known = {row.student for row in found}
    absent = sorted(set(people) - known)
    if absent and not include_absent:
        shown = ", ".join(repr(for_terminal(s)) for s in absent[:10]) + (", ..." if len(absent) > 10 else "")
        raise ExportRefused(f"{len(absent)} student(s) of the mapping have nothing in the gradebook: {shown}. "
                            "A typo? If they are enrolled and handed nothing in, give --include-absent "
                            "(their cells stay empty)")
    table, empty = cells(found, points, partial)
    unmapped = sorted(known - set(people))
    table = {student: row for student, row in table.items() if student in people}
    empty = [cell for cell in empty if cell.student in people]
    empty += [Empty(student, lab, "nothing handed in") for student in sorted(people) for lab in labs
              if lab not in table.get(student, {})]
    rows = layout(form, table, people, labs, points, lms_field, read_names(names))
    target = write_atomically(rows, out / f"lms_{form}.csv", "utf-8-sig" if form == "wide" else "utf-8")
    side = [["student", "lms_id", "lab", "reason"]] + \
        [[for_csv(e.student), people[e.student].lms_id, e.lab, for_csv(e.reason)] for e in empty] + \
        [[for_csv(s), "", "", "not in the mapping: not exported"] for s in unmapped]
    side_file = write_atomically(side, out / f"lms_{form}_ungraded.csv")
    return Export(target, side_file, empty, unmapped)
