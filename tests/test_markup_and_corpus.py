"""Authoring markup, the canonical corpus and its validator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from msc_nlp import corpus
from msc_nlp.cli import main
from msc_nlp.document import Document, Span
from msc_nlp.markup import MarkupError, read_marked_file, strip_markup

ROOT = Path(__file__).resolve().parent.parent / "annotations"


def test_strip_markup_gives_exact_offsets():
    text, spans = strip_markup("Gave [[20M|DOSE]] [[MSCs|CELL_TYPE]] ([[TESI|ROUTE]]).", "x:1")
    assert text == "Gave 20M MSCs (TESI)."
    assert [(text[s:e], label) for s, e, label in spans] == [("20M", "DOSE"), ("MSCs", "CELL_TYPE"), ("TESI", "ROUTE")]


@pytest.mark.parametrize("marked", ["[[MSCs|CELLTYPE]] x", "[[MSCs|CELL_TYPE] x", "x ]] y"])
def test_strip_markup_rejects_broken_marks(marked):
    with pytest.raises(MarkupError, match="x:7"):
        strip_markup(marked, "x:7")


def test_read_marked_file_names_line_of_bad_header(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("### a1 | G1 | clinical\nTitle\n\nAbstract [[MSCs|CELL_TYPE]].\n\n### a2 | G2 | nonsense\nT\n\nA\n")
    with pytest.raises(MarkupError, match=r"b.txt:6: study_type 'nonsense'"):
        read_marked_file(path)


def test_read_marked_file_requires_blank_line_after_title(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("### a1 | G1 | clinical\nTitle\nAbstract right after.\n")
    with pytest.raises(MarkupError, match="b.txt:1"):
        read_marked_file(path)


def test_shipped_corpus_passes_validator():
    report = corpus.check(ROOT)
    assert report.errors == []
    assert report.documents >= 400


def test_shipped_corpus_spans_match_text():
    for doc in corpus.load_corpus(ROOT):
        for span in doc.spans:
            piece = doc.text[span.start : span.end]
            assert piece == piece.strip() and piece, (doc.id, span)


@pytest.fixture()
def corpus_copy(tmp_path) -> Path:
    target = tmp_path / "annotations"
    shutil.copytree(ROOT, target)
    return target


def _rewrite_first_record(root: Path, change) -> Path:
    path = sorted((root / "jsonl").glob("*.jsonl"))[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    change(record)
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("change, message", [
    (lambda r: r["spans"].append({"start": 0, "end": 10_000, "label": "DOSE"}), "out of range"),
    (lambda r: r["spans"].__setitem__(0, {**r["spans"][0], "label": "DRUG"}), "not one of"),
    (lambda r: r["spans"].append(dict(r["spans"][0])), "spans overlap"),
    (lambda r: r["spans"].__setitem__(0, {**r["spans"][0], "end": r["spans"][0]["end"] + 1}), "punctuation|whitespace"),
])
def test_validator_fails_on_broken_copy(corpus_copy, change, message):
    path = _rewrite_first_record(corpus_copy, change)
    report = corpus.check(corpus_copy, [path])
    assert not report.ok
    assert any(f"{path}:1:" in e and __import__("re").search(message, e) for e in report.errors), report.errors


def test_validator_catches_duplicates_and_split_problems(corpus_copy):
    path = sorted((corpus_copy / "jsonl").glob("*.jsonl"))[0]
    first = path.read_text(encoding="utf-8").splitlines()[0]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(first + "\n")
    (corpus_copy / "splits" / "dev.txt").write_text(
        (corpus_copy / "splits" / "dev.txt").read_text() + corpus.read_split(corpus_copy, "test")[0] + "\n")
    errors = "\n".join(corpus.check(corpus_copy).errors)
    assert "duplicate id" in errors
    assert "duplicate text" in errors
    assert "listed twice" in errors
    assert "differs from" in errors  # the JSONL no longer matches its authoring source


def test_cli_check_exit_codes(corpus_copy, capsys):
    assert main(["annotations", "check", "--root", str(corpus_copy)]) == 0
    _rewrite_first_record(corpus_copy, lambda r: r["spans"].append({"start": 0, "end": 3, "label": "X"}))
    assert main(["annotations", "check", "--root", str(corpus_copy)]) == 1
    assert "ERROR" in capsys.readouterr().out


def _doc(doc_id, group, study_type="clinical"):
    return Document(doc_id, f"text of {doc_id}", [], {"group": group, "study_type": study_type})


def test_splits_keep_groups_together_and_freeze_test():
    documents = [_doc(f"d{i}", f"G{i // 3}") for i in range(60)]
    splits = corpus.assign_splits(documents)
    group_of = {d.id: d.meta["group"] for d in documents}
    placements = {}
    for split, ids in splits.items():
        for doc_id in ids:
            assert placements.setdefault(group_of[doc_id], split) == split
    assert 6 <= len(splits["test"]) <= 12 and len(splits["train"]) >= 36
    more = documents + [_doc(f"n{i}", f"NEW{i}") for i in range(20)]
    again = corpus.assign_splits(more, {k: set(v) for k, v in splits.items()})
    assert again["test"] == splits["test"]
    assert set(splits["train"]) <= set(again["train"])


def test_consistency_warnings_find_unlabelled_occurrence():
    text_a = "Title\n\nWe gave MSCs."
    text_b = "Title\n\nMSCs were not given here but MSCs appear."
    docs = [Document("a", text_a, [Span(15, 19, "CELL_TYPE")]),
            Document("b", text_b, [Span(7, 11, "OUTCOME")])]
    warnings = corpus.consistency_warnings(docs)
    assert any("'MSCs' labelled CELL_TYPE x1, OUTCOME x1" in w for w in warnings["label_conflict"])
    assert any(w.startswith("b: 'MSCs' at 36") for w in warnings["unlabelled_occurrence"])


def test_agreement_scores_two_passes_and_skips_changed_texts():
    first = [Document("a", "MSCs and LVEF.", [Span(0, 4, "CELL_TYPE"), Span(9, 13, "OUTCOME")]),
             Document("b", "Doses of 2 million cells.", [Span(9, 24, "DOSE")])]
    second = [Document("a", "MSCs and LVEF.", [Span(0, 4, "CELL_TYPE")]),
              Document("b", "Doses of 2 million cells!", [Span(9, 24, "DOSE")])]
    result = corpus.agreement(first, second, resamples=50)
    assert result["documents_compared"] == 1 and result["text_changed"] == ["b"]
    assert result["strict"]["per_type"]["CELL_TYPE"]["f1"] == 1.0
    assert result["strict"]["per_type"]["OUTCOME"]["f1"] == 0.0
    with pytest.raises(ValueError, match="not in the first"):
        corpus.agreement(first, [Document("z", "x", [])])


def test_statistics_markdown_reports_quotas():
    table = corpus.statistics_markdown(ROOT)
    assert "| documents |" in table and "| negatives and near-misses |" in table
    assert "NO" not in table
