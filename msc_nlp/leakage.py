"""Repeated facts across study groups: the check that keeps a test split from leaking into training.

Documents about the same study share a group id and therefore a split. A study written up under
two different group ids would put the same facts on both sides of a split and inflate the test
figures. This module finds pairs of documents of *different* groups that share a distinctive
fact set:

- the same trial name (an acronym-like name followed by "trial", "study" or "registry") or the same
  trial registration number (NCT, ISRCTN, ChiCTR, IRCT, ACTRN, EudraCT, CTRI); or
- the same cell dose (a DOSE span, compared after normalising number forms) together with the
  same numeric result (a decimal number of at least three significant digits, outside the
  DOSE spans, that is not a p value) somewhere in the text.

A pair in different splits is a leak (an error in ``msc-nlp annotations check``); a pair in the
same split is reported as a warning, since it cannot inflate a test figure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from msc_nlp.document import Document

REGISTRY = re.compile(r"\b(NCT\d{8}|ISRCTN\d{6,}|ChiCTR[-\w]*\d{4,}|IRCT\w*\d{4,}\w*|ACTRN\d{10,}|"
                      r"EudraCT\s*(?:No\.?\s*)?\d{4}-\d{6}-\d{2}|CTRI/\d{4}/\d+/\d+)")
TRIAL_NAME = re.compile(r"\b((?=[\w-]*[A-Z][\w-]*[A-Z])[A-Za-z][\w]*(?:-[\w]+)*)\s+(?:trial|study|registry|Trial|Study)\b")
NOT_TRIAL_NAMES = {"RCT", "MSC", "MSCs", "AMI", "STEMI", "NSTEMI", "PCI", "CMR", "MRI", "SPECT", "PET", "II", "III",
                   "IIa", "IIb", "IV", "HF", "ICM", "CABG", "LVAD", "BMC", "BMMNC", "BM-MNC", "CD34", "EV", "EVs",
                   "ADRC", "CDC", "MPC", "UC-MSC", "WJ-MSC", "TESI", "IC", "IM", "NIH", "NHLBI", "FDA", "ESC",
                   "AHA", "ACC", "PRISMA", "GRADE", "DNA", "RNA", "ELISA", "qPCR", "RT-PCR", "CT", "ECG", "LAD",
                   "LCx", "RCA", "MI", "I/R", "IR", "SD", "SEM", "CI", "HR", "OR", "RR", "WMD", "SMD", "MD"}
P_VALUE = re.compile(r"[Pp]\s*(?:value\s*)?[=<>≤≥]\s*$")
RESULT_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")
EXPONENT_FORMS = [
    (re.compile(r"10\^\(?(\d+)\)?"), r"e\1"),
    (re.compile(r"10\((\d+)\)"), r"e\1"),
    (re.compile("10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)"), lambda m: "e" + m.group(1).translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))),
]


def normalise_dose(text: str) -> str:
    """A DOSE string in one spelling: lower case, no spaces, ``×``/``·`` as ``x``, exponents as ``eN``."""
    value = text.lower().replace("×", "x").replace("·", "x").replace("μ", "u").replace("µ", "u")
    for pattern, replacement in EXPONENT_FORMS:
        value = pattern.sub(replacement, value)
    return re.sub(r"\s+", "", value)


def _significant_digits(number: str) -> int:
    return len(number.replace(".", "").lstrip("0"))


@dataclass
class Facts:
    """The distinctive facts of one document.

    Attributes:
        names: trial names and registration numbers.
        doses: normalised DOSE span texts.
        results: decimal numbers of three or more significant digits that are not p values.
    """

    names: set[str] = field(default_factory=set)
    doses: set[str] = field(default_factory=set)
    results: set[str] = field(default_factory=set)


def facts_of(document: Document) -> Facts:
    """Extract a document's distinctive facts (see the module docstring)."""
    text = document.text
    facts = Facts()
    facts.names |= {re.sub(r"\s+", "", m.group(1)) for m in REGISTRY.finditer(text)}
    facts.names |= {m.group(1).upper() for m in TRIAL_NAME.finditer(text) if m.group(1) not in NOT_TRIAL_NAMES}
    facts.doses = {normalise_dose(span.text_in(text)) for span in document.spans if span.label == "DOSE"}
    in_dose = [(span.start, span.end) for span in document.spans if span.label == "DOSE"]
    for match in RESULT_NUMBER.finditer(text):
        if any(start <= match.start() < end for start, end in in_dose):
            continue
        if _significant_digits(match.group(1)) >= 3 and not P_VALUE.search(text[max(0, match.start() - 12) : match.start()]):
            facts.results.add(match.group(1))
    return facts


@dataclass
class SharedFacts:
    """Two documents of different groups that share a distinctive fact set.

    Attributes:
        first, second: document ids.
        first_group, second_group: their groups.
        first_split, second_split: their splits (``None`` when not assigned).
        shared: what they share, e.g. ``trial name POSEIDON`` or ``dose 20millioncells + result 33.21``.
    """

    first: str
    second: str
    first_group: str
    second_group: str
    first_split: str | None
    second_split: str | None
    shared: str

    @property
    def crosses_splits(self) -> bool:
        """True when the two documents are in different splits (a leak)."""
        return self.first_split != self.second_split

    def message(self) -> str:
        """One line naming both documents, their groups and splits, and the shared facts."""
        return (f"{self.first} (group {self.first_group}, {self.first_split or 'no split'}) and {self.second} "
                f"(group {self.second_group}, {self.second_split or 'no split'}) share {self.shared}; give them one "
                "group id, or change the invented facts of one of them")


def shared_facts(documents: list[Document], split_of: dict[str, str]) -> list[SharedFacts]:
    """Every pair of documents of different groups that share a trial name, or a dose and a result.

    Args:
        documents: corpus documents (``meta.group`` names the study).
        split_of: document id -> split name.

    Returns:
        Pairs sorted by the first document's id, then the second's.
    """
    facts = {doc.id: facts_of(doc) for doc in documents}
    group = {doc.id: str(doc.meta.get("group", doc.id)) for doc in documents}
    candidates: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    by_dose: dict[str, list[str]] = defaultdict(list)
    for doc in documents:
        for name in facts[doc.id].names:
            by_name[name].append(doc.id)
        for dose in facts[doc.id].doses:
            by_dose[dose].append(doc.id)
    for name, ids in by_name.items():
        for a, b in combinations(sorted(ids), 2):
            if group[a] != group[b]:
                candidates[(a, b)].append(f"trial name {name}")
    for dose, ids in by_dose.items():
        for a, b in combinations(sorted(ids), 2):
            common = sorted(facts[a].results & facts[b].results)
            if group[a] != group[b] and common:
                candidates[(a, b)].append(f"dose {dose} + result {', '.join(common[:3])}")
    return [SharedFacts(a, b, group[a], group[b], split_of.get(a), split_of.get(b), "; ".join(sorted(set(what))))
            for (a, b), what in sorted(candidates.items())]
