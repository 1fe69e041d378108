"""The model shipped in models/msc-ner: loads offline, tags, and reproduces its recorded test figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from msc_nlp.corpus import load_split
from msc_nlp.evaluate import evaluate
from msc_nlp.model import read_metadata
from msc_nlp.predict import Tagger

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "msc-ner"


@pytest.fixture(scope="module")
def shipped():
    return Tagger.load(MODEL)


def test_shipped_model_tags_test_documents_with_exact_offsets(shipped):
    documents = load_split(ROOT / "annotations", "test")[:4]
    for doc, spans in zip(documents, shipped.predict([d.text for d in documents])):
        assert spans, doc.id
        for span in spans:
            assert doc.text[span.start : span.end].strip() == doc.text[span.start : span.end]
        assert {s.label for s in spans} & {"CELL_TYPE", "OUTCOME"}


def test_shipped_model_metadata():
    metadata = read_metadata(MODEL)
    assert metadata["training_config"]["base_model"] == "minilm"
    assert len(metadata["training_data_sha256"]) == 64
    assert metadata["test"]["strict"]["micro"]["f1"] > 0.5


@pytest.mark.slow
def test_shipped_model_reproduces_its_recorded_test_figures(shipped):
    test = load_split(ROOT / "annotations", "test")
    result = evaluate(test, shipped.predict([d.text for d in test]), resamples=0)
    recorded = read_metadata(MODEL)["test"]
    assert result["strict"]["micro"]["f1"] == pytest.approx(recorded["strict"]["micro"]["f1"], abs=2e-4)
    for label, row in recorded["strict"]["per_type"].items():
        assert result["strict"]["per_type"][label]["f1"] == pytest.approx(row["f1"], abs=2e-4), label
