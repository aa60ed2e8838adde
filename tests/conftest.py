"""Shared set-up: offline everywhere, every test in a tier, and the slow things (notebook
execution, nbgrader runs) done once per session and shared by the tests that inspect them."""

from __future__ import annotations

import os

# Before anything imports transformers / huggingface_hub: never wait for the hub.
os.environ["COURSE_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from course_admin import labformat, pipeline  # noqa: E402
from course_admin.cli import DEMO_PLANS  # noqa: E402

matplotlib.use("Agg")

LAB1 = "lab1_lime_from_scratch"
LAB2 = "lab2_attention_vs_lime"
LAB3 = "lab3_ig_vs_lime"
LAB4 = "lab4_faithfulness_stability"
LAB5 = "lab5_explaining_generation"

# One wrong answer per exercise, from each lab's catalogue, graded by real nbgrader.
WRONG_MIX = {
    LAB1: {
        "perturb_tokens": "with_replacement",
        "predict_proba": "no_eval_mode",
        "kernel_weights": "unsquared_distance",
        "weighted_mse": "broadcast_n_by_n",
        "fit_surrogate": "ignores_weights",
        "token_importance": "sums_duplicates",
        "top_k_overlap": "signed_top_k",
    },
    LAB2: {
        "make_predict_proba": "no_attention_mask",
        "sample_accuracy": "legacy_np_random_seed",
        "cls_attention": "column_not_row",
        "top_k_tokens": "forgets_pad",
        "attention_submatrix": "sorts_indices",
        "rank_agreement": "spearman",
    },
    LAB3: {
        "summarize_attributions": "l2_without_sqrt",
        "input_x_gradient": "logit_not_probability",
        "integrated_gradients": "zero_baseline",
        "word_feature_mask": "distinct_words",
        "group_subwords": "averages_pieces",
    },
    LAB4: {
        "mask_top_k": "by_absolute_score",
        "comprehensiveness": "is_sufficiency",
        "sufficiency": "masks_specials",
        "performance_drop": "accuracy",
        "stability": "edited_class",
        "rationale_agreement": "roc_auc",
    },
    LAB5: {
        "continuation_logprob": "off_by_one_own_position",
        "occlusion_attribution": "reversed_sign",
        "grad_x_input": "gradient_only",
        "integrated_gradients": "times_x_not_difference",
        "contrastive_attribution": "explains_a_alone",
        "generation_attribution": "second_best_token",
        "deletion_curve": "lowest_first",
    },
}
CATALOGUES = {LAB1: "answers_lab1", LAB2: "answers_lab2", LAB3: "answers_lab3", LAB4: "answers_lab4",
              LAB5: "answers_lab5"}
NOISY = ("    n = ids.numel()\n",
         "    n = ids.numel()\n    import warnings; warnings.warn('a harmless library warning', UserWarning)\n")


# ---------------------------------------------------------------- tiers
# Each test file's tier (the markers registered in pyproject.toml): `pytest -m unit` runs the
# fast ones. A file missing here fails collection, so a new file chooses its tier.
TIERS = {
    "tests/test_answers.py": "notebook",  # runs each lab's set-up and tests in-process on the catalogues
    "tests/test_attacks.py": "e2e",
    "tests/test_autograde.py": "unit",
    "tests/test_benchmarks.py": "unit",
    "tests/test_cli.py": "e2e",
    "tests/test_climate.py": "unit",
    "tests/test_cluster.py": "e2e",
    "tests/test_colab.py": "unit",
    "tests/test_collect.py": "e2e",
    "tests/test_continuations.py": "unit",
    "tests/test_course_admin.py": "unit",
    "tests/test_course_utils.py": "unit",
    "tests/test_data.py": "unit",
    "tests/test_exchange.py": "e2e",
    "tests/test_feedback.py": "unit",
    "tests/test_execute_units.py": "unit",
    "tests/test_export.py": "unit",
    "tests/test_fault_suite.py": "e2e",
    "tests/test_hub_accounts.py": "e2e",
    "tests/test_hub_limits.py": "e2e",  # local accounts, stand-in servers in real cgroups
    "tests/test_hub_path.py": "unit",
    "tests/test_hub_units.py": "unit",
    "tests/test_kernel_threads.py": "e2e",  # nbgrader runs, sandboxed kernels, cgroups, `course autograde`
    "tests/test_kernel_package.py": "unit",
    "tests/test_labformat.py": "unit",
    "tests/test_language_model.py": "unit",
    "tests/test_models.py": "unit",
    "tests/test_nbgrader_pipeline.py": "e2e",
    "tests/test_neutralise.py": "unit",
    "tests/test_notebooks.py": "notebook",
    "tests/test_online_notebooks.py": "notebook",
    "tests/test_postgres.py": "e2e",
    "tests/test_remote_calls.py": "unit",
    "tests/test_reviews.py": "unit",
    "tests/test_sandbox.py": "e2e",
    "tests/test_scan_guard.py": "unit",
    "tests/test_threads.py": "unit",
    "tests/test_self_study.py": "e2e",
    "tests/test_user_data.py": "e2e",
    "tests/test_warm_kernels.py": "e2e",  # starts sandboxed kernels ahead and ends them
    "tests/test_workload.py": "unit",
    "tests_browser/test_hub.py": "e2e",
}
# A test that uses one of these shared fixtures is in its tier at least, whatever its file's.
FIXTURE_TIERS = {"executed": "notebook", "lab1_executed": "notebook", "cohorts": "e2e", "graded": "e2e",
                 "postgres": "e2e"}
ORDER = ("unit", "notebook", "e2e")


def tier(item: pytest.Item, root: Path) -> str:
    """The tier of one collected test: the heavier of its file's and its fixtures'."""
    path = item.path.relative_to(root).as_posix()
    if path not in TIERS:
        raise pytest.UsageError(f"{path} has no tier: add it to TIERS in tests/conftest.py "
                                f"(unit: no lab code run; notebook: runs the labs' code; e2e: nbgrader, sandboxes, servers)")
    tiers = [TIERS[path]]
    tiers += [FIXTURE_TIERS[name] for name in item.fixturenames if name in FIXTURE_TIERS]
    return max(tiers, key=ORDER.index)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every collected test (tests_browser's too) with its tier."""
    for item in items:
        item.add_marker(getattr(pytest.mark, tier(item, config.rootpath)))


# ---------------------------------------------------------------- shared runs
@dataclass
class Graded:
    workspace: pipeline.Workspace
    release: Path
    feedback: Path
    scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    wrong_mix: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def executed():
    """lab -> (its solution notebook executed once, seconds taken)."""
    cache: dict[str, tuple] = {}

    def get(lab: str) -> tuple:
        if lab not in cache:
            cache[lab] = pipeline.execute_notebook(pipeline.lab_notebook(lab))
        return cache[lab]

    return get


@pytest.fixture(scope="session")
def lab1_executed(executed):
    return executed(LAB1)


def _replace_answers(release, answers: dict[str, str]):
    student = nbformat.from_dict(release)
    for cell in student.cells:
        name = labformat.exercise_name(labformat.grade_id(cell))
        if name in answers:
            cell.source = answers[name].strip("\n")
    return student


def _grade_cohort(path: Path, lab: str) -> Graded:
    """`lab` released and autograded by nbgrader for a small cohort of submissions."""
    import importlib

    from answer_edits import written_out
    from harness import read_exercises

    catalogue = importlib.import_module(CATALOGUES[lab])
    workspace = pipeline.Workspace(pipeline.scratch_course(path, [lab]), [lab])
    release_path = workspace.release(lab)
    source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
    release = nbformat.read(release_path, as_version=4)
    _, exercises = read_exercises(pipeline.lab_notebook(lab))  # a wrong answer may be an edit of the reference
    wrong_mix = {name: written_out(catalogue.WRONG[name][label], exercises[name].solution,
                                   f"{CATALOGUES[lab]}.WRONG[{name!r}][{label!r}]")
                 for name, label in WRONG_MIX[lab].items()}
    cohort = {
        "reference": source,
        "blank": release,
        "partly_wrong": pipeline.fill_submission(source, release, DEMO_PLANS[lab]),
        "wrong_mix": _replace_answers(release, wrong_mix),
    }
    if lab == LAB1:  # a correct student whose function writes a warning to stderr
        all_right = {labformat.exercise_id(name): "solution" for name in WRONG_MIX[lab]}
        noisy = {**all_right, labformat.exercise_id("perturb_tokens"): NOISY}
        cohort["noisy"] = pipeline.fill_submission(source, release, noisy)
    result = Graded(workspace, release_path, feedback=Path(), wrong_mix=wrong_mix)
    for student, notebook in cohort.items():
        workspace.submit(lab, student, notebook)
    autograde_in_parallel(workspace.path, lab, list(cohort))
    for student in cohort:
        result.scores[student] = {s.exercise: (s.score, s.max_score) for s in workspace.exercise_scores(lab, student)}
    result.feedback = workspace.feedback(lab, "partly_wrong")
    return result


COHORT_JOBS = 2  # the machine's cores: a cohort's notebooks are graded two at a time


def autograde_in_parallel(course: Path, lab: str, students: list[str]) -> None:
    """nbgrader's autograde (``Workspace.autograde``) of each submitted notebook, COHORT_JOBS at a time, each in a
    process of its own whose kernels take their share of the cores, as ``course autograde --jobs`` shares them."""
    import concurrent.futures
    import multiprocessing

    from harness import autograde_one

    with concurrent.futures.ProcessPoolExecutor(COHORT_JOBS, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(autograde_one, str(course), lab, student, COHORT_JOBS) for student in students]:
            done.result()  # a grading that failed raises here, as it did in the test process


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory):
    """lab -> Graded, each lab graded once, on first use."""
    cache: dict[str, Graded] = {}

    def get(lab: str) -> Graded:
        if lab not in cache:
            cache[lab] = _grade_cohort(tmp_path_factory.mktemp(lab), lab)
        return cache[lab]

    return get


@pytest.fixture(scope="session")
def graded(cohorts):
    return cohorts(LAB1)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/postgres_server.py); each test takes a
    fresh database with ``postgres.new_database()``. Missing server or driver: the test fails
    saying what to install (CI installs both), it is never skipped."""
    from tests import postgres_server

    missing = postgres_server.available()
    if missing:
        pytest.fail(missing)
    server = postgres_server.start()
    yield server
    postgres_server.stop(server)
