"""Token clean-up shared by the labs: make tokenizer pieces readable.

GPT-2's byte-level BPE marks a token that starts a new word with 'Ġ' (an encoded space);
WordPiece marks a token that continues a word with '##'. Plots and tables show words, so
both markers are removed for display.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

GPT2_SPACE = "Ġ"
WORDPIECE_CONTINUATION = "##"


def clean_token(token: str) -> str:
    """`token` without GPT-2's leading 'Ġ' or WordPiece's leading '##'."""
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, got {type(token).__name__}")
    if token.startswith(GPT2_SPACE):
        return token[len(GPT2_SPACE):]
    if token.startswith(WORDPIECE_CONTINUATION) and len(token) > len(WORDPIECE_CONTINUATION):
        return token[len(WORDPIECE_CONTINUATION):]
    return token


def readable_tokens(tokens: Iterable[str]) -> list[str]:
    """`clean_token` applied to every token, keeping their order and duplicates."""
    return [clean_token(token) for token in tokens]


def split_words(tokens: Iterable[str]) -> list[list[str]]:
    """The words WordPiece cut into several pieces, each as the list of its pieces, in text order.

    A piece that starts with '##' continues the word of the token before it, so
    ``["the", "un", "##watch", "##able"]`` gives ``[["un", "##watch", "##able"]]``.
    """
    words: list[list[str]] = []
    for token in tokens:
        if token.startswith(WORDPIECE_CONTINUATION) and len(token) > len(WORDPIECE_CONTINUATION) and words:
            words[-1].append(token)
        else:
            words.append([token])
    return [pieces for pieces in words if len(pieces) > 1]


def scores_by_word(text: str, offsets: Sequence[tuple[int, int]], scores: Sequence[float]) -> dict[str, float]:
    """Token scores turned into word scores, for comparing with `lime`'s word weights.

    A word is a run of word characters (`lime`'s default split, `\\W+`). Each token's score
    goes to the word its characters `offsets[i] = (start, end)` fall in (special tokens have
    empty offsets and are skipped); the pieces of one occurrence are summed, and a word that
    occurs several times gets the mean over its occurrences.
    """
    spans = [(match.start(), match.end(), match.group()) for match in re.finditer(r"\w+", text)]
    occurrence_scores, seen = _sum_per_span([(start, end) for start, end, _ in spans], offsets, scores)
    by_word: dict[str, list[float]] = {}
    for (_, _, word), score, found in zip(spans, occurrence_scores, seen):
        if found:
            by_word.setdefault(word, []).append(score)
    return {word: sum(values) / len(values) for word, values in by_word.items()}


def scores_by_whitespace_word(text: str, offsets: Sequence[tuple[int, int]], scores: Sequence[float]) -> list[float]:
    """One score per whitespace-separated word of `text` (``text.split()``), summing its tokens.

    Lab 4's word-level metrics and the generated corpora's ``rationale`` column count words
    this way (punctuation stays attached: "myth." is one word). Tokens with empty offsets
    (special tokens) are skipped; a word without tokens (cut off by truncation) scores 0.
    """
    spans = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)]
    return _sum_per_span(spans, offsets, scores)[0]


def _sum_per_span(
    spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]], scores: Sequence[float]
) -> tuple[list[float], list[bool]]:
    """Each token's score added to the first span its characters overlap; and which spans got one."""
    if len(offsets) != len(scores):
        raise ValueError(f"{len(offsets)} offsets but {len(scores)} scores")
    sums, seen = [0.0] * len(spans), [False] * len(spans)
    for (start, end), score in zip(offsets, scores):
        if end <= start:
            continue  # [CLS], [SEP], [PAD]
        for k, (w_start, w_end) in enumerate(spans):
            if start < w_end and end > w_start:
                sums[k] += float(score)
                seen[k] = True
                break
    return sums, seen
