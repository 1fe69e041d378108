"""Tagging texts with a trained model: length-sorted batches of windows, merged by token.

Offsets in the returned spans are code points into the given text, end exclusive.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from msc_nlp.document import Span
from msc_nlp.preprocess import context_weight, decode, encode, make_windows, special_ids
from msc_nlp.span_repair import repair

log = logging.getLogger(__name__)


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads (default: the cores this process may use) and return the number."""
    import torch

    if not num_threads:
        num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(num_threads)
    return num_threads


def merge_and_decode(tokenizer, texts: list[str], forward, batch_size: int, max_length: int, stride: int,
                     id2label: dict[int, str], repair_spans: bool = True) -> list[list[Span]]:
    """Encode texts, run windows through ``forward`` in length-sorted batches, merge, decode.

    Shared by the torch and ONNX Runtime taggers so both tag identically up to the logits.
    With ``repair_spans`` (the default) decoded spans go through ``span_repair.repair``, which
    trims function words, stray punctuation and unbalanced brackets off their edges and drops
    spans without a head.
    """
    encoded = encode(tokenizer, texts)
    windows = make_windows(tokenizer, encoded, max_length, stride)
    _, _, pad = special_ids(tokenizer)
    num_labels = len(id2label)
    logits = [np.zeros((len(e.input_ids), num_labels), dtype=np.float32) for e in encoded]
    best = [np.full(len(e.input_ids), -1, dtype=np.int64) for e in encoded]
    order = sorted(range(len(windows)), key=lambda i: (len(windows[i].input_ids), i))
    for first in range(0, len(order), batch_size):
        batch = [windows[i] for i in order[first : first + batch_size]]
        width = max(len(w.input_ids) for w in batch)
        ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, window in enumerate(batch):
            ids[row, : len(window.input_ids)] = window.input_ids
            mask[row, : len(window.input_ids)] = 1
        output = forward(ids, mask)
        for row, window in enumerate(batch):
            n = len(encoded[window.doc_index].input_ids)
            for offset, position in enumerate(range(window.token_start, window.token_end)):
                weight = context_weight(position, window.token_start, window.token_end, n)
                if weight > best[window.doc_index][position]:
                    best[window.doc_index][position] = weight
                    logits[window.doc_index][position] = output[row, offset + 1]
    results = []
    for text, item, doc_logits in zip(texts, encoded, logits):
        if not len(item.input_ids):
            results.append([])
            continue
        shifted = doc_logits - doc_logits.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        tags = probabilities.argmax(axis=1)
        spans = decode(item, tags.tolist(), probabilities.max(axis=1).tolist(), id2label, text)
        results.append(repair(text, spans) if repair_spans else spans)
    return results


class Tagger:
    """A token-classification model ready to tag texts.

    Args:
        tokenizer: fast tokenizer of the model.
        model: token-classification model (eval mode is set here).
        batch_size: windows per forward pass (2 was fastest on 2 cores for abstracts of ~480 pieces).
        max_length: window size in word-pieces, special tokens included (at most the model's 512).
        stride: word-pieces shared by consecutive windows of a long document.
        model_id: identifier written into output records.
        repair_spans: trim and drop spans that cannot be gold (``span_repair``); off only for ablations.
    """

    def __init__(self, tokenizer, model, batch_size: int = 2, max_length: int = 512, stride: int = 128,
                 model_id: str = "unsaved", repair_spans: bool = True) -> None:
        limit = getattr(model.config, "max_position_embeddings", max_length)
        if max_length > limit:
            raise ValueError(f"max_length {max_length} exceeds the model's {limit} positions")
        self.tokenizer, self.model = tokenizer, model
        self.batch_size, self.max_length, self.stride = batch_size, max_length, stride
        self.model_id = model_id
        self.repair_spans = repair_spans
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}

    @classmethod
    def load(cls, directory: str | Path, num_threads: int | None = None, **options) -> "Tagger":
        """Load a saved model folder (see ``msc_nlp.model.load_model``)."""
        from msc_nlp.model import load_model, model_id

        configure_threads(num_threads)
        tokenizer, model = load_model(directory)
        return cls(tokenizer, model, model_id=model_id(directory), **options)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits ``(batch, length, labels)`` for padded int64 ``ids`` and ``mask``."""
        import torch

        with torch.inference_mode():
            output = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return output.logits.float().numpy()

    def predict(self, texts: list[str]) -> list[list[Span]]:
        """Tag texts; returns spans per text (code-point offsets, end exclusive)."""
        if not texts:
            return []
        if hasattr(self.model, "eval"):
            self.model.eval()
        return merge_and_decode(self.tokenizer, texts, self.forward, self.batch_size, self.max_length,
                                self.stride, self.id2label, self.repair_spans)
