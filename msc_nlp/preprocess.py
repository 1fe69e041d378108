"""The one encode path: text -> word-pieces with character offsets -> model windows (with labels).

Training, evaluation and tagging all call ``encode`` and ``make_windows``; nothing else in
msc_nlp tokenises. A document is tokenised whole (no truncation), then cut into overlapping
windows of at most ``max_length`` word-pieces (special tokens included), so every character is
seen by the model; predictions are merged back by token index, each token taking the window in
which it has the most context on both sides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from msc_nlp.document import Span
from msc_nlp.schema import LABEL2ID

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label id ignored by the loss (special tokens, tokens that straddle a span boundary)."""


@dataclass
class Encoded:
    """One document as word-pieces.

    Attributes:
        input_ids: word-piece ids, no special tokens.
        offsets: ``(start, end)`` code-point offsets of each word-piece in the text, end exclusive.
        word_ids: index of the pre-tokenizer word each word-piece belongs to.
        labels: BIO label id per word-piece (``IGNORE_INDEX`` for misaligned ones), or None.
        misaligned: number of gold spans whose edges fall inside a word-piece.
    """

    input_ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int]
    labels: list[int] | None = None
    misaligned: int = 0


@dataclass
class Window:
    """A model input cut from one document.

    Attributes:
        doc_index: position of the document in the list given to ``encode``.
        token_start: first word-piece of the document covered (inclusive).
        token_end: one past the last word-piece covered.
        input_ids: ``[CLS] + pieces + [SEP]``.
        labels: label ids aligned with ``input_ids`` (``IGNORE_INDEX`` on specials), or None.
    """

    doc_index: int
    token_start: int
    token_end: int
    input_ids: list[int]
    labels: list[int] | None = None


def backend(tokenizer):
    """The ``tokenizers.Tokenizer`` behind a tokenizer, with truncation and padding switched off.

    Accepts a transformers fast tokenizer or a ``tokenizers.Tokenizer`` (the ONNX path loads the
    latter alone, without transformers). Saved ``tokenizer.json`` files may carry a truncation
    length (all-MiniLM-L6-v2's says 128); msc_nlp never truncates, it cuts windows itself.
    """
    inner = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not hasattr(inner, "encode_batch"):
        raise TypeError("msc_nlp needs a fast tokenizer (tokenizer.json) for character offsets")
    if inner.truncation is not None:
        inner.no_truncation()
    if inner.padding is not None:
        inner.no_padding()
    return inner


def special_ids(tokenizer) -> tuple[int, int, int]:
    """Ids of ``[CLS]``, ``[SEP]`` and ``[PAD]`` for either kind of tokenizer."""
    inner = backend(tokenizer)
    ids = tuple(inner.token_to_id(token) for token in ("[CLS]", "[SEP]", "[PAD]"))
    if None in ids:
        raise ValueError("the tokenizer has no [CLS], [SEP] or [PAD] token; msc_nlp needs a BERT-style vocabulary")
    return ids  # type: ignore[return-value]


def encode(tokenizer, texts: list[str], spans: list[list[Span]] | None = None) -> list[Encoded]:
    """Tokenise whole documents and, when spans are given, derive BIO labels per word-piece.

    Args:
        tokenizer: a transformers fast tokenizer or a ``tokenizers.Tokenizer``.
        texts: document texts.
        spans: gold spans per document (code-point offsets, end exclusive), or None.

    Returns:
        One ``Encoded`` per text, in order; offsets are code points into each text.
    """
    encodings = backend(tokenizer).encode_batch(list(texts), add_special_tokens=False)
    encoded = []
    for index, encoding in enumerate(encodings):
        offsets = [tuple(pair) for pair in encoding.offsets]
        word_ids = [w if w is not None else -1 for w in encoding.word_ids]
        item = Encoded(list(encoding.ids), offsets, word_ids)
        if spans is not None:
            item.labels, item.misaligned = _bio_labels(offsets, spans[index])
        encoded.append(item)
    misaligned = sum(item.misaligned for item in encoded)
    if misaligned:
        log.warning("%d gold span edge(s) fall inside a word-piece; those pieces are ignored by the loss", misaligned)
    return encoded


def _bio_labels(offsets: list[tuple[int, int]], spans: list[Span]) -> tuple[list[int], int]:
    labels = [LABEL2ID["O"]] * len(offsets)
    misaligned = 0
    token_index = 0
    for span in sorted(spans):
        while token_index < len(offsets) and offsets[token_index][1] <= span.start:
            token_index += 1
        first = True
        bad = False
        i = token_index
        while i < len(offsets) and offsets[i][0] < span.end:
            start, end = offsets[i]
            if start >= span.start and end <= span.end:
                labels[i] = LABEL2ID[("B-" if first else "I-") + span.label]
                first = False
            else:
                labels[i] = IGNORE_INDEX
                bad = True
            i += 1
        misaligned += bad
    return labels, misaligned


def window_bounds(length: int, max_length: int, stride: int) -> list[tuple[int, int]]:
    """Word-piece ranges ``[start, end)`` covering ``length`` pieces with overlapping windows.

    Args:
        length: number of word-pieces in the document.
        max_length: model input size including the two special tokens.
        stride: number of word-pieces shared by consecutive windows.
    """
    size = max_length - 2
    if size <= 0 or not 0 <= stride < size:
        raise ValueError(f"need max_length > 2 and 0 <= stride < max_length - 2, got {max_length}, {stride}")
    if length <= size:
        return [(0, length)] if length else []
    bounds = []
    start = 0
    while True:
        end = min(start + size, length)
        bounds.append((end - size, end))
        if end == length:
            return bounds
        start = end - stride


def make_windows(tokenizer, encoded: list[Encoded], max_length: int, stride: int) -> list[Window]:
    """Cut encoded documents into model windows with ``[CLS]`` and ``[SEP]`` added.

    An empty document yields no window (it has nothing to tag).
    """
    cls, sep, _ = special_ids(tokenizer)
    windows = []
    for doc_index, item in enumerate(encoded):
        for start, end in window_bounds(len(item.input_ids), max_length, stride):
            ids = [cls] + item.input_ids[start:end] + [sep]
            labels = None
            if item.labels is not None:
                labels = [IGNORE_INDEX] + item.labels[start:end] + [IGNORE_INDEX]
            windows.append(Window(doc_index, start, end, ids, labels))
    return windows


def context_weight(position: int, start: int, end: int, length: int) -> int:
    """How much context a word-piece has inside a window (bigger is better).

    A window edge that is also the document edge counts as full context.
    """
    left = position - start if start > 0 else length
    right = end - 1 - position if end < length else length
    return min(left, right)


def decode(encoded: Encoded, tag_ids: list[int], probabilities: list[float], id2label: dict[int, str],
           text: str | None = None) -> list[Span]:
    """Turn per-word-piece tag predictions into character spans.

    Each pre-tokenizer word takes the tag of its first word-piece (so a span never cuts a word);
    a ``B-`` tag, or an ``I-`` tag of another type, starts a new span, and so does a line break
    between two words (spans never cross lines: the title, and each section of a structured
    abstract, are lines of their own). The span's score is the mean probability of the first
    word-pieces of its words.

    Args:
        encoded: the document's word-pieces and offsets.
        tag_ids: predicted tag id per word-piece.
        probabilities: probability of the predicted tag per word-piece.
        id2label: tag id -> ``O`` / ``B-X`` / ``I-X``.
        text: the document text (needed to see line breaks; without it spans may cross lines).

    Returns:
        Spans sorted by start, code-point offsets into the document text, end exclusive.
    """
    spans: list[Span] = []
    current: list | None = None  # [label, start, end, scores]
    previous_word = None
    for i, word in enumerate(encoded.word_ids):
        start, end = encoded.offsets[i]
        if word == previous_word and word != -1:
            if current is not None:
                current[2] = max(current[2], end)
            continue
        previous_word = word
        tag = id2label[tag_ids[i]]
        if tag == "O":
            if current is not None:
                spans.append(_close(current))
            current = None
            continue
        prefix, label = tag.split("-", 1)
        crosses_line = current is not None and text is not None and "\n" in text[current[2] : start]
        if current is not None and (prefix == "B" or current[0] != label or crosses_line):
            spans.append(_close(current))
            current = None
        if current is None:
            current = [label, start, end, []]
        current[2] = end
        current[3].append(probabilities[i])
    if current is not None:
        spans.append(_close(current))
    return spans


def _close(current: list) -> Span:
    label, start, end, scores = current
    return Span(start, end, label, round(sum(scores) / len(scores), 4))
