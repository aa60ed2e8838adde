"""The Colab set-up cell and badges: generated from pyproject.toml, inert where the course is installed."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course_admin import colab, labformat, pipeline

ROOT = Path(__file__).resolve().parents[1]
LABS = pipeline.finished_labs(ROOT)
# On Colab already, or installed with a pinned package: pandas with datasets, huggingface_hub
# and httpx with transformers.
PROVIDED = {"IPython", "pandas", "huggingface_hub", "httpx", "course_utils"}
# Optional: imported only in a cell that first checks `importlib.util.find_spec(name)` and otherwise
# says how to install it (Lab 5 compares with inseq where it is installed).
OPTIONAL = {"inseq"}


def _notebooks() -> list[Path]:
    return [pipeline.lab_notebook(lab, folder, ROOT) for lab in LABS for folder in ("solutions", "notebooks")]


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_first_code_cell_is_the_current_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert colab.TAG in first.metadata.get("tags", []), f"{path}: the first code cell is not the set-up cell"
    assert first.source == colab.setup_cell_source(ROOT), \
        f"{path}: the set-up cell is stale; run `course release` to regenerate it from pyproject.toml"


def _run_cell(monkeypatch, capsys, installed: bool, loaded: set[str] = frozenset()) -> tuple[list[list[str]], str]:
    calls: list[list[str]] = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: real_find_spec(name, *a) if installed or name != "course_utils" else None)
    monkeypatch.setattr(subprocess, "run", lambda argv, check: calls.append(list(argv)))
    for module in colab.NOTEBOOK_PACKAGES.values():  # restored by monkeypatch before anything imports
        if module in loaded:
            monkeypatch.setitem(sys.modules, module, sys.modules.get(module) or types.ModuleType(module))
        else:
            monkeypatch.delitem(sys.modules, module, raising=False)
    exec(compile(colab.setup_cell_source(ROOT), "setup_cell", "exec"), {})
    return calls, capsys.readouterr().out


def test_setup_cell_does_nothing_where_the_course_is_installed(monkeypatch, capsys):
    calls, out = _run_cell(monkeypatch, capsys, installed=True)
    assert calls == [] and out == ""


def test_setup_cell_installs_the_pins_then_the_course_at_its_tag(monkeypatch, capsys):
    calls, out = _run_cell(monkeypatch, capsys, installed=False, loaded={"numpy"})
    pins, course = calls
    assert pins[:4] == [sys.executable, "-m", "pip", "install"]
    assert [arg for arg in pins if "==" in arg] == colab.notebook_pins(ROOT)
    version = colab.project(ROOT)["version"]
    assert "--no-deps" in course, "the course's own pins include nbgrader and JupyterLab, which Colab must not get"
    assert course[-1] == ("explaining-nlp-models @ git+https://github.com/explaining-nlp-models/"
                          f"explaining-nlp-models@v{version}")
    assert "numpy" in out and "restart" in out


def test_setup_cell_needs_no_restart_when_nothing_was_loaded(monkeypatch, capsys):
    calls, out = _run_cell(monkeypatch, capsys, installed=False)
    assert len(calls) == 2 and "restart" not in out and "Installed" in out


def test_setup_cell_pins_every_package_the_labs_import():
    sources = [cell.source for lab in LABS
               for cell in nbformat.read(pipeline.lab_notebook(lab, root=ROOT), as_version=4).cells
               if cell.cell_type == "code" and not cell.source.lstrip().startswith(("%", "!"))]
    sources += [(ROOT / "course_utils" / f"{name}.py").read_text()
                for name in ("models", "data", "text", "plots", "grading")]
    imported = {name.split(".")[0] for source in sources for name in labformat.imported_modules(ast.parse(source))}
    third_party = imported - set(sys.stdlib_module_names) - PROVIDED - OPTIONAL
    pinned = {colab.NOTEBOOK_PACKAGES[pin.split("==")[0]] for pin in colab.notebook_pins(ROOT)}
    assert third_party <= pinned, f"the labs import {sorted(third_party - pinned)}, which the set-up cell does not install"


def _imports_of(tree: ast.AST, name: str) -> list[ast.AST]:
    """The import statements in `tree` that import package `name` (or a module of it)."""
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            and any(module.split(".")[0] == name for module in labformat.imported_modules(node))]


def test_an_optional_package_is_imported_only_where_it_is_installed():
    guarded = 0
    for path in _notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            tree = ast.parse(cell.source) if cell.cell_type == "code" else None
            for name in OPTIONAL if tree else ():
                imports = _imports_of(tree, name)
                checks = [node for node in ast.walk(tree) if isinstance(node, ast.If)
                          and f"find_spec({name!r})" in ast.unparse(node.test)]  # ast.unparse quotes with '
                inside = {id(node) for check in checks for branch in check.orelse for node in ast.walk(branch)}
                assert all(id(node) in inside for node in imports), \
                    f"{path.name}: import {name} only in the else branch of `if importlib.util.find_spec({name!r}) is None:`"
                guarded += len(imports)
    assert guarded, f"no notebook imports {sorted(OPTIONAL)}: remove it from OPTIONAL"


def test_readme_has_a_colab_badge_for_every_lab_at_the_release_tag():
    readme = (ROOT / "README.md").read_text()
    for lab in LABS:
        assert colab.badge(lab, ROOT) in readme, f"README: no Colab badge for {lab} (or a stale one)"
    assert len(re.findall(r"colab\.research\.google\.com/github/", readme)) == len(LABS)


def test_sync_inserts_before_the_first_code_cell_then_only_refreshes(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab"),
                                               nbformat.v4.new_code_cell("import torch")])
    assert colab.sync_setup_cell(notebook, ROOT)
    assert [cell.source for cell in notebook.cells][1:] == [colab.setup_cell_source(ROOT), "import torch"]
    assert not colab.sync_setup_cell(notebook, ROOT) and len(notebook.cells) == 3
    notebook.cells[1].source = "# old set-up"
    assert colab.sync_setup_cell(notebook, ROOT) and notebook.cells[1].source == colab.setup_cell_source(ROOT)
    nbformat.validate(notebook)


def test_repository_must_be_a_github_url(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(re.sub(r'Repository = ".*"', 'Repository = "ftp://example.org/x"', text))
    with pytest.raises(ValueError, match="github.com/OWNER/REPO"):
        colab.repository(tmp_path)
