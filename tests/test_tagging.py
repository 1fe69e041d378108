"""Tagging runs: every record accounted for, resume after a kill, extra output formats."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import TWO_DOCUMENTS
from msc_nlp.errors import MscNlpError
from msc_nlp.inputs import iter_records
from msc_nlp.predict import Tagger
from msc_nlp.readers import Record
from msc_nlp.tagging import tag_records
from msc_nlp.writers import read_output, write_brat, write_csv, write_html

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tagger(overfit_model):
    return Tagger.load(overfit_model, batch_size=4)


def _records(n):
    texts = [d.text for d in TWO_DOCUMENTS] + ["Title only\n\nNothing to see.", ""]
    return [Record(f"r{i}", texts[i % len(texts)], f"mem:{i}") for i in range(n)]


def test_mixed_folder_every_record_accounted_for(tagger, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("pubmed_base.xml", "pubmed_update.xml", "pubmed_broken.xml", "medline.txt"):
        shutil.copy(FIXTURES / name, folder / name)
    (folder / "notes.jsonl").write_text('{"id": "j1", "text": "MSCs."}\n{broken\n', encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    summary = tag_records(iter_records([folder]), tagger, out)
    lines = read_output(out)
    assert summary.balanced and summary.total == len(lines) == 14
    assert summary.errors == 3  # broken JSON line, non-UTF-8 text file, broken XML
    assert summary.skipped == {"no_abstract": 2, "other_abstract_only": 1, "deleted": 2, "superseded": 1}
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert {e["source"].split("/")[-1] for e in errors} == {"notes.jsonl:2", "latin1.txt", "pubmed_broken.xml:16"}
    for record in lines:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]


class Killed(Exception):
    pass


def _dying(records, after):
    for i, record in enumerate(records):
        if i == after:
            raise Killed()
        yield record


@pytest.mark.parametrize("tear", [False, True])
def test_resume_after_kill_gives_identical_bytes(tagger, tmp_path, tear):
    records = _records(40)
    reference = tmp_path / "reference.jsonl"
    tag_records(records, tagger, reference, buffer_size=8)
    out = tmp_path / "run" / "out.jsonl"
    with pytest.raises(Killed):
        tag_records(_dying(records, 27), tagger, out, buffer_size=8)
    partial = out.with_name("out.jsonl.partial")
    assert not out.exists() and partial.exists()
    if tear:  # a write torn in the middle of a line
        data = partial.read_bytes()
        partial.write_bytes(data[: len(data) - 17])
    summary = tag_records(records, tagger, out, buffer_size=8, resume=True)
    assert summary.resumed in (23, 24) if tear else summary.resumed == 24
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists()


def test_resume_with_other_inputs_is_refused(tagger, tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(Killed):
        tag_records(_dying(_records(20), 12), tagger, out, buffer_size=4)
    other = [Record(f"x{i}", "text", "mem") for i in range(20)]
    with pytest.raises(MscNlpError, match="partial output is from other inputs"):
        tag_records(other, tagger, out, resume=True)


def test_output_does_not_depend_on_buffer_or_batch_size(overfit_model, tmp_path):
    records = _records(30)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    tag_records(records, Tagger.load(overfit_model, batch_size=1), a, buffer_size=3)
    tag_records(records, Tagger.load(overfit_model, batch_size=8), b, buffer_size=64)
    assert a.read_bytes() == b.read_bytes()


def test_killed_process_resumes_to_same_bytes(overfit_model, tmp_path):
    source = tmp_path / "in.jsonl"
    with open(source, "w", encoding="utf-8") as handle:
        for i in range(3000):
            handle.write(json.dumps({"id": f"k{i}", "text": TWO_DOCUMENTS[i % 2].text}) + "\n")
    entry = shutil.which("msc-nlp") or str(Path(sys.executable).parent / "msc-nlp")
    base = [entry, "tag", str(source), "--model", str(overfit_model), "--quiet", "--buffer-size", "32"]
    reference = tmp_path / "ref.jsonl"
    subprocess.run(base + ["-o", str(reference)], check=True, capture_output=True, timeout=600)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(base + ["-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out.with_name("out.jsonl.partial")
    deadline = time.time() + 300
    while time.time() < deadline and (not partial.exists() or partial.stat().st_size < 200_000):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists(), "the run finished before it could be killed"
    result = subprocess.run(base + ["-o", str(out), "--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "taken from the interrupted run" in result.stderr
    assert out.read_bytes() == reference.read_bytes()


class _Marks(HTMLParser):
    def __init__(self):
        super().__init__()
        self.marks, self._open, self._text = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == "mark" and dict(attrs).get("class") == "entity":
            self._open, self._text = dict(attrs), []
        elif tag == "span" and self._open is not None:
            self._open["_in_tag"] = True

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self._open.pop("_in_tag", None)
            self._open["_done"] = True
        if tag == "mark" and self._open is not None:
            self.marks.append((self._open["data-label"], "".join(self._text)))
            self._open = None

    def handle_data(self, data):
        if self._open is not None and "_in_tag" not in self._open and "_done" not in self._open:
            self._text.append(data)


def test_html_csv_and_brat_outputs(tagger, tmp_path):
    out = tmp_path / "out.jsonl"
    tag_records(iter_records([FIXTURES / "pubmed_base.xml"]) , tagger, out)
    records = read_output(out) + [{"id": "x<1>", "text": "MSCs & <b>", "entities": [
        {"start": 0, "end": 4, "label": "CELL_TYPE", "text": "MSCs", "score": 0.9}], "status": "ok"}]
    write_html(records, tmp_path / "report.html")
    parser = _Marks()
    parser.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    expected = [(e["label"], e["text"]) for r in records for e in r["entities"]]
    assert parser.marks == expected and ("CELL_TYPE", "MSCs") in parser.marks
    assert "Entities per type" in (tmp_path / "report.html").read_text(encoding="utf-8")
    write_csv(records, tmp_path / "e.csv")
    rows = (tmp_path / "e.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id,pmid,label,start,end,text,score,model" and len(rows) == 1 + len(expected)
    assert write_brat(records, tmp_path / "brat") == sum(r["status"] == "ok" for r in records)
    ann = (tmp_path / "brat" / "x_1_.ann").read_text(encoding="utf-8")
    txt = (tmp_path / "brat" / "x_1_.txt").read_text(encoding="utf-8")
    label, start, end = ann.split("\t")[1].split()
    assert txt[int(start) : int(end)] == "MSCs"


def test_output_does_not_depend_on_input_order(tagger, tmp_path):
    records = _records(12) + [Record("long", "word " * 900 + "MSCs by intracoronary infusion.", "mem")]
    forward, backward = tmp_path / "f.jsonl", tmp_path / "b.jsonl"
    tag_records(records, tagger, forward, buffer_size=5)
    tag_records(list(reversed(records)), tagger, backward, buffer_size=5)
    by_id = {r["id"]: r for r in read_output(forward)}
    assert by_id == {r["id"]: r for r in read_output(backward)}


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    from msc_nlp.jsonl import write_atomic

    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.jsonl", ["{}"])
    finally:
        os.umask(previous)
    assert (tmp_path / "a.jsonl").stat().st_mode & 0o777 == 0o644


def test_binary_empty_and_foreign_text_get_their_own_status(tmp_path):
    from msc_nlp.inputs import iter_records

    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (tmp_path / "b.txt").write_text("")
    (tmp_path / "c.txt").write_text("间充质干细胞治疗急性心肌梗死的临床研究。" * 5, encoding="utf-8")
    (tmp_path / "d.txt").write_text("Las células madre mesenquimales se administraron por vía intracoronaria en "
                                    "pacientes con infarto agudo de miocardio y se midió la fracción de eyección "
                                    "del ventrículo izquierdo a los seis meses en todos los grupos del estudio "
                                    "aleatorizado con seguimiento clínico completo durante un año entero.")
    (tmp_path / "e.txt").write_text("Intracoronary MSCs after infarction\n\nSixty patients received 2 × 10^6 cells/kg "
                                    "of allogeneic MSCs by intracoronary infusion; LVEF rose and TNF-α fell in the "
                                    "treated group compared with the placebo group at six months.")
    status = {Path(r.source).name: r.status for r in iter_records([tmp_path])}
    assert status == {"a.pdf": "binary", "b.txt": "empty", "c.txt": "not_english", "d.txt": "not_english",
                      "e.txt": "ok"}


def test_usage_errors_leave_nothing_behind_and_load_no_model(tmp_path, monkeypatch):
    from msc_nlp import predict
    from msc_nlp.cli import main

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load before the inputs are checked")

    monkeypatch.setattr(predict.Tagger, "load", classmethod(no_model))
    out = tmp_path / "out" / "t.jsonl"
    assert main(["tag", str(tmp_path / "missing"), "-o", str(out)]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["tag", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, monkeypatch):
    from msc_nlp import predict
    from msc_nlp.cli import main
    from msc_nlp.errors import MscNlpError
    from msc_nlp.jsonl import write_atomic

    monkeypatch.setattr(predict.Tagger, "load", classmethod(lambda *a, **k: (_ for _ in ()).throw(AssertionError())))
    (tmp_path / "in.txt").write_text("Title\n\nSome abstract text about MSCs given by intracoronary infusion.")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert main(["tag", str(tmp_path / "in.txt"), "-o", str(folder)]) == 2
    fifo = tmp_path / "a_fifo"  # stands in for /dev/null: a failing guard must not replace a real device
    os.mkfifo(fifo)
    assert main(["tag", str(tmp_path / "in.txt"), "-o", str(fifo)]) == 2
    with pytest.raises(MscNlpError, match="not a regular file"):
        write_atomic(fifo, ["x"])
    assert fifo.is_fifo()
