"""Style statistics of a document collection: the shares that tell real PubMed text from clean prose.

Real abstracts of the field write cell doses in PubMed's plain-text forms (exponents flattened
to ``1×106`` or written ``10(6)``), name cells without any dose more often than a clean corpus,
define abbreviations inside phrases, state eligibility criteria, and come in non-native and
telegraphic English. ``style_shares`` measures these as shares of documents so that a corpus can
be compared with real text and with its quotas (``msc-nlp annotations stats --style``).

Shares marked "of DOSE documents" are over documents with at least one DOSE span; "of clinical"
over documents whose ``meta.study_type`` is ``clinical`` or ``protocol``; the rest over all
documents of the collection. ``nonnative`` and ``terse`` are read from the authors' ``style``
header tags (``meta.style``), the only ones not measured from the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from msc_nlp.document import Document

FLATTENED_EXPONENT = re.compile(r"\d\s?[×x]\s?10 ?[1-9]\d?(?![\d(^⁰¹²³⁴⁵⁶⁷⁸⁹])")
PARENTHESISED_EXPONENT = re.compile(r"10\(\d{1,2}\)")
CARET_OR_SUPERSCRIPT = re.compile(r"10(?:\^\d|[⁰¹²³⁴⁵⁶⁷⁸⁹])")
E_NOTATION = re.compile(r"\d(?:\.\d+)?[Ee][+-]?0?\d\b")
ASCII_PLUS_MINUS = re.compile(r"\+/-")
N_EQUALS = re.compile(r"\bn\s?=\s?\d")
PRODUCT_WORDS = re.compile(r"exosom|vesic|\bs?EVs?\b|secretome|conditioned medi", re.I)
ELIGIBILITY = re.compile(r"inclusion|eligib|enrolled if|entry criteria|were required to have|criteria", re.I)
THRESHOLD_MEASURES = re.compile(r"LVEF|ejection fraction|NYHA|New York Heart|heart failure|angina", re.I)
# A threshold on LVEF or NYHA class, the way eligibility is written: "LVEF <= 45%", "ejection
# fraction of 35% or less", "LVEF between 20% and 45%", "NYHA class II-III".
THRESHOLD = re.compile(r"(?:LVEF|ejection fraction|\bEF)\)?\s*(?:of\s*|was\s*)?(?:[<>≤≥]|<=|>=|below|under|less than|above|"
                       r"between|\d+(?:\.\d+)?\s*%?\s*(?:or less|or lower|or below))"
                       r"|NYHA(?: functional)? class(?:es)? (?:I{1,3}|IV)\s*(?:-|–|to|or|/)\s*(?:I{1,3}|IV)", re.I)
ABBREVIATION_INSIDE = re.compile(r"\([A-Z][\w-]{0,9}\)\s\S")


def _has_dose(doc: Document) -> bool:
    return any(span.label == "DOSE" for span in doc.spans)


def _style_tags(doc: Document) -> set[str]:
    return set(str(doc.meta.get("style", "")).split("+")) - {""}


def _clinical(doc: Document) -> bool:
    return doc.meta.get("study_type") in ("clinical", "protocol")


MEASURES: list[tuple[str, str, Callable[[Document], bool], Callable[[Document], bool]]] = [
    # name, population description, population filter, property
    ("cell dose stated", "all", lambda d: True, _has_dose),
    ("flattened exponent (1×106)", "DOSE documents", _has_dose, lambda d: bool(FLATTENED_EXPONENT.search(d.text))),
    ("parenthesised exponent (10(6))", "DOSE documents", _has_dose,
     lambda d: bool(PARENTHESISED_EXPONENT.search(d.text))),
    ("caret or superscript (10^6, 10⁶)", "DOSE documents", _has_dose,
     lambda d: bool(CARET_OR_SUPERSCRIPT.search(d.text))),
    ("E-notation (2.0E+07)", "DOSE documents", _has_dose, lambda d: bool(E_NOTATION.search(d.text))),
    ("+/-", "DOSE documents", _has_dose, lambda d: bool(ASCII_PLUS_MINUS.search(d.text))),
    ("n =", "DOSE documents", _has_dose, lambda d: bool(N_EQUALS.search(d.text))),
    ("non-native English (author tag)", "all", lambda d: True, lambda d: "nonnative" in _style_tags(d)),
    ("terse results (author tag)", "all", lambda d: True, lambda d: "terse" in _style_tags(d)),
    ("exosome / EV / secretome / CM product", "all", lambda d: True,
     lambda d: any(s.label == "CELL_TYPE" and PRODUCT_WORDS.search(s.text_in(d.text)) for s in d.spans)),
    ("eligibility with LVEF/NYHA/disease", "clinical and protocol", _clinical,
     lambda d: bool(THRESHOLD.search(d.text) or (ELIGIBILITY.search(d.text) and THRESHOLD_MEASURES.search(d.text)))),
    ("abbreviation defined inside a span", "all", lambda d: True,
     lambda d: any(ABBREVIATION_INSIDE.search(s.text_in(d.text)) for s in d.spans)),
    ("negative or near-miss", "all", lambda d: True,
     lambda d: d.meta.get("study_type") == "negative" or d.meta.get("topic") == "other_organ"),
]


def style_shares(documents: list[Document]) -> dict[str, dict]:
    """Each measure's ``{"population", "count", "of", "share"}`` over ``documents``."""
    result = {}
    for name, population, member, has in MEASURES:
        pool = [doc for doc in documents if member(doc)]
        count = sum(1 for doc in pool if has(doc))
        result[name] = {"population": population, "count": count, "of": len(pool),
                        "share": round(count / len(pool), 3) if pool else 0.0}
    return result


def style_markdown(collections: dict[str, list[Document]]) -> str:
    """A Markdown table of ``style_shares`` for several named collections side by side."""
    names = list(collections)
    shares = {name: style_shares(docs) for name, docs in collections.items()}
    lines = ["| measure | of | " + " | ".join(f"{n} ({len(collections[n])})" for n in names) + " |",
             "| --- | --- |" + " --- |" * len(names)]
    for measure, population, _, _ in MEASURES:
        cells = [f"{shares[n][measure]['share']:.0%} ({shares[n][measure]['count']}/{shares[n][measure]['of']})"
                 for n in names]
        lines.append(f"| {measure} | {population} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
