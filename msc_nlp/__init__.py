"""msc_nlp: extract cell-therapy facts (cell type, dose, route, timing, outcome) from abstracts."""

__version__ = "0.1.0"
