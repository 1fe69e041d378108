"""The real ``msc-nlp`` entry point, run as a separate process."""

from __future__ import annotations

import json
import subprocess
import shutil
import sys
from pathlib import Path

from conftest import TWO_DOCUMENTS

ENTRY_POINT = shutil.which("msc-nlp") or str(Path(sys.executable).parent / "msc-nlp")


def run(*args, **kwargs):
    return subprocess.run([ENTRY_POINT, *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_tag_jsonl_and_text_through_entry_point(overfit_model, tmp_path):
    source = tmp_path / "in.jsonl"
    title, abstract = TWO_DOCUMENTS[0].text.split("\n\n", 1)
    source.write_text(json.dumps({"id": "p1", "title": title, "text": abstract}) + "\n"
                      + "this line is not json\n"
                      + json.dumps({"id": "p2", "text": TWO_DOCUMENTS[1].text}) + "\n", encoding="utf-8")
    text_file = tmp_path / "abstract.txt"
    text_file.write_text(TWO_DOCUMENTS[1].text, encoding="utf-8")
    out = tmp_path / "out" / "tagged.jsonl"
    result = run("tag", str(source), str(text_file), "-o", str(out), "--model", str(overfit_model), "--quiet")
    assert result.returncode == 1, result.stderr  # one bad line: outputs written, exit 1
    assert "4 records: 3 ok, 1 error, 0 skipped" in result.stderr
    assert f"1 record error, e.g.:\n    {source}:2: not valid JSON" in result.stderr  # where, on the console
    assert "Loading weights" not in result.stderr and "\x1b[" not in result.stderr  # quiet by default
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["p1", "in.jsonl:2", "p2", "abstract"]
    assert records[0]["text"] == TWO_DOCUMENTS[0].text and records[0]["title"] == title
    assert records[1]["status"] == "error" and "not valid JSON" in records[1]["reason"]
    for record in records:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]
    assert [(e["start"], e["end"], e["label"]) for e in records[0]["entities"]] == \
           [(s.start, s.end, s.label) for s in TWO_DOCUMENTS[0].spans]
    errors = [json.loads(line) for line in (out.parent / f"{out.stem}.errors.jsonl").read_text().splitlines()]
    assert errors == [{"id": "in.jsonl:2", "source": f"{source}:2", "reason": records[1]["reason"]}]


def test_evaluate_predictions_file_through_entry_point(overfit_model, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(d.to_json(), ensure_ascii=False) + "\n" for d in TWO_DOCUMENTS), encoding="utf-8")
    tagged = tmp_path / "tagged.jsonl"
    assert run("tag", str(gold), "-o", str(tagged), "--model", str(overfit_model), "--quiet").returncode == 0
    report = tmp_path / "report.json"
    result = run("evaluate", "--predictions", str(tagged), "--data", str(gold), "--out", str(report),
                 "--markdown", str(tmp_path / "report.md"), "--resamples", "50")
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["strict"]["micro"]["f1"] == 1.0
    assert "| CELL_TYPE |" in (tmp_path / "report.md").read_text()


def test_missing_model_is_a_clear_error(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("Title\n\nText.")
    result = run("tag", str(source), "-o", str(tmp_path / "o.jsonl"), "--model", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "not a model folder" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "msc_nlp.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "tag" in result.stdout
