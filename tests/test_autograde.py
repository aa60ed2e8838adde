"""Class-wide autograding: finding submissions, refusing broken files, the kernel guard.

The slow end-to-end runs (a graded batch with faulty students, --jobs, resume) are in
test_fault_suite.py; these tests need no kernel.
"""

from __future__ import annotations

import os
import zipfile

import nbformat
import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell

from course_admin import batch, guard, pipeline

LAB1 = "lab1_lime_from_scratch"
LAB2 = "lab2_attention_vs_lime"


def _release(lab: str) -> str:
    return pipeline.lab_notebook(lab, "notebooks").read_text()


def test_collect_accepts_folders_flat_lms_names_and_one_notebook(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / "bob" / LAB1).mkdir(parents=True)
    (tmp_path / "bob" / LAB1 / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"carol_smith_{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"dave_{LAB2}.ipynb").write_text(_release(LAB2))  # another lab: not a problem
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / f"{LAB1}-checkpoint.ipynb").write_text("{}")
    submissions, problems = batch.collect(tmp_path, [LAB1])
    assert {s.student for s in submissions} == {"alice", "bob", "carol_smith"} and not problems
    both, _ = batch.collect(tmp_path, [LAB1, LAB2])
    assert {(s.student, s.lab) for s in both} >= {("dave", LAB2), ("alice", LAB1)}
    single, _ = batch.collect(tmp_path / f"carol_smith_{LAB1}.ipynb", [LAB1])
    assert [(s.student, s.lab) for s in single] == [("carol_smith", LAB1)]


def test_collect_reports_every_broken_file_with_a_reason(tmp_path):
    (tmp_path / f"empty_{LAB1}.ipynb").write_text("")
    (tmp_path / f"truncated_{LAB1}.ipynb").write_text(_release(LAB1)[:500])
    (tmp_path / f"json_{LAB1}.ipynb").write_text('{"cells": 3}')
    (tmp_path / f"wronglab_{LAB1}.ipynb").write_text(_release(LAB2))
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    (tmp_path / f"stripped_{LAB1}.ipynb").write_text(nbformat.writes(plain))
    (tmp_path / "erin-lab1.ipynb").write_text(_release(LAB1))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / f"huge_{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = batch.collect(tmp_path, [LAB1], max_mb=0.05)
    reasons = {p.file: p.reason for p in problems}
    assert not submissions
    assert "empty" in reasons[f"empty_{LAB1}.ipynb"]
    assert "not valid JSON" in reasons[f"truncated_{LAB1}.ipynb"]
    assert "not a Jupyter notebook" in reasons[f"json_{LAB1}.ipynb"]
    assert f"notebook of {LAB2}" in reasons[f"wronglab_{LAB1}.ipynb"]
    assert "no graded cells" in reasons[f"stripped_{LAB1}.ipynb"]
    assert "not recognised" in reasons["erin-lab1.ipynb"] and "not recognised" in reasons["notes.txt"]
    assert "MB limit" in reasons[f"huge_{LAB1}.ipynb"]


def test_collect_reports_a_second_notebook_for_the_same_student(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"alice_{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = batch.collect(tmp_path, [LAB1])
    assert len(submissions) == 1 and "second" in problems[0].reason


def test_unpack_extracts_a_zip_and_refuses_zip_slip(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"export/alice_{LAB1}.ipynb", _release(LAB1))
    folder = batch.unpack(archive, tmp_path / "scratch")
    assert [s.student for s in batch.collect(folder, [LAB1])[0]] == ["alice"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside.ipynb", "{}")
    with pytest.raises(ValueError, match="unsafe path"):
        batch.unpack(evil, tmp_path / "scratch2")


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.setenv(guard.LOG_ENV, str(tmp_path / "guard.jsonl"))
    monkeypatch.setattr(os, "_exit", os._exit)  # put back after the test: install() replaces them
    monkeypatch.setattr(os, "abort", os.abort)
    ip = InteractiveShell.instance()
    installed = guard.install(ip)
    yield ip, tmp_path / "guard.jsonl"
    ip.events.unregister("pre_run_cell", ip.events.callbacks["pre_run_cell"][-1])
    ip.events.unregister("post_run_cell", ip.events.callbacks["post_run_cell"][-1])
    installed.restore()
    InteractiveShell.clear_instance()


def test_guard_restores_rebound_functions_and_logs_the_cell(shell):
    ip, log = shell
    original = torch.allclose
    ip.run_cell("import torch\ntorch.allclose = lambda *a, **k: True")
    assert torch.allclose is original, "the rebinding must not outlive its cell"
    ip.run_cell("import course_utils.grading as g\ndef student():\n    g.expect = print\n    return 1")
    test_cell = "x = student()"
    ip.run_cell(test_cell)
    records = guard.read_log(log)
    assert records[0]["when"] == "during" and "torch.allclose" in records[0]["changed"]
    assert records[-1] == {"cell": guard.cell_key(test_cell), "when": "during",
                           "changed": ["course_utils.grading.expect"]}
    from course_utils import grading

    assert grading.expect.__module__ == "course_utils.grading"


def test_guard_logs_nothing_for_honest_code(shell):
    ip, log = shell
    ip.run_cell("import torch, numpy as np\nx = torch.allclose(torch.ones(2), torch.ones(2)) and np.allclose(1, 1)")
    assert guard.read_log(log) == []


def test_guard_catches_a_function_that_rebinds_the_tests_own_names(shell):
    ip, log = shell
    ip.run_cell("def student():\n    globals()['expect'] = lambda *a, **k: None\n    return 0")
    test_cell = "from course_utils.grading import expect\nvalue = student()\nexpect(value == 1, 'wrong')"
    ip.run_cell(test_cell)
    records = guard.read_log(log)
    assert records and records[-1]["cell"] == guard.cell_key(test_cell) and "expect" in records[-1]["changed"]


def test_guard_uncovers_hidden_builtins_before_the_next_cell(shell):
    ip, log = shell
    ip.run_cell("abs = lambda x: 0\nlimit = 3")
    result = ip.run_cell("value = abs(-2)")
    assert ip.user_ns["value"] == 2 and ip.user_ns["limit"] == 3
    assert any("abs (hides the built-in)" in name for record in guard.read_log(log) for name in record["changed"])
    assert result.success


def test_guard_refuses_os_exit_from_notebook_code(shell):
    ip, log = shell
    result = ip.run_cell("import os\nos._exit(1)")
    assert isinstance(result.error_in_exec, RuntimeError) and "refused while grading" in str(result.error_in_exec)
    assert guard.read_log(log)[-1]["changed"] == ["os._exit"]
