"""The class hub in a real browser: a student and the instructor through Lab 1, end to end.

`course hub` starts JupyterHub for an instructor and two students (conftest.py). Then, in
headless Chromium, with clicks in the pages a person would use:

1. the instructor logs in and releases Lab 1 from Formgrader's Manage Assignments page;
2. a student logs in (the Nbgrader menu shows the Assignment List only, Formgrader is not
   served), fetches Lab 1 in the Assignments tab, opens it (the kernel is the course's),
   writes answers in the cells (six exercises, two with a classic mistake and one left
   blank: the README's "partly_wrong" student; and the written answer), presses Validate,
   then Submit;
3. the instructor collects, autogrades from Formgrader's Manage Submissions page, grades
   the written answer on Formgrader's grading page (its rubric is under the answer), then
   generates and releases feedback;
4. the student fetches the feedback.

Checked on the machine: each step's files (exchange, course root, student's home), the
instructor's gradebook (an autograde score for every test cell, equal to what `course
autograde`'s engine gives the same notebook; the manual score entered), that grading ran
in the sandbox (a student cell prints its host name: the sandbox's is "grading"), that the
feedback shows no hidden test, and that the student's server and kernel run in the student's
cgroup with the hub's limits (removed when the hub stops). Screenshots of each step go to
tests_browser/screenshots/.

Run as root: ``.venv/bin/python -m pytest tests_browser -s`` (a few minutes). Every time
limit below is an idle machine's, scaled to the load (conftest.seconds); every wait is for a
condition (a page element, a file, a gradebook value), never a fixed sleep.
"""

from __future__ import annotations

import json
import pwd
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from waiting import seconds, wait_until

from course_admin import hub_folder, hub_limits, hub_removal, labformat, pipeline
from course_admin.cli import DEMO_PLANS

LAB = "lab1_lime_from_scratch"
COURSE_ID = "explaining-nlp-models"
WRITTEN = "written_sigma"
WRITTEN_SCORE = 2.0
WRITTEN_ANSWER = ("A small sigma weighs only samples that keep almost every token, so the surrogate is very "
                  "local and noisy; a large sigma weighs all samples alike and the explanation becomes global.")
# A line the student adds to an ungraded cell: under Formgrader it prints the sandbox's host name.
HOST_PROBE = 'print("running on", __import__("socket").gethostname())'
PROBE_CELL = 7  # `review = ...`, the cell that picks the review to explain
GRADING = 15 * 60  # seconds the slowest steps (validate, autograde) may take on an idle 2-core machine, scaled


def login(page, hub, user: str) -> None:
    """Log in on JupyterHub's page and wait for the user's JupyterLab."""
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords[user])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=seconds(240) * 1000)
    # The Nbgrader menu comes with the extensions; a returning user may get their tabs, not the Launcher.
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=seconds(120) * 1000)
    page.locator(".jp-LauncherCard, .jp-NotebookPanel, #released_assignments_list").first.wait_for(
        timeout=seconds(120) * 1000)


def nbgrader_menu(page) -> list[str]:
    """The items of JupyterLab's Nbgrader menu (the menu is left open)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    items = page.locator(".lm-Menu-content .lm-Menu-itemLabel")
    items.first.wait_for()
    return [text.strip() for text in items.all_inner_texts() if text.strip()]  # hidden commands: no label


def open_assignment_list(page) -> None:
    nbgrader_menu(page)
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    page.wait_for_selector("#released_assignments_list")


def close_modal(page, text: str, idle_seconds: float = 120) -> str:
    """Wait for Formgrader's result dialog (`idle_seconds`, scaled); fail with its log unless it
    says `text`."""
    modal = page.locator(".modal.in")
    modal.wait_for(timeout=seconds(idle_seconds) * 1000)
    body = modal.inner_text()
    assert text in body, f"Formgrader said:\n{body[:3000]}"
    return body


def dismiss_modal(page) -> None:
    page.locator(".modal.in button.close").first.click()
    page.locator(".modal.in").wait_for(state="detached")


def assignment_row(page, hub, lab: str):
    page.goto(f"{hub.url}/user/{hub.instructor}/formgrader/manage_assignments")
    row = page.locator("tr", has=page.locator("td.name", has_text=lab))
    row.wait_for()
    return row


def student_answers() -> dict[int, str]:
    """Cell index -> what the student writes: the README's partly-wrong student (reference
    answers, two classic mistakes, one exercise left blank)."""
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    blank = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE), as_version=4)
    filled = pipeline.fill_submission(source, blank, DEMO_PLANS[LAB])
    answers = {index: cell.source for index, (cell, empty) in enumerate(zip(filled.cells, blank.cells))
               if cell.source != empty.source}
    answers[PROBE_CELL] = f"{HOST_PROBE}\n{blank.cells[PROBE_CELL].source}"
    return answers


def type_into_cell(page, index: int, text: str) -> None:
    """Replace a code cell's text as a person pasting into it would (the editor's own input)."""
    editor = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index).locator(".cm-content")
    editor.scroll_into_view_if_needed()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def write_markdown_answer(page, index: int, text: str) -> None:
    """Edit a rendered markdown cell (double-click), replace its text, render it again."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-RenderedMarkdown").dblclick()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Control+Enter")  # render in place


def gradebook_grades(hub, student: str) -> dict[str, dict]:
    """The instructor's gradebook, read from a copy (the instructor's file is never opened here)."""
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "gradebook.db"
        shutil.copy2(hub.course_root / "gradebook.db", copy)
        with Gradebook(f"sqlite:///{copy}") as gradebook:
            notebook = gradebook.find_submission_notebook(LAB, LAB, student)
            return {grade.name: {"auto": grade.auto_score, "manual": grade.manual_score, "max": grade.max_score,
                                 "type": grade.cell_type} for grade in notebook.grades}


def engine_grades(notebook: Path, student: str) -> dict[str, tuple[float | None, float]]:
    """The same notebook graded by the course's engine directly (`course autograde`'s path)."""
    with tempfile.TemporaryDirectory() as scratch:
        workspace = pipeline.Workspace(pipeline.scratch_course(Path(scratch) / "course", [LAB]), [LAB])
        workspace.release(LAB)
        workspace.submit(LAB, student, notebook)
        workspace.autograde(LAB, student)
        return workspace.grades(LAB, student)


class Steps:
    """Times each step and lists the screenshots, for the report at the end."""

    def __init__(self, screenshot: Callable):
        self.screenshot = screenshot
        self.start = self.last = time.monotonic()
        self.lines: list[str] = []

    def done(self, page, name: str, what: str) -> None:
        path = self.screenshot(page, name)
        now = time.monotonic()
        self.lines.append(f"{now - self.last:6.1f} s  {path.name}: {what}")
        self.last = now

    def report(self) -> str:
        return "\n".join(self.lines + [f"{time.monotonic() - self.start:6.1f} s  in all (after the hub started)"])


def check_in_limits(hub, user: str) -> None:
    """Every process of `user` (their server, its kernel) is in the cgroup the hub recorded for
    their server, whose memory limit is the hub's --mem-limit."""
    group = hub_limits.recorded_group(user, hub_limits.records_folder(hub.root))
    assert group is not None, f"no cgroup recorded for {user}'s server"
    running = set(hub_removal.account_processes(pwd.getpwnam(user).pw_uid))
    assert running and running <= group.pids(), f"{user}'s processes outside their group: {running - group.pids()}"
    limit = next((folder / name).read_text().strip() for folder in group.folders
                 for name in ("memory.max", "memory.limit_in_bytes") if (folder / name).exists())
    assert int(limit) == hub_folder.hub_settings(hub.root)["mem_limit_mb"] * 2**20


def test_class_on_the_hub(hub, browsers, screenshot) -> None:
    steps = Steps(screenshot)
    student = hub.students[0]
    exchange = hub.root / "exchange" / COURSE_ID
    student_home = Path(pwd.getpwnam(student).pw_dir)

    # -- 1. The instructor releases Lab 1 from Formgrader.
    teacher = browsers(hub.instructor)
    login(teacher, hub, hub.instructor)
    assert {"Formgrader", "Assignment List", "Course List"} <= set(nbgrader_menu(teacher))
    steps.done(teacher, "instructor_jupyterlab", "the instructor's JupyterLab: Nbgrader menu with Formgrader")
    teacher.keyboard.press("Escape")
    row = assignment_row(teacher, hub, LAB)
    row.locator("td.release a").click()
    close_modal(teacher, "Successfully released")
    steps.done(teacher, "formgrader_released", "Formgrader > Manage Assignments: Lab 1 released")
    dismiss_modal(teacher)
    assert (exchange / "outbound" / LAB / f"{LAB}.ipynb").is_file()

    # -- 2. A student: only the student tools; fetch, answer, validate, submit.
    page = browsers(student)
    login(page, hub, student)
    assert nbgrader_menu(page) == ["Assignment List"], "students see the Assignments tab only"
    steps.done(page, "student_jupyterlab", "the student's JupyterLab: the Nbgrader menu has the Assignment List only")
    page.keyboard.press("Escape")
    forbidden = page.request.get(f"{hub.url}/user/{student}/formgrader/manage_assignments", timeout=seconds(30) * 1000)
    assert forbidden.status == 404, "Formgrader must not be served to students"
    open_assignment_list(page)
    released = page.locator("#released_assignments_list .list_item", has_text=LAB)
    released.locator("button", has_text="Fetch").click()
    page.locator("#fetched_assignments_list .list_item", has_text=LAB).first.wait_for()
    steps.done(page, "student_fetched", "Assignments tab: Lab 1 fetched")
    notebook = student_home / LAB / f"{LAB}.ipynb"
    assert notebook.is_file() and notebook.stat().st_uid == pwd.getpwnam(student).pw_uid

    fetched = page.locator("#fetched_assignments_list .list_item", has_text=LAB).first
    fetched.locator("a", has_text=LAB).first.click()  # unfolds the assignment's notebooks
    page.locator("#fetched_assignments_list .nested_list_item .item_name a", has_text=LAB).first.click()
    page.wait_for_selector(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    kernel = page.locator(".jp-NotebookPanel:visible .jp-KernelName, .jp-NotebookPanel:visible "
                          "[data-jp-item-name='kernelName']").first
    kernel.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.jp-NotebookPanel .jp-KernelName, "
                           "[data-jp-item-name=kernelName]')].some(e => e.textContent.includes('course'))")
    answers = student_answers()
    for index, text in answers.items():
        type_into_cell(page, index, text)
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    written = next(i for i, cell in enumerate(source.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == WRITTEN)
    write_markdown_answer(page, written, WRITTEN_ANSWER)
    steps.done(page, "student_answered", "the student's answers typed into Lab 1 (kernel: Python 3 (course))")
    check_in_limits(hub, student)  # the server and the kernel it started

    page.locator(".jp-NotebookPanel:visible .validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=seconds(GRADING) * 1000)
    verdict = dialog.inner_text()
    steps.done(page, "student_validated", "Validate: nbgrader ran the notebook and lists the failing cells")
    assert "token_importance" in verdict or "NotImplementedError" in verdict, verdict[:2000]
    dialog.locator("button").last.click()
    saved = nbformat.read(notebook, as_version=4)  # Validate saved it first
    typed = {index: saved.cells[index].source for index in answers}
    assert typed == answers, "the notebook holds exactly what the student typed"
    assert saved.cells[written].source == WRITTEN_ANSWER

    page.locator(".lm-TabBar-tabLabel", has_text="Assignments").click()
    page.locator("#fetched_assignments_list .list_item", has_text=LAB).locator("button", has_text="Submit").first.click()
    page.locator("#submitted_assignments_list .list_item", has_text=LAB).first.wait_for()
    steps.done(page, "student_submitted", "Assignments tab: Lab 1 submitted (with its time)")
    assert any(path.name.startswith(f"{student}+{LAB}+") for path in (exchange / "inbound").iterdir())

    # -- 3. The instructor collects, autogrades, grades the written answer, releases feedback.
    row = assignment_row(teacher, hub, LAB)
    row.locator("td.collect a").click()
    close_modal(teacher, "Successfully collected")
    dismiss_modal(teacher)
    submitted = hub.course_root / "submitted" / student / LAB / f"{LAB}.ipynb"
    assert submitted.is_file()
    row = assignment_row(teacher, hub, LAB)
    row.locator("td.num-submissions a").click()
    teacher.wait_for_url(f"**/formgrader/manage_submissions/{LAB}")
    submission = teacher.locator("tr", has=teacher.locator("td.student-id", has_text=student))
    submission.locator("td.autograde a").wait_for()
    steps.done(teacher, "formgrader_collected", "Formgrader > Manage Submissions: the submission, collected")
    submission.locator("td.autograde a").click()
    log = close_modal(teacher, "Successfully autograded", GRADING)
    steps.done(teacher, "formgrader_autograded", "Formgrader: autograded (the course's sandboxed engine)")
    dismiss_modal(teacher)

    grades = gradebook_grades(hub, student)
    auto = {name: g for name, g in grades.items() if g["type"] == "code"}
    assert auto and all(g["auto"] is not None for g in auto.values()), f"every test cell has a score: {auto}"
    total, top = sum(g["auto"] for g in auto.values()), sum(g["max"] for g in auto.values())
    assert 0 < total < top, f"a partly wrong notebook scores between 0 and {top}, not {total}"
    engine = engine_grades(submitted, student)
    assert {name: g["auto"] for name, g in auto.items()} == {name: engine[name][0] for name in auto}, \
        "Formgrader's autograde gives the scores the course's engine gives the same notebook"
    graded = nbformat.read(hub.course_root / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4)
    probe = "".join(output.get("text", "") for cell in graded.cells if HOST_PROBE in cell.source
                    for output in cell.get("outputs", []))  # grading adds cells (rubrics): find it by its text
    assert "running on grading" in probe, f"the student's code ran outside the sandbox: {probe!r} ({log[:500]})"

    teacher.locator("a", has_text="Manual Grading").click()
    teacher.locator("a", has_text=LAB).first.click()
    teacher.locator("a", has_text=LAB).first.click()  # the assignment's one notebook
    teacher.locator("a", has_text="Submission #1").first.click()
    score = teacher.locator(f"input.score#{WRITTEN}")
    score.wait_for()
    score.scroll_into_view_if_needed()
    score.fill(f"{WRITTEN_SCORE:g}")
    score.press("Tab")  # Formgrader saves a score when its input loses focus
    wait_until(lambda: gradebook_grades(hub, student)[WRITTEN]["manual"] == WRITTEN_SCORE, 30,
               "Formgrader saved the written answer's score in the gradebook")
    steps.done(teacher, "formgrader_written_graded", "Formgrader: the written answer graded (rubric under the answer)")
    teacher.goto(f"{hub.url}/user/{hub.instructor}/formgrader/manage_submissions/{LAB}")
    written_top = gradebook_grades(hub, student)[WRITTEN]["max"]
    expected = f"{total + WRITTEN_SCORE:g} / {top + written_top:g}"
    score_cell = teacher.locator("tr", has=teacher.locator("td.student-id", has_text=student)).locator("td.score")
    score_cell.filter(has_text="/").wait_for()
    assert score_cell.inner_text().strip() == expected, "Formgrader's total: autograde plus the written grade"
    steps.done(teacher, "formgrader_scores", f"Formgrader > Manage Submissions: total {expected}")

    row = assignment_row(teacher, hub, LAB)
    row.locator("td.generate-feedback a").click()
    close_modal(teacher, "Successfully generated feedback", GRADING)
    dismiss_modal(teacher)
    row.locator("td.release-feedback a").click()
    close_modal(teacher, "Successfully released feedback")
    steps.done(teacher, "formgrader_feedback_released", "Formgrader: feedback generated and released")
    dismiss_modal(teacher)

    # -- 4. The student fetches the feedback: the score, the written grade, no hidden test code.
    page.locator(".lm-TabBar-tabLabel", has_text="Assignments").click()
    page.locator("#refresh_assignments_list").click()
    page.locator("#submitted_assignments_list button", has_text="Fetch Feedback").first.click()
    found = wait_until(lambda: sorted((student_home / LAB / "feedback").glob(f"*/{LAB}.html")), 60,
                       "the feedback arrived in the student's folder")
    html = found[-1].read_text()
    assert labformat.HIDDEN_TESTS not in html
    relative = found[-1].relative_to(student_home)
    page.goto(f"{hub.url}/user/{student}/files/{relative}")
    steps.done(page, "student_feedback", "the student's feedback page")

    grades = gradebook_grades(hub, student)
    summary = {"auto": f"{total:g}/{top:g}", WRITTEN: grades[WRITTEN]["manual"], "hub start (s)": round(hub.started_seconds)}
    report = steps.report()
    print(f"\n{json.dumps(summary)}\n{report}")
    (Path(__file__).resolve().parent / "screenshots" / "steps.txt").write_text(f"{json.dumps(summary)}\n{report}\n")


def test_second_start_keeps_the_class(hub, browsers, screenshot, course_hub_cli) -> None:
    """`course hub` again (after `course hub stop`) changes nothing that exists: same accounts
    and passwords, the instructor's gradebook and the students' files are kept."""
    course_hub = course_hub_cli
    refused = course_hub(*hub.start_arguments)
    assert refused.returncode == 2 and "already runs" in refused.stderr, refused.stderr
    stopped = course_hub("stop", "--root", str(hub.root))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert not list(hub_limits.records_folder(hub.root).glob("*.json")), "the stopped servers' cgroups are removed"
    before = gradebook_grades(hub, hub.students[0]) if (hub.course_root / "gradebook.db").is_file() else None
    again = course_hub(*hub.start_arguments)
    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "(new account)" not in again.stdout and "copied the course" not in again.stdout, again.stdout
    page = browsers(f"{hub.students[0]}-again")
    login(page, hub, hub.students[0])  # the password set on the first start still works
    screenshot(page, "student_after_second_start")
    if before is not None:
        assert gradebook_grades(hub, hub.students[0]) == before
