"""The grading sandbox: its command line and what a sandboxed process can reach (files,
network, other processes, the course's own modules), and the refusal to grade without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from course_admin import kernels, pipeline, sandbox

ROOT = Path(__file__).resolve().parents[1]


def test_the_sandbox_is_available_here():
    assert sandbox.problem() is None, sandbox.problem()


def _sandboxed(code: str, tmp_path: Path, files: list[Path] = (), environment: dict[str, str] | None = None,
               extra: dict[str, Path] | None = None) -> subprocess.CompletedProcess:
    ipc = tmp_path / "ipc"
    sandbox.prepare_ipc(ipc)
    environment = {"PATH": "/usr/bin", "HOME": sandbox.STUDENT_HOME, **(environment or {})}
    command = sandbox.command([sys.executable, "-c", code], ipc=ipc, workdir=f"{sandbox.STUDENT_HOME}/work",
                              files=list(files), environment=environment, extra=extra,
                              limits=sandbox.Limits(memory_mb=2048, file_mb=8, processes=64))
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_labs_libraries_start_silently_in_a_sandbox(tmp_path):
    """Any stderr in a graded cell scores 0: matplotlib must find its cache folder writable (the
    grader's font list is shown in it) and joblib (lime's scikit-learn) a writable /dev/shm."""
    import matplotlib.pyplot  # noqa: F401  (builds the grader's font list if it is missing)
    fonts = sandbox.matplotlib_font_cache()
    assert fonts is not None
    config = f"{sandbox.STUDENT_HOME}/.matplotlib"
    result = _sandboxed("import matplotlib.pyplot, os, joblib.parallel; print(os.access(%r, os.W_OK))" % config, tmp_path,
                        environment={"MPLCONFIGDIR": config}, extra={f"{config}/{fonts.name}": fonts})
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
    assert result.stderr == ""


def test_a_sandboxed_process_sees_only_its_own_files_no_network_no_other_process(tmp_path):
    mine = tmp_path / "notes.txt"
    mine.write_text("the student's own file")
    secret = Path.home() / f".course-test-secret-{os.getpid()}"  # something in the grader's home
    secret.write_text("grader only")
    code = """
import os, socket, sys
print("files", sorted(os.listdir(".")))
print("own", open("notes.txt").read())
for path in [%r, %r, %r, "/etc/shadow"]:
    print(path, os.path.exists(path) and os.access(path, os.R_OK))
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2); print("network yes")
except OSError as error:
    print("network no")
print("pids", sorted(p for p in os.listdir("/proc") if p.isdigit()))
print("env", sorted(os.environ))
try:
    open("notes.txt", "w")
except OSError:
    print("submission read-only")
try:
    open("big", "wb").write(b"0" * (16 * 2**20))
except OSError as error:
    print("file limit", error.errno)
import course_utils
""" % (str(ROOT / "solutions"), str(ROOT / "nbgrader_config.py"), str(secret))
    try:
        result = _sandboxed(code, tmp_path, [mine])
    finally:
        secret.unlink()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "files ['notes.txt']" in out and "own the student's own file" in out
    assert f"{ROOT / 'solutions'} False" in out and f"{ROOT / 'nbgrader_config.py'} False" in out
    assert f"{secret} False" in out and "/etc/shadow False" in out
    assert "network no" in out and "pids ['1', '2']" in out
    assert "env ['HOME', 'LC_CTYPE', 'PATH', 'PWD']" in out or "env ['HOME', 'PATH', 'PWD']" in out
    assert "submission read-only" in out and "file limit 27" in out


def test_the_kernel_imports_the_course_packages_the_grader_imported(tmp_path):
    """A grader run with PYTHONPATH on another checkout (or any install other than the venv's
    own mapping) must give its kernel that same checkout, not a folder the sandbox hides."""
    checkout = tmp_path / "checkout"
    for package in ("course_utils", "course_admin"):
        shutil.copytree(ROOT / package, checkout / package, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    grader = f"""
import subprocess, sys
from pathlib import Path
from course_admin import kernels, sandbox
ipc = Path({str(tmp_path / "ipc")!r}); sandbox.prepare_ipc(ipc)
environment = kernels.kernel_environment(ipc, 1, True)
command = sandbox.command([sys.executable, "-c", "import course_utils, course_admin; print(course_utils.__file__, course_admin.__file__)"],
                          ipc=ipc, workdir=sandbox.STUDENT_HOME + "/work", files=[], environment=environment)
print(subprocess.run(command, capture_output=True, text=True).stdout.strip())
"""
    result = subprocess.run([sys.executable, "-c", grader], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=tmp_path)
    assert result.stdout.strip() == f"{checkout}/course_utils/__init__.py {checkout}/course_admin/__init__.py", \
        result.stderr[-2000:]


def test_nothing_a_sandboxed_process_starts_outlives_it(tmp_path):
    seconds = f"300.{int.from_bytes(os.urandom(3), 'big')}"  # this test's own sleep: no other process has it
    code = ("import subprocess, sys\n"
            f"subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)\n"
            "print('started')")
    result = _sandboxed(code, tmp_path)
    assert "started" in result.stdout, result.stderr
    survivors = subprocess.run(["pgrep", "-a", "-f", f"^sleep {seconds}$"], capture_output=True, text=True).stdout
    assert survivors == ""


def test_without_a_sandbox_the_course_refuses_to_run_student_code(tmp_path):
    """No bwrap on PATH: `course autograde` says why and stops, unless --unsafe."""
    course = pipeline.scratch_course(tmp_path / "course", ["lab1_lime_from_scratch"])
    notebook = pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks")
    environment = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no /usr/bin: no bwrap
    result = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(notebook),
                             "--course", str(course)], capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 2 and "bubblewrap is not installed" in result.stderr and "--unsafe" in result.stderr
    assert not (course / "autograded").exists(), "nothing was graded"


def test_a_handed_in_module_cannot_replace_the_kernels_own(tmp_path):
    """The student's handed-in files are in the kernel's working folder: `python -m
    ipykernel_launcher` put that folder first on sys.path, so a handed-in ipykernel_launcher.py
    ran in place of the kernel, before the grader connected. Their own modules still import."""
    handed_in = tmp_path / "handed-in"
    handed_in.mkdir()
    (handed_in / "ipykernel_launcher.py").write_text("print('SHADOWED')")
    (handed_in / "my_helpers.py").write_text("VALUE = 42")
    environment = kernels.kernel_environment(tmp_path / "ipc", 1, True)
    code = ("import importlib.util; from course_admin.kernel import guard; guard.install(); import my_helpers; "
            "print('helpers', my_helpers.VALUE); print(importlib.util.find_spec('ipykernel_launcher').origin)")
    result = _sandboxed(code, tmp_path, files=sorted(handed_in.iterdir()), environment=environment)
    assert "SHADOWED" not in result.stdout and "helpers 42" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "site-packages/ipykernel_launcher.py" in result.stdout
