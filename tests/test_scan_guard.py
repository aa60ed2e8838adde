"""Tampering flagged from both sides: the code scan of a submission (outside the kernel) and
the guard's log of what a cell rebinds (inside it), read defensively."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import torch

from course_admin import kernels, pipeline, scan
from course_admin.kernel import guard

ROOT = Path(__file__).resolve().parents[1]


def test_the_scan_flags_what_honest_answers_do_not_need():
    attack = ("import subprocess, torch\nget_ipython().run_cell = None\ntorch.allclose = lambda *a, **k: True\n"
              "exec('1')\nf.__code__ = g.__code__\nopen('/etc/passwd')\n")
    found = " ".join(scan.scan_source(attack))
    for expected in ("subprocess", "get_ipython", "run_cell", "torch.allclose", "exec", "__code__", "opens files"):
        assert expected in found, expected
    assert scan.scan_source("import numpy as np\ndef f(x):\n    return np.mean(x)") == []


@pytest.mark.parametrize("lab", pipeline.finished_labs())
def test_the_scan_does_not_flag_the_reference_answers(lab):
    source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(lab, "notebooks"), as_version=4)
    assert scan.scan_notebook(source, release) == []


def test_the_guard_logs_what_a_cell_rebinds_and_refuses_exits(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    log = tmp_path / "guard.jsonl"
    monkeypatch.setenv(guard.LOG_ENV, str(log))
    monkeypatch.setattr(os, "_exit", os._exit)  # put back after the test: install() replaces them
    monkeypatch.setattr(os, "abort", os.abort)
    shell = InteractiveShell.instance()
    try:
        guard.install(shell)
        original = torch.allclose
        shell.run_cell("import torch\nx = torch.allclose(torch.ones(1), torch.ones(1))")
        assert kernels.read_guard_log(log) == [], "honest code logs nothing"
        shell.run_cell("torch.allclose = lambda *a, **k: True")
        result = shell.run_cell("import os\nos._exit(1)")
        torch.allclose = original
        assert isinstance(result.error_in_exec, RuntimeError) and "refused while grading" in str(result.error_in_exec)
        records = kernels.read_guard_log(log)
        assert records[0]["changed"] == ["torch.allclose"] and records[-1]["when"] == "exit"
    finally:
        torch.allclose = original
        shell.events.callbacks["pre_run_cell"].clear()
        shell.events.callbacks["post_run_cell"].clear()
        InteractiveShell.clear_instance()


def test_the_guard_log_is_read_defensively(tmp_path):
    log = tmp_path / "guard.jsonl"
    log.write_text('{"cell": "a", "when": "during", "changed": ["x"]}\nnot json\n[1]\n' + "{}\n" * 500)
    assert kernels.read_guard_log(log) == [{"cell": "a", "when": "during", "changed": ["x"]}]
