"""Wrong answers written as edits of the reference solution, so the catalogue shows only the mistake.

An entry of a catalogue (tests/answers_lab*.py) is the full source of an answer, an `Edit` of the
exercise's reference solution cell, or a tuple of edits applied in order. Each edit's old text must
occur exactly once in the source it edits: when the reference solution changes under an edit, the
catalogue fails loudly instead of grading the reference as a "wrong" answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """Replace `old`, which occurs exactly once in the reference solution cell, by `new`."""

    old: str
    new: str


Answer = str | Edit | tuple[Edit, ...]


def written_out(answer: Answer, reference: str, where: str) -> str:
    """The source `answer` stands for: itself if a string, else `reference` with its edits applied in order.

    `where` names the entry (lab, exercise, label) in the error raised for an edit that does not apply."""
    if isinstance(answer, str):
        return answer
    source = reference
    for edit in answer if isinstance(answer, tuple) else (answer,):
        count = source.count(edit.old)
        if count != 1:
            raise ValueError(f"{where}: the edit's old text {edit.old!r} occurs {count} times in the reference "
                             f"solution (it must occur exactly once); update the edit to the reference")
        source = source.replace(edit.old, edit.new)
    return source
