"""The data model: documents and character spans.

Offsets everywhere in msc_nlp are Python code points into ``Document.text``, half-open
``[start, end)``: ``text[start:end]`` is the span's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msc_nlp.schema import ENTITY_TYPES, edge_problem


@dataclass(frozen=True, order=True)
class Span:
    """One labelled stretch of a document's text.

    Attributes:
        start: first code point of the span (inclusive).
        end: one past the last code point (exclusive).
        label: one of ``schema.ENTITY_TYPES``.
        score: model confidence in [0, 1] for predicted spans; None for gold spans.
    """

    start: int
    end: int
    label: str
    score: float | None = field(default=None, compare=False)

    def text_in(self, text: str) -> str:
        """Return the span's text in ``text``."""
        return text[self.start : self.end]

    def overlaps(self, other: "Span") -> bool:
        """True when the two spans share at least one character."""
        return self.start < other.end and other.start < self.end


@dataclass
class Document:
    """A title-and-abstract document with optional gold or predicted spans.

    Attributes:
        id: identifier, unique within a collection (a PMID for PubMed records).
        text: the exact text the offsets refer to: title, a blank line, then the abstract.
        spans: entity spans sorted by start offset.
        meta: free metadata (``group``, ``study_type``, ``source`` ...), kept as given.
    """

    id: str
    text: str
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def span_problems(self) -> list[str]:
        """List every way the spans break the span rules (empty when the document is valid).

        Checks offsets in range, known labels, edges without whitespace or outer punctuation,
        and no overlap between spans.
        """
        problems: list[str] = []
        length = len(self.text)
        ordered = sorted(self.spans)
        for span in ordered:
            if not (0 <= span.start < span.end <= length):
                problems.append(f"span [{span.start}, {span.end}) out of range for text of length {length}")
                continue
            if span.label not in ENTITY_TYPES:
                problems.append(f"span [{span.start}, {span.end}) has label {span.label!r}, "
                                f"not one of {', '.join(ENTITY_TYPES)}")
            reason = edge_problem(span.text_in(self.text))
            if reason is None and "\n" in span.text_in(self.text):
                reason = "crosses a line break (spans stay within the title or one section line)"
            if reason:
                problems.append(f"span [{span.start}, {span.end}) {span.text_in(self.text)!r}: {reason}")
        for first, second in zip(ordered, ordered[1:]):
            if second.start < first.end:
                problems.append(
                    f"spans overlap: [{first.start}, {first.end}) {first.text_in(self.text)!r} {first.label} "
                    f"and [{second.start}, {second.end}) {second.text_in(self.text)!r} {second.label}"
                )
        return problems

    def to_json(self) -> dict[str, Any]:
        """Canonical corpus form: ``{"id", "text", "spans": [{"start", "end", "label"}], "meta"}``."""
        return {
            "id": self.id,
            "text": self.text,
            "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in sorted(self.spans)],
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Document":
        """Build a document from the canonical form (raises KeyError/TypeError on a bad record)."""
        spans = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in record.get("spans", [])]
        return cls(str(record["id"]), record["text"], sorted(spans), dict(record.get("meta", {})))
