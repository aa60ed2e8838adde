"""Every kind of kernel the course starts or configures reads `torch.get_num_threads()` equal
to the cores it really has: a grading kernel through `course autograde` (alone, with
`--jobs 2`, and with the grader under a 1-CPU quota), `course run`'s kernel
(`pipeline.execute_notebook`), a kernel started from the hub's kernelspec, and a plain kernel
whose code imports `course_utils` as a lab's set-up cell does.

Each runs with no thread variable in its environment, as a user's or a hub's kernel does. A
1-CPU quota is a cgroup made as the grading sandbox makes its own (`course_admin.cgroup`: root,
a cgroup v1 or v2 hierarchy), removed at the end; where none can be made those cases skip.
The small lab of tests/test_attacks.py is graded: a few seconds a notebook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_attacks import ANSWERS, LAB, _notebook, released_course

from course_admin import cgroup, pipeline, roles
from course_utils.threads import THREAD_VARIABLES, available_cores

ROOT = Path(__file__).resolve().parents[1]
PROBE = "import torch\nprint('torch threads:', torch.get_num_threads())\n"
CORES = available_cores()  # this test process's: the kernels below run beside it, in its cgroup


@pytest.fixture
def environment(monkeypatch) -> dict[str, str]:
    """This process's environment without thread variables (a user's kernel has none), this
    checkout's packages first; set for the kernels started from here too."""
    for variable in (*THREAD_VARIABLES, "COURSE_GRADING_JOBS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return dict(os.environ)


@pytest.fixture
def one_cpu():
    """A cgroup allowed one core's worth of CPU time, and `wrap`, which starts a command in it."""
    group, problem = cgroup.create(cgroup.Budget(cpus=1.0))
    if group is None:
        pytest.skip(f"no cgroup can be made here: {problem}")
    try:
        yield lambda command: cgroup.wrap(group, command)
    finally:
        group.remove()


def printed_threads(nb: nbformat.NotebookNode) -> list[int]:
    """The counts PROBE printed in an executed notebook."""
    return [int(line.split(":")[1]) for cell in nb.cells for output in cell.get("outputs", [])
            for line in output.get("text", "").splitlines() if line.startswith("torch threads:")]


def kernel_threads(argv: list[str], code: str, tmp: Path, environment: dict[str, str]) -> int:
    """Start a kernel from a kernelspec with `argv`, run `code` in it, and return the
    `torch.get_num_threads()` it then reads."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    (tmp / "kernels" / "probe").mkdir(parents=True)
    (tmp / "kernels" / "probe" / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "probe",
                                                                        "language": "python"}))
    manager = KernelManager(kernel_name="probe", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp / "kernels")]),
                            transport="ipc", ip=str(tmp / "kernel"))
    manager.start_kernel(env=environment, cwd=str(tmp))
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, user_expressions={"n": "torch.get_num_threads()"}, timeout=60,
                                           output_hook=lambda message: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return int(reply["content"]["user_expressions"]["n"]["data"]["text/plain"])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def hub_argv() -> list[str]:
    return json.loads(roles.kernelspec(sys.executable))["argv"]


PLAIN_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
LAB_SETUP = "import numpy as np\nimport torch\n\nimport course_utils"  # torch first, as the labs do


def test_the_hubs_kernel_is_sized_at_start(tmp_path, environment) -> None:
    assert kernel_threads(hub_argv(), "import torch", tmp_path, environment) == CORES


def test_the_hubs_kernel_under_a_one_cpu_quota_has_one_thread(tmp_path, environment, one_cpu) -> None:
    assert kernel_threads(one_cpu(hub_argv()), "import torch", tmp_path, environment) == 1


def test_a_kernel_importing_course_utils_as_a_lab_does(tmp_path, environment) -> None:
    assert kernel_threads(PLAIN_ARGV, LAB_SETUP, tmp_path, environment) == CORES


def test_a_kernel_importing_course_utils_under_a_one_cpu_quota(tmp_path, environment, one_cpu) -> None:
    assert kernel_threads(one_cpu(PLAIN_ARGV), LAB_SETUP, tmp_path, environment) == 1


def test_without_course_utils_a_plain_kernel_ignores_the_quota(tmp_path, environment, one_cpu) -> None:
    """What the sizing is for: torch alone takes a thread per core, whatever the quota."""
    if CORES == 1:
        pytest.skip("one core: torch's default is the quota's count")
    assert kernel_threads(one_cpu(PLAIN_ARGV), "import torch", tmp_path, environment) > 1


def probe_notebook(tmp: Path) -> Path:
    path = tmp / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)]), path)
    return path


def test_course_runs_kernel(tmp_path, environment) -> None:
    nb, _ = pipeline.execute_notebook(probe_notebook(tmp_path))
    assert printed_threads(nb) == [CORES]


def test_course_runs_kernel_under_a_one_cpu_quota(tmp_path, environment, one_cpu) -> None:
    code = ("import sys; from pathlib import Path; from course_admin import pipeline; "
            "nb, _ = pipeline.execute_notebook(Path(sys.argv[1])); "
            "print(*[o.get('text', '') for c in nb.cells for o in c.outputs])")
    done = subprocess.run(one_cpu([sys.executable, "-c", code, str(probe_notebook(tmp_path))]), capture_output=True,
                          text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["torch", "threads:", "1"], done.stdout


# ---------------------------------------------------------------- grading
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return released_course(tmp_path_factory.mktemp("threads") / "course")


def grade(template: Path, tmp: Path, students: list[str], environment: dict[str, str], jobs: int = 1,
          wrap=lambda command: command) -> list[int]:
    """`course autograde --jobs JOBS` of one notebook per student that prints its kernel's
    thread count; returns the counts, by student."""
    course = tmp / "course"
    shutil.copytree(template, course, symlinks=True)
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, course), as_version=4)
    folder = tmp / "class"
    folder.mkdir()
    for student in students:
        answers = {**ANSWERS, "ex_mean_square": PROBE + ANSWERS["ex_mean_square"]}
        nbformat.write(_notebook(release, answers), folder / f"{student}_{LAB}.ipynb")
    command = [sys.executable, "-m", "course_admin.cli", "autograde", str(folder), "--course", str(course),
               "--jobs", str(jobs)]
    done = subprocess.run(wrap(command), cwd=course, capture_output=True, text=True, env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    workspace = pipeline.Workspace(course, [LAB])
    return [n for student in students for n in printed_threads(nbformat.read(workspace.autograded_path(LAB, student), 4))]


def test_a_grading_kernel_has_the_cores(template, tmp_path, environment) -> None:
    assert grade(template, tmp_path, ["alice"], environment) == [CORES]


def test_grading_with_two_jobs_gives_each_kernel_half_the_cores(template, tmp_path, environment) -> None:
    assert grade(template, tmp_path, ["alice", "bob"], environment, jobs=2) == [max(1, CORES // 2)] * 2


def test_a_grader_under_a_one_cpu_quota_gives_its_kernel_one_thread(template, tmp_path, environment,
                                                                    one_cpu) -> None:
    assert grade(template, tmp_path, ["alice"], environment, wrap=one_cpu) == [1]
