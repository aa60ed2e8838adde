"""Reading a generated text back in the corpus tests (test_reviews, test_climate): its sentences
and the phrases found in it."""

from __future__ import annotations

from course_utils.labels import GeneratedExample


def sentences_of(e: GeneratedExample) -> list[range]:
    """Word ranges of the example's sentences."""
    out, start = [], 0
    for i, word in enumerate(e.words):
        if word.endswith((".", "?")):
            out.append(range(start, i + 1))
            start = i + 1
    return out


def phrase_at(words: list[str], i: int, phrases) -> str | None:
    """The longest of ``phrases`` that starts at word ``i`` (words normalised)."""
    found = [p for p in phrases if words[i:i + len(p.split())] == p.split()]
    return max(found, key=len, default=None)
