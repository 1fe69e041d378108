"""The label schema: entity types, BIO tags and the characters a span may not start or end with.

Labels are declared here once. The BIO tag set derived from them is saved with every model
(``id2label`` in ``config.json``) and checked on reload.
"""

from __future__ import annotations

ENTITY_TYPES: tuple[str, ...] = ("CELL_TYPE", "DOSE", "ROUTE", "TIMING", "OUTCOME")
"""The five entity types, in a fixed order (this order defines the tag ids)."""

STUDY_TYPES: tuple[str, ...] = (
    "clinical",
    "preclinical",
    "in_vitro",
    "review",
    "meta_analysis",
    "protocol",
    "negative",
)
"""Allowed values of a corpus document's ``meta.study_type``."""

OUTSIDE = "O"


def bio_labels(entity_types: tuple[str, ...] = ENTITY_TYPES) -> list[str]:
    """Return the BIO tag list: ``O`` then ``B-X``, ``I-X`` for each type in order."""
    tags = [OUTSIDE]
    for entity_type in entity_types:
        tags += [f"B-{entity_type}", f"I-{entity_type}"]
    return tags


BIO_LABELS: list[str] = bio_labels()
LABEL2ID: dict[str, int] = {tag: i for i, tag in enumerate(BIO_LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(BIO_LABELS))

# A span never starts or ends with whitespace, nor with punctuation that is outside the name.
BAD_EDGE_PUNCTUATION = set(".,;:!?\"'“”‘’")
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}


def edge_problem(span_text: str) -> str | None:
    """Say why a span's text has a bad edge, or return None when its edges are fine.

    Args:
        span_text: the exact text covered by the span.

    Returns:
        A short reason (for error messages), or None.
    """
    if not span_text:
        return "empty span"
    if span_text != span_text.strip():
        return "starts or ends with whitespace"
    first, last = span_text[0], span_text[-1]
    if first in BAD_EDGE_PUNCTUATION or last in BAD_EDGE_PUNCTUATION:
        return "starts or ends with punctuation outside the name"
    if first in OPENERS and OPENERS[first] not in span_text[1:]:
        return f"starts with an unbalanced {first!r}"
    if last in CLOSERS and CLOSERS[last] not in span_text[:-1]:
        return f"ends with an unbalanced {last!r}"
    if first in OPENERS and span_text.endswith(OPENERS[first]) and _balanced_outer(span_text):
        return "enclosed in brackets (the brackets are outside the name)"
    return None


def _balanced_outer(text: str) -> bool:
    """True when the first character's bracket is closed by the last character."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return depth == 0
