"""Span scoring, checked by hand and against seqeval (strict mode, IOB2)."""

from __future__ import annotations

import pytest

from msc_nlp.document import Document, Span
from msc_nlp.evaluate import WORD_RE, error_listing, evaluate, markdown_report

TEXT_1 = "MSCs at 20 million cells by intracoronary infusion improved LVEF and infarct size."
TEXT_2 = "Rats got 50 μg exosomes intravenously 7 days after MI; TNF-α fell."


def _at(text, piece, label, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(piece, start + 1)
    return Span(start, start + len(piece), label)


GOLD = [
    Document("g1", TEXT_1, [_at(TEXT_1, "MSCs", "CELL_TYPE"), _at(TEXT_1, "20 million cells", "DOSE"),
                            _at(TEXT_1, "intracoronary infusion", "ROUTE"), _at(TEXT_1, "LVEF", "OUTCOME"),
                            _at(TEXT_1, "infarct size", "OUTCOME")]),
    Document("g2", TEXT_2, [_at(TEXT_2, "50 μg", "DOSE"), _at(TEXT_2, "intravenously", "ROUTE"),
                            _at(TEXT_2, "7 days after MI", "TIMING"), _at(TEXT_2, "TNF-α", "OUTCOME")]),
]
PRED = [
    [_at(TEXT_1, "MSCs", "CELL_TYPE"), _at(TEXT_1, "20 million", "DOSE"),            # boundary
     _at(TEXT_1, "intracoronary infusion", "ROUTE"), _at(TEXT_1, "LVEF", "OUTCOME"),  # 2 correct
     _at(TEXT_1, "improved", "OUTCOME")],                                             # false positive
    [_at(TEXT_2, "50 μg", "DOSE"), _at(TEXT_2, "intravenously", "TIMING"),           # correct, wrong type
     _at(TEXT_2, "7 days after MI", "TIMING"), _at(TEXT_2, "exosomes", "CELL_TYPE")],  # correct, FP
]


def test_strict_and_lenient_by_hand():
    result = evaluate(GOLD, PRED, resamples=200)
    strict, lenient = result["strict"], result["lenient"]
    # strict: correct = MSCs, intracoronary infusion, LVEF, 50 μg, 7 days after MI = 5; predicted 9; gold 9
    assert strict["micro"]["precision"] == pytest.approx(5 / 9, abs=1e-4)
    assert strict["micro"]["recall"] == pytest.approx(5 / 9, abs=1e-4)
    assert strict["per_type"]["DOSE"]["f1"] == pytest.approx(0.5)
    assert strict["per_type"]["ROUTE"]["precision"] == 1.0 and strict["per_type"]["ROUTE"]["recall"] == 0.5
    # lenient: "20 million" overlaps the gold DOSE
    assert lenient["per_type"]["DOSE"]["f1"] == 1.0
    assert strict["per_type"]["OUTCOME"]["support"] == 3
    low, high = strict["micro"]["f1_ci95"]
    assert 0.0 <= low <= strict["micro"]["f1"] <= high <= 1.0
    macro = sum(row["f1"] for row in strict["per_type"].values()) / 5
    assert strict["macro"]["f1"] == pytest.approx(macro, abs=1e-4)


def test_error_kinds():
    kinds = sorted(e["kind"] for doc, pred in zip(GOLD, PRED) for e in error_listing(doc, pred))
    assert kinds == ["boundary", "false_negative", "false_negative", "false_positive", "false_positive", "wrong_type"]


def _iob(text, spans):
    tags = []
    for match in WORD_RE.finditer(text):
        inside = next((s for s in spans if s.start <= match.start() and match.end() <= s.end), None)
        tags.append("O" if inside is None else ("B-" if match.start() == inside.start else "I-") + inside.label)
    return tags


def test_strict_figures_agree_with_seqeval():
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    y_true = [_iob(doc.text, doc.spans) for doc in GOLD]
    y_pred = [_iob(doc.text, pred) for doc, pred in zip(GOLD, PRED)]
    reference = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    ours = evaluate(GOLD, PRED, resamples=0)["strict"]
    assert ours["micro"]["f1"] == pytest.approx(reference["micro avg"]["f1-score"], abs=1e-4)
    assert ours["micro"]["precision"] == pytest.approx(reference["micro avg"]["precision"], abs=1e-4)
    for label, row in ours["per_type"].items():
        if label in reference:
            assert row["f1"] == pytest.approx(reference[label]["f1-score"], abs=1e-4), label
            assert row["support"] == reference[label]["support"]


def test_perfect_and_empty_predictions():
    perfect = evaluate(GOLD, [d.spans for d in GOLD], resamples=50)
    assert perfect["strict"]["micro"]["f1"] == 1.0 and perfect["token"]["f1"] == 1.0 and perfect["errors"] == []
    empty = evaluate(GOLD, [[], []], resamples=50)
    assert empty["strict"]["micro"]["f1"] == 0.0
    assert len(empty["errors"]) == 9


def test_markdown_report_lists_types_and_errors():
    report = markdown_report(evaluate(GOLD, PRED, resamples=50))
    assert "| DOSE |" in report and "wrong_type" in report and "`g2`" in report


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 gold documents but 1"):
        evaluate(GOLD, [[]])
