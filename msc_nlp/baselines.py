"""Baselines scored in the same harness as the model: a dictionary-and-pattern tagger and a CRF.

Both are trained on the training split only and return spans with code-point offsets, end
exclusive, like ``predict.Tagger.predict``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from msc_nlp.document import Document, Span
from msc_nlp.evaluate import WORD_RE

NUMBER = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty)"
EXPONENT = r"(?:\s?[×x]\s?10(?:\^|\(|)[⁰¹²³⁴⁵⁶⁷⁸⁹0-9]+\)?)"
DOSE_RE = re.compile(
    rf"\b{NUMBER}{EXPONENT}?(?:\s?(?:,|or|and|to|-|–)\s?{NUMBER}{EXPONENT}?)*\s?"
    r"(?:million|M\b|×\s?10\S*)?\s?(?:cells|MSCs?|MPCs|BMCs|μg|µg|ug|mg)(?:\s?(?:/|per)\s?(?:kg|kilogram|mL|ml|injection))?",
    re.I)
TIMING_RE = re.compile(
    rf"\b(?:within\s)?{NUMBER}(?:\s?(?:to|-|–|or)\s?{NUMBER})?\s?(?:h|hours?|days?|weeks?|months?)\s"
    r"(?:after|post|following|of)\s(?:the\s|an\s|a\s)?(?:acute\s|primary\s|successful\s)?"
    r"(?:MI|AMI|STEMI|PCI|PPCI|myocardial infarction|infarction|reperfusion|ligation|coronary ligation|symptom onset)",
    re.I)


class DictionaryTagger:
    """Exact (case-insensitive) matches of surface strings labelled in training, plus regexes.

    A surface string is kept when most of its training occurrences are labelled; overlaps are
    resolved longest-first.
    """

    def __init__(self, train_docs: list[Document], min_labelled_ratio: float = 0.5) -> None:
        import spacy
        from spacy.matcher import PhraseMatcher

        self.nlp = spacy.blank("en")
        labels: dict[str, Counter] = defaultdict(Counter)
        for doc in train_docs:
            for span in doc.spans:
                labels[span.text_in(doc.text).lower()][span.label] += 1
        occurrences: Counter = Counter()
        joined = "\n".join(doc.text.lower() for doc in train_docs)
        for surface in labels:
            occurrences[surface] = len(re.findall(r"(?<!\w)" + re.escape(surface) + r"(?!\w)", joined)) or 1
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        for surface, counts in labels.items():
            label, count = counts.most_common(1)[0]
            if sum(counts.values()) / occurrences[surface] >= min_labelled_ratio:
                self.matcher.add(label, [self.nlp.make_doc(surface)])

    def predict(self, texts: list[str]) -> list[list[Span]]:
        """Spans per text."""
        results = []
        for text in texts:
            doc = self.nlp.make_doc(text)
            candidates = []
            for match_id, start, end in self.matcher(doc):
                span = doc[start:end]
                candidates.append(Span(span.start_char, span.end_char, self.nlp.vocab.strings[match_id]))
            for regex, label in ((DOSE_RE, "DOSE"), (TIMING_RE, "TIMING")):
                candidates += [Span(m.start(), m.end(), label) for m in regex.finditer(text)]
            results.append(_longest_first(candidates))
        return results


def _longest_first(candidates: list[Span]) -> list[Span]:
    chosen: list[Span] = []
    for span in sorted(candidates, key=lambda s: (-(s.end - s.start), s.start)):
        if not any(span.overlaps(other) for other in chosen):
            chosen.append(span)
    return sorted(chosen)


def _shape(word: str) -> str:
    shape = re.sub(r"[A-Z]", "X", word)
    shape = re.sub(r"[a-z]", "x", shape)
    shape = re.sub(r"\d", "d", shape)
    return re.sub(r"(.)\1+", r"\1\1", shape)


def _features(words: list[str], i: int) -> dict:
    word = words[i]
    features = {"bias": 1.0, "lower": word.lower(), "suffix3": word[-3:].lower(), "prefix3": word[:3].lower(),
                "shape": _shape(word), "is_digit": word.isdigit(), "is_upper": word.isupper(),
                "is_title": word.istitle(), "length": min(len(word), 10)}
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(words):
            features[f"{offset}:lower"] = words[j].lower()
            features[f"{offset}:shape"] = _shape(words[j])
        else:
            features[f"{offset}:edge"] = True
    return features


def _words(text: str) -> list[re.Match]:
    return list(WORD_RE.finditer(text))


class CrfTagger:
    """A linear-chain CRF (sklearn-crfsuite) over word tokens with BIO tags."""

    def __init__(self, train_docs: list[Document], c1: float = 0.05, c2: float = 0.05, iterations: int = 150) -> None:
        import sklearn_crfsuite

        sequences, tags = [], []
        for doc in train_docs:
            matches = _words(doc.text)
            words = [m.group() for m in matches]
            sequences.append([_features(words, i) for i in range(len(words))])
            tags.append(_bio(matches, doc.spans))
        self.crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=iterations,
                                        all_possible_transitions=True)
        self.crf.fit(sequences, tags)

    def predict(self, texts: list[str]) -> list[list[Span]]:
        """Spans per text."""
        results = []
        for text in texts:
            matches = _words(text)
            if not matches:
                results.append([])
                continue
            words = [m.group() for m in matches]
            tags = self.crf.predict_single([_features(words, i) for i in range(len(words))])
            results.append(_spans_from_bio(matches, tags))
        return results


def _bio(matches: list[re.Match], spans: list[Span]) -> list[str]:
    tags = []
    for match in matches:
        inside = next((s for s in spans if s.start <= match.start() and match.end() <= s.end), None)
        if inside is None:
            tags.append("O")
        else:
            tags.append(("B-" if match.start() == inside.start else "I-") + inside.label)
    return tags


def _spans_from_bio(matches: list[re.Match], tags: list[str]) -> list[Span]:
    spans, current = [], None
    for match, tag in zip(matches, tags):
        if tag == "O" or tag.startswith("B-") or (current and current[0] != tag[2:]):
            if current:
                spans.append(Span(current[1], current[2], current[0]))
            current = None
        if tag != "O":
            if current is None:
                current = [tag[2:], match.start(), match.end()]
            current[2] = match.end()
    if current:
        spans.append(Span(current[1], current[2], current[0]))
    return spans


def build(name: str, train_docs: list[Document]):
    """A trained baseline by name: ``dictionary`` or ``crf``."""
    if name == "dictionary":
        return DictionaryTagger(train_docs)
    if name == "crf":
        return CrfTagger(train_docs)
    raise ValueError(f"unknown baseline {name!r}; use 'dictionary' or 'crf'")
