"""Exceptions that carry where a problem is (file, line, record) and how to fix it."""

from __future__ import annotations


class MscNlpError(Exception):
    """Base class of the errors msc_nlp raises for bad input or configuration."""


class InputError(MscNlpError):
    """An input file or record cannot be read.

    Attributes:
        path: the file.
        where: ``line N``, ``byte N``, ``PMID N`` or ``record N``.
        reason: what is wrong and, where possible, how to fix it.
    """

    def __init__(self, path: str, where: str, reason: str) -> None:
        self.path, self.where, self.reason = str(path), where, reason
        super().__init__(f"{path}: {where}: {reason}")


class ModelError(MscNlpError):
    """A model directory is missing, unsafe or does not match the label schema."""
