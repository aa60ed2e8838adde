"""The course root and the `course` command's pieces that need no grading run: lab paths, a
scratch course, filling submissions, the demo plans, failure reasons, help and bad arguments,
`course tools`. The commands end to end are in test_cli.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_admin import cli, pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_finished_labs_and_notebook_paths():
    assert "lab1_lime_from_scratch" in pipeline.finished_labs()
    assert pipeline.lab_notebook("lab1_lime_from_scratch").is_file()
    assert pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks").is_file()


def test_a_scratch_course_is_a_course_root_with_the_course_configuration(tmp_path):
    course = pipeline.scratch_course(tmp_path / "c", ["lab1_lime_from_scratch"])
    assert (course / "nbgrader_config.py").read_text() == (ROOT / "nbgrader_config.py").read_text()
    assert pipeline.finished_labs(course) == ["lab1_lime_from_scratch"]
    with pytest.raises(FileNotFoundError, match="not a course root"):
        pipeline.Workspace(tmp_path)


def test_fill_submission_rejects_a_substitution_that_does_not_apply():
    source = nbformat.read(pipeline.lab_notebook("lab1_lime_from_scratch"), as_version=4)
    release = nbformat.read(pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks"), as_version=4)
    with pytest.raises(ValueError, match="not in the reference answer"):
        pipeline.fill_submission(source, release, {"ex_predict_proba": ("no such text", "x")})
    filled = pipeline.fill_submission(source, release, {"ex_predict_proba": "solution"})
    cell = next(c for c in filled.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex_predict_proba")
    assert "softmax" in cell.source and "BEGIN SOLUTION" not in cell.source


def test_demo_plans_apply_to_the_reference_answers():
    for lab, plan in cli.DEMO_PLANS.items():
        source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
        release = nbformat.read(pipeline.lab_notebook(lab, "notebooks"), as_version=4)
        pipeline.fill_submission(source, release, plan)


def test_failure_reasons_name_the_cause():
    assert "kernel died" in pipeline.failure_reason("... DeadKernelError: Kernel died")
    assert "time limit" in pipeline.failure_reason("UnresponsiveKernelError: a cell ran past the time limit")
    assert pipeline.failure_reason("Traceback\nValueError: bad\nNbGraderException: see above") == \
        "grading failed: ValueError: bad"


def test_cli_help_and_bad_arguments(tmp_path):
    result = subprocess.run([sys.executable, "-m", "course_admin.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "autograde" in result.stdout and "report" in result.stdout
    assert cli.main(["autograde", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit):
        cli.main(["autograde", str(tmp_path), "--course", str(tmp_path)])  # not a course root
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


def test_course_tools_hides_the_instructors_tools_from_a_student_install(tmp_path, monkeypatch):
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    config = tmp_path / "jupyter"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text('{"disabledExtensions": {"other:plugin": true}}')
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))

    def enabled() -> dict:  # what a Jupyter server started with this configuration path loads
        return ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()

    assert cli.main(["tools", "student", "--config-dir", str(config)]) == 0
    extensions = enabled()
    assert not extensions["nbgrader.server_extensions.formgrader"]
    assert extensions["nbgrader.server_extensions.assignment_list"]
    page = json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert page["@jupyter/nbgrader:formgrader"] and page["@jupyter/nbgrader:create-assignment"]
    assert not page["@jupyter/nbgrader:assignment-list"] and page["other:plugin"], "other settings are kept"
    assert cli.main(["tools", "instructor", "--config-dir", str(config)]) == 0
    assert enabled()["nbgrader.server_extensions.formgrader"]
    assert not json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"][
        "@jupyter/nbgrader:formgrader"]


def test_a_new_gradebook_is_stamped_with_the_schema_head_nbgrader_names(tmp_path):
    """ensure_schema stamps a new gradebook itself (nbgrader runs `alembic heads` in a subprocess
    for it, 3-6 s): the revision alembic names, one row, nbgrader's tables, and an interrupted
    stamp (table made, no row) completed by the next call."""
    import os

    import sqlalchemy as sa
    from nbgrader.api import Gradebook, get_alembic_version

    from course_admin import gradebook

    venv_bin = str(Path(sys.executable).parent)  # nbgrader's check runs the `alembic` command
    os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    assert gradebook.nbgrader_schema_head() == get_alembic_version()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as db:  # a creation interrupted after its first statement
        db.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
    gradebook.ensure_schema(url, "course")
    gradebook.ensure_schema(url, "course")  # a second grader: nothing changes
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [get_alembic_version()]
        assert {"assignment", "student", "grade", "course_grading"} <= set(sa.inspect(db).get_table_names())
    engine.dispose()
    with Gradebook(url, "course") as book:  # nbgrader opens it as its own
        assert book.assignments == []


def test_a_new_gradebook_is_made_without_alembic_s_subprocess(tmp_path, monkeypatch):
    import nbgrader.api

    from course_admin import gradebook

    def no_subprocess() -> str:
        raise AssertionError("nbgrader ran `alembic heads`: the gradebook was not stamped first")

    monkeypatch.setattr(nbgrader.api, "get_alembic_version", no_subprocess)
    gradebook.ensure_schema(f"sqlite:///{tmp_path / 'gradebook.db'}", "course")
