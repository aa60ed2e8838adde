"""Shared set-up: offline everywhere, and the slow things (notebook execution, nbgrader
runs) done once per session and shared by the tests that inspect them."""

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

from course_utils import pipeline  # noqa: E402
from course_utils.cli import DEMO_PLANS  # noqa: E402

matplotlib.use("Agg")

LAB1 = "lab1_lime_from_scratch"

# One wrong answer per exercise, from the catalogue, graded by real nbgrader.
WRONG_MIX = {
    "perturb_tokens": "with_replacement",
    "predict_proba": "no_eval_mode",
    "kernel_weights": "unsquared_distance",
    "weighted_mse": "broadcast_n_by_n",
    "fit_surrogate": "ignores_weights",
    "token_importance": "sums_duplicates",
    "top_k_overlap": "signed_top_k",
}
NOISY = ("    n = ids.numel()\n",
         "    n = ids.numel()\n    import warnings; warnings.warn('a harmless library warning', UserWarning)\n")


@dataclass
class Graded:
    workspace: pipeline.Workspace
    release: Path
    feedback: Path
    scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    wrong_mix: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def lab1_executed():
    """The Lab 1 solution notebook executed once: (notebook, seconds)."""
    return pipeline.execute_notebook(pipeline.lab_notebook(LAB1))


@pytest.fixture(scope="session")
def lab1_exercises():
    from harness import read_exercises

    return read_exercises(pipeline.lab_notebook(LAB1))


def _replace_answers(release, answers: dict[str, str]):
    student = nbformat.from_dict(release)
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("ex_") and grade_id[3:] in answers:
            cell.source = answers[grade_id[3:]].strip("\n")
    return student


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Lab 1 released and autograded by nbgrader for a small cohort of submissions."""
    import answers_lab1

    workspace = pipeline.Workspace(tmp_path_factory.mktemp("course"), [LAB1])
    release_path = workspace.release(LAB1)
    source = nbformat.read(pipeline.lab_notebook(LAB1), as_version=4)
    release = nbformat.read(release_path, as_version=4)
    wrong_mix = {name: answers_lab1.WRONG[name][label] for name, label in WRONG_MIX.items()}
    all_right = {name: "solution" for name in WRONG_MIX}
    cohort = {
        "reference": source,
        "blank": release,
        "partly_wrong": pipeline.fill_submission(source, release, DEMO_PLANS[LAB1]),
        "wrong_mix": _replace_answers(release, wrong_mix),
        "noisy": pipeline.fill_submission(
            source, release, {**{f"ex_{n}": v for n, v in all_right.items()}, "ex_perturb_tokens": NOISY}
        ),
    }
    result = Graded(workspace, release_path, feedback=Path(), wrong_mix=wrong_mix)
    for student, notebook in cohort.items():
        workspace.submit(LAB1, student, notebook)
        workspace.autograde(LAB1, student)
        result.scores[student] = {s.exercise: (s.score, s.max_score) for s in workspace.exercise_scores(LAB1, student)}
    result.feedback = workspace.feedback(LAB1, "partly_wrong")
    return result
