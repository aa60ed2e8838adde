"""The `course` command: run the labs, release them, check them, autograde and report.

    course run                 execute every finished lab offline, then autograde a demo
                               cohort (reference, blank, partly wrong) and print its grades
    course release [LAB ...]   regenerate notebooks/ from solutions/, refuse leaks, and
                               record each lab in the course's gradebook
    course check   [LAB ...]   source autogrades to full marks, blank release to 0
    course autograde SUBMISSIONS [--lab LAB] [--course DIR] [--db URL] [--out DIR] [--jobs N]
                               [--cluster ADDRESS] [--timeout S] [--memory-limit MB] [--unsafe]
                               grade a folder of <student>/<lab>.ipynb or <student>_<lab>.ipynb
                               files (or a .zip of one, nbgrader's submitted/ folder, or one
                               notebook) into the course's gradebook, resumably; writes
                               grades.csv, summary.md with charts, and feedback HTML;
                               --cluster grades on the workers of a Dask scheduler
    course report [--lab LAB] [--course DIR] [--db URL] [--out DIR]
                               grades.csv, summary.md and feedback again from the gradebook
                               (after grading written answers in Formgrader), every
                               grader's notebooks included
    course db {init,sync} [--lab LAB] [--course DIR] [--db URL]
                               make the gradebook's tables and record the labs, once; or put
                               the graded notebooks it holds in this course root (Formgrader)
    course export --format {canvas,moodle,wide} --mapping IDS.csv [--lms-field F] [--lab LAB]
                  [--course DIR] [--db URL] [--out DIR] [--include-absent] [--partial]
                               one row per student, one column per lab, for the LMS's grade
                               import (course_admin/export.py says what each LMS reads)
    course tools {student,instructor}
                               show this installation's JupyterLab the student's nbgrader tools
                               only (Assignments, Validate) or the instructor's too (Formgrader,
                               Create Assignment)
    course hub ...             a JupyterHub for a small class on this machine (course hub --help)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

# jsonschema (nbformat's validator) builds rfc3987_syntax's Earley grammar as it loads: 0.9 s at
# the start of every `course` command, before a learner's kernel can start. jsonschema uses it
# for the "iri" and "iri-reference" formats only, which no schema the course validates has
# (notebooks, nbgrader's, Jupyter's events), and skips those formats without it. Here, not in
# course_admin's __init__: the student's kernel imports course_admin.kernel and must see no change.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  (tests/test_cli.py)

import nbformat  # noqa: E402

# (cluster imports Dask only when used)
from course_admin import batch, cluster, colab, collect, gradebook, labformat, pipeline, reports, sandbox, self_study
from course_admin.neutralise import for_terminal as shown  # every student or kernel string printed

# The demo cohort's partly wrong student: some answers right, some blank, some with a
# classic mistake made by editing the reference answer (no answer text is stored here).
DEMO_PLANS = {
    "lab1_lime_from_scratch": {
        "ex_perturb_tokens": "solution",
        "ex_predict_proba": ("dim=-1", "dim=0"),  # softmax over the batch
        "ex_kernel_weights": "solution",
        "ex_weighted_mse": ("errors = target.reshape(-1) - pred.reshape(-1)", "errors = target - pred"),
        "ex_fit_surrogate": "solution",
        "ex_top_k_overlap": ("/ len(union)", "/ k"),
    },
    "lab2_attention_vs_lime": {
        "ex_make_predict_proba": "solution",
        "ex_sample_accuracy": ("size=n, replace=False", "size=n, replace=True"),
        "ex_cls_attention": ("attentions[layer][0].mean(dim=0)[0]", "attentions[layer][0].mean(dim=0)[:, 0]"),
        "ex_attention_submatrix": "solution",
        "ex_rank_agreement": ("scipy.stats.kendalltau", "scipy.stats.spearmanr"),
    },
    "lab3_ig_vs_lime": {
        "ex_summarize_attributions": "solution",
        "ex_input_x_gradient": ("(x * grad).sum(dim=-1)[0]", "grad.sum(dim=-1)[0]"),  # gradient, not x * gradient
        "ex_integrated_gradients": (  # seed 002's bug: class 0 counts as "no target"
            "    if target is None:\n        target = int(endpoints[0].argmax())",
            "    target = target or int(endpoints[0].argmax())",
        ),
        "ex_word_feature_mask": "solution",
    },
    "lab4_faithfulness_stability": {
        "ex_mask_top_k": "solution",
        "ex_comprehensiveness": ("max(1, round(f * n))", "max(1, int(f * n))"),  # truncates k instead of rounding
        "ex_performance_drop": ('average="macro"', 'average="micro"'),  # micro F1 = accuracy here
        "ex_stability": "solution",
        "ex_rationale_agreement": ("average_precision_score", "roc_auc_score"),
    },
    "lab5_explaining_generation": {
        "ex_continuation_logprob": "solution",
        "ex_occlusion_attribution": ("return totals[n] - totals[:n]", "return totals[:n] - totals[n]"),  # the sign
        "ex_grad_x_input": "solution",
        "ex_integrated_gradients": ("((x - x0) * gradient_sum", "(x * gradient_sum"),  # x, not x - x'
        "ex_contrastive_attribution": "solution",  # calls the wrong occlusion: graded on its own
        "ex_deletion_curve": ("key=lambda i: (-scores[i], i)", "key=lambda i: (scores[i], i)"),  # lowest first
    },
}


def _print_table(rows: list[list[str]]) -> None:
    for line in _table_lines(rows):
        print(line)


def _table_lines(rows: list[list[str]]) -> list[str]:
    """`rows` as aligned text, a rule under the header (the first column left, the rest right)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def _fmt(value: float) -> str:
    return f"{value:g}"


def grade_table(workspace: pipeline.Workspace, lab: str, students: list[str]) -> list[list[str]]:
    """Rows of exercise scores per student (header first). Written answers are shown
    apart ("to grade" until an instructor grades them) and left out of the auto total."""
    rows: list[list[str]] = []
    for student in students:
        scores = workspace.exercise_scores(lab, student)
        if not rows:
            rows.append(["student"] + [s.exercise for s in scores] + ["auto total"])
        auto = [s for s in scores if not s.manual]
        cells = [f"to grade/{_fmt(s.max_score)}" if s.pending else f"{_fmt(s.score)}/{_fmt(s.max_score)}"
                 for s in scores]
        total = f"{_fmt(sum(s.score for s in auto))}/{_fmt(sum(s.max_score for s in auto))}"
        rows.append([student] + cells + [total])
    return rows


def _sandbox_allowed(unsafe: bool) -> bool:
    """True to grade in the sandbox; False (with a warning) when --unsafe; exits when the
    sandbox is missing and --unsafe was not given."""
    problem = sandbox.problem()
    if unsafe:
        print("WARNING: --unsafe: student code runs with your user rights, network and files.", file=sys.stderr)
        return False
    if problem:
        print(f"course: student code is only run in a sandbox, and it cannot start here: {problem}.\n"
              "Install bubblewrap, or grade without isolation (trusted notebooks only) with --unsafe.",
              file=sys.stderr)
        raise SystemExit(2)
    return True


# Where `course run`'s expected duration comes from: `python -m benchmarks.run`, alone on its machine.
BENCHMARK = Path("benchmarks") / "results" / "benchmarks.md"


def measured_seconds(root: Path) -> tuple[dict[str, tuple[float, float]], str]:
    """The course's last benchmark of its labs: lab -> (seconds to execute it, to autograde its
    reference), and the machine it ran on ("2 cores"); ({}, "") where the course has none."""
    try:
        lines = (root / BENCHMARK).read_text().splitlines()
    except OSError:
        return {}, ""
    machine = next((m.group(1) for line in lines if (m := re.match(r"Machine: .*?(\d+ cores)", line))), "")
    found: dict[str, tuple[float, float]] = {}
    columns: list[str] = []
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "execute (s)" in cells and "autograde (s)" in cells:  # the "Labs" table's header
            columns = cells
        elif columns and len(cells) == len(columns) and cells[0] != columns[0]:
            try:
                found[cells[0]] = (float(cells[columns.index("execute (s)")]),
                                   float(cells[columns.index("autograde (s)")]))
            except ValueError:  # the |---| row
                continue
        elif columns and not line.strip():
            break
    return found, machine


def cohort_size(lab: str) -> int:
    """Students in `course run`'s demo cohort of `lab`: reference, blank, and partly_wrong where planned."""
    return 3 if lab in DEMO_PLANS else 2


def expected_duration(labs: list[str], root: Path) -> str:
    """What `course run` says about its duration before it starts, from the measured figures."""
    measured, machine = measured_seconds(root)
    missing = [lab for lab in labs if lab not in measured]
    if not measured:
        return f"(This course has no {BENCHMARK}: no estimate of how long this takes.)"
    if missing:
        return f"(No measured time for {', '.join(missing)} in {BENCHMARK}: no estimate of how long this takes.)"
    executing = sum(measured[lab][0] for lab in labs)
    grading = sum(measured[lab][1] * cohort_size(lab) for lab in labs)
    text = (f"Expect about {_minutes(executing + grading)}: measured on {machine or 'one machine'} with nothing "
            f"else running, {executing:.0f} s executing the labs and {grading:.0f} s grading the demo cohort "
            f"({BENCHMARK}).")
    cores, load = available_cores_now()
    if load > cores / 2:
        text += (f" This machine is busy now (load {load:.1f} on {cores} core(s)): expect longer, in proportion "
                 "to the other work.")
    return text


def grading_pace(submissions: list, root: Path) -> str:
    """How long a notebook takes to grade (the benchmark's autograde column for the labs being
    graded), as a clause of the command's first line; "" where a lab has no figure."""
    measured, machine = measured_seconds(root)
    seconds = [measured[s.lab][1] for s in submissions if s.lab in measured]
    if not seconds or len(seconds) < len(submissions):
        return ""
    low, high = min(seconds), max(seconds)
    pace = f"{low:.0f} s" if round(low) == round(high) else f"{low:.0f}-{high:.0f} s"
    return f"; about {pace} a notebook on {machine or 'the benchmark machine'} with nothing else running"


def available_cores_now() -> tuple[int, float]:
    """(the cores this process has, the machine's load over the last minute)."""
    from course_utils.threads import available_cores

    return available_cores(), os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def cmd_run(args: argparse.Namespace) -> int:
    labs = args.labs or pipeline.finished_labs()
    out = _output(Path(args.out).absolute(), "course run")  # before the labs run: a refusal comes at once
    started = time.perf_counter()
    print(f"Running {len(labs)} lab(s) offline on the embedded models ({', '.join(labs)}), then grading a demo "
          f"cohort of {sum(map(cohort_size, labs))} notebook(s) in the sandbox (reference, blank and partly wrong "
          "answers).")
    print(expected_duration(labs, pipeline.course_root()) + "\n")
    notebooks = {lab: nbformat.read(pipeline.lab_notebook(lab), as_version=4) for lab in labs}
    failed = [lab for lab in labs if not _execute_lab(lab, pipeline.code_cells(notebooks[lab]))]

    sandboxed = _sandbox_allowed(args.unsafe)
    demo = out / "course"  # the last run's demo course, made by this command (a link is removed, not followed)
    if demo.is_symlink():
        demo.unlink()
    else:
        shutil.rmtree(demo, ignore_errors=True)
    _grade_demo(pipeline.Workspace(pipeline.scratch_course(demo, labs), labs, sandbox=sandboxed), notebooks)
    print(f"\nDone in {_minutes(time.perf_counter() - started)}. Look next at what each demo student receives, "
          f"their feedback pages (hidden tests removed): {demo / 'feedback'}/<student>/<lab>/<lab>.html; their graded "
          f"notebooks: {demo / 'autograded'}; then README.md, \"What instructors do\", to grade a class of your own.")
    return 1 if failed else 0


def _execute_lab(lab: str, cells: int) -> bool:
    """Run one lab's solution notebook with a progress bar over its `cells`; say how it went."""
    from tqdm.auto import tqdm

    with tqdm(total=cells, unit="cell", desc=lab) as bar:
        try:
            nb, seconds = pipeline.execute_notebook(pipeline.lab_notebook(lab), on_cell=lambda: bar.update(1))
        except Exception as error:  # report and go on: one broken lab must not hide the others
            bar.write(f"  {lab}: FAILED ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
            return False
    warnings = pipeline.stderr_outputs(nb)
    print(f"  {lab}: executed in {seconds:.1f} s" + (f", {len(warnings)} stderr output(s)" if warnings else ", no warnings"))
    return True


def _grade_demo(workspace: pipeline.Workspace, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    """Release each lab, grade its demo cohort with a progress bar over the students, print its table."""
    from tqdm.auto import tqdm

    with tqdm(total=sum(map(cohort_size, notebooks)), unit="notebook", desc="grading the demo cohort") as bar:
        for lab, source in notebooks.items():
            bar.write(f"\nDemo cohort for {lab} (nbgrader autograde, offline, sandboxed):")
            blank = nbformat.read(workspace.release(lab), as_version=4)
            cohort = {"reference": source, "blank": blank}
            if lab in DEMO_PLANS:
                cohort["partly_wrong"] = pipeline.fill_submission(source, blank, DEMO_PLANS[lab])
            for student, notebook in cohort.items():
                bar.set_postfix_str(f"{lab}: {student}")
                workspace.submit(lab, student, notebook)
                seconds = workspace.autograde(lab, student)
                workspace.feedback(lab, student)
                bar.update(1)
                bar.write(f"  graded {student} in {seconds:.1f} s")
            for line in ["", *_table_lines(grade_table(workspace, lab, list(cohort)))]:
                bar.write(line)


def cmd_release(args: argparse.Namespace) -> int:
    root = pipeline.course_root()
    labs = args.labs or pipeline.finished_labs(root)
    for lab in labs:  # the set-up cell is generated from pyproject.toml (course_admin.colab)
        source = pipeline.lab_notebook(lab, root=root)
        notebook = nbformat.read(source, as_version=4)
        if colab.sync_setup_cell(notebook, root):
            nbformat.write(notebook, source)
            print(f"{lab}: set-up cell of {source.relative_to(root)} updated from pyproject.toml")
    with tempfile.TemporaryDirectory() as scratch:  # generate apart first: nothing leaks into notebooks/
        trial = pipeline.Workspace(pipeline.scratch_course(Path(scratch), labs, root), labs)
        for lab in labs:
            leaks = pipeline.leaked_text(nbformat.read(pipeline.lab_notebook(lab, root=root), as_version=4),
                                         nbformat.read(trial.release(lab), as_version=4))
            if leaks:
                print(f"{lab}: the release contains solution or hidden-test text, not written:", file=sys.stderr)
                for leak in leaks[:10]:
                    print(f"    {leak}", file=sys.stderr)
                return 1
    worked = [lab for lab in labs if _learner_work(pipeline.lab_notebook(lab, pipeline.RELEASE, root))]
    if worked and not args.overwrite:
        for lab in worked:
            print(f"{lab}: {pipeline.lab_notebook(lab, pipeline.RELEASE, root).relative_to(root)} holds someone's "
                  "work (answers or outputs), not a release: not overwritten. Move it elsewhere first, or give "
                  "--overwrite to replace it.", file=sys.stderr)
        return 1
    course = pipeline.Workspace(root, labs, db_url=args.db)
    for lab in labs:
        target = course.release(lab)
        print(f"{lab}: released to {target.relative_to(root)} (no solution or hidden-test text) "
              "and recorded in the gradebook")
    return 0


def _learner_work(path: Path) -> bool:
    """Whether a release notebook was worked in: an answer cell no longer matches the
    checksum nbgrader gave it, or a cell has outputs (a fresh release has none)."""
    from nbgrader.utils import compute_checksum

    if not path.is_file():
        return False
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: not ours to replace without asking
        return True
    for cell in notebook.cells:
        meta = labformat.grading(cell)
        if cell.get("outputs") or (labformat.is_answer(cell) and "checksum" in meta
                                   and compute_checksum(cell) != meta["checksum"]):
            return True
    return False


def cmd_check(args: argparse.Namespace) -> int:
    labs = args.labs or pipeline.finished_labs()
    sandboxed = _sandbox_allowed(args.unsafe)
    problems = 0
    with tempfile.TemporaryDirectory() as scratch:
        workspace = pipeline.Workspace(pipeline.scratch_course(Path(scratch), labs), labs, sandbox=sandboxed)
        for lab in labs:
            release = workspace.release(lab)
            workspace.submit(lab, "reference", pipeline.lab_notebook(lab))
            workspace.submit(lab, "blank", release)
            for student in ("reference", "blank"):
                workspace.autograde(lab, student)
            scores = {s: workspace.exercise_scores(lab, s) for s in ("reference", "blank")}
            full = all(x.score == x.max_score for x in scores["reference"] if not x.manual)
            zero = all(x.score == 0 for x in scores["blank"] if not x.manual)
            print(f"{lab}: reference {'full marks' if full else 'NOT full marks'}, blank {'0' if zero else 'NOT 0'}")
            if not (full and zero):
                _print_table(grade_table(workspace, lab, ["reference", "blank"]))
                problems += 1
    return 1 if problems else 0


def _course(args: argparse.Namespace) -> Path:
    course = Path(args.course).resolve() if args.course else pipeline.course_root()
    if not (course / "nbgrader_config.py").is_file():
        print(f"course: {course} is not a course root (no nbgrader_config.py)", file=sys.stderr)
        raise SystemExit(2)
    return course


def _labs(args: argparse.Namespace, course: Path) -> list[str]:
    labs = [args.lab] if args.lab else pipeline.finished_labs(course)
    unknown = set(labs) - set(pipeline.finished_labs(course))
    if unknown:
        print(f"course: unknown lab {sorted(unknown)[0]!r}; labs: {', '.join(pipeline.finished_labs(course))}",
              file=sys.stderr)
        raise SystemExit(2)
    return labs


def _output(folder: Path, command: str) -> Path:
    """The output folder, claimed for the course, or exit with why it cannot be."""
    try:
        return reports.claim_output(folder, command)
    except reports.OutputRefused as refused:
        print(f"{command}: {refused}", file=sys.stderr)
        raise SystemExit(2) from None


def _is_collected(source: Path, course: Path) -> bool:
    """Whether `source` is (in) the course's own submitted/ folder, which only the course's
    collect writes: its timestamp.txt files are the collect's record, not a student's."""
    return source.is_dir() and source.resolve().is_relative_to((course / "submitted").resolve())


def _unchanged_release(submission: collect.Submission, course: Path, db_url: str | None) -> bool:
    """Whether a learner's notebook is byte for byte the blank release of its lab (generated
    afresh: the file in notebooks/ may be the learner's own)."""
    blank = pipeline.Workspace(course, db_url=db_url).register(submission.lab)
    return blank == submission.path.read_bytes()


def _print_summary(found: list[reports.Row]) -> None:
    for lab in sorted({r.lab for r in found}):
        print(f"\n{lab}: class mean per exercise")
        rows = [["exercise", "points", "class mean", "full marks"]]
        for row in reports.class_summary(found, lab):
            rows.append([shown(row["exercise"]), _fmt(row["max"]), *reports.summary_cells(row)])
        if len(rows) > 1:
            _print_table(rows)
        for r in found:
            if r.lab == lab and not r.graded:
                print(f"  not graded: {shown(r.student)}: {shown(r.reason)}")
            elif r.lab == lab and r.flags:
                print(f"  flagged: {shown(r.student)}: {shown('; '.join(r.flags[:5]))}")


def _print_self_study(workspace: pipeline.Workspace, row: reports.Row,
                      answers: dict[str, self_study.ModelAnswer] | str | None) -> None:
    """A learner grading their own notebook: the automatic total with the written answers
    apart, where their model answers are (`answers`: None when this is not self-study, or
    the line saying why there are none), then what to revise."""
    score, top = row.auto
    written = [s for s in row.scores if s.manual]
    line = f"\nYour score for {row.lab}: {max(score - row.late_penalty, 0.0):g} / {top:g} automatic points"
    if written and answers is not None:
        line += "; " + self_study.written_line(len(written), sum(s.max_score for s in written))
    elif written:
        names = shown(", ".join(s.exercise for s in written))
        line += f" (written answers, graded by hand and not in this total: {names})"
    print(line)
    if isinstance(answers, str):
        print(f"  {shown(answers)}")
    for s in written if isinstance(answers, dict) else []:
        state = "answered" if s.pending else "not answered yet" if s.score == 0 else f"graded {s.score:g}"
        where = ("model answer and rubric beside your answer in your feedback page (\"Assess yourself\")"
                 if s.exercise in answers else "no model answer for it in solutions/")
        print(f"  {shown(s.exercise)} ({s.max_score:g} points, {state}): {where}")
    notebook = nbformat.read(workspace.autograded_path(row.lab, row.student), as_version=4)
    failures: dict[str, list[str]] = {}
    for s in row.scores:
        if not s.manual and s.score < s.max_score:
            failures[s.exercise] = []
    for cell in notebook.cells:
        owner = labformat.owner(labformat.grade_id(cell), failures)
        if owner:
            failures[owner] += [o.get("evalue", "") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not failures:
        print("Every automatic test passed.")
    for exercise, messages in failures.items():
        s = next(s for s in row.scores if s.exercise == exercise)
        print(f"  revise {shown(exercise)} ({s.score:g}/{s.max_score:g}):")
        for message in dict.fromkeys(messages):
            print(f"    - {shown(message, 300)}")


def cmd_autograde(args: argparse.Namespace) -> int:
    source = Path(args.submissions).resolve()
    if not source.exists():
        print(f"course autograde: {source} does not exist", file=sys.stderr)
        return 2
    course = _course(args)
    labs = _labs(args, course)
    if args.cluster and not _cluster_ready(args):
        return 2
    sandboxed = _sandbox_allowed(args.unsafe)
    out = _output(Path(args.out).absolute() if args.out else course / "reports", "course autograde")
    start = time.perf_counter()
    options = batch.Options(jobs=args.jobs, cell_timeout=args.timeout, memory_limit_mb=args.memory_limit,
                            sandbox=sandboxed, db_url=args.db, cluster=args.cluster)
    if source.is_file():  # one notebook (a learner's own): its kernel starts while it is collected
        guess = source.stem if source.stem in labs else labs[0] if len(labs) == 1 else None
        batch.start_kernel_ahead(course, options, guess)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            skipped: list[collect.Problem] = []
            folder = collect.unpack(source, Path(scratch), skipped)
        except (zipfile.BadZipFile, ValueError) as error:
            print(f"course autograde: cannot open {source.name}: {error}", file=sys.stderr)
            return 2
        # Each notebook is copied once, by content, before anything else happens: what is graded
        # is what was handed in, and the learner's own file is never written.
        submissions, problems = collect.collect(folder, labs, course, snapshot=Path(scratch) / "snapshot",
                                              trusted_times=_is_collected(source, course))
        problems = skipped + problems
        reports.save_problems(out, problems)
        for problem in problems:
            print(f"  not graded: {shown(problem.file)}: {shown(problem.reason)}")
        if not submissions:
            print("course autograde: no submission to grade", file=sys.stderr)
            return 1
        if source.is_file() and _unchanged_release(submissions[0], course, args.db):
            print(f"course autograde: {source} is the blank {submissions[0].lab} notebook as released (nothing "
                  "answered yet): not graded. Fill in the exercise cells, save, and grade it again.", file=sys.stderr)
            return 1
        # A learner's own notebook gets its page with the model answers as it is graded (one page, not two).
        options.self_study = len(submissions) == 1 and not args.cluster and self_study.is_self_study(
            source, submissions[0].student, batch._workspace(course, options).students(submissions[0].lab))
        where = f"on the workers of {args.cluster}" if args.cluster else f"with {args.jobs} job(s)"
        print(f"Grading {len(submissions)} submission(s) {where} into {course} "
              f"({'sandboxed' if sandboxed else 'NOT sandboxed'}{grading_pace(submissions, course)}); "
              f"reports go to {out}")
        from tqdm.auto import tqdm

        with tqdm(total=len(submissions), unit="notebook", desc="autograde") as bar:
            def progress(result: batch.Result) -> None:
                bar.update(1)
                if result.error:
                    bar.write(f"  {shown(result.student)} ({result.lab}): {shown(result.error)}")

            try:
                results = batch.grade_batch(course, out, submissions, options, progress)
            except (batch.Interrupted, KeyboardInterrupt) as stopped:
                bar.close()
                print(f"\nInterrupted ({stopped or 'Ctrl-C'}). Run the same command again to grade the rest: "
                      "graded notebooks are kept and not graded twice.", file=sys.stderr)
                return 130
            except cluster.ClusterError as failed:
                bar.close()
                print(f"\ncourse autograde: {failed}\nGraded notebooks are kept: run the same command again "
                      "to grade the rest.", file=sys.stderr)
                return 2
    fresh = [r for r in results if not r.resumed and not r.error]
    run = (f"This run: {len(results)} submission(s), {sum(r.resumed for r in results)} from an earlier run, "
           f"{time.perf_counter() - start:.0f} s" + (f", {sum(r.seconds for r in fresh) / len(fresh):.1f} s per "
                                                      "graded notebook" if fresh else "") + ".")
    workspace = batch._workspace(course, options)
    grades, report, found = reports.write_reports(workspace, out, sorted({s.lab for s in submissions}), run)
    if len(submissions) == 1:  # one learner grading their own notebook: their total, what to revise
        student, lab = submissions[0].student, submissions[0].lab
        row = next((r for r in found if r.student == student and r.lab == lab), None)
        if results and results[0].resumed:
            print(f"\nThis notebook has not changed since it was graded with the same settings: the grade below is "
                  f"that grading's (to grade it again, delete {batch._marker(out, lab, student)}).")
        if row is not None and row.graded:
            answers = None
            if self_study.is_self_study(source, student, workspace.students(lab)):
                answers = self_study.model_answers(course, lab)
                try:  # made with the grading, unless that was an earlier run's (or a class's, before)
                    if not results or results[0].resumed or not options.self_study:
                        workspace.feedback(lab, student, self_study=True)
                except pipeline.GradingFailed as failed:
                    answers = f"Model answers not shown: the feedback page could not be made again ({failed})"[:300]
            _print_self_study(workspace, row, answers)
            print(f"\nYour feedback page: {course / 'feedback' / student / lab / f'{lab}.html'}")
        elif row is not None:
            print(f"\nYour notebook was not graded: {shown(row.reason)}")
        return 0
    _print_summary(found)
    print(f"\nGrades: {grades}\nSummary and charts: {report}\nFeedback pages (per student; hidden tests show their "
          f"message, never their code): {course / 'feedback'}")
    return 0


def _cluster_ready(args: argparse.Namespace) -> bool:
    """Whether `--cluster` can grade: a gradebook every worker reaches, a scheduler that answers,
    workers that run this version of the course; else False, having said why."""
    if args.jobs != 1:
        print("course autograde: give --jobs or --cluster, not both (the cluster's workers are the jobs)",
              file=sys.stderr)
        return False
    if not args.db or args.db.startswith("sqlite"):
        print("course autograde: --cluster needs --db with a gradebook every worker reaches, e.g. "
              "postgresql://grader@dbhost/course (SQLite is one machine's file)", file=sys.stderr)
        return False
    try:
        client = cluster.connect(args.cluster)
        try:
            hosts = cluster.check(client, sandboxed=not args.unsafe)
        finally:
            client.close()
    except cluster.ClusterError as error:
        print(f"course autograde: {error}", file=sys.stderr)
        return False
    print(f"Cluster {args.cluster}: {sum(hosts.values())} worker process(es) on {len(hosts)} machine(s)")
    return True


def cmd_report(args: argparse.Namespace) -> int:
    course = _course(args)
    labs = _labs(args, course)
    out = _output(Path(args.out).absolute() if args.out else course / "reports", "course report")
    workspace = pipeline.Workspace(course, db_url=args.db)
    _sync(workspace, labs)  # notebooks other graders graded, for the feedback and Formgrader
    regenerated = 0
    for lab in labs:
        for student in workspace.students(lab):
            if workspace.graded(lab, student):
                workspace.late_penalty(lab, student)  # the policy on today's total, before the feedback shows it
                workspace.feedback(lab, student)
                regenerated += 1
    grades, report, found = reports.write_reports(workspace, out, labs)
    _print_summary(found)
    print(f"\nGrades: {grades}\nSummary and charts: {report}\nFeedback regenerated for {regenerated} notebook(s): "
          f"{course / 'feedback'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from course_admin import export

    course = _course(args)
    labs = _labs(args, course)
    out = _output(Path(args.out).absolute() if args.out else course / "reports", "course export")
    workspace = pipeline.Workspace(course, db_url=args.db)
    try:
        done = export.export(workspace, out, labs, args.format, Path(args.mapping), args.lms_field,
                             Path(args.assignment_names) if args.assignment_names else None,
                             args.include_absent, args.partial)
    except export.ExportRefused as refused:
        print(f"course export: {refused}; nothing written", file=sys.stderr)
        return 2
    for cell in done.ungraded:
        print(f"  empty: {shown(cell.student)} {cell.lab}: {shown(cell.reason)}", file=sys.stderr)
    for student in done.unmapped:
        print(f"  not in the mapping, not exported: {shown(student)}", file=sys.stderr)
    print(f"{args.format} grades: {done.target}\n{len(done.ungraded)} empty cell(s) and {len(done.unmapped)} student(s) "
          f"missing from the mapping, listed in {done.ungraded_file}")
    return 1 if done.unmapped else 0


def _sync(workspace: pipeline.Workspace, labs: list[str]) -> int:
    written, problems = workspace.sync(labs)
    for problem in problems:
        print(f"  not synced: {shown(problem, 300)}", file=sys.stderr)
    return written


def cmd_db(args: argparse.Namespace) -> int:
    """`course db init`: the gradebook's tables and every lab, made once (safe when several
    graders start together); `course db sync`: the graded notebooks the gradebook holds, put
    in this course root's autograded/ folder for Formgrader and feedback."""
    course = _course(args)
    labs = _labs(args, course)
    workspace = pipeline.Workspace(course, labs, db_url=args.db)
    if args.action == "init":
        for lab in labs:
            workspace.ensure_registered(lab)
        print(f"Gradebook ready: {gradebook.shown_url(workspace.db_url)} (labs: {', '.join(labs)})")
        return 0
    written = _sync(workspace, labs)
    print(f"{written} graded notebook(s) written to {course / 'autograded'} from the gradebook")
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from course_admin import roles

    folder = Path(args.config_dir) if args.config_dir else Path(sys.prefix) / "etc" / "jupyter"
    roles.write_role_tools(folder, args.role)
    shown = "Assignments and Validate only" if args.role == "student" else "every nbgrader tool (Formgrader included)"
    print(f"JupyterLab of this installation ({folder}) now shows {shown}; restart JupyterLab to see it.")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="execute the labs offline and autograde a demo cohort")
    run.add_argument("labs", nargs="*", help="labs to run (default: every finished lab)")
    run.add_argument("--out", default=".course_runs/demo", help="where the demo course and its feedback go")
    run.add_argument("--unsafe", action="store_true", help="grade the demo without the sandbox")
    release = commands.add_parser("release", help="regenerate notebooks/ from solutions/ and record the labs")
    release.add_argument("labs", nargs="*")
    release.add_argument("--db", help="gradebook URL (default: gradebook.db in the course root)")
    release.add_argument("--overwrite", action="store_true",
                         help="replace release notebooks even where someone worked in them")
    check = commands.add_parser("check", help="source gets full marks, blank release gets 0")
    check.add_argument("labs", nargs="*")
    check.add_argument("--unsafe", action="store_true", help="grade without the sandbox")
    for name, text in (("autograde", "autograde a folder of submissions"),
                       ("report", "grades.csv, summary.md and feedback again from the gradebook")):
        sub = commands.add_parser(name, help=text)
        if name == "autograde":
            sub.add_argument("submissions", help="a folder of <student>/<lab>.ipynb or <student>_<lab>.ipynb, "
                                                 "nbgrader's submitted/ folder, a .zip of one, or a single notebook")
        sub.add_argument("--lab", help="only this lab")
        sub.add_argument("--course", help="the course root (default: this repository)")
        sub.add_argument("--db", help="gradebook URL nbgrader accepts (default: gradebook.db in the course root)")
        sub.add_argument("--out", help="where grades.csv and summary.md go (default: <course>/reports)")
        if name == "autograde":
            sub.add_argument("--jobs", type=_positive, default=1, help="students graded in parallel (default 1)")
            sub.add_argument("--cluster", metavar="ADDRESS",
                             help="grade on the workers of this Dask scheduler (tcp://host:8786, or the file of "
                                  "`dask scheduler --scheduler-file`); needs --db postgresql://...")
            sub.add_argument("--timeout", type=_positive, default=None,
                             help="seconds one cell may run before it is interrupted (default: nbgrader_config.py's)")
            sub.add_argument("--memory-limit", type=_positive, default=None,
                             help="address-space limit per kernel process, in MB (default: nbgrader_config.py's)")
            sub.add_argument("--unsafe", action="store_true",
                             help="run student code without the sandbox (only for notebooks you trust)")
    from course_admin import export, hub

    lms = commands.add_parser("export", help="grades for an LMS import (Canvas, Moodle) through an id mapping")
    lms.add_argument("--format", required=True, choices=export.FORMATS)
    lms.add_argument("--mapping", required=True,
                     help="CSV with columns student,lms_id[,name]: the course's id -> the LMS's id of that person")
    lms.add_argument("--lms-field", help="which LMS id lms_id is: canvas sis_user_id (default), sis_login_id or "
                                         "canvas_id; moodle idnumber (default), email or username")
    lms.add_argument("--assignment-names", help="CSV with columns lab,name: the LMS's column name of each lab "
                                                "(Canvas: `Lab 1 (12345)` finds assignment 12345)")
    lms.add_argument("--include-absent", action="store_true",
                     help="students of the mapping with nothing in the gradebook get empty cells (else refused)")
    lms.add_argument("--partial", action="store_true",
                     help="export the points so far where a written answer is still to grade (else empty)")
    lms.add_argument("--lab", help="only this lab")
    lms.add_argument("--course", help="the course root (default: this repository)")
    lms.add_argument("--db", help="gradebook URL nbgrader accepts (default: gradebook.db in the course root)")
    lms.add_argument("--out", help="where lms_<format>.csv goes (default: <course>/reports)")
    db = commands.add_parser("db", help="the gradebook: make it once (init), or copy its graded notebooks here (sync)")
    db.add_argument("action", choices=["init", "sync"])
    db.add_argument("--lab", help="only this lab")
    db.add_argument("--course", help="the course root (default: this repository)")
    db.add_argument("--db", help="gradebook URL (default: gradebook.db in the course root)")
    tools = commands.add_parser("tools", help="student or instructor tools in this installation's JupyterLab")
    tools.add_argument("role", choices=["student", "instructor"])
    tools.add_argument("--config-dir", help="a Jupyter configuration folder (default: this venv's etc/jupyter)")
    hub.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run"] + (argv or []))
    handlers = {"run": cmd_run, "release": cmd_release, "check": cmd_check, "autograde": cmd_autograde,
                "report": cmd_report, "export": cmd_export, "db": cmd_db, "tools": cmd_tools, "hub": hub.cmd_hub}
    try:
        return handlers[args.command](args)
    except gradebook.GradebookUnavailable as unavailable:
        print(f"course {args.command}: {unavailable}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
