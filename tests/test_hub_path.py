"""load_classifier's hub branch, tested without the hub (issue 17, item 3).

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

import hashlib
import io
import json
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
from safetensors.torch import save as safetensors_bytes
from transformers import (
    AutoConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DistilBertForSequenceClassification,
    GPT2ForSequenceClassification,
    GPT2Tokenizer,
)

from course_utils import models
from course_utils.models import MODELS, load_classifier, probability_function

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_FILES = ROOT / "course_utils" / "assets" / "tokenizers"
GPT2_FILES = TOKENIZER_FILES / "gpt2"
WORDPIECE_FILES = TOKENIZER_FILES / "bert-base-uncased"

# The commit each unpinned repo's refs/main points to, and the commit the pinned tokenizer
# repos' main has moved on to (not in the cache). Made up: only their form matters.
MAIN_COMMIT = {
    "hipnologo/gpt2-imdb-finetune": "1" * 40,
    "textattack/distilbert-base-uncased-imdb": "2" * 40,
    "keanteng/bert-base-raw-climate-sentiment-wqf7007": "3" * 40,
}
MOVED_ON = "f" * 40

ARCHITECTURE = {
    "gpt2-imdb": GPT2ForSequenceClassification,
    "distilbert-imdb": DistilBertForSequenceClassification,
    "bert-climate": BertForSequenceClassification,
}
POSITIONS = {"gpt2-imdb": 1024, "distilbert-imdb": 512, "bert-climate": 512}  # the hub models' limits

# config.json of the fine-tunes: the hub models' architectures and position limits, tiny
# widths. Their classes are LABEL_0, LABEL_1, ... (the default, which the course renames).
HUB_CONFIGS = {
    "gpt2-imdb": {
        "architectures": ["GPT2ForSequenceClassification"], "model_type": "gpt2", "vocab_size": 50257,
        "n_positions": 1024, "n_ctx": 1024, "n_embd": 16, "n_layer": 1, "n_head": 2,
        "bos_token_id": 50256, "eos_token_id": 50256,  # no pad_token_id, as GPT-2's own config
    },
    "distilbert-imdb": {
        "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
        "vocab_size": 30522, "max_position_embeddings": 512, "dim": 16, "hidden_dim": 32, "n_layers": 1,
        "n_heads": 2, "pad_token_id": 0,
    },
    "bert-climate": {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 30522,
        "max_position_embeddings": 512, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "type_vocab_size": 2, "pad_token_id": 0,
        "id2label": {str(i): f"LABEL_{i}" for i in range(4)}, "label2id": {f"LABEL_{i}": i for i in range(4)},
    },
}
# config.json of the base repos the tokenizers come from (AutoTokenizer reads model_type there).
GPT2_BASE_CONFIG = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024,
    "n_ctx": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "bos_token_id": 50256, "eos_token_id": 50256,
}
BERT_BASE_CONFIG = {
    "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522,
    "max_position_embeddings": 512, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "type_vocab_size": 2, "pad_token_id": 0,
}
# textattack's tokenizer files (2020): vocab.txt, a 48-byte tokenizer_config.json and the
# special-tokens map; the tokenizer class comes from config.json's model_type.
TEXTATTACK_TOKENIZER_CONFIG = b'{"do_lower_case": true, "model_max_length": 512}'
TEXTATTACK_SPECIAL_TOKENS = (
    b'{"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", '
    b'"mask_token": "[MASK]"}'
)
# Older tokenizer configs, as other hub repos have them: the legacy "max_len", or no length at
# all (the limit then came from a table inside transformers, which transformers 5 no longer has).
LEGACY_TOKENIZER_CONFIGS = {
    "max_len": b'{"do_lower_case": true, "max_len": 512}',
    "no length": b'{"do_lower_case": true}',
}

LONG_REVIEW = ("This film was a long and winding experience, never dull but rarely great. " * 120).strip()


# --------------------------------------------------------------------------------------
# The fake hub cache
# --------------------------------------------------------------------------------------
def _repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}"


def _add_snapshot(cache: Path, repo_id: str, commit: str, files: dict[str, bytes], main: str | None = None) -> None:
    """One commit of ``repo_id`` as huggingface_hub caches it: blobs, snapshot links, refs/main."""
    folder = _repo_folder(cache, repo_id)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir(exist_ok=True)
    for name, content in files.items():
        blob = folder / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(main or commit)


def _weights(name: str) -> bytes:
    """Random weights of the hub model's class at tiny width, in the repo's file format."""
    torch.manual_seed(17)
    settings = {key: value for key, value in HUB_CONFIGS[name].items() if key != "architectures"}
    # Wide initial weights, so that probabilities differ from text to text (the default
    # 0.02 gives about 0.5 for everything, where a wrong token would go unnoticed).
    config = AutoConfig.for_model(**settings, initializer_range=0.5)
    model = ARCHITECTURE[name](config)
    state = {key: tensor.contiguous() for key, tensor in model.state_dict().items()}
    if name == "distilbert-imdb":
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()
    return safetensors_bytes(state, metadata={"format": "pt"})


def _tokenizer_json(tokenizer_class, folder: Path) -> bytes:
    """tokenizer.json as the base repos carry it, built from the classic files."""
    return tokenizer_class.from_pretrained(str(folder)).backend_tokenizer.to_str().encode()


def _json(value: dict) -> bytes:
    return json.dumps(value, indent=2).encode()


def _add_model_repo(cache: Path, name: str, textattack_tokenizer_config: bytes = TEXTATTACK_TOKENIZER_CONFIG) -> None:
    spec = MODELS[name]
    files = {"config.json": _json(HUB_CONFIGS[name])}
    if name == "distilbert-imdb":
        files.update({
            "pytorch_model.bin": _weights(name),
            "vocab.txt": (WORDPIECE_FILES / "vocab.txt").read_bytes(),
            "tokenizer_config.json": textattack_tokenizer_config,
            "special_tokens_map.json": TEXTATTACK_SPECIAL_TOKENS,
        })
    else:
        files["model.safetensors"] = _weights(name)
    _add_snapshot(cache, spec.hub_id, MAIN_COMMIT[spec.hub_id], files)


def _add_tokenizer_repos(cache: Path) -> None:
    gpt2, bert = MODELS["gpt2-imdb"], MODELS["bert-climate"]
    _add_snapshot(cache, gpt2.tokenizer_id, gpt2.tokenizer_revision, {
        "config.json": _json(GPT2_BASE_CONFIG),
        "tokenizer_config.json": b'{"model_max_length": 1024}',
        "vocab.json": (GPT2_FILES / "vocab.json").read_bytes(),
        "merges.txt": (GPT2_FILES / "merges.txt").read_bytes(),
        "tokenizer.json": _tokenizer_json(GPT2Tokenizer, GPT2_FILES),
    }, main=MOVED_ON)
    _add_snapshot(cache, bert.tokenizer_id, bert.tokenizer_revision, {
        "config.json": _json(BERT_BASE_CONFIG),
        "tokenizer_config.json": b'{"do_lower_case": true, "model_max_length": 512}',
        "vocab.txt": (WORDPIECE_FILES / "vocab.txt").read_bytes(),
        "tokenizer.json": _tokenizer_json(BertTokenizer, WORDPIECE_FILES),
    }, main=MOVED_ON)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """The course's three hub models and the two tokenizer repos, cached as the hub client does."""
    cache = tmp_path_factory.mktemp("hf_home") / "hub"
    for name in MODELS:
        _add_model_repo(cache, name)
    _add_tokenizer_repos(cache)
    return cache


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
    _add_model_repo(cache, "distilbert-imdb", textattack_tokenizer_config=LEGACY_TOKENIZER_CONFIGS[legacy])
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
    snapshots = _repo_folder(cache, spec.tokenizer_id) / "snapshots"
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
