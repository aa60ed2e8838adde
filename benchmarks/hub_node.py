"""A hub node under a class: N students run a lab at once, each inside their server's limits.

    /opt/course-venv/bin/python -m benchmarks.hub_node                # 2 × cores students, Lab 4
    /opt/course-venv/bin/python -m benchmarks.hub_node --students 1 --lab lab1_lime_from_scratch

Run as root, from the repository, on the hub's venv with the course installed from this
checkout (every account must be able to run its Python, and the students' kernels import the
installed course_utils: the README's ``/opt/course-venv``; it stops if that copy differs), alone
on the machine. Each student is a
throwaway account (``hubbench-<n>-<random>``, deleted at the end with its processes) whose
server `course hub`'s own spawner starts (`CourseSpawner.start`: the student's cgroup with the
limits `course hub` gives, or ``--cpu-limit``/``--mem-limit``), with the environment the hub's
configuration gives every server (loaded from ``course_admin/hub_files/jupyterhub_config.py``,
``--offline``) and the hub's ``python3`` kernelspec. The server is a stand-in that executes the
lab's reference notebook (its own copy, in the student's home) in a kernel it starts, as
JupyterLab would: the kernel is inside the student's group, under its limits.

First one student runs the lab alone, then N students at once. For each it prints the time
(the notebook's execution, kernel start included), the ratio to the alone time, and the ratio
to their fair share of the node (`fair_share`: alone time × N / cores once the N students
need more than the cores; target: ≤ 2× at N = 2 × cores), with
each group's peak memory and the processes its memory limit stopped. Writes hub_node.md and
hub_node.png to --out (benchmarks/results/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_FAIR_SHARE = 2.0  # each student's time ≤ 2× their fair share of the node, at N = 2 × cores
LAB4 = "lab4_faithfulness_stability"

# The server stand-in, run as the student: executes the notebook in a kernel of the hub's
# kernelspec (found through the hub's JUPYTER_PATH), then reports. Its last cell is a probe:
# how many threads torch takes in a kernel inside the student's cgroup.
RUNNER = """
import json, sys, time, traceback
import nbformat
from nbclient import NotebookClient
notebook, report = sys.argv[1], sys.argv[2]
nb = nbformat.read(notebook, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import torch; print(torch.get_num_threads())"))
start = time.perf_counter()
result = {"error": None, "threads": None}
try:
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
    result["threads"] = int(nb.cells[-1].outputs[0]["text"])
except Exception:
    result["error"] = traceback.format_exc()[-1500:]
result["seconds"] = time.perf_counter() - start
with open(report + ".partial", "w") as out:
    json.dump(result, out)
import os; os.rename(report + ".partial", report)
time.sleep(3600)  # a server stays up after its notebook ran: the benchmark reads its group, then stops it
"""


@dataclass
class Run:
    """One student's execution of the lab."""

    student: int
    seconds: float
    peak_mb: float
    memory_kills: int
    threads: int | None
    error: str | None


@dataclass
class Node:
    """The hub's configuration for the simulated class: limits, environment, accounts."""

    folder: Path  # the hub's folder (world-readable: its share/ holds the kernelspec)
    environment: dict[str, str]
    cpu_limit: float
    mem_limit: int  # bytes, as the spawner's trait holds it
    python: str


def hub_configuration(folder: Path, students: list[str], cpu_limit: float | None, mem_limit: str | None) -> Node:
    """The environment and limits the hub's jupyterhub_config.py gives a student's server,
    loaded from that file as JupyterHub loads it (settings as `course hub --offline` writes them)."""
    from traitlets.config.loader import PyFileConfigLoader

    from course_admin import hub, hub_folder, hub_limits

    mem_mb = hub_limits.parse_memory(mem_limit) if mem_limit else hub_limits.default_memory_mb(offline=True)
    cpus = hub_limits.check_cpus(cpu_limit if cpu_limit is not None else hub_limits.DEFAULT_CPUS)
    settings = hub_folder.Settings(instructor="hubbench-teacher", students=students, root=str(folder), exchange="",
                                   python=sys.executable, course_id="explaining-nlp-models", course_root="",
                                   offline=True, cpu_limit=cpus, mem_limit_mb=mem_mb)
    hub.write_jupyter_config(settings)  # the roles' folders and the python3 kernelspec, as the hub has them
    private = hub_folder.private_folder(folder)
    private.mkdir(mode=0o700)
    hub_folder.write_private(private / "settings.json", json.dumps(asdict(settings)))
    hub_folder.write_private(private / "jupyterhub_config.py", (hub.HUB_FILES / "jupyterhub_config.py").read_text())
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(private)).load_config()
    student = type("Spawner", (), {"user": type("User", (), {"name": students[-1]})()})()
    environment = {key: value(student) if callable(value) else value
                   for key, value in config.Spawner.environment.items()}
    return Node(folder=folder, environment=environment, cpu_limit=config.Spawner.cpu_limit,
                mem_limit=hub_limits.parse_memory(config.Spawner.mem_limit) * 2**20, python=sys.executable)


def stale_install(python: str) -> list[str]:
    """The repository's course_utils modules that the venv's installed copy does not match:
    the students' kernels import the install, and a lab needs the course_utils it was written for."""
    found = subprocess.run([python, "-I", "-c", "import course_utils; print(course_utils.__file__)"],
                           capture_output=True, text=True, cwd="/")
    if found.returncode != 0:
        return ["course_utils (not installed)"]
    installed = Path(found.stdout.strip()).parent
    return [path.name for path in sorted((ROOT / "course_utils").glob("*.py"))
            if not (installed / path.name).is_file() or (installed / path.name).read_bytes() != path.read_bytes()]


def make_students(count: int) -> list[str]:
    """Throwaway accounts, as `course hub` makes them (home 0700)."""
    from course_admin import hub_accounts

    names = []
    for number in range(count):
        name = f"hubbench-{number}-{os.urandom(2).hex()}"
        hub_accounts.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
        names.append(name)
    return names


def delete_students(names: list[str]) -> None:
    from course_admin import hub_accounts, hub_removal

    existing = [name for name in names if _exists(name)]
    hub_removal.stop_account_processes(existing, seconds=5, kill_seconds=10)
    for name in existing:
        hub_accounts.run(["userdel", "--remove", name])


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def give_notebook(student: str, lab: str) -> Path:
    """The lab's reference notebook, copied into the student's home (theirs), as a student
    who solved every exercise has it."""
    from course_admin import pipeline

    entry = pwd.getpwnam(student)
    folder = Path(entry.pw_dir) / lab
    folder.mkdir(exist_ok=True)
    notebook = folder / f"{lab}.ipynb"
    shutil.copy(pipeline.lab_notebook(lab, root=ROOT), notebook)
    for path in (folder, notebook):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return notebook


async def run_class(node: Node, students: list[str], lab: str, logs: Path) -> list[Run]:
    """Start every student's server at once (the hub's spawner, the hub's limits); each
    executes the lab; return their runs once all have reported."""
    from course_admin import hub_limits
    from course_admin.hub_spawner import CourseSpawner

    spawners, reports = [], []
    for number, student in enumerate(students):
        notebook = give_notebook(student, lab)
        report = notebook.with_name("report.json")
        report.unlink(missing_ok=True)
        spawner = CourseSpawner(user=type("User", (), {"name": student})(), cpu_limit=node.cpu_limit,
                                mem_limit=node.mem_limit, records=str(hub_limits.records_folder(node.folder)),
                                cmd=[node.python, "-c", RUNNER],
                                args=[str(notebook), str(report), str(notebook.parent)])
        # JupyterHub adds its API's address and tokens to this environment: a stand-in needs none.
        spawner.get_env = lambda spawner=spawner: spawner.user_env(dict(node.environment))
        spawner.popen_kwargs = {"stdout": open(logs / f"{student}.log", "ab"), "stderr": subprocess.STDOUT}
        spawners.append(spawner)
        reports.append(report)
    for spawner in spawners:
        await spawner.start()
    runs = []
    for number, (spawner, report) in enumerate(zip(spawners, reports)):
        while not report.exists():
            if await spawner.poll() is not None and not report.exists():
                raise RuntimeError(f"{spawner.user.name}'s server ended without a report: "
                                   f"{logs / spawner.user.name}.log")
            await asyncio.sleep(0.5)
        found = json.loads(report.read_text())
        group = hub_limits.recorded_group(spawner.user.name, Path(spawner.records))
        runs.append(Run(student=number, seconds=found["seconds"], peak_mb=group.peak_memory_mb() or 0.0,
                        memory_kills=group.out_of_memory_kills(), threads=found["threads"], error=found["error"]))
    for spawner in spawners:
        await spawner.stop(now=True)
        spawner.popen_kwargs["stdout"].close()
    return runs


def fair_share(alone: float, students: int, cores: int, cpu_limit: float) -> float:
    """One student's time when `students` share the node evenly: alone they get
    min(cpu_limit, cores) cores, together min(cpu_limit, cores / students) each. At
    N = 2 × cores with a limit of a core or less that is alone × N / cores."""
    return alone * min(cpu_limit, cores) / min(cpu_limit, cores / students)


def table(alone: Run, together: list[Run], cores: int, cpu_limit: float) -> str:
    fair = fair_share(alone.seconds, len(together), cores, cpu_limit)
    lines = ["| student | seconds | × alone | × fair share | group peak memory (MB) | memory-limit kills "
             "| torch threads |", "|---|---:|---:|---:|---:|---:|---:|",
             f"| alone | {alone.seconds:.1f} | 1.00 | — | {alone.peak_mb:.0f} | {alone.memory_kills} "
             f"| {alone.threads} |"]
    for run in together:
        lines.append(f"| {run.student + 1} of {len(together)} | {run.seconds:.1f} | {run.seconds / alone.seconds:.2f} "
                     f"| {run.seconds / fair:.2f} | {run.peak_mb:.0f} | {run.memory_kills} | {run.threads} |")
    return "\n".join(lines)


def verdict(alone: Run, together: list[Run], cores: int, cpu_limit: float) -> str:
    fair = fair_share(alone.seconds, len(together), cores, cpu_limit)
    worst = max(run.seconds for run in together) / fair
    each = min(cpu_limit, cores / len(together))
    scope = f"N = {len(together)} on {cores} cores" + ("" if len(together) == 2 * cores else
                                                        " (the target is stated at N = 2 × cores)")
    return (f"- {'holds' if worst <= TARGET_FAIR_SHARE else 'MISSED'}: every student ≤ {TARGET_FAIR_SHARE:g}× their "
            f"fair share ({fair:.1f} s: {alone.seconds:.1f} s alone on {min(cpu_limit, cores):g} core(s), "
            f"{each:.3g} each at once): worst "
            f"{worst:.2f}× at {scope}")


def plot(alone: Run, together: list[Run], cores: int, cpu_limit: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fair = fair_share(alone.seconds, len(together), cores, cpu_limit)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(together) + 2), 3.6))
    names = ["alone"] + [str(run.student + 1) for run in together]
    ax.bar(names, [alone.seconds] + [run.seconds for run in together],
           color=["tab:grey"] + ["tab:red" if run.error else "tab:blue" for run in together])
    ax.axhline(fair, color="black", linestyle="--", label=f"fair share {fair:.0f} s")
    ax.axhline(TARGET_FAIR_SHARE * fair, color="grey", linestyle=":",
               label=f"target {TARGET_FAIR_SHARE:g}× fair share")
    ax.set(xlabel="student", ylabel="seconds", title=f"{len(together)} students at once on {cores} cores")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--students", type=int, default=2 * cores, help=f"at once (default 2 × cores = {2 * cores})")
    parser.add_argument("--lab", default=LAB4, help=f"the lab each student runs (default {LAB4})")
    parser.add_argument("--cpu-limit", type=float, help="each server's cores (default: course hub's)")
    parser.add_argument("--mem-limit", help="each server's memory, e.g. 3G (default: course hub's with --offline)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)

    from course_admin import hub, hub_limits
    from course_admin.hub_folder import HubError

    if os.geteuid() != 0:
        parser.error("run as root: it creates the students' accounts and their servers' cgroups")
    problem = hub_limits.problem()
    if problem:
        parser.error(f"no cgroup can be made here, so no limit holds: {problem}")
    stale = stale_install(sys.executable)
    if stale:
        parser.error(f"{sys.executable}'s course_utils is not this repository's ({', '.join(stale)} differ): "
                     f"install the course into it again (pip install \"./[hub]\"), as on a hub")
    start = time.perf_counter()
    students: list[str] = []
    with tempfile.TemporaryDirectory(prefix="course-hub-node-") as scratch:
        folder = Path(scratch) / "hub"
        logs = Path(scratch) / "logs"
        folder.mkdir(mode=0o755)
        logs.mkdir()
        os.chmod(scratch, 0o755)  # the kernelspec under hub/share must be readable by the students
        try:
            students = make_students(args.students)
            try:
                hub.check_interpreter_for(students[0], sys.executable)
            except HubError as error:
                parser.error(str(error))
            node = hub_configuration(folder, students, args.cpu_limit, args.mem_limit)
            print(f"{args.students} student(s), {args.lab}; each server ≤ {node.cpu_limit:g} core(s) and "
                  f"{node.mem_limit // 2**20} MB; {cores} cores", flush=True)
            alone = asyncio.run(run_class(node, students[:1], args.lab, logs))[0]
            print(f"alone: {alone.seconds:.1f} s", flush=True)
            together = asyncio.run(run_class(node, students, args.lab, logs))
        finally:
            delete_students(students)
    failed = [run for run in [alone, *together] if run.error]
    header = (f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}. "
              f"Each student's server in its cgroup (`course hub`'s spawner): ≤ {node.cpu_limit:g} core(s), "
              f"{node.mem_limit // 2**20} MB; {args.lab} (reference solution, offline) executed in the server's "
              f"kernel, the hub's kernelspec and environment.")
    sections = [f"# A hub node under a class\n\n{header}", f"## {len(together)} students at once, against one alone\n\n"
                + table(alone, together, cores, node.cpu_limit),
                "## Target\n\n" + verdict(alone, together, cores, node.cpu_limit)]
    if failed:
        sections.append("## Failures\n\n" + "\n\n".join(f"student {run.student + 1}:\n```\n{run.error}\n```"
                                                       for run in failed))
    sections.append(f"Benchmark time: {time.perf_counter() - start:.0f} s.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hub_node.md").write_text("\n\n".join(sections) + "\n")
    plot(alone, together, cores, node.cpu_limit, out / "hub_node.png")
    print("\n" + "\n\n".join(sections[1:]) + f"\n\nWrote {out / 'hub_node.md'} and {out / 'hub_node.png'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
