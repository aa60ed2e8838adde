#!/usr/bin/env python
"""Train the tiny embedded models under ``course_utils/assets/`` (seeded, CPU, offline).

    python scripts/build_embedded_models.py                  # every model that has a builder
    python scripts/build_embedded_models.py --only gpt2-imdb

Each model has one ``build_<name>()`` function that writes a folder loadable with
``AutoModelForSequenceClassification.from_pretrained`` / ``AutoTokenizer.from_pretrained``
and returns its figures (size, accuracy, time), which also go into the folder's TRAINING.md.
Running a builder twice gives byte-identical files (fixed seeds, one CPU thread,
deterministic torch algorithms).

Still to write: ``build_distilbert_imdb`` (WordPiece uncased vocab, same review corpus)
and ``build_bert_climate`` (4 labels, generated climate corpus).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import shutil
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
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2Tokenizer  # noqa: E402

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


def encode_review(tokenizer, row: dict) -> EncodedReview:
    """Tokenize word by word so that any word can be masked at token level.

    Byte-level BPE (and WordPiece) never merge across a space or between letters and
    punctuation, so the word pieces concatenate to exactly the full encoding; checked.
    """
    words = []
    for i, word in enumerate(row["text"].split()):
        core = word.rstrip(".,")
        prefix = " " if i else ""  # GPT-2 style: the space belongs to the next token
        core_ids = tokenizer(prefix + core, add_special_tokens=False)["input_ids"]
        punct_ids = tokenizer(word[len(core) :], add_special_tokens=False)["input_ids"] if word != core else []
        words.append(Word(tuple(core_ids), tuple(punct_ids), word_role(word)))
    review = EncodedReview(tuple(words), tuple(row["rationale"]), int(row["label"]))
    if flatten(review.words) != tokenizer(row["text"], add_special_tokens=False)["input_ids"]:
        raise AssertionError(f"word-by-word tokenization differs for {row['text']!r}")
    return review


def flatten(words: Iterable[Word], masked: Iterable[bool] | None = None, mask_id: int = 0) -> list[int]:
    """Token ids of ``words``; masked words get ``mask_id`` for each of their letter tokens."""
    ids: list[int] = []
    for word, hide in zip(words, masked if masked is not None else itertools.repeat(False)):
        ids += [mask_id] * len(word.core) if hide else list(word.core)
        ids += word.punct
    return ids


def review_featurizer(
    mask_ids: Sequence[int], *, p_remove_evidence: float, p_mask_others: float, p_word: float
) -> Featurize:
    """Augmentation that teaches the model what a LIME perturbation means.

    LIME replaces tokens with a neutral token. With probability ``p_mask_others`` some
    words that do not matter (subjects, fillers, intensifiers: role "other") are replaced
    and the label is kept. With probability ``p_remove_evidence`` some sentiment words are
    replaced too (each with probability 1/2, at least one): the label stays if a deciding
    sentiment word survives, otherwise the target is uniform (no evidence, no opinion).
    Negations and "but" are never masked: without them the label is undefined.
    Without this, the model stays confidently positive when the sentiment word is gone,
    and LIME finds little to explain on positive reviews.
    """

    def featurize(review: object, rng: random.Random) -> tuple[list[int], list[float]]:
        assert isinstance(review, EncodedReview)
        target = [0.0, 0.0]
        target[review.label] = 1.0
        draw = rng.random()
        if draw >= p_remove_evidence + p_mask_others:
            return flatten(review.words), target
        masked = [w.role == "other" and rng.random() < p_word for w in review.words]
        if draw < p_remove_evidence:
            evidence = [i for i, w in enumerate(review.words) if w.role == "evidence"]
            removed = {i for i in evidence if rng.random() < 0.5} or {rng.choice(evidence)}
            for i in removed:
                masked[i] = True
            if not any(review.rationale[i] and i not in removed for i in evidence):
                target = [0.5, 0.5]
        return flatten(review.words, masked, rng.choice(mask_ids)), target

    return featurize


def masking_check(model, tokenizer, reviews: Sequence[EncodedReview], mask_tokens: Sequence[str]) -> dict[str, float]:
    """How the model reacts when words are replaced by a neutral token, as LIME does.

    For each mask token: the fall of the predicted-class probability when one rationale
    word / one unimportant word is masked, and p(positive) when every sentiment word is
    masked (should be near 0.5). Prints a few examples.
    """
    rng = random.Random(SEED)
    pad_id = tokenizer.pad_token_id
    figures: dict[str, float] = {}
    chosen = [
        (rng.choice([i for i, f in enumerate(r.rationale) if f]),
         rng.choice([i for i, w in enumerate(r.words) if w.role == "other"]))
        for r in reviews
    ]
    original = [flatten(r.words) for r in reviews]
    p0 = predict_ids(model, original, pad_id)
    predicted = p0.argmax(axis=1)
    rows = np.arange(len(reviews))
    for token in mask_tokens:
        mask_id = tokenizer.convert_tokens_to_ids(token)

        def masked(review: EncodedReview, which: Callable[[int, Word], bool]) -> list[int]:
            return flatten(review.words, [which(i, w) for i, w in enumerate(review.words)], mask_id)

        one_decisive = [masked(r, lambda i, w, k=k: i == k) for r, (k, _) in zip(reviews, chosen)]
        one_other = [masked(r, lambda i, w, k=k: i == k) for r, (_, k) in zip(reviews, chosen)]
        no_evidence = [masked(r, lambda i, w: w.role == "evidence") for r in reviews]
        p1, p2, p3 = (predict_ids(model, x, pad_id) for x in (one_decisive, one_other, no_evidence))
        drop_decisive = float((p0[rows, predicted] - p1[rows, predicted]).mean())
        drop_other = float((p0[rows, predicted] - p2[rows, predicted]).mean())
        neutral_gap = float(np.abs(p3[:, 1] - 0.5).mean())
        print(f"  mask token {token!r} on {len(reviews)} test reviews: predicted-class probability falls by "
              f"{drop_decisive:.3f} (one rationale word) vs {drop_other:.3f} (one other word); "
              f"all sentiment words masked: mean |p(positive) - 0.5| = {neutral_gap:.3f}")
        figures[f"drop_rationale[{token}]"] = drop_decisive
        figures[f"drop_other[{token}]"] = drop_other
        figures[f"no_evidence_gap[{token}]"] = neutral_gap
        short = [i for i in rows if sum(reviews[i].rationale) <= 2][:3]
        for i in short:
            before = tokenizer.decode(original[i])
            after = tokenizer.decode(one_decisive[i])
            print(f"    p(positive) {p0[i, 1]:.3f} -> {p1[i, 1]:.3f}: {before!r} -> {after!r}")
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


def evaluate_review_model(model, tokenizer, seed: int = SEED) -> dict[str, object]:
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
    figures.update(masking_check(model, tokenizer, reviews, mask_tokens=("the", "Ġthe")))
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


BUILDERS: dict[str, Callable[..., dict[str, object]]] = {
    "gpt2-imdb": build_gpt2_imdb,
    # "distilbert-imdb": build_distilbert_imdb,  (to do)
    # "bert-climate": build_bert_climate,        (to do)
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
