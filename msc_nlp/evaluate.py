"""Scoring predicted spans against gold spans.

Strict: a predicted span is correct when its offsets and label equal a gold span's.
Lenient: a predicted span is correct when it overlaps a gold span of the same label (precision),
and a gold span is found when a predicted span of its label overlaps it (recall).
Token level: word tokens (``\\w+`` or one punctuation mark) carry the label of the span they
fall in; precision/recall over tokens outside ``O``.
Confidence intervals: 95% percentile bootstrap over documents (``scipy.stats.bootstrap``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from msc_nlp.document import Document, Span
from msc_nlp.schema import ENTITY_TYPES

log = logging.getLogger(__name__)

WORD_RE = re.compile(r"\w+|[^\w\s]")
MODES = ("strict", "lenient")


@dataclass
class Prf:
    """Precision, recall and F1 from matched and total counts."""

    precision: float
    recall: float
    f1: float

    @classmethod
    def from_counts(cls, matched_pred: float, n_pred: float, matched_gold: float, n_gold: float) -> "Prf":
        precision = matched_pred / n_pred if n_pred else 0.0
        recall = matched_gold / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1)


def _counts(gold: list[Span], pred: list[Span], label: str, mode: str) -> tuple[int, int, int, int]:
    """(matched predictions, predictions, matched gold, gold) for one document and label."""
    g = [s for s in gold if s.label == label]
    p = [s for s in pred if s.label == label]
    if mode == "strict":
        gold_keys = {(s.start, s.end) for s in g}
        hits = sum((s.start, s.end) in gold_keys for s in p)
        return hits, len(p), hits, len(g)
    matched_pred = sum(any(s.overlaps(t) for t in g) for s in p)
    matched_gold = sum(any(t.overlaps(s) for s in p) for t in g)
    return matched_pred, len(p), matched_gold, len(g)


def count_matrix(gold: list[list[Span]], pred: list[list[Span]], mode: str) -> np.ndarray:
    """Counts per document, type and kind: shape ``(documents, types, 4)``.

    The last axis is (matched predictions, predictions, matched gold, gold).
    """
    matrix = np.zeros((len(gold), len(ENTITY_TYPES), 4), dtype=np.int64)
    for d, (g, p) in enumerate(zip(gold, pred)):
        for t, label in enumerate(ENTITY_TYPES):
            matrix[d, t] = _counts(g, p, label, mode)
    return matrix


def _f1(totals: np.ndarray) -> np.ndarray:
    """F1 from counts summed over documents; ``totals[..., 4]`` -> ``[...]``."""
    mp, np_, mg, ng = (totals[..., i].astype(float) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(np_ > 0, mp / np.maximum(np_, 1), 0.0)
        recall = np.where(ng > 0, mg / np.maximum(ng, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return f1


def _bootstrap(matrix: np.ndarray, statistic, resamples: int, seed: int) -> list[float]:
    """95% percentile bootstrap CI of ``statistic(summed counts)`` resampling documents."""
    from scipy.stats import bootstrap

    n = matrix.shape[0]
    if n < 2 or resamples <= 0:
        value = float(statistic(matrix.sum(axis=0)))
        return [value, value]

    def over_indices(indices, axis=-1):
        idx = np.asarray(indices, dtype=np.int64)
        return statistic(matrix[idx].sum(axis=-3))

    result = bootstrap((np.arange(n),), over_indices, vectorized=True, n_resamples=resamples,
                       method="percentile", random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    point = float(statistic(matrix.sum(axis=0)))
    low = point if np.isnan(low) else float(low)
    high = point if np.isnan(high) else float(high)
    return [round(low, 4), round(high, 4)]


def _block(matrix: np.ndarray, resamples: int, seed: int) -> dict:
    totals = matrix.sum(axis=0)
    per_type = {}
    for t, label in enumerate(ENTITY_TYPES):
        prf = Prf.from_counts(*totals[t])
        per_type[label] = {"precision": round(prf.precision, 4), "recall": round(prf.recall, 4),
                           "f1": round(prf.f1, 4), "support": int(totals[t, 3]), "predicted": int(totals[t, 1]),
                           "f1_ci95": _bootstrap(matrix, lambda c, t=t: _f1(c[..., t, :]), resamples, seed)}
    micro = Prf.from_counts(*totals.sum(axis=0))
    macro_values = [per_type[label]["f1"] for label in ENTITY_TYPES]
    return {
        "micro": {"precision": round(micro.precision, 4), "recall": round(micro.recall, 4), "f1": round(micro.f1, 4),
                  "f1_ci95": _bootstrap(matrix, lambda c: _f1(c.sum(axis=-2)), resamples, seed)},
        "macro": {"f1": round(float(np.mean(macro_values)), 4),
                  "f1_ci95": _bootstrap(matrix, lambda c: _f1(c).mean(axis=-1), resamples, seed)},
        "per_type": per_type,
    }


def token_labels(text: str, spans: list[Span]) -> list[str]:
    """Label of each word token of ``text`` (``O`` outside spans)."""
    labels = []
    ordered = sorted(spans)
    j = 0
    for match in WORD_RE.finditer(text):
        while j < len(ordered) and ordered[j].end <= match.start():
            j += 1
        inside = j < len(ordered) and ordered[j].start < match.end()
        labels.append(ordered[j].label if inside else "O")
    return labels


def token_scores(texts: list[str], gold: list[list[Span]], pred: list[list[Span]]) -> dict:
    """Micro precision/recall/F1 over word tokens inside entities."""
    tp = fp = fn = 0
    for text, g, p in zip(texts, gold, pred):
        for a, b in zip(token_labels(text, g), token_labels(text, p)):
            if b != "O" and b == a:
                tp += 1
            else:
                fp += b != "O"
                fn += a != "O"
    prf = Prf.from_counts(tp, tp + fp, tp, tp + fn)
    return {"precision": round(prf.precision, 4), "recall": round(prf.recall, 4), "f1": round(prf.f1, 4)}


def error_listing(doc: Document, pred: list[Span], context: int = 40) -> list[dict]:
    """Classify every mistake in one document.

    Kinds: ``boundary`` (same label, overlapping, different offsets), ``wrong_type`` (overlapping
    a gold span of another label), ``false_positive`` (overlaps no gold span), ``false_negative``
    (gold span overlapped by no prediction).
    """
    gold_keys = {(s.start, s.end, s.label) for s in doc.spans}
    pred_keys = {(s.start, s.end, s.label) for s in pred}
    gold_left = [s for s in doc.spans if (s.start, s.end, s.label) not in pred_keys]
    pred_left = [s for s in pred if (s.start, s.end, s.label) not in gold_keys]
    text = doc.text
    errors = []
    explained: set[Span] = set()

    def entry(kind: str, gold: Span | None, guess: Span | None) -> dict:
        start = min(s.start for s in (gold, guess) if s)
        end = max(s.end for s in (gold, guess) if s)
        return {"doc_id": doc.id, "kind": kind,
                "gold": None if gold is None else {"start": gold.start, "end": gold.end, "label": gold.label,
                                                    "text": gold.text_in(text)},
                "predicted": None if guess is None else {"start": guess.start, "end": guess.end,
                                                          "label": guess.label, "text": guess.text_in(text)},
                "context": (text[max(0, start - context) : start] + "[" + text[start:end] + "]"
                            + text[end : end + context]).replace("\n", " ")}

    for guess in pred_left:
        overlapping = [g for g in doc.spans if g.overlaps(guess)]
        same = [g for g in overlapping if g.label == guess.label and g in gold_left]
        if same:
            errors.append(entry("boundary", same[0], guess))
            explained.add(same[0])
        elif overlapping:
            errors.append(entry("wrong_type", overlapping[0], guess))
            explained.add(overlapping[0])
        else:
            errors.append(entry("false_positive", None, guess))
    for gold in gold_left:
        if gold not in explained and not any(gold.overlaps(p) for p in pred_left):
            errors.append(entry("false_negative", gold, None))
    return errors


def evaluate(gold_docs: list[Document], predictions: list[list[Span]], resamples: int = 1000,
             seed: int = 0) -> dict:
    """Score predictions against gold documents.

    Args:
        gold_docs: documents with gold spans.
        predictions: predicted spans per document, same order.
        resamples: bootstrap resamples for the confidence intervals.
        seed: bootstrap seed.

    Returns:
        ``{"documents", "strict", "lenient", "token", "errors"}`` (see module docstring).
    """
    if len(gold_docs) != len(predictions):
        raise ValueError(f"{len(gold_docs)} gold documents but {len(predictions)} predictions")
    gold = [doc.spans for doc in gold_docs]
    result: dict = {"documents": len(gold_docs)}
    for mode in MODES:
        result[mode] = _block(count_matrix(gold, predictions, mode), resamples, seed)
    result["token"] = token_scores([d.text for d in gold_docs], gold, predictions)
    result["errors"] = [e for doc, pred in zip(gold_docs, predictions) for e in error_listing(doc, pred)]
    result["no_cell_therapy"] = false_facts_without_cell_therapy(gold_docs, predictions)
    return result


def false_facts_without_cell_therapy(gold_docs: list[Document], predictions: list[list[Span]]) -> dict:
    """Predicted CELL_TYPE, DOSE, ROUTE and TIMING spans in documents without cell therapy.

    Documents whose ``meta.study_type`` is ``negative`` have gold OUTCOME spans only; any other
    predicted type there is a false fact (a drug dose read as a cell dose, say).

    Returns:
        ``{"documents", "false_spans", "per_document", "by_type"}``; ``per_document`` is 0.0 when
        there is no such document.
    """
    negatives = [(doc, spans) for doc, spans in zip(gold_docs, predictions) if doc.meta.get("study_type") == "negative"]
    by_type: dict[str, int] = {}
    for _, spans in negatives:
        for span in spans:
            if span.label != "OUTCOME":
                by_type[span.label] = by_type.get(span.label, 0) + 1
    total = sum(by_type.values())
    return {"documents": len(negatives), "false_spans": total,
            "per_document": round(total / len(negatives), 3) if negatives else 0.0, "by_type": by_type}


def markdown_report(result: dict, title: str = "Evaluation", max_errors: int = 60) -> str:
    """A readable report of ``evaluate``'s result: tables per mode, then errors with context."""
    lines = [f"# {title}", "", f"Documents: {result['documents']}", ""]
    for mode in MODES:
        block = result[mode]
        lines += [f"## {mode.capitalize()}", "", "| type | precision | recall | F1 | 95% CI | gold | predicted |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for label, row in block["per_type"].items():
            low, high = row["f1_ci95"]
            lines.append(f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                         f"{low:.3f}-{high:.3f} | {row['support']} | {row['predicted']} |")
        micro, macro = block["micro"], block["macro"]
        lines.append(f"| **micro** | {micro['precision']:.3f} | {micro['recall']:.3f} | {micro['f1']:.3f} | "
                     f"{micro['f1_ci95'][0]:.3f}-{micro['f1_ci95'][1]:.3f} | | |")
        lines.append(f"| **macro** | | | {macro['f1']:.3f} | {macro['f1_ci95'][0]:.3f}-{macro['f1_ci95'][1]:.3f} | | |")
        lines.append("")
    negatives = result.get("no_cell_therapy", {})
    if negatives.get("documents"):
        lines += [f"Documents without cell therapy: {negatives['documents']}, with {negatives['false_spans']} "
                  f"predicted CELL_TYPE/DOSE/ROUTE/TIMING spans ({negatives['per_document']:.2f} per document)", ""]
    token = result["token"]
    lines += [f"Token level: precision {token['precision']:.3f}, recall {token['recall']:.3f}, F1 {token['f1']:.3f}", ""]
    errors = result["errors"]
    kinds: dict[str, int] = {}
    for error in errors:
        kinds[error["kind"]] = kinds.get(error["kind"], 0) + 1
    lines += ["## Errors", "", ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) or "none", ""]
    for error in errors[:max_errors]:
        gold = error["gold"]["label"] + " " + repr(error["gold"]["text"]) if error["gold"] else "-"
        guess = error["predicted"]["label"] + " " + repr(error["predicted"]["text"]) if error["predicted"] else "-"
        lines.append(f"- `{error['doc_id']}` **{error['kind']}** gold {gold}; predicted {guess}: …{error['context']}…")
    if len(errors) > max_errors:
        lines.append(f"- … and {len(errors) - max_errors} more (see the JSON report)")
    return "\n".join(lines) + "\n"
