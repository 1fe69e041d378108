"""Training configuration: a TOML file, command-line overrides, saved with the model."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from msc_nlp.errors import MscNlpError


@dataclass
class TrainConfig:
    """Every hyper-parameter and path of a training run.

    Attributes:
        base_model: ``minilm`` (the packaged all-MiniLM-L6-v2 BERT), a local model folder or a hub id.
        corpus: the ``annotations/`` folder with ``jsonl/`` and ``splits/``.
        train_split: split used for training; ``train+dev`` joins splits (for a final fit with a
            fixed number of epochs and ``dev_split = ""``).
        dev_split: split used for early stopping; empty: no early stopping, the last epoch is kept.
        extra_train: further JSONL files of canonical documents added to training (e.g. imported
            annotations).
        output_dir: where the model is saved.
        max_length: training window size in word-pieces (special tokens included).
        stride: overlap of training windows in word-pieces.
        eval_max_length: window size for dev evaluation and tagging.
        eval_stride: overlap of evaluation windows.
        epochs: maximum number of epochs.
        batch_size: windows per optimisation step.
        learning_rate: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_ratio: fraction of steps with linear warm-up.
        max_grad_norm: gradient clipping norm.
        patience: epochs without dev strict micro F1 gain before stopping.
        seed: seed for torch, numpy and Python's random.
        num_threads: torch threads (0: all cores this process may use).
        half: save weights as fp16.
        augment_copies: augmented copies of each training document added per run (``augment``:
            number notations, symbol spellings, section-label case, abbreviations); 0 for none.
        augment_probability: chance, per document and epoch, that an epoch trains on a fresh
            augmented variant instead of the document (same cost per epoch as no augmentation).
        init_from: a trained msc_nlp model folder to continue from (its labels must match the
            schema); empty to start from ``base_model`` with a fresh head.
    """

    base_model: str = "minilm"
    corpus: str = "annotations"
    train_split: str = "train"
    dev_split: str = "dev"
    extra_train: list[str] = field(default_factory=list)
    output_dir: str = "runs/msc-ner"
    max_length: int = 256
    stride: int = 64
    eval_max_length: int = 512
    eval_stride: int = 128
    epochs: int = 14
    batch_size: int = 16
    learning_rate: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    patience: int = 3
    seed: int = 13
    num_threads: int = 0
    half: bool = True
    augment_copies: int = 0
    augment_probability: float = 0.0
    init_from: str = ""

    @classmethod
    def load(cls, path: str | Path | None, overrides: list[str] | None = None) -> "TrainConfig":
        """Read a TOML file (top-level keys or a ``[train]`` table) and apply ``key=value`` overrides.

        Override values are TOML literals (``epochs=3``, ``base_model="x"``); an unquoted value
        that is not a TOML literal is taken as a string.

        Raises:
            MscNlpError: for an unknown key or a value of the wrong type, naming the key.
        """
        values: dict[str, Any] = {}
        if path is not None:
            with open(path, "rb") as handle:
                try:
                    data = tomllib.load(handle)
                except tomllib.TOMLDecodeError as error:
                    raise MscNlpError(f"{path}: not valid TOML ({error})") from None
            values.update(data.get("train", data))
        for override in overrides or []:
            key, sep, raw = override.partition("=")
            if not sep:
                raise MscNlpError(f"override {override!r} must be key=value")
            try:
                values[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                values[key.strip()] = raw
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise MscNlpError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        config = cls(**values)
        for name, spec in known.items():
            default = getattr(cls(), name)
            value = getattr(config, name)
            if isinstance(default, bool) != isinstance(value, bool) or (
                    isinstance(default, (int, float)) and not isinstance(value, (int, float))) or (
                    isinstance(default, (str, list)) and not isinstance(value, type(default))):
                raise MscNlpError(f"training option {name!r} must be {type(default).__name__}, got {value!r}")
            if isinstance(default, float):
                setattr(config, name, float(value))
        return config

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (saved with the model)."""
        return asdict(self)
