"""choose_sizes: the embedded model always gets the graded sizes; a real model gets CPU sizes on a CPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from course_utils.models import ASSETS_DIR
from course_utils.workload import FULL_SIZE_ENV, choose_sizes, is_embedded

FULL = {"reviews": 20, "samples": 300}
CPU = {"reviews": 10, "samples": 150}


def _model(source: str) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(_name_or_path=source))


EMBEDDED = _model(str(ASSETS_DIR / "distilbert-imdb"))
HUB = _model("textattack/distilbert-base-uncased-imdb")


@pytest.fixture(autouse=True)
def _no_full_size_request(monkeypatch):
    monkeypatch.delenv(FULL_SIZE_ENV, raising=False)


def test_is_embedded_tells_the_miniatures_from_hub_models(tmp_path):
    assert is_embedded(EMBEDDED)
    assert not is_embedded(HUB)
    assert not is_embedded(_model(str(tmp_path)))  # a model of the student's own, from a folder
    assert not is_embedded(SimpleNamespace())  # not a transformers model at all


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0"])
def test_the_embedded_model_gets_the_full_sizes_on_any_device(device, capsys):
    assert choose_sizes(EMBEDDED, device, full=FULL, cpu=CPU, minutes={"embedded": 0.3}) == FULL
    printed = capsys.readouterr().out
    assert "embedded model" in printed and "reviews=20, samples=300" in printed and "0.3 min" in printed


def test_a_real_model_on_the_cpu_gets_the_cpu_sizes_and_is_told_how_to_ask_for_more(capsys):
    assert choose_sizes(HUB, "cpu", full=FULL, cpu=CPU, minutes={"cpu": 4}) == CPU
    printed = capsys.readouterr().out
    assert "reviews=10, samples=150" in printed and "about 4 min" in printed and "full_size=True" in printed


def test_a_real_model_on_a_gpu_gets_the_full_sizes():
    assert choose_sizes(HUB, "cuda:0", full=FULL, cpu=CPU, verbose=False) == FULL


def test_full_sizes_can_be_asked_for_by_argument_or_environment(monkeypatch):
    assert choose_sizes(HUB, "cpu", full=FULL, cpu=CPU, full_size=True, verbose=False) == FULL
    monkeypatch.setenv(FULL_SIZE_ENV, "1")
    assert choose_sizes(HUB, "cpu", full=FULL, cpu=CPU, verbose=False) == FULL
    assert choose_sizes(HUB, "cpu", full=FULL, cpu=CPU, full_size=False, verbose=False) == CPU


def test_the_result_is_a_copy():
    sizes = choose_sizes(EMBEDDED, "cpu", full=FULL, cpu=CPU, verbose=False)
    sizes["reviews"] = 1
    assert FULL["reviews"] == 20


@pytest.mark.parametrize("full, cpu", [({"a": 1}, {"b": 1}), ({"a": 0}, {"a": 1}), ({"a": 1.5}, {"a": 1}),
                                       ({"a": True}, {"a": 1})])
def test_inconsistent_or_invalid_sizes_are_refused(full, cpu):
    with pytest.raises(ValueError):
        choose_sizes(HUB, "cpu", full=full, cpu=cpu, verbose=False)
