#!/usr/bin/env python
"""Train the tiny embedded models under ``course_utils/assets/`` (seeded, CPU, offline).

    python scripts/build_embedded_models.py                  # every model that has a builder
    python scripts/build_embedded_models.py --only gpt2-imdb

Each model has one ``build_<name>()`` function that writes a folder loadable with
``AutoModelForSequenceClassification.from_pretrained`` / ``AutoTokenizer.from_pretrained``
and returns its figures (size, accuracy, time), which also go into the folder's TRAINING.md.
Running a builder twice gives byte-identical files (fixed seeds, one CPU thread,
deterministic torch algorithms).

Models: gpt2-imdb (byte-level BPE, review corpus), distilbert-imdb (WordPiece uncased, review
corpus) and bert-climate (WordPiece uncased, 4 labels, climate corpus).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import shutil
import string
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("COURSE_OFFLINE", "1")  # building never needs the hub

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2Tokenizer,
)

from course_utils import data  # noqa: E402
from course_utils.models import ASSETS_DIR, MODELS  # noqa: E402

SEED = 0
CORPUS_SIZE = 8000  # reviews drawn by load_reviews for training and evaluation
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


def folder_size(folder: Path) -> int:
    """Total bytes of the files in ``folder``."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of the model files (not TRAINING.md)."""
    digest = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.name in KEEP_FILES:
            digest.update(f.name.encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def prune_folder(folder: Path) -> None:
    """Remove files save_pretrained writes that from_pretrained does not need."""
    for f in folder.iterdir():
        if f.name not in KEEP_FILES:
            f.unlink()
        else:
            f.chmod(0o644)  # safetensors writes 0600; a shared install must be able to read it


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
def predict_ids(model: torch.nn.Module, rows: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128) -> np.ndarray:
    """Class probabilities for already tokenized inputs."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        input_ids, attention_mask = pad_batch(rows[start : start + batch_size], pad_id)
        out.append(torch.softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1))
    return torch.cat(out).numpy()


@torch.no_grad()
def predict_proba(model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """Class probabilities for ``texts`` through the tokenizer's own padding, as the labs do."""
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True, return_tensors="pt")
        out.append(torch.softmax(model(**batch).logits, dim=-1))
    return torch.cat(out).numpy()


def accuracy(model: torch.nn.Module, tokenizer, dataset) -> float:
    """Share of ``dataset`` rows classified correctly (nan for an empty dataset)."""
    if len(dataset) == 0:
        return float("nan")
    probs = predict_proba(model, tokenizer, dataset["text"])
    return float((probs.argmax(axis=1) == np.asarray(dataset["label"])).mean())


Featurize = Callable[[object, random.Random], tuple[list[int], list[float]]]


def train_classifier(
    model: torch.nn.Module,
    examples: Sequence[object],
    featurize: Featurize,
    *,
    pad_id: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> list[float]:
    """Plain torch loop: AdamW, linear warm-up then decay, padded batches, soft targets.

    ``featurize(example, rng)`` returns the token ids and the target class distribution of
    one (possibly augmented) example; it is called afresh every epoch. Soft targets let an
    augmented example with its evidence removed ask for "no opinion" (uniform). Returns the
    mean loss of each epoch.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(examples) + batch_size - 1) // batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / (steps - warmup)))
    )
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


# --------------------------------------------------------------------------------------
# Review corpus: word-aligned encodings, augmentation, masking check (all review models)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """Token ids of one whitespace word: its letters (``core``) and trailing punctuation."""

    core: tuple[int, ...]
    punct: tuple[int, ...]
    role: str  # "evidence" (sentiment word), "negation", "contrast" ("but") or "other"


@dataclass(frozen=True)
class EncodedReview:
    words: tuple[Word, ...]
    rationale: tuple[int, ...]
    label: int


def word_role(word: str) -> str:
    core = data.normalize_word(word)
    if core in data.POSITIVE_WORDS or core in data.NEGATIVE_WORDS:
        return "evidence"
    if core in data.NEGATIONS:
        return "negation"
    return "contrast" if core == data.CONTRAST_WORD else "other"


def encode_review(tokenizer, row: dict, roles: Sequence[str] | None = None) -> EncodedReview:
    """Tokenize word by word so that any word can be masked at token level.

    Byte-level BPE (and WordPiece) never merge across a space or between letters and
    punctuation, so the word pieces concatenate to exactly the full encoding; checked.
    ``roles`` (one per word) defaults to ``word_role`` of the review grammar.
    """
    words = []
    text_words = row["text"].split()
    for i, word in enumerate(text_words):
        core = word.rstrip(".,?:")
        prefix = " " if i else ""  # GPT-2 style: the space belongs to the next token
        core_ids = tokenizer(prefix + core, add_special_tokens=False)["input_ids"]
        punct_ids = tokenizer(word[len(core) :], add_special_tokens=False)["input_ids"] if word != core else []
        role = roles[i] if roles is not None else word_role(word)
        words.append(Word(tuple(core_ids), tuple(punct_ids), role))
    review = EncodedReview(tuple(words), tuple(row["rationale"]), int(row["label"]))
    if flatten(review.words) != tokenizer(row["text"], add_special_tokens=False)["input_ids"]:
        raise AssertionError(f"word-by-word tokenization differs for {row['text']!r}")
    return review


@dataclass(frozen=True)
class Mask:
    """How a masked word is written: one ``token_id`` per piece, one for the whole word, or
    deleted (``token_id`` None), as LIME's text explainer removes words from the string."""

    token_id: int | None
    per_piece: bool = True


def flatten(words: Iterable[Word], masked: Iterable[bool] | None = None, mask_id: int | Mask = 0) -> list[int]:
    """Token ids of ``words``; masked words get ``mask_id`` for each of their letter tokens.

    A ``Mask`` instead of an int can replace a multi-piece word by a single token (what a
    text-level "[MASK]" substitution gives) or delete it.
    """
    mask = mask_id if isinstance(mask_id, Mask) else Mask(mask_id)
    ids: list[int] = []
    for word, hide in zip(words, masked if masked is not None else itertools.repeat(False)):
        if not hide:
            ids += word.core
        elif mask.token_id is not None:
            ids += [mask.token_id] * (len(word.core) if mask.per_piece else 1)
        ids += word.punct
    return ids


def review_featurizer(
    mask_ids: Sequence[int | Mask],
    *,
    p_remove_evidence: float,
    p_mask_others: float,
    p_word: float,
    wrap: Callable[[list[int]], list[int]] | None = None,
    num_labels: int = 2,
) -> Featurize:
    """Augmentation that teaches the model what a LIME perturbation means.

    LIME replaces tokens with a neutral token. With probability ``p_mask_others`` some
    words that do not matter (subjects, fillers, intensifiers: role "other") are replaced
    and the label is kept. With probability ``p_remove_evidence`` some sentiment words are
    replaced too (each with probability 1/2, at least one): the label stays if a deciding
    sentiment word survives, otherwise the target is uniform (no evidence, no opinion).
    Negations and "but" are never masked: without them the label is undefined.
    Without this, the model stays confidently positive when the sentiment word is gone,
    and LIME finds little to explain on positive reviews. ``wrap`` adds special tokens
    (BERT's [CLS] ... [SEP]) around each example; ``num_labels`` sizes the targets.
    """
    add_specials = wrap or (lambda ids: ids)

    def featurize(review: object, rng: random.Random) -> tuple[list[int], list[float]]:
        assert isinstance(review, EncodedReview)
        target = [0.0] * num_labels
        target[review.label] = 1.0
        draw = rng.random()
        if draw >= p_remove_evidence + p_mask_others:
            return add_specials(flatten(review.words)), target
        masked = [w.role == "other" and rng.random() < p_word for w in review.words]
        if draw < p_remove_evidence:
            evidence = [i for i, w in enumerate(review.words) if w.role == "evidence"]
            removed = {i for i in evidence if rng.random() < 0.5} or {rng.choice(evidence)}
            for i in removed:
                masked[i] = True
            if not any(review.rationale[i] and i not in removed for i in evidence):
                target = [1.0 / num_labels] * num_labels
        return add_specials(flatten(review.words, masked, rng.choice(mask_ids))), target

    return featurize


def special_wrapper(tokenizer) -> Callable[[list[int]], list[int]]:
    """Adds what the tokenizer puts around a text: [CLS] ... [SEP] for BERT, nothing for GPT-2."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        return lambda ids: list(ids)
    return lambda ids: [cls_id, *ids, sep_id]


def masking_check(model, tokenizer, reviews: Sequence[EncodedReview], mask_tokens: Sequence[str]) -> dict[str, float]:
    """How the model reacts when words are replaced by a neutral token, as LIME does.

    For each mask token: the fall of the predicted-class probability when one rationale
    word / one unimportant word is masked, and p(positive) when every sentiment word is
    masked (should be near 0.5). With more than two classes, the last figure is the total
    variation distance between the prediction and the uniform distribution (0 = no opinion),
    which for two classes equals |p(positive) - 0.5|. Prints a few examples.
    """
    rng = random.Random(SEED)
    pad_id = tokenizer.pad_token_id
    wrap = special_wrapper(tokenizer)
    figures: dict[str, float] = {}
    chosen = [
        (rng.choice([i for i, f in enumerate(r.rationale) if f]),
         rng.choice([i for i, w in enumerate(r.words) if w.role == "other"]))
        for r in reviews
    ]
    original = [wrap(flatten(r.words)) for r in reviews]
    p0 = predict_ids(model, original, pad_id)
    predicted = p0.argmax(axis=1)
    rows = np.arange(len(reviews))
    for token in mask_tokens:
        mask_id = tokenizer.convert_tokens_to_ids(token)

        def masked(review: EncodedReview, which: Callable[[int, Word], bool]) -> list[int]:
            return wrap(flatten(review.words, [which(i, w) for i, w in enumerate(review.words)], mask_id))

        one_decisive = [masked(r, lambda i, w, k=k: i == k) for r, (k, _) in zip(reviews, chosen)]
        one_other = [masked(r, lambda i, w, k=k: i == k) for r, (_, k) in zip(reviews, chosen)]
        no_evidence = [masked(r, lambda i, w: w.role == "evidence") for r in reviews]
        p1, p2, p3 = (predict_ids(model, x, pad_id) for x in (one_decisive, one_other, no_evidence))
        drop_decisive = float((p0[rows, predicted] - p1[rows, predicted]).mean())
        drop_other = float((p0[rows, predicted] - p2[rows, predicted]).mean())
        n_classes = p3.shape[1]
        if n_classes == 2:
            neutral_gap = float(np.abs(p3[:, 1] - 0.5).mean())
            gap_name = "all sentiment words masked: mean |p(positive) - 0.5|"
        else:
            neutral_gap = float((0.5 * np.abs(p3 - 1.0 / n_classes).sum(axis=1)).mean())
            gap_name = "all cue words masked: mean distance to uniform"
        print(f"  mask token {token!r} on {len(reviews)} test examples: predicted-class probability falls by "
              f"{drop_decisive:.3f} (one rationale word) vs {drop_other:.3f} (one other word); "
              f"{gap_name} = {neutral_gap:.3f}")
        figures[f"drop_rationale[{token}]"] = drop_decisive
        figures[f"drop_other[{token}]"] = drop_other
        figures[f"no_evidence_gap[{token}]"] = neutral_gap
        short = [i for i in rows if sum(reviews[i].rationale) <= 2][:3]
        for i in short:
            before = tokenizer.decode(original[i])
            after = tokenizer.decode(one_decisive[i])
            k = 1 if n_classes == 2 else predicted[i]
            name = "p(positive)" if n_classes == 2 else f"p(class {k})"
            print(f"    {name} {p0[i, k]:.3f} -> {p1[i, k]:.3f}: {before!r} -> {after!r}")
    return figures


# --------------------------------------------------------------------------------------
# gpt2-imdb: byte-level BPE + tiny GPT2ForSequenceClassification on the review corpus
# --------------------------------------------------------------------------------------
GPT2_EOS = "<|endoftext|>"


def grammar_words() -> list[str]:
    """Every word the review grammar can produce, lower-case and capitalised."""
    phrases = [
        *data.SUBJECTS, *data.VERBS, *data.NEGATED_VERB_PHRASES, *data.INTENSIFIERS,
        *data.POSITIVE_WORDS, *data.NEGATIVE_WORDS, *data.LEAD_FILLERS, *data.TRAIL_FILLERS,
        *data.NEUTRAL_SENTENCES, data.CONTRAST_WORD,
    ]
    words = sorted({data.normalize_word(w) for p in phrases for w in p.split()} - {"i"}) + ["I"]
    return words + [w.capitalize() for w in words if w != "I"]


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, max_length: int) -> GPT2Tokenizer:
    """Byte-level BPE like GPT-2's ('Ġ' marks a leading space), as a transformers tokenizer.

    The full 256-byte initial alphabet means any string (emoji, "<script>", unseen words)
    tokenizes without an unknown token. Each grammar word is also fed on its own, with
    and without a leading space, so both "the" and " the" become single tokens.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[GPT2_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    words = grammar_words()
    extra = words + [" " + w for w in words]
    backend.train_from_iterator(list(texts) + extra, trainer=trainer)
    # transformers 5: GPT2Tokenizer(vocab_file=...) silently builds an empty vocabulary;
    # handing over the trained backend object is the reliable way.
    tokenizer = GPT2Tokenizer(
        tokenizer_object=backend,
        bos_token=GPT2_EOS,
        eos_token=GPT2_EOS,
        unk_token=GPT2_EOS,
        pad_token=GPT2_EOS,
        model_max_length=max_length,
    )
    return tokenizer


def check_tokenizer(tokenizer, reloaded) -> None:
    """Fail loudly if the saved tokenizer differs from the trained one or lacks key tokens."""
    samples = [
        "The movie was not great but the ending was brilliant.",
        "the", " the", "Honestly, I think it was boring. Bye.",
        "Ünïcödé ✨🎬 <script>alert('x')</script> supercalifragilistic",
        f"two{GPT2_EOS}texts",
    ]
    for text in samples:
        ids = tokenizer(text)["input_ids"]
        if reloaded(text)["input_ids"] != ids:
            raise AssertionError(f"saved tokenizer differs from the trained one on {text!r}")
        if reloaded.decode(ids) != text:
            raise AssertionError(f"decode(encode(x)) != x for {text!r}")
    for word in ("the", " the", " great", " not"):
        if len(reloaded(word)["input_ids"]) != 1:
            raise AssertionError(f"{word!r} should be a single token")
    if reloaded.unk_token_id is not None and any(
        reloaded.unk_token_id == i for i in reloaded("🎬 <script> ½")["input_ids"]
    ):
        raise AssertionError("byte-level tokenizer produced an unknown token")


def write_training_md(folder: Path, title: str, lines: Sequence[str]) -> None:
    (folder / "TRAINING.md").write_text(f"# {title}\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


# Chosen for robustness, not just for seed 0: with these, seeds 0-3 all reach >= 0.994
# held-out accuracy. 2 heads / 8 epochs stalled at ~0.96 (negation half learnt) on some
# corpora, and lr 3e-3 stalled at ~0.86.
GPT2_HYPERPARAMETERS = {
    "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
    "epochs": 10, "batch_size": 32, "lr": 1e-3, "weight_decay": 0.01,
    # augmentation, see review_featurizer
    "p_remove_evidence": 0.2, "p_mask_others": 0.25, "p_word": 0.3,
}


def train_gpt2_imdb(seed: int = SEED, **overrides: float) -> tuple[GPT2ForSequenceClassification, GPT2Tokenizer, dict]:
    """Train tokenizer and model in memory; returns them with training figures."""
    hp = {**GPT2_HYPERPARAMETERS, **overrides}
    seed_everything(seed)
    torch.set_num_threads(1)  # one thread: identical float sums, hence identical weights
    started = time.perf_counter()
    # 8000 reviews -> 6400 train / 1600 held out; with half as many, training sometimes
    # stalled before it learned negation.
    train = data.load_reviews(n=CORPUS_SIZE, seed=seed, split="train", source="generated")
    # Longest review: 25 words, about 40 tokens; the rest leaves room for appended text.
    tokenizer = train_bpe_tokenizer(train["text"], vocab_size=2000, max_length=int(hp["n_positions"]))
    eos_id = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=int(hp["n_positions"]),
        n_embd=int(hp["n_embd"]),
        n_layer=int(hp["n_layer"]),
        n_head=int(hp["n_head"]),
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,  # GPT2ForSequenceClassification reads the last non-pad token
        id2label=dict(enumerate(MODELS["gpt2-imdb"].labels)),
        label2id={label: i for i, label in enumerate(MODELS["gpt2-imdb"].labels)},
        problem_type="single_label_classification",
        use_cache=False,
    )
    model = GPT2ForSequenceClassification(config)
    reviews = [encode_review(tokenizer, row) for row in train]
    # Mask tokens LIME-style code is likely to use: "the", " the" and the pad/eos token.
    mask_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("the", "Ġthe")] + [eos_id]
    featurize = review_featurizer(
        mask_ids, p_remove_evidence=hp["p_remove_evidence"], p_mask_others=hp["p_mask_others"], p_word=hp["p_word"]
    )
    history = train_classifier(
        model, reviews, featurize, pad_id=eos_id, epochs=int(hp["epochs"]), batch_size=int(hp["batch_size"]),
        lr=hp["lr"], weight_decay=hp["weight_decay"], seed=seed,
    )
    figures = {
        "train_examples": len(train),
        "final_train_loss": history[-1],
        "train_seconds": time.perf_counter() - started,
    }
    return model, tokenizer, figures


def evaluate_review_model(
    model, tokenizer, seed: int = SEED, mask_tokens: Sequence[str] = ("the", "Ġthe")
) -> dict[str, object]:
    """Held-out accuracy (overall, negated, mixed) and the masking check."""
    test = data.load_reviews(n=CORPUS_SIZE, seed=seed, split="test", source="generated")
    negated, mixed = test.filter(data.is_negated), test.filter(data.is_mixed)
    figures: dict[str, object] = {
        "test_examples": len(test),
        "test_accuracy": accuracy(model, tokenizer, test),
        "negated_examples": len(negated),
        "negated_accuracy": accuracy(model, tokenizer, negated),
        "mixed_examples": len(mixed),
        "mixed_accuracy": accuracy(model, tokenizer, mixed),
    }
    for key, value in figures.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    reviews = [encode_review(tokenizer, test[i]) for i in range(300)]
    figures.update(masking_check(model, tokenizer, reviews, mask_tokens=mask_tokens))
    return figures


def build_gpt2_imdb(seed: int = SEED) -> dict[str, object]:
    """Tiny GPT-2 sentiment classifier on the generated review corpus -> assets/gpt2-imdb."""
    from course_utils.models import load_classifier

    spec = MODELS["gpt2-imdb"]
    folder = fresh_folder(ASSETS_DIR / spec.embedded_dir)
    model, tokenizer, report = train_gpt2_imdb(seed)
    model.save_pretrained(folder)  # transformers 5 always writes safetensors
    tokenizer.save_pretrained(folder)
    prune_folder(folder)

    # Everything below uses the saved files, loaded exactly as the labs load them.
    load_started = time.perf_counter()
    model, reloaded = load_classifier("gpt2-imdb", offline=True, device="cpu", verbose=False)
    report["load_seconds"] = time.perf_counter() - load_started
    check_tokenizer(tokenizer, reloaded)
    report.update(
        size_bytes=folder_size(folder),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(reloaded),
        sha256=folder_digest(folder),
    )
    for key, value in report.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    report.update(evaluate_review_model(model, reloaded, seed))

    hp = GPT2_HYPERPARAMETERS
    write_training_md(folder, "Embedded gpt2-imdb", [
        f"Tiny `GPT2ForSequenceClassification` ({hp['n_layer']} layers, {hp['n_head']} heads, "
        f"n_embd {hp['n_embd']}, {hp['n_positions']} positions) and a byte-level BPE tokenizer,",
        "both trained from scratch on the generated review corpus",
        f"(`course_utils.data.load_reviews(n={CORPUS_SIZE}, seed={seed}, source=\"generated\")`, train split).",
        "Figures are on its test split, which no train split of that seed contains.",
        "Training masks unimportant words (label kept) and some sentiment words (label kept while",
        "a deciding one survives, else target 50/50) with \"the\", \" the\" or the pad token, so",
        "that LIME-style masking means \"this evidence is gone\" to the model.",
        "",
        "Rebuild (1-2 minutes on one CPU thread; same files byte for byte on the same platform):",
        "`python scripts/build_embedded_models.py --only gpt2-imdb`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seed | {seed} |",
        f"| parameters | {report['parameters']:,} |",
        f"| vocabulary | {report['vocab_size']} tokens |",
        f"| size on disk | {report['size_bytes'] / 1e6:.2f} MB (float32 safetensors) |",
        f"| held-out accuracy | {report['test_accuracy']:.3f} ({report['test_examples']} test reviews) |",
        f"| negated reviews | {report['negated_accuracy']:.3f} ({report['negated_examples']}) |",
        f"| mixed \"but\" reviews | {report['mixed_accuracy']:.3f} ({report['mixed_examples']}) |",
        f"| predicted-class probability drop, one rationale word -> \"the\" | {report['drop_rationale[the]']:.3f} |",
        f"| predicted-class probability drop, one other word -> \"the\" | {report['drop_other[the]']:.3f} |",
        f"| every sentiment word -> \"the\": mean abs(p(positive) - 0.5) | {report['no_evidence_gap[the]']:.3f} |",
        f"| sha256 of the model files | `{report['sha256'][:16]}` |",
    ])
    return report


# --------------------------------------------------------------------------------------
# WordPiece (uncased) tokenizers and checks shared by the BERT-family models
# --------------------------------------------------------------------------------------
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4; [PAD] = 0 as in BERT
# Every printable ASCII character is in the vocabulary both word-initially and as a '##'
# continuation, so any ASCII word tokenizes without [UNK] (at worst letter by letter).
ASCII_ALPHABET = tuple(string.ascii_lowercase + string.digits + string.punctuation)


def learn_wordpiece_vocab(texts: Sequence[str], max_piece_length: int) -> dict[str, int]:
    """Uncased WordPiece vocabulary of ``texts``: BPE merges with a '##' continuation prefix.

    The tokenizers library's ``WordPieceTrainer`` is exactly this (a BPE trainer with the
    '##' prefix whose vocabulary a WordPiece model then uses); calling the BPE trainer
    directly gives access to its ``max_token_length``. The generated corpora have only a
    hundred-odd distinct words, so an uncapped trainer runs out of merges with every word
    whole; capping the piece length keeps long words in '##' pieces ("disappointing" ->
    "disap ##poin ##ting"), as a real 30k vocabulary does with rarer words.

    Determinism: the trainer numbers '##x' continuation pieces in the order it meets them in
    a hash map, and breaks ties between equally frequent merges by those numbers, so the
    vocabulary changed from run to run. Declaring every '##x' up front (as special tokens
    of the trainer only) fixes their numbers; the result is checked by training twice.
    """
    continuations = ["##" + c for c in ASCII_ALPHABET]
    vocabs = []
    for _ in range(2):
        learner = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
        learner.normalizer = bert_normalizer()
        learner.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.BpeTrainer(
            vocab_size=100_000,  # never reached: training stops when no pair is left to merge
            special_tokens=[*BERT_SPECIALS, *continuations],
            initial_alphabet=list(ASCII_ALPHABET),
            continuing_subword_prefix="##",
            max_token_length=max_piece_length,
            show_progress=False,
        )
        learner.train_from_iterator(list(texts), trainer=trainer)
        vocabs.append(learner.get_vocab())
    if vocabs[0] != vocabs[1]:
        raise AssertionError("the WordPiece vocabulary differs between two identical trainings")
    vocab = vocabs[0]
    if [vocab[t] for t in BERT_SPECIALS] != list(range(len(BERT_SPECIALS))):
        raise AssertionError("special tokens must have ids 0-4")
    return vocab


def bert_normalizer() -> normalizers.Normalizer:
    """BERT uncased: clean control characters, space out CJK, strip accents, lower-case."""
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)


def train_wordpiece_tokenizer(
    texts: Iterable[str], *, max_piece_length: int, model_max_length: int, tokenizer_class: type
):
    """A transformers BERT-family tokenizer on a WordPiece vocabulary learnt from ``texts``.

    BERT's layout: BertNormalizer(lowercase), BertPreTokenizer, WordPiece decoder,
    "[CLS] $A [SEP]" template; [PAD] = 0, [UNK] = 1, [CLS] = 2, [SEP] = 3, [MASK] = 4.
    """
    vocab = learn_wordpiece_vocab(list(texts), max_piece_length)
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = bert_normalizer()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    backend.add_special_tokens(list(BERT_SPECIALS))  # "[MASK]" typed in a text is one token
    pad, unk, cls, sep, mask = BERT_SPECIALS
    return tokenizer_class(
        tokenizer_object=backend,
        do_lower_case=True,
        pad_token=pad, unk_token=unk, cls_token=cls, sep_token=sep, mask_token=mask,
        model_max_length=model_max_length,
    )


def split_words(tokenizer, words: Iterable[str]) -> dict[str, list[str]]:
    """The words (lower-cased, punctuation stripped; letters only) the tokenizer cuts into pieces."""
    pieces = {}
    for word in sorted({w for w in map(data.normalize_word, words) if w.isalpha()}):
        tokens = tokenizer.tokenize(word)
        if len(tokens) > 1:
            pieces[word] = tokens
    return pieces


def check_wordpiece_tokenizer(
    tokenizer, reloaded, texts: Sequence[str], must_split: Sequence[str], single: Sequence[str] = ()
) -> None:
    """Fail loudly unless the saved tokenizer is the trained one and behaves like BERT's."""
    ascii_odd = "Zebra <script>alert('x')</script> supercalifragilistic 42% {json}: ~tilde~"
    samples = [*texts, ascii_odd, "Ünïcödé ✨🎬 text", "two [MASK] words [SEP] here", "", "the"]
    for text in samples:
        ids = tokenizer(text)["input_ids"]
        if reloaded(text)["input_ids"] != ids:
            raise AssertionError(f"saved tokenizer differs from the trained one on {text!r}")
        if ids[0] != reloaded.cls_token_id or ids[-1] != reloaded.sep_token_id:
            raise AssertionError(f"[CLS] ... [SEP] expected around {text!r}")
    for text in [*texts, ascii_odd]:
        ids = reloaded(text)["input_ids"]
        if reloaded.unk_token_id in ids:
            raise AssertionError(f"[UNK] in an ASCII text: {text!r}")
        # BERT's decoder leaves spaces around most punctuation ("# climate"): compare without.
        decoded = reloaded.decode(ids, skip_special_tokens=True)
        if text in texts and decoded.replace(" ", "") != text.lower().replace(" ", ""):
            raise AssertionError(f"decode(encode(x)) loses characters of {text!r}: {decoded!r}")
        encoding = reloaded(text, return_offsets_mapping=True)
        for token, (start, end) in zip(reloaded.convert_ids_to_tokens(encoding["input_ids"]), encoding["offset_mapping"]):
            if token not in BERT_SPECIALS and text[start:end].lower() != token.removeprefix("##"):
                raise AssertionError(f"offset mapping of {token!r} in {text!r} points at {text[start:end]!r}")
    for word in ("the", "[MASK]", "[PAD]", *single):
        if len(reloaded(word, add_special_tokens=False)["input_ids"]) != 1:
            raise AssertionError(f"{word!r} should be a single token")
    if reloaded.pad_token_id != 0 or reloaded.model_max_length != tokenizer.model_max_length:
        raise AssertionError("pad id must be 0 and model_max_length must survive the reload")
    whole = [w for w in must_split if len(reloaded.tokenize(w)) == 1]
    if whole:
        raise AssertionError(f"these words should split into '##' pieces but are whole: {whole}")
    long_text = " ".join(["great"] * (reloaded.model_max_length + 200))
    if len(reloaded(long_text, truncation=True)["input_ids"]) != reloaded.model_max_length:
        raise AssertionError("truncation=True should cut at model_max_length")


@torch.no_grad()
def check_bert_classifier(model, tokenizer, texts: Sequence[str]) -> dict[str, float]:
    """Attentions, padding invariance and max_length truncation, as the labs use them.

    Returns the largest logit difference a padded batch shows against the texts run alone.
    """
    model.eval()
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    if (batch["attention_mask"] == 0).sum() == 0:
        raise AssertionError("the check needs texts of different lengths")
    out = model(**batch, output_attentions=True)
    n_layers = len(out.attentions)
    seq = batch["input_ids"].shape[1]
    heads = model.config.num_attention_heads  # DistilBERT's config maps these to n_heads / n_layers
    if n_layers != model.config.num_hidden_layers:
        raise AssertionError("one attention tensor per layer expected")
    for layer in out.attentions:
        if tuple(layer.shape) != (len(texts), heads, seq, seq):
            raise AssertionError(f"attention shape {tuple(layer.shape)}")
        torch.testing.assert_close(layer.sum(-1), torch.ones(len(texts), heads, seq))
    alone = torch.cat([model(**tokenizer(t, return_tensors="pt")).logits for t in texts])
    padding_gap = float((out.logits - alone).abs().max())
    if padding_gap > 1e-4:
        raise AssertionError(f"padding changes the logits by {padding_gap}")
    long_text = " ".join(["The movie was great."] * 200)  # 800 words
    enc = tokenizer(long_text, truncation=True, max_length=512, return_tensors="pt")
    if enc["input_ids"].shape[1] != 512 or model(**enc).logits.shape != (1, model.config.num_labels):
        raise AssertionError("a 512-token input must run")
    return {"padding_max_logit_gap": padding_gap}


def bert_mask_styles(tokenizer) -> list[Mask]:
    """What LIME-style code does to a masked word in a BERT input.

    [MASK] for every piece (token-level masking, Lab 4's mask_top_k), one [MASK] for the
    word (text-level "[MASK]" substitution), "the", the word deleted (the lime package's
    text explainer), and [PAD] in place (an all-[PAD] baseline, as Integrated Gradients uses).
    """
    mask_id = tokenizer.mask_token_id
    return [
        Mask(mask_id), Mask(mask_id, per_piece=False),
        Mask(tokenizer.convert_tokens_to_ids("the")),
        Mask(None),
        Mask(tokenizer.pad_token_id),
    ]


def tokenization_examples(tokenizer, words: Sequence[str]) -> list[str]:
    return [f"`{w}` -> `{' '.join(tokenizer.tokenize(w))}`" for w in words]


# --------------------------------------------------------------------------------------
# distilbert-imdb: WordPiece uncased + tiny DistilBertForSequenceClassification on reviews
# --------------------------------------------------------------------------------------
# Chosen for robustness across seeds: with these, seeds 0-3 reach 0.992-0.999 held-out
# accuracy (negated >= 0.985). Batches of 32 stalled at 0.983-0.985 (negated ~0.965) for
# seed 0, with 10 or 15 epochs; no dropout did not help.
DISTILBERT_HYPERPARAMETERS = {
    "dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 128, "max_position_embeddings": 512,
    "dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.1,
    "epochs": 10, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.01,
    "max_piece_length": 7,  # longest vocabulary entry (letters); see train_wordpiece_tokenizer
    # augmentation, see review_featurizer and bert_mask_styles
    "p_remove_evidence": 0.2, "p_mask_others": 0.25, "p_word": 0.3,
}
# Words of the review corpus the tokenizer must cut into '##' pieces (checked at build time).
DISTILBERT_MUST_SPLIT = ("cinematography", "soundtrack", "predictable", "disappointing", "forgettable")


def train_distilbert_imdb(
    seed: int = SEED, **overrides: float
) -> tuple[DistilBertForSequenceClassification, DistilBertTokenizer, dict]:
    """Train tokenizer and model in memory; returns them with training figures."""
    hp = {**DISTILBERT_HYPERPARAMETERS, **overrides}
    seed_everything(seed)
    torch.set_num_threads(1)  # one thread: identical float sums, hence identical weights
    started = time.perf_counter()
    train = data.load_reviews(n=CORPUS_SIZE, seed=seed, split="train", source="generated")
    tokenizer = train_wordpiece_tokenizer(
        train["text"], max_piece_length=int(hp["max_piece_length"]),
        model_max_length=int(hp["max_position_embeddings"]), tokenizer_class=DistilBertTokenizer,
    )
    labels = MODELS["distilbert-imdb"].labels
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=int(hp["max_position_embeddings"]),
        dim=int(hp["dim"]),
        n_layers=int(hp["n_layers"]),
        n_heads=int(hp["n_heads"]),
        hidden_dim=int(hp["hidden_dim"]),
        dropout=hp["dropout"],
        attention_dropout=hp["attention_dropout"],
        seq_classif_dropout=hp["seq_classif_dropout"],
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
    )
    model = DistilBertForSequenceClassification(config)
    reviews = [encode_review(tokenizer, row) for row in train]
    featurize = review_featurizer(
        bert_mask_styles(tokenizer), p_remove_evidence=hp["p_remove_evidence"],
        p_mask_others=hp["p_mask_others"], p_word=hp["p_word"], wrap=special_wrapper(tokenizer),
    )
    history = train_classifier(
        model, reviews, featurize, pad_id=tokenizer.pad_token_id, epochs=int(hp["epochs"]),
        batch_size=int(hp["batch_size"]), lr=hp["lr"], weight_decay=hp["weight_decay"], seed=seed,
    )
    figures = {
        "train_examples": len(train),
        "final_train_loss": history[-1],
        "train_seconds": time.perf_counter() - started,
    }
    return model, tokenizer, figures


def build_distilbert_imdb(seed: int = SEED) -> dict[str, object]:
    """Tiny DistilBERT sentiment classifier on the generated review corpus -> assets/distilbert-imdb."""
    from course_utils.models import load_classifier

    spec = MODELS["distilbert-imdb"]
    folder = fresh_folder(ASSETS_DIR / spec.embedded_dir)
    model, tokenizer, report = train_distilbert_imdb(seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    prune_folder(folder)

    # Everything below uses the saved files, loaded exactly as the labs load them.
    load_started = time.perf_counter()
    model, reloaded = load_classifier("distilbert-imdb", offline=True, device="cpu", verbose=False)
    report["load_seconds"] = time.perf_counter() - load_started
    test = data.load_reviews(n=CORPUS_SIZE, seed=seed, split="test", source="generated")
    check_wordpiece_tokenizer(
        tokenizer, reloaded, list(test["text"][:300]), DISTILBERT_MUST_SPLIT, (*data.NEGATIONS, data.CONTRAST_WORD)
    )
    train_text = data.load_reviews(n=CORPUS_SIZE, seed=seed, split="train", source="generated")["text"]
    pieces = split_words(reloaded, (w for t in train_text for w in t.split()))
    report.update(check_bert_classifier(model, reloaded, list(test["text"][:8])))
    report.update(
        size_bytes=folder_size(folder),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(reloaded),
        corpus_words=len({data.normalize_word(w) for t in train_text for w in t.split()}),
        split_words=len(pieces),
        sha256=folder_digest(folder),
    )
    for key, value in report.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    print("  words in pieces:", "; ".join(" ".join(p) for p in pieces.values()))
    report.update(evaluate_review_model(model, reloaded, seed, mask_tokens=("[MASK]", "the", "[PAD]")))

    hp = DISTILBERT_HYPERPARAMETERS
    examples = tokenization_examples(reloaded, [*DISTILBERT_MUST_SPLIT, "delightful", "unwatchable"])
    write_training_md(folder, "Embedded distilbert-imdb", [
        f"Tiny `DistilBertForSequenceClassification` ({hp['n_layers']} layers, {hp['n_heads']} heads, "
        f"dim {hp['dim']}, hidden_dim {hp['hidden_dim']}, {hp['max_position_embeddings']} positions) and an",
        "uncased WordPiece tokenizer (BERT's normalizer, pre-tokenizer and `[CLS] $A [SEP]` template),",
        "both trained from scratch on the generated review corpus",
        f"(`course_utils.data.load_reviews(n={CORPUS_SIZE}, seed={seed}, source=\"generated\")`, train split).",
        "Figures are on its test split, which no train split of that seed contains.",
        "",
        f"The corpus has only {report['corpus_words']} distinct words, so an uncapped WordPiece trainer ends",
        f"with every word whole. Vocabulary entries are capped at {hp['max_piece_length']} letters instead, so",
        f"{report['split_words']} of those words come in `##` pieces, as rarer words do in a real BERT vocabulary;",
        "every ASCII character is in the vocabulary on its own and as `##` piece, so no ASCII word",
        "becomes [UNK]. Examples:",
        "",
        *[f"- {line}" for line in examples],
        "",
        "Training masks unimportant words (label kept) and some sentiment words (label kept while",
        "a deciding one survives, else target 50/50), writing a masked word as [MASK] per piece,",
        "one [MASK], \"the\", [PAD], or deleting it, so that LIME-style masking means",
        "\"this evidence is gone\" to the model. Padded batches with attention masks throughout;",
        "padding never changes a prediction when the attention mask is passed.",
        "",
        "Rebuild (about 2 minutes on one CPU thread; same files byte for byte on the same platform):",
        "`python scripts/build_embedded_models.py --only distilbert-imdb`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seed | {seed} |",
        f"| parameters | {report['parameters']:,} |",
        f"| vocabulary | {report['vocab_size']} tokens |",
        f"| size on disk | {report['size_bytes'] / 1e6:.2f} MB (float32 safetensors) |",
        f"| held-out accuracy | {report['test_accuracy']:.3f} ({report['test_examples']} test reviews) |",
        f"| negated reviews | {report['negated_accuracy']:.3f} ({report['negated_examples']}) |",
        f"| mixed \"but\" reviews | {report['mixed_accuracy']:.3f} ({report['mixed_examples']}) |",
        f"| predicted-class probability drop, one rationale word -> [MASK] | {report['drop_rationale[[MASK]]']:.3f} |",
        f"| predicted-class probability drop, one other word -> [MASK] | {report['drop_other[[MASK]]']:.3f} |",
        f"| every sentiment word -> [MASK]: mean abs(p(positive) - 0.5) | {report['no_evidence_gap[[MASK]]']:.3f} |",
        f"| sha256 of the model files | `{report['sha256'][:16]}` |",
    ])
    return report


# --------------------------------------------------------------------------------------
# bert-climate: WordPiece uncased + tiny BertForSequenceClassification, 4 classes
# --------------------------------------------------------------------------------------
# Chosen for robustness across seeds: with these, seeds 0-3 reach 0.993-0.999 held-out
# accuracy (negated opinions >= 0.96). With dropout 0.1, seeds 0-3 gave 0.973-0.998 and posts
# with two opinions, one of them negated, dropped to 0.78 for seed 2 (negation bound to the
# wrong clause); 15 epochs, batches of 8, 3 layers or hidden size 96 did not fix that.
# The saved config still says dropout 0.1 (BERT's default, as in the hub model), so the
# model in train mode differs from eval mode as a real BERT does; eval mode is unaffected.
BERT_CLIMATE_HYPERPARAMETERS = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
    "max_position_embeddings": 512, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "saved_dropout_prob": 0.1,
    "epochs": 10, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.01,
    "max_piece_length": 8,  # 8, not 7: keeps "climate" whole; see train_wordpiece_tokenizer
    # augmentation, see review_featurizer and bert_mask_styles
    "p_remove_evidence": 0.2, "p_mask_others": 0.25, "p_word": 0.3,
}
BERT_CLIMATE_MUST_SPLIT = ("undeniable", "exaggerated", "pointless", "necessary", "discussed", "announced")


def climate_roles(row: dict) -> list[str]:
    """Role of each word of a climate post, from its rationale: cue words are the evidence."""
    return [
        ("negation" if data.normalize_word(w) in data.CLIMATE_NEGATIONS else "evidence") if flag else "other"
        for w, flag in zip(row["text"].split(), row["rationale"])
    ]


def train_bert_climate(seed: int = SEED, **overrides: float) -> tuple[BertForSequenceClassification, BertTokenizer, dict]:
    """Train tokenizer and model in memory; returns them with training figures."""
    hp = {**BERT_CLIMATE_HYPERPARAMETERS, **overrides}
    seed_everything(seed)
    torch.set_num_threads(1)  # one thread: identical float sums, hence identical weights
    started = time.perf_counter()
    train = data.load_climate(n=CORPUS_SIZE, seed=seed, split="train", source="generated")
    tokenizer = train_wordpiece_tokenizer(
        train["text"], max_piece_length=int(hp["max_piece_length"]),
        model_max_length=int(hp["max_position_embeddings"]), tokenizer_class=BertTokenizer,
    )
    labels = MODELS["bert-climate"].labels
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(hp["hidden_size"]),
        num_hidden_layers=int(hp["num_hidden_layers"]),
        num_attention_heads=int(hp["num_attention_heads"]),
        intermediate_size=int(hp["intermediate_size"]),
        max_position_embeddings=int(hp["max_position_embeddings"]),
        hidden_dropout_prob=hp["hidden_dropout_prob"],
        attention_probs_dropout_prob=hp["attention_probs_dropout_prob"],
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
    )
    model = BertForSequenceClassification(config)
    posts = [encode_review(tokenizer, row, climate_roles(row)) for row in train]
    featurize = review_featurizer(
        bert_mask_styles(tokenizer), p_remove_evidence=hp["p_remove_evidence"],
        p_mask_others=hp["p_mask_others"], p_word=hp["p_word"], wrap=special_wrapper(tokenizer),
        num_labels=len(labels),
    )
    history = train_classifier(
        model, posts, featurize, pad_id=tokenizer.pad_token_id, epochs=int(hp["epochs"]),
        batch_size=int(hp["batch_size"]), lr=hp["lr"], weight_decay=hp["weight_decay"], seed=seed,
    )
    # Only the saved config changes: from_pretrained builds dropout layers with this rate.
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = hp["saved_dropout_prob"]
    figures = {
        "train_examples": len(train),
        "final_train_loss": history[-1],
        "train_seconds": time.perf_counter() - started,
    }
    return model, tokenizer, figures


def evaluate_climate_model(model, tokenizer, seed: int = SEED) -> dict[str, object]:
    """Held-out accuracy (overall, per class, negated, with small talk) and the masking check."""
    test = data.load_climate(n=CORPUS_SIZE, seed=seed, split="test", source="generated")
    negated = test.filter(data.is_climate_negated)
    two_opinions = test.filter(lambda row: sum(row["rationale"]) - sum(
        data.normalize_word(w) in data.CLIMATE_NEGATIONS for w, f in zip(row["text"].split(), row["rationale"]) if f
    ) >= 2)
    figures: dict[str, object] = {
        "test_examples": len(test),
        "test_accuracy": accuracy(model, tokenizer, test),
        "negated_examples": len(negated),
        "negated_accuracy": accuracy(model, tokenizer, negated),
        "two_opinions_examples": len(two_opinions),
        "two_opinions_accuracy": accuracy(model, tokenizer, two_opinions),
    }
    for label, name in enumerate(data.CLIMATE_LABEL_NAMES):
        figures[f"accuracy[{name}]"] = accuracy(model, tokenizer, test.filter(lambda row, k=label: row["label"] == k))
    for key, value in figures.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    posts = [encode_review(tokenizer, test[i], climate_roles(test[i])) for i in range(300)]
    figures.update(masking_check(model, tokenizer, posts, mask_tokens=("[MASK]", "the", "[PAD]")))
    return figures


def build_bert_climate(seed: int = SEED) -> dict[str, object]:
    """Tiny 4-class BERT on the generated climate corpus -> assets/bert-climate."""
    from course_utils.models import load_classifier

    spec = MODELS["bert-climate"]
    folder = fresh_folder(ASSETS_DIR / spec.embedded_dir)
    model, tokenizer, report = train_bert_climate(seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    prune_folder(folder)

    load_started = time.perf_counter()
    model, reloaded = load_classifier("bert-climate", offline=True, device="cpu", verbose=False)
    report["load_seconds"] = time.perf_counter() - load_started
    if not isinstance(model.bert.embeddings, torch.nn.Module):  # Lab 3 attributes on this layer
        raise AssertionError("model.bert.embeddings is missing")
    test = data.load_climate(n=CORPUS_SIZE, seed=seed, split="test", source="generated")
    check_wordpiece_tokenizer(
        tokenizer, reloaded, list(test["text"][:300]), BERT_CLIMATE_MUST_SPLIT, data.CLIMATE_NEGATIONS
    )
    train_text = data.load_climate(n=CORPUS_SIZE, seed=seed, split="train", source="generated")["text"]
    corpus_words = [w for t in train_text for w in t.split()]
    pieces = split_words(reloaded, corpus_words)
    report.update(check_bert_classifier(model, reloaded, list(test["text"][:8])))
    report.update(
        size_bytes=folder_size(folder),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(reloaded),
        corpus_words=len({w for w in map(data.normalize_word, corpus_words) if w.isalpha()}),
        split_words=len(pieces),
        sha256=folder_digest(folder),
    )
    for key, value in report.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    print("  words in pieces:", "; ".join(" ".join(p) for p in pieces.values()))
    report.update(evaluate_climate_model(model, reloaded, seed))

    hp = BERT_CLIMATE_HYPERPARAMETERS
    examples = tokenization_examples(reloaded, [*BERT_CLIMATE_MUST_SPLIT, "#climate", "@weather_nerd"])
    per_class = ", ".join(f"{name} {report[f'accuracy[{name}]']:.3f}" for name in data.CLIMATE_LABEL_NAMES)
    write_training_md(folder, "Embedded bert-climate", [
        f"Tiny `BertForSequenceClassification` ({hp['num_hidden_layers']} layers, {hp['num_attention_heads']} heads, "
        f"hidden {hp['hidden_size']}, intermediate {hp['intermediate_size']}, {hp['max_position_embeddings']} positions,",
        "4 labels anti / neutral / pro / news) and an uncased WordPiece tokenizer (BERT's normalizer,",
        "pre-tokenizer and `[CLS] $A [SEP]` template), both trained from scratch on the generated",
        f"climate corpus (`course_utils.data.load_climate(n={CORPUS_SIZE}, seed={seed}, source=\"generated\")`,",
        "train split). Figures are on its test split, which no train split of that seed contains.",
        "`model.bert.embeddings` is the embedding block Lab 3 attributes on, as in the hub model.",
        "",
        f"Vocabulary entries are capped at {hp['max_piece_length']} letters, so {report['split_words']} of the corpus'",
        f"{report['corpus_words']} distinct words come in `##` pieces; every ASCII character is in the",
        "vocabulary on its own and as `##` piece, so no ASCII word becomes [UNK]. Examples:",
        "",
        *[f"- {line}" for line in examples],
        "",
        "Training masks unimportant words (label kept) and some cue words (label kept while one",
        "survives, else a uniform target), writing a masked word as [MASK] per piece, one [MASK],",
        "\"the\", [PAD], or deleting it. Negations are never masked. Trained without dropout (it",
        "learnt negation more reliably across seeds); the saved config keeps BERT's 0.1, so the model",
        "in train mode differs from eval mode as the hub model does.",
        "",
        "Rebuild (about 2 minutes on one CPU thread; same files byte for byte on the same platform):",
        "`python scripts/build_embedded_models.py --only bert-climate`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seed | {seed} |",
        f"| parameters | {report['parameters']:,} |",
        f"| vocabulary | {report['vocab_size']} tokens |",
        f"| size on disk | {report['size_bytes'] / 1e6:.2f} MB (float32 safetensors) |",
        f"| held-out accuracy | {report['test_accuracy']:.3f} ({report['test_examples']} test posts) |",
        f"| per class | {per_class} |",
        f"| negated opinions | {report['negated_accuracy']:.3f} ({report['negated_examples']}) |",
        f"| posts with two opinions | {report['two_opinions_accuracy']:.3f} ({report['two_opinions_examples']}) |",
        f"| predicted-class probability drop, one rationale word -> [MASK] | {report['drop_rationale[[MASK]]']:.3f} |",
        f"| predicted-class probability drop, one other word -> [MASK] | {report['drop_other[[MASK]]']:.3f} |",
        f"| every cue word -> [MASK]: mean distance to uniform (0 = no opinion) | {report['no_evidence_gap[[MASK]]']:.3f} |",
        f"| sha256 of the model files | `{report['sha256'][:16]}` |",
    ])
    return report


BUILDERS: dict[str, Callable[..., dict[str, object]]] = {
    "gpt2-imdb": build_gpt2_imdb,
    "distilbert-imdb": build_distilbert_imdb,
    "bert-climate": build_bert_climate,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(MODELS), help="build just this model")
    parser.add_argument("--seed", type=int, default=SEED, help="training seed (default %(default)s)")
    args = parser.parse_args(argv)

    names = [args.only] if args.only else list(BUILDERS)
    for name in names:
        if name not in BUILDERS:
            parser.error(f"no builder for {name!r} yet; available: {', '.join(BUILDERS)}")
    for name in names:
        print(f"Building {name} ...")
        BUILDERS[name](seed=args.seed)
        print(f"  -> {(ASSETS_DIR / MODELS[name].embedded_dir).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
