"""The labs online, without the hub.

Each solution notebook runs as a student who solved every exercise runs it with internet: without
its hidden tests (they run only when grading, offline), in a kernel that takes the course's online
branch. ``load_classifier`` then loads the hub models through its real hub code from a local hub
cache (tiny random weights in the hub models' own architectures and file layouts, the real
tokenizers: ``benchmarks.hub_cache``), and ``load_reviews`` returns reviews of IMDB's length
(``benchmarks.realsize.long_reviews``). What a student online must never see: a crash, stderr, a
bug warning for a correct solution, a whole review printed.
"""

from __future__ import annotations

import pytest

from benchmarks.hub_cache import write_hub_cache
from benchmarks.realsize import execute_online, kernel_environment, printed_text
from course_admin import pipeline

LABS = pipeline.finished_labs()
LONGEST_LINE = 400  # characters: a shortened review (textwrap.shorten(..., 300)) and its label fit


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    """lab -> the executed notebook, run once per lab with the hub branch on the tiny cache."""
    hub = write_hub_cache(tmp_path_factory.mktemp("hf_home") / "hub")
    environment = kernel_environment(hub, tmp_path_factory.mktemp("ipython"))
    executed = {}

    def run(lab: str):
        if lab not in executed:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in environment.items():
                    patch.setenv(name, value)
                executed[lab] = execute_online(lab, timeout=900)[0]  # raises if a cell fails
        return executed[lab]

    return run


@pytest.mark.parametrize("lab", LABS)
def test_the_solution_runs_online_quietly(online, lab):
    notebook = online(lab)
    assert pipeline.stderr_outputs(notebook) == []


@pytest.mark.parametrize("lab", LABS)
def test_a_correct_solution_gets_no_bug_warning_online(online, lab):
    text = printed_text(online(lab))
    assert "bug" not in text.lower(), [line for line in text.splitlines() if "bug" in line.lower()]


@pytest.mark.parametrize("lab", LABS)
def test_long_texts_are_printed_shortened(online, lab):
    longest = max(printed_text(online(lab)).splitlines(), key=len)
    assert len(longest) <= LONGEST_LINE, longest[:200] + "…"


@pytest.mark.parametrize("lab", LABS)
def test_labs_pick_their_cpu_sizes_for_a_real_model_on_a_cpu(online, lab):
    text = printed_text(online(lab))
    if lab == "lab1_lime_from_scratch":  # one short review: the same sizes everywhere
        assert "Sizes for" not in text
    else:
        assert "Sizes for a real model on the CPU" in text
