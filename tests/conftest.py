"""Shared fixtures: a tiny random BERT token classifier built locally (no downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from msc_nlp.document import Document, Span

TWO_DOCUMENTS = [
    Document("d1", "Intracoronary MSCs after infarction\n\nSixty patients received 2 × 10^6 cells/kg of "
             "allogeneic bone marrow-derived MSCs by intracoronary infusion 5 to 7 days after primary PCI. "
             "LVEF rose and serum TNF-α fell.", []),
    Document("d2", "Adipose stromal cells in ischaemic heart failure\n\nTen patients were given 100 million "
             "adipose-derived stromal cells by transendocardial injection during coronary artery bypass "
             "grafting; infarct size fell.", []),
]


def _spans(text: str, pieces: list[tuple[str, str]]) -> list[Span]:
    spans, position = [], 0
    for piece, label in pieces:
        start = text.index(piece, position)
        spans.append(Span(start, start + len(piece), label))
        position = start + len(piece)
    return spans


TWO_DOCUMENTS[0].spans = _spans(TWO_DOCUMENTS[0].text, [
    ("Intracoronary", "ROUTE"), ("MSCs", "CELL_TYPE"), ("2 × 10^6 cells/kg", "DOSE"),
    ("allogeneic bone marrow-derived MSCs", "CELL_TYPE"), ("intracoronary infusion", "ROUTE"),
    ("5 to 7 days after primary PCI", "TIMING"), ("LVEF", "OUTCOME"), ("serum TNF-α", "OUTCOME")])
TWO_DOCUMENTS[1].spans = _spans(TWO_DOCUMENTS[1].text, [
    ("Adipose stromal cells", "CELL_TYPE"), ("100 million adipose-derived stromal cells", "DOSE"),
    ("transendocardial injection", "ROUTE"), ("during coronary artery bypass grafting", "TIMING"),
    ("infarct size", "OUTCOME")])


def packaged_tokenizer_dir() -> str:
    from msc_nlp.model import resolve_base_model

    return resolve_base_model("minilm")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A folder with a tiny random BERT (2 layers, hidden 64) and the packaged uncased tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from msc_nlp.schema import ID2LABEL, LABEL2ID

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(packaged_tokenizer_dir(), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, max_position_embeddings=512,
                        num_labels=len(ID2LABEL), id2label=dict(ID2LABEL), label2id=dict(LABEL2ID))
    model = BertForTokenClassification(config)
    folder = tmp_path_factory.mktemp("tiny_base")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def overfit_model(tiny_base, tmp_path_factory) -> Path:
    """The tiny model trained until it reproduces TWO_DOCUMENTS' gold spans (saved folder)."""
    from msc_nlp.config import TrainConfig
    from msc_nlp.train import train

    out = tmp_path_factory.mktemp("overfit")
    config = TrainConfig(base_model=str(tiny_base), output_dir=str(out), epochs=80, batch_size=2,
                         learning_rate=3e-3, warmup_ratio=0.0, patience=6, max_length=128, stride=32,
                         weight_decay=0.0, half=False)
    train(config, train_docs=TWO_DOCUMENTS, dev_docs=TWO_DOCUMENTS)
    return out


@pytest.fixture()
def model_copy(overfit_model, tmp_path) -> Path:
    """A private copy of the overfit model folder, safe to modify."""
    target = tmp_path / "model"
    shutil.copytree(overfit_model, target)
    return target
