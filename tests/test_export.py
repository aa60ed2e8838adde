"""`course export`: grade files Canvas and Moodle import, read back the way each LMS reads them.

`canvas_import` follows canvas-lms lib/gradebook_importer.rb (delimiter guess, header check,
student columns up to Section, "Points Possible" row, `Title (id)` columns, student found by
ID, SIS User ID, SIS Login ID, then name); `moodle_import` follows moodle
grade/import/csv/classes/load_data.php (every row a student, identifier mapped to a user field,
a grade a number, '' or '-' no grade). Both are the parsers' rules, not this module's code.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest

from course_admin import cli, export, pipeline, reports
from course_admin.pipeline import ExerciseScore

LAB1, LAB2 = "lab1_lime_from_scratch", "lab2_attention_vs_lime"
FORMULA = re.compile(r"\s*[=+\-@]")


# ---------------------------------------------------------------- the LMSs' readers
def _fields(line: str, separator: str) -> int | None:
    try:
        return len(next(csv.reader([line], delimiter=separator, strict=True)))
    except csv.Error:
        return None


def canvas_import(text: str) -> dict:
    """What Canvas's gradebook importer makes of a CSV: {"points": {title: str}, "ids":
    {title: id or None}, "students": [{"by": how found, "key": value, "grades": {title: str}}]}."""
    lines = text.splitlines()
    counts = {}
    for separator in ";,":  # identify_delimiter: a separator whose field count is the same on the first 3 lines
        found = [_fields(line, separator) or 0 for line in lines[:3]]
        counts[separator] = found[0] if len(set(found)) == 1 else 0
    assert counts[","] >= counts[";"], "Canvas would read this file as semicolon-separated"
    rows = list(csv.reader(io.StringIO(text), strict=True))
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], "Invalid header row"
    columns = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        columns += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        columns += 2
    assert "Section" in header[columns - 1], "Invalid header row: the last student column is not Section"
    positions = {}
    for index, name in enumerate(header[columns:], start=columns):
        assert not re.search("Current Score|Final Score|Current Points|Final Points|Current Grade|Final Grade", name)
        positions[name] = index
    ids = {name: (m.group(2) if (m := re.fullmatch(r"(.*) \((\d+)\)", name)) else None) for name in positions}
    result = {"points": {}, "ids": ids, "students": []}
    for row in rows[1:]:
        if re.fullmatch(r"[;, ]+", ",".join(row)):
            continue
        if "Points Possible" in row[0]:
            result["points"] = {name: row[i] for name, i in positions.items()}
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", cell, re.I) for cell in row):
            continue  # a row Canvas skips as "muted"
        for by, column in (("ID", 1), ("SIS User ID", 2), ("SIS Login ID", 3), ("name", 0)):
            if column < columns - 1 and row[column].strip():
                break
        grades = {name: row[i].strip() for name, i in positions.items()}
        for grade in grades.values():
            assert grade == "" or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", grade), f"not a score: {grade!r}"
        result["students"].append({"by": by, "key": row[column], "name": row[0], "grades": grades})
    return result


def moodle_import(text: str, map_from: str, map_to: str, users: dict[str, str], items: list[str]) -> dict:
    """What Moodle's CSV grade import makes of a file: map_from's column identifies the user
    (users: value of the user field -> user), each of `items` is a grade item column.
    Returns user -> item -> float or None (no grade); an unknown user aborts the import."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), strict=True))
    header = [name.strip() for name in rows[0]]
    key, positions = header.index(map_from), {item: header.index(item) for item in items}
    grades = {}
    for line in rows[1:]:
        if len(line) <= 1:
            continue
        value = line[key].strip()
        assert value in users, f"usermappingerrorusernotfound: {value!r} ({map_to}): the whole import is aborted"
        mine = {}
        for item, i in positions.items():
            cell = line[i].strip()
            if cell in ("", "-"):
                mine[item] = None
            else:
                assert re.fullmatch(r"-?[0-9]*\.?[0-9]+", cell), f"badgrade: {cell!r} aborts the import"
                mine[item] = float(cell)
        grades[users[value]] = mine
    return grades


# ---------------------------------------------------------------- helpers
def _graded(student: str, lab: str, points: list[tuple[float, float]], pending: bool = False,
            penalty: float = 0.0) -> reports.Row:
    scores = [ExerciseScore(f"ex{i}", score, top) for i, (score, top) in enumerate(points)]
    scores.append(ExerciseScore("written", 0.0 if pending else 2.0, 3.0, manual=True, pending=pending))
    return reports.Row(lab, student, True, scores=scores, late_penalty=penalty)


def _text(rows: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue()


def _mapping(tmp_path: Path, lines: list[list[str]], header: tuple[str, ...] = ("student", "lms_id", "name")) -> Path:
    path = tmp_path / "ids.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([list(header)] + lines)
    return path


HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "-2+3", "@SUM(A1)", "Smith, \"Jo\"\nnext", "Zoë; Ünal"]


@pytest.fixture
def hostile(tmp_path):
    """Five students whose course ids are what a student may name a folder, with a mapping
    whose names hold commas, quotes, a newline, semicolons and non-ASCII letters."""
    found = [_graded(s, LAB1, [(30, 30), (5, 7)]) for s in HOSTILE]
    found.append(_graded(HOSTILE[0], LAB2, [(10, 17)], penalty=1.5))
    people = {s: export.Person(f"S{i:03d}", name) for i, (s, name) in enumerate(zip(HOSTILE, reversed(HOSTILE)))}
    return found, people


def test_canvas_reads_every_student_number_and_points_possible(hostile):
    found, people = hostile
    points = {LAB1: 40.0, LAB2: 20.0}
    table, empty = export.cells(found, points)
    rows = export.layout("canvas", table, people, [LAB1, LAB2], points, "sis_user_id")
    read = canvas_import(_text(rows))
    assert read["points"] == {LAB1: "40", LAB2: "20"}, "the lab's full points, written answer included"
    by_key = {s["key"]: s for s in read["students"]}
    assert len(read["students"]) == 5 and all(s["by"] == "SIS User ID" for s in read["students"])
    assert by_key["S000"]["grades"] == {LAB1: "37", LAB2: "10.5"}, "30 + 5 + 2 written; 10 + 2 - 1.5 late"
    assert by_key["S001"]["grades"] == {LAB1: "37", LAB2: ""}, "no Lab 2 notebook: empty, not 0"
    assert empty == [], "cells() lists what it left empty; a missing notebook is listed by export()"
    cells = [cell for row in rows for cell in row]
    assert not any(FORMULA.match(cell) for cell in cells), cells
    assert not any("\n" in cell or "\r" in cell for cell in cells)
    assert "Smith, \"Jo\"\\x0anext" in [s["name"] for s in read["students"]], "commas and quotes survive as text"
    assert "Zoë; Ünal" in [s["name"] for s in read["students"]]


def test_canvas_student_column_never_holds_the_students_own_id(hostile):
    """Canvas falls back to matching by name when no id matches: a course id a student chose
    (another student's name) must not be there. Without names in the mapping it is empty."""
    found, people = hostile
    people = {s: export.Person(str(1000 + i)) for i, s in enumerate(people)}  # Canvas user ids, no names
    table, _ = export.cells(found, {LAB1: 40.0})
    rows = export.layout("canvas", table, people, [LAB1], {LAB1: 40.0}, "canvas_id")
    assert [row[0] for row in rows[2:]] == [""] * 5
    assert [row[1] for row in rows[2:]] == [people[s].lms_id for s in sorted(people)], "Canvas's ID column"
    assert {s["by"] for s in canvas_import(_text(rows))["students"]} == {"ID"}


def test_a_student_named_points_possible_stays_a_student(hostile):
    """Canvas reads any row whose first cell contains "Points Possible" as the points row."""
    found, people = hostile
    people[HOSTILE[2]].name = "Mx Points Possible"
    table, _ = export.cells(found, {LAB1: 40.0})
    read = canvas_import(_text(export.layout("canvas", table, people, [LAB1], {LAB1: 40.0}, "sis_user_id")))
    assert read["points"] == {LAB1: "40"} and len(read["students"]) == 5
    assert {s["key"]: s["grades"][LAB1] for s in read["students"]}[people[HOSTILE[2]].lms_id] == "37"


def test_canvas_assignment_names_carry_the_assignment_id(hostile, tmp_path):
    found, people = hostile
    names = tmp_path / "names.csv"
    names.write_text(f"lab,name\n{LAB1},Lab 1: LIME (12345)\n", encoding="utf-8")
    table, _ = export.cells(found, {LAB1: 40.0})
    rows = export.layout("canvas", table, people, [LAB1], {LAB1: 40.0}, "sis_login_id", export.read_names(names))
    read = canvas_import(_text(rows))
    assert read["ids"] == {"Lab 1: LIME (12345)": "12345"}
    assert {s["by"] for s in read["students"]} == {"SIS Login ID"}


def test_moodle_reads_numbers_and_no_grade_and_has_no_points_row(hostile):
    found, people = hostile
    found.append(reports.Row(LAB1, "late_one", False, reason="the kernel died"))
    people["late_one"] = export.Person("S999")
    pending = _graded("thinking", LAB1, [(30, 30), (7, 7)], pending=True)
    people["thinking"] = export.Person("S500")
    points = {LAB1: 40.0}
    table, empty = export.cells(found + [pending], points)
    rows = export.layout("moodle", table, people, [LAB1], points, "idnumber")
    users = {p.lms_id: s for s, p in people.items()}
    grades = moodle_import(_text(rows), "ID number", "useridnumber", users, [LAB1])
    assert grades[HOSTILE[1]] == {LAB1: 37.0}
    assert grades["late_one"] == {LAB1: None} and grades["thinking"] == {LAB1: None}, "empty, never 0"
    assert {(e.student, e.reason.split(":")[0]) for e in empty} == {("late_one", "not graded"),
                                                                     ("thinking", "written answer to grade")}
    assert len(grades) == len(people), "every row a student: a Points Possible row would abort Moodle's import"
    assert {row[2] for row in rows[1:]} == {"37", "-"}, "Moodle's own sign for no grade, for new grade items too"
    assert not any(FORMULA.match(cell) for row in rows for cell in row if cell != "-")


def test_partial_exports_points_so_far_out_of_the_full_points():
    pending = _graded("thinking", LAB1, [(30, 30), (7, 7)], pending=True)
    table, empty = export.cells([pending], {LAB1: 40.0}, partial=True)
    assert table == {"thinking": {LAB1: "37"}} and empty == []


def test_a_grade_made_against_other_points_is_refused():
    row = _graded("old", LAB1, [(30, 30), (5, 5)])  # 38 points in all
    with pytest.raises(export.ExportRefused, match="graded out of 38 points, the lab is worth 40"):
        export.cells([row], {LAB1: 40.0})


@pytest.mark.parametrize("lines, message", [
    ([["alice", "S1", ""], ["alice", "S2", ""]], "mapped twice"),
    ([["alice", "S1", ""], ["bob", "S1", ""]], "given to both"),
    ([["alice", "=cmd|'/c calc'!A0", ""]], "formula"),
    ([["alice", "", ""]], "empty"),
    ([["alice", "S\x1b[2J", ""]], "control"),
])
def test_bad_mappings_are_refused_with_the_line(tmp_path, lines, message):
    with pytest.raises(export.ExportRefused, match=message) as refused:
        export.read_mapping(_mapping(tmp_path, lines))
    assert "line" in str(refused.value)


def test_a_mapping_line_is_the_files_line_and_a_name_may_hold_a_newline(tmp_path):
    path = _mapping(tmp_path, [["alice", "S1", "Ann\nLee, \"A\""], ["bob", "S2", ""]])
    assert export.read_mapping(path)["alice"].name == "Ann\nLee, \"A\""
    with pytest.raises(export.ExportRefused, match="line 4: the student 'alice' is mapped twice"):
        export.read_mapping(_mapping(tmp_path, [["alice", "S1", "Ann\nLee"], ["alice", "S2", ""]]))
    (tmp_path / "bad.csv").write_bytes(b"student,lms_id\n\xff\xfe,1\n")
    with pytest.raises(export.ExportRefused, match="cannot read the mapping"):
        export.read_mapping(tmp_path / "bad.csv")


def test_a_mapping_without_its_columns_or_with_a_non_canvas_id_is_refused(tmp_path):
    with pytest.raises(export.ExportRefused, match="student,lms_id"):
        export.read_mapping(_mapping(tmp_path, [["alice", "S1"]], header=("id", "sis")))
    with pytest.raises(export.ExportRefused, match="not a Canvas user id"):
        export.read_mapping(_mapping(tmp_path, [["alice", "S1", ""]]), "canvas_id")


def test_wide_has_a_byte_order_mark_and_an_interrupted_write_leaves_the_old_file(tmp_path):
    rows = [["student", "lms_id", LAB1], ["Points Possible", "", "40"], ["zoë", "S1", "37"]]
    target = export.write_atomically(rows, tmp_path / "lms_wide.csv", "utf-8-sig")
    before = target.read_bytes()
    assert before.startswith("\ufeff".encode()) and "zoë".encode() in before

    class Exploding:
        def __str__(self) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export.write_atomically(rows + [["x"] * 2000, [Exploding()]], target)
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["lms_wide.csv"]


# ---------------------------------------------------------------- the command, on a real gradebook
@pytest.fixture
def course(graded, tmp_path):
    """A copy of the graded Lab 1 cohort's course (reference, blank, partly_wrong, wrong_mix,
    noisy), so that grading by hand here changes no other test's gradebook."""
    copy = tmp_path / "course"
    shutil.copytree(graded.workspace.path, copy, symlinks=True)
    return copy


def _grade_by_hand(course: Path, student: str, points: float) -> None:
    """What Formgrader's Manual Grading does: a score for the written answer."""
    from nbgrader.api import Gradebook

    with pipeline.grading_environment(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for grade in gradebook.find_submission_notebook(LAB1, LAB1, student).grades:
            if grade.needs_manual_grade:
                grade.manual_score, grade.needs_manual_grade = points, False
        gradebook.db.commit()


def test_course_export_canvas_from_the_gradebook(course, tmp_path, capsys):
    mapping = _mapping(tmp_path, [["reference", "S100", "Ada Lovelace"], ["partly_wrong", "S200", "Bo, \"B\""],
                                  ["blank", "S300", ""], ["wrong_mix", "S400", ""]])
    code = cli.main(["export", "--format", "canvas", "--mapping", str(mapping), "--course", str(course),
                     "--lab", LAB1])
    out = capsys.readouterr()
    assert code == 1 and "not in the mapping, not exported: noisy" in out.err, "a graded student left out is said"
    target = course / "reports" / "lms_canvas.csv"
    read = canvas_import(target.read_text(encoding="utf-8"))
    assert read["points"] == {LAB1: "40"}, "37 automatic + 3 written, whether graded by hand yet or not"
    grades = {s["key"]: s["grades"][LAB1] for s in read["students"]}
    assert grades["S100"] == "" and "reference" in out.err, "the written answer is still to grade: empty and listed"
    assert grades["S300"] == "0" and grades["S200"] == "24", "the demo table's 24/37; blank written answers score 0"
    side = list(csv.DictReader(open(course / "reports" / "lms_canvas_ungraded.csv", encoding="utf-8")))
    assert {(r["student"], r["reason"].split(":")[0]) for r in side} >= {("reference", "written answer to grade"),
                                                                         ("noisy", "not in the mapping")}

    _grade_by_hand(course, "reference", 3)
    assert cli.main(["export", "--format", "canvas", "--mapping", str(mapping), "--course", str(course),
                     "--lab", LAB1]) == 1
    grades = {s["key"]: s["grades"][LAB1] for s in canvas_import(target.read_text(encoding="utf-8"))["students"]}
    assert grades["S100"] == "40", "the hand-given grade flows into the export"


def test_course_export_refuses_unknown_students_and_foreign_folders(course, tmp_path, capsys):
    mapping = _mapping(tmp_path, [["reference", "S100", ""], ["refrence", "S101", ""]])
    args = ["export", "--format", "moodle", "--mapping", str(mapping), "--course", str(course), "--lab", LAB1]
    assert cli.main(args) == 2 and "'refrence'" in capsys.readouterr().err
    assert not (course / "reports" / "lms_moodle.csv").exists(), "nothing written on a refusal"
    assert cli.main(args + ["--include-absent"]) == 1
    grades = moodle_import((course / "reports" / "lms_moodle.csv").read_text(encoding="utf-8"), "ID number",
                           "useridnumber", {"S100": "reference", "S101": "refrence"}, [LAB1])
    assert grades["refrence"] == {LAB1: None}
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "lms_moodle.csv").write_text("my own file\n")
    with pytest.raises(SystemExit) as refused:
        cli.main(args + ["--include-absent", "--out", str(mine)])
    assert refused.value.code == 2 and "did not make" in capsys.readouterr().err
    assert (mine / "lms_moodle.csv").read_text() == "my own file\n", "a file the course did not make is kept"
