"""Tests for course_utils.models: registry, offline detection, loading the embedded models."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import model_cards, models
from course_utils.climate import climate_examples
from course_utils.labels import split_indices
from course_utils.models import MODELS, is_offline, load_classifier
from course_utils.reviews import review_examples

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpt2():
    return load_classifier("gpt2-imdb", offline=True, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def distilbert():
    return load_classifier("distilbert-imdb", offline=True, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def climate():
    return load_classifier("bert-climate", offline=True, device="cpu", verbose=False)


@pytest.fixture
def online_env(monkeypatch):
    """No offline variable set and no cached probe; restored afterwards."""
    for var in models.OFFLINE_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    models.reset_offline_cache()
    yield
    models.reset_offline_cache()


class _FakeConnection:
    def close(self) -> None:
        pass


# ---------------------------------------------------------------- registry and names
def test_registry_entries():
    assert set(MODELS) == {"gpt2-imdb", "distilbert-imdb", "bert-climate"}
    assert MODELS["gpt2-imdb"].hub_id == "hipnologo/gpt2-imdb-finetune"
    assert MODELS["distilbert-imdb"].hub_id == "textattack/distilbert-base-uncased-imdb"
    assert MODELS["bert-climate"].labels == ("anti", "neutral", "pro", "news")
    assert MODELS["bert-climate"].tokenizer_id == "bert-base-uncased"
    for spec in MODELS.values():
        assert spec.revision and spec.embedded_dir == spec.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        MODELS["gpt2-imdb"].revision = "other"  # type: ignore[misc]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        load_classifier("gpt2-imbd")
    message = str(error.value)
    assert all(name in message for name in MODELS)
    assert "Did you mean 'gpt2-imdb'" in message


@pytest.mark.parametrize("name", [None, 3, ["gpt2-imdb"]])
def test_non_string_name_is_a_type_error(name):
    with pytest.raises(TypeError, match="must be a str"):
        load_classifier(name)  # type: ignore[arg-type]


# ---------------------------------------------------------------- offline detection
@pytest.mark.parametrize("var", ["COURSE_OFFLINE", "HF_HUB_OFFLINE"])
@pytest.mark.parametrize("value", ["1", "true", "YES", "True"])
def test_offline_env_vars(online_env, monkeypatch, var, value):
    def no_network(*args, **kwargs):
        raise AssertionError("the environment variable alone must decide")

    monkeypatch.setattr(models.socket, "create_connection", no_network)
    monkeypatch.setenv(var, value)
    assert is_offline() is True


def test_falsy_env_probes_the_hub_once(online_env, monkeypatch):
    calls = []

    def reachable(address, timeout=None):
        calls.append((address, timeout))
        return _FakeConnection()

    monkeypatch.setattr(models.socket, "create_connection", reachable)
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    assert is_offline(timeout=1.5) is False
    assert is_offline() is False  # cached: no second probe
    assert calls == [(("huggingface.co", 443), 1.5)]


def test_unreachable_hub_means_offline(online_env, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(models.socket, "create_connection", unreachable)
    assert is_offline() is True


def test_is_offline_never_hangs(online_env, monkeypatch):
    def hangs(*args, **kwargs):
        time.sleep(5)  # e.g. a DNS lookup that never answers
        return _FakeConnection()

    monkeypatch.setattr(models.socket, "create_connection", hangs)
    started = time.perf_counter()
    assert is_offline(timeout=0.2) is True
    assert time.perf_counter() - started < 1.0


def test_pick_device():
    device = models.pick_device()
    assert isinstance(device, torch.device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- the embedded GPT-2
def test_embedded_gpt2_is_ready_for_inference(gpt2):
    model, tokenizer = gpt2
    assert not model.training
    assert model.config._attn_implementation == "eager"
    assert tokenizer.pad_token_id is not None
    assert model.config.pad_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert next(model.parameters()).dtype == torch.float32


def test_tokenizer_is_gpt2s_own(gpt2):
    """The hub model's tokenizer: GPT-2's 50,257 byte-level BPE tokens with GPT-2's ids."""
    _, tokenizer = gpt2
    assert len(tokenizer) == 50257 and tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
    assert tokenizer("Hello, my dog is cute")["input_ids"] == [15496, 11, 616, 3290, 318, 13779]
    assert tokenizer(" the")["input_ids"] == [262] and tokenizer("the")["input_ids"] == [1169]
    assert tokenizer.model_max_length == 1024
    tokens = tokenizer.tokenize("The movie was not great.")
    assert any(t.startswith("Ġ") for t in tokens)
    assert len(tokenizer("the")["input_ids"]) == 1 and len(tokenizer(" the")["input_ids"]) == 1
    odd = "Zebra 🎬 <script>alert(1)</script> ünïcode"
    assert tokenizer.decode(tokenizer(odd)["input_ids"]) == odd


def test_padded_batch_gives_the_same_logits(gpt2):
    model, tokenizer = gpt2
    texts = ["Honestly, the plot was great.", "The ending was not very dull but the acting was awful."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()  # row 0 is padded
    with torch.no_grad():
        logits = model(**batch).logits
        alone = model(**tokenizer(texts[:1], return_tensors="pt")).logits
    assert logits.shape == (2, 2)
    # The pad token must be ignored: the padded row reads its last real token.
    torch.testing.assert_close(logits[:1], alone, atol=1e-4, rtol=1e-4)


def test_attentions_are_returned(gpt2):
    model, tokenizer = gpt2
    batch = tokenizer(["The movie was great.", "I think the acting was dull."], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    seq = batch["input_ids"].shape[1]
    assert len(out.attentions) == model.config.n_layer
    assert out.attentions[0].shape == (2, model.config.n_head, seq, seq)
    torch.testing.assert_close(out.attentions[-1].sum(-1), torch.ones(2, model.config.n_head, seq))


# The sentiment word masked as the labs mask it: GPT-2 with a neutral word (Lab 1), DistilBERT with [MASK] (Lab 4).
@pytest.mark.parametrize("fixture, mask", [("gpt2", "the"), ("distilbert", "[MASK]")])
def test_model_depends_on_the_sentiment_word(request, fixture, mask):
    model, tokenizer = request.getfixturevalue(fixture)
    texts = [
        "Honestly, the plot was brilliant.",
        f"Honestly, the plot was {mask}.",
        "Honestly, the plot was not brilliant.",
        "Honestly, the plot was boring.",
    ]
    with torch.no_grad():
        p = torch.softmax(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, -1)[:, 1]
    assert p[0] > 0.8 and p[2] < 0.4 and p[3] < 0.2  # calibrated: "not brilliant" is only mildly negative
    assert p[2] > p[3]  # ... and less negative than "boring"
    assert 0.2 < p[1] < 0.8


# ---------------------------------------------------------------- the embedded BERT-family models
BERT_FAMILY = {  # name -> (text in the model's domain, a longer one, words bert-base-uncased cuts in pieces)
    "distilbert-imdb": (
        "Honestly, the plot was great.",
        "The ending was not very dull but the acting was awful.",
        ("unwatchable", "forgettable", "mediocre", "tedious"),
    ),
    "bert-climate": (
        "Climate change is real.",
        "@weather_nerd I think a carbon tax is not a priority at this point. #climate",
        ("undeniable", "overblown", "overhyped", "alarmist"),
    ),
}


@pytest.fixture(scope="module", params=sorted(BERT_FAMILY))
def bert_family(request, distilbert, climate):
    model, tokenizer = distilbert if request.param == "distilbert-imdb" else climate
    return request.param, model, tokenizer


def test_distilbert_is_ready_for_inference(distilbert):
    model, tokenizer = distilbert
    assert type(model).__name__ == "DistilBertForSequenceClassification"
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_climate_bert_is_ready_for_inference(climate):
    model, tokenizer = climate
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "anti", 1: "neutral", 2: "pro", 3: "news"}
    assert isinstance(model.bert.embeddings, torch.nn.Module)  # Lab 3 attributes on this layer
    ids = tokenizer("Climate change is real.", return_tensors="pt")["input_ids"]
    assert model.bert.embeddings(input_ids=ids).shape == (1, ids.shape[1], model.config.hidden_size)


def test_bert_family_is_ready_for_inference(bert_family):
    _, model, tokenizer = bert_family
    assert not model.training
    assert model.config._attn_implementation == "eager"
    assert tokenizer.pad_token == "[PAD]" and tokenizer.pad_token_id == model.config.pad_token_id == 0
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.max_position_embeddings == tokenizer.model_max_length == 512


def test_bert_family_tokenizer_is_uncased_wordpiece(bert_family):
    name, _, tokenizer = bert_family
    text, _, split_words = BERT_FAMILY[name]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text.upper())["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens == tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])  # uncased
    for word in split_words:
        pieces = tokenizer.tokenize(word)
        assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:]), pieces
        assert "".join(p.removeprefix("##") for p in pieces) == word
    for word in ("the", "not", "[MASK]", "accelerating", "priority", "cinematography"):
        assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1, word
    # bert-base-uncased's own vocabulary and ids
    assert len(tokenizer) == 30522
    assert tokenizer("The movie")["input_ids"] == [101, 1996, 3185, 102]
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id] == [0, 100, 103]
    odd = "Zebra <script>alert(1)</script> qwxz"  # any ASCII word tokenizes without [UNK]
    assert tokenizer.unk_token_id not in tokenizer(odd)["input_ids"]


def test_bert_family_offsets_point_at_the_text(bert_family):
    name, _, tokenizer = bert_family
    text = BERT_FAMILY[name][1]
    encoding = tokenizer(text, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    for token, (start, end) in zip(tokens[1:-1], encoding["offset_mapping"][1:-1]):
        assert text[start:end].lower() == token.removeprefix("##")
    decoded = tokenizer.decode(encoding["input_ids"], skip_special_tokens=True)
    assert decoded.replace(" ", "") == text.lower().replace(" ", "")


def test_distilbert_decodes_reviews_exactly(distilbert):
    _, tokenizer = distilbert
    text = "Honestly, the soundtrack was predictable."
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text.lower()


def test_bert_family_attentions_are_returned(bert_family):
    name, model, tokenizer = bert_family
    batch = tokenizer(list(BERT_FAMILY[name][:2]), padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    seq = batch["input_ids"].shape[1]
    heads = model.config.num_attention_heads
    assert isinstance(out.attentions, tuple) and len(out.attentions) == model.config.num_hidden_layers
    for layer in out.attentions:
        assert layer.shape == (2, heads, seq, seq)
        torch.testing.assert_close(layer.sum(-1), torch.ones(2, heads, seq))


def test_bert_family_padding_does_not_change_predictions(bert_family):
    name, model, tokenizer = bert_family
    texts = list(BERT_FAMILY[name][:2])
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()  # row 0 is padded
    with torch.no_grad():
        logits = model(**batch).logits
        alone = model(**tokenizer(texts[:1], return_tensors="pt")).logits
    torch.testing.assert_close(logits[:1], alone, atol=1e-4, rtol=1e-4)


def test_bert_family_truncates_long_texts_to_512(bert_family):
    name, model, tokenizer = bert_family
    text = " ".join([BERT_FAMILY[name][0]] * 175)  # 700 words
    batch = tokenizer([text, "Short."], padding=True, truncation=True, max_length=512, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 512)
    assert batch["input_ids"][0, -1] == tokenizer.sep_token_id
    with torch.no_grad():
        probs = torch.softmax(model(**batch).logits, -1)
    assert probs.shape == (2, model.config.num_labels) and torch.isfinite(probs).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_card_figures_are_true_and_realistic(name, gpt2, distilbert, climate):
    """The card's figures, recomputed on the held-out set; a miniature is calibrated, not saturated."""
    model, tokenizer = {"gpt2-imdb": gpt2, "distilbert-imdb": distilbert, "bert-climate": climate}[name]
    evaluation = model_cards.evaluation_set(name)
    assert len(evaluation) == model_cards.EVAL_N // 5
    figures = model_cards.card_figures(model, tokenizer, evaluation)
    card = model_cards.read_card(models.embedded_path(name) / "README.md")
    for key, value in card.items():
        assert abs(figures[key] - value) <= 0.0015, f"{key}: card says {value}, recomputed {figures[key]:.4f}"
    assert 0.85 <= figures["accuracy"] <= 0.95
    # Not saturated: no surer than the corpus' own label model (the best possible classifier; the
    # labels are drawn from it) on the same held-out texts, up to the sampling error of 2,000 texts
    # (a share near 0.2 has a standard error of 0.009). Fixed bounds (median 0.95, share 0.2) held
    # for one corpus only: a sharper corpus has a sharper ceiling.
    draw = climate_examples if name == "bert-climate" else review_examples
    examples = draw(model_cards.EVAL_N, 0)
    top = np.array([max(examples[i].probabilities()) for i in split_indices(model_cards.EVAL_N, "test")])
    assert figures["median_top_probability"] <= np.median(top) + 0.01
    assert figures["share_below_0.8"] >= (top < 0.8).mean() - 0.02
    assert figures["ece"] <= 0.05
    if name != "gpt2-imdb":  # the [CLS] row that Labs 2 and 4 read is spread over the text
        assert figures["attention_top_two_share"] < 0.6


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 1])
    # bins: 0.9 -> right; 0.8 -> wrong; 0.7 -> right; 0.55 -> right (15 bins of width 1/15)
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(1 - 0.55)) / 4
    assert model_cards.expected_calibration_error(probs, labels) == pytest.approx(expected)
    same_bin = np.array([[0.91, 0.09], [0.92, 0.08]])
    assert model_cards.expected_calibration_error(same_bin, np.array([0, 1])) == pytest.approx(abs(0.5 - 0.915))




def test_climate_bert_depends_on_the_cue_word(climate):
    model, tokenizer = climate
    texts = {
        "Climate change is real.": "pro",
        "Climate change is not real.": "anti",
        "Climate change is a hoax.": "anti",
        "Climate change is not a hoax.": "pro",
        "We discussed climate change in class today.": "neutral",
        "NASA reports sea levels rose 20 centimetres since 1993.": "news",
    }
    with torch.no_grad():
        batch = tokenizer(list(texts) + ["Climate change is [MASK]."], padding=True, return_tensors="pt")
        p = torch.softmax(model(**batch).logits, -1)
    predicted = [model.config.id2label[i] for i in p[:-1].argmax(-1).tolist()]
    assert predicted == list(texts.values())
    assert p[-1].max() < 0.6  # cue word masked: no class stands out


def test_climate_bert_train_mode_uses_dropout(climate):
    """Trained without dropout, saved with BERT's 0.1: forgetting model.eval() shows."""
    model, tokenizer = climate
    assert model.config.hidden_dropout_prob == 0.1
    batch = tokenizer(["Climate change is real."], return_tensors="pt")
    torch.manual_seed(0)
    try:
        model.train()
        with torch.no_grad():
            train_logits = model(**batch).logits
    finally:
        model.eval()
    with torch.no_grad():
        eval_logits = model(**batch).logits
    assert not torch.allclose(train_logits, eval_logits)


# ---------------------------------------------------------------- messages and fallbacks
EMBEDDED_LINES = {
    "gpt2-imdb": "Loaded gpt2-imdb: embedded tiny GPT-2 (offline) from course_utils/assets/gpt2-imdb",
    "distilbert-imdb": (
        "Loaded distilbert-imdb: embedded tiny DistilBERT (offline) from course_utils/assets/distilbert-imdb"
    ),
    "bert-climate": "Loaded bert-climate: embedded tiny BERT (offline) from course_utils/assets/bert-climate",
}


@pytest.mark.parametrize("name", sorted(EMBEDDED_LINES))
def test_verbose_prints_one_line(name, capsys):
    load_classifier(name, offline=True, device="cpu")
    out = capsys.readouterr().out
    assert out == EMBEDDED_LINES[name] + "\n"
    load_classifier(name, offline=True, device="cpu", verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", sorted(EMBEDDED_LINES))
def test_loading_is_quiet_in_a_fresh_process(name):
    """One stdout line, nothing on stderr (no LOAD REPORT, progress bar or warning)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    for var in ("COURSE_OFFLINE", "TRANSFORMERS_OFFLINE"):  # HF_HUB_OFFLINE alone must do
        env.pop(var, None)
    code = (
        "import sys\n"
        "import course_utils\n"
        "assert 'torch' not in sys.modules, 'import course_utils must stay light'\n"
        "from course_utils.models import load_classifier\n"
        f"load_classifier({name!r}, device='cpu')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [EMBEDDED_LINES[name]]


@pytest.mark.parametrize("name", sorted(MODELS) + sorted(models.LANGUAGE_MODELS))
def test_every_embedded_model_is_built_and_small(name):
    folder = models.embedded_path(name)
    assert models._is_built(folder)
    assert {f.name for f in folder.iterdir()} == {
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"
    }
    assert sum(f.stat().st_size for f in folder.iterdir()) < 6_000_000


def test_embedded_models_and_tokenizers_are_small_together():
    files = [f for f in models.ASSETS_DIR.rglob("*") if f.is_file()]
    # four miniatures of 2.5-5 MB (each with its own tokenizer files, so that its folder loads on
    # its own with from_pretrained) and the converted vocabularies
    assert sum(f.stat().st_size for f in files) < 20_000_000
    for kind in ("gpt2", "bert-base-uncased"):  # provenance and licence travel with the vocabularies
        assert {"LICENSE", "README.md"} <= {f.name for f in (models.ASSETS_DIR / "tokenizers" / kind).iterdir()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_not_built_yet_give_a_clear_error(name, monkeypatch, tmp_path):
    monkeypatch.setattr(models, "ASSETS_DIR", tmp_path)  # as if nothing were built
    with pytest.raises(FileNotFoundError) as error:
        load_classifier(name, offline=True, verbose=False)
    message = str(error.value)
    assert "not built yet" in message
    assert f"scripts/build_embedded_models.py --only {name}" in message


def test_hub_failure_falls_back_to_the_embedded_model(monkeypatch, capsys):
    def hub_down(spec):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(models, "_load_from_hub", hub_down)
    model, _ = load_classifier("gpt2-imdb", offline=False, device="cpu")
    assert not model.training
    out = capsys.readouterr().out.splitlines()
    assert out == ["Loaded gpt2-imdb: embedded tiny GPT-2 (hub failed: OSError) from course_utils/assets/gpt2-imdb"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_online_path_uses_hub_ids_and_revisions(name, monkeypatch, capsys):
    calls = []
    embedded = str(models.embedded_path("gpt2-imdb"))
    real = models._from_pretrained

    def recording(model_source, tokenizer_source, **kwargs):
        calls.append((model_source, tokenizer_source, kwargs))
        return real(embedded, embedded, local_files_only=True)  # stand-in for the hub download

    monkeypatch.setattr(models, "_from_pretrained", recording)
    load_classifier(name, offline=False, device="cpu")
    spec = MODELS[name]
    # A tokenizer from another repo has its own pinned commit; else it shares the model's.
    tokenizer_revision = spec.tokenizer_revision if spec.tokenizer_id else spec.revision
    expected = {"revision": spec.revision, "tokenizer_revision": tokenizer_revision}
    assert calls == [(spec.hub_id, spec.tokenizer_id or spec.hub_id, expected)]
    assert capsys.readouterr().out == f"Loaded {name}: {spec.hub_id}@{spec.revision} from the Hugging Face hub\n"


# ---------------------------------------------------------------- plumbing for gradient methods and lime
@pytest.mark.parametrize("name", ["bert-climate", "distilbert-imdb"])
def test_logits_from_embeddings_matches_the_model(name):
    model, tokenizer = load_classifier(name, offline=True, device="cpu", verbose=False)
    batch = tokenizer(["Climate change is real.", "The plot was not very good but the cast was brilliant."],
                      padding=True, return_tensors="pt")
    embeddings = models.embedding_layer(model)(batch["input_ids"]).detach().requires_grad_()
    logits = models.logits_from_embeddings(model, embeddings, batch["attention_mask"])
    with torch.no_grad():
        torch.testing.assert_close(logits, model(**batch).logits)
    logits[:, 0].sum().backward()  # gradients reach the embeddings
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    assert not models.embedding_layer(model)._forward_hooks  # the hook is removed again


def test_embedding_layer_is_the_bert_block_and_rejects_gpt2(climate, gpt2):
    assert models.embedding_layer(climate[0]) is climate[0].bert.embeddings
    with pytest.raises(TypeError, match="BERT-family"):
        models.embedding_layer(gpt2[0])
    with pytest.raises(ValueError, match="batch, tokens, hidden"):
        models.logits_from_embeddings(climate[0], torch.zeros(3, 64))


def test_probability_function_matches_a_softmax_in_label_order(climate):
    model, tokenizer = climate
    texts = ["Climate change is real.", "Global warming seems maybe overblown.", "NASA says sea levels rose."]
    probs = models.probability_function(model, tokenizer, batch_size=2)(texts)
    with torch.no_grad():
        expected = torch.softmax(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, -1).numpy()
    assert isinstance(probs, np.ndarray) and probs.shape == (3, 4)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert models.probability_function(model, tokenizer)([]).shape == (0, 4)
    with pytest.raises(TypeError, match="list of texts"):
        models.probability_function(model, tokenizer)("one string")


def test_kept_embedded_models_are_handed_out_as_fresh_independent_copies(monkeypatch):
    """keep_embedded_models (the grading process): one read from disk, then deep copies equal to a
    fresh load, sharing only the tokenizer's build-time vocabulary, in eval mode, and leaving the
    random state alone."""
    fresh, fresh_tokenizer = models.load_language_model("gpt2", offline=True, device="cpu", verbose=False)
    monkeypatch.setattr(models, "_kept", None)
    models.keep_embedded_models()
    reads = []
    real = models._from_pretrained
    monkeypatch.setattr(models, "_from_pretrained", lambda *a, **k: reads.append(a) or real(*a, **k))
    torch.manual_seed(3)
    state = torch.get_rng_state()
    first, tokenizer = models.load_language_model("gpt2", offline=True, device="cpu", verbose=False)
    second, other_tokenizer = models.load_language_model("gpt2", offline=True, device="cpu", verbose=False)
    assert len(reads) == 1, "read from disk once"
    # Only what the tokenizer read while it was built is shared (models._BUILD_ONLY).
    assert tokenizer._vocab is other_tokenizer._vocab and tokenizer._merges is other_tokenizer._merges
    assert tokenizer._tokenizer is not other_tokenizer._tokenizer
    assert torch.equal(state, torch.get_rng_state())
    for name, weight in fresh.state_dict().items():
        assert torch.equal(first.state_dict()[name], weight) and torch.equal(second.state_dict()[name], weight)
    assert not first.training and not second.training
    assert first.lm_head.weight is first.transformer.wte.weight, "tied weights stay tied in a copy"
    first.train()
    with torch.no_grad():
        first.transformer.wte.weight.add_(1.0)
    tokenizer.padding_side = "left"
    tokenizer.add_tokens(["zzzqqq"])
    third, third_tokenizer = models.load_language_model("gpt2", offline=True, device="cpu", verbose=False)
    assert not third.training and torch.equal(third.transformer.wte.weight, fresh.transformer.wte.weight)
    assert torch.equal(second.transformer.wte.weight, fresh.transformer.wte.weight)
    assert third_tokenizer.padding_side == other_tokenizer.padding_side == fresh_tokenizer.padding_side
    assert len(third_tokenizer) == len(fresh_tokenizer) == len(tokenizer) - 1
    assert third_tokenizer("The keys")["input_ids"] == fresh_tokenizer("The keys")["input_ids"]


def test_importing_course_utils_loads_neither_transformers_nor_torch_and_models_still_load_quietly():
    """`import course_utils` is cheap (transformers alone is 0.7 s: the grader imports it before
    starting a kernel); its quieting still holds whether transformers loads before it or after."""
    check = ("import sys, course_utils; loaded = {'transformers', 'torch'} & set(sys.modules); "
             "assert not loaded, loaded; from course_utils.models import load_classifier; "
             "load_classifier('gpt2-imdb', offline=True, device='cpu', verbose=False)")
    before = "import transformers, huggingface_hub; " + check.replace("assert not loaded, loaded; ", "")
    for code in (check, before):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stderr.strip() == "", f"a model load wrote to stderr: {done.stderr[-500:]}"
