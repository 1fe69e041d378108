"""Offset-preserving training augmentation: the same document in the spellings real text uses.

Real PubMed text writes one number or symbol in many ways (``10^6``, ``10(6)``, ``10⁶``, the
flattened ``106`` that plain text leaves when a superscript is lost, ``1e6``; ``µ``/``μ``/``u``,
``×``/``x``, ``±``/``+/-``, ``α``/``alpha``; ``RESULTS:``/``Results:``; an abbreviation for its
long form). ``augment_document`` rewrites a document with a random choice of such variants and
moves every gold span with the text, so that the spans still cover exactly the same words.

An edit is applied only when it lies wholly inside one span or wholly outside every span; edits
that would cut a span edge are skipped. Offsets are Python code points, end exclusive.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from msc_nlp.document import Document, Span

SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
FROM_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")

# "1 × 10^6", "2.5 x 10(6)", "1×10⁶" ...: mantissa, multiplication sign, base 10 and exponent.
POWER_OF_TEN = re.compile(r"(?P<mantissa>\d+(?:\.\d+)?)(?P<times>\s?[×x]\s?)10"
                          r"(?:\^(?P<caret>\d{1,2})|\((?P<paren>\d{1,2})\)|(?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2}))")
NOTATIONS = ("caret", "paren", "paren", "sup", "flat", "flat", "flat", "enote")
"""Weights of the notations: flattened and parenthesised forms are commonest in PubMed's plain text."""


def _exponent(match: re.Match) -> str:
    return match.group("caret") or match.group("paren") or match.group("sup").translate(FROM_SUPERSCRIPT)


def power_of_ten_variant(match: re.Match, times: str, notation: str) -> str:
    """The same ``a × 10^k`` in another notation PubMed text uses.

    Args:
        match: a ``POWER_OF_TEN`` match.
        times: the multiplication sign with its spacing (``" × "``, ``"x"`` ...).
        notation: one of ``NOTATIONS``: ``caret`` (``10^6``), ``paren`` (``10(6)``), ``sup``
            (``10⁶``), ``flat`` (``106``, the superscript lost) or ``enote`` (``1.0E+06``).
    """
    mantissa, k = match.group("mantissa"), _exponent(match)
    if notation == "enote":
        return f"{float(mantissa) * 10 ** int(k):.1E}"  # "2.0E+07", as spreadsheets and PubMed write it
    exponent = {"caret": f"^{k}", "paren": f"({k})", "sup": k.translate(SUPERSCRIPT), "flat": k}[notation]
    return f"{mantissa}{times}10{exponent}"


SYMBOL_VARIANTS: list[tuple[re.Pattern, list[str]]] = [
    (re.compile(r"[µμ](?=[gLlMm])|(?<=\d\s)u(?=[gLl]\b)"), ["µ", "μ", "u"]),
    (re.compile(r"±|\+/-"), ["±", "+/-"]),
    (re.compile(r"(?<=\w)-?α|-alpha\b"), ["-α", "α", "-alpha"]),
    (re.compile(r"(?<=\w)-?β|-beta\b"), ["-β", "β", "-beta"]),
    (re.compile(r"≥|>="), ["≥", ">="]),
    (re.compile(r"≤|<="), ["≤", "<="]),
]

SECTION_LABEL = re.compile(r"^([A-Z][A-Za-z ,&/-]{2,40}):(?=\s)", re.M)

# Long form -> abbreviation, applied only to a whole span with exactly this text.
ABBREVIATIONS: dict[str, list[str]] = {
    "intracoronary": ["IC"], "intravenous": ["IV"], "intravenously": ["IV"], "intramyocardial": ["IM"],
    "intracoronary infusion": ["IC infusion"], "intravenous infusion": ["IV infusion"],
    "intramyocardial injection": ["IM injection"],
    "transendocardial stem cell injection": ["TESI"],
    "left ventricular ejection fraction": ["LVEF", "LV ejection fraction"],
    "ejection fraction": ["EF"], "infarct size": ["IS"],
    "left ventricular end-systolic volume": ["LVESV", "LV end-systolic volume"],
    "left ventricular end-diastolic volume": ["LVEDV", "LV end-diastolic volume"],
    "mesenchymal stem cells": ["MSCs"], "mesenchymal stromal cells": ["MSCs"],
    "extracellular vesicles": ["EVs"], "bone marrow mononuclear cells": ["BMMNCs", "BM-MNCs"],
    "major adverse cardiac events": ["MACE"], "tumor necrosis factor-α": ["TNF-α", "TNF-alpha"],
    "tumour necrosis factor-α": ["TNF-α"], "New York Heart Association class": ["NYHA class"],
    "6-minute walk distance": ["6MWD"], "myocardial infarction": ["MI"],
}


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement``."""

    start: int
    end: int
    replacement: str


def apply_edits(document: Document, edits: list[Edit]) -> Document:
    """Apply non-overlapping edits and move the spans with the text.

    An edit that straddles a span edge, or overlaps an earlier edit, is skipped. The spans of the
    result cover the same words as before: ``new.text[s.start:s.end]`` is the old span's text
    with the edits inside it applied.
    """
    spans = sorted(document.spans)
    kept: list[Edit] = []
    last_end = -1
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < last_end:
            continue
        if any(edit.start < s.start < edit.end or edit.start < s.end < edit.end
               or (edit.start == edit.end and s.start < edit.start < s.end) for s in spans):
            continue  # the edit would cut a span edge
        kept.append(edit)
        last_end = edit.end

    def moved(position: int, is_end: bool) -> int:
        shift = 0
        for edit in kept:
            if edit.end <= position if not is_end else edit.end <= position and edit.start < position:
                shift += len(edit.replacement) - (edit.end - edit.start)
            elif edit.start >= position:
                break
        return position + shift

    pieces, cursor = [], 0
    for edit in kept:
        pieces += [document.text[cursor : edit.start], edit.replacement]
        cursor = edit.end
    pieces.append(document.text[cursor:])
    new_spans = [Span(moved(s.start, False), moved(s.end, True), s.label) for s in spans]
    meta = {**document.meta, "augmented_from": document.id}
    return Document(f"{document.id}~aug", "".join(pieces), new_spans, meta)


def _edits_from(pattern: re.Pattern, text: str, make: Callable[[re.Match], str | None]) -> list[Edit]:
    edits = []
    for match in pattern.finditer(text):
        replacement = make(match)
        if replacement is not None and replacement != match.group(0):
            edits.append(Edit(match.start(), match.end(), replacement))
    return edits


def augment_document(document: Document, rng: random.Random) -> Document:
    """One augmented copy of ``document`` (id ``<id>~aug``) with random notation variants.

    Args:
        document: a gold document.
        rng: the random source (seeded by the caller, so training stays reproducible).

    Returns:
        A new document whose spans cover the same words; ``meta.augmented_from`` names the source.
    """
    text = document.text
    times = rng.choice([" × ", " x ", "×", "x"])
    notation = rng.choice(NOTATIONS)  # one notation per document, as real abstracts mostly keep one
    edits = _edits_from(POWER_OF_TEN, text, lambda m: power_of_ten_variant(m, times, notation))
    for pattern, choices in SYMBOL_VARIANTS:
        edits += _edits_from(pattern, text, lambda m, c=choices: rng.choice(c) if rng.random() < 0.7 else None)
    if rng.random() < 0.5:
        case = rng.choice([str.upper, str.title])
        edits += _edits_from(SECTION_LABEL, text, lambda m: case(m.group(1)) + ":")
    for span in document.spans:
        choices = ABBREVIATIONS.get(span.text_in(text))
        if choices and rng.random() < 0.5:
            edits.append(Edit(span.start, span.end, rng.choice(choices)))
    return apply_edits(document, edits)


def augment(documents: list[Document], copies: int, seed: int) -> list[Document]:
    """``copies`` augmented copies of each document that has anything to vary (same order).

    Documents whose augmented text equals the original are not repeated.
    """
    rng = random.Random(seed)
    result = []
    for copy in range(copies):
        for document in documents:
            new = augment_document(document, rng)
            if new.text != document.text:
                new.id = f"{document.id}~aug{copy + 1}"
                result.append(new)
    return result
