"""Span repair after decoding: predicted spans that cannot be gold are trimmed or dropped.

The tagger predicts one tag per word; a tag sequence can still describe a span that the
guideline never allows: one that starts or ends on a function word (``via``, ``the``, ``of``),
on punctuation that is not part of the name (``,``, ``-``, a dangling ``(``), that opens a
bracket it never closes, or that is nothing but a change word (``improvement in``). ``repair``
trims such edges word by word and drops what is left without a head. It never extends a span
and never moves one across text, so every repaired span is still a slice of the text.

Offsets are Python code points into the document text, end exclusive.
"""

from __future__ import annotations

import re

from msc_nlp.document import Span

TOKEN = re.compile(r"\w+|[^\w\s]")

# Words that may not begin a span of any type.
LEADING_FUNCTION_WORDS = frozenset(
    "the a an by with and or of to than that which were was is are its their these this those using "
    "both either".split())
# TIMING and ROUTE phrases legitimately begin with a preposition or an article ("during CABG", "a
# median of 7 days after MI", "in the subacute phase", "via a left thoracotomy", "on the epicardial
# surface"); the other types never do.
LEADING_PREPOSITIONS = frozenset("in on at after before during within from for following upon post via".split())
ADVERBIAL_TYPES = ("TIMING", "ROUTE")
# Words that may not end a span of any type ("100 μg of", "3 days after", "infarct size in").
TRAILING_FUNCTION_WORDS = frozenset(
    "the a an of in on at by via with and or to for from as than that which after before during within were "
    "was is are its their".split())
# A span made of nothing but these (and function words) has no head: "improvement in", "reduced".
HEADLESS_WORDS = frozenset(
    "improvement improvements improved improve improving reduction reductions reduced reduce reducing increase "
    "increases increased increasing decrease decreases decreased decreasing change changes changed rise rises "
    "fall falls decline declines attenuation attenuated preservation preserved recovery better worse "
    "significant significantly level levels".split())
EDGE_PUNCTUATION = set(".,;:!?\"'“”‘’-–—/=*&")  # "+" and "%" end real names: "CD34+", "20%"
OPEN, CLOSE = "([{", ")]}"


def _is(word: str, words: frozenset[str]) -> bool:
    """``word`` is one of ``words`` in lower or title case ("The", "via"), never in capitals ("IS", "IV")."""
    return word in words or (word.istitle() and word.lower() in words)


def _tokens(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    return [(start + m.start(), start + m.end(), m.group()) for m in TOKEN.finditer(text[start:end])]


def _unbalanced_open(piece: str) -> int | None:
    """Offset (in ``piece``) of the first bracket that is opened and never closed, or None."""
    stack = []
    for i, ch in enumerate(piece):
        if ch in OPEN:
            stack.append(i)
        elif ch in CLOSE and stack:
            stack.pop()
    return stack[0] if stack else None


def _unbalanced_close(piece: str) -> int | None:
    """Offset (in ``piece``) of the last bracket that is closed without being opened, or None."""
    depth = 0
    last = None
    for i, ch in enumerate(piece):
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            if depth:
                depth -= 1
            else:
                last = i
    return last


def _bad_first_word(text: str, token: tuple[int, int, str], label: str) -> bool:
    """True when a span may not begin with this word (a prefix joined by a hyphen never counts)."""
    _, token_end, word = token
    if text[token_end : token_end + 1] == "-":
        return False  # "in-stent restenosis", "post-infarction remodelling"
    if label in ADVERBIAL_TYPES:  # "with reperfusion", "a median of 7 days after MI"
        return _is(word, LEADING_FUNCTION_WORDS) and word.lower() not in ("a", "an", "the", "with")
    return _is(word, LEADING_FUNCTION_WORDS) or _is(word, LEADING_PREPOSITIONS)


def repair_span(text: str, span: Span) -> Span | None:
    """Trim one span's bad edges; return None when nothing with a head is left.

    Args:
        text: the document text the span's offsets refer to.
        span: a predicted span.

    Returns:
        The span with the same label and score and possibly narrower offsets, or None.
    """
    start, end = span.start, span.end
    while end > start and text[end - 1].isspace():
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    for _ in range(64):  # each pass removes at least one token; spans are short
        tokens = _tokens(text, start, end)
        if not tokens:
            return None
        first, last = tokens[0][2], tokens[-1][2]
        piece = text[start:end]
        opened = _unbalanced_open(piece)
        closed = _unbalanced_close(piece)
        if closed == 0 or opened == 0 or first in EDGE_PUNCTUATION or _bad_first_word(text, tokens[0], span.label):
            start = tokens[1][0] if len(tokens) > 1 else end
        elif opened is not None:
            end = start + opened  # "New York Heart Association (NYHA" -> cut before the open bracket
        elif closed is not None:
            end = start + closed  # "LVED) volume" is rarer than "LVED)": keep what precedes the stray closer
        elif last in EDGE_PUNCTUATION or (_is(last, TRAILING_FUNCTION_WORDS) and not (
                span.label == "TIMING" and last.lower() in ("before", "after"))):  # "MI 3 months before"
            end = tokens[-2][1] if len(tokens) > 1 else start
        else:
            break
        while end > start and text[end - 1].isspace():
            end -= 1
        while start < end and text[start].isspace():
            start += 1
        if start >= end:
            return None
    words = [token for _, _, token in _tokens(text, start, end) if token[0].isalnum()]
    if not words or all(_is(w, HEADLESS_WORDS) or _is(w, LEADING_FUNCTION_WORDS) or _is(w, TRAILING_FUNCTION_WORDS)
                        for w in words):
        return None
    if (start, end) == (span.start, span.end):
        return span
    return Span(start, end, span.label, span.score)


def repair(text: str, spans: list[Span]) -> list[Span]:
    """Repair every span of one document (see ``repair_span``); the result stays sorted by start."""
    repaired = (repair_span(text, span) for span in spans)
    return [span for span in repaired if span is not None]
