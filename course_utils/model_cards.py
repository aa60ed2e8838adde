"""The figures of an embedded model's card, computed the same way by the build script and the tests.

Each embedded model (``course_utils/assets/<name>/README.md``) reports how it behaves on held-out
generated data: accuracy, how confident it is (median top-class probability, share of
predictions below 0.8), how well its confidence matches its accuracy (expected calibration
error), and how spread the attention is that Lab 2 and Lab 4 read (the share of the two most
attended tokens in the last layer's attention from [CLS], averaged over heads; for GPT-2, from
the last token, whose vector its classifier reads). ``card_figures`` computes them;
``read_card`` reads them back from a card, so a test can recompute and compare.

torch, numpy and transformers are imported inside the functions (``import course_utils`` stays light).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets
    import numpy as np

__all__ = [
    "CARD_FIGURES",
    "EVAL_ATTENTION_TEXTS",
    "EVAL_N",
    "attention_top_two_share",
    "card_figures",
    "evaluation_set",
    "expected_calibration_error",
    "predict_texts",
    "read_card",
]

EVAL_N = 10_000  # the card's held-out set: the test split of load_reviews / load_climate(EVAL_N)
EVAL_ATTENTION_TEXTS = 500  # attention figures use the first 500 of them
ECE_BINS = 15

# key -> label of the row in the card's table (the value is printed with 3 decimals)
CARD_FIGURES = {
    "accuracy": "held-out accuracy",
    "median_top_probability": "median top-class probability",
    "share_below_0.8": "share of predictions with top-class probability < 0.8",
    "ece": "expected calibration error (15 bins)",
    "attention_top_two_share": "median share of the two most attended tokens (last layer)",
}


def evaluation_set(name: str) -> datasets.Dataset:
    """The held-out texts a model card reports on (never in any training split)."""
    from course_utils.data import load_climate, load_reviews

    if name == "bert-climate":
        return load_climate(n=EVAL_N, seed=0, split="test", source="generated")
    return load_reviews(n=EVAL_N, seed=0, split="test", source="generated")


def predict_texts(model, tokenizer, texts: list[str], batch_size: int = 128) -> np.ndarray:
    """Class probabilities ``[N, C]`` for ``texts``, padded batches with attention masks."""
    import numpy as np
    import torch

    model.eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True, return_tensors="pt")
            rows.append(torch.softmax(model(**batch).logits.float(), dim=-1).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, model.config.num_labels))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: |accuracy - mean confidence| per equal-width confidence bin, weighted by size."""
    import numpy as np

    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs((predicted[in_bin] == labels[in_bin]).mean() - confidence[in_bin].mean())
    return float(error)


def attention_top_two_share(model, tokenizer, texts: list[str]) -> float:
    """Median over ``texts`` of the attention share of the two most attended tokens.

    The attention row is the last layer's, averaged over heads, from the token the classifier
    reads: [CLS] (position 0) for BERT-family models, the last token for GPT-2.
    """
    import numpy as np
    import torch

    model.eval()
    reads_last = model.config.model_type == "gpt2"
    shares = []
    with torch.no_grad():
        for text in texts:
            encoded = tokenizer(text, truncation=True, return_tensors="pt")
            attention = model(**encoded, output_attentions=True).attentions[-1][0].mean(dim=0)
            row = attention[-1 if reads_last else 0]
            shares.append(float(row.topk(min(2, row.numel())).values.sum()))
    return float(np.median(shares))


def card_figures(model, tokenizer, dataset: datasets.Dataset) -> dict[str, Any]:
    """Every figure of ``CARD_FIGURES`` for ``model`` on ``dataset`` (plus the example count)."""
    import numpy as np

    texts, labels = list(dataset["text"]), np.asarray(dataset["label"])
    probs = predict_texts(model, tokenizer, texts)
    top = probs.max(axis=1)
    return {
        "examples": len(texts),
        "accuracy": float((probs.argmax(axis=1) == labels).mean()),
        "median_top_probability": float(np.median(top)),
        "share_below_0.8": float((top < 0.8).mean()),
        "ece": expected_calibration_error(probs, labels),
        "attention_top_two_share": attention_top_two_share(model, tokenizer, texts[:EVAL_ATTENTION_TEXTS]),
    }


def read_card(path: str | Path) -> dict[str, float]:
    """The ``CARD_FIGURES`` values written in a model card's table (``| label | 0.123 ... |``)."""
    text = Path(path).read_text(encoding="utf-8")
    figures = {}
    for key, label in CARD_FIGURES.items():
        match = re.search(rf"^\| {re.escape(label)} \| ([0-9.]+)", text, flags=re.MULTILINE)
        if match is None:
            raise ValueError(f"{path}: no row {label!r} in the card's table")
        figures[key] = float(match.group(1))
    return figures
