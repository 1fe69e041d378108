"""Real-text robustness: span repair, offset-preserving augmentation, repeated-fact check, test splits."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msc_nlp import corpus
from msc_nlp.augment import Edit, POWER_OF_TEN, apply_edits, augment, augment_document, power_of_ten_variant
from msc_nlp.document import Document, Span
from msc_nlp.leakage import facts_of, normalise_dose, shared_facts
from msc_nlp.span_repair import repair, repair_span

ROOT = Path(__file__).resolve().parent.parent / "annotations"


def _whole(text: str, label: str) -> str | None:
    repaired = repair_span(text, Span(0, len(text), label))
    return None if repaired is None else text[repaired.start : repaired.end]


@pytest.mark.parametrize("text, label, expected", [
    ("improvement in", "OUTCOME", None),
    ("Improvement in", "OUTCOME", None),
    ("via", "ROUTE", None),
    ("the", "CELL_TYPE", None),
    ("-", "DOSE", None),
    ("+/-", "DOSE", None),
    ("New York Heart Association (", "OUTCOME", "New York Heart Association"),
    ("New York Heart Association (NYHA", "OUTCOME", "New York Heart Association"),
    ("New York Heart Association (NYHA) functional class", "OUTCOME", "New York Heart Association (NYHA) functional class"),
    ("(MSCs", "CELL_TYPE", "MSCs"),
    ("The MSCs", "CELL_TYPE", "MSCs"),
    ("100 μg of", "DOSE", "100 μg"),
    ("TNF-α,", "OUTCOME", "TNF-α"),
    ("CD34+", "CELL_TYPE", "CD34+"),
    ("IL-1(β)", "OUTCOME", "IL-1(β)"),
    ("IS", "OUTCOME", "IS"),  # infarct size, not the verb "is"
    ("IV", "ROUTE", "IV"),
    ("in-stent restenosis", "OUTCOME", "in-stent restenosis"),
    ("post-infarction remodelling", "OUTCOME", "post-infarction remodelling"),
    ("during CABG", "TIMING", "during CABG"),
    ("a median of 7 days after the index infarction", "TIMING", "a median of 7 days after the index infarction"),
    ("during CABG", "OUTCOME", "CABG"),
    ("via a left anterior thoracotomy", "ROUTE", "via a left anterior thoracotomy"),
    ("reduction in infarct size", "OUTCOME", "reduction in infarct size"),
])
def test_repair_table(text, label, expected):
    assert _whole(text, label) == expected


def test_repair_leaves_every_gold_span_of_the_corpus_alone():
    changed = [(doc.id, span.text_in(doc.text)) for doc in corpus.load_corpus(ROOT) for span in doc.spans
               if repair_span(doc.text, span) != span]
    assert changed == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab (),.-") + ["the ", "via ", "of ", "IS ", "α"]), min_size=1, max_size=20),
       st.sampled_from(["CELL_TYPE", "DOSE", "ROUTE", "TIMING", "OUTCOME"]))
def test_repair_only_narrows_and_never_leaves_bad_edges(pieces, label):
    text = "".join(pieces)
    repaired = repair(text, [Span(0, len(text), label)])
    for span in repaired:
        assert 0 <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip()
        assert piece[-1] not in ",.;:(" and piece[0] not in ",.;:)"


def test_power_of_ten_variants():
    match = POWER_OF_TEN.search("given 2.5 × 10^6 cells")
    assert power_of_ten_variant(match, " x ", "paren") == "2.5 x 10(6)"
    assert power_of_ten_variant(match, "×", "flat") == "2.5×106"
    assert power_of_ten_variant(match, " × ", "sup") == "2.5 × 10⁶"
    assert power_of_ten_variant(match, " × ", "enote") == "2.5E+06"
    assert POWER_OF_TEN.search("1 x 10(8) cells").group(0) == "1 x 10(8)"


def test_apply_edits_moves_spans_and_skips_edits_across_a_span_edge():
    text = "Gave 2 × 10^6 cells by intracoronary infusion; LVEF ± 2."
    doc = Document("d", text, [Span(5, 19, "DOSE"), Span(23, 45, "ROUTE"), Span(47, 51, "OUTCOME")])
    edits = [Edit(7, 13, "x 10(6)"), Edit(23, 36, "IC"), Edit(17, 25, "X"), Edit(52, 53, "+/-")]
    new = apply_edits(doc, edits)
    assert [new.text[s.start : s.end] for s in new.spans] == ["2 x 10(6) cells", "IC infusion", "LVEF"]
    assert new.text == "Gave 2 x 10(6) cells by IC infusion; LVEF +/- 2."


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_augmented_spans_cover_the_same_words(data):
    words = data.draw(st.lists(st.sampled_from(
        ["MSCs", "1 × 10^6 cells", "10⁶", "±", "+/-", "µg", "TNF-α", "RESULTS:", "intracoronary", "infarct size",
         "and", "x 10(8)", "IL-1β", "≥"]), min_size=3, max_size=15))
    text = " ".join(words)
    spans, position = [], 0
    for word in words:
        start = text.index(word, position)
        position = start + len(word)
        if data.draw(st.booleans()) and word.strip(":±+/-≥") == word:
            spans.append(Span(start, position, "OUTCOME"))
    doc = Document("d", text, spans)
    new = augment_document(doc, random.Random(data.draw(st.integers(0, 1000))))
    assert new.span_problems() == []
    assert len(new.spans) == len(doc.spans)
    for old, moved in zip(doc.spans, new.spans):
        before, after = old.text_in(doc.text), moved.text_in(new.text)
        if before in ("intracoronary", "infarct size"):
            assert after in (before, "IC", "IS")
        elif not any(ch in before for ch in "×x^⁰¹²³⁴⁵⁶⁷⁸⁹()µαβ"):
            assert after == before


def test_augment_is_reproducible_and_keeps_the_corpus_valid():
    docs = corpus.load_split(ROOT, "train")[:60]
    first, second = augment(docs, 1, seed=5), augment(docs, 1, seed=5)
    assert [d.text for d in first] == [d.text for d in second]
    assert first and all(d.span_problems() == [] for d in first)
    assert any("10(" in d.text or "E+0" in d.text or "×10" in d.text or "x10" in d.text for d in first)


def test_dose_normalisation_and_facts():
    assert normalise_dose("1 × 10^6 cells") == normalise_dose("1 x 10(6) cells") == normalise_dose("1×10⁶ cells")
    doc = Document("d", "The POSEIDON trial (NCT01087996) gave 20 million cells; scar fell 33.21% (p = 0.001).",
                   [Span(38, 54, "DOSE")])
    facts = facts_of(doc)
    assert {"POSEIDON", "NCT01087996"} <= facts.names
    assert "33.21" in facts.results and "0.001" not in facts.results


def _doc(doc_id: str, group: str, text: str, dose: str | None = None) -> Document:
    spans = []
    if dose:
        start = text.index(dose)
        spans.append(Span(start, start + len(dose), "DOSE"))
    return Document(doc_id, text, spans, {"group": group, "study_type": "clinical"})


def test_shared_facts_across_groups_are_found_and_split_decides_the_severity():
    a = _doc("a", "G1", "T\n\nThe ALPHA-HF trial gave 25 million cells; LVEF rose 4.37 points.", "25 million cells")
    b = _doc("b", "G2", "T\n\nIn ALPHA-HF trial patients, 25 million cells raised LVEF by 4.37 points.", "25 million cells")
    c = _doc("c", "G3", "T\n\nAnother study gave 25 million cells; LVEF rose 2.10 points.", "25 million cells")
    pairs = shared_facts([a, b, c], {"a": "train", "b": "test", "c": "test"})
    assert [(p.first, p.second) for p in pairs] == [("a", "b")]
    assert "ALPHA-HF" in pairs[0].shared and "4.37" in pairs[0].shared
    assert pairs[0].crosses_splits
    assert not shared_facts([a, b], {"a": "train", "b": "train"})[0].crosses_splits


@pytest.fixture()
def small_corpus(tmp_path) -> Path:
    root = tmp_path / "annotations"
    (root / "jsonl").mkdir(parents=True)
    (root / "splits").mkdir()
    docs = [_doc("t1", "G1", "Title one\n\nMSCs were given to patients with MI."),
            _doc("t2", "G2", "Title two\n\nWharton jelly cells were given after PCI."),
            _doc("t3", "G3", "Title three\n\nAdipose cells were injected in swine."),
            _doc("r1", "G3", "Title four\n\nAdipose cells again, in sheep this time.")]
    from msc_nlp.jsonl import dumps

    (root / "jsonl" / "b.jsonl").write_text("".join(dumps(d.to_json()) + "\n" for d in docs))
    for split, ids in {"train": ["t1"], "dev": ["t2"], "test": ["t3"], "test-real-style": ["r1"]}.items():
        (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def test_a_group_may_be_in_both_test_splits_but_not_in_training_and_test(small_corpus):
    assert corpus.check(small_corpus).errors == []
    (small_corpus / "splits" / "train.txt").write_text("t1\nt3\n")
    (small_corpus / "splits" / "test.txt").write_text("")
    errors = corpus.check(small_corpus).errors
    assert any("group G3 is in test-real-style, but the group is also in train" in e for e in errors)


def test_split_assignment_never_touches_the_frozen_test_splits(small_corpus):
    existing = {s: set(corpus.read_split(small_corpus, s)) for s in corpus.SPLITS}
    splits = corpus.assign_splits(corpus.load_corpus(small_corpus), existing)
    assert splits["test"] == ["t3"] and splits["test-real-style"] == ["r1"]
