"""Download PubMed XML records through NCBI E-utilities: ``msc-nlp fetch``.

Two ways in, one way out:

* a query: ESearch with ``usehistory=y`` stores the hits on NCBI's history server, then EFetch
  downloads them in batches by ``WebEnv``/``query_key``/``retstart``/``retmax``;
* a list of PMIDs: EPost stores them on the history server (at most 10,000 per post, all in one
  ``WebEnv``), then EFetch downloads them in batches the same way.

Every batch is one PubmedArticleSet document. The output is a single well-formed
PubmedArticleSet: each batch's XML declaration, DOCTYPE and outer element are dropped and its
records are copied byte for byte, streamed into a temporary file in the output folder that is
renamed over the output only when every batch has arrived (the file appears whole or not at all).

NCBI's rules are kept: at most 3 requests a second, 10 with an API key (``api_key``); every request
carries ``tool=msc_nlp`` and the user's ``email``; HTTP 429, 5xx, connection failures and
malformed answers are retried with exponential backoff a bounded number of times. ESearch and
EFetch cannot page past the 10,000th hit of a query, so a larger query is refused before anything
is downloaded: narrow it (for example by date ranges) or use the PubMed baseline files.

Requests are sent with :mod:`urllib` in the shape Biopython's ``Bio.Entrez`` gives them (GET with
URL-encoded parameters, POST for EPost and for parameter strings over 1,000 characters or 200 or
more ids), not through ``Bio.Entrez`` itself: in Biopython 1.88 every E-utility function hardcodes
``https://eutils.ncbi.nlm.nih.gov/entrez/eutils/``, so the base URL cannot be pointed elsewhere
(``--base-url``, test stubs); its rate limit, retry count and email are module globals; and
``Bio.Entrez.read`` downloads DTDs it does not ship. Answers are parsed with lxml with
``resolve_entities=False, no_network=True, load_dtd=False``: nothing is fetched, no entity expanded.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

from lxml import etree

from msc_nlp.errors import InputError, MscNlpError
from msc_nlp.jsonl import atomic_file

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
TOOL = "msc_nlp"
DB = "pubmed"
ESEARCH_LIMIT = 10_000  # ESearch/EFetch cannot page past this many hits of one query
EPOST_GROUP = 10_000  # PMIDs per EPost, so that no EFetch retstart reaches the paging limit
MAX_BATCH_SIZE = 10_000  # EFetch's largest retmax
RATE_WITHOUT_KEY = 3.0  # requests per second allowed by NCBI
RATE_WITH_KEY = 10.0
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
EXIT_OK, EXIT_FAILED = 0, 2

T = TypeVar("T")


class FetchError(MscNlpError):
    """A download from NCBI E-utilities failed (HTTP error, retries exhausted, unusable answer)."""


class TooManyHitsError(FetchError):
    """A query matches more records than ESearch/EFetch can page through.

    Attributes:
        query: the query.
        count: how many PubMed records match it.
    """

    def __init__(self, query: str, count: int) -> None:
        self.query, self.count = query, count
        super().__init__(
            f"query {query!r} matches {count:,} PubMed records, but ESearch/EFetch cannot page past "
            f"the first {ESEARCH_LIMIT:,} hits of a query; nothing was downloaded or written. Narrow the "
            "query, for example into date ranges that each match at most 10,000 records "
            "(add ' AND 2020:2021[dp]' and run once per range), or for bulk downloads use the PubMed "
            "baseline and update files (https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/).")


class FetchConfigError(MscNlpError):
    """An option of the fetch is missing or out of range."""


class _BadAnswer(Exception):
    """An HTTP 200 answer that cannot be used; retried like a server error."""


@dataclass(frozen=True)
class FetchConfig:
    """How to talk to E-utilities.

    Attributes:
        email: contact address sent with every request (NCBI requires one).
        api_key: NCBI API key; raises the rate limit from 3 to 10 requests a second.
        base_url: E-utilities root; ``esearch.fcgi`` etc. are appended.
        batch_size: records per EFetch request (1 to 10,000).
        retries: retries per request after the first attempt on 429, 5xx, connection errors and
            malformed answers.
        backoff_seconds: wait before the first retry; doubles with each further retry.
        max_backoff_seconds: longest wait between two attempts.
        timeout_seconds: socket timeout of one request.
        requests_per_second: rate limit; ``None`` means NCBI's (3, or 10 with an API key). A higher
            value is refused for the real NCBI URL.
    """

    email: str
    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    batch_size: int = 200
    retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 120.0
    requests_per_second: float | None = None

    def __post_init__(self) -> None:
        if not self.email or "@" not in self.email:
            raise FetchConfigError(f"email {self.email!r} is not an email address; NCBI requires a contact "
                                   "address with every E-utilities request (--email or NCBI_EMAIL)")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FetchConfigError(f"base URL {self.base_url!r} is not an http(s) URL; use for example "
                                   f"--base-url {DEFAULT_BASE_URL}")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise FetchConfigError(f"batch size {self.batch_size} is out of range; use 1 to {MAX_BATCH_SIZE:,} "
                                   "(--batch-size; 200 is a good default)")
        if self.retries < 0:
            raise FetchConfigError(f"retries {self.retries} is negative; use 0 or more (--retries)")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0 or self.timeout_seconds <= 0:
            raise FetchConfigError("backoff and timeout seconds must be positive")
        if self.requests_per_second is not None:
            if self.requests_per_second <= 0:
                raise FetchConfigError(f"requests_per_second {self.requests_per_second} must be positive")
            if self.requests_per_second > self.ncbi_rate and _is_ncbi(self.base_url):
                raise FetchConfigError(
                    f"requests_per_second {self.requests_per_second} exceeds NCBI's limit of "
                    f"{self.ncbi_rate:g} requests a second ({RATE_WITHOUT_KEY:g} without an API key, "
                    f"{RATE_WITH_KEY:g} with one); leave it unset")

    @property
    def ncbi_rate(self) -> float:
        """NCBI's rate limit for this configuration (requests a second)."""
        return RATE_WITH_KEY if self.api_key else RATE_WITHOUT_KEY

    @property
    def rate(self) -> float:
        """The rate limit applied (requests a second)."""
        return self.requests_per_second if self.requests_per_second is not None else self.ncbi_rate

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): doubling, capped."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (retry - 1))


def _is_ncbi(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "nih.gov" or host.endswith(".nih.gov")


class RateLimiter:
    """Spaces calls at least ``1 / per_second`` seconds apart (measured from call to call).

    Args:
        per_second: largest number of calls in any second.
        clock: monotonic clock in seconds.
        sleep: how to wait.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next call is allowed, and claim it."""
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = max(self._clock(), self._next)
            self._next = now + self.interval


@dataclass(frozen=True)
class History:
    """A result set on NCBI's history server.

    Attributes:
        webenv: the ``WebEnv`` of the session.
        query_key: the ``query_key`` of the set within it.
        count: records in the set (ESearch's ``Count``; for EPost, the PMIDs posted).
    """

    webenv: str
    query_key: str
    count: int


@dataclass(frozen=True)
class Batch:
    """One EFetch request.

    Attributes:
        number: 1-based position among all batches.
        total: number of batches.
        history: the result set fetched from.
        retstart: 0-based offset into the set.
        retmax: records requested.
        pmids: the PMIDs requested, when known (EPost path).
    """

    number: int
    total: int
    history: History
    retstart: int
    retmax: int
    pmids: tuple[str, ...] = ()

    def describe(self) -> str:
        """``EFetch batch 2 of 5 (records 201-400 of 1,000[, PMIDs a..b])`` for messages."""
        text = (f"EFetch batch {self.number} of {self.total} (records {self.retstart + 1}-"
                f"{self.retstart + self.retmax} of {self.history.count:,}")
        if self.pmids:
            text += f", PMIDs {self.pmids[0]}..{self.pmids[-1]}"
        return text + ")"


@dataclass(frozen=True)
class BatchContent:
    """The usable part of one EFetch answer.

    Attributes:
        inner: the bytes between the outer ``<PubmedArticleSet>`` tags, records unchanged.
        pmids: PMIDs of the ``PubmedArticle``/``PubmedBookArticle`` records, in order.
        deleted: PMIDs listed in ``DeleteCitation`` elements.
    """

    inner: bytes
    pmids: tuple[str, ...]
    deleted: tuple[str, ...] = ()


@dataclass
class FetchResult:
    """What a fetch wrote.

    Attributes:
        output: the XML file written.
        hits: records in the ESearch result or PMIDs requested.
        records: ``PubmedArticle``/``PubmedBookArticle`` records written.
        batches: EFetch requests made.
        requests: HTTP requests made, retries included.
        missing: requested PMIDs that no batch returned (EPost path only).
        warnings: ESearch/EPost warnings (phrases not found, invalid ids).
    """

    output: Path
    hits: int
    records: int
    batches: int
    requests: int
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class EutilsClient:
    """Sends E-utilities requests with NCBI's parameters, rate limit and retries.

    Args:
        config: the connection settings.
        limiter: shared rate limiter; by default one at ``config.rate``.
        sleep: how to wait between retries.
    """

    def __init__(self, config: FetchConfig, limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
        self.limiter = limiter or RateLimiter(config.rate)
        self._sleep = sleep
        self.requests = 0

    def build_request(self, utility: str, params: dict[str, str], post: bool | None = None) -> Request:
        """The HTTP request for ``utility`` (``esearch``, ``epost``, ``efetch``) in Bio.Entrez's shape.

        ``tool``, ``email`` and ``api_key`` are added; POST is used when asked, when the encoded
        parameters exceed 1,000 characters or when there are 200 or more ids.
        """
        full = {**params, "tool": TOOL, "email": self.config.email}
        if self.config.api_key:
            full["api_key"] = self.config.api_key
        body = urlencode(full)
        if post is None:
            post = len(body) > 1000 or full.get("id", "").count(",") + 1 >= 200
        url = f"{self.base_url}{utility}.fcgi"
        if post:
            return Request(url, data=body.encode("ascii"), method="POST")
        return Request(f"{url}?{body}", method="GET")

    def call(self, utility: str, params: dict[str, str], what: str, accept: Callable[[bytes], T],
             post: bool | None = None) -> T:
        """Send a request until ``accept`` takes its answer, retrying transient failures.

        Args:
            utility: ``esearch``, ``epost`` or ``efetch``.
            params: E-utility parameters (``tool``, ``email``, ``api_key`` are added).
            what: names the request in messages, e.g. ``EFetch batch 2 of 5 (...)``.
            accept: turns the answer body into a result; raises ``_BadAnswer`` to retry.
            post: force POST (True) or GET (False); ``None`` chooses as Bio.Entrez does.

        Raises:
            FetchError: on a 4xx answer other than 429 (not retried), or when every attempt failed.
        """
        request = self.build_request(utility, params, post)
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            self.limiter.wait()
            self.requests += 1
            try:
                with urlopen(request, timeout=self.config.timeout_seconds) as response:
                    body = response.read()
                return accept(body)
            except HTTPError as error:
                detail = _error_body(error)
                if not (error.code == 429 or 500 <= error.code < 600):
                    raise FetchError(
                        f"{what}: {utility}.fcgi at {self.base_url} answered HTTP {error.code} {error.reason}"
                        f"{detail}; this is not a temporary failure, so it was not retried: check the "
                        "query or PMIDs and --base-url") from None
                problem = f"HTTP {error.code} {error.reason}{detail}"
            except _BadAnswer as error:
                problem = f"unusable answer: {error}"
            except (URLError, http.client.HTTPException, OSError) as error:
                reason = getattr(error, "reason", None) or error
                problem = f"connection error: {type(error).__name__}: {reason}"
            if attempt == attempts:
                raise FetchError(
                    f"{what}: gave up after {attempts} attempt{'s' if attempts > 1 else ''} "
                    f"(--retries {self.config.retries}) to {utility}.fcgi at {self.base_url}; last failure: "
                    f"{problem}. NCBI may be overloaded or unreachable: try again later, raise --retries, "
                    "or check the network and --base-url") from None
            delay = self.config.backoff(attempt)
            log.warning("%s: %s; retry %d of %d in %.2f s", what, problem, attempt, self.config.retries, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def esearch(self, query: str) -> tuple[History, list[str]]:
        """Run ``query`` on PubMed with ``usehistory=y``; the stored result set and ESearch's warnings."""
        params = {"db": DB, "term": query, "usehistory": "y", "retmax": "0"}
        return self.call("esearch", params, "ESearch", _parse_esearch)

    def epost(self, pmids: Sequence[str], what: str, webenv: str | None = None) -> tuple[History, list[str]]:
        """Post ``pmids`` to the history server (into ``webenv`` when given); the set and warnings."""
        params = {"db": DB, "id": ",".join(pmids)}
        if webenv:
            params["WebEnv"] = webenv
        history, warnings = self.call("epost", params, what, _parse_epost, post=True)
        return History(history.webenv, history.query_key, len(pmids)), warnings

    def efetch(self, batch: Batch) -> BatchContent:
        """Download one batch of PubMed XML."""
        params = {"db": DB, "WebEnv": batch.history.webenv, "query_key": batch.history.query_key,
                  "retstart": str(batch.retstart), "retmax": str(batch.retmax), "retmode": "xml"}
        # NCBI's EFetch table: PubMed XML is rettype null (omitted) with retmode=xml.
        return self.call("efetch", params, batch.describe(), split_batch)


def _error_body(error: HTTPError) -> str:
    try:
        text = error.read(300).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only decoration for the message
        text = ""
    finally:
        error.close()
    text = " ".join(text.split())
    return f" ({text})" if text else ""


def _parse(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, etree.XMLParser(**PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        raise _BadAnswer(f"not well-formed XML ({error}); starts {_snippet(data)}") from None


def _snippet(data: bytes) -> str:
    return repr(data[:120].decode("utf-8", "replace"))


def _errors_of(root: etree._Element) -> list[str]:
    return [" ".join(e.text.split()) for e in root.iter("ERROR") if e.text and e.text.strip()]


def _history(root: etree._Element, utility: str) -> History:
    webenv, query_key = root.findtext("WebEnv"), root.findtext("QueryKey")
    if not webenv or not query_key:
        raise _BadAnswer(f"{utility} answer has no WebEnv/QueryKey (history server not used?)")
    count = root.findtext("Count")
    return History(webenv.strip(), query_key.strip(), int(count) if count and count.strip().isdigit() else 0)


def _parse_esearch(data: bytes) -> tuple[History, list[str]]:
    root = _parse(data)
    if root.tag != "eSearchResult":
        raise _BadAnswer(f"expected <eSearchResult>, got <{root.tag}>")
    errors = _errors_of(root)
    if errors:
        raise FetchError(f"ESearch: NCBI refused the query: {'; '.join(errors)}; fix the query syntax "
                         "(try it on https://pubmed.ncbi.nlm.nih.gov/)")
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise _BadAnswer("ESearch answer has no Count")
    if int(count) == 0:
        history = History(root.findtext("WebEnv") or "", root.findtext("QueryKey") or "", 0)
    else:
        history = _history(root, "ESearch")
    warnings = [f"{e.tag}: {' '.join(e.text.split())}" for section in ("ErrorList", "WarningList")
                for e in root.iterfind(f"{section}/*") if e.text and e.text.strip()]
    return history, warnings


def _parse_epost(data: bytes) -> tuple[History, list[str]]:
    root = _parse(data)
    if root.tag != "ePostResult":
        raise _BadAnswer(f"expected <ePostResult>, got <{root.tag}>")
    errors = _errors_of(root)
    if errors and root.findtext("WebEnv") is None:
        raise FetchError(f"EPost: NCBI refused the PMIDs: {'; '.join(errors)}; check the PMID file")
    invalid = [e.text.strip() for e in root.iterfind("InvalidIdList/Id") if e.text]
    warnings = errors + ([f"EPost: {len(invalid)} invalid PMIDs: {', '.join(invalid[:10])}"
                          + (" ..." if len(invalid) > 10 else "")] if invalid else [])
    return _history(root, "EPost"), warnings


_BOM = b"\xef\xbb\xbf"
_ENCODING = re.compile(rb"""\A<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PROLOG = re.compile(rb"""(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*')*(?:\[.*?\])?\s*>)*""",
                     re.S)
_ROOT_START = re.compile(rb"""<PubmedArticleSet(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_ROOT_END = re.compile(rb"</PubmedArticleSet\s*>\Z")


def split_batch(data: bytes) -> BatchContent:
    """The records of one EFetch answer, without its declaration, DOCTYPE and outer element.

    The returned ``inner`` bytes are checked to be well-formed on their own inside a bare
    ``<PubmedArticleSet>`` (so concatenating batches gives a well-formed file).

    Raises:
        _BadAnswer: when the answer is not a UTF-8 PubmedArticleSet document.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    declared = _ENCODING.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise _BadAnswer(f"declares encoding {declared.group(1).decode()!r}; expected UTF-8")
    prolog_end = _PROLOG.match(data).end()
    start = _ROOT_START.match(data, prolog_end)
    if start is None:
        raise _BadAnswer(f"not a <PubmedArticleSet> document; starts {_snippet(data[prolog_end:])}")
    body = data.rstrip()
    if start.group(1):  # <PubmedArticleSet/>: an empty batch
        if start.end() != len(body):
            raise _BadAnswer("content after an empty <PubmedArticleSet/>")
        inner = b""
    else:
        end = _ROOT_END.search(body, max(start.end(), len(body) - 64))
        if end is None:
            raise _BadAnswer(f"does not end with </PubmedArticleSet> (truncated?); ends {body[-80:]!r}")
        inner = body[start.end():end.start()]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _BadAnswer(f"not valid UTF-8 at byte {error.start}") from None
    root = _parse(b"<PubmedArticleSet>" + inner + b"</PubmedArticleSet>")
    pmids, deleted = [], []
    for child in root:
        if child.tag in RECORD_TAGS:
            pmid = child.findtext("MedlineCitation/PMID") or child.findtext("BookDocument/PMID") or ""
            pmids.append(pmid.strip())
        elif child.tag == "DeleteCitation":
            deleted.extend(p.text.strip() for p in child.iterfind("PMID") if p.text)
    return BatchContent(inner, tuple(pmids), tuple(deleted))


def read_pmid_file(path: str | Path) -> list[str]:
    """PMIDs of a file with one per line; blank lines and ``#`` comments are ignored.

    Repeated PMIDs are kept once (first position).

    Raises:
        InputError: naming the file and line of the first line that is not a PMID, or when the
            file cannot be read or holds no PMID.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(str(path), "open", f"cannot read the PMID file ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise InputError(str(path), f"byte {error.start}", "not UTF-8 text; save the PMID list as plain "
                         "text, one PMID per line") from None
    pmids: dict[str, None] = {}
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if not re.fullmatch(r"[1-9][0-9]{0,9}", value):
            raise InputError(str(path), f"line {number}", f"{value[:40]!r} is not a PMID; write one PMID "
                             "(a positive whole number such as 31452104) per line, comments after '#'")
        pmids.setdefault(value)
    if not pmids:
        raise InputError(str(path), "line 1", "no PMIDs found; write one PMID per line")
    if len(pmids) < sum(1 for line in lines if line.split("#", 1)[0].strip()):
        log.info("%s: repeated PMIDs fetched once", path)
    return list(pmids)


def _batches(history: History, size: int, first_number: int, total: int,
             pmids: Sequence[str] = ()) -> list[Batch]:
    return [Batch(first_number + i, total, history, start, min(size, history.count - start),
                  tuple(pmids[start:start + size]))
            for i, start in enumerate(range(0, history.count, size))]


def fetch_query(query: str, output: str | Path, config: FetchConfig,
                client: EutilsClient | None = None) -> FetchResult:
    """Download every PubMed record matching ``query`` into one PubmedArticleSet file.

    Args:
        query: a PubMed query, e.g. ``mesenchymal stem cells[mh] AND myocardial infarction[mh]``.
        output: the XML file to write (replaced only on success).
        config: connection settings.
        client: a client to reuse (its rate limiter is shared); one is made from ``config`` if absent.

    Raises:
        TooManyHitsError: more than 10,000 hits; nothing is written.
        FetchError: a request failed for good; nothing is written.
    """
    client = client or EutilsClient(config)
    requests_before = client.requests
    history, warnings = client.esearch(query)
    for warning in warnings:
        log.warning("ESearch: %s", warning)
    log.info("ESearch: %s PubMed records match %r", f"{history.count:,}", query)
    if history.count > ESEARCH_LIMIT:
        raise TooManyHitsError(query, history.count)
    if history.count == 0:
        log.warning("no PubMed record matches %r; writing an empty PubmedArticleSet", query)
    total = math.ceil(history.count / config.batch_size)
    batches = _batches(history, config.batch_size, 1, total)
    result, _ = _write(Path(output), iter(batches), client, history.count, warnings)
    result.requests = client.requests - requests_before
    if result.records < history.count:
        log.warning("%d of %d records matching the query were returned (records removed since the search?)",
                    result.records, history.count)
    return result


def fetch_pmids(pmids: Sequence[str], output: str | Path, config: FetchConfig,
                client: EutilsClient | None = None, source: str = "PMID list") -> FetchResult:
    """Download the PubMed records of ``pmids`` into one PubmedArticleSet file.

    The PMIDs are posted with EPost (at most 10,000 per post, all in one history session) and
    fetched in batches of ``config.batch_size``.

    Args:
        pmids: PMIDs, e.g. from :func:`read_pmid_file`.
        output: the XML file to write (replaced only on success).
        config: connection settings.
        client: a client to reuse; one is made from ``config`` if absent.
        source: names the PMIDs' origin in messages (the file name).

    Raises:
        FetchError: a request failed for good; nothing is written.
    """
    client = client or EutilsClient(config)
    pmids = list(dict.fromkeys(str(p).strip() for p in pmids))
    if not pmids:
        raise FetchConfigError(f"{source}: no PMIDs to fetch")
    groups = [pmids[i:i + EPOST_GROUP] for i in range(0, len(pmids), EPOST_GROUP)]
    total = sum(math.ceil(len(group) / config.batch_size) for group in groups)
    warnings: list[str] = []

    def plan() -> Iterator[Batch]:
        webenv, number = None, 1
        for index, group in enumerate(groups):
            first = index * EPOST_GROUP
            what = f"EPost of PMIDs {first + 1}-{first + len(group)} of {len(pmids):,} from {source}"
            history, posted_warnings = client.epost(group, what, webenv)
            for warning in posted_warnings:
                log.warning("%s: %s", source, warning)
            warnings.extend(posted_warnings)
            webenv = history.webenv
            batches = _batches(history, config.batch_size, number, total, group)
            number += len(batches)
            yield from batches

    result, written = _write(Path(output), plan(), client, len(pmids), warnings)
    missing = set(pmids) - written
    result.missing = [p for p in pmids if p in missing]
    if result.missing:
        log.warning("%s: %d of %d PMIDs not returned by NCBI (not in PubMed?): %s%s", source,
                    len(result.missing), len(pmids), ", ".join(result.missing[:10]),
                    " ..." if len(result.missing) > 10 else "")
    return result


def _write(output: Path, batches: Iterator[Batch], client: EutilsClient, hits: int,
           warnings: list[str]) -> tuple[FetchResult, set[str]]:
    """Fetch ``batches`` into ``output`` atomically; the result and the PMIDs written."""
    requests_before = client.requests
    records, count, seen = 0, 0, set()
    with atomic_file(output, "wb") as handle:
        handle.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n')
        for batch in batches:
            content = client.efetch(batch)
            stripped = content.inner.strip(b" \t\r\n")
            if stripped:
                handle.write(stripped)
                handle.write(b"\n")
            count += 1
            records += len(content.pmids)
            seen.update(content.pmids)
            log.info("%s: %d records", batch.describe(), len(content.pmids))
        handle.write(b"</PubmedArticleSet>\n")
    return FetchResult(output, hits, records, count, client.requests - requests_before, warnings=warnings), seen


def _handler(args: argparse.Namespace) -> int:
    """Run ``msc-nlp fetch``; 0 when the output was written, 2 when nothing was."""
    try:
        email = (args.email or os.environ.get("NCBI_EMAIL", "")).strip()
        if not email:
            raise FetchConfigError("no contact email for NCBI E-utilities: pass --email YOU@EXAMPLE.ORG or "
                                   "set NCBI_EMAIL (NCBI requires one with every request so that it can "
                                   "contact you before blocking heavy use)")
        config = FetchConfig(email=email, api_key=os.environ.get("NCBI_API_KEY", "").strip() or None,
                             base_url=args.base_url, batch_size=args.batch_size, retries=args.retries)
        if args.query is not None:
            if not args.query.strip():
                raise FetchConfigError("--query is empty; give a PubMed query")
            result = fetch_query(args.query, args.output, config)
        else:
            result = fetch_pmids(read_pmid_file(args.pmids), args.output, config, source=str(args.pmids))
    except MscNlpError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    note = f"; {len(result.missing)} PMIDs not found" if result.missing else ""
    print(f"{result.records} records from {result.hits} {'hits' if args.query is not None else 'PMIDs'} in "
          f"{result.batches} batches ({result.requests} requests){note} -> {result.output}", file=sys.stderr)
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``fetch`` subcommand to ``msc-nlp``'s subparsers; its handler returns the exit code."""
    parser = commands.add_parser(
        "fetch", help="download PubMed XML through NCBI E-utilities",
        description="Download PubMed records as one PubmedArticleSet XML file through NCBI E-utilities "
                    "(ESearch or EPost, then EFetch in batches from the history server). At most 3 "
                    "requests a second, 10 when NCBI_API_KEY is set. A query may match at most 10,000 "
                    "records. Exit codes: 0 written, 2 failed (nothing written).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--query", help="PubMed query, e.g. 'mesenchymal stem cells[mh] AND 2020:2024[dp]'")
    source.add_argument("--pmids", metavar="FILE", help="file of PMIDs, one per line ('#' comments allowed)")
    parser.add_argument("-o", "--output", required=True, help="PubMed XML file to write")
    parser.add_argument("--email", help="your email, sent to NCBI with every request (default: $NCBI_EMAIL)")
    parser.add_argument("--batch-size", type=int, default=200, help="records per EFetch request (default 200)")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries of a request on HTTP 429/5xx or connection errors (default 5)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help=f"E-utilities root (default {DEFAULT_BASE_URL})")
    parser.set_defaults(handler=_handler)
    return parser
