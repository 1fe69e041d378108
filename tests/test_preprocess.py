"""The shared encode path: alignment of hard strings, windows, merging of long documents."""

from __future__ import annotations

import pytest
import torch

from msc_nlp.document import Span
from msc_nlp.predict import Tagger
from msc_nlp.preprocess import IGNORE_INDEX, decode, encode, make_windows, window_bounds
from msc_nlp.schema import ID2LABEL, LABEL2ID


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from conftest import packaged_tokenizer_dir

    return AutoTokenizer.from_pretrained(packaged_tokenizer_dir(), local_files_only=True)


HARD_STRINGS = [
    ("Serum TNF-α fell.", "TNF-α", "OUTCOME"),
    ("Serum TNF-alpha fell.", "TNF-alpha", "OUTCOME"),
    ("IL-1β and IL-6 were lower.", "IL-1β", "OUTCOME"),
    ("They received 2 × 10^6 cells/kg.", "2 × 10^6 cells/kg", "DOSE"),
    ("They received 2x10(6) cells per kilogram.", "2x10(6) cells per kilogram", "DOSE"),
    ("They received 1.5×10⁶ cells/kg IV.", "1.5×10⁶ cells/kg", "DOSE"),
    ("Dose was 2 × 10^6/50 μL here.", "2 × 10^6/50 μL", "DOSE"),
    ("LVEF rose 5.2 ± 1.1% overall.", "LVEF", "OUTCOME"),
    ("CD34+ cells were infused.", "CD34+ cells", "CELL_TYPE"),
    ("MSC-based therapy worked.", "MSC", "CELL_TYPE"),
    ("Given intracoronary/intravenous.", "intravenous", "ROUTE"),
    ("Given\u00a0100\u00a0million cells today.", "100\u00a0million cells", "DOSE"),
    ("Wharton’s jelly MSCs (WJ-MSCs) were used.", "Wharton’s jelly MSCs", "CELL_TYPE"),
    ("Cells went in ≥4 days post-stent.", "≥4 days post-stent", "TIMING"),
    ("Exosomes (50 µg) were injected.", "50 µg", "DOSE"),
    ("Peak VO₂ was unchanged.", "Peak VO₂", "OUTCOME"),
]


@pytest.mark.parametrize("text, piece, label", HARD_STRINGS)
def test_hard_strings_round_trip(tokenizer, text, piece, label):
    start = text.index(piece)
    gold = [Span(start, start + len(piece), label)]
    (item,) = encode(tokenizer, [text], [gold])
    assert item.misaligned == 0
    assert IGNORE_INDEX not in item.labels
    decoded = decode(item, item.labels, [1.0] * len(item.labels), ID2LABEL)
    assert [(s.start, s.end, s.label) for s in decoded] == [(gold[0].start, gold[0].end, label)]
    assert text[decoded[0].start : decoded[0].end] == piece


def test_span_edge_inside_a_word_piece_is_ignored_not_mislabelled(tokenizer):
    text = "MSCs were given."
    (item,) = encode(tokenizer, [text], [[Span(0, 3, "CELL_TYPE")]])  # "MSC" of "MSCs" (pieces msc + ##s)
    assert item.misaligned == 0 or IGNORE_INDEX in item.labels


@pytest.mark.parametrize("length, size, stride", [(0, 10, 2), (5, 10, 2), (8, 10, 2), (9, 10, 2), (100, 10, 3), (1500, 512, 128)])
def test_windows_cover_every_piece(length, size, stride):
    bounds = window_bounds(length, size, stride)
    covered = set()
    for start, end in bounds:
        assert 0 <= start < end <= length and end - start <= size - 2
        covered.update(range(start, end))
    assert covered == set(range(length))


def test_window_labels_follow_pieces(tokenizer):
    text = "word " * 300 + "MSCs."
    start = text.index("MSCs")
    encoded = encode(tokenizer, [text], [[Span(start, start + 4, "CELL_TYPE")]])
    windows = make_windows(tokenizer, encoded, 64, 16)
    assert all(len(w.input_ids) <= 64 for w in windows)
    assert windows[-1].labels[1:-1] == encoded[0].labels[windows[-1].token_start : windows[-1].token_end]


class KeywordModel(torch.nn.Module):
    """A stand-in model that tags one word-piece id as B-CELL_TYPE, wherever it is in a window."""

    def __init__(self, piece_id: int):
        super().__init__()
        self.piece_id = piece_id
        self.config = type("Config", (), {"id2label": ID2LABEL, "max_position_embeddings": 512})()

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, len(ID2LABEL))
        logits[..., LABEL2ID["O"]] = 1.0
        logits[..., LABEL2ID["B-CELL_TYPE"]] = (input_ids == self.piece_id).float() * 5.0
        return type("Output", (), {"logits": logits})()


def test_long_document_entity_in_last_sentence_found(tokenizer):
    body = " ".join(f"Sentence {i} describes the cohort and its follow-up in some detail." for i in range(150))
    text = "A long report\n\n" + body + " Finally, MSCs were injected."
    assert len(encode(tokenizer, [text])[0].input_ids) > 1500
    piece_id = tokenizer.convert_tokens_to_ids("msc")
    tagger = Tagger(tokenizer, KeywordModel(piece_id), batch_size=4, max_length=128, stride=32)
    (spans,) = tagger.predict([text])
    assert [(text[s.start : s.end], s.label) for s in spans] == [("MSCs", "CELL_TYPE")]
    assert spans[0].start == text.rindex("MSCs")


def test_tagger_handles_empty_and_whitespace_texts(tokenizer):
    tagger = Tagger(tokenizer, KeywordModel(tokenizer.convert_tokens_to_ids("msc")))
    assert tagger.predict(["", " \n\t ", "MSCs"])[:2] == [[], []]


def test_decode_never_lets_a_span_cross_a_line_break(tokenizer):
    text = "Heart failure and death\n\nSoluble ST2 was measured."
    (item,) = encode(tokenizer, [text])
    tags = [LABEL2ID["B-OUTCOME"]] + [LABEL2ID["I-OUTCOME"]] * (len(item.input_ids) - 1)
    spans = decode(item, tags, [1.0] * len(tags), ID2LABEL, text)
    assert [text[s.start : s.end] for s in spans] == ["Heart failure and death", "Soluble ST2 was measured."]
