"""What each role may use in Jupyter: the nbgrader tools a student or an instructor sees.

Students get nbgrader's Assignments tab and Validate button only; the instructor also
Formgrader, Create Assignment and Course List. `write_role_tools` sets one Jupyter
configuration folder up for a role (`course tools`, on a laptop or a lab machine: no hub
needed); `role_files` and `kernelspec` are what a hub's server of that role reads, which
also name the course, nbgrader's exchange and the course venv's kernel (its threads sized to
the user's cores).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from course_admin.hub_folder import Settings

# nbgrader's extensions per role (nbgrader's docs, "Using nbgrader with JupyterHub").
SERVER_EXTENSIONS = ("formgrader", "assignment_list", "course_list", "validate_assignment")
COURSE_FORMGRADER = "course_admin.formgrader"  # beside nbgrader's formgrader: the course's one total
LAB_PLUGINS = ("formgrader", "assignment-list", "course-list", "create-assignment", "validate-assignment")
STUDENT_TOOLS = {"assignment_list", "validate_assignment", "assignment-list", "validate-assignment"}
# JupyterLab's news feed asks every new user whether to fetch news from the internet.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)


def role_extensions(role: str) -> tuple[dict[str, bool], dict[str, bool]]:
    """(server extensions enabled, lab plugins disabled) for a role: students get nbgrader's
    Assignments tab and Validate only; the instructor everything."""
    instructor = role == "instructor"
    server = {f"nbgrader.server_extensions.{name}": instructor or name in STUDENT_TOOLS for name in SERVER_EXTENSIONS}
    server[COURSE_FORMGRADER] = instructor  # Formgrader's scores less the late penalty, as every report
    # Explicit true/false at the highest level: nothing a lower level says can change a role.
    disabled = {f"@jupyter/nbgrader:{name}": not (instructor or name in STUDENT_TOOLS) for name in LAB_PLUGINS}
    disabled.update({plugin: True for plugin in QUIET_PLUGINS})
    return server, disabled


def write_role_tools(folder: Path, role: str) -> None:
    """One Jupyter configuration folder (a venv's etc/jupyter, say) set up for `role`: the
    two files `course tools` writes; other lab settings in page_config.json are kept."""
    server, disabled = role_extensions(role)
    (folder / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_server_config.d" / "course-tools.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": server}}, indent=1))
    page = folder / "labconfig" / "page_config.json"
    page.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(page.read_text()) if page.is_file() else {}
    current["disabledExtensions"] = {**current.get("disabledExtensions", {}), **disabled}
    page.write_text(json.dumps(current, indent=1))


def role_files(settings: Settings, role: str) -> dict[str, str]:
    """The files of one role's Jupyter configuration folder (relative path -> text)."""
    instructor = role == "instructor"
    server, disabled = role_extensions(role)
    return {
        "nbgrader_config.py": nbgrader_instructor_config(settings) if instructor else nbgrader_student_config(settings),
        "jupyter_server_config.d/course-hub.json": json.dumps({"ServerApp": {"jpserver_extensions": server}}, indent=1),
        "labconfig/page_config.json": json.dumps({"disabledExtensions": disabled}, indent=1),
    }


def nbgrader_student_config(settings: Settings) -> str:
    """The students' nbgrader_config.py: where the exchange is, which course, Validate's limits."""
    return (f'"""nbgrader settings for the students of this hub (written by `course hub`)."""\n\n'
            f"c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
            f"c.Exchange.root = {settings.exchange!r}\n"
            f"# Validate runs the whole lab: the course's limits, not nbgrader's 30 s per cell.\n"
            f"c.Execute.timeout = {settings.cell_timeout}\n"
            f"c.Execute.startup_timeout = {settings.startup_timeout}\n")


def nbgrader_instructor_config(settings: Settings) -> str:
    """The instructor's nbgrader_config.py: the course root and its own grading configuration."""
    course_config = str(Path(settings.course_root) / "nbgrader_config.py")
    return (f'"""nbgrader settings for the instructor on this hub (written by `course hub`).\n\n'
            f"Formgrader and nbgrader's commands read the course's own configuration (grading in\n"
            f'the sandbox, the tests outside the kernel, the feedback template) from the course root."""\n\n'
            f"c = get_config()  # noqa: F821\n"
            f"load_subconfig({course_config!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {settings.course_root!r}\n"
            f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
            f"c.Exchange.root = {settings.exchange!r}\n")


def kernelspec(python: str) -> str:
    """The `python3` kernel every server of the hub offers: the course venv's interpreter,
    started by `course_admin.hub_kernel`, which sizes its threads to the user's CPU quota
    (known only where the user's server runs) before any code runs in it."""
    return json.dumps({"argv": [python, "-m", "course_admin.hub_kernel", "-f", "{connection_file}"],
                       "display_name": "Python 3 (course)", "language": "python",
                       "metadata": {"debugger": True}}, indent=1)
