"""load_classifier's hub branch, tested without the hub.

A module fixture writes a Hugging Face hub cache in a temporary folder, laid out as
huggingface_hub lays out its own (``models--<org>--<name>/{blobs,refs/main,snapshots/<commit>}``),
with the files the course's hub repos hold:

* the three fine-tunes (revision "main"): config.json and weights, as ``pytorch_model.bin`` for
  textattack's 2020 DistilBERT, which also carries its own tokenizer as a lone ``vocab.txt``
  with a minimal tokenizer_config.json; ``model.safetensors`` for the other two;
* the separate tokenizer repos at the commits ``ModelSpec`` pins: openai-community/gpt2 (GPT-2's
  BPE) and bert-base-uncased (WordPiece). Their ``refs/main`` has moved on to a commit that is
  not in the cache, so only a loader that asks for the pinned revision finds them.

The weights are random and tiny, in the hub models' own architecture classes; the tokenizer files
are the real ones (``course_utils/assets/tokenizers``). Each test points huggingface_hub at that
cache (with HF_HUB_OFFLINE=1 the hub client serves it without a network) and makes the course's
network probe say "online", so ``load_classifier`` takes its real hub branch. Every request the
hub client still makes goes to a transport that records it and fails it, as a dead network would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx2
import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import _http as hub_http
from transformers import GPT2LMHeadModel

from benchmarks.hub_cache import (
    ARCHITECTURE,
    HUB_CONFIGS,
    LEGACY_TOKENIZER_CONFIGS,
    MOVED_ON,
    POSITIONS,
    TINY_GPT2_BASE,
    add_model_repo,
    repo_folder,
    write_hub_cache,
)
from course_utils import models
from course_utils.models import LANGUAGE_MODELS, MODELS, load_classifier, load_language_model, probability_function

ROOT = Path(__file__).resolve().parents[1]

LONG_REVIEW = ("This film was a long and winding experience, never dull but rarely great. " * 120).strip()


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """The course's three hub models and the two tokenizer repos, cached as the hub client does."""
    return write_hub_cache(tmp_path_factory.mktemp("hf_home") / "hub")


class _DeadNetwork:
    """A transport for huggingface_hub's HTTP client: records each request, then fails it."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.error: type[httpx2.TransportError] = httpx2.ConnectError

    def __call__(self, request):
        self.urls.append(str(request.url))
        raise self.error("the network went away", request=request)


@pytest.fixture
def network(monkeypatch):
    """Every request huggingface_hub makes in the test: recorded, and failed as on a dead network."""
    dead = _DeadNetwork()
    original = hub_http._GLOBAL_CLIENT_FACTORY
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(dead)))
    # Its retries, without their waits (1 + 2 + 4 + 8 + 8 s): a module of its own whose
    # sleep returns at once, so time.sleep stays as it is for everything else.
    monkeypatch.setattr(hub_http, "time", SimpleNamespace(sleep=lambda seconds: None, time=time.time))
    yield dead
    huggingface_hub.set_client_factory(original)


def _use_cache(monkeypatch, cache: Path, *, hub_offline: bool = True) -> None:
    """huggingface_hub reads ``cache``; the course's probe says the hub answers."""
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HOME", str(cache.parent))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))  # read at import time: set both
    if hub_offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_offline)
    for var in ("COURSE_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(models, "is_offline", lambda timeout=2.0: False)  # the probe reached huggingface.co


@pytest.fixture
def online(monkeypatch, hub_cache, network):
    """load_classifier takes the hub branch, served from the fake cache; no request succeeds."""
    _use_cache(monkeypatch, hub_cache)
    return network


def _hub_line(name: str) -> str:
    spec = MODELS[name]
    return f"Loaded {name}: {spec.hub_id}@{spec.revision} from the Hugging Face hub\n"


def _embedded_line(name: str, reason: str) -> str:
    spec = MODELS[name]
    return f"Loaded {name}: {spec.embedded_description} ({reason}) from course_utils/assets/{name}\n"


def _load(name: str):
    return load_classifier(name, device="cpu", verbose=False)


def _probabilities(model, input_ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.tensor([input_ids])).logits, dim=-1)[0].numpy()


# --------------------------------------------------------------------------------------
# The hub branch
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_hub_branch_loads_the_hub_model(name, online, capsys):
    spec = MODELS[name]
    model, tokenizer = load_classifier(name, device="cpu")
    assert capsys.readouterr().out == _hub_line(name)
    assert type(model) is ARCHITECTURE[name]
    labelling = ("architectures", "id2label", "label2id")
    written = {key: value for key, value in HUB_CONFIGS[name].items() if key not in labelling}
    assert {key: model.config.to_dict().get(key) for key in written} == written, "not the hub repo's model"
    assert model.config.id2label == dict(enumerate(spec.labels))  # LABEL_0... renamed
    assert model.config.label2id == {label: i for i, label in enumerate(spec.labels)}
    assert not model.training and model.config._attn_implementation == "eager"
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert tokenizer.pad_token_id is not None and model.config.pad_token_id == tokenizer.pad_token_id
    assert online.urls == [], "HF_HUB_OFFLINE=1: everything must come from the cache"


def test_gpt2_reads_text_with_gpt2s_own_bpe(online):
    _, tokenizer = _load("gpt2-imdb")
    assert tokenizer("Hello, my dog is cute")["input_ids"] == [15496, 11, 616, 3290, 318, 13779]
    assert tokenizer.convert_ids_to_tokens(tokenizer(" wonderful film")["input_ids"]) == ["Ġwonderful", "Ġfilm"]
    assert len(tokenizer) == 50257 and tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
    assert tokenizer.model_max_length == 1024  # openai-community/gpt2's, not the embedded model's 128


@pytest.mark.parametrize("name", ["distilbert-imdb", "bert-climate"])
def test_bert_models_read_text_with_bert_base_uncased_wordpiece(name, online):
    _, tokenizer = _load(name)
    encoded = tokenizer("The Embeddings")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(encoded) == ["[CLS]", "the", "em", "##bed", "##ding", "##s", "[SEP]"]
    assert encoded[:2] == [101, 1996] and encoded[-1] == 102
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id) == (0, 100, 103)
    assert len(tokenizer) == 30522 and tokenizer.model_max_length == 512


def test_gpt2_pads_batches_without_changing_predictions(online):
    model, tokenizer = _load("gpt2-imdb")
    assert tokenizer.pad_token == "<|endoftext|>" and model.config.pad_token_id == 50256
    texts = ["A fine film.", "The plot was dull and the acting was worse, but the music was lovely.", "Bad."]
    predict = probability_function(model, tokenizer, batch_size=3)
    together = predict(texts)  # one padded batch
    alone = np.vstack([_probabilities(model, tokenizer(text)["input_ids"]) for text in texts])
    assert np.ptp(alone[:, 1]) > 0.01, "the test model should tell these texts apart"
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_hub_branch_loads_gpt2_as_a_language_model(online, capsys):
    """Lab 5 online: GPT-2's base repo at the pinned commit (the one its tokenizer comes from),
    through the real hub code; a prompt's next-token distribution is one over the whole vocabulary."""
    spec = LANGUAGE_MODELS["gpt2"]
    model, tokenizer = load_language_model("gpt2", device="cpu")
    assert capsys.readouterr().out == f"Loaded gpt2: {spec.hub_id}@{spec.revision} from the Hugging Face hub\n"
    assert type(model) is GPT2LMHeadModel and model.config.n_embd == TINY_GPT2_BASE["n_embd"], "not the cached repo"
    assert not model.training and model.config._attn_implementation == "eager"
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr(), "GPT-2 ties its output layer"
    assert tokenizer.pad_token_id == model.config.pad_token_id == 50256 and len(tokenizer) == 50257
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer("The keys to the cabinet")["input_ids"]])).logits
    assert logits.shape[-1] == 50257 and torch.softmax(logits[0, -1], dim=-1).max() < 0.5
    assert online.urls == [], "HF_HUB_OFFLINE=1: everything must come from the cache"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_long_review_is_cut_to_the_models_limit(name, online):
    """What the labs run on a review longer than the model's positions: the text-classification
    pipeline (``probability_function``: Labs 3, 4) and ``tokenizer(text, truncation=True)``
    (Lab 2's attention, Lab 4's word scores)."""
    model, tokenizer = _load(name)
    limit = POSITIONS[name]
    assert len(tokenizer(LONG_REVIEW)["input_ids"]) > limit
    cut = tokenizer(LONG_REVIEW, truncation=True)["input_ids"]
    assert len(cut) == limit
    probabilities = probability_function(model, tokenizer, batch_size=2)([LONG_REVIEW, "Short and sweet."])
    np.testing.assert_allclose(probabilities[0], _probabilities(model, cut), atol=1e-5)


@pytest.mark.parametrize("legacy", sorted(LEGACY_TOKENIZER_CONFIGS))
def test_a_tokenizer_config_without_model_max_length_still_truncates(legacy, monkeypatch, tmp_path, network):
    """textattack's repo is not pinned: if its tokenizer_config.json said no model_max_length,
    ``truncation=True`` must still stop at the model's 512 positions."""
    cache = tmp_path / "hub"
    add_model_repo(cache, "distilbert-imdb", textattack_tokenizer_config=LEGACY_TOKENIZER_CONFIGS[legacy])
    _use_cache(monkeypatch, cache)
    model, tokenizer = _load("distilbert-imdb")
    assert tokenizer.model_max_length == 512
    cut = tokenizer(LONG_REVIEW, truncation=True)["input_ids"]
    assert len(cut) == 512
    probabilities = probability_function(model, tokenizer)([LONG_REVIEW])
    np.testing.assert_allclose(probabilities[0], _probabilities(model, cut), atol=1e-5)


# --------------------------------------------------------------------------------------
# When the hub fails: the embedded model, one line saying why, no traceback
# --------------------------------------------------------------------------------------
def _assert_embedded(name: str, model, tokenizer) -> None:
    embedded, _ = load_classifier(name, offline=True, device="cpu", verbose=False)
    assert type(model) is ARCHITECTURE[name]
    assert model.config.to_dict() == embedded.config.to_dict()
    assert tokenizer.model_max_length == embedded.config.to_dict().get("n_positions", 512)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_model_missing_from_the_cache_falls_back(name, monkeypatch, tmp_path, network, capsys):
    _use_cache(monkeypatch, tmp_path / "hub")  # HF_HUB_OFFLINE=1 and nothing cached
    model, tokenizer = load_classifier(name, device="cpu")
    assert capsys.readouterr().out == _embedded_line(name, "hub failed: OSError")
    _assert_embedded(name, model, tokenizer)
    assert network.urls == []


@pytest.mark.parametrize("name", ["gpt2-imdb", "bert-climate"])
def test_the_tokenizer_comes_from_its_pinned_commit(name, monkeypatch, hub_cache, tmp_path, network, capsys):
    """The cache holds the tokenizer repo at its main branch only: a loader that ignores the
    pinned revision would load it; the course's must not, and falls back."""
    cache = tmp_path / "hub"
    shutil.copytree(hub_cache, cache, symlinks=True)
    spec = MODELS[name]
    snapshots = repo_folder(cache, spec.tokenizer_id) / "snapshots"
    (snapshots / spec.tokenizer_revision).rename(snapshots / MOVED_ON)  # refs/main -> MOVED_ON
    _use_cache(monkeypatch, cache)
    model, tokenizer = load_classifier(name, device="cpu")
    assert capsys.readouterr().out == _embedded_line(name, "hub failed: OSError")
    _assert_embedded(name, model, tokenizer)


@pytest.mark.parametrize("cached", [False, True], ids=["empty cache", "cached earlier"])
@pytest.mark.parametrize("error", [httpx2.ConnectError, httpx2.ReadTimeout])
def test_a_network_failing_after_the_probe_falls_back(error, cached, monkeypatch, hub_cache, tmp_path, network,
                                                      capsys):
    """huggingface.co accepted the probe's connection, then every request fails: the real hub
    client runs (with its retries) and load_classifier still ends on the embedded model."""
    network.error = error
    cache = tmp_path / "hub"
    if cached:  # a class that ran online yesterday has the files in its cache
        shutil.copytree(hub_cache, cache, symlinks=True)
    _use_cache(monkeypatch, cache, hub_offline=False)
    model, tokenizer = load_classifier("bert-climate", device="cpu")
    out = capsys.readouterr().out
    assert network.urls and all(url.startswith("https://huggingface.co/") for url in network.urls)
    if cached and out == _hub_line("bert-climate"):  # the hub client fell back on its cache
        assert model.config.hidden_size == HUB_CONFIGS["bert-climate"]["hidden_size"]
        return
    assert out.startswith("Loaded bert-climate: embedded tiny BERT (hub failed: ") and out.count("\n") == 1
    _assert_embedded("bert-climate", model, tokenizer)


QUIET_RUN = """
import httpx2, huggingface_hub
from huggingface_hub import constants
from huggingface_hub.utils import _http
from course_utils import models

models.is_offline = lambda timeout=2.0: False  # the probe reached huggingface.co
for name in models.MODELS:
    models.load_classifier(name, device="cpu")
cache = constants.HF_HUB_CACHE
constants.HF_HUB_CACHE = cache + "-empty"
models.load_classifier("distilbert-imdb", device="cpu")  # not in the cache
constants.HF_HUB_CACHE = cache


def failing(request):
    raise httpx2.ReadTimeout("the network went away", request=request)


constants.HF_HUB_OFFLINE = False  # then the network fails after the probe
_http.time.sleep = lambda seconds: None
huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(failing)))
models.load_classifier("bert-climate", device="cpu")
"""


def test_the_hub_branch_is_quiet_in_a_fresh_process(hub_cache):
    """What a student sees: one line per model, nothing on stderr (no retry warnings, no
    traceback), whether the hub models load or the embedded ones stand in."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("COURSE_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HOME=str(hub_cache.parent), HF_HUB_CACHE=str(hub_cache), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", QUIET_RUN], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        *(_hub_line(name).rstrip("\n") for name in MODELS),
        _embedded_line("distilbert-imdb", "hub failed: OSError").rstrip("\n"),
        _embedded_line("bert-climate", "hub failed: ReadTimeout").rstrip("\n"),
    ]
