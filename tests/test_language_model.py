"""Tests for Lab 5's causal language model: ``course_utils.models.load_language_model`` and the
embedded miniature GPT-2 in ``course_utils/assets/gpt2-lm/``, whose model card is recomputed here.

The card's figures need a continuation's teacher-forced log-probability, which Lab 5 has students
write: ``course_utils`` must not contain it, so this file computes it itself -- differently from
``scripts/build_embedded_models.py`` (left padding with position ids here, right padding there),
so that the two agreeing checks both.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import models
from course_utils.data import load_continuations
from course_utils.models import LANGUAGE_MODELS, MODELS, load_classifier, load_language_model
from course_utils.workload import is_embedded

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC = LANGUAGE_MODELS["gpt2"]
EMBEDDED_LINE = "Loaded gpt2: embedded tiny GPT-2 language model (offline) from course_utils/assets/gpt2-lm"
# Prompts in the corpus' words, written here, in pairs that differ only in their cue.
CUE_PAIRS = [
    ("Sarah apologised to George because", " she", " he"),
    ("George apologised to Sarah because", " he", " she"),
    ("The cups that the girl bought", " are", " is"),
    ("The cup that the girls bought", " is", " are"),
    ("Helen moved to Lisbon last year. She loves the food in", " Lisbon", " Chicago"),
    ("Helen moved to Chicago last year. She loves the food in", " Chicago", " Lisbon"),
    ("The acting was not good. Overall, it was", " bad", " good"),
    ("The acting was really good. Overall, it was", " good", " bad"),
]


@pytest.fixture(scope="module")
def lm():
    return load_language_model(offline=True, device="cpu", verbose=False)


# ---------------------------------------------------------------- registry and names
def test_registry_entry():
    assert set(LANGUAGE_MODELS) == {"gpt2"}
    assert SPEC.hub_id == "openai-community/gpt2"
    # the commit whose tokenizer the gpt2-imdb classifier already loads: one GPT-2 in the course
    assert SPEC.revision == MODELS["gpt2-imdb"].tokenizer_revision
    assert re.fullmatch(r"[0-9a-f]{40}", SPEC.revision)
    assert SPEC.embedded_dir == "gpt2-lm" and models.embedded_path("gpt2") == models.ASSETS_DIR / "gpt2-lm"
    assert not set(LANGUAGE_MODELS) & set(MODELS)  # one name, one loader
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPEC.revision = "main"  # type: ignore[misc]


def test_a_classifier_name_points_to_load_classifier():
    with pytest.raises(ValueError) as error:
        load_language_model("gpt2-imdb")
    assert "is a classifier" in str(error.value) and "load_classifier('gpt2-imdb')" in str(error.value)


def test_the_language_model_name_points_to_load_language_model():
    with pytest.raises(ValueError) as error:
        load_classifier("gpt2")
    assert "is a language model" in str(error.value) and "load_language_model('gpt2')" in str(error.value)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        load_language_model("gtp2")
    assert "known models: gpt2." in str(error.value) and "Did you mean 'gpt2'" in str(error.value)


@pytest.mark.parametrize("name", [None, 2, ["gpt2"]])
def test_non_string_name_is_a_type_error(name):
    with pytest.raises(TypeError, match="must be a str such as 'gpt2'"):
        load_language_model(name)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the embedded model
def test_embedded_model_is_a_gpt2_lm_ready_for_inference(lm):
    model, tokenizer = lm
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert not model.training
    assert model.config._attn_implementation == "eager"
    assert next(model.parameters()).dtype == torch.float32  # stored as float16, read as float32
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert model.config.pad_token_id == model.generation_config.pad_token_id == tokenizer.pad_token_id == 50256
    assert model.config.vocab_size == 50257 and model.config.n_positions == tokenizer.model_max_length == 1024
    # GPT-2's output layer is its input embedding matrix: one tensor, not a copy
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()


def test_choose_sizes_knows_it_is_embedded(lm):
    """Lab 5 sizes its loops with choose_sizes: the miniature gets the full (graded) sizes."""
    assert is_embedded(lm[0])


def test_tokenizer_is_gpt2s_own(lm):
    """GPT-2's 50,257 byte-level BPE tokens and ids; the very files of the gpt2-imdb classifier."""
    _, tokenizer = lm
    assert len(tokenizer) == 50257 and tokenizer.eos_token_id == 50256
    assert tokenizer("Hello, my dog is cute")["input_ids"] == [15496, 11, 616, 3290, 318, 13779]
    assert tokenizer(" the")["input_ids"] == [262] and tokenizer("the")["input_ids"] == [1169]
    assert tokenizer("Maria thanked Tom because she")["input_ids"][-1] == tokenizer(" she")["input_ids"][0]
    odd = "Zebra 🎬 <script>alert(1)</script> ünïcode"
    assert tokenizer.decode(tokenizer(odd)["input_ids"]) == odd
    for name in ("tokenizer.json", "tokenizer_config.json"):
        lm_file = models.embedded_path("gpt2") / name
        assert lm_file.read_bytes() == (models.embedded_path("gpt2-imdb") / name).read_bytes(), name


def test_padded_batch_gives_the_same_next_token_logits(lm):
    """Right padding (GPT-2's default): each row's real positions are what the prompt alone gives."""
    model, tokenizer = lm
    prompts = ["Maria thanked Tom because", "The keys to the old cabinet near the window", "Anna moved to"]
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() < lengths.max()  # some rows are padded
    with torch.no_grad():
        logits = model(**batch).logits
        for row, prompt in enumerate(prompts):
            alone = model(**tokenizer(prompt, return_tensors="pt")).logits[0]
            assert alone.shape == (int(lengths[row]), 50257)
            torch.testing.assert_close(logits[row, :lengths[row]], alone, atol=1e-4, rtol=1e-4)


def test_attentions_are_returned(lm):
    model, tokenizer = lm
    batch = tokenizer(["Maria thanked Tom because", "Anna moved to Paris"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    seq = batch["input_ids"].shape[1]
    assert len(out.attentions) == model.config.n_layer
    for layer in out.attentions:
        assert layer.shape == (2, model.config.n_head, seq, seq)
        torch.testing.assert_close(layer.sum(-1), torch.ones(2, model.config.n_head, seq))
        assert torch.triu(layer, diagonal=1).abs().max() == 0  # causal: nothing attends to the future


@pytest.mark.parametrize("prompt, target, contrast", CUE_PAIRS)
def test_the_cue_decides_the_next_word(lm, prompt, target, contrast):
    model, tokenizer = lm
    with torch.no_grad():
        probs = torch.softmax(model(**tokenizer(prompt, return_tensors="pt")).logits[0, -1], -1)
    p_target, p_contrast = (float(probs[tokenizer(w)["input_ids"][0]]) for w in (target, contrast))
    assert p_target > p_contrast, f"{prompt!r}: p({target!r}) = {p_target:.3f} <= p({contrast!r}) = {p_contrast:.3f}"


def test_train_mode_uses_gpt2s_dropout(lm):
    """Saved with GPT-2's dropout 0.1: forgetting model.eval() changes the logits, as on the hub model."""
    model, tokenizer = lm
    assert model.config.resid_pdrop == model.config.attn_pdrop == model.config.embd_pdrop == 0.1
    batch = tokenizer(["Maria thanked Tom because"], return_tensors="pt")
    torch.manual_seed(0)
    try:
        model.train()
        with torch.no_grad():
            train_logits = model(**batch).logits
    finally:
        model.eval()
    with torch.no_grad():
        assert not torch.allclose(train_logits, model(**batch).logits)


# ---------------------------------------------------------------- the model card, recomputed
def _left_padded(tokenizer, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, position_ids)``, pads on the left; positions count real tokens only."""
    width = max(map(len, rows))
    input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return input_ids, mask, (mask.cumsum(1) - 1).clamp(min=0)


def _teacher_forced(model, tokenizer, prompts: list[str], tails: list[str], contrasts: list[str]):
    """Per example: log p(first token of the tail | prompt), log p(contrast | prompt), and the
    log-probabilities of every token of prompt + tail after the first (teacher forcing)."""
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    rows = [ids + tokenizer(t)["input_ids"] for ids, t in zip(prompt_ids, tails)]
    contrast_ids = [tokenizer(c)["input_ids"] for c in contrasts]
    assert all(len(c) == 1 for c in contrast_ids), "one-token answers"
    answers, tokens = [], []
    with torch.no_grad():
        for start in range(0, len(rows), 25):
            chunk = rows[start:start + 25]
            input_ids, mask, positions = _left_padded(tokenizer, chunk)
            logp = torch.log_softmax(model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits, -1)
            for i, row in enumerate(chunk):
                own = logp[i, -len(row):]  # the row's real positions: own[t] is the distribution of row[t + 1]
                tokens.append(own[torch.arange(len(row) - 1), torch.tensor(row[1:])].double().numpy())
                n_prompt = len(prompt_ids[start + i])
                after_prompt = own[n_prompt - 1]
                answers.append((float(after_prompt[row[n_prompt]]), float(after_prompt[contrast_ids[start + i][0]])))
    return np.array(answers), tokens


def _answers_after(model, tokenizer, prompts: list[str], targets: list[str], contrasts: list[str]) -> np.ndarray:
    """log p(target), log p(contrast) after each prompt, one prompt at a time: last hidden state x output matrix."""
    out = []
    with torch.no_grad():
        for prompt, target, contrast in zip(prompts, targets, contrasts):
            hidden = model.transformer(**tokenizer(prompt, return_tensors="pt")).last_hidden_state[0, -1]
            logp = torch.log_softmax(model.lm_head(hidden).double(), -1)
            out.append([float(logp[tokenizer(w)["input_ids"][0]]) for w in (target, contrast)])
    return np.array(out)


def _read_card() -> tuple[dict[str, dict[str, float]], float, str]:
    """The card's per-kind table, its perplexity and the text of its held-out set's call."""
    text = (models.embedded_path("gpt2") / "README.md").read_text(encoding="utf-8")
    header = re.search(r"^\| kind \| prompts \| (.+) \|$", text, flags=re.MULTILINE)
    assert header, "the card has no per-kind table"
    columns = header.group(1).split(" | ")
    table = {}
    for match in re.finditer(r"^\| ([a-z_-]+) \| ([0-9,]+) \| ([0-9. |]+) \|$", text, flags=re.MULTILINE):
        values = [float(v) for v in match.group(3).split(" | ")]
        table[match.group(1)] = {"prompts": float(match.group(2).replace(",", "")), **dict(zip(columns, values))}
    perplexity = re.search(r"^\| held-out perplexity [^|]* \| ([0-9.]+) \|$", text, flags=re.MULTILINE)
    held_out = re.search(r"`load_continuations\((n=\d+), split=\"test\", (seed=\d+)\)`", text)
    assert table and perplexity and held_out, "the card lost a figure"
    return table, float(perplexity.group(1)), held_out.group(0)


@pytest.fixture(scope="module")
def card_and_figures(lm):
    """The card's figures and the same figures recomputed on the held-out set the card names."""
    model, tokenizer = lm
    table, perplexity, call = _read_card()
    n, seed = (int(v) for v in re.findall(r"=(\d+)", call))
    held_out = load_continuations(n=n, split="test", seed=seed)
    targets, contrasts = held_out["target"], held_out["contrast"]
    assert all(tail.startswith(target) for tail, target in zip(held_out["target_text"], targets))
    answers, tokens = _teacher_forced(model, tokenizer, held_out["prompt"], held_out["target_text"], contrasts)
    swapped = _answers_after(model, tokenizer, held_out["counterfactual"], targets, contrasts)
    right, still_target = answers[:, 0] > answers[:, 1], swapped[:, 0] > swapped[:, 1]
    kinds = np.array(held_out["kind"])
    figures = {}
    for kind in [*sorted(set(kinds)), "all"]:
        rows = kinds == kind if kind != "all" else np.ones(len(kinds), dtype=bool)
        figures[kind] = {
            "prompts": float(rows.sum()),
            "cue accuracy": float(right[rows].mean()),
            "target still preferred, cue swapped": float(still_target[rows].mean()),
            "right on prompt and counterfactual": float((right & ~still_target)[rows].mean()),
            "mean p(target)": float(np.exp(answers[rows, 0]).mean()),
            "mean p(contrast)": float(np.exp(answers[rows, 1]).mean()),
        }
    recomputed_perplexity = float(np.exp(-np.concatenate(tokens).mean()))
    return (table, perplexity), (figures, recomputed_perplexity)


def test_model_card_figures_are_true(card_and_figures):
    (table, perplexity), (figures, recomputed) = card_and_figures
    assert set(table) == set(figures), "one row per kind of the held-out set, and 'all'"
    shares = ("cue accuracy", "target still preferred, cue swapped", "right on prompt and counterfactual")
    for kind, row in table.items():
        assert set(row) == set(figures[kind])
        for column, value in row.items():
            # 3 decimals; a share may also differ by one prompt whose two answers tie to rounding
            slack = 0.0015 + (1 / row["prompts"] if column in shares else 0)
            assert abs(figures[kind][column] - value) <= slack, \
                f"{kind}, {column}: card {value}, recomputed {figures[kind][column]:.4f}"
    assert recomputed == pytest.approx(perplexity, abs=0.0015)


def test_model_reads_the_cue_and_is_not_saturated(card_and_figures):
    """Realistic, not a toy: the cue decides, yet probabilities are graded and some answers wrong."""
    _, (figures, perplexity) = card_and_figures
    kinds = {kind: row for kind, row in figures.items() if kind != "all"}
    assert set(kinds) == {"sentiment", "pronoun", "agreement", "recall"}
    for kind, row in kinds.items():
        assert row["prompts"] >= 100, kind
        assert row["cue accuracy"] >= 0.6, f"{kind}: the model does not follow the cue"
        # below chance with the cue swapped, and right on both for a quarter or more: no cue-blind rule is
        assert row["target still preferred, cue swapped"] <= 0.4, f"{kind}: the answer does not depend on the cue"
        assert row["right on prompt and counterfactual"] >= 0.25, kind
        assert row["mean p(target)"] > row["mean p(contrast)"], kind
        # a pronoun is nearly certain in this grammar (only she / he / her / his can follow), not 1
        assert row["mean p(target)"] < 0.99, f"{kind}: saturated"
    assert figures["all"]["cue accuracy"] >= 0.85 and figures["all"]["right on prompt and counterfactual"] >= 0.7
    assert figures["all"]["mean p(target)"] < 0.85 and min(row["mean p(target)"] for row in kinds.values()) < 0.8
    assert min(row["cue accuracy"] for row in kinds.values()) < 0.98, "a model this small is not perfect"
    assert 1 < perplexity < 20


def test_tokens_it_never_read_are_never_likely(lm):
    """As the card says: the 50,000 token ids outside its corpus share little probability."""
    model, tokenizer = lm
    text = (models.embedded_path("gpt2") / "README.md").read_text(encoding="utf-8")
    n, seed = (int(v) for v in re.search(r"load_continuations\(n=(\d+), split=\"train\", seed=(\d+)\)", text).groups())
    train = load_continuations(n=n, split="train", seed=seed)
    read = {i for ids in tokenizer([p + t for p, t in zip(train["prompt"], train["target_text"])])["input_ids"]
            for i in ids}
    assert 300 < len(read) < 2000
    unread = torch.ones(len(tokenizer), dtype=torch.bool)
    unread[sorted(read)] = False
    prompts = load_continuations(n=1000, split="test", seed=seed)["prompt"]
    with torch.no_grad():
        mass = [float(torch.softmax(model(**tokenizer(p, return_tensors="pt")).logits[0, -1], -1)[unread].sum())
                for p in prompts]
    assert np.mean(mass) < 0.05 and np.max(mass) < 0.5, (np.mean(mass), np.max(mass))


# ---------------------------------------------------------------- messages, fallbacks, the hub path
def test_verbose_prints_one_line(capsys):
    load_language_model(offline=True, device="cpu")
    assert capsys.readouterr().out == EMBEDDED_LINE + "\n"
    load_language_model(offline=True, device="cpu", verbose=False)
    assert capsys.readouterr().out == ""


def test_loading_and_generating_are_quiet_in_a_fresh_process():
    """One stdout line, nothing on stderr (no load report, no pad-token warning from generate)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    for var in ("COURSE_OFFLINE", "TRANSFORMERS_OFFLINE"):  # HF_HUB_OFFLINE alone must do
        env.pop(var, None)
    code = (
        "import sys\n"
        "import course_utils\n"
        "assert 'torch' not in sys.modules, 'import course_utils must stay light'\n"
        "from course_utils.models import load_language_model\n"
        "model, tokenizer = load_language_model(device='cpu')\n"
        "ids = tokenizer('Maria thanked Tom because', return_tensors='pt')\n"
        "out = model.generate(**ids, max_new_tokens=4, do_sample=False)\n"
        "assert out.shape == (1, ids['input_ids'].shape[1] + 4), out.shape\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [EMBEDDED_LINE]


def test_not_built_yet_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "ASSETS_DIR", tmp_path)  # as if nothing were built
    with pytest.raises(FileNotFoundError) as error:
        load_language_model(offline=True, verbose=False)
    message = str(error.value)
    assert "The embedded model 'gpt2' is not built yet" in message
    assert "scripts/build_embedded_models.py --only gpt2`" in message
    assert "openai-community/gpt2" in message


def test_hub_failure_falls_back_to_the_embedded_model(monkeypatch, capsys):
    def hub_down(spec):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(models, "_load_from_hub", hub_down)
    model, _ = load_language_model(offline=False, device="cpu")
    assert type(model).__name__ == "GPT2LMHeadModel" and not model.training
    assert capsys.readouterr().out.splitlines() == [
        "Loaded gpt2: embedded tiny GPT-2 language model (hub failed: OSError) from course_utils/assets/gpt2-lm"
    ]


def test_online_path_uses_the_hub_id_and_the_pinned_revision(monkeypatch, capsys):
    calls = []
    embedded = str(models.embedded_path("gpt2"))
    real = models._from_pretrained

    def recording(model_source, tokenizer_source, **kwargs):
        calls.append((model_source, tokenizer_source, kwargs))
        return real(embedded, embedded, local_files_only=True, task="causal-lm")  # stand-in for the download

    monkeypatch.setattr(models, "_from_pretrained", recording)
    model, tokenizer = load_language_model(offline=False, device="cpu")
    pinned = {"revision": SPEC.revision, "tokenizer_revision": SPEC.revision, "task": "causal-lm"}
    assert calls == [(SPEC.hub_id, SPEC.hub_id, pinned)]
    assert capsys.readouterr().out == f"Loaded gpt2: {SPEC.hub_id}@{SPEC.revision} from the Hugging Face hub\n"
    assert not model.training and tokenizer.pad_token_id == model.config.pad_token_id == 50256
