"""Token clean-up shared by the labs: make tokenizer pieces readable.

GPT-2's byte-level BPE marks a token that starts a new word with 'Ġ' (an encoded space);
WordPiece marks a token that continues a word with '##'. Plots and tables show words, so
both markers are removed for display.
"""

from __future__ import annotations

from collections.abc import Iterable

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

