#!/usr/bin/env python
"""Train the embedded models under ``course_utils/assets/`` (seeded, CPU, offline).

    python scripts/build_embedded_models.py                  # every model
    python scripts/build_embedded_models.py --only gpt2-imdb
    python scripts/build_embedded_models.py --only gpt2      # Lab 5's causal language model

Each embedded model is a miniature of its hub model: the hub model's own tokenizer (GPT-2's
byte-level BPE or bert-base-uncased's WordPiece, from ``course_utils/assets/tokenizers/``,
written by ``scripts/convert_tokenizers.py``), the same ``transformers`` architecture class,
far fewer layers and dimensions, trained from scratch on a generated corpus (``course_utils.reviews``,
``course_utils.climate`` or ``course_utils.continuations``). A classifier's folder is loadable with
``AutoModelForSequenceClassification`` / ``AutoTokenizer.from_pretrained`` and carries a model card
(``README.md``) with the figures of ``course_utils.model_cards``, which ``tests/test_models.py``
recomputes. The language model's folder (``gpt2-lm``) loads with ``AutoModelForCausalLM``; its
card's figures are computed here (``language_model_figures``) and recomputed independently by
``tests/test_language_model.py`` -- not in ``course_utils``, since a continuation's teacher-forced
log-probability is one of Lab 5's exercises.

How a model is trained (``build``):

1. the corpus' train split, minus a calibration tenth, tokenized word by word so that any word
   can be masked at token level;
2. soft-target cross-entropy with AdamW. Most examples keep their (drawn, sometimes wrong)
   label. The others are LIME-style perturbations: a random share of their words is masked
   the way the labs mask (a neutral token per piece or per word, [MASK], [PAD], deletion),
   and the target is the corpus' label model on what is left -- so that "masked" means
   "this evidence is gone" to the model, as it does for a model trained on real text;
3. temperature scaling (Guo et al., 2017) on the calibration tenth, folded into the
   classifier's last layer, so the saved model is an ordinary checkpoint;
4. float16 weights on disk (the loader reads them as float32), the figures, the card.

How the language model is trained (``build_language_model``): a ``GPT2LMHeadModel`` with tied
embeddings reads each training prompt followed by its target text; next-token cross-entropy on
the target text's tokens (the target weighted more) and on a random share of the prompt's, AdamW,
warm-up then decay; float16 on disk. Its card reports held-out perplexity and, per kind, the share
of held-out prompts where log p(target) > log p(contrast), the same on their counterfactuals (cue
words swapped), and the mean probabilities of both answers.

Running a builder twice gives byte-identical files (fixed seeds, one CPU thread, deterministic
torch algorithms).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("COURSE_OFFLINE", "1")  # building never needs the hub

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    GPT2Tokenizer,
)

from course_utils import model_cards  # noqa: E402
from course_utils.climate import climate_examples  # noqa: E402
from course_utils.data import load_continuations  # noqa: E402
from course_utils.labels import GeneratedExample, split_indices  # noqa: E402
from course_utils.models import ASSETS_DIR, LANGUAGE_MODELS, MODELS, quiet_transformers  # noqa: E402
from course_utils.reviews import review_examples  # noqa: E402

SEED = 0
CORPUS_SIZE = 25_000  # texts drawn for training (the train split, 80 %); figures use model_cards.EVAL_N
CALIBRATION_SHARE = 0.1  # of the train split, held back for temperature scaling
TOKENIZERS_DIR = ASSETS_DIR / "tokenizers"
# Files kept in the embedded folders; anything else save_pretrained writes is dropped.
KEEP_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed every generator training touches and make torch pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def folder_size(folder: Path, names: Iterable[str] = KEEP_FILES) -> int:
    """Total bytes of the model files in ``folder``."""
    return sum((folder / name).stat().st_size for name in names if (folder / name).is_file())


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of the model files (not the card)."""
    digest = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.name in KEEP_FILES:
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def fresh_folder(folder: Path) -> Path:
    """Empty ``folder`` (only ever a folder inside course_utils/assets)."""
    if ASSETS_DIR.resolve() not in folder.resolve().parents:
        raise ValueError(f"refusing to clear {folder}: not inside {ASSETS_DIR}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into ``(input_ids, attention_mask)``."""
    width = max(map(len, rows))
    input_ids = torch.tensor([list(r) + [pad_id] * (width - len(r)) for r in rows])
    attention_mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return input_ids, attention_mask


@torch.no_grad()
def logits_of(model: torch.nn.Module, rows: Sequence[Sequence[int]], pad_id: int, batch_size: int = 256) -> torch.Tensor:
    """Logits for already tokenized inputs (model in eval mode)."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        input_ids, attention_mask = pad_batch(rows[start:start + batch_size], pad_id)
        out.append(model(input_ids=input_ids, attention_mask=attention_mask).logits.float())
    return torch.cat(out)


# --------------------------------------------------------------------------------------
# The hub tokenizers
# --------------------------------------------------------------------------------------
def hub_tokenizer(kind: str):
    """GPT-2's or bert-base-uncased's tokenizer, from the converted files (no download)."""
    quiet_transformers()
    if kind == "gpt2":
        return GPT2Tokenizer.from_pretrained(str(TOKENIZERS_DIR / "gpt2"), model_max_length=1024)
    tokenizer_class = {"distilbert": DistilBertTokenizer, "bert": BertTokenizer}[kind]
    return tokenizer_class.from_pretrained(str(TOKENIZERS_DIR / "bert-base-uncased"), model_max_length=512)


def save_tokenizer(tokenizer, folder: Path) -> None:
    """save_pretrained, then a compact tokenizer.json and a config without loading details."""
    tokenizer.save_pretrained(folder)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"), pretty=False)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only", "name_or_path"):
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Word-aligned encodings and LIME-style augmentation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """Token ids of one whitespace word: its letters (``core``) and trailing punctuation."""

    core: tuple[int, ...]
    punct: tuple[int, ...]


@dataclass(frozen=True)
class Encoded:
    words: tuple[Word, ...]
    example: GeneratedExample


def encode(tokenizer, example: GeneratedExample) -> Encoded:
    """Tokenize word by word so that any word can be masked at token level.

    Byte-level BPE and WordPiece never merge across a space or between letters and sentence
    punctuation, so the word pieces concatenate to exactly the full encoding; checked.
    """
    words = []
    for i, word in enumerate(example.words):
        core = word.rstrip(".,?:")
        prefix = " " if i else ""  # GPT-2 style: the space belongs to the next token
        core_ids = tokenizer(prefix + core, add_special_tokens=False)["input_ids"]
        punct_ids = tokenizer(word[len(core):], add_special_tokens=False)["input_ids"] if word != core else []
        words.append(Word(tuple(core_ids), tuple(punct_ids)))
    encoded = Encoded(tuple(words), example)
    if flatten(encoded.words) != tokenizer(example.text, add_special_tokens=False)["input_ids"]:
        raise AssertionError(f"word-by-word tokenization differs for {example.text!r}")
    return encoded


@dataclass(frozen=True)
class Mask:
    """How a masked word is written: one ``token_id`` per piece, one for the whole word, or
    deleted (``token_id`` None), as LIME's text explainer removes words from the string."""

    token_id: int | None
    per_piece: bool = True


def flatten(words: Iterable[Word], masked: Iterable[bool] | None = None, mask: Mask = Mask(0)) -> list[int]:
    """Token ids of ``words``; a masked word's letters are written as ``mask`` says."""
    ids: list[int] = []
    for word, hide in zip(words, masked if masked is not None else itertools.repeat(False)):
        if not hide:
            ids += word.core
        elif mask.token_id is not None:
            ids += [mask.token_id] * (len(word.core) if mask.per_piece else 1)
        ids += word.punct
    return ids


def special_wrapper(tokenizer) -> Callable[[list[int]], list[int]]:
    """Adds what the tokenizer puts around a text: [CLS] ... [SEP] for BERT, nothing for GPT-2."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        return lambda ids: list(ids)
    return lambda ids: [cls_id, *ids, sep_id]


Featurize = Callable[[Encoded, random.Random], tuple[list[int], list[float]]]


def lime_featurizer(masks: Sequence[Mask], *, p_perturb: float, max_ratio: float, wrap, num_labels: int,
                    soft_labels: bool = False) -> Featurize:
    """Training inputs and soft targets.

    With probability ``1 - p_perturb`` the text as it is, with its one-hot (drawn) label. Else
    a perturbation like LIME's: each word masked with a probability drawn up to ``max_ratio``
    (at least one word), written in one of ``masks``' styles, and the label model's
    distribution for the words that remain as target.
    """

    def featurize(encoded: Encoded, rng: random.Random) -> tuple[list[int], list[float]]:
        example = encoded.example
        if rng.random() >= p_perturb:
            if soft_labels:  # the label model's distribution instead of the label drawn from it
                return wrap(flatten(encoded.words)), list(example.probabilities())
            target = [0.0] * num_labels
            target[example.label] = 1.0
            return wrap(flatten(encoded.words)), target
        ratio = rng.uniform(0.05, max_ratio)
        masked = [rng.random() < ratio for _ in encoded.words]
        if not any(masked):
            masked[rng.randrange(len(masked))] = True
        target = list(example.probabilities([not m for m in masked]))
        return wrap(flatten(encoded.words, masked, rng.choice(masks))), target

    return featurize


def warmup_then_decay(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate: linear warm-up over the first tenth of ``steps``, then linear decay to 0."""
    warmup = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / (steps - warmup)))
    )


def train_classifier(model: torch.nn.Module, examples: Sequence[Encoded], featurize: Featurize, *, pad_id: int,
                     epochs: int, batch_size: int, lr: float, weight_decay: float, seed: int) -> list[float]:
    """Plain torch loop: AdamW, linear warm-up then decay, padded batches, soft targets.

    ``featurize(example, rng)`` is called afresh every epoch. Returns each epoch's mean loss.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = warmup_then_decay(optimizer, epochs * ((len(examples) + batch_size - 1) // batch_size))
    order_rng = torch.Generator().manual_seed(seed)
    augment_rng = random.Random(seed)
    history = []
    model.train()
    for _ in range(epochs):
        losses = []
        for batch_index in torch.randperm(len(examples), generator=order_rng).split(batch_size):
            rows, targets = zip(*(featurize(examples[i], augment_rng) for i in batch_index.tolist()))
            input_ids, attention_mask = pad_batch(rows, pad_id)
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            loss = -(torch.tensor(targets) * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    model.eval()
    return history


def fit_temperature(logits: torch.Tensor, labels: Sequence[int]) -> float:
    """The temperature T that minimises the NLL of ``softmax(logits / T)`` (grid, deterministic)."""
    labels_t = torch.tensor(list(labels))
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 801))
    losses = [float(torch.nn.functional.cross_entropy(logits / t, labels_t)) for t in grid]
    return float(grid[int(np.argmin(losses))])


def classifier_layers(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The layers whose output are the logits: GPT-2's ``score``; BERT's / DistilBERT's ``classifier``."""
    return [model.score] if hasattr(model, "score") else [model.classifier]


@torch.no_grad()
def fold_temperature(model: torch.nn.Module, temperature: float) -> None:
    """logits / T, written into the last layer's weight and bias."""
    for layer in classifier_layers(model):
        layer.weight.div_(temperature)
        if layer.bias is not None:
            layer.bias.div_(temperature)


def masking_check(model, tokenizer, encoded: Sequence[Encoded], mask: Mask) -> dict[str, float]:
    """Mean fall of the predicted class's probability when one rationale word / one other word is masked."""
    rng = random.Random(SEED)
    wrap, pad_id = special_wrapper(tokenizer), tokenizer.pad_token_id
    chosen = []
    for e in encoded:
        flagged = [i for i, f in enumerate(e.example.rationale) if f]
        others = [i for i, r in enumerate(e.example.roles) if r == "other"]
        if flagged and others:
            chosen.append((e, rng.choice(flagged), rng.choice(others)))
    original = [wrap(flatten(e.words)) for e, _, _ in chosen]
    p0 = torch.softmax(logits_of(model, original, pad_id), -1)
    predicted = p0.argmax(-1)
    rows = torch.arange(len(chosen))
    figures = {}
    for what, pick in (("rationale", 1), ("other", 2)):
        masked = [wrap(flatten(c[0].words, [i == c[pick] for i in range(len(c[0].words))], mask)) for c in chosen]
        p1 = torch.softmax(logits_of(model, masked, pad_id), -1)
        figures[f"drop_{what}"] = float((p0[rows, predicted] - p1[rows, predicted]).mean())
    return figures


def label_model_figures(examples: Sequence[GeneratedExample]) -> dict[str, float]:
    """The card's calibration figures for the corpus' own label model (the best possible model)."""
    probs = np.array([e.probabilities() for e in examples])
    labels = np.array([e.label for e in examples])
    top = probs.max(axis=1)
    return {"accuracy": float((probs.argmax(1) == labels).mean()), "median_top_probability": float(np.median(top)),
            "share_below_0.8": float((top < 0.8).mean()),
            "ece": model_cards.expected_calibration_error(probs, labels)}


# --------------------------------------------------------------------------------------
# The three models
# --------------------------------------------------------------------------------------
@dataclass
class Recipe:
    name: str
    tokenizer_kind: str
    examples: Callable[[int, int], list[GeneratedExample]]
    make_model: Callable[[object, dict], torch.nn.Module]
    hyperparameters: dict
    architecture: str  # one line for the card
    split_examples: tuple[str, ...] = ()  # words whose tokenization the card shows
    notes: list[str] = field(default_factory=list)


def gpt2_model(tokenizer, hp: dict) -> GPT2ForSequenceClassification:
    eos_id = tokenizer.eos_token_id
    labels = MODELS["gpt2-imdb"].labels
    return GPT2ForSequenceClassification(GPT2Config(
        vocab_size=len(tokenizer), n_positions=hp["n_positions"], n_embd=hp["n_embd"], n_layer=hp["n_layer"],
        n_head=hp["n_head"], bos_token_id=eos_id, eos_token_id=eos_id,
        pad_token_id=eos_id,  # GPT2ForSequenceClassification reads the last non-pad token
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification", use_cache=False,
    ))


def distilbert_model(tokenizer, hp: dict) -> DistilBertForSequenceClassification:
    labels = MODELS["distilbert-imdb"].labels
    return DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(tokenizer), max_position_embeddings=512, dim=hp["dim"], n_layers=hp["n_layers"],
        n_heads=hp["n_heads"], hidden_dim=hp["hidden_dim"], dropout=hp["train_dropout"],
        attention_dropout=hp["attention_dropout"], seq_classif_dropout=hp["train_dropout"],
        pad_token_id=tokenizer.pad_token_id, id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, problem_type="single_label_classification",
    ))


def bert_model(tokenizer, hp: dict) -> BertForSequenceClassification:
    labels = MODELS["bert-climate"].labels
    return BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=hp["hidden_size"], num_hidden_layers=hp["num_hidden_layers"],
        num_attention_heads=hp["num_attention_heads"], intermediate_size=hp["intermediate_size"],
        max_position_embeddings=512, hidden_dropout_prob=hp["dropout"],
        attention_probs_dropout_prob=hp.get("attention_dropout", hp["dropout"]),
        type_vocab_size=2, pad_token_id=tokenizer.pad_token_id, id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, problem_type="single_label_classification",
    ))


TRAINING = {"epochs": 12, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.01, "p_perturb": 0.35, "max_ratio": 0.6}

RECIPES: dict[str, Recipe] = {
    "gpt2-imdb": Recipe(
        "gpt2-imdb", "gpt2", review_examples, gpt2_model,
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 1024, **TRAINING, "epochs": 10},
        "`GPT2ForSequenceClassification`, 2 layers, 4 heads, n_embd 32, 1024 positions "
        "(GPT-2 small: 12 layers, 12 heads, n_embd 768)",
        ("unwatchable", "cinematography", "forgettable", "superb", "mediocre"),
    ),
    "distilbert-imdb": Recipe(
        "distilbert-imdb", "distilbert", review_examples, distilbert_model,
        {"dim": 32, "n_layers": 2, "n_heads": 8, "hidden_dim": 128, "train_dropout": 0.0, "attention_dropout": 0.1,
         "dropout": 0.1,
         **TRAINING, "epochs": 14},
        "`DistilBertForSequenceClassification`, 2 layers, 8 heads, dim 32, hidden_dim 128, 512 positions "
        "(DistilBERT base: 6 layers, 12 heads, dim 768)",
        ("unwatchable", "forgettable", "mediocre", "tedious", "cinematography", "superb"),
    ),
    "bert-climate": Recipe(
        "bert-climate", "bert", climate_examples, bert_model,
        {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 8, "intermediate_size": 192,
         "dropout": 0.1, "attention_dropout": 0.2, **TRAINING, "epochs": 18, "p_perturb": 0.25, "soft_labels": True},
        "`BertForSequenceClassification`, 2 layers, 8 heads, hidden 48, intermediate 192, 512 positions, "
        "4 labels anti / neutral / pro / news (BERT base: 12 layers, 12 heads, hidden 768)",
        ("undeniable", "overblown", "overhyped", "alarmist", "unaffordable", "accelerating", "priority"),
    ),
}


def mask_styles(tokenizer, kind: str) -> list[Mask]:
    """How the labs remove a word: Lab 1 writes GPT-2's " the" per token (or lime's "the" per
    word); BERT labs use [MASK] per piece or per word, "the", deletion (lime) and [PAD] (captum)."""
    if kind == "gpt2":
        space_the = tokenizer.convert_tokens_to_ids("Ġthe")
        return [Mask(space_the), Mask(space_the, per_piece=False), Mask(tokenizer.eos_token_id), Mask(None)]
    mask_id = tokenizer.mask_token_id
    return [Mask(mask_id), Mask(mask_id, per_piece=False), Mask(tokenizer.convert_tokens_to_ids("the")), Mask(None),
            Mask(tokenizer.pad_token_id)]


def train(recipe: Recipe, seed: int = SEED, **overrides) -> tuple[torch.nn.Module, object, dict]:
    """Train and calibrate ``recipe``'s model in memory; returns it, its tokenizer and figures."""
    hp = {**recipe.hyperparameters, **overrides}
    seed_everything(seed)
    torch.set_num_threads(1)  # one thread: identical float sums, hence identical weights
    started = time.perf_counter()
    tokenizer = hub_tokenizer(recipe.tokenizer_kind)
    examples = recipe.examples(CORPUS_SIZE, seed)
    train_split = [examples[i] for i in split_indices(CORPUS_SIZE, "train")]
    n_calibration = int(len(train_split) * CALIBRATION_SHARE)
    fit, calibration = train_split[:-n_calibration], train_split[-n_calibration:]
    encoded = [encode(tokenizer, e) for e in fit]
    model = recipe.make_model(tokenizer, hp)
    wrap = special_wrapper(tokenizer)
    featurize = lime_featurizer(mask_styles(tokenizer, recipe.tokenizer_kind), p_perturb=hp["p_perturb"],
                                max_ratio=hp["max_ratio"], wrap=wrap, num_labels=model.config.num_labels,
                                soft_labels=hp.get("soft_labels", False))
    pad_id = tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    history = train_classifier(model, encoded, featurize, pad_id=pad_id,
                               epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"],
                               weight_decay=hp["weight_decay"], seed=seed)
    calibration_rows = [wrap(flatten(encode(tokenizer, e).words)) for e in calibration]
    logits = logits_of(model, calibration_rows, pad_id)
    temperature = fit_temperature(logits, [e.label for e in calibration])
    fold_temperature(model, temperature)
    if "train_dropout" in hp or hp.get("attention_dropout", hp.get("dropout")) != hp.get("dropout"):
        # trained with other dropout than the hub model's; saved with the hub model's, so train() mode shows
        for key in ("dropout", "attention_dropout", "seq_classif_dropout", "hidden_dropout_prob",
                    "attention_probs_dropout_prob"):
            if hasattr(model.config, key):
                setattr(model.config, key, hp["dropout"])
    figures = {"train_examples": len(fit), "calibration_examples": len(calibration), "temperature": temperature,
               "final_train_loss": history[-1], "train_seconds": time.perf_counter() - started}
    return model, tokenizer, figures


def evaluate(model, tokenizer, recipe: Recipe) -> dict:
    """The card's figures (model_cards.card_figures) and the label model's ceiling on the same set."""
    evaluation = model_cards.evaluation_set(recipe.name)
    figures = model_cards.card_figures(model, tokenizer, evaluation)
    examples = recipe.examples(model_cards.EVAL_N, SEED)
    held_out = [examples[i] for i in split_indices(model_cards.EVAL_N, "test")]
    figures["ceiling"] = label_model_figures(held_out)
    encoded = [encode(tokenizer, e) for e in held_out[:500]]
    figures.update(masking_check(model, tokenizer, encoded, mask_styles(tokenizer, recipe.tokenizer_kind)[0]))
    return figures


def write_card(folder: Path, recipe: Recipe, report: dict, tokenizer) -> None:
    hp = recipe.hyperparameters
    ceiling = report["ceiling"]
    corpus = "load_climate" if recipe.name == "bert-climate" else "load_reviews"
    tokenizer_name = "GPT-2's byte-level BPE (openai-community/gpt2)" if recipe.tokenizer_kind == "gpt2" \
        else "bert-base-uncased's WordPiece"
    hub = MODELS[recipe.name].hub_id
    rows = [
        ("held-out accuracy", report["accuracy"], ceiling["accuracy"]),
        ("median top-class probability", report["median_top_probability"], ceiling["median_top_probability"]),
        ("share of predictions with top-class probability < 0.8", report["share_below_0.8"], ceiling["share_below_0.8"]),
        ("expected calibration error (15 bins)", report["ece"], ceiling["ece"]),
    ]
    reader = "the last token (what GPT-2's classifier reads)" if recipe.tokenizer_kind == "gpt2" else "[CLS]"
    split = [f"- `{w}` -> `{' '.join(tokenizer.tokenize((' ' if recipe.tokenizer_kind == 'gpt2' else '') + w))}`"
             for w in recipe.split_examples]
    lines = [
        f"# Embedded {recipe.name}: a miniature of `{hub}`",
        "",
        f"{recipe.architecture}, with {tokenizer_name} tokenizer: the same {len(tokenizer):,} token ids, special",
        "tokens and splits as the hub model, so whatever a lab says about tokens holds online and offline",
        "(tokenizer files and their licence: `course_utils/assets/tokenizers/`). Trained from scratch on the",
        f"generated corpus (`course_utils.data.{corpus}`, seed {SEED}, train split of {CORPUS_SIZE:,} texts:",
        f"{report['train_examples']:,} to train, {report['calibration_examples']:,} to calibrate), so it has",
        "only ever seen the few thousand token ids of that corpus; the others keep their random initial",
        "embeddings. It is meant for the corpus' kind of text.",
        "",
        f"How: soft-target cross-entropy with AdamW; {hp['p_perturb']:.0%} of the training inputs are LIME-style perturbations",
        "(words masked as the labs mask them, target = the corpus' label model on what is left), so that a",
        "masked word means \"this evidence is gone\"; the other inputs are the texts as they are, with "
        + ("the label model's\nclass probabilities as targets (distillation from the corpus' generator: a 4-class model this small\n"
           "gets within 1.5 points of the ceiling that way, 3-4 points below it from the drawn labels);"
           if hp.get("soft_labels") else "their drawn\nlabels as targets;"),
        "then temperature scaling on the calibration texts",
        f"(T = {report['temperature']:.3f}, folded into the classifier layer); weights stored as float16.",
        *(["Trained with attention dropout only (a model this small fits the corpus better without the",
           f"others; attention dropout keeps its attention spread); the saved config has the hub model's {hp['dropout']}",
           "everywhere, so the model in train() mode differs from eval() mode as the hub model does."]
          if "train_dropout" in hp else []),
        *([f"Trained with attention dropout {hp['attention_dropout']} (it keeps the [CLS] attention spread over the",
           f"post); the saved config has the hub model's {hp['dropout']} everywhere."]
          if "train_dropout" not in hp and hp.get("attention_dropout", hp["dropout"]) != hp["dropout"] else []),
        "",
        f"## Figures on held-out data ({report['examples']:,} texts of `{corpus}(n={model_cards.EVAL_N}, split=\"test\")`)",
        "",
        "Recomputed by `tests/test_models.py` (`course_utils.model_cards`). The label model is the corpus'",
        "own generator: the best any classifier can do on these texts (labels are drawn, some are wrong).",
        "",
        "| figure | this model | label model |",
        "|---|---|---|",
        *[f"| {label} | {value:.3f} | {best:.3f} |" for label, value, best in rows],
        f"| {model_cards.CARD_FIGURES['attention_top_two_share']} | {report['attention_top_two_share']:.3f} | |",
        "",
        f"The attention figure is the median, over the first {model_cards.EVAL_ATTENTION_TEXTS} texts, of the share of",
        f"the two most attended tokens in the last layer's attention from {reader}, averaged over heads",
        "(1 = all attention on two tokens).",
        "",
        "| property | value |",
        "|---|---|",
        f"| parameters | {report['parameters']:,} |",
        f"| size on disk | {report['size_bytes'] / 1e6:.2f} MB: weights {report['weights_bytes'] / 1e6:.2f} MB "
        f"(float16; {report['embedding_share']:.0%} of the parameters are the vocabulary's embeddings), "
        f"tokenizer {report['tokenizer_bytes'] / 1e6:.2f} MB |",
        f"| predicted-class probability drop, one rationale word masked | {report['drop_rationale']:.3f} |",
        f"| predicted-class probability drop, one other word masked | {report['drop_other']:.3f} |",
        f"| training | {hp['epochs']} epochs, batch {hp['batch_size']}, lr {hp['lr']}, one CPU thread, "
        f"{report['train_seconds']:.0f} s |",
        f"| sha256 of the model files | `{report['sha256'][:16]}` |",
        "",
        "Words of the corpus in pieces, as in the hub model:",
        "",
        *split,
        "",
        f"Rebuild (same files byte for byte on the same platform): "
        f"`python scripts/build_embedded_models.py --only {recipe.name}`",
    ]
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(name: str, seed: int = SEED) -> dict:
    """Train, calibrate, save (float16), reload as the labs do, measure, write the card."""
    from course_utils.models import load_classifier

    recipe = RECIPES[name]
    model, tokenizer, report = train(recipe, seed)
    folder = fresh_folder(ASSETS_DIR / MODELS[name].embedded_dir)
    model.half().save_pretrained(folder)  # the loader reads float16 weights as float32
    save_tokenizer(tokenizer, folder)
    for f in folder.iterdir():
        if f.name not in KEEP_FILES:
            f.unlink()
        else:
            f.chmod(0o644)  # safetensors writes 0600; a shared install must be able to read it

    # Everything below uses the saved files, loaded exactly as the labs load them.
    model, reloaded = load_classifier(name, offline=True, device="cpu", verbose=False)
    if reloaded("The movie was great.")["input_ids"] != tokenizer("The movie was great.")["input_ids"]:
        raise AssertionError("the saved tokenizer differs from the hub tokenizer")
    report.update(evaluate(model, reloaded, recipe))
    parameters = sum(p.numel() for p in model.parameters())
    embeddings = model.get_input_embeddings().weight.numel()
    report.update(parameters=parameters, embedding_share=embeddings / parameters,
                  size_bytes=folder_size(folder), weights_bytes=folder_size(folder, ["model.safetensors"]),
                  tokenizer_bytes=folder_size(folder, ["tokenizer.json", "tokenizer_config.json"]),
                  sha256=folder_digest(folder))
    write_card(folder, recipe, report, reloaded)
    for key, value in report.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return report


# --------------------------------------------------------------------------------------
# The causal language model (Lab 5)
# --------------------------------------------------------------------------------------
LM_NAME = "gpt2"  # its name in course_utils.models.LANGUAGE_MODELS
LM_CORPUS_SIZE = 60_000  # load_continuations(n=...): its train split is what the model reads
LM_EVAL_N = 5_000  # the card's held-out prompts: the test split of load_continuations(n=LM_EVAL_N)
LM_HYPERPARAMETERS = {"n_embd": 32, "n_layer": 4, "n_head": 4, "n_positions": 1024, "dropout": 0.1,
                      "train_dropout": 0.0, "target_weight": 5.0, "prompt_share": 0.25, "epochs": 1,
                      "batch_size": 32, "lr": 5e-3, "weight_decay": 0.01}


def lm_architecture(hp: dict) -> str:
    """One line for the card."""
    return (f"`GPT2LMHeadModel`, {hp['n_layer']} layers, {hp['n_head']} heads, n_embd {hp['n_embd']}, "
            f"{hp['n_positions']} positions, input and output embeddings tied (GPT-2 small: 12 layers, 12 heads, "
            "n_embd 768, 1024 positions, tied)")


def language_model(tokenizer, hp: dict, dropout: float) -> GPT2LMHeadModel:
    """A miniature GPT-2 small: same class, vocabulary, positions and tied embeddings, far smaller."""
    eos_id = tokenizer.eos_token_id
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=hp["n_positions"], n_embd=hp["n_embd"], n_layer=hp["n_layer"],
        n_head=hp["n_head"], resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        bos_token_id=eos_id, eos_token_id=eos_id, tie_word_embeddings=True,
    ))


def continuation_rows(tokenizer, examples) -> tuple[list[list[int]], list[int]]:
    """Token ids of each example's whole text -- its prompt, then its ``target_text`` (the target
    and the rest of its sentence), the text the model is trained on -- and where its target is
    (the number of prompt tokens).

    ``examples``: rows of ``load_continuations`` (dicts). The target text starts with a space, so
    its tokens follow the prompt's unchanged, and its first token is the target: checked.
    """
    prompts, tails = [e["prompt"] for e in examples], [e["target_text"] for e in examples]
    prompt_ids, tail_ids = tokenizer(prompts)["input_ids"], tokenizer(tails)["input_ids"]
    whole = tokenizer([p + t for p, t in zip(prompts, tails)])["input_ids"]
    targets = tokenizer([e["target"] for e in examples])["input_ids"]
    rows = []
    for p_ids, t_ids, w_ids, target, prompt, tail in zip(prompt_ids, tail_ids, whole, targets, prompts, tails):
        if p_ids + t_ids != w_ids or t_ids[:1] != target:
            raise AssertionError(f"prompt and target text do not tokenize apart: {prompt!r} + {tail!r}")
        rows.append(p_ids + t_ids)
    return rows, [len(ids) for ids in prompt_ids]


def next_token_loss(model: GPT2LMHeadModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean cross-entropy of real tokens after the first, given the ones before them.

    ``weights[b, t]`` weighs token t of row b; a token of weight 0 is left out. With all weights 1
    this is what ``model(..., labels=...).loss`` computes, but the output layer (50,257 outputs:
    most of the cost) only runs where a weighed real next token is predicted.
    """
    hidden = model.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    weights = weights[:, 1:] * attention_mask[:, 1:]  # position t predicts token t + 1
    predicted = weights > 0
    logits = model.lm_head(hidden[:, :-1][predicted])
    losses = torch.nn.functional.cross_entropy(logits, input_ids[:, 1:][predicted], reduction="none")
    return (losses * weights[predicted]).sum() / weights[predicted].sum()


def token_weights(rows: Sequence[Sequence[int]], target_at: Sequence[int], *, target_weight: float,
                  prompt_share: float, rng: random.Random) -> torch.Tensor:
    """Which tokens a batch learns to predict, and how much each counts; padded like ``pad_batch``.

    Every token of the target text (the target counts ``target_weight``, the rest of its sentence
    1) and a random ``prompt_share`` of the prompt's tokens (1 each): the prompt's words are mostly
    drawn at random by the grammar, so predicting all of them teaches little and costs most.
    """
    weights = torch.zeros(len(rows), max(map(len, rows)))
    for b, (row, at) in enumerate(zip(rows, target_at)):
        weights[b, :at] = torch.tensor([float(rng.random() < prompt_share) for _ in range(at)])
        weights[b, at:len(row)] = 1.0
        weights[b, at] = target_weight
    return weights


def train_language_model(model: GPT2LMHeadModel, rows: Sequence[Sequence[int]], target_at: Sequence[int], *,
                         pad_id: int, target_weight: float, prompt_share: float, epochs: int, batch_size: int,
                         lr: float, weight_decay: float, seed: int) -> list[float]:
    """Next-token cross-entropy on the tokens ``token_weights`` picks afresh for each batch;
    AdamW, warm-up then decay.

    Returns each epoch's mean loss.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = warmup_then_decay(optimizer, epochs * ((len(rows) + batch_size - 1) // batch_size))
    order_rng = torch.Generator().manual_seed(seed)
    pick_rng = random.Random(seed)
    history = []
    model.train()
    for _ in range(epochs):
        losses = []
        for batch_index in torch.randperm(len(rows), generator=order_rng).split(batch_size):
            batch = batch_index.tolist()
            weights = token_weights([rows[i] for i in batch], [target_at[i] for i in batch],
                                    target_weight=target_weight, prompt_share=prompt_share, rng=pick_rng)
            loss = next_token_loss(model, *pad_batch([rows[i] for i in batch], pad_id), weights)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    model.eval()
    return history


@torch.no_grad()
def teacher_forced_logprobs(model, rows: Sequence[Sequence[int]], pad_id: int,
                            batch_size: int = 32) -> list[np.ndarray]:
    """Teacher forcing: ``log p(row[t] | row[:t])`` for t = 1 .. len(row) - 1, for each row.

    Rows are right-padded, so each real token sees the same positions and context as alone.
    """
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        input_ids, attention_mask = pad_batch(chunk, pad_id)
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        # The logits at position t are the distribution of the token at t + 1.
        next_logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        out += [next_logp[i, :len(row) - 1].numpy() for i, row in enumerate(chunk)]
    return out


@torch.no_grad()
def answer_logprobs(model, prompt_rows: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], pad_id: int,
                    batch_size: int = 64) -> np.ndarray:
    """``[N, k]``: log p(answer | prompt) of each of a prompt's k one-token answers."""
    model.eval()
    out = []
    for start in range(0, len(prompt_rows), batch_size):
        chunk = prompt_rows[start:start + batch_size]
        input_ids, attention_mask = pad_batch(chunk, pad_id)
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        last = torch.tensor([len(row) - 1 for row in chunk])
        logp = torch.log_softmax(logits[torch.arange(len(chunk)), last], dim=-1)
        out.append(logp.gather(-1, torch.tensor([list(a) for a in answers[start:start + batch_size]])).numpy())
    return np.concatenate(out)


def language_model_figures(model, tokenizer, examples: Sequence[dict]) -> dict:
    """The card's figures on held-out examples (rows of ``load_continuations``): per kind and for all.

    A prompt is right when log p(target | prompt) > log p(contrast | prompt). Its counterfactual
    (the cue words swapped for their counterparts) makes the contrast right: a model that reads
    the cue then prefers the contrast, one that ignores it keeps its answer. The perplexity is
    over every token of the held-out texts (prompt + target text) but the first, which nothing
    predicts.
    """
    pad_id = tokenizer.pad_token_id
    answers = [ids_t + ids_c for ids_t, ids_c in zip(tokenizer([e["target"] for e in examples])["input_ids"],
                                                      tokenizer([e["contrast"] for e in examples])["input_ids"])]
    if any(len(a) != 2 for a in answers):
        raise AssertionError("every target and contrast must be one token")
    logp = answer_logprobs(model, tokenizer([e["prompt"] for e in examples])["input_ids"], answers, pad_id)
    swapped = answer_logprobs(model, tokenizer([e["counterfactual"] for e in examples])["input_ids"], answers,
                              pad_id)
    right, still_target = logp[:, 0] > logp[:, 1], swapped[:, 0] > swapped[:, 1]
    kinds = np.array([e["kind"] for e in examples])
    figures: dict = {"kinds": {}}
    for kind in [*sorted(set(kinds)), "all"]:
        rows = np.ones(len(examples), dtype=bool) if kind == "all" else kinds == kind
        figures["kinds"][kind] = {
            "prompts": int(rows.sum()),
            "cue_accuracy": float(right[rows].mean()),
            "swapped_target": float(still_target[rows].mean()),
            "both_right": float((right & ~still_target)[rows].mean()),
            "p_target": float(np.exp(logp[rows, 0]).mean()),
            "p_contrast": float(np.exp(logp[rows, 1]).mean()),
        }
    token_logp = np.concatenate(teacher_forced_logprobs(model, continuation_rows(tokenizer, examples)[0], pad_id))
    figures["perplexity"] = float(np.exp(-token_logp.mean()))
    figures["perplexity_tokens"] = int(token_logp.size)
    return figures


LM_COLUMNS = {  # key -> column of the card's table (values with 3 decimals)
    "cue_accuracy": "cue accuracy",
    "swapped_target": "target still preferred, cue swapped",
    "both_right": "right on prompt and counterfactual",
    "p_target": "mean p(target)",
    "p_contrast": "mean p(contrast)",
}


def write_language_model_card(folder: Path, report: dict, tokenizer) -> None:
    hp = LM_HYPERPARAMETERS
    spec = LANGUAGE_MODELS[LM_NAME]
    kinds = report["kinds"]
    table = [
        f"| kind | prompts | {' | '.join(LM_COLUMNS.values())} |",
        "|---|---|" + "---|" * len(LM_COLUMNS),
        *[f"| {kind} | {row['prompts']:,} | " + " | ".join(f"{row[key]:.3f}" for key in LM_COLUMNS) + " |"
          for kind, row in kinds.items()],
    ]
    lines = [
        f"# Embedded {LM_NAME}: a miniature of `{spec.hub_id}`",
        "",
        f"{lm_architecture(hp)}.",
        "",
        f"GPT-2's byte-level BPE tokenizer (openai-community/gpt2): the same {len(tokenizer):,} token ids, special",
        "tokens and splits as GPT-2 (the tokenizer files are the gpt2-imdb classifier's; their licence:",
        "`course_utils/assets/tokenizers/`), so whatever Lab 5 says about tokens holds online and offline.",
        "Trained from scratch as a language model -- next-token cross-entropy -- on the generated continuation corpus",
        f"(`course_utils.data.load_continuations(n={LM_CORPUS_SIZE}, split=\"train\", seed={SEED})`: "
        f"{report['train_texts']:,} texts, each a prompt",
        "followed by its `target_text`), in which the right next word is decided by an earlier cue word. So",
        "it has only ever seen the few hundred token ids of that corpus (the others share what training taught",
        "the output layer: they are never likely); it is meant for the corpus' kind of text.",
        "",
        f"How: every token of each target text is predicted, the target itself counting {hp['target_weight']:g} times",
        f"(the cue -> target dependencies are one token in twenty), and a random {hp['prompt_share']:.0%} of the",
        "prompt's tokens, drawn afresh for each batch (the grammar draws most prompt words at random: predicting",
        "all of them costs most of the time and teaches little); AdamW, linear warm-up then decay.",
        "",
        f"## Figures on held-out prompts ({kinds['all']['prompts']:,} prompts of "
        f"`load_continuations(n={LM_EVAL_N}, split=\"test\", seed={SEED})`)",
        "",
        "Recomputed by `tests/test_language_model.py`. *Cue accuracy*: the share of prompts where",
        "log p(target | prompt) > log p(contrast | prompt), the right and a wrong next token the corpus gives.",
        "*Cue swapped*: the same prompts with their cue word(s) swapped for their counterparts (the corpus'",
        "`counterfactual`: another word of the other polarity, a name of the other gender, the noun in the",
        "other number, another city...), for which the contrast is right: a model that reads the cue then",
        "prefers the contrast, so the target is *still preferred* on far fewer than half of them; one that",
        "ignored the cue would keep its answer. *Right on prompt and counterfactual*: the target on the prompt",
        "and the contrast on its counterfactual, which a model that ignores the cue never is (the two differ",
        "only in the cue). Mean p(target) and p(contrast): the model's next-token probabilities of the two, out",
        "of all 50,257 tokens.",
        "",
        *table,
        "",
        "| property | value |",
        "|---|---|",
        f"| held-out perplexity (prompt + target text, {report['perplexity_tokens']:,} predicted tokens) | "
        f"{report['perplexity']:.3f} |",
        f"| parameters | {report['parameters']:,} |",
        f"| size on disk | {report['size_bytes'] / 1e6:.2f} MB: weights {report['weights_bytes'] / 1e6:.2f} MB "
        f"(float16; {report['embedding_share']:.0%} of the parameters are the vocabulary's embeddings, "
        f"shared with the output layer), tokenizer {report['tokenizer_bytes'] / 1e6:.2f} MB |",
        f"| training | {hp['epochs']} epoch{'s' if hp['epochs'] > 1 else ''}, batch {hp['batch_size']}, "
        f"lr {hp['lr']}, dropout "
        f"{hp['train_dropout']} (saved config: GPT-2's {hp['dropout']}), one CPU thread, "
        f"{report['train_seconds']:.0f} s, final loss {report['final_train_loss']:.3f} |",
        f"| sha256 of the model files | `{report['sha256'][:16]}` |",
        "",
        f"Rebuild (same files byte for byte on the same platform): "
        f"`python scripts/build_embedded_models.py --only {LM_NAME}`",
    ]
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_lm(seed: int = SEED, **overrides) -> tuple[GPT2LMHeadModel, object, dict]:
    """Train the causal LM in memory; returns it (in float32), its tokenizer and training figures."""
    hp = {**LM_HYPERPARAMETERS, **overrides}
    seed_everything(seed)
    torch.set_num_threads(1)  # one thread: identical float sums, hence identical weights
    started = time.perf_counter()
    tokenizer = hub_tokenizer("gpt2")
    texts = load_continuations(n=LM_CORPUS_SIZE, split="train", seed=seed)
    rows, target_at = continuation_rows(tokenizer, texts)
    model = language_model(tokenizer, hp, hp["train_dropout"])
    history = train_language_model(model, rows, target_at, pad_id=tokenizer.eos_token_id,
                                   target_weight=hp["target_weight"], prompt_share=hp["prompt_share"],
                                   epochs=hp["epochs"], batch_size=hp["batch_size"],
                                   lr=hp["lr"], weight_decay=hp["weight_decay"], seed=seed)
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):  # saved with GPT-2's dropout, as the hub model has
        setattr(model.config, key, hp["dropout"])
    figures = {"train_texts": len(rows), "final_train_loss": history[-1],
               "train_seconds": time.perf_counter() - started, "train_prompts": set(texts["prompt"])}
    return model, tokenizer, figures


def build_language_model(seed: int = SEED) -> dict:
    """Train, save (float16), reload as Lab 5 does, measure, write the card."""
    from course_utils.models import load_language_model

    model, tokenizer, report = train_lm(seed)
    folder = fresh_folder(ASSETS_DIR / LANGUAGE_MODELS[LM_NAME].embedded_dir)
    model.half().save_pretrained(folder)  # ties input and output embeddings: one matrix on disk
    save_tokenizer(tokenizer, folder)
    for f in folder.iterdir():
        if f.name not in KEEP_FILES:  # generation_config.json too: GPT-2's is derived from config.json
            f.unlink()
        else:
            f.chmod(0o644)

    model, reloaded = load_language_model(LM_NAME, offline=True, device="cpu", verbose=False)
    if reloaded("The movie was great.")["input_ids"] != tokenizer("The movie was great.")["input_ids"]:
        raise AssertionError("the saved tokenizer differs from the hub tokenizer")
    held_out = load_continuations(n=LM_EVAL_N, split="test", seed=SEED)
    seen = report.pop("train_prompts")
    if any(e["prompt"] in seen for e in held_out):
        raise AssertionError("a held-out prompt is among the training texts")
    report.update(language_model_figures(model, reloaded, held_out))
    parameters = sum(p.numel() for p in model.parameters())
    report.update(parameters=parameters, embedding_share=model.get_input_embeddings().weight.numel() / parameters,
                  size_bytes=folder_size(folder), weights_bytes=folder_size(folder, ["model.safetensors"]),
                  tokenizer_bytes=folder_size(folder, ["tokenizer.json", "tokenizer_config.json"]),
                  sha256=folder_digest(folder))
    write_language_model_card(folder, report, reloaded)
    for key, value in report.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted([*RECIPES, LM_NAME]), help="build just this model")
    parser.add_argument("--seed", type=int, default=SEED, help="training seed (default %(default)s)")
    args = parser.parse_args(argv)
    for name in [args.only] if args.only else [*RECIPES, LM_NAME]:
        print(f"Building {name} ...")
        if name == LM_NAME:
            build_language_model(seed=args.seed)
            folder = LANGUAGE_MODELS[name].embedded_dir
        else:
            build(name, seed=args.seed)
            folder = MODELS[name].embedded_dir
        print(f"  -> {(ASSETS_DIR / folder).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
