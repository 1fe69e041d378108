"""``msc-nlp fetch`` against a local stub of NCBI E-utilities (never the real service)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from msc_nlp import fetch
from msc_nlp.cli import main
from msc_nlp.errors import InputError
from msc_nlp.pubmed import iter_pubmed

DOCTYPE = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
           b'2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')
FAST = 1000.0  # requests a second for tests that do not measure the rate limit


def article(pmid: int) -> bytes:
    """A PubmedArticle with inline markup, an escaped character and non-ASCII text."""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<Article><ArticleTitle>MSCs &amp; infarction {pmid}</ArticleTitle><Abstract>"
            f'<AbstractText Label="METHODS">2 &#215; 10<sup>6</sup> cells/kg; TNF-α &lt; 5</AbstractText>'
            f"</Abstract></Article></MedlineCitation></PubmedArticle>").encode("utf-8")


class Stub:
    """A fake E-utilities server: ESearch/EPost store sets in a history, EFetch pages them."""

    def __init__(self, pmids: list[int]) -> None:
        self.articles = {str(p): article(p) for p in pmids}
        self.counts: dict[str, int] = {}  # term -> Count reported without a usable set (the >10,000 case)
        self.failures: dict[str, list[int]] = {}  # utility -> statuses to answer first (0: drop the connection)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.history: dict[tuple[str, str], list[str]] = {}
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                stub.handle(self, parse_qs(urlsplit(self.path).query))

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
                stub.handle(self, parse_qs(body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/eutils/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def calls(self, utility: str) -> list[dict[str, str]]:
        return [params for name, _, params in self.requests if name == utility]

    def handle(self, request: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        utility = urlsplit(request.path).path.rsplit("/", 1)[-1].removesuffix(".fcgi")
        params = {key: values[0] for key, values in query.items()}
        with self.lock:
            self.requests.append((utility, request.command, params))
            failures = self.failures.get(utility)
            status = failures.pop(0) if failures else None
        if status == 0:
            request.close_connection = True
            request.connection.shutdown(2)  # no answer at all: the client sees a dropped connection
            return
        if status is not None:
            self.answer(request, b"<ERROR>try again</ERROR>", status)
            return
        getattr(self, utility)(request, params)

    def answer(self, request, body: bytes, status: int = 200) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "text/xml; charset=UTF-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def store(self, pmids: list[str], webenv: str | None) -> tuple[str, str]:
        with self.lock:
            webenv = webenv or f"MCID_{len(self.history) + 1}"
            key = str(sum(1 for env, _ in self.history if env == webenv) + 1)
            self.history[(webenv, key)] = pmids
        return webenv, key

    def esearch(self, request, params) -> None:
        term = params["term"]
        if term == "bad syntax":
            self.answer(request, b"<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>")
            return
        if term in self.counts:
            body = f"<eSearchResult><Count>{self.counts[term]}</Count><RetMax>0</RetMax><RetStart>0</RetStart>"
            body += "<QueryKey>1</QueryKey><WebEnv>MCID_big</WebEnv></eSearchResult>"
            self.answer(request, body.encode())
            return
        webenv, key = self.store(sorted(self.articles), None)
        body = (f"<eSearchResult><Count>{len(self.articles)}</Count><RetMax>0</RetMax><RetStart>0</RetStart>"
                f"<QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv><IdList/></eSearchResult>")
        self.answer(request, b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
                    b'"-//NLM//DTD esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/'
                    b'esearch.dtd">\n' + body.encode())

    def epost(self, request, params) -> None:
        assert request.command == "POST"
        webenv, key = self.store(params["id"].split(","), params.get("WebEnv"))
        self.answer(request, f"<ePostResult><QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv>"
                             "</ePostResult>".encode())

    def efetch(self, request, params) -> None:
        pmids = self.history[(params["WebEnv"], params["query_key"])]
        start, size = int(params["retstart"]), int(params["retmax"])
        records = [self.articles[p] for p in pmids[start:start + size] if p in self.articles]
        self.answer(request, DOCTYPE + b"<PubmedArticleSet>\n" + b"\n".join(records) + b"\n</PubmedArticleSet>\n")


@pytest.fixture
def stub():
    server = Stub([31000000 + i for i in range(1, 6)])
    yield server
    server.server.shutdown()
    server.server.server_close()


def config(stub: Stub, **overrides) -> fetch.FetchConfig:
    options = {"email": "curator@example.org", "base_url": stub.url, "batch_size": 2,
               "backoff_seconds": 0.01, "requests_per_second": FAST, "timeout_seconds": 5}
    return fetch.FetchConfig(**{**options, **overrides})


def only_output(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_query_fetches_every_record_in_batches(stub, tmp_path):
    out = tmp_path / "out.xml"
    result = fetch.fetch_query("mesenchymal stem cells[mh]", out, config(stub))
    search = stub.calls("esearch")
    assert len(search) == 1 and search[0]["usehistory"] == "y" and search[0]["db"] == "pubmed"
    fetches = stub.calls("efetch")
    assert [(f["retstart"], f["retmax"]) for f in fetches] == [("0", "2"), ("2", "2"), ("4", "1")]
    assert all(f["WebEnv"] == "MCID_1" and f["query_key"] == "1" and f["retmode"] == "xml" for f in fetches)
    assert (result.hits, result.records, result.batches, result.requests) == (5, 5, 3, 4)
    data = out.read_bytes()
    root = etree.fromstring(data, etree.XMLParser(**fetch.PARSER_OPTIONS))
    assert root.tag == "PubmedArticleSet" and [a.findtext("MedlineCitation/PMID") for a in root] == sorted(stub.articles)
    for record in stub.articles.values():
        assert record in data  # byte for byte: entities and markup untouched
    assert data.count(b"<?xml") == 1 and b"DOCTYPE" not in data and data.count(b"<PubmedArticleSet>") == 1
    records = list(iter_pubmed([out]))  # the tagger's reader takes the file as it is
    assert [r.id for r in records] == sorted(stub.articles) and "10^6" in records[0].text
    assert only_output(tmp_path) == ["out.xml"]


def test_pmid_file_is_posted_then_fetched(stub, tmp_path):
    pmids = tmp_path / "pmids.txt"
    pmids.write_text("# cohort A\n31000003\n\n31000001  # the first trial\n31000003\n31000005\n99999999\n",
                     encoding="utf-8")
    out = tmp_path / "sub" / "out.xml"
    result = fetch.fetch_pmids(fetch.read_pmid_file(pmids), out, config(stub))
    posts = stub.calls("epost")
    assert len(posts) == 1 and posts[0]["id"] == "31000003,31000001,31000005,99999999"
    assert [f["query_key"] for f in stub.calls("efetch")] == ["1", "1"]
    root = etree.fromstring(out.read_bytes(), etree.XMLParser(**fetch.PARSER_OPTIONS))
    assert [a.findtext("MedlineCitation/PMID") for a in root] == ["31000003", "31000001", "31000005"]
    assert result.records == 3 and result.missing == ["99999999"]


def test_large_pmid_lists_are_posted_in_groups_into_one_session(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "EPOST_GROUP", 3)
    result = fetch.fetch_pmids([str(31000000 + i) for i in range(1, 6)], tmp_path / "o.xml", config(stub))
    posts = stub.calls("epost")
    assert [p["id"].count(",") + 1 for p in posts] == [3, 2] and "WebEnv" not in posts[0]
    assert posts[1]["WebEnv"] == "MCID_1"
    assert [(f["query_key"], f["retstart"]) for f in stub.calls("efetch")] == [("1", "0"), ("1", "2"), ("2", "0")]
    assert result.records == 5 and result.missing == []


def test_bad_pmid_line_names_file_and_line(tmp_path):
    path = tmp_path / "pmids.txt"
    path.write_text("31000001\n\n31000002x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pmids\.txt: line 3: '31000002x' is not a PMID"):
        fetch.read_pmid_file(path)
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(InputError, match="no PMIDs"):
        fetch.read_pmid_file(path)


@pytest.mark.parametrize("failures", [[429], [503, 503], [0], [200]], ids=["429", "503x2", "dropped", "truncated"])
def test_transient_failures_are_retried(stub, tmp_path, failures, monkeypatch):
    if failures == [200]:  # an HTTP 200 whose body is cut off mid-record
        original = stub.efetch
        state = {"first": True}

        def truncated(request, params):
            if state.pop("first", False):
                stub.answer(request, DOCTYPE + b"<PubmedArticleSet>\n" + article(1)[:50])
            else:
                original(request, params)

        monkeypatch.setattr(stub, "efetch", truncated)
    else:
        stub.failures["efetch"] = list(failures)
    sleeps: list[float] = []
    client = fetch.EutilsClient(config(stub), sleep=lambda s: sleeps.append(s))
    result = fetch.fetch_query("msc", tmp_path / "out.xml", config(stub), client=client)
    assert result.records == 5 and len(stub.calls("efetch")) == 3 + len(failures)
    assert sleeps == [0.01 * 2 ** i for i in range(len(failures))]  # exponential backoff


def test_gives_up_after_the_retry_limit_naming_the_batch(stub, tmp_path):
    original = stub.efetch
    calls = {"n": 0}

    def second_batch_fails(request, params):
        calls["n"] += 1
        if params["retstart"] == "2":
            stub.answer(request, b"busy", 503)
        else:
            original(request, params)

    stub.efetch = second_batch_fails
    out = tmp_path / "out.xml"
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch_query("msc", out, config(stub, retries=2))
    message = str(caught.value)
    assert "EFetch batch 2 of 3 (records 3-4 of 5)" in message
    assert "gave up after 3 attempts" in message and "HTTP 503" in message and "--retries" in message
    assert calls["n"] == 1 + 3
    assert only_output(tmp_path) == []  # no output, no temporary file left behind


def test_client_errors_are_not_retried(stub, tmp_path):
    stub.failures["esearch"] = [400]
    with pytest.raises(fetch.FetchError, match="HTTP 400.*not retried"):
        fetch.fetch_query("msc", tmp_path / "out.xml", config(stub))
    assert len(stub.requests) == 1
    with pytest.raises(fetch.FetchError, match="Invalid query"):
        fetch.fetch_query("bad syntax", tmp_path / "out.xml", config(stub))


def test_more_than_10000_hits_is_refused_without_output(stub, tmp_path, capsys):
    stub.counts["stem cells"] = 123_456
    out = tmp_path / "out.xml"
    code = main(["fetch", "--query", "stem cells", "-o", str(out), "--base-url", stub.url, "--email", "a@b.org"])
    message = capsys.readouterr().err
    assert code == 2
    assert "123,456" in message and "10,000" in message and "date ranges" in message and "baseline" in message
    assert len(stub.requests) == 1 and stub.calls("efetch") == []
    assert only_output(tmp_path) == []


def test_rate_limit_spaces_requests(stub):
    for api_key, k in ((None, 3), ("secret", 4)):
        client = fetch.EutilsClient(config(stub, requests_per_second=None, api_key=api_key))
        rate = 10.0 if api_key else 3.0
        assert client.config.rate == rate
        started = time.monotonic()
        for _ in range(k):
            client.esearch("msc")
        elapsed = time.monotonic() - started
        assert elapsed >= (k - 1) / rate
        if api_key:
            assert elapsed < (k - 1) / 3.0  # the key really lifts the limit
    with pytest.raises(fetch.FetchConfigError, match="exceeds NCBI's limit"):
        fetch.FetchConfig(email="a@b.org", requests_per_second=20)


def test_tool_email_and_api_key_are_sent_with_every_request(stub, tmp_path, monkeypatch, capsys):
    pmids = tmp_path / "pmids.txt"
    pmids.write_text("31000001\n31000002\n31000004\n", encoding="utf-8")
    monkeypatch.setenv("NCBI_EMAIL", "env@example.org")
    monkeypatch.setenv("NCBI_API_KEY", "k3y")
    out = tmp_path / "out.xml"
    code = main(["fetch", "--pmids", str(pmids), "-o", str(out), "--base-url", stub.url, "--batch-size", "2"])
    assert code == 0, capsys.readouterr().err
    assert "3 records from 3 PMIDs in 2 batches" in capsys.readouterr().err
    assert [name for name, _, _ in stub.requests] == ["epost", "efetch", "efetch"]
    for _, _, params in stub.requests:
        assert (params["tool"], params["email"], params["api_key"]) == ("msc_nlp", "env@example.org", "k3y")
    stub.requests.clear()
    monkeypatch.delenv("NCBI_API_KEY")
    code = main(["fetch", "--query", "msc", "-o", str(out), "--base-url", stub.url, "--email", "cli@example.org"])
    assert code == 0
    assert all(p["email"] == "cli@example.org" and "api_key" not in p for _, _, p in stub.requests)


def test_missing_email_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    code = main(["fetch", "--query", "msc", "-o", str(tmp_path / "out.xml"), "--base-url", "http://127.0.0.1:9/"])
    assert code == 2
    assert "--email" in capsys.readouterr().err and not (tmp_path / "out.xml").exists()


def test_split_batch_keeps_records_and_rejects_foreign_answers():
    inner = b"\n" + article(7) + b"\n<!-- note -->\n"
    content = fetch.split_batch(b"\xef\xbb\xbf" + DOCTYPE + b"<PubmedArticleSet>" + inner + b"</PubmedArticleSet>\n")
    assert content.inner == inner and content.pmids == ("7",)
    assert fetch.split_batch(DOCTYPE + b"<PubmedArticleSet/>\n").pmids == ()
    for bad in (b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
                b'<?xml version="1.0" encoding="ISO-8859-1"?><PubmedArticleSet></PubmedArticleSet>',
                b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><PubmedArticleSet>&e;</PubmedArticleSet>'):
        with pytest.raises(fetch._BadAnswer):
            fetch.split_batch(bad)
