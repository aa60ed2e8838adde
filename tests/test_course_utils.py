"""Units of the helper package the labs import: text, plots, grading helpers; packaging."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from course_utils import grading, plots, text

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- text
def test_clean_token_strips_gpt2_and_wordpiece_markers():
    assert text.clean_token("Ġgreat") == "great"
    assert text.clean_token("##ing") == "ing"
    assert text.clean_token("##") == "##"  # a literal '##' token stays visible
    assert text.readable_tokens(["The", "Ġplot", "Ġplot"]) == ["The", "plot", "plot"]


def test_split_words_groups_wordpieces():
    tokens = ["[CLS]", "the", "un", "##watch", "##able", "plot", "me", "##sm", "[SEP]"]
    assert text.split_words(tokens) == [["un", "##watch", "##able"], ["me", "##sm"]]
    assert text.split_words(["the", "good", "plot"]) == []
    assert text.split_words(["##", "a"]) == []  # '##' alone is a token of its own, not a continuation


def test_clean_token_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        text.clean_token(5)


# ---------------------------------------------------------------- plots
def test_plots_return_figures():
    explanation = [("great", 0.9), ("dull", -0.4), ("plot", 0.1)]
    fig = plots.plot_token_importance(explanation, title="t")
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["great", "dull", "plot"]  # first word on top after invert_yaxis
    assert isinstance(plots.plot_token_importance(dict(explanation)), Figure)
    _, panels = plt.subplots(1, 2, sharey=True)  # shared axes: both panels keep the first word on top
    for ax in panels:
        plots.plot_token_importance(explanation, ax=ax)
    assert all(ax.get_ylim()[0] > ax.get_ylim()[1] for ax in panels)
    fig2 = plots.plot_weights_by_parameter({0.1: explanation, 1.0: dict(explanation)})
    assert len(fig2.axes[0].lines) >= 3
    assert isinstance(plots.plot_curve([1, 2], [0.5, 1.0], "x", "y", "t", log_x=True), Figure)
    two = plots.plot_curve([1, 2], {"ours": [0.5, 1.0], "captum": [0.4, 0.9]}, "x", "y", "t", log_y=True)
    assert [line.get_label() for line in two.axes[0].lines] == ["ours", "captum"]
    assert two.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match="captum"):
        plots.plot_curve([1, 2], {"captum": [0.4]}, "x", "y", "t")
    plt.close("all")


def test_attention_bars_are_neutral_and_say_so():
    fig = plots.plot_attention_bars([("good", 0.3), ("[CLS]", 0.1), ("plot", 0.05)], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["good", "[CLS]", "plot"]
    colours = {tuple(bar.get_facecolor()) for bar in ax.patches}
    assert len(colours) == 1 and colours != {tuple(to_rgba(plots.POSITIVE_COLOUR))}
    assert "no sign" in ax.get_legend().get_texts()[0].get_text() and "no sign" in ax.get_xlabel()
    with pytest.raises(ValueError, match="never negative"):
        plots.plot_attention_bars({"good": 0.3, "bad": -0.1})
    with pytest.raises(ValueError, match="empty"):
        plots.plot_attention_bars([])
    plt.close("all")


def test_visualize_text_escaped_escapes_tokens_and_labels(capsys):
    from captum.attr import visualization

    record = visualization.VisualizationDataRecord(
        torch.tensor([0.5, -0.2]), 0.9, "pro", "<b>odd label</b>", "pro", 0.3, ["<script>alert(1)</script>", "ok"], 1
    )
    page = plots.visualize_text_escaped([record]).data
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>odd" not in page and "&lt;b&gt;odd label" in page
    assert record.raw_input_ids[0] == "<script>alert(1)</script>"  # the caller's record is untouched
    with pytest.raises(TypeError, match="VisualizationDataRecord"):
        plots.visualize_text_escaped([("a", 1.0)])


def test_plots_reject_empty_input():
    with pytest.raises(ValueError, match="empty"):
        plots.plot_token_importance([])
    with pytest.raises(ValueError):
        plots.plot_weights_by_parameter({})
    with pytest.raises(ValueError, match="words"):
        plots.highlight_html(["a", "b"], [1.0])


def test_highlight_html_escapes_text():
    html = plots.highlight_html(["<script>alert(1)</script>", "ok"], [0.5, -0.2]).data
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<span title=") == 2


# ---------------------------------------------------------------- grading helpers
def test_seed_everything_fixes_torch_numpy_and_random():
    import random

    grading.seed_everything(3)
    first = (torch.rand(2), np.random.rand(2), random.random())
    assert grading.seed_everything(3) == 3
    second = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]
    with pytest.raises(TypeError):
        grading.seed_everything("3")


def test_expect_helpers_explain_failures():
    grading.expect(True, "never shown")
    with pytest.raises(AssertionError, match="rows must sum"):
        grading.expect(False, "rows must sum to 1")
    with pytest.raises(AssertionError, match=r"shape \(3,\), got \(3, 1\)"):
        grading.expect_tensor(torch.zeros(3, 1), "weights", shape=(3,))
    with pytest.raises(AssertionError, match="torch.from_numpy"):
        grading.expect_tensor(np.zeros(3), "weights")
    with pytest.raises(AssertionError, match="dtype"):
        grading.expect_tensor(torch.zeros(3), "masks", dtype=torch.long)
    assert grading.close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    assert not grading.close(torch.zeros(2), torch.zeros(3))


def test_grading_helpers_survive_monkeypatched_libraries(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    assert not grading.close([0.0], [1.0])


def test_recording_classifier_records_calls_and_mode():
    model = grading.RecordingClassifier(num_labels=3)
    assert model.training
    ids = torch.randint(0, 1000, (4, 5))
    logits = model(ids).logits
    assert logits.shape == (4, 3) and model(input_ids=ids)[0].shape == (4, 3)
    assert [c["batch_size"] for c in model.calls] == [4, 4] and model.calls[0]["training"]
    reference = model.reference_logits(ids)
    assert len(model.calls) == 2 and model.training  # no call recorded, mode restored
    model.eval()
    assert torch.allclose(model(ids).logits, reference)
    assert not torch.allclose(model(ids.flip(1)).logits, reference)  # order matters


def test_recording_wrapper_records_gradients_embeddings_and_generate():
    from course_utils.models import load_language_model

    net, _ = load_language_model("gpt2", offline=True, device="cpu", verbose=False)
    wrapper = grading.RecordingWrapper(net)
    ids = torch.tensor([[464, 8251, 284], [464, 8251, 318]])
    with torch.no_grad():
        wrapper(input_ids=ids)
    assert wrapper.get_input_embeddings() is net.get_input_embeddings()
    wrapper(inputs_embeds=wrapper.get_input_embeddings()(ids[:1]))
    out = wrapper.generate(input_ids=ids[:1], max_new_tokens=2, do_sample=False)
    assert out.shape == (1, 5)
    assert [(c["batch_size"], c["grad_enabled"]) for c in wrapper.calls] == [(2, False), (1, True), (1, True)]
    assert not any(c["training"] or c["attention_mask"] for c in wrapper.calls)


# ---------------------------------------------------------------- packaging
def _pins_from_pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, extras = data["project"], data["project"]["optional-dependencies"]
    specs = list(project["dependencies"])
    for spec in extras["test"]:  # "explaining-nlp-models[a,b]" stands for the extras a and b
        own = re.fullmatch(re.escape(project["name"]) + r"\[(.+)\]", spec)
        specs += [s for name in own.group(1).split(",") for s in extras[name]] if own else [spec]
    return dict(spec.split("==") for spec in specs)


def test_environment_yml_has_the_same_pins_as_pyproject():
    yml = (ROOT / "environment.yml").read_text()
    pins = dict(re.findall(r"^\s+- ([A-Za-z0-9_.\[\]-]+)==([^\s]+)\s*$", yml, re.M))
    assert pins == _pins_from_pyproject()
    assert "python=3.11" in yml


def test_every_dependency_is_pinned_and_torch_is_the_cpu_wheel():
    pins = _pins_from_pyproject()
    assert pins["torch"] == "2.13.0"
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in pins.values())


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.+?)\n```", readme, re.S)[:2]
    assert commands[0].endswith("course run") and "pip install -e ." in commands[0]
    assert commands[1].endswith("-m pytest") and '".[test]"' in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_scores_by_whitespace_word_sums_pieces_per_word():
    post = "The  greenhouse effect is a myth."
    # [CLS] the green ##house effect is a myth . [SEP]
    offsets = [(0, 0), (0, 3), (5, 10), (10, 15), (16, 22), (23, 25), (26, 27), (28, 32), (32, 33), (0, 0)]
    scores = [9.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 9.0]
    scores_by_whitespace_word = text.scores_by_whitespace_word
    assert np.allclose(scores_by_whitespace_word(post, offsets, scores), [0.1, 0.5, 0.4, 0.5, 0.6, 1.5])
    assert scores_by_whitespace_word("a b", [(0, 0), (0, 1), (0, 0)], [1.0, 2.0, 3.0]) == [2.0, 0.0]
    with pytest.raises(ValueError, match="offsets"):
        scores_by_whitespace_word("a", [(0, 1)], [1.0, 2.0])


def test_scores_by_word_sums_pieces_and_averages_repeated_words():
    review = "great, not great"
    # [CLS] gr ##eat , not great [SEP]
    offsets = [(0, 0), (0, 2), (2, 5), (5, 6), (7, 10), (11, 16), (0, 0)]
    scores = [9.0, 0.25, 0.5, 0.3, -0.2, 0.25, 9.0]
    assert text.scores_by_word(review, offsets, scores) == {"great": 0.5, "not": -0.2}  # (0.75 + 0.25) / 2
    with pytest.raises(ValueError, match="offsets"):
        text.scores_by_word("a", [(0, 1)], [1.0, 2.0])


def _loss(pred, target, weights):
    errors = target.reshape(-1) - pred.reshape(-1)
    return (weights * errors ** 2).sum() / errors.numel()


def _loss_cases():
    pred, target, weights = torch.rand(3, 6, generator=torch.Generator().manual_seed(1))
    return [(p.clone().requires_grad_(), t, weights) for p in (pred, pred[:, None]) for t in (target, target[:, None])]


def test_same_function_accepts_the_same_values_and_gradients_written_otherwise():
    def column_form(pred, target, weights):
        return (weights[:, None] * (target.reshape(-1, 1) - pred.reshape(-1, 1)).pow(2)).mean()

    assert grading.same_function(column_form, _loss, _loss_cases())


@pytest.mark.parametrize("wrong", [
    lambda p, t, w: ((t.reshape(-1) - p.reshape(-1)) ** 2).mean(),  # unweighted
    lambda p, t, w: (w * (t - p) ** 2).sum() / len(w),  # [N, 1] - [N] broadcast to [N, N]
    lambda p, t, w: _loss(p.detach(), t, w),  # the right value, no gradient
    lambda p, t, w: _loss(p.detach() * 1.0, t, w) + 0 * p.sum(),  # the right value, a zero gradient
    lambda p, t, w: 1 / 0,  # raises
    None,  # no such function
])
def test_same_function_refuses_other_values_gradients_or_errors(wrong):
    assert not grading.same_function(wrong, _loss, _loss_cases())


def test_same_function_wants_a_tensor_where_the_reference_returns_one():
    def drops(scores):
        return scores[-1] - scores[:-1]

    cases = [(torch.tensor([0.5, -1.0, 2.0]),)]
    assert grading.same_function(lambda s: s[-1] - s[:-1], drops, cases)
    assert not grading.same_function(lambda s: (s[-1] - s[:-1]).tolist(), drops, cases)  # a list: `a - b` fails later
    assert not grading.same_function(lambda s: (s[-1] - s[:-1]).numpy(), drops, cases)
    assert not grading.same_function(drops, lambda s: (s[-1] - s[:-1]).tolist(), cases)


def test_on_its_own_keeps_an_agreeing_function_and_stands_in_for_another():
    def agreeing(pred, target, weights):
        return _loss(pred, target, weights)

    def unweighted(pred, target, weights):
        return ((target.reshape(-1) - pred.reshape(-1)) ** 2).mean()

    for student, inside in [(agreeing, agreeing), (unweighted, _loss)]:
        namespace = {"weighted_mse": student}
        with grading.on_its_own(namespace, "weighted_mse", _loss, _loss_cases()):
            assert namespace["weighted_mse"] is inside
        assert namespace["weighted_mse"] is student
    namespace = {}
    with pytest.raises(KeyError), grading.on_its_own(namespace, "weighted_mse", _loss, _loss_cases()):
        assert namespace["weighted_mse"] is _loss
        raise KeyError("a failing test")
    assert namespace == {}  # a name the student never defined is not left behind


def test_generation_attribution_heatmap_greys_what_is_not_yet_context():
    matrix = np.array([[0.5, -1.0, 0.0, 9.0], [0.2, 0.1, -0.3, 0.4]])  # 3 prompt tokens, 2 generated; 9: not yet context
    fig = plots.plot_generation_attribution(matrix, ["a", "b", "c", "x"], ["x", "y"])
    image = fig.axes[0].images[0]
    shown = image.get_array()
    assert shown.mask.tolist() == [[False, False, False, True], [False, False, False, False]]
    assert image.norm.vmin == -1.0 and image.norm.vmax == 1.0  # symmetric, and the grey 9 does not set the scale
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["x", "y"]
    with pytest.raises(ValueError, match="generated x context"):
        plots.plot_generation_attribution(matrix, ["a", "b", "c"], ["x", "y"])
    plt.close("all")
