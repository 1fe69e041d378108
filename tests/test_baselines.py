"""The baselines train and tag in the shared harness."""

from __future__ import annotations

from conftest import TWO_DOCUMENTS
from msc_nlp.baselines import DOSE_RE, TIMING_RE, build
from msc_nlp.evaluate import evaluate


def test_dictionary_baseline_finds_training_strings_and_patterns():
    tagger = build("dictionary", TWO_DOCUMENTS)
    (spans,) = tagger.predict(["Patients got 3 × 10^6 cells/kg of MSCs by intracoronary infusion 3 to 5 days after PCI."])
    found = {(s.label) for s in spans}
    assert {"DOSE", "CELL_TYPE", "ROUTE", "TIMING"} <= found


def test_patterns():
    assert DOSE_RE.search("a dose of 1.5 × 10^6 cells/kg was").group() == "1.5 × 10^6 cells/kg"
    assert TIMING_RE.search("given 7 days after MI in").group() == "7 days after MI"


def test_crf_baseline_learns_training_documents():
    tagger = build("crf", TWO_DOCUMENTS)
    result = evaluate(TWO_DOCUMENTS, tagger.predict([d.text for d in TWO_DOCUMENTS]), resamples=0)
    assert result["strict"]["micro"]["f1"] > 0.8
