"""Importing BRAT, Label Studio and Prodigy annotations: offsets converted once and checked."""

from __future__ import annotations

import json

import pytest

from msc_nlp.cli import main
from msc_nlp.errors import InputError
from msc_nlp.importers import read_brat, read_label_studio, read_prodigy, utf16_to_codepoints
from msc_nlp.jsonl import iter_jsonl

TEXT = "Title 🫀 line\r\n\r\nWe gave 2 × 10^6 cells/kg of MSCs intravenously; TNF-α fell."


def _at(piece):
    start = TEXT.index(piece)
    return start, start + len(piece)


def test_brat_with_crlf_and_astral_characters(tmp_path):
    (tmp_path / "doc1.txt").write_bytes(TEXT.encode("utf-8"))
    dose, cells = _at("2 × 10^6 cells/kg"), _at("MSCs")
    (tmp_path / "doc1.ann").write_text(
        f"T1\tDose {dose[0]} {dose[1]}\t2 × 10^6 cells/kg\nT2\tCELL_TYPE {cells[0]} {cells[1]}\tMSCs\n"
        "#1\tAnnotatorNotes T1\tchecked\n", encoding="utf-8")
    doc = read_brat(tmp_path / "doc1.ann", {"Dose": "DOSE"})
    assert doc.text == TEXT
    assert [(doc.text[s.start : s.end], s.label) for s in doc.spans] == [("2 × 10^6 cells/kg", "DOSE"), ("MSCs", "CELL_TYPE")]


def test_brat_mismatch_and_unknown_label_name_the_line(tmp_path):
    (tmp_path / "d.txt").write_text(TEXT, encoding="utf-8", newline="")
    (tmp_path / "d.ann").write_text("T1\tCELL_TYPE 0 5\tMSCs\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"d.ann: line 1: .*not 'MSCs'"):
        read_brat(tmp_path / "d.ann")
    start, end = _at("MSCs")
    (tmp_path / "d.ann").write_text(f"T1\tDrug {start} {end}\tMSCs\n", encoding="utf-8")
    with pytest.raises(InputError, match="label 'Drug' is not one of"):
        read_brat(tmp_path / "d.ann")


def test_utf16_offsets_map_to_code_points():
    mapping = utf16_to_codepoints("a🫀b")
    assert mapping == [0, 1, 1, 2, 3]


def test_label_studio_utf16_offsets(tmp_path):
    start, end = _at("TNF-α")
    shift = 1  # the heart emoji is two UTF-16 units
    export = [{"id": 7, "data": {"text": TEXT}, "annotations": [{"result": [
        {"value": {"start": start + shift, "end": end + shift, "text": "TNF-α", "labels": ["OUTCOME"]}},
        {"value": {"choices": ["relevant"]}}]}]}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    (doc,) = read_label_studio(path)
    assert doc.id == "7" and [(doc.text[s.start : s.end], s.label) for s in doc.spans] == [("TNF-α", "OUTCOME")]
    export[0]["annotations"][0]["result"][0]["value"]["start"] -= shift  # code points are wrong for Label Studio
    export[0]["annotations"][0]["result"][0]["value"]["end"] -= shift
    path.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(InputError, match=r"task 1 \(id 7\)"):
        list(read_label_studio(path))


def test_prodigy_accepts_only_accepted_answers_and_cli_writes_canonical_jsonl(tmp_path):
    start, end = _at("intravenously")
    lines = [{"text": TEXT, "spans": [{"start": start, "end": end, "label": "ROUTE", "token_start": 9, "token_end": 9}],
              "answer": "accept", "meta": {"id": "p1"}},
             {"text": "rejected", "spans": [], "answer": "reject"}]
    source = tmp_path / "prodigy.jsonl"
    source.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (doc,) = read_prodigy(source)
    assert doc.id == "p1" and doc.spans[0].label == "ROUTE"
    out = tmp_path / "imported.jsonl"
    assert main(["annotations", "import", str(source), "--from", "prodigy", "--out", str(out)]) == 0
    ((_, record),) = list(iter_jsonl(out))
    assert record["spans"] == [{"start": start, "end": end, "label": "ROUTE"}]
