"""PubMed XML and MEDLINE readers on the project's own fixtures."""

from __future__ import annotations

import gzip
import shutil
import socket
from pathlib import Path

import pytest

from msc_nlp.inputs import detect_format, iter_records

FIXTURES = Path(__file__).parent / "fixtures"
BASE, UPDATE, BROKEN = FIXTURES / "pubmed_base.xml", FIXTURES / "pubmed_update.xml", FIXTURES / "pubmed_broken.xml"


def records_by_id(paths):
    result = {}
    for record in iter_records(paths):
        result.setdefault(record.id, []).append(record)
    return result


def test_structured_abstract_keeps_labels_inline_markup_and_sections():
    (record,) = records_by_id([BASE])["90000001"]
    title, abstract = record.text.split("\n\n", 1)
    assert title == "Intracoronary allogeneic MSCs after infarction."
    assert abstract.splitlines()[0] == "BACKGROUND: Cell therapy may limit remodelling."
    assert "2 × 10^6 cells/kg" in record.text and "IL-1β" in record.text and "r^2" in record.text
    assert record.extra["version"] == "1"
    for section in record.extra["sections"]:
        assert record.text[section["start"] : section["end"]].startswith(section["label"] + ": ")


def test_external_entity_is_not_expanded(tmp_path):
    (record,) = records_by_id([BASE])["90000001"]
    hostname = socket.gethostname()
    assert hostname not in record.text


def test_records_without_abstract_are_reported_not_dropped():
    found = records_by_id([BASE])
    assert found["90000002"][0].status == "no_abstract"
    assert found["90000004"][0].status == "other_abstract_only"


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_repeated_pmid_last_file_wins_whatever_the_order(order):
    files = [BASE, UPDATE]
    found = records_by_id([files[i] for i in order])
    statuses = [r.status for r in found["90000003"]]
    assert statuses == ["superseded", "ok"]
    assert "Second version" in found["90000003"][1].text


def test_delete_citation_is_honoured():
    found = records_by_id([UPDATE, BASE])
    assert [r.status for r in found["90000005"]] == ["deleted", "deleted"]


def test_gzip_input_and_format_detection(tmp_path):
    packed = tmp_path / "pubmed26n0001.xml.gz"
    with open(BASE, "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert detect_format(packed) == "pubmed"
    assert detect_format(FIXTURES / "medline.txt") == "medline"
    assert [r.id for r in iter_records([packed])] == [r.id for r in iter_records([BASE])]


def test_broken_file_keeps_records_before_the_error_and_names_the_line():
    records = list(iter_records([BROKEN]))
    assert [r.status for r in records] == ["ok", "error"]
    assert records[0].id == "90000010"
    assert "line 16" in records[1].reason and records[1].source.endswith("pubmed_broken.xml:16")


def test_medline_records():
    records = list(iter_records([FIXTURES / "medline.txt"]))
    assert [(r.id, r.status) for r in records] == [("90000020", "ok"), ("90000021", "no_abstract")]
    assert records[0].text.startswith("Autologous bone marrow cells in chronic ischaemic heart failure: a pilot study.\n\n")
    assert "10(8) autologous bone marrow" in records[0].text


def test_no_external_entity_or_dtd_is_fetched(tmp_path):
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"LEAKED-OVER-HTTP")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.txt"
    secret.write_text("LEAKED-FROM-DISK")
    port = server.server_address[1]
    xml = tmp_path / "evil.xml"
    xml.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet SYSTEM "http://127.0.0.1:{port}/pubmed.dtd" [
  <!ENTITY disk SYSTEM "file://{secret}">
  <!ENTITY web SYSTEM "http://127.0.0.1:{port}/entity">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">1</PMID><Article>
<ArticleTitle>T &disk; &web;</ArticleTitle><Abstract><AbstractText>A &disk; &web;</AbstractText></Abstract>
</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>
""")
    try:
        records = list(iter_records([xml]))
    finally:
        server.shutdown()
    assert hits == []
    assert len(records) == 1
    assert "LEAKED" not in records[0].text


def test_truncated_gzip_in_a_folder_is_an_error_record_and_other_files_are_read(tmp_path):
    data = gzip.compress(BASE.read_bytes())
    (tmp_path / "a_truncated.xml.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "b_tiny_truncated.xml.gz").write_bytes(data[:40])
    (tmp_path / "c_good.xml").write_bytes(BASE.read_bytes())
    records = list(iter_records([tmp_path]))
    errors = [r for r in records if r.status == "error"]
    assert {Path(r.source).name for r in errors} == {"a_truncated.xml.gz", "b_tiny_truncated.xml.gz"}
    assert all("byte" in r.reason for r in errors)
    good = [r for r in records if r.source.startswith(str(tmp_path / "c_good.xml"))]
    assert good and all(r.status != "error" for r in good)


def test_records_before_damage_survive_when_damage_is_in_the_same_read_block(tmp_path):
    text = BASE.read_text(encoding="utf-8")
    cut = text.rindex("</PubmedArticle>") + len("</PubmedArticle>")
    damaged = text[:cut] + "\n<PubmedArticle><MedlineCitation><PMID>1</PMID></Oops>\n"
    (tmp_path / "damaged.xml").write_text(damaged, encoding="utf-8")
    records = list(iter_records([tmp_path / "damaged.xml"]))
    intact = [r for r in records if r.status != "error"]
    assert len(intact) == text.count("</PubmedArticle>")
    assert records[-1].status == "error" and "line" in records[-1].reason
