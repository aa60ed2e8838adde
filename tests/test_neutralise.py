"""Issue 23, items 2 and 3: script in what the instructor opens, terminal and markdown injection.

The checks here do not trust the code they test: a page is parsed with the standard
library's HTML parser (as a browser tokenises it) and searched for anything that could run
a script or open a page; summary.md is rendered with the markdown renderer nbconvert uses;
grades.csv is read back with the csv module; terminal output is searched for control
characters. The markdown-XSS corpus is tests/data/markdown_xss.txt (its source and licence
are in its header).
"""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_admin import cli, collect, exchange, preprocessors, reports

CORPUS = Path(__file__).resolve().parent / "data" / "markdown_xss.txt"
# The issue's three written answers that ran a script in Formgrader's view and the feedback page.
ISSUE_ANSWERS = {
    "code span across paragraphs": "A code span that is not one: `it starts here\n\n"
                                   "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>\n\nand ends here`",
    "indented fence": "Indented fence:\n\n    ```\n<img src=x onerror=alert(2)>\n    ```",
    "entity in a link's scheme": "[x](java&#x73;cript:alert(3))",
}
TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def corpus_cases() -> list[str]:
    """The markdown cases of the corpus file (header lines start with "# " or are "#")."""
    body = "\n".join(line for line in CORPUS.read_text().splitlines() if not line.startswith("# ") and line != "#")
    return [case.strip("\n") for case in re.split(r"^%%%%$", body, flags=re.M)]


class ActiveParts(HTMLParser):
    """What in a page could run a script or open a page, as a browser's tokeniser sees it."""

    TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "form", "base", "meta", "link", "svg",
            "math", "template", "portal"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._in_script = tag == "script"
        if tag in self.TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on") or name in ("srcdoc", "formaction"):
                self.found.append(f"{name}=")
            elif url.startswith(("javascript:", "vbscript:")) or (
                    url.startswith("data:") and not url.startswith("data:image/")):
                self.found.append(f"{name}={url[:20]}")

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert(" in data:
            self.found.append("a script with alert(")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def active(page: str) -> list[str]:
    parser = ActiveParts()
    parser.feed(page)
    parser.close()
    return parser.found


def render(source: str) -> str:
    """A markdown cell as nbconvert's HTML exporter (feedback, Formgrader) renders it."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    return MarkdownWithMath(renderer=IPythonRenderer(escape=False)).render(source)


def clean_cells(*cells: nbformat.NotebookNode) -> tuple[list[nbformat.NotebookNode], list[str]]:
    """The cells after the course's CleanOutputs (no lab cell known: all are the student's)."""
    clean = preprocessors.CleanOutputs()
    clean._lab_markdown, clean._lab_code = set(), set()  # preprocess() reads them from the release
    resources: dict = {}
    for index, cell in enumerate(cells):
        clean.preprocess_cell(cell, resources, index)
    return list(cells), resources.get("course", {}).get("notes", [])


# ------------------------------------------------------------------------------ HTML
def test_the_corpus_is_the_converted_one():
    cases = corpus_cases()
    assert len(cases) == 28 and "markdown-it" in CORPUS.read_text()[:600] and "MIT" in CORPUS.read_text()[:600]
    assert sum(1 for case in cases if active(render(case))) >= 15, "the corpus' cases are active as nbconvert renders"


@pytest.mark.parametrize("index", range(28))
def test_no_case_of_the_markdown_xss_corpus_runs_a_script(index):
    case = corpus_cases()[index]
    (cell,), notes = clean_cells(nbformat.v4.new_markdown_cell(case))
    assert active(render(cell.source)) == [], (case, render(cell.source))
    assert render(render(cell.source)).strip() == render(cell.source).strip(), "rendering again changes nothing"
    if active(render(case)):
        assert notes and "removed" in notes[0], (case, notes)


@pytest.mark.parametrize("name", ISSUE_ANSWERS)
def test_the_issues_written_answers_run_no_script_and_the_flag_is_true(name):
    answer = nbformat.v4.new_markdown_cell(ISSUE_ANSWERS[name])
    answer.metadata["nbgrader"] = {"solution": True, "grade": True, "grade_id": "written_q", "points": 2}
    (cell,), notes = clean_cells(answer)
    page = render(cell.source)
    assert active(page) == [], page
    if active(render(ISSUE_ANSWERS[name])):  # what nbconvert would have made of it: flagged, and removed
        assert len(notes) == 1 and "removed" in notes[0] and "shown as text" not in notes[0], notes


def test_an_ordinary_answer_keeps_its_formatting():
    text = ("# Answer\n\nIG follows the **gradient**; see [the paper](https://arxiv.org/abs/1703.01365).\n\n"
            "| a | b |\n|---|---|\n| 1 | $x^2$ |\n\n```python\nprint(1 < 2)\n```\n\n- one\n- two")
    (cell,), notes = clean_cells(nbformat.v4.new_markdown_cell(text))
    page = render(cell.source)
    assert notes == []
    for part in ("<h1", "<strong>gradient</strong>", 'href="https://arxiv.org/abs/1703.01365"', "<table>", "<td>",
                 "<li>", "<pre>"):
        assert part in page, part
    assert "x^2" in page.replace("&#36;", "$") and "print" in page


def test_outputs_and_raw_cells_pass_the_same_sanitiser():
    cell = nbformat.v4.new_code_cell("display(...)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": ISSUE_ANSWERS["entity in a link's scheme"]}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload=alert(4)><script>alert(5)</script></svg>"}),
        nbformat.v4.new_output("display_data", data={"text/html": '<a href="  jav&#x09;ascript:alert(6)">x</a>'
                                                                  '<iframe srcdoc="<script>alert(7)</script>">'}),
    ]
    raw = nbformat.v4.new_raw_cell('<img src=x onerror=alert(8)><script>alert(9)</script>')
    raw.metadata["format"] = "text/html"
    (code, raw), notes = clean_cells(cell, raw)
    for output in code.outputs:
        assert set(output.data) <= {"text/html", "text/plain"} and active(output.data["text/html"]) == [], output
    assert 'src="data:image/svg+xml;base64,' in code.outputs[1].data["text/html"], "an SVG drawing stays, as an image"
    assert active(raw.source) == [] and "alert" not in raw.source
    assert len(notes) == 4 and all("removed" in note for note in notes), notes


def test_grader_cells_are_rendered_and_sanitised_too():
    cell = preprocessors.grader_cell("**For the grader**\n\n- `x` <img src=x onerror=alert(10)>")
    assert active(render(cell.source)) == [] and "<strong>For the grader</strong>" in render(cell.source)


# ------------------------------------------------------------------------------ text
HOSTILE = "ok\x1b[2K\r\x1b[1Aall students graded, no flags\x08\u202egnp.exe\n| mallory | 100/100 | <b>x</b> |"


def test_the_terminal_sees_no_control_character(capsys):
    row = reports.Row(lab="lab1", student="mallory\x1b]0;title\x07", graded=True, flags=[HOSTILE])
    failed = reports.Row(lab="lab1", student="eve`rm`", graded=False, reason=HOSTILE)
    cli._print_summary([row, failed])
    out = capsys.readouterr().out
    assert not TERMINAL_CONTROL.search(out), repr(out)
    assert out.count("\n") == 4, "a blank line, the lab, then one line per student"
    assert exchange.clean("a\nb\x1b[2J\u202ec\udcff") == "a\\x0ab\\x1b[2J\\u202ec\\udcff"


def test_summary_md_shows_a_forged_record_as_text(tmp_path):
    found = [reports.Row(lab="lab1", student="mallory", graded=True, flags=[HOSTILE, "test_x `y` *z* [a](javascript:b)"]),
             reports.Row(lab="lab1", student="eve\n| fake | 9/9 | 9/9 | corrected by the instructor |", graded=False,
                       reason="<b>bold</b> # heading")]
    problems = [collect.Problem(file="bad`name\x1b[2J.ipynb", reason="- a list\n# a heading")]
    report = reports.write_report(tmp_path, found, problems).read_text()
    page = render(report)
    assert not TERMINAL_CONTROL.search(report)
    assert "<b>" not in page and "<em>" not in page and "<code>y" not in page, page
    assert re.findall(r"<a (?!class=\"anchor-link\")", page) == [], "no link but the headings' anchors"
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    assert len(rows) == 3, "a header and one row per student, no forged row"
    assert all(row.count("<td") in (0, 4) and row.count("<th") in (0, 4) for row in rows), rows
    assert "<h1>" not in page.split("</h1>", 1)[1] and page.count("<li>") == 1


def test_grades_csv_holds_no_formula(tmp_path):
    found = [reports.Row(lab="lab1", student="=HYPERLINK(\"http://x\",\"y\")", graded=False, reason="+1"),
             reports.Row(lab="lab1", student="@SUM(A1)", graded=True, timestamp="-2+3")]
    target = reports.export_grades(found, tmp_path / "grades.csv")
    with open(target, newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not any(re.match(r"\s*[=+\-@]", cell) for cell in cells), cells
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells


def test_a_grade_id_with_escapes_reaches_the_flags_as_text():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0].metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t\x1b[2J\nall good", "points": 1}
    nb, _ = preprocessors.ForgetUnknownCells().preprocess(nb, {})
    (note,) = nb.metadata["course_notes"]
    assert not TERMINAL_CONTROL.search(note) and "\n" not in note and "\\x1b" in note


def test_lms_names_are_escaped_where_they_are_shown(tmp_path):
    """A file name from an LMS export with ESC, newline and backtick: one safe line on the
    terminal, plain text in summary.md."""
    problem = collect.Problem(file=collect._printable("alice/lab1`<b>x</b>\x1b[31m\nred.ipynb", 300), reason="not a lab")
    assert not TERMINAL_CONTROL.search(problem.file) and "\n" not in problem.file, "cli prints it as it is"
    page = render(reports.write_report(tmp_path, [], [problem]).read_text())
    assert "<b>" not in page and "<code>&lt;b" not in page and "lab1`" in page.replace("&amp;", "&")



def test_the_allow_list_keeps_bitmaps_and_drops_comments_and_data_pages():
    (cell,), _ = clean_cells(nbformat.v4.new_markdown_cell(corpus_cases()[5] + "\n\n<!-- hidden -->\n\n"
                                                           "[p](data:text/html,x) [m](mailto:a@b.c)"))
    page = render(cell.source)
    assert 'src="data:image/gif;base64,R0lGOD' in page and "hidden" not in page and "<!--" not in page
    assert "data:text" not in page and 'href="mailto:a@b.c"' in page
