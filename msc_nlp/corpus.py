"""The annotated corpus: building canonical JSONL from the authoring sources, splits, validation, statistics.

Layout under ``annotations/``:

- ``src/*.txt``: authoring files in inline markup (see ``msc_nlp.markup``);
- ``jsonl/*.jsonl``: canonical documents, one per line, built from ``src/`` (same file stems);
- ``splits/{train,dev,test,test-real-style}.txt``: document ids, one per line, split by study group.

The two test splits are frozen once published: new documents go to train or dev only.
``test`` was written with the training documents; ``test-real-style`` was written afterwards by
writers who never saw the training documents, in the style of real PubMed text, from studies
that have no document in train or dev. A study group may appear in both test splits, never in a
training split and a test split.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from msc_nlp.document import Document, Span
from msc_nlp.errors import InputError
from msc_nlp.jsonl import dumps, iter_jsonl, write_atomic
from msc_nlp.leakage import shared_facts
from msc_nlp.markup import MarkupError, read_marked_file
from msc_nlp.schema import ENTITY_TYPES, STUDY_TYPES

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test", "test-real-style")
TEST_SPLITS = ("test", "test-real-style")
"""Frozen held-out splits: written once, never trained on, never reassigned."""
SPLIT_FRACTIONS = {"train": 0.70, "dev": 0.15, "test": 0.15, "test-real-style": 0.0}
STRUCTURED_LINE = re.compile(r"^[A-Z][A-Za-z ,&/-]{2,60}:\s", re.M)


@dataclass
class LoadedDocument:
    """A corpus document with the place it was read from (``path:line``)."""

    document: Document
    where: str


@dataclass
class CheckReport:
    """Result of validating a corpus.

    Attributes:
        errors: messages, each with ``file:line``, document id and a text snippet.
        warnings: message -> count, for patterns that are often (not always) annotation errors.
        documents: number of documents read.
    """

    errors: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    documents: int = 0

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors


def load_corpus_file(path: Path) -> list[LoadedDocument]:
    """Read one canonical JSONL file.

    Raises:
        InputError: for a line that is not JSON or lacks ``id``/``text``/``spans``/``meta``.
    """
    loaded = []
    for number, record in iter_jsonl(path):
        try:
            document = Document.from_json(record)
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(str(path), f"line {number}", f"not a corpus record ({error!r}); expected "
                             '{"id", "text", "spans": [{"start", "end", "label"}], "meta"}') from None
        loaded.append(LoadedDocument(document, f"{path}:{number}"))
    return loaded


def corpus_files(root: Path) -> list[Path]:
    """Canonical JSONL files under ``root`` (a folder, or a single file)."""
    root = Path(root)
    if root.is_file():
        return [root]
    folder = root / "jsonl" if (root / "jsonl").is_dir() else root
    return sorted(folder.glob("*.jsonl"))


def load_corpus(root: Path) -> list[Document]:
    """All documents of the corpus under ``root``, in file then line order."""
    return [item.document for path in corpus_files(root) for item in load_corpus_file(path)]


def read_split(root: Path, split: str) -> list[str]:
    """Document ids of one split (one of ``SPLITS``)."""
    path = Path(root) / "splits" / f"{split}.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_split(root: Path, split: str) -> list[Document]:
    """The documents of one split, in the order the split file lists them."""
    by_id = {doc.id: doc for doc in load_corpus(root)}
    ids = read_split(root, split)
    missing = [doc_id for doc_id in ids if doc_id not in by_id]
    if missing:
        raise InputError(str(Path(root) / "splits" / f"{split}.txt"), f"id {missing[0]}",
                         f"{len(missing)} listed id(s) are not in the corpus; run 'msc-nlp annotations check'")
    return [by_id[doc_id] for doc_id in ids]


def build(root: Path) -> list[Path]:
    """Convert every ``src/*.txt`` authoring file into ``jsonl/<stem>.jsonl``.

    Returns:
        The files written.
    """
    root = Path(root)
    written = []
    for source in sorted((root / "src").glob("*.txt")):
        lines = [dumps(document_from_marked(marked).to_json()) for marked in read_marked_file(source)]
        target = root / "jsonl" / f"{source.stem}.jsonl"
        write_atomic(target, lines)
        written.append(target)
    return written


def document_from_marked(marked) -> Document:
    """Turn a ``markup.MarkedDocument`` into a canonical ``Document``."""
    meta = {"group": marked.group, "study_type": marked.study_type, **marked.meta}
    spans = sorted(Span(start, end, label) for start, end, label in marked.spans)
    return Document(marked.id, marked.text, spans, meta)


def assign_splits(documents: list[Document], existing: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """Assign documents to splits by study group, about 70/15/15, stratified by study type.

    Groups already placed (``existing``: split -> ids) keep their split. A new group goes to the
    split furthest below its share; once ``existing`` has a test split, new groups go only to
    train or dev (the test split is frozen). Assignment is deterministic (hash order of groups).

    Returns:
        split -> sorted document ids.
    """
    existing = existing or {}
    frozen_test = bool(existing.get("test"))
    documents = [doc for doc in documents if doc.id not in existing.get("test-real-style", set())]
    split_of_doc = {doc_id: split for split, ids in existing.items() for doc_id in ids}
    groups: dict[str, list[Document]] = defaultdict(list)
    for doc in documents:
        groups[str(doc.meta.get("group", doc.id))].append(doc)
    group_split: dict[str, str] = {}
    for group, docs in groups.items():
        placed = {split_of_doc[d.id] for d in docs if d.id in split_of_doc}
        if placed:
            group_split[group] = sorted(placed, key=SPLITS.index)[0]
    # Stratify: fill each study type's splits toward the target fractions.
    by_type: dict[str, list[str]] = defaultdict(list)
    for group, docs in groups.items():
        if group not in group_split:
            by_type[Counter(d.meta.get("study_type", "") for d in docs).most_common(1)[0][0]].append(group)
    counts: dict[str, Counter] = defaultdict(Counter)
    for group, split in group_split.items():
        kind = Counter(d.meta.get("study_type", "") for d in groups[group]).most_common(1)[0][0]
        counts[kind][split] += len(groups[group])
    allowed = ("train", "dev") if frozen_test else ("train", "dev", "test")
    for kind, names in sorted(by_type.items()):
        for group in sorted(names, key=lambda g: hashlib.sha256(g.encode()).hexdigest()):
            total = sum(counts[kind].values()) + len(groups[group])
            split = max(allowed, key=lambda s: (SPLIT_FRACTIONS[s] * total - counts[kind][s], -SPLITS.index(s)))
            group_split[group] = split
            counts[kind][split] += len(groups[group])
    result: dict[str, list[str]] = {split: [] for split in SPLITS}
    for group, docs in groups.items():
        result[group_split[group]] += [d.id for d in docs]
    result["test-real-style"] = list(existing.get("test-real-style", ()))
    return {split: sorted(ids) for split, ids in result.items() if ids or split != "test-real-style"}


def write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    """Write ``splits/<split>.txt`` files, one id per line."""
    for split, ids in splits.items():
        write_atomic(Path(root) / "splits" / f"{split}.txt", ids)


def _snippet(text: str, start: int, end: int, width: int = 30) -> str:
    before = text[max(0, start - width) : start]
    after = text[end : end + width]
    return f"...{before}[{text[start:end]}]{after}...".replace("\n", " ")


def check(root: Path, paths: list[Path] | None = None) -> CheckReport:
    """Validate the corpus: spans, ids, texts, splits and agreement of sources with JSONL.

    Args:
        root: the ``annotations/`` folder (splits and sources are looked up there).
        paths: JSONL files to check; all of ``root`` when None. Split checks run only then.

    Returns:
        A report; ``report.ok`` is False when there is any error.
    """
    root = Path(root)
    report = CheckReport()
    files = paths if paths else corpus_files(root)
    loaded: list[LoadedDocument] = []
    for path in files:
        try:
            loaded += load_corpus_file(Path(path))
        except InputError as error:
            report.errors.append(str(error))
    report.documents = len(loaded)
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    for item in loaded:
        doc, where = item.document, item.where
        for problem in doc.span_problems():
            match = re.match(r"span \[(\d+), (\d+)\)", problem)
            snippet = ""
            if match and int(match.group(2)) <= len(doc.text):
                snippet = " " + _snippet(doc.text, int(match.group(1)), int(match.group(2)))
            report.errors.append(f"{where}: {doc.id}: {problem}{snippet}")
        if doc.id in seen_ids:
            report.errors.append(f"{where}: {doc.id}: duplicate id (first at {seen_ids[doc.id]})")
        seen_ids.setdefault(doc.id, where)
        normalized = " ".join(doc.text.split()).lower()
        if normalized in seen_texts:
            report.errors.append(f"{where}: {doc.id}: duplicate text (same as {seen_texts[normalized]}) "
                                 f"'{doc.text[:60]}...'")
        seen_texts.setdefault(normalized, f"{doc.id} at {where}")
        group, study_type = doc.meta.get("group"), doc.meta.get("study_type")
        if not group:
            report.errors.append(f"{where}: {doc.id}: meta.group is missing")
        if study_type not in STUDY_TYPES:
            report.errors.append(f"{where}: {doc.id}: meta.study_type {study_type!r} not one of {', '.join(STUDY_TYPES)}")
    documents = [item.document for item in loaded]
    report.warnings = consistency_warnings(documents)
    if not paths:
        report.errors += _check_sources(root)
        report.errors += _check_splits(root, documents)
        split_of = {doc_id: split for split in SPLITS if (root / "splits" / f"{split}.txt").exists()
                    for doc_id in read_split(root, split)}
        pairs = shared_facts(documents, split_of)
        report.errors += [f"repeated facts across splits: {pair.message()}" for pair in pairs if pair.crosses_splits]
        report.warnings["shared_facts_same_split"] = [pair.message() for pair in pairs if not pair.crosses_splits]
    return report


def _check_sources(root: Path) -> list[str]:
    """Errors where ``src/*.txt`` and ``jsonl/*.jsonl`` disagree."""
    errors = []
    sources = {p.stem: p for p in (root / "src").glob("*.txt")}
    built = {p.stem: p for p in (root / "jsonl").glob("*.jsonl")}
    for stem in sorted(set(sources) | set(built)):
        if stem not in built:
            errors.append(f"{sources[stem]}: no jsonl/{stem}.jsonl; run 'msc-nlp annotations build'")
            continue
        if stem not in sources:
            continue  # a JSONL file without an authoring source (imported annotations) is allowed
        try:
            expected = [document_from_marked(m).to_json() for m in read_marked_file(sources[stem])]
        except MarkupError as error:
            errors.append(str(error))
            continue
        actual = [item.document.to_json() for item in load_corpus_file(built[stem])]
        if expected != actual:
            differing = next((e["id"] for e, a in zip(expected, actual) if e != a), "(document count)")
            errors.append(f"{built[stem]}: differs from {sources[stem]} at document {differing}; "
                          "run 'msc-nlp annotations build'")
    return errors


def _check_splits(root: Path, documents: list[Document]) -> list[str]:
    errors = []
    split_dir = root / "splits"
    if not split_dir.is_dir():
        return [f"{split_dir}: missing; run 'msc-nlp annotations split'"]
    corpus_ids = {doc.id: doc for doc in documents}
    where_listed: dict[str, str] = {}
    group_split: dict[str, str] = {}
    for split in SPLITS:
        path = split_dir / f"{split}.txt"
        if not path.exists():
            errors.append(f"{path}: missing split file")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            doc_id = line.strip()
            if not doc_id:
                continue
            if doc_id in where_listed:
                errors.append(f"{path}:{number}: {doc_id} listed twice (also {where_listed[doc_id]})")
            where_listed.setdefault(doc_id, f"{path}:{number}")
            if doc_id not in corpus_ids:
                errors.append(f"{path}:{number}: {doc_id} is not in the corpus")
                continue
            group = str(corpus_ids[doc_id].meta.get("group"))
            first = group_split.setdefault(group, split)
            if first != split and not (first in TEST_SPLITS and split in TEST_SPLITS):
                errors.append(f"{path}:{number}: {doc_id} of group {group} is in {split}, "
                              f"but the group is also in {first}")
    for doc_id in corpus_ids:
        if doc_id not in where_listed:
            errors.append(f"{split_dir}: {doc_id} is in no split; run 'msc-nlp annotations split'")
    return errors


def consistency_warnings(documents: list[Document]) -> dict[str, list[str]]:
    """Find the commonest annotation errors across documents.

    Returns:
        ``{"label_conflict": [...], "unlabelled_occurrence": [...]}``: one message per case.
        A label conflict is a surface string labelled with two types in different documents; an
        unlabelled occurrence is a whole-word occurrence of a labelled string, inside no span.
    """
    labels_of: dict[str, Counter] = defaultdict(Counter)
    for doc in documents:
        for span in doc.spans:
            labels_of[span.text_in(doc.text)][span.label] += 1
    conflicts = [f"{surface!r} labelled " + ", ".join(f"{label} x{n}" for label, n in counts.most_common())
                 for surface, counts in sorted(labels_of.items()) if len(counts) > 1]
    unlabelled = []
    surfaces = sorted((s for s in labels_of if len(s) >= 3), key=len, reverse=True)
    if surfaces:
        pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, surfaces)) + r")(?![\w-])")
        for doc in documents:
            covered = bytearray(len(doc.text))
            for span in doc.spans:
                covered[span.start : span.end] = b"\x01" * (span.end - span.start)
            position = 0
            while True:
                match = pattern.search(doc.text, position)
                if not match:
                    break
                if not any(covered[match.start() : match.end()]):
                    label = labels_of[match.group()].most_common(1)[0][0]
                    unlabelled.append(f"{doc.id}: {match.group()!r} at {match.start()} is unlabelled "
                                      f"(labelled {label} elsewhere) {_snippet(doc.text, match.start(), match.end())}")
                position = match.start() + 1
    return {"label_conflict": conflicts, "unlabelled_occurrence": unlabelled}


def is_structured(text: str) -> bool:
    """True when the abstract has at least two section-label lines (``METHODS: ...``)."""
    abstract = text.split("\n\n", 1)[-1]
    return len(STRUCTURED_LINE.findall(abstract)) >= 2


def statistics(root: Path) -> dict:
    """Counts for the data card: documents, words and spans per type, per split and overall."""
    documents = load_corpus(root)
    split_of = {}
    for split in SPLITS:
        path = Path(root) / "splits" / f"{split}.txt"
        if path.exists():
            split_of.update({doc_id: split for doc_id in read_split(root, split)})
    table: dict[str, Counter] = defaultdict(Counter)
    for doc in documents:
        for key in ("all", split_of.get(doc.id, "unassigned")):
            row = table[key]
            row["documents"] += 1
            row["words"] += len(doc.text.split())
            row["spans"] += len(doc.spans)
            row["structured"] += is_structured(doc.text)
            row[f"type:{doc.meta.get('study_type')}"] += 1
            for span in doc.spans:
                row[span.label] += 1
    return {key: dict(value) for key, value in table.items()}


def style_collections(root: Path) -> dict[str, list[Document]]:
    """The corpus cut the way the data card compares styles.

    ``v1`` are the documents written before the real-text work (no ``style`` header tag);
    ``v2 training`` the later ones in train or dev; then ``test-real-style`` and ``all``.
    """
    documents = load_corpus(root)
    real_style = set(read_split(root, "test-real-style")) if (Path(root) / "splits" / "test-real-style.txt").exists() else set()
    return {
        "v1": [d for d in documents if "style" not in d.meta],
        "v2 training": [d for d in documents if "style" in d.meta and d.id not in real_style],
        "test-real-style": [d for d in documents if d.id in real_style],
        "all": documents,
    }


def agreement(first: list[Document], second: list[Document], resamples: int = 1000) -> dict:
    """Inter-annotator agreement of two passes over the same documents.

    The first pass is scored as reference and the second as prediction (strict F1 is symmetric;
    lenient F1 nearly so). Documents are matched by id; a document whose text was edited after the
    second pass was made cannot be compared by offsets and is listed in ``text_changed``.

    Returns:
        ``evaluate.evaluate``'s result plus ``documents_compared`` and ``text_changed``.

    Raises:
        ValueError: when a document of the second pass is missing from the first.
    """
    from msc_nlp.evaluate import evaluate

    by_id = {doc.id: doc for doc in first}
    pairs, changed = [], []
    for doc in second:
        if doc.id not in by_id:
            raise ValueError(f"document {doc.id} of the second pass is not in the first")
        if by_id[doc.id].text != doc.text:
            changed.append(doc.id)
            continue
        pairs.append((by_id[doc.id], doc.spans))
    result = evaluate([p[0] for p in pairs], [p[1] for p in pairs], resamples=resamples)
    result["documents_compared"] = len(pairs)
    result["text_changed"] = changed
    return result


QUOTAS = [
    ("clinical", ("clinical",), 0.40),
    ("preclinical and in vitro", ("preclinical", "in_vitro"), 0.20),
    ("reviews, meta-analyses, protocols", ("review", "meta_analysis", "protocol"), 0.10),
    ("negatives and near-misses", ("negative",), 0.10),
]


def statistics_markdown(root: Path) -> str:
    """The data card's tables: counts per split and type, and the composition against its quotas."""
    stats = statistics(root)
    columns = [key for key in ("train", "dev", "test", "unassigned", "all") if key in stats]
    lines = ["| | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for row in ("documents", "words", "spans", *ENTITY_TYPES, "structured"):
        lines.append(f"| {row} | " + " | ".join(str(stats[c].get(row, 0)) for c in columns) + " |")
    for study_type in STUDY_TYPES:
        key = f"type:{study_type}"
        lines.append(f"| {study_type} | " + " | ".join(str(stats[c].get(key, 0)) for c in columns) + " |")
    total = stats["all"]["documents"]
    lines += ["", "| quota | documents | share | required | met |", "| --- | --- | --- | --- | --- |"]
    for name, types, minimum in QUOTAS:
        count = sum(stats["all"].get(f"type:{t}", 0) for t in types)
        lines.append(f"| {name} | {count} | {count / total:.1%} | ≥ {minimum:.0%} | {'yes' if count / total >= minimum else 'NO'} |")
    structured = stats["all"].get("structured", 0)
    lines.append(f"| structured abstracts | {structured} | {structured / total:.1%} | ≥ 30% | "
                 f"{'yes' if structured / total >= 0.30 else 'NO'} |")
    return "\n".join(lines) + "\n"
