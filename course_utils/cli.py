"""The `course` command: run the labs, release them, check them, autograde submissions.

    course run                 execute every finished lab offline, then autograde a demo
                               cohort (reference, blank, partly wrong) and print its grades
    course release [LAB ...]   regenerate notebooks/ from solutions/ and check for leaks
    course check   [LAB ...]   source autogrades to full marks, blank release to 0
    course autograde SUBMISSIONS [--lab LAB] [--out DIR]
                               grade a folder of <student>/<lab>.ipynb or <student>_<lab>.ipynb
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_utils import pipeline

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
}


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * width for width in widths))


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


def cmd_run(args: argparse.Namespace) -> int:
    labs = args.labs or pipeline.finished_labs()
    print(f"Running {len(labs)} lab(s) offline on the embedded models: {', '.join(labs)}\n")
    failed = False
    for lab in labs:
        try:
            nb, seconds = pipeline.execute_notebook(pipeline.lab_notebook(lab))
        except Exception as error:  # report and go on: one broken lab must not hide the others
            print(f"  {lab}: FAILED ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
            failed = True
            continue
        warnings = pipeline.stderr_outputs(nb)
        print(f"  {lab}: executed in {seconds:.1f} s" + (f", {len(warnings)} stderr output(s)" if warnings else ", no warnings"))

    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    workspace = pipeline.Workspace(out / "course", labs)
    for lab in labs:
        print(f"\nDemo cohort for {lab} (nbgrader autograde, offline):")
        release = workspace.release(lab)
        source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
        blank = nbformat.read(release, as_version=4)
        cohort = {"reference": source, "blank": blank}
        if lab in DEMO_PLANS:
            cohort["partly_wrong"] = pipeline.fill_submission(source, blank, DEMO_PLANS[lab])
        for student, notebook in cohort.items():
            workspace.submit(lab, student, notebook)
            seconds = workspace.autograde(lab, student)
            workspace.feedback(lab, student)
            print(f"  graded {student} in {seconds:.1f} s")
        print()
        _print_table(grade_table(workspace, lab, list(cohort)))
    print(f"\nFeedback (HTML, hidden tests removed): {out / 'course' / 'feedback'}")
    return 1 if failed else 0


def cmd_release(args: argparse.Namespace) -> int:
    root = pipeline.course_root()
    labs = args.labs or pipeline.finished_labs(root)
    with tempfile.TemporaryDirectory() as scratch:
        workspace = pipeline.Workspace(Path(scratch), labs, root)
        for lab in labs:
            fresh = workspace.release(lab)
            leaks = pipeline.leaked_text(nbformat.read(pipeline.lab_notebook(lab, root=root), as_version=4),
                                         nbformat.read(fresh, as_version=4))
            if leaks:
                print(f"{lab}: the release contains solution or hidden-test text, not written:", file=sys.stderr)
                for leak in leaks[:10]:
                    print(f"    {leak}", file=sys.stderr)
                return 1
            target = pipeline.lab_notebook(lab, "notebooks", root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(fresh, target)
            print(f"{lab}: released to {target.relative_to(root)} (no solution or hidden-test text)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    labs = args.labs or pipeline.finished_labs()
    problems = 0
    with tempfile.TemporaryDirectory() as scratch:
        workspace = pipeline.Workspace(Path(scratch), labs)
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


_FLAT_NAME = re.compile(r"^(?P<student>.+?)_(?P<lab>lab\d+_[a-z_]+?)(?:\.ipynb)$")


def find_submissions(folder: Path, lab: str) -> dict[str, Path]:
    """Student -> notebook for `lab` in `folder`: <student>/<lab>.ipynb, <student>/<lab>/<lab>.ipynb
    or a flat <student>_<lab>.ipynb."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        relative = path.relative_to(folder)
        match = _FLAT_NAME.match(path.name)
        if len(relative.parts) == 1 and match and match["lab"] == lab:
            found[match["student"]] = path
        elif len(relative.parts) >= 2 and path.stem == lab:
            found[relative.parts[0]] = path
    return found


def cmd_autograde(args: argparse.Namespace) -> int:
    folder = Path(args.submissions).resolve()
    if not folder.is_dir():
        print(f"course autograde: {folder} is not a folder of submissions", file=sys.stderr)
        return 2
    labs = [args.lab] if args.lab else pipeline.finished_labs()
    out = Path(args.out).resolve()
    workspace = pipeline.Workspace(out, labs)
    for lab in labs:
        submissions = find_submissions(folder, lab)
        if not submissions:
            continue
        workspace.release(lab)
        print(f"{lab}: {len(submissions)} submission(s)")
        graded = []
        for student, path in submissions.items():
            try:
                nbformat.read(path, as_version=4)
            except Exception as error:
                print(f"  {student}: not a readable notebook ({type(error).__name__}); skipped")
                continue
            workspace.submit(lab, student, path)
            start = time.perf_counter()
            try:
                workspace.autograde(lab, student)
                workspace.feedback(lab, student)
            except RuntimeError as error:
                print(f"  {student}: grading failed: {str(error).splitlines()[0]}")
                continue
            graded.append(student)
            print(f"  {student}: graded in {time.perf_counter() - start:.1f} s")
        if graded:
            _print_table(grade_table(workspace, lab, graded))
    print(f"\nGradebook, autograded notebooks and feedback: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="execute the labs offline and autograde a demo cohort")
    run.add_argument("labs", nargs="*", help="labs to run (default: every finished lab)")
    run.add_argument("--out", default=".course_runs/demo", help="where the demo gradebook and feedback go")
    release = commands.add_parser("release", help="regenerate notebooks/ from solutions/")
    release.add_argument("labs", nargs="*")
    check = commands.add_parser("check", help="source gets full marks, blank release gets 0")
    check.add_argument("labs", nargs="*")
    autograde = commands.add_parser("autograde", help="autograde a folder of submissions")
    autograde.add_argument("submissions")
    autograde.add_argument("--lab", help="grade only this lab")
    autograde.add_argument("--out", default=".course_runs/autograde", help="output folder")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run"] + (argv or []))
    handlers = {"run": cmd_run, "release": cmd_release, "check": cmd_check, "autograde": cmd_autograde}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
