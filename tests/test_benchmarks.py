"""The benchmark script runs (small sizes) and reports what it promises: no timings are asserted here.

Speed targets are printed by `python -m benchmarks.run`, not tested: timings on a shared
machine are noise, and the figures belong in a report, not in a pass/fail.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import explainers, labs, run
from benchmarks.labs import BatchRate


def test_reference_solutions_are_executed_from_the_solution_notebooks():
    lab1 = explainers.solution_functions("lab1_lime_from_scratch")
    lab3 = explainers.solution_functions("lab3_ig_vs_lime")
    assert {"perturb_tokens", "predict_proba", "kernel_weights", "fit_surrogate"} <= set(lab1)
    assert "integrated_gradients" in lab3
    sequences, masks = lab1["perturb_tokens"]([5, 6, 7, 8, 9], 0, samples_per_size=3, seed=0)
    assert sequences.shape == masks.shape and masks.shape[1] == 5


def test_the_samples_per_size_search_reaches_n_rows_or_repeats_them():
    lab1 = explainers.solution_functions("lab1_lime_from_scratch")
    for length, n in [(30, 500), (10, 500), (10, 5000)]:
        per_size = explainers._samples_per_size(length, n)
        sequences, _ = lab1["perturb_tokens"](list(range(1, length + 1)), 0, samples_per_size=per_size, seed=0)
        rows = explainers._first_rows(sequences, n)
        assert rows.shape == (n, length)
        assert len(sequences) >= n or length == 10  # 10 tokens: only 847 masks with k <= 6 exist


def test_widened_gpt2_runs_past_its_positions():
    model, _ = explainers.load_classifier("gpt2-imdb", verbose=False)
    positions = model.config.n_positions
    wide = explainers.with_positions(model, positions + 64)
    with torch.inference_mode():
        logits = wide(torch.randint(100, 500, (2, positions + 10))).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    assert model.transformer.wpe.weight.shape[0] == positions  # the course's model is untouched


def test_quick_run_prints_the_tables_and_writes_the_figure(tmp_path, capsys):
    assert run.main(["--quick", "--only", "lime,ig", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "benchmarks.md").read_text()
    for method in ("floor: forward passes", "reference (Lab 1)", "lime LimeTextExplainer",
                   "captum Lime, perturbations_per_eval=64", "captum Lime, default (1 per forward)",
                   "reference (Lab 3)", "captum LayerIntegratedGradients", "torch threads"):
        assert method in report
    assert "reference LIME ≤ 1.3× its floor" in report
    assert (tmp_path / "benchmarks.png").stat().st_size > 10_000
    assert "## Targets" in capsys.readouterr().out


def test_each_labs_gradings_take_turns_and_the_fastest_of_each_counts(monkeypatch):
    seconds = {"execute": iter([10.0]), "autograde": iter([14.0, 12.0, 13.0]),
               "autograde-unsandboxed": iter([12.5, 11.0, 11.5]), "selfgrade": iter([31.0, 24.0, 26.0])}
    order = []
    monkeypatch.setattr(labs, "measure", lambda lab, what: order.append(what) or {"seconds": next(seconds[what]),
                                                                                    "peak_mb": 600.0})
    cost, = labs.lab_costs(["a"], repeats=3)
    assert order == ["execute"] + ["autograde", "autograde-unsandboxed", "selfgrade"] * 3
    assert (cost.autograde_seconds, cost.unsandboxed_seconds, cost.selfgrade_seconds) == (12.0, 11.0, 24.0)


def test_the_class_projection_counts_each_notebook_once_and_the_class_overhead_once():
    # Two workers graded 2 students x 2 labs (10 s and 20 s a notebook) in 40 s of wall time:
    # 60 s of grading shared by 2 workers is 30 s, so 10 s were the class's own overhead.
    rate = BatchRate(students=2, labs=2, jobs=2, seconds=40.0, graded={"a": [10.0, 10.0], "b": [20.0, 20.0]})
    assert rate.per_notebook == 7.5
    assert rate.fixed == 10.0
    assert rate.hours_for(100, labs=2) == (10.0 + 200 * 7.5) / 3600
    section = run.batch_section(rate)
    assert "| b | 20.0 | 20.0 | 20.0 |" in section and "7.5 s per notebook" in section
    assert f"{rate.hours_for(100):.2f} h" in section


def test_the_class_projection_leaves_each_workers_first_notebook_of_a_lab_to_the_fixed_part():
    # Each worker's first notebook of a lab also imports the lab's libraries (6 s more): a class of
    # any size pays that once per worker and lab, so the projection takes the later ones' mean.
    rate = BatchRate(students=2, labs=2, jobs=2, seconds=46.0, graded={"a": [16.0, 10.0], "b": [26.0, 20.0]},
                     warm={"a": [False, True], "b": [False, True]},
                     phases={"a": [{"notebook cells": 9.0}, {"notebook cells": 5.0}],
                             "b": [{"notebook cells": 15.0}, {"notebook cells": 11.0}]})
    assert rate.per_notebook == 7.5  # (10 + 20) / 2 labs / 2 workers
    assert rate.fixed == 46.0 - 4 * 7.5  # the firsts' 12 s more are in it
    assert rate.phase_means("a")["notebook cells"] == 5.0 and rate.cells_per_notebook == 4.0
    assert "| a | 13.0 | 10.0 | 16.0 |" in run.batch_section(rate), "the table of times shows every notebook"
    # Without the flags (or with no later notebook of a lab), every notebook counts.
    assert BatchRate(2, 2, 2, 46.0, graded=rate.graded).per_notebook == 9.0
    only_firsts = BatchRate(2, 2, 2, 46.0, graded=rate.graded, warm={"a": [False, False], "b": [False, True]})
    assert only_firsts.per_notebook == (13.0 + 20.0) / 2 / 2


def test_the_class_benchmark_shows_where_each_notebooks_grading_time_goes():
    # One notebook's record (course_admin.timing): nbgrader's autograde took 12 s, of which the
    # grading kernel's step 10 s (kernel 2, cells 6, tests 1, so 1 s of its own), the gradebook
    # steps 0.5 s, the other preprocessors 0.3 s and their validation 0.2 s; the feedback 1 s.
    found = {"kernel start": 2.0, "notebook cells": 6.0, "tests": 1.0, "lab set-up": 0.4, "autograde": 12.0,
             "feedback": 1.0, "nbgrader: CourseExecute": 10.0, "nbgrader: StrictAutoGrades": 0.3,
             "nbgrader: RecordGraded": 0.2, "nbgrader: ClearOutput": 0.1, "nbgrader: CleanOutputs": 0.2,
             "nbgrader: validation": 0.2}
    phases = labs.grading_phases(found)
    assert phases["grading kernel, other"] == pytest.approx(1.0) and phases["gradebook"] == pytest.approx(0.5)
    assert phases["nbgrader preprocessors"] == pytest.approx(0.3) and phases["nbgrader, other"] == pytest.approx(1.0)
    assert phases["grading"] == 13.0
    shown = [name for name in labs.PHASES if name not in ("lab set-up", "grading")]
    assert sum(phases[name] for name in shown) == pytest.approx(phases["grading"]), "the columns add up"
    rate = BatchRate(students=1, labs=1, jobs=2, seconds=20.0, graded={"a": [13.0]}, phases={"a": [found]},
                     executed={"a": 10.0})
    row = next(line for line in run.batch_section(rate).splitlines() if line.startswith("| a | 2.00"))
    assert row.endswith("| 10.0 | 1.30 | 2.17 |"), row  # 13 s against 10 s alone and against its 6 s of cells
    # Its 6 s of cells, shared by the 2 workers, are 3 s a notebook: 400 notebooks take at least 1,200 s.
    assert rate.cells_per_notebook == 3.0 and "cannot be graded in less than 0.33 h" in run.batch_section(rate)


def test_the_hub_node_compares_each_student_with_their_fair_share():
    from benchmarks.hub_node import Run, fair_share, table, verdict

    alone = Run(student=0, seconds=20.0, peak_mb=900, memory_kills=0, threads=1, error=None)
    together = [Run(number, seconds, 950, 0, 1, None) for number, seconds in enumerate([70.0, 90.0, 75.0, 60.0])]
    # 4 students on 2 cores, a core each at most: half a core each, so 20 s alone becomes a fair 40 s
    # (alone × N / cores); the slowest took 90 s, 2.25× it.
    assert fair_share(20.0, 4, cores=2, cpu_limit=1.0) == 40.0 == 20.0 * 4 / 2
    text = verdict(alone, together, cores=2, cpu_limit=1.0)
    assert text.startswith("- MISSED") and "worst 2.25×" in text
    assert "(40.0 s: 20.0 s alone on 1 core(s), 0.5 each at once)" in text
    assert "| 2 of 4 | 90.0 | 4.50 | 2.25 | 950 | 0 | 1 |" in table(alone, together, cores=2, cpu_limit=1.0)
    # Two students on 2 cores under a 1-core limit each keep their whole core: the fair share is the alone time.
    pair = [Run(0, 25.0, 900, 0, 1, None), Run(1, 30.0, 900, 0, 1, None)]
    assert verdict(alone, pair, cores=2, cpu_limit=1.0) == (
        "- holds: every student ≤ 2× their fair share (20.0 s: 20.0 s alone on 1 core(s), 1 each at once): worst "
        "1.50× at N = 2 on 2 cores (the target is stated at N = 2 × cores)")
    # Alone on both cores, 20 s is 40 core-seconds; 8 students at a quarter of a core each need 160 s.
    assert fair_share(20.0, 8, cores=2, cpu_limit=2.0) == 160.0
