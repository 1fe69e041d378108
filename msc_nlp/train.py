"""Fine-tuning a BERT-family token classifier on the corpus.

The loop is plain torch: AdamW with linear warm-up and decay, windows of ``max_length``
word-pieces from the one shared encode path, evaluation on the dev split after each epoch
(strict micro F1 with the tagging code itself) and early stopping on it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msc_nlp.config import TrainConfig
from msc_nlp.corpus import load_corpus_file, load_split
from msc_nlp.document import Document
from msc_nlp.errors import MscNlpError
from msc_nlp.evaluate import evaluate
from msc_nlp.augment import augment, augment_document
from msc_nlp.model import load_base, load_model, save_model
from msc_nlp.predict import Tagger, configure_threads
from msc_nlp.preprocess import IGNORE_INDEX, encode, make_windows

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: folder of the saved model.
        best_epoch: epoch (1-based) whose weights were kept.
        dev_f1: strict micro F1 on the dev split at that epoch.
        history: per-epoch loss and dev F1.
        seconds: wall-clock training time.
    """

    output_dir: str
    best_epoch: int
    dev_f1: float
    history: list[dict]
    seconds: float


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_hash(documents: list[Document]) -> str:
    """SHA-256 of the canonical JSON of the training documents (order-independent)."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps(d.to_json(), sort_keys=True, ensure_ascii=False) for d in documents):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def load_extra(paths: list[str]) -> list[Document]:
    """Canonical documents from extra JSONL files (read as corpus files), checked span by span.

    Raises:
        MscNlpError: naming file, line and document for the first invalid record.
    """
    documents = []
    for path in paths:
        for item in load_corpus_file(Path(path)):
            problems = item.document.span_problems()
            if problems:
                _, number = item.where.rsplit(":", 1)
                raise MscNlpError(f"{path}: line {number}: document {item.document.id}: {problems[0]}")
            documents.append(item.document)
    return documents


def _windows(tokenizer, documents: list[Document], config: TrainConfig):
    encoded = encode(tokenizer, [d.text for d in documents], [d.spans for d in documents])
    return make_windows(tokenizer, encoded, config.max_length, config.stride)


def resample_augmented(documents: list[Document], probability: float, rng: random.Random) -> list[Document]:
    """The documents of one epoch: each replaced, with ``probability``, by a fresh augmented variant.

    The number of documents stays the same, so an epoch with augmentation costs what one without
    costs; the variants change from epoch to epoch (``augment.augment_document``).
    """
    return [augment_document(doc, rng) if rng.random() < probability else doc for doc in documents]


def training_documents(config: TrainConfig) -> list[Document]:
    """The corpus split(s) named by ``config.train_split`` (``train+dev`` joins splits) plus ``extra_train``."""
    corpus = Path(config.corpus)
    documents = [doc for split in config.train_split.split("+") for doc in load_split(corpus, split)]
    return documents + load_extra(config.extra_train)


def train(config: TrainConfig, progress: bool = False, train_docs: list[Document] | None = None,
          dev_docs: list[Document] | None = None) -> TrainResult:
    """Fine-tune, early-stop on dev strict micro F1, save the best epoch's weights.

    Args:
        config: the resolved configuration.
        progress: show tqdm progress bars (the CLI turns them on).
        train_docs: documents to train on instead of the corpus split (tests, custom data).
        dev_docs: dev documents instead of the corpus split.

    Returns:
        A ``TrainResult``; the model, tokenizer and ``msc_nlp.json`` are in ``config.output_dir``.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    started = time.time()
    threads = configure_threads(config.num_threads or None)
    set_seed(config.seed)
    if train_docs is None:
        train_docs = training_documents(config)
    else:
        train_docs = list(train_docs) + load_extra(config.extra_train)
    if dev_docs is None:
        dev_docs = load_split(Path(config.corpus), config.dev_split) if config.dev_split else []
    if not train_docs:
        raise MscNlpError("no training documents: check 'corpus', 'train_split' and 'extra_train'")
    if config.init_from:
        tokenizer, model = load_model(config.init_from)
    else:
        tokenizer, model = load_base(config.base_model)
    fitted = train_docs + augment(train_docs, config.augment_copies, config.seed) if config.augment_copies else train_docs
    augment_rng = random.Random(config.seed + 1)

    def epoch_documents() -> list[Document]:
        if not config.augment_probability:
            return fitted
        return resample_augmented(fitted, config.augment_probability, augment_rng)

    windows = _windows(tokenizer, epoch_documents(), config)  # epoch 1's windows, also used to count steps
    log.info("training on %d documents (%d with augmented copies), %d windows, %d threads", len(train_docs),
             len(fitted), len(windows), threads)

    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = (len(windows) + config.batch_size - 1) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    tagger = Tagger(tokenizer, model, batch_size=8, max_length=config.eval_max_length, stride=config.eval_stride)
    pad = tokenizer.pad_token_id

    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    history = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        if config.augment_probability and epoch > 1:
            windows = _windows(tokenizer, epoch_documents(), config)
        order = torch.randperm(len(windows), generator=generator).tolist()
        losses = []
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch}", disable=not progress, unit="batch")
        for first in bar:
            batch = [windows[i] for i in order[first : first + config.batch_size]]
            width = max(len(w.input_ids) for w in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            for row, window in enumerate(batch):
                n = len(window.input_ids)
                ids[row, :n] = torch.tensor(window.input_ids)
                mask[row, :n] = 1
                labels[row, :n] = torch.tensor(window.labels)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        dev_f1 = 0.0
        if dev_docs:
            predictions = tagger.predict([d.text for d in dev_docs])
            dev_f1 = evaluate(dev_docs, predictions, resamples=0)["strict"]["micro"]["f1"]
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 5), "dev_strict_micro_f1": dev_f1})
        if dev_docs:
            log.info("epoch %d: loss %.4f, dev strict micro F1 %.4f", epoch, np.mean(losses), dev_f1)
        else:
            log.info("epoch %d: loss %.4f (no dev split)", epoch, np.mean(losses))
        if not dev_docs:  # nothing to select on: keep the last epoch
            best_f1, best_epoch = dev_f1, epoch
        elif dev_f1 > best_f1:
            best_f1, best_epoch, stale = dev_f1, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                log.info("no dev gain for %d epochs: stopping", stale)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    seconds = time.time() - started
    metadata = {
        "training_config": config.to_dict(),
        "training_data_sha256": data_hash(train_docs),
        "training_documents": len(train_docs),
        "best_epoch": best_epoch,
        "dev_strict_micro_f1": best_f1,
        "history": history,
        "training_seconds": round(seconds, 1),
        "hardware": {"machine": platform.machine(), "processor": platform.processor() or "unknown",
                     "cpu_count": os.cpu_count(), "torch_threads": threads, "device": "cpu"},
    }
    save_model(model, tokenizer, config.output_dir, metadata, half=config.half)
    (Path(config.output_dir) / "training_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return TrainResult(config.output_dir, best_epoch, best_f1, history, seconds)
